"""Mooncake traces: reading and checking, timestamps, and the unbounded-cache hit rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from locust_ml.arrivals import parse_arrival
from locust_ml.errors import TraceError
from locust_ml.traces.mooncake import (
    MooncakeRequest,
    is_mooncake,
    prefix_reuse,
    read_mooncake,
)
from locust_ml.traces.timeline import load_timestamps

ROOT = Path(__file__).resolve().parents[3]
TRACE = ROOT / "data" / "traces" / "mooncake_synthetic_trace.jsonl"


def _write(tmp_path: Path, rows: list[object], name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(ts: float, n: object, ids: list[object], out: int = 3) -> dict[str, object]:
    return {"timestamp": ts, "input_length": n, "output_length": out, "hash_ids": ids}


def test_reads_the_development_trace_and_its_limit() -> None:
    trace = read_mooncake(TRACE)
    assert len(trace) == 3993
    first = trace.requests[0]
    assert (first.input_length, first.output_length, first.hash_ids[:3]) == (40160, 6, (0, 1, 2))
    assert len(read_mooncake(TRACE, limit=500)) == 500
    ts = trace.timestamps_s()
    assert ts[0] == 0.0
    assert np.all(np.diff(ts) >= 0)
    assert trace.duration_s == pytest.approx(ts[-1])


def test_the_readme_s_hit_rate_of_the_whole_trace() -> None:
    # shared/traces/README.md: 65.1 % of all prompt tokens are hits.
    assert prefix_reuse(read_mooncake(TRACE).requests).rate == pytest.approx(0.651, abs=5e-4)


def test_hits_stop_at_the_first_new_block_and_are_capped_at_the_length() -> None:
    reqs = [
        MooncakeRequest(0, 1500, 1, (1, 2, 3)),
        MooncakeRequest(1, 1100, 1, (1, 9, 3)),  # 3 was seen, but after the new 9
        MooncakeRequest(2, 700, 1, (1, 2)),  # 2 blocks seen, 700 tokens long
    ]
    reuse = prefix_reuse(reqs)
    assert reuse.hits == (0, 512, 700)
    assert reuse.rate == pytest.approx(1212 / 3300)
    assert prefix_reuse([]).rate == 0.0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"timestamp": 0}', "no input_length, output_length, hash_ids"),
        (json.dumps(_row(-1, 5, [1])), "timestamp is -1"),
        (json.dumps(_row(0, 0, [1])), "input_length is 0"),
        (json.dumps(_row(0, 5.5, [1])), "input_length is 5.5"),
        (json.dumps(_row(0, 5, ["a"])), "hash_ids must be a list"),
        (json.dumps(_row(0, 1025, [1, 2])), "2 hash_ids for input_length 1025; expected 3"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_line_is_one_error_naming_it(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_row(0, 5, [1])) + "\n\n" + row + "\n")
    with pytest.raises(TraceError, match=f"t.jsonl, line 3: .*{message[:20]}"):
        read_mooncake(path)


def test_time_must_not_go_back(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(5, 5, [1]), _row(4, 5, [2])])
    with pytest.raises(TraceError, match="line 2: timestamp 4 is before"):
        read_mooncake(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read the trace"):
        read_mooncake(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(TraceError, match="no requests"):
        read_mooncake(tmp_path / "empty.jsonl")
    assert not is_mooncake(tmp_path / "empty.jsonl")
    assert not is_mooncake(tmp_path / "nope.jsonl")


def test_trace_arrivals_read_mooncake_milliseconds_and_a_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(1000, 5, [1]), _row(1500, 5, [1]), _row(4000, 5, [2])])
    assert is_mooncake(path)
    assert load_timestamps(str(path)).tolist() == [0.0, 0.5, 3.0]
    spec = parse_arrival(f"trace:path={path},limit=2,time_scale=2")
    assert spec.limit == 2
    assert "limit=2" in str(spec)
    process = spec.process(lambda p, c: list(load_timestamps(p, c)))
    assert process is not None
    assert process.gaps_s == (0.5,)
    assert process.rate == pytest.approx(1.0)  # type: ignore[union-attr] # time_scale 2
    with pytest.raises(Exception, match="limit"):
        parse_arrival("poisson:limit=3")


def test_doctests() -> None:
    import doctest

    from locust_ml.traces import mooncake

    assert doctest.testmod(mooncake).failed == 0
