"""The signal handlers' decisions, phase by phase, on a fake environment (no real signals).

The real-process checks are in ``tests/integration/test_interrupted.py``;
here each phase of a run gets its one expected action: exit before the
load, stop the shape (or the runner) during it, leave Locust's own stop
alone, ignore a second signal until the report is written, then exit.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import gevent
import pytest
from locust.runners import STATE_CLEANUP, STATE_INIT, STATE_RUNNING, STATE_SPAWNING, STATE_STOPPED

from locust_ml.plugin import signals


@dataclass
class FakeRunner:
    state: str = STATE_INIT
    shape_greenlet: Any = None
    quits: int = 0

    def quit(self) -> None:
        self.quits += 1


@dataclass(eq=False)
class FakeEnvironment:
    runner: FakeRunner = field(default_factory=FakeRunner)
    shape_class: Any = None


def _watched(runner: FakeRunner, shape_class: Any = None) -> Any:
    """A run as the handlers see it: what watch() sets up, without real handlers."""
    return SimpleNamespace(
        environment=FakeEnvironment(runner, shape_class), shutdown=signals.Shutdown(watched=True)
    )


def test_before_the_load_exits_2_with_no_report() -> None:
    env = _watched(FakeRunner(STATE_INIT))
    with pytest.raises(SystemExit) as info:
        signals._on_signal(env, signal.SIGINT)
    assert info.value.code == 2
    assert signals.interruption(env) is None


def test_during_a_shape_run_the_shape_is_ended_and_locust_stops_the_rest() -> None:
    shape = gevent.spawn(gevent.sleep, 30)
    runner = FakeRunner(STATE_SPAWNING, shape_greenlet=shape)
    env = _watched(runner, shape_class=object())
    signals._on_signal(env, signal.SIGTERM)
    gevent.sleep(0)
    assert shape.dead
    assert runner.quits == 0  # Locust's "shape test completed" path quits the runner
    assert signals.interruption(env) == "SIGTERM"


def test_a_second_signal_is_ignored_until_the_report_is_written_then_exits() -> None:
    shape = gevent.spawn(gevent.sleep, 30)
    env = _watched(FakeRunner(STATE_RUNNING, shape_greenlet=shape), shape_class=object())
    signals._on_signal(env, signal.SIGINT)
    signals._on_signal(env, signal.SIGTERM)  # ignored: the report is not written yet
    assert signals.interruption(env) == "SIGINT"
    signals.report_written(env, 2)
    with pytest.raises(SystemExit) as info:
        signals._on_signal(env, signal.SIGINT)
    assert info.value.code == 2


@pytest.mark.parametrize(("sig", "quits"), [(signal.SIGINT, 1), (signal.SIGTERM, 0)])
def test_without_a_shape_sigint_quits_the_runner_and_sigterm_is_left_to_locust(
    sig: signal.Signals, quits: int
) -> None:
    runner = FakeRunner(STATE_RUNNING)
    env = _watched(runner)
    signals._on_signal(env, sig)
    gevent.sleep(0)
    assert runner.quits == quits
    assert signals.interruption(env) == sig.name


@pytest.mark.parametrize("state", [STATE_CLEANUP, STATE_STOPPED])
def test_while_locust_stops_by_itself_nothing_is_done(state: str) -> None:
    # The shape greenlet may still be inside its own runner.quit(): it must not be ended.
    shape = gevent.spawn(gevent.sleep, 30)
    runner = FakeRunner(state, shape_greenlet=shape)
    env = _watched(runner, shape_class=object())
    signals._on_signal(env, signal.SIGTERM)
    gevent.sleep(0)
    assert not shape.dead
    assert runner.quits == 0
    assert signals.interruption(env) is None  # the run was not cut short
    shape.kill()
