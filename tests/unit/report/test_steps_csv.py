from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from locust_ml.report.steps_csv import (
    SCALAR_FIELDS,
    render_steps_csv,
    steps_columns,
    write_steps_csv,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report_json"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_are_stable_across_runs() -> None:
    """Different runs (open/closed loop, streaming or not) give the same header."""
    columns = steps_columns(load("ramp_open_loop"))
    assert columns == steps_columns(load("hostile"))
    assert columns == steps_columns(load("empty"))
    assert columns[: len(SCALAR_FIELDS)] == list(SCALAR_FIELDS)
    assert columns[len(SCALAR_FIELDS)] == "judged"
    assert "status_ok" in columns
    assert "status_other" in columns
    latency = [c for c in columns if c.startswith("latency_")]
    assert latency == [
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_p99.9_ms",
    ]
    for prefix in ("corrected", "lateness", "ttft", "itl"):
        assert f"{prefix}_p99_ms" in columns
    assert len(columns) == len(set(columns))


def test_one_row_per_step_with_the_json_values() -> None:
    report = load("ramp_open_loop")
    out = rows(render_steps_csv(report))
    assert len(out) == len(report["steps"])
    for row, step in zip(out, report["steps"], strict=True):
        assert int(row["id"]) == step["id"]
        assert float(row["achieved_rps"]) == step["achieved_rps"]
        assert float(row["latency_p99.9_ms"]) == step["latency_ms"]["p99.9"]
        assert float(row["corrected_p99_ms"]) == step["corrected_ms"]["p99"]
        assert float(row["gpu_utilization"]) == step["gpu_utilization"]
        assert row["judged"] == step["judgement"]["outcome"]
        assert int(row["status_ok"]) == step["status"]["ok"]
        assert row["ttft_p50_ms"] == ""  # not streaming: empty, not "None"
        assert row["label"] == ""
    assert out[4]["status_shed"] == "62"
    assert [r["judged"] for r in out] == ["pass", "pass", "slo", "slo", "slo", "slo"]
    assert out[0]["status_shed"] == "0"


def test_empty_report_is_a_header_only() -> None:
    text = render_steps_csv(load("empty"))
    assert text.count("\n") == 1
    assert text.startswith("id,label,mode,")


def test_text_cells_cannot_become_spreadsheet_formulas() -> None:
    report = load("hostile")
    report["steps"][0]["label"] = "=HYPERLINK(1)"
    report["steps"][1]["label"] = "@SUM(A1)"
    out = rows(render_steps_csv(report))
    assert out[0]["label"] == "'=HYPERLINK(1)"
    assert out[1]["label"] == "'@SUM(A1)"


def test_quoting_keeps_commas_and_quotes_in_their_cell() -> None:
    report = load("hostile")
    report["steps"][0]["label"] = 'a, "b"\nc'
    out = rows(render_steps_csv(report))
    assert out[0]["label"] == 'a, "b"\nc'


def test_negative_numbers_are_numbers() -> None:
    report = load("hostile")
    report["steps"][0]["late"] = -1
    assert rows(render_steps_csv(report))[0]["late"] == "-1"


def test_unknown_fields_are_appended_not_dropped() -> None:
    report = load("hostile")
    report["percentiles"] = [50, 99]
    report["steps"][0]["zeta"] = 1.5
    report["steps"][0]["alpha"] = "x"
    report["steps"][0]["latency_ms"]["p99.99"] = 97.0
    report["steps"][0]["queue_ms"] = {"p50": 3.0}
    report["steps"][0]["status"]["teapot"] = 1
    columns = steps_columns(report)
    assert columns.index("judged") + 1 == columns.index("alpha")
    assert columns.index("alpha") + 1 == columns.index("zeta")
    lat = [c for c in columns if c.startswith("latency_")]
    assert lat == ["latency_p50_ms", "latency_p99_ms", "latency_p90_ms", "latency_p95_ms",
                   "latency_p99.9_ms", "latency_p99.99_ms"]  # fmt: skip
    assert columns[-2:] == ["queue_p50_ms", "queue_p99_ms"]
    assert "status_teapot" in columns
    out = rows(render_steps_csv(report))
    assert out[0]["latency_p99.99_ms"] == "97.0"
    assert out[0]["queue_p50_ms"] == "3.0"
    assert out[1]["zeta"] == ""


def test_write_steps_csv(tmp_path: Path) -> None:
    report = load("hostile")
    path = write_steps_csv(report, tmp_path / "steps.csv")
    assert path.read_text() == render_steps_csv(report)
