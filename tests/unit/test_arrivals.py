from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from scipy import stats

from locust_ml.arrivals import (
    CHUNK,
    ArrivalProcess,
    ArrivalSchedule,
    ArrivalSpec,
    Constant,
    Gamma,
    Poisson,
    TraceReplay,
    parse_arrival,
)
from locust_ml.errors import ConfigError, TraceError

TRACE = [3.0, 3.0, 3.25, 4.0, 4.5, 7.0, 7.125, 9.0]  # 8 arrivals, 6 s span, one tie


def take(schedule: ArrivalSchedule, n: int) -> np.ndarray:
    out: list[np.ndarray] = []
    got = 0
    while got < n and not schedule.exhausted:
        batch = schedule.next_batch()
        out.append(batch)
        got += batch.size
    return np.concatenate(out)[:n] if out else np.empty(0)


def gaps_of(process: ArrivalProcess, rate: float, n: int = 200_000, seed: int = 1) -> np.ndarray:
    times = take(ArrivalSchedule(process, rate, start=0.0, seed=seed), n)
    return np.diff(np.concatenate([[0.0], times]))


@pytest.mark.parametrize(
    "process", [Constant(), Poisson(), Gamma(cv=0.5), Gamma(cv=1.0), Gamma(cv=3.0)]
)
@pytest.mark.parametrize("rate", [0.5, 50.0, 2000.0])
def test_mean_gap_is_one_over_rate(process: ArrivalProcess, rate: float) -> None:
    gaps = gaps_of(process, rate)
    assert gaps.mean() * rate == pytest.approx(1.0, rel=0.02)


def test_constant_gaps_are_exact() -> None:
    times = take(ArrivalSchedule(Constant(), 8.0, start=10.0), 5)
    assert times.tolist() == [10.125, 10.25, 10.375, 10.5, 10.625]


def test_poisson_gaps_pass_a_ks_test_against_the_exponential() -> None:
    rate = 200.0
    gaps = gaps_of(Poisson(), rate, n=20_000, seed=42)
    result = stats.kstest(gaps, "expon", args=(0, 1 / rate))
    assert result.pvalue > 0.01
    # and a KS test can tell gamma(cv=2) apart from it
    bursty = gaps_of(Gamma(cv=2.0), rate, n=20_000, seed=42)
    assert stats.kstest(bursty, "expon", args=(0, 1 / rate)).pvalue < 1e-6


@pytest.mark.parametrize("cv", [0.25, 0.5, 1.0, 2.0, 4.0])
def test_gamma_cv_matches(cv: float) -> None:
    rng = np.random.default_rng(7)
    raw = Gamma(cv=cv).gaps(rng, 0, 200_000, 100.0)
    assert raw.std() / raw.mean() == pytest.approx(cv, rel=0.05)
    k = 1 / cv**2
    assert stats.kstest(raw[:20_000], "gamma", args=(k, 0, 1 / (k * 100.0))).pvalue > 0.01
    if cv <= 2.0:  # beyond, many gaps are below the float resolution of absolute times
        gaps = gaps_of(Gamma(cv=cv), 100.0, n=200_000, seed=7)
        assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.05)


def _all_times(schedule: ArrivalSchedule, horizon: float) -> np.ndarray:
    return schedule.until(horizon)


@pytest.mark.parametrize(
    "process",
    [
        Constant(),
        Poisson(),
        Gamma(cv=2.5),
        TraceReplay.from_timestamps(TRACE, loop=True),
        TraceReplay.from_timestamps(TRACE, time_scale=0.01),  # finite: ends inside the horizon
    ],
)
@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_thinning_splits_the_global_sequence_exactly(process: ArrivalProcess, workers: int) -> None:
    rate = None if isinstance(process, TraceReplay) else 300.0
    horizon = 40.0  # about 12k arrivals: several chunks
    whole = _all_times(ArrivalSchedule(process, rate, start=5.0, seed=9, step=2), horizon)
    parts = [
        _all_times(
            ArrivalSchedule(
                process, rate, start=5.0, seed=9, step=2, worker_index=k, worker_count=workers
            ),
            horizon,
        )
        for k in range(workers)
    ]
    union = np.sort(np.concatenate(parts), kind="stable")
    assert np.array_equal(union, whole)  # bit for bit: same draws, same sums
    for k, part in enumerate(parts):
        assert np.array_equal(part, whole[k::workers])
        assert abs(part.size - whole.size / workers) <= 1  # each worker gets 1/W


def test_batching_does_not_change_the_sequence() -> None:
    a = ArrivalSchedule(Gamma(cv=2.0), 500.0, seed=3, worker_index=1, worker_count=3)
    b = ArrivalSchedule(Gamma(cv=2.0), 500.0, seed=3, worker_index=1, worker_count=3)
    c = ArrivalSchedule(Gamma(cv=2.0), 500.0, seed=3, worker_index=1, worker_count=3)
    n = 3 * CHUNK
    by_batch = take(a, n)
    by_until = np.concatenate([b.until(t) for t in np.arange(0.5, 100.0, 0.5)])[:n]
    one_by_one = np.array([c.next_time() for _ in range(n)])
    assert np.array_equal(by_batch, by_until)
    assert np.array_equal(by_batch, one_by_one)
    assert np.all(np.diff(by_batch) >= 0)


def test_until_is_inclusive_and_resumes() -> None:
    s = ArrivalSchedule(Constant(), 4.0, start=0.0)
    assert s.until(1.0).tolist() == [0.25, 0.5, 0.75, 1.0]
    assert s.until(1.0).tolist() == []
    assert s.until(1.6).tolist() == [1.25, 1.5]
    assert s.next_time() == 1.75


def test_restart_derives_the_sequence_from_seed_and_step() -> None:
    base = ArrivalSchedule(Poisson(), 100.0, seed=5, worker_index=0, worker_count=2)
    step3 = base.restarted(step=3, start=60.0, rate=250.0)
    again = ArrivalSchedule(Poisson(), 250.0, start=60.0, seed=5, step=3, worker_count=2)
    other = base.restarted(step=4, start=60.0, rate=250.0)
    first = take(step3, 1000)
    assert np.array_equal(first, take(again, 1000))
    assert not np.array_equal(first, take(other, 1000))
    assert first[0] > 60.0
    assert (step3.total_rate, step3.worker_rate, step3.worker_index) == (250.0, 125.0, 0)
    peer = base.restarted(step=3, start=60.0, rate=250.0)
    peer_1 = ArrivalSchedule(
        Poisson(), 250.0, start=60.0, seed=5, step=3, worker_index=1, worker_count=2
    )
    merged = np.sort(np.concatenate([take(peer, 500), take(peer_1, 500)]))
    whole = take(ArrivalSchedule(Poisson(), 250.0, start=60.0, seed=5, step=3), 1000)
    assert np.array_equal(merged[:900], whole[:900])


def test_trace_replay_reproduces_gaps_times_time_scale() -> None:
    for scale in (1.0, 2.0, 0.5):
        s = ArrivalSchedule(TraceReplay.from_timestamps(TRACE, time_scale=scale), None, start=100.0)
        times = take(s, 100)
        assert times.size == len(TRACE)  # not looping: the replay ends with the trace
        assert s.exhausted
        assert times[0] == 100.0
        assert np.allclose(np.diff(times), np.diff(TRACE) * scale, rtol=0, atol=1e-12)
        assert s.total_rate == pytest.approx(7 / 6 / scale)


def test_trace_replay_loops() -> None:
    trace = TraceReplay.from_timestamps([0.0, 1.0, 3.0], loop=True)
    times = take(ArrivalSchedule(trace, None, start=0.0), 7)
    assert times.tolist() == [0.0, 1.0, 3.0, 4.0, 6.0, 7.0, 9.0]


def test_trace_replay_at_a_plan_rate_keeps_the_shape() -> None:
    trace = TraceReplay.from_timestamps(TRACE, loop=True)
    times = take(ArrivalSchedule(trace, 70.0, start=0.0), 7 * 1000 + 1)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1 / 70.0)
    assert np.allclose(gaps[:7] / gaps[:7].sum(), np.diff(TRACE) / 6.0)


def test_timestamps_are_sorted_and_validated() -> None:
    t = TraceReplay.from_timestamps([5.0, 1.0, 3.0])
    assert t.gaps_s == (2.0, 2.0)
    assert t.arrivals_per_pass == 3
    assert "3 timestamps" in repr(t)


@pytest.mark.parametrize(
    ("timestamps", "match"),
    [
        ([1.0], "at least two"),
        ([], "at least two"),
        ([1.0, 1.0, 1.0], "no duration"),
        ([1.0, float("nan")], "finite"),
        (["a", "b"], "numbers"),
    ],
)
def test_bad_traces_raise_trace_error(timestamps: Sequence[object], match: str) -> None:
    with pytest.raises(TraceError, match=match):
        TraceReplay.from_timestamps(timestamps)  # type: ignore[arg-type]


def test_zero_rate_means_no_arrivals() -> None:
    s = ArrivalSchedule(Poisson(), 0.0)
    assert s.exhausted
    assert s.next_batch().size == 0
    assert s.next_time() is None
    assert s.until(1e9).size == 0


@pytest.mark.parametrize(
    ("process", "rate", "kwargs", "match"),
    [
        (Poisson(), -1.0, {}, "rate must be >= 0"),
        (Poisson(), float("inf"), {}, "rate must be >= 0"),
        (Poisson(), None, {}, "need a rate"),
        (Poisson(), 1.0, {"worker_index": 2, "worker_count": 2}, "worker 2 of 2"),
        (Poisson(), 1.0, {"worker_count": 0}, "worker"),
        (Poisson(), 1.0, {"seed": -1}, "seed"),
        (Poisson(), 1.0, {"start": float("nan")}, "finite"),
    ],
)
def test_bad_schedules_raise_config_error(
    process: ArrivalProcess, rate: float | None, kwargs: dict[str, int], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        ArrivalSchedule(process, rate, **kwargs)


@pytest.mark.parametrize("cv", [0.0, -1.0, 11.0, float("nan")])
def test_gamma_cv_range(cv: float) -> None:
    with pytest.raises(ConfigError, match="cv must be in"):
        Gamma(cv=cv)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("closed", ArrivalSpec("closed")),
        ("constant", ArrivalSpec("constant")),
        (" Poisson ", ArrivalSpec("poisson")),
        ("gamma:cv=2", ArrivalSpec("gamma", cv=2.0)),
        ("gamma: cv = 0.5", ArrivalSpec("gamma", cv=0.5)),
        (
            "trace:path=traces/a.csv,column=TIMESTAMP,time_scale=2",
            ArrivalSpec("trace", path="traces/a.csv", column="TIMESTAMP", time_scale=2.0),
        ),
        ("trace:traces/a.jsonl", ArrivalSpec("trace", path="traces/a.jsonl")),
        ("trace:path=a.csv,loop=true", ArrivalSpec("trace", path="a.csv", loop=True)),
    ],
)
def test_parse_arrival(text: str, spec: ArrivalSpec) -> None:
    parsed = parse_arrival(text)
    assert parsed == spec
    assert parse_arrival(str(parsed)) == parsed
    assert parsed.is_open is (spec.kind != "closed")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("uniform", "unknown arrival process 'uniform'"),
        ("", "unknown arrival process ''"),
        ("gamma", "gamma arrivals need cv"),
        ("gamma:cv=0", "cv must be in"),
        ("gamma:cv=fast", "non-numeric"),
        ("gamma:k=2", "unknown parameter 'k' for gamma"),
        ("poisson:cv=1", "unknown parameter 'cv' for poisson"),
        ("constant:2", "is not NAME=VALUE"),
        ("trace", "trace arrivals need a path"),
        ("trace:column=TIMESTAMP", "trace arrivals need a path"),
        ("trace:path=a.csv,time_scale=0", "time_scale must be > 0"),
        ("trace:path=a.csv,loop=maybe", "loop must be true or false"),
    ],
)
def test_bad_arrival_options(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_arrival(text, option="--ml-arrival")
    assert str(info.value).startswith("--ml-arrival: ")


def test_spec_builds_processes() -> None:
    assert parse_arrival("closed").process() is None
    assert parse_arrival("constant").process() == Constant()
    assert parse_arrival("poisson").process() == Poisson()
    assert parse_arrival("gamma:cv=3").process() == Gamma(3.0)
    calls: list[tuple[str, str | None]] = []

    def loader(path: str, column: str | None) -> Sequence[float]:
        calls.append((path, column))
        return TRACE

    trace = parse_arrival("trace:path=t.csv,column=TS,time_scale=2").process(loader)
    assert isinstance(trace, TraceReplay)
    assert calls == [("t.csv", "TS")]
    assert (trace.time_scale, trace.source) == (2.0, "t.csv")
    assert trace.rate == pytest.approx(7 / 12)
    from_code = ArrivalSpec("trace", timestamps=(0.0, 1.0, 2.0), loop=True).process()
    assert isinstance(from_code, TraceReplay)
    assert from_code.loop


def test_trace_path_without_a_loader_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="need a trace loader"):
        parse_arrival("trace:path=t.csv").process()


def test_loader_errors_pass_through() -> None:
    def broken(path: str, column: str | None) -> Sequence[float]:
        raise TraceError(f"{path}: no column {column!r}")

    with pytest.raises(TraceError, match="no column 'TS'"):
        parse_arrival("trace:path=t.csv,column=TS").process(broken)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "gamma"}, "cv must be in"),
        ({"kind": "poisson", "cv": 1.0}, "take no cv"),
        ({"kind": "poisson", "path": "x"}, "take no path"),
        ({"kind": "trace"}, "need a path"),
        ({"kind": "trace", "path": "x", "timestamps": (1.0, 2.0)}, "not both"),
        ({"kind": "burst"}, "unknown arrival process"),
    ],
)
def test_spec_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ArrivalSpec(**kwargs)  # type: ignore[arg-type]
