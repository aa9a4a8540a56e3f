"""``locust-ml sweep``'s options: checked before anything starts, passed through as given."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from locust_ml.cli import build_parser, main
from locust_ml.errors import ConfigError
from locust_ml.sweep.ranking import BY_CAPACITY, BY_COST
from locust_ml.sweep.runner import Sweep
from locust_ml.sweep.settings import sweep_from_args

LOCUSTFILE = "locustfiles/summarizer.py"
SERVER = "serve --port {port} --max-batch-size {batch}"


def _parse(*argv: str) -> tuple[argparse.Namespace, list[str]]:
    args, extra = build_parser().parse_known_args(["sweep", *argv])
    return args, extra


def _sweep(*argv: str) -> Sweep:
    args, extra = _parse("-f", LOCUSTFILE, *argv)
    return sweep_from_args(args, extra)


def test_a_local_sweep_from_the_issues_example(tmp_path: Path) -> None:
    sweep = _sweep(
        "--server",
        SERVER + " --instances {instances}",
        "--param",
        "batch=1,4,16",
        "--param",
        "instances=1,2",
        "--ml-slo",
        "p99<500ms",
        "--ml-slo",
        "errors<1%",
        "--ml-price-per-hour",
        "1.2",
        "--ml-target-rps",
        "1000",
        "--out",
        str(tmp_path / "sweep"),
        "--processes",
        "2",
    )
    assert len(sweep.configs) == 6
    assert sweep.by == BY_COST
    assert sweep.decisions.target_rps == 1000.0
    argv = sweep.command.argv("http://127.0.0.1:4000", tmp_path / "r", None)
    assert argv[1:4] == ("-m", "locust", "-f")
    words = " ".join(argv)
    assert "--headless --only-summary --host http://127.0.0.1:4000 --ml-report-dir" in words
    assert "--ml-shape capacity-search" in words
    assert "--ml-price-per-hour 1.2" in words
    assert "--ml-slo p99<500ms --ml-slo errors<1%" in words
    assert words.endswith("--processes 2")
    # The price and the peak change no measurement: they are not in the fingerprint.
    assert "--ml-price-per-hour 1.2" not in sweep.fingerprint["ml_args"]
    assert "--ml-slo p99<500ms" in sweep.fingerprint["ml_args"]
    assert sweep.fingerprint["locust_args"] == ["--processes", "2"]


def test_a_given_shape_replaces_the_default_search_and_without_prices_capacity_ranks() -> None:
    sweep = _sweep(
        "--server", SERVER, "--param", "batch=1", "--ml-shape", "capacity-search:max_time=2m"
    )
    argv = sweep.command.argv("http://h:1", Path("r"), None)
    assert argv.count("--ml-shape") == 1
    assert "capacity-search:max_time=2m" in argv
    assert sweep.by == BY_CAPACITY
    assert sweep.out == Path("reports/sweep-summarizer")


def test_a_remote_sweep_fills_host_setup_and_teardown() -> None:
    sweep = _sweep(
        "--host",
        "http://summarizer.svc:8000",
        "--setup",
        "helm upgrade s ./chart --set batch={batch} --wait",
        "--teardown",
        "true",
        "--param",
        "batch=1,8",
        "--ready-path",
        "/v2/health/ready",
    )
    assert sweep.target.server is None
    assert sweep.target.setup is not None
    assert sweep.target.setup.fill(sweep.configs[1])[-2:] == ("batch=8", "--wait")
    assert sweep.target.ready_paths == ("/v2/health/ready",)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--param", "batch=1"], "no target: give --server CMD"),
        (["--server", SERVER], "no configurations"),
        (["--server", "serve --batch {batch}", "--param", "batch=1"], "no {port} field"),
        (["--server", SERVER, "--param", "size=1"], r"\{batch\} is not a parameter"),
        (["--host", "http://h:{port}", "--param", "batch=1"], "only filled for a --server"),
        (["--server", SERVER, "--param", "batch=1", "--ml-shape", "soak"], "compares SLO cap"),
        (["--server", SERVER, "--param", "batch=1", "--ml-slo", "p99<fast"], "--ml-slo"),
        (["--server", SERVER, "--param", "batch=1", "--ml-report-dir", "x"], "its own report"),
        (["--server", SERVER, "--param", "batch=1", "--ml-colour", "red"], "not a locust-ml"),
        (["--server", SERVER, "--param", "batch=1", "-H", "http://x"], "use --host"),
        (["--server", SERVER, "--param", "batch=1", "--strategy", "quick:x"], "not a parameter"),
        (["--server", SERVER, "--param", "batch=1", "--ready-path", "health"], "--ready-path"),
        (["--server", SERVER, "--param", "batch=1", "--ready-timeout", "0"], "--ready-timeout"),
    ],
)
def test_bad_options_fail_before_anything_starts(argv: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        _sweep(*argv)


def test_a_missing_locustfile_is_an_error() -> None:
    args, extra = _parse("-f", "nope.py", "--server", SERVER, "--param", "batch=1")
    with pytest.raises(ConfigError, match=r"nope\.py: no such file"):
        sweep_from_args(args, extra)


def test_the_cli_says_one_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "-f", LOCUSTFILE, "--server", "serve {batch}", "--param", "batch=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("locust-ml sweep: error: --server has no")


def test_locusts_config_option_is_not_taken_for_configs() -> None:
    args, extra = _parse("-f", LOCUSTFILE, "--config", "locust.conf")
    assert args.configs is None
    assert extra == ["--config", "locust.conf"]


def test_other_commands_still_refuse_unknown_options() -> None:
    with pytest.raises(SystemExit) as info:
        main(["options", "--bogus"])
    assert info.value.code == 2


def test_configurations_that_would_share_a_folder_are_refused(tmp_path: Path) -> None:
    configs = tmp_path / "c.json"
    configs.write_text('[{"p": "1_q-2", "q": "3"}, {"p": "1", "q": "2_q-3"}]')
    with pytest.raises(ConfigError, match="would share the folder p-1_q-2_q-3"):
        _sweep("--server", "serve --port {port}", "--configs", str(configs))


def test_help_lists_sweep_and_its_help_points_to_the_docs() -> None:
    assert "sweep" in build_parser().format_help()
    parsers = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    text = parsers["sweep"].format_help()
    for words in ("--server CMD", "--setup CMD", "--param NAME=V1,V2,...", "docs/sweep.md"):
        assert words in text
    assert "--ml-slo" not in text.split("example")[0]  # listed by locust-ml options, not here
