from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from locust_ml.report.model import RunReport
from locust_ml.report.steps_csv import (
    SCALAR_FIELDS,
    render_steps_csv,
    steps_columns,
    write_steps_csv,
)
from tests.report_fixtures import fixture, fixture_json


def header(report: RunReport) -> list[str]:
    return next(csv.reader(io.StringIO(render_steps_csv(report))))


def labelled(*labels: str) -> RunReport:
    """The hostile fixture with its steps' labels replaced."""
    report = fixture("hostile")
    steps = tuple(replace(s, label=label) for s, label in zip(report.steps, labels, strict=True))
    return replace(report, steps=steps)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_are_stable_across_runs() -> None:
    """Different runs (open/closed loop, streaming or not) give the same header."""
    columns = header(fixture("ramp_open_loop"))
    assert columns == header(fixture("hostile"))
    assert columns == header(fixture("empty"))
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
    report = fixture_json("ramp_open_loop")
    out = rows(render_steps_csv(fixture("ramp_open_loop")))
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
    text = render_steps_csv(fixture("empty"))
    assert text.count("\n") == 1
    assert text.startswith("id,label,mode,")


def test_text_cells_cannot_become_spreadsheet_formulas() -> None:
    out = rows(render_steps_csv(labelled("=HYPERLINK(1)", "@SUM(A1)")))
    assert out[0]["label"] == "'=HYPERLINK(1)"
    assert out[1]["label"] == "'@SUM(A1)"


def test_quoting_keeps_commas_and_quotes_in_their_cell() -> None:
    out = rows(render_steps_csv(labelled('a, "b"\nc', "")))
    assert out[0]["label"] == 'a, "b"\nc'


def test_secrets_in_text_cells_are_redacted() -> None:
    out = rows(render_steps_csv(labelled("key sk-ABCDEFGHIJKLMNOP0123", "x")))
    assert out[0]["label"] == "key [redacted]"


def test_negative_numbers_are_numbers() -> None:
    report = fixture("hostile")
    steps = (replace(report.steps[0], events={"late": -1}), *report.steps[1:])
    assert rows(render_steps_csv(replace(report, steps=steps)))[0]["late"] == "-1"


def test_unknown_fields_are_appended_not_dropped() -> None:
    """A field report.json's steps gain later gets a column without an edit here."""
    steps = fixture_json("hostile")["steps"]
    steps[0]["zeta"] = 1.5
    steps[0]["alpha"] = "x"
    steps[0]["latency_ms"]["p99.99"] = 97.0
    steps[0]["queue_ms"] = {"p50": 3.0}
    steps[0]["status"]["teapot"] = 1
    columns = steps_columns(steps, [50, 99])
    assert columns.index("judged") + 1 == columns.index("alpha")
    assert columns.index("alpha") + 1 == columns.index("zeta")
    lat = [c for c in columns if c.startswith("latency_")]
    assert lat == ["latency_p50_ms", "latency_p99_ms", "latency_p90_ms", "latency_p95_ms",
                   "latency_p99.9_ms", "latency_p99.99_ms"]  # fmt: skip
    assert columns[-2:] == ["queue_p50_ms", "queue_p99_ms"]
    assert "status_teapot" in columns


def test_write_steps_csv(tmp_path: Path) -> None:
    report = fixture("hostile")
    path = write_steps_csv(report, tmp_path / "steps.csv")
    assert path.read_text() == render_steps_csv(report)
