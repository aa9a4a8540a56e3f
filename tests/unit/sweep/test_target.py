"""A configuration's target: started or set up, waited for, stopped or torn down (fakes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from locust_ml.errors import TargetError
from locust_ml.sweep.configs import Config, parse_template
from locust_ml.sweep.target import StartFailed, TargetSpec, run_command, target_up
from tests.unit.sweep.fakes import FakeWorld

CONFIG = Config((("batch", "8"),))


def _local(**kw: object) -> TargetSpec:
    base: dict[str, object] = {
        "server": parse_template("serve --port {port} --max-batch-size {batch}", "--server"),
        "ready_timeout_s": 10.0,
        "poll_s": 0.25,
    }
    return TargetSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_a_local_server_is_started_filled_waited_for_and_stopped(tmp_path: Path) -> None:
    world = FakeWorld()
    ready: list[tuple[str, float]] = []
    with target_up(
        _local(), CONFIG, tmp_path, world.effects(), on_ready=lambda u, s: ready.append((u, s))
    ) as url:
        child = world.children[0]
        assert child.argv == ("serve", "--port", "40001", "--max-batch-size", "8")
        assert url == "http://127.0.0.1:40001"
        assert not child.stopped
    assert ready == [("http://127.0.0.1:40001", 2.0)]  # polled every 0.25 s, ready at 2 s
    assert child.stopped == [10.0]


def test_the_ready_paths_are_tried_in_turn(tmp_path: Path) -> None:
    world = FakeWorld(ready_paths=("/health",), ready_after_s=0.0)
    with target_up(_local(), CONFIG, tmp_path, world.effects()):
        pass
    assert [u.rsplit(":", 1)[1] for u in world.fetched] == [
        "40001/health/ready",
        "40001/v2/health/ready",
        "40001/health",
    ]


def test_a_server_that_exits_first_fails_with_its_last_output(tmp_path: Path) -> None:
    world = FakeWorld()
    spec = _local(server=parse_template("serve --port {port} --crash", "--server"))
    with (
        pytest.raises(StartFailed, match="exited with status 1 before it was ready") as info,
        target_up(spec, CONFIG, tmp_path, world.effects()),
    ):
        pytest.fail("the body must not run")
    assert info.value.tail[-1] == "RuntimeError: CUDA out of memory"
    assert world.children[0].stopped  # stopped (its group) all the same


def test_a_server_never_ready_fails_after_the_timeout(tmp_path: Path) -> None:
    world = FakeWorld(ready_after_s=60.0)
    with (
        pytest.raises(StartFailed, match=r"not ready after 10 s \(http://127.0.0.1:40001: "),
        target_up(_local(), CONFIG, tmp_path, world.effects()),
    ):
        pass
    assert world.clock.now - 1000.0 == pytest.approx(10.0, abs=0.3)
    assert world.children[0].stopped


def test_the_server_is_stopped_when_the_search_raises(tmp_path: Path) -> None:
    world = FakeWorld()
    with (
        pytest.raises(KeyboardInterrupt),
        target_up(_local(), CONFIG, tmp_path, world.effects()),
    ):
        raise KeyboardInterrupt
    assert world.children[0].stopped


def _remote(**kw: object) -> TargetSpec:
    base: dict[str, object] = {
        "host": parse_template("http://summarizer-{batch}.svc:8000", "--host", split=False),
        "setup": parse_template("setup --set batch={batch}", "--setup"),
        "teardown": parse_template("teardown {batch}", "--teardown"),
        "ready_timeout_s": 10.0,
        "poll_s": 0.25,
    }
    return TargetSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_a_remote_target_is_set_up_waited_for_and_torn_down(tmp_path: Path) -> None:
    world = FakeWorld()
    with target_up(_remote(), CONFIG, tmp_path, world.effects()) as url:
        assert url == "http://summarizer-8.svc:8000"
        assert world.commands == [("setup", "--set", "batch=8")]
    assert world.commands[-1] == ("teardown", "8")
    assert world.fetched[-1] == "http://summarizer-8.svc:8000/health/ready"


def test_a_failed_setup_fails_the_configuration_and_still_tears_down(tmp_path: Path) -> None:
    world = FakeWorld(failing=("setup",))
    with (
        pytest.raises(StartFailed, match=r"setup command \(setup --set batch=8\) exited 1") as info,
        target_up(_remote(), CONFIG, tmp_path, world.effects()),
    ):
        pass
    assert info.value.tail == ("Error: release not found",)
    assert world.commands[-1] == ("teardown", "8")


def test_a_failed_teardown_is_a_note_not_a_failure(tmp_path: Path) -> None:
    world = FakeWorld(failing=("teardown",))
    notes: list[str] = []
    with target_up(_remote(), CONFIG, tmp_path, world.effects(), on_note=notes.append):
        pass
    assert notes == ["teardown command (teardown 8) exited 1\n  Error: release not found"]


def test_a_host_that_is_not_a_url_fails(tmp_path: Path) -> None:
    world = FakeWorld()
    spec = _remote(host=parse_template("summarizer:{batch}", "--host", split=False), setup=None)
    with (
        pytest.raises(StartFailed, match="not an http"),
        target_up(spec, CONFIG, tmp_path, world.effects()),
    ):
        pass


def test_run_command_keeps_the_output_and_the_status(tmp_path: Path) -> None:
    code, tail = run_command(
        [sys.executable, "-c", "import sys; print('rolled out'); sys.exit(3)"],
        tmp_path / "setup.log",
        30.0,
    )
    assert (code, tail) == (3, ("rolled out",))
    assert (tmp_path / "setup.stdout.log").read_text() == "rolled out\n"


def test_run_command_kills_a_command_past_its_timeout(tmp_path: Path) -> None:
    code, tail = run_command(
        [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "setup.log", 0.3
    )
    assert code == -9
    assert tail[-1] == "(killed after 0.3 s)"


def test_a_command_that_cannot_start_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot start 'no-such-command-here'"):
        run_command(["no-such-command-here"], tmp_path / "setup.log", 1.0)
