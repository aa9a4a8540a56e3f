from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from locust_ml.analysis.samples import StepSamples
from locust_ml.analysis.steps import StepSpan
from locust_ml.report.console import format_ms, format_step_table
from locust_ml.report.json import report_to_dict, write_json
from locust_ml.report.model import SCHEMA_VERSION, RunInfo, build_report

POST = ("POST", "/v1/chat/completions")


def _report(with_samples: bool = True):
    s = StepSamples()
    if with_samples:
        for i in range(1, 101):
            s.record(1, POST, float(i), nbytes=10)
        for i in range(1, 201):
            s.record(2, POST, float(i) * 2, failed=i <= 4)
    spans = [StepSpan(1, 1000.0, 1010.0, 1), StepSpan(2, 1010.0, 1020.0, 2)]
    run = RunInfo("locustfiles/summarizer.py", "http://127.0.0.1:1", 1000.0, 1020.5, "local")
    return build_report(run, spans, s)


def test_json_has_the_stable_interface_keys() -> None:
    d = report_to_dict(_report())
    assert d["schema_version"] == SCHEMA_VERSION
    step_keys = {
        "id",
        "start",
        "end",
        "users",
        "offered_rps",
        "achieved_rps",
        "requests",
        "failures",
        "latency_ms",
    }
    for step in d["steps"]:
        assert step_keys <= set(step)
        assert set(step["latency_ms"]) == {"p50", "p90", "p95", "p99", "p99.9"}
    assert [s["requests"] for s in d["steps"]] == [100, 200]
    assert d["steps"][0]["achieved_rps"] == 10.0
    assert d["steps"][1]["failures"] == 4
    # The 196 successes, 10..400 ms: failures are counted, never latency samples.
    assert d["steps"][1]["latency_ms"]["p50"] == pytest.approx(204.0, rel=1e-3)
    assert d["steps"][0]["offered_rps"] is None
    assert d["totals"]["requests"] == 300
    assert d["totals"]["failures"] == 4
    assert d["run"]["duration_s"] == 20.5


def test_empty_steps_serialize_as_null_not_nan(tmp_path: Path) -> None:
    path = write_json(_report(with_samples=False), tmp_path / "r" / "report.json")
    text = path.read_text()
    assert "NaN" not in text
    d = json.loads(text)
    assert d["steps"][0]["latency_ms"]["p99"] is None
    assert d["totals"]["requests"] == 0


def test_step_table_lists_every_step_and_totals() -> None:
    table = format_step_table(_report())
    lines = table.splitlines()
    assert "p99.9" in lines[2]
    body = [ln for ln in lines if ln.split() and ln.split()[0] in {"1", "2", "total"}]
    assert [ln.split()[0] for ln in body] == ["1", "2", "total"]
    one = body[0].split()
    assert one[:6] == ["1", "1", "-", "10.00", "100", "0.0%"]
    assert body[2].split()[2] == "300"  # total requests (after the rate)


@pytest.mark.parametrize(
    ("x", "s"),
    [
        (None, "-"),
        (math.nan, "-"),
        (0.4123, "0.412"),
        (41.234, "41.23"),
        (412.34, "412.3"),
        (4123.4, "4123"),
    ],
)
def test_format_ms(x: float | None, s: str) -> None:
    assert format_ms(x) == s


def test_every_exported_name_of_the_report_package_exists() -> None:
    """``locust_ml.report`` exports lazily: a name left in ``__all__`` must still resolve."""
    import locust_ml.report

    for name in locust_ml.report.__all__:
        assert getattr(locust_ml.report, name) is not None
