from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from locust_ml.analysis.planning import Plan
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.cli import build_parser, main
from tests.report_fixtures import capacity, cost, decided, write_report


def test_help_lists_serve() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "locust_ml.cli", "--help"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert "serve" in out.stdout


def test_serve_help_shows_every_documented_option_with_units() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for opt in (
        "--backend",
        "--host",
        "--port",
        "--max-batch-size",
        "--max-queue-delay-ms",
        "--queue-limit",
        "--load-seconds",
        "--base-ms",
        "--per-item-ms",
        "--instances",
    ):
        assert opt in help_text
    assert "ms" in help_text
    assert "seconds" in help_text or " s)" in help_text or "(s" in help_text


def test_bad_serve_value_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--backend", "simulated", "--max-batch-size", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "--max-batch-size" in err
    assert "Traceback" not in err


def test_missing_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_help_lists_compare_autoscale_and_coldstart() -> None:
    help_text = build_parser().format_help()
    for command in ("compare", "autoscale", "coldstart"):
        assert command in help_text


def _subparser(name: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = build_parser()._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
    return parser


def _action(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    return next(a for a in parser._actions if a.dest == dest)


def test_report_tool_options_match_the_modules_that_define_them() -> None:
    # cli.py defines these options itself so that building the parser doesn't
    # import locust_ml.report (and numpy): keep them in step with the modules.
    from locust_ml.report import autoscaling, compare

    assert tuple(_action(_subparser("compare"), "sort").choices or ()) == compare.SORT_KEYS
    auto = _subparser("autoscale")
    assert tuple(_action(auto, "metric").choices or ()) == autoscaling.METRICS
    assert _action(auto, "prometheus_url").default == autoscaling.DEFAULT_PROMETHEUS_URL
    assert _action(auto, "counter").default == autoscaling.DEFAULT_REQUESTS_COUNTER
    assert str(autoscaling.DEFAULT_TARGET_UTILIZATION) in auto.format_help()


def test_building_the_parser_does_not_import_numpy() -> None:
    code = "import sys, locust_ml.cli as c; c.build_parser(); print('numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "False"


def _report(path: Path, slo_rps: float | None, price: float | None) -> Path:
    priced = None if price is None or slo_rps is None else cost(price, slo_rps)
    plan = Plan(500.0, slo_rps or 0.0, target_utilization=0.7, redundancy=1, replicas=6)
    return write_report(
        path,
        decided(
            capacity=capacity(slo_rps),
            cost=priced,
            plan=plan,
            verdict=RunVerdict(passed=True, valid=True),
        ),
    )


def test_compare_ranks_cheapest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t4 = _report(tmp_path / "t4" / "report.json", 40.0, 0.526)
    a100 = _report(tmp_path / "a100" / "report.json", 400.0, 3.67)
    assert main(["compare", str(t4), str(a100)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:1] in ("1", "2")]
    assert rows[0].split()[1] == "a100"
    assert rows[0].rstrip().endswith("1.00x")
    assert rows[1].split()[1] == "t4"
    assert rows[1].rstrip().endswith("1.43x")


@pytest.mark.parametrize("content", [None, "{oops", '{"schema_version": "9.0", "run": {}}'])
def test_compare_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    good = _report(tmp_path / "good" / "report.json", 10.0, 1.0)
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main(["compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("locust-ml compare: error: ")
    assert str(bad) in err
    assert "Traceback" not in err


def test_autoscale_writes_manifests_and_refuses_a_report_without_capacity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _report(tmp_path / "good" / "report.json", 40.0, 0.526)
    out = tmp_path / "k8s"
    assert main(["autoscale", str(good), "--deployment", "summarizer", "-o", str(out)]) == 0
    assert (out / "summarizer-hpa.yaml").exists()
    assert (out / "summarizer-keda-scaledobject.yaml").exists()
    capsys.readouterr()
    none = _report(tmp_path / "none" / "report.json", None, None)
    code = main(["autoscale", str(none), "--deployment", "summarizer", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "no SLO capacity" in err
    code = main(["autoscale", str(good), "--deployment", "Bad_Name"])
    assert code == 2
    assert "DNS-1123" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://192.0.2.1:8000/v1/models"], "is not loopback"),
        (["--url", "http://127.0.0.1:8000/", "-k", "0"], "-k 0"),
        (["--url", "http://127.0.0.1:8000/", "--cmd", "serve 'unclosed"], "cannot split"),
    ],
)
def test_coldstart_bad_options_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if "--cmd" not in argv:
        argv = ["--cmd", "locust-ml serve", *argv]
    assert main(["coldstart", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_coldstart_command_that_cannot_start_is_exit_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No such program: nothing is started, and the one line names the command.
    code = main(
        ["coldstart", "--cmd", "/nonexistent/locust-ml-server", "--url", "http://127.0.0.1:9/"]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1
    assert "cannot start '/nonexistent/locust-ml-server'" in err
