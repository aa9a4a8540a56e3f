"""``--ml-server-args`` and ``serve --port-file`` are checked before anything starts.

Issue 13: ``--ml-server-args "--port 1"`` was a ConfigError traceback from
the init listener, and ``serve --port-file`` in a missing folder a
FileNotFoundError traceback after the socket was bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from locust_ml.cli import main
from locust_ml.errors import ConfigError
from locust_ml.server.embedded import EmbeddedServer, check_server_args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--port 1", "--port is chosen by locust-ml"),
        ("--port=1", "--port is chosen by locust-ml"),
        ("--host 0.0.0.0", "--host is chosen by locust-ml"),
        ("--port-file /tmp/p", "--port-file is chosen by locust-ml"),
        ("--backend speech", "--backend is chosen by locust-ml"),
        ("--max-batch-size abc", "argument --max-batch-size: invalid int value: 'abc'"),
        ("--max-batch-size 0", "--max-batch-size must be an integer in"),
        ("--bogus", "unrecognized arguments: --bogus"),
        ("-h", "unrecognized arguments: -h"),
        ("'unterminated", "cannot split"),
    ],
)
def test_bad_server_args_are_one_config_error(args: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^--ml-server-args") as info:
        EmbeddedServer("simulated", args)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_good_server_args_pass_and_start_nothing() -> None:
    server = EmbeddedServer("simulated", "--max-batch-size 16 --base-ms 2")
    assert server.proc is None
    check_server_args("summarizer", [])


def test_serve_port_file_in_a_missing_folder_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port_file = tmp_path / "missing" / "port"
    code = main(["serve", "--backend", "simulated", "--port", "0", "--port-file", str(port_file)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"locust-ml serve: error: --port-file {port_file}: its folder {port_file.parent} "
        "does not exist; create it first\n"
    )
