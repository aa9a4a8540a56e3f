"""``report/load.py``: report.json back into the typed report, decisions included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from locust_ml.errors import ReportError
from locust_ml.report.json import report_to_dict
from locust_ml.report.load import capacity_from_dict, load_report, report_from_dict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report_json"
NAMES = ("ramp_open_loop", "hostile", "empty")


def raw(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_writing_what_was_read_gives_the_file_again(name: str) -> None:
    """The loader is json.py's inverse: the same keys, in the same order, the same values."""
    again = report_to_dict(load_report(FIXTURES / f"{name}.json"))
    assert json.dumps(again, indent=1) == json.dumps(raw(name), indent=1)


def test_the_saved_decisions_are_read_not_remade() -> None:
    report = load_report(FIXTURES / "ramp_open_loop.json")
    assert report.capacity is not None
    assert report.capacity.slo_rps == 50.0
    assert report.capacity.slo_rps_ci == (45.406, 65.047)
    assert [p.step for p in report.capacity.curve] == [1, 2, 3, 4, 5, 6]
    assert report.capacity.curve[0].requests == report.steps[0].requests
    assert report.plan is not None
    assert report.plan.replicas == 16
    assert report.cost is not None
    assert report.cost.instance == "g5.xlarge"
    assert report.verdict.passed
    assert set(report.utilization) == {"knee", "slo_capacity"}
    hostile = load_report(FIXTURES / "hostile.json")
    assert hostile.soak is not None
    assert hostile.soak.trends[0].flagged
    assert hostile.stress is not None
    assert hostile.stress.failure_mode == "not graceful"
    assert hostile.verdict.exit_code == 1


def test_the_placeholder_capacity_of_an_empty_run_reads_as_none() -> None:
    assert load_report(FIXTURES / "empty.json").capacity is None
    assert capacity_from_dict(None) is None


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("capacity", "slo_rps"), -5.0, "capacity.slo_rps must be >= 0 or null, got -5.0"),
        (("capacity", "slo_rps"), "fast", "capacity.slo_rps must be a number or null, got 'fast'"),
        (("capacity", "knee_rps"), -1, "capacity.knee_rps must be"),
        (("cost", "price_per_hour"), -0.5, "cost.price_per_hour must be"),
        (("capacity", "slo_rps_ci"), [-1.0, 2.0], "capacity.slo_rps_ci.low must be"),
        (("capacity", "slo_rps_ci"), [1.0], "capacity.slo_rps_ci must be [low, high]"),
        (("cost",), [1, 2], "'cost' must be an object or null"),
    ],
)
def test_a_misread_figure_is_an_error_naming_it(
    where: tuple[str, ...], value: Any, message: str
) -> None:
    data = raw("ramp_open_loop")
    if len(where) == 2:
        data[where[0]][where[1]] = value
    else:
        data[where[0]] = value
    with pytest.raises(ReportError, match=r"^r\.json: not a locust-ml report") as info:
        report_from_dict(data, source="r.json")
    assert message in str(info.value)


def test_a_string_is_not_a_number() -> None:
    data = raw("hostile")
    data["steps"][0]["achieved_rps"] = "20"
    with pytest.raises(ReportError, match="expected a number, got '20'"):
        report_from_dict(data)
