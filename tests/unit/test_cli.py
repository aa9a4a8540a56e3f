from __future__ import annotations

import subprocess
import sys

import pytest

from locust_ml.cli import build_parser, main


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
