"""Knee, saturation and SLO capacity against targets whose answers are known.

Ground truth is a synthetic model of the reference server's simulated backend
(``locust_ml/server/models/simulated.py``): a batch of ``B`` requests takes
``base_ms + per_item_ms * B``, so ``instances`` model instances saturate at::

    X_sat = instances * B / ((base_ms + per_item_ms * B) / 1000)

* Closed loop (``N`` users, unloaded latency ``L0``): throughput
  ``min(N / L0, X_sat)`` and latency ``max(L0, N / X_sat)`` (the asymptotic
  bounds of operational analysis).
* Open loop (offered ``lambda``): latency flat-ish below ``X_sat`` (it rises by
  half as ``rho`` goes from 0 to 1) and exploding above it, where the queue
  grows for the whole step; good throughput is ``min(lambda, X_sat)``.

Every curve gets seeded, multiplicative noise per measurement window (the
bootstrap resamples those windows), about what a 10 s window at 100 req/s shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.capacity import (
    MIN_KNEE_POINTS,
    CapacitySettings,
    CurvePoint,
    analyze_capacity,
    find_knee,
    find_saturation,
    point_from_step,
    points_from_steps,
    slo_capacity,
)
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.steps import StepStats, WindowStats

#: Each percentile relative to the median: a fixed latency distribution shape.
TAIL = {"p50": 1.0, "p90": 1.25, "p95": 1.4, "p99": 1.8, "p99.9": 2.4}
STEP_S = 60.0
WINDOWS = 6
NO_BOOTSTRAP = CapacitySettings(bootstrap=0)


@dataclass(frozen=True)
class Backend:
    """The simulated backend's parameters and what follows from them."""

    instances: int
    batch: int
    base_ms: float
    per_item_ms: float
    overhead_ms: float = 2.0  # HTTP and hand-off outside the batch

    @property
    def service_ms(self) -> float:
        return self.base_ms + self.per_item_ms * self.batch

    @property
    def xsat(self) -> float:
        return self.instances * self.batch / (self.service_ms / 1000.0)

    @property
    def l0_ms(self) -> float:
        """Unloaded median latency: one full batch plus the overhead."""
        return self.service_ms + self.overhead_ms

    def closed(self, users: float) -> tuple[float, float]:
        """(throughput, median latency ms) with ``users`` in a closed loop."""
        l0 = self.l0_ms / 1000.0
        return min(users / l0, self.xsat), 1000.0 * max(l0, users / self.xsat)

    def open(self, offered: float) -> tuple[float, float]:
        """(good throughput, median latency ms from the intended send) at ``offered``."""
        rho = offered / self.xsat
        flat = self.l0_ms * (1.0 + 0.5 * min(rho, 1.0) ** 4)
        # Above saturation the backlog grows all step long; the median waits half of it.
        backlog_ms = max(0.0, offered - self.xsat) * STEP_S / self.xsat * 1000.0
        return min(offered, self.xsat), flat + backlog_ms / 2.0

    @property
    def closed_users_at_saturation(self) -> float:
        return self.xsat * self.l0_ms / 1000.0

    def p99_at_saturation(self, mode: str) -> float:
        if mode == "closed":
            return self.closed(self.closed_users_at_saturation)[1] * TAIL["p99"]
        return self.open(self.xsat)[1] * TAIL["p99"]


CONFIGS = [
    Backend(instances=1, batch=8, base_ms=20.0, per_item_ms=5.0),  # the server's defaults
    Backend(instances=2, batch=16, base_ms=30.0, per_item_ms=2.0),
    Backend(instances=4, batch=4, base_ms=50.0, per_item_ms=10.0),
    Backend(instances=1, batch=32, base_ms=10.0, per_item_ms=1.0),
]
#: Loads as fractions of saturation; neither grid has a step exactly at it.
CLOSED_GRID = (0.2, 0.4, 0.6, 0.75, 0.87, 0.96, 1.03, 1.12, 1.25, 1.5, 2.0, 2.5, 3.0)
OPEN_GRID = tuple(round(0.12 + 0.05 * k, 2) for k in range(30))  # 0.12 .. 1.57


def _point(
    step: int,
    load: float,
    rps: float,
    median_ms: float,
    rng: np.random.Generator,
    *,
    mode: str,
    noise: float,
) -> CurvePoint:
    w_rps = rps * (1.0 + noise * rng.standard_normal(WINDOWS))
    w_lat = 1.0 + noise * rng.standard_normal(WINDOWS)
    good = float(np.mean(w_rps))
    lat = median_ms * float(np.mean(w_lat))
    return CurvePoint(
        step=step,
        load=load,
        achieved_rps=good,
        good_rps=good,
        requests=round(good * STEP_S),
        failure_ratio=0.0,
        latency_ms={k: lat * f for k, f in TAIL.items()},
        mode=mode,
        offered_rps=load if mode == "open" else None,
        window_good_rps=tuple(float(x) for x in w_rps),
        window_latency_ms=tuple(
            {k: median_ms * float(m) * f for k, f in TAIL.items()} for m in w_lat
        ),
        window_failure=tuple((0, round(float(x) * STEP_S / WINDOWS)) for x in w_rps),
    )


def closed_curve(b: Backend, seed: int, noise: float = 0.01) -> list[CurvePoint]:
    rng = np.random.default_rng(seed)
    out = []
    for i, f in enumerate(CLOSED_GRID, start=1):
        users = f * b.closed_users_at_saturation
        rps, lat = b.closed(users)
        out.append(_point(i, users, rps, lat, rng, mode="closed", noise=noise))
    return out


def open_curve(b: Backend, seed: int, noise: float = 0.01) -> list[CurvePoint]:
    rng = np.random.default_rng(seed)
    out = []
    for i, f in enumerate(OPEN_GRID, start=1):
        rps, lat = b.open(f * b.xsat)
        out.append(_point(i, f * b.xsat, rps, lat, rng, mode="open", noise=noise))
    return out


def curve(b: Backend, mode: str, seed: int) -> list[CurvePoint]:
    return closed_curve(b, seed) if mode == "closed" else open_curve(b, seed)


def pt(
    step: int,
    good: float,
    p99: float | None,
    *,
    failure_ratio: float = 0.0,
    achieved: float | None = None,
    p50: float | None = None,
    mode: str = "closed",
    offered: float | None = None,
    requests: int = 1000,
) -> CurvePoint:
    """A hand-made point; ``load`` is the good throughput unless offered."""
    lat: dict[str, float | None] = {"p99": p99}
    if p50 is not None:
        lat["p50"] = p50
    return CurvePoint(
        step=step,
        load=offered if offered is not None else good,
        achieved_rps=good if achieved is None else achieved,
        good_rps=good,
        requests=requests,
        failure_ratio=failure_ratio,
        latency_ms=lat,
        mode=mode,
        offered_rps=offered,
    )


# ------------------------------------------------------------------ ground truth


def test_the_model_matches_the_servers_saturation_formula() -> None:
    from locust_ml.server.config import ServerConfig, saturation_rps

    for b in CONFIGS:
        cfg = ServerConfig(
            backend="simulated",
            base_ms=b.base_ms,
            per_item_ms=b.per_item_ms,
            max_batch_size=b.batch,
            instances=b.instances,
        )
        assert b.xsat == pytest.approx(saturation_rps(cfg), rel=1e-12)


@pytest.mark.parametrize("mode", ["closed", "open"])
@pytest.mark.parametrize("backend", CONFIGS, ids=lambda b: f"{b.instances}x{b.batch}")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_knee_saturation_and_slo_capacity_match_the_analytic_saturation(
    backend: Backend, mode: str, seed: int
) -> None:
    xsat = backend.xsat
    threshold = 1.05 * backend.p99_at_saturation(mode)  # just above the latency there
    slo = SLO.latency(99, threshold)
    a = analyze_capacity(curve(backend, mode, seed), [slo], NO_BOOTSTRAP)

    assert a.knee_rps is not None, a.notes
    assert a.knee_rps == pytest.approx(xsat, rel=0.10)
    assert a.saturation_rps is not None
    assert a.saturation_rps == pytest.approx(xsat, rel=0.05)
    assert a.slo_rps is not None
    assert a.slo_rps == pytest.approx(xsat, rel=0.05)
    assert a.bound == "bracketed"
    assert a.limiting_slo == str(slo)
    assert a.latency_key == "p99"
    knee = next(p for p in a.curve if p.step == a.knee_step)
    assert a.knee_latency_ms == knee.latency_ms["p99"]


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_knee_ignores_latency_noise_below_saturation(mode: str) -> None:
    """Below the knee tail latency is flat up to noise, so in latency order the
    throughputs zigzag; the knee must not be taken at the first zig."""
    b = CONFIGS[0]
    for seed in range(20):
        a = analyze_capacity(curve(b, mode, seed), [], NO_BOOTSTRAP)
        assert a.knee_rps == pytest.approx(b.xsat, rel=0.10), (seed, a.knee_step)


def test_slo_capacity_errs_low_when_the_bracket_is_wide() -> None:
    """Latency is convex in load: the chord from the last pass to the first
    failure crosses the threshold early, so a coarse ramp under-reports."""
    b = CONFIGS[0]
    points = [p for p in open_curve(b, seed=4) if p.load <= 0.6 * b.xsat or p.load > b.xsat]
    last_ok = max((p for p in points if p.load <= 0.6 * b.xsat), key=lambda p: p.load)
    slo = SLO.latency(99, 1.05 * b.p99_at_saturation("open"))
    a = analyze_capacity(points, [slo], NO_BOOTSTRAP)
    assert a.last_passing_step == last_ok.step
    assert a.slo_rps is not None
    assert last_ok.good_rps <= a.slo_rps < 0.65 * b.xsat  # the true capacity is ~0.98 X_sat


# ------------------------------------------------------------- bounds and notes


def test_every_step_passing_gives_a_lower_bound_and_says_so() -> None:
    b = CONFIGS[0]
    points = closed_curve(b, seed=5)
    a = analyze_capacity(points, [SLO.latency(99, 1e6)], NO_BOOTSTRAP)
    assert a.bound == "lower-bound"
    assert a.slo_rps == max(p.good_rps for p in points)
    assert a.limiting_slo is None
    assert a.first_failing_step is None
    assert a.last_passing_step == max(points, key=lambda p: p.good_rps).step
    assert any("lower bound" in n for n in a.notes)


def test_no_passing_step_gives_no_capacity() -> None:
    points = closed_curve(CONFIGS[0], seed=6)
    a = analyze_capacity(points, [SLO.latency(99, 1.0)], CapacitySettings(bootstrap=50))
    assert a.slo_rps is None
    assert a.slo_rps_ci is None
    assert a.bound == "none"
    assert a.last_passing_step is None
    assert a.first_failing_step == points[0].step
    assert any("no step met every SLO" in n for n in a.notes)


def test_no_slos_give_no_capacity_and_a_note() -> None:
    a = analyze_capacity(closed_curve(CONFIGS[0], seed=7), [], CapacitySettings(bootstrap=50))
    assert a.slo_rps is None
    assert a.slo_rps_ci is None
    assert a.limiting_slo is None
    assert a.bound == "none"
    assert any("no SLO was given" in n for n in a.notes)
    assert a.knee_rps is not None  # the knee and saturation need no SLO


def test_no_points_at_all() -> None:
    a = analyze_capacity([], [SLO.latency(99, 100)])
    assert (a.slo_rps, a.knee_rps, a.saturation_rps, a.curve) == (None, None, None, ())
    assert slo_capacity([], [SLO.latency(99, 100)]) == (None, None, None, None, "none")


def test_steps_without_requests_are_left_out_and_the_curve_is_sorted_by_load() -> None:
    points = closed_curve(CONFIGS[0], seed=8)
    empty = replace(points[3], step=99, requests=0, load=0.5 * points[3].load)
    a = analyze_capacity([*reversed(points), empty], [], NO_BOOTSTRAP)
    assert [p.step for p in a.curve] == [p.step for p in points]


def test_mixed_open_and_closed_steps_are_noted() -> None:
    points = [*closed_curve(CONFIGS[0], seed=9)[:3], *open_curve(CONFIGS[0], seed=9)[:3]]
    a = analyze_capacity(points, [], NO_BOOTSTRAP)
    assert any("mixed" in n for n in a.notes)


# -------------------------------------------------------------------------- knee


@pytest.mark.parametrize("n", range(MIN_KNEE_POINTS))
def test_fewer_than_four_points_give_no_knee_and_a_reason(n: int) -> None:
    lat = [10.0, 20.0, 400.0][:n]
    rps = [10.0, 90.0, 100.0][:n]
    index, why = find_knee(lat, rps)
    assert index is None
    assert why == f"{n} steps with latency data; a knee needs at least {MIN_KNEE_POINTS}"
    a = analyze_capacity(
        [pt(i + 1, r, x) for i, (x, r) in enumerate(zip(lat, rps, strict=True))], []
    )
    assert a.knee_rps is None
    assert a.knee_step is None
    assert f"knee: {why}" in a.notes


def test_points_without_latency_do_not_count_toward_the_knee() -> None:
    index, why = find_knee([10.0, math.nan, 20.0, 30.0, math.inf], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert index is None
    assert why is not None
    assert why.startswith("3 steps")


def test_steps_with_the_same_tail_latency_are_one_point_of_the_curve() -> None:
    # A closed-loop ramp capped at 64 users after 62: both steps saturated, both
    # p99s read through the same histogram bucket (a real run's figures).
    p99 = [163.071, 206.463, 263.935, 367.359, 602.623, 818.687, 818.687]
    good = [49.6, 60.0, 69.6, 75.6, 80.0, 80.0, 80.0]
    assert find_knee(p99, good) == find_knee(p99[:-1], good[:-1]) == (3, None)
    # The best throughput at that latency stands for it, whichever step had it.
    assert find_knee([*p99[:-2], 818.687, 818.687], [*good[:-2], 79.0, 80.5])[0] == 3
    assert find_knee([10.0, 10.0, 20.0, 30.0], [1.0, 2.0, 3.0, 3.1])[1] == (
        f"3 distinct tail latencies over the steps; a knee needs at least {MIN_KNEE_POINTS}"
    )


def test_knee_needs_rising_throughput() -> None:
    index, why = find_knee([10.0, 20.0, 30.0, 40.0], [100.0, 104.0, 108.0, 109.0])
    assert index is None
    assert why is not None
    assert "did not rise by 10%" in why


def test_knee_is_the_corner_of_a_hand_made_curve() -> None:
    # Throughput rises steeply with latency, then stalls: the corner is at 50 ms.
    lat = [10.0, 20.0, 30.0, 40.0, 50.0, 200.0, 400.0, 800.0]
    rps = [20.0, 45.0, 70.0, 90.0, 100.0, 101.0, 101.5, 102.0]
    index, why = find_knee(lat, rps)
    assert why is None
    assert index == 4
    # Input order does not matter: the index refers to the caller's order.
    order = [5, 0, 7, 3, 1, 6, 4, 2]
    index, _ = find_knee([lat[i] for i in order], [rps[i] for i in order])
    assert index is not None
    assert order[index] == 4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1.0, 1e4), min_size=4, max_size=20, unique=True),
    st.lists(st.floats(0.1, 1e4), min_size=20, max_size=20),
    st.integers(-8, 8),
    st.integers(-8, 8),
)
def test_knee_does_not_move_when_latency_or_throughput_is_rescaled(
    latencies: list[float], throughputs: list[float], lat_exp: int, rps_exp: int
) -> None:
    """Kneedle normalizes both axes; powers of two rescale floats exactly."""
    rps = throughputs[: len(latencies)]
    base = find_knee(latencies, rps)
    scaled = find_knee([x * 2.0**lat_exp for x in latencies], [y * 2.0**rps_exp for y in rps])
    assert scaled[0] == base[0]


# -------------------------------------------------------------------- saturation


def test_open_loop_saturates_where_good_throughput_falls_behind_the_offered() -> None:
    def points(requests: int) -> list[CurvePoint]:
        return [
            pt(1, 50.0, 10.0, mode="open", offered=50.0, requests=requests),
            pt(2, 99.0, 11.0, mode="open", offered=100.0, requests=requests),
            pt(3, 140.0, 14.0, mode="open", offered=145.0, requests=requests),  # 96.6 %
            pt(4, 150.0, 900.0, mode="open", offered=200.0, requests=requests),
            pt(5, 147.0, 4000.0, mode="open", offered=250.0, requests=requests),
        ]

    strict = CapacitySettings(saturation_tolerance=0.02)
    assert find_saturation(points(100_000)) == (3, 150.0)  # the 5 % default
    assert find_saturation(points(100_000), strict) == (2, 150.0)
    # 1000 requests count to +-3.2 % (1/sqrt(n)): 3 sigma of it is no shortfall.
    assert find_saturation(points(1000), strict) == (3, 150.0)


def test_open_loop_saturation_credits_a_better_step_below() -> None:
    points = [
        pt(1, 100.0, 10.0, mode="open", offered=100.0),
        pt(2, 120.0, 500.0, mode="open", offered=150.0),
        pt(3, 110.0, 900.0, mode="open", offered=200.0),
    ]
    assert find_saturation(points) == (1, 120.0)
    points[0] = pt(1, 130.0, 10.0, mode="open", offered=130.0)
    assert find_saturation(points) == (1, 130.0)


def test_closed_loop_saturates_when_more_users_buy_little() -> None:
    points = [
        pt(1, 100.0, 10.0),
        pt(2, 190.0, 11.0),
        pt(3, 200.0, 20.0),
        pt(4, 201.0, 40.0),
    ]
    points = [replace(p, load=float(users)) for p, users in zip(points, (1, 2, 4, 8), strict=True)]
    # Step 3: doubling the users bought 5 %, under a tenth of the 100 % proportional gain.
    index, rps = find_saturation(points)
    assert index == 2
    assert rps == 201.0


def test_no_saturation_when_throughput_keeps_up() -> None:
    points = [replace(pt(i, 10.0 * i, 10.0), load=float(i)) for i in range(1, 6)]
    assert find_saturation(points) == (None, None)
    a = analyze_capacity(points, [], NO_BOOTSTRAP)
    assert a.saturation_rps is None
    assert a.saturation_step is None
    assert any(n.startswith("saturation:") for n in a.notes)


# ---------------------------------------------------------------- interpolation


def test_interpolation_is_exact_on_a_two_step_bracket() -> None:
    # p99 goes 200 -> 400 ms while good throughput goes 100 -> 140 req/s; the
    # threshold 300 ms is half-way, so the capacity is 100 + 0.5 * 40 = 120.
    points = [pt(1, 100.0, 200.0), pt(2, 140.0, 400.0)]
    assert slo_capacity(points, [SLO.latency(99, 300)]) == (
        120.0,
        "p99<300ms",
        1,
        2,
        "bracketed",
    )
    # 250 ms is a quarter of the way: 100 + 0.25 * 40 = 110.
    assert slo_capacity(points, [SLO.latency(99, 250)])[0] == 110.0


def test_the_tightest_slo_limits_the_interpolated_capacity() -> None:
    points = [pt(1, 100.0, 200.0, p50=80.0), pt(2, 140.0, 400.0, p50=180.0)]
    # p99<300: 120 req/s. p50<105: (105 - 80) / (180 - 80) = 0.25 -> 110 req/s.
    capacity, limiting, *_ = slo_capacity(points, [SLO.latency(99, 300), SLO.latency(50, 105)])
    assert capacity == 110.0
    assert limiting == "p50<105ms"


def test_interpolation_on_an_error_budget() -> None:
    points = [pt(1, 100.0, 50.0), pt(2, 140.0, 60.0, failure_ratio=0.04, achieved=140 / 0.96)]
    # errors<1%: (0.01 - 0) / (0.04 - 0) = 0.25 of the way from 100 to 140 good req/s.
    capacity, limiting, *_ = slo_capacity(points, [SLO.latency(99, 100), SLO.errors(0.01)])
    assert capacity == pytest.approx(110.0, rel=1e-12)
    assert limiting == "errors<1%"


def test_interpolation_runs_to_the_failing_steps_good_throughput_not_its_offered_rate() -> None:
    # The failing step was offered 200 and completed 160 (20 of them failed):
    # capacity is counted in good requests, so the top of the bracket is 140.
    f = pt(2, 140.0, 400.0, achieved=160.0, failure_ratio=0.125, mode="open", offered=200.0)
    points = [pt(1, 100.0, 200.0, mode="open", offered=100.0), f]
    assert slo_capacity(points, [SLO.latency(99, 300)])[0] == 120.0


def test_a_failing_step_that_shed_below_the_passing_one_gives_the_passing_one() -> None:
    points = [pt(1, 100.0, 200.0), pt(2, 60.0, 400.0, achieved=150.0, failure_ratio=0.6)]
    assert slo_capacity(points, [SLO.latency(99, 300)])[:2] == (100.0, "p99<300ms")


def test_passes_above_the_first_failure_are_not_capacity() -> None:
    points = [pt(1, 100.0, 200.0), pt(2, 140.0, 400.0), pt(3, 180.0, 250.0)]
    capacity, _, last_ok, first_bad, bound = slo_capacity(points, [SLO.latency(99, 300)])
    assert (capacity, last_ok, first_bad, bound) == (120.0, 1, 2, "bracketed")


def test_the_best_passing_step_below_the_failure_anchors_the_bracket() -> None:
    # Step 2 passed with more good throughput than step 3 (its neighbour).
    points = [pt(1, 100.0, 100.0), pt(2, 150.0, 150.0), pt(3, 140.0, 200.0), pt(4, 190, 400.0)]
    capacity, _, last_ok, first_bad, _ = slo_capacity(points, [SLO.latency(99, 300)])
    assert (last_ok, first_bad) == (2, 4)
    # From step 2 (150 ms, 150 req/s) to step 4 (400 ms, 190 req/s): 0.6 of the way.
    assert capacity == pytest.approx(150.0 + 0.6 * 40.0, rel=1e-12)


def test_a_failure_for_want_of_data_is_not_interpolated() -> None:
    points = [pt(1, 100.0, 200.0), pt(2, 140.0, None)]
    assert slo_capacity(points, [SLO.latency(99, 300)]) == (
        100.0,
        "no data at the failing step",
        1,
        2,
        "bracketed",
    )


# ------------------------------------------------------------------- bootstrap CI


def test_the_ci_brackets_the_estimate_and_is_reproducible() -> None:
    b = CONFIGS[0]
    points = [p for p in open_curve(b, seed=11, noise=0.03) if p.load > 0.7 * b.xsat]
    slo = SLO.latency(99, 1.05 * b.p99_at_saturation("open"))
    cfg = CapacitySettings(bootstrap=80, seed=5)
    a = analyze_capacity(points, [slo], cfg)
    assert a.slo_rps is not None
    assert a.slo_rps_ci is not None
    low, high = a.slo_rps_ci
    assert low <= a.slo_rps <= high
    assert low < high  # the windows' noise shows
    assert high - low < 0.2 * a.slo_rps
    assert analyze_capacity(points, [slo], cfg).slo_rps_ci == (low, high)
    other = analyze_capacity(points, [slo], replace(cfg, seed=6)).slo_rps_ci
    assert other is not None
    assert other != (low, high)
    assert other[0] <= a.slo_rps <= other[1]


def test_a_narrower_confidence_gives_a_narrower_interval() -> None:
    b = CONFIGS[1]
    points = closed_curve(b, seed=12, noise=0.03)
    slo = SLO.latency(99, 1.05 * b.p99_at_saturation("closed"))
    wide = analyze_capacity(points, [slo], CapacitySettings(bootstrap=60, confidence=0.95))
    narrow = analyze_capacity(points, [slo], CapacitySettings(bootstrap=60, confidence=0.5))
    assert wide.slo_rps_ci is not None
    assert narrow.slo_rps_ci is not None
    assert wide.slo_rps_ci[0] <= narrow.slo_rps_ci[0] <= narrow.slo_rps_ci[1]
    assert narrow.slo_rps_ci[1] <= wide.slo_rps_ci[1]


def test_no_ci_without_windows_or_replicates() -> None:
    points = [pt(1, 100.0, 200.0), pt(2, 140.0, 400.0)]
    assert analyze_capacity(points, [SLO.latency(99, 300)]).slo_rps_ci is None
    b = CONFIGS[0]
    windowed = open_curve(b, seed=13)
    slo = SLO.latency(99, 1.05 * b.p99_at_saturation("open"))
    assert analyze_capacity(windowed, [slo], NO_BOOTSTRAP).slo_rps_ci is None


# ------------------------------------------------------------ from step statistics


def _window(i: int, requests: int, failures: int, p99: float, corrected: float) -> WindowStats:
    return WindowStats(
        start=100.0 + 10 * i,
        end=110.0 + 10 * i,
        requests=requests,
        failures=failures,
        latency_ms={"p99": p99},
        index=i,
        corrected_ms={"p99": corrected},
    )


def _step(mode: str = "open", **kw: object) -> StepStats:
    base: dict[str, object] = {
        "id": 3,
        "start": 100.0,
        "end": 120.0,
        "users": 8,
        "offered_rps": 60.0 if mode == "open" else None,
        "achieved_rps": 55.0,
        "requests": 1100,
        "failures": 100,
        "latency_ms": {"p50": 10.0, "p99": 40.0},
        "endpoints": (),
        "mode": mode,
        "extra_ms": {
            "corrected": {"p50": 12.0, "p99": 90.0},
            "ttft": {"p99": 5.0},
            "itl": {"p99": 1.0},
        },
        "windows": (_window(0, 600, 40, 35.0, 80.0), _window(1, 500, 60, 45.0, 100.0)),
    }
    base.update(kw)
    return StepStats(**base)  # type: ignore[arg-type]


def test_an_open_loop_step_is_judged_on_latency_from_the_intended_send() -> None:
    p = point_from_step(_step("open"), passed=True)
    assert p is not None
    assert p.step == 3
    assert p.load == 60.0  # the offered rate
    assert p.good_rps == 50.0  # (1100 - 100) / 20 s
    assert p.achieved_rps == 55.0
    assert p.failure_ratio == pytest.approx(100 / 1100)
    assert p.latency_ms == {"p50": 12.0, "p99": 90.0}
    assert p.ttft_ms == {"p99": 5.0}
    assert p.itl_ms == {"p99": 1.0}
    assert p.passed is True
    assert p.window_good_rps == (56.0, 44.0)
    assert p.window_latency_ms == ({"p99": 80.0}, {"p99": 100.0})
    assert p.window_failure == ((40, 600), (60, 500))


def test_a_closed_loop_step_is_judged_on_service_latency_and_loaded_by_users() -> None:
    p = point_from_step(_step("closed"))
    assert p is not None
    assert p.load == 8.0
    assert p.latency_ms == {"p50": 10.0, "p99": 40.0}
    assert p.window_latency_ms == ({"p99": 35.0}, {"p99": 45.0})
    assert p.passed is None


def test_step_load_falls_back_to_achieved_and_empty_steps_are_skipped() -> None:
    p = point_from_step(_step("closed", users=None, achieved_rps=None))
    assert p is not None
    # Full windows give the rates: 1,100 requests (100 failed) over 2 x 10 s.
    assert p.load == p.achieved_rps == 55.0
    assert p.good_rps == 50.0
    assert point_from_step(_step(requests=0, failures=0)) is None
    assert point_from_step(_step(end=100.0)) is None
    steps = [_step(id=1), _step(id=2, requests=0, failures=0), _step(id=3)]
    points = points_from_steps(steps, {1: True, 3: False})
    assert [(p.step, p.passed) for p in points] == [(1, True), (3, False)]
    assert [p.passed for p in points_from_steps(steps)] == [None, None]


# ----------------------------------------------------------------- properties


@st.composite
def monotone_curves(draw: st.DrawFn) -> list[CurvePoint]:
    """Load, tail latency and failure ratio rising step by step; throughput
    capped at a random saturation rate; open or closed loop."""
    n = draw(st.integers(1, 8))
    rises = st.lists(st.floats(0.0, 300.0), min_size=n, max_size=n)
    lat_rise, p50_share = draw(rises), draw(st.floats(0.2, 1.0))
    load_rise = draw(st.lists(st.floats(1.0, 60.0), min_size=n, max_size=n))
    fail_rise = draw(st.lists(st.floats(0.0, 0.08), min_size=n, max_size=n))
    cap = draw(st.floats(10.0, 300.0))
    mode = draw(st.sampled_from(["open", "closed"]))
    out, lat, load, fails = [], 5.0, 0.0, 0.0
    for i in range(n):
        lat, load, fails = lat + lat_rise[i], load + load_rise[i], min(1.0, fails + fail_rise[i])
        achieved = min(load, cap)
        out.append(
            pt(
                i + 1,
                achieved * (1.0 - fails),
                lat,
                p50=lat * p50_share,
                failure_ratio=fails,
                achieved=achieved,
                mode=mode,
                offered=load if mode == "open" else None,
            )
        )
    return out


def _capacity(points: Sequence[CurvePoint], slos: Sequence[SLO]) -> float:
    return slo_capacity(points, slos)[0] or 0.0


@settings(max_examples=150, deadline=None)
@given(
    monotone_curves(),
    st.floats(5.0, 2000.0),
    st.floats(0.0, 1000.0),
    st.floats(5.0, 2000.0),
    st.floats(0.001, 0.5),
    st.floats(0.0, 0.5),
)
def test_capacity_never_decreases_when_an_slo_is_loosened(
    points: list[CurvePoint],
    p99: float,
    more_ms: float,
    p50: float,
    budget: float,
    more_budget: float,
) -> None:
    tight = [SLO.latency(99, p99), SLO.latency(50, p50), SLO.errors(budget)]
    looser_latency = [SLO.latency(99, p99 + more_ms), tight[1], tight[2]]
    looser_budget = [tight[0], tight[1], SLO.errors(min(1.0, budget + more_budget))]
    base = _capacity(points, tight)
    assert _capacity(points, looser_latency) >= base
    assert _capacity(points, looser_budget) >= base
    assert _capacity(points, tight[:2]) >= base  # dropping an SLO loosens it all the way


@settings(max_examples=100, deadline=None)
@given(monotone_curves(), st.floats(5.0, 2000.0), st.floats(0.001, 0.5))
def test_capacity_lies_within_the_bracket(
    points: list[CurvePoint], p99: float, budget: float
) -> None:
    capacity, _, last_ok, first_bad, bound = slo_capacity(
        points, [SLO.latency(99, p99), SLO.errors(budget)]
    )
    if capacity is None:
        assert (last_ok, bound) == (None, "none")
        return
    by_step = {p.step: p for p in points}
    assert last_ok is not None
    assert capacity >= by_step[last_ok].good_rps
    top = by_step[first_bad].good_rps if first_bad is not None else capacity
    assert capacity <= max(top, by_step[last_ok].good_rps)
