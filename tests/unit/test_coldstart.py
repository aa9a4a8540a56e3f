"""Cold-start statistics, the spec's checks, and the measuring loop on fakes.

No process is started here and no socket opened: the child, the HTTP client
and the clock are fakes, so the failure paths (early exit, never ready, an
error answer, a server already running) are exact and instant. Real processes
are in ``tests/integration/test_coldstart_process.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from locust_ml.coldstart import (
    ColdStartSpec,
    Spread,
    Trial,
    add_coldstart_arguments,
    default_ready_url,
    format_summary,
    measure_cold_start,
    result_to_dict,
    spec_from_args,
    summarize_trials,
)
from locust_ml.errors import ConfigError, TargetError

URL = "http://127.0.0.1:8000/v1/chat/completions"
READY = "http://127.0.0.1:8000/health/ready"

# --------------------------------------------------------------------- statistics


def test_summary_is_min_median_max_and_per_trial_ratio() -> None:
    trials = [
        Trial(1, ready_s=2.0, first_ms=300.0, warm_ms=(10.0, 30.0, 20.0)),  # p50 20 -> 15x
        Trial(2, ready_s=4.0, first_ms=100.0, warm_ms=(40.0, 60.0, 50.0, 70.0)),  # p50 55
        Trial(3, ready_s=3.0, first_ms=50.0, warm_ms=(25.0,)),  # p50 25 -> 2x
    ]
    s = summarize_trials(trials)
    assert s.trials == 3
    assert s.ready_s == Spread(2.0, 3.0, 4.0)
    assert s.first_ms == Spread(50.0, 100.0, 300.0)
    assert s.warm_p50_ms == Spread(20.0, 25.0, 55.0)
    assert s.first_to_warm is not None
    assert s.first_to_warm.min == pytest.approx(100 / 55)
    assert s.first_to_warm.median == pytest.approx(2.0)
    assert s.first_to_warm.max == pytest.approx(15.0)
    text = format_summary(s)
    assert "median 3.000 s" in text
    assert "max 15.00x" in text


def test_even_count_median_is_the_mean_of_the_middle_two() -> None:
    trials = [Trial(i, float(i), 1.0, (1.0,)) for i in (1, 2, 3, 4)]
    assert summarize_trials(trials).ready_s.median == 2.5


def test_a_zero_warm_p50_has_no_ratio() -> None:
    s = summarize_trials([Trial(1, 1.0, 5.0, (0.0, 0.0, 1.0))])
    assert s.first_to_warm is None
    assert "first / warm" not in format_summary(s)


def test_no_trials_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        summarize_trials([])


# --------------------------------------------------------------------- the spec


def test_default_ready_url_is_health_ready_on_the_same_origin() -> None:
    assert default_ready_url(URL) == READY
    assert default_ready_url("https://[::1]:9/a/b?x=1") == "https://[::1]:9/health/ready"
    spec = ColdStartSpec(("serve",), URL)
    assert spec.ready_url == READY
    assert spec.method == "GET"
    assert ColdStartSpec(("serve",), URL, body=b"{}").method == "POST"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    ColdStartSpec(("serve",), f"http://{host}:8000/x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "http://10.0.0.5:8000/x"}, "--url 'http://10.0.0.5:8000/x': host '10.0.0.5'"),
        ({"url": "http://127.0.0.2:8000/x"}, "is not loopback"),
        ({"ready_url": "http://example.com/ready"}, "--ready-url"),
        ({"url": "ftp://127.0.0.1/x"}, "expected an http(s) URL"),
        ({"url": "127.0.0.1:8000"}, "expected an http(s) URL"),
        ({"command": ()}, "--cmd is empty"),
        ({"trials": 0}, "-k 0"),
        ({"warm": 0}, "--warm 0"),
        ({"timeout_s": 0.0}, "--timeout"),
        ({"grace_s": -1.0}, "--grace"),
    ],
)
def test_bad_specs_are_config_errors_naming_the_option(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"command": ("serve",), "url": URL, **kwargs}
    with pytest.raises(ConfigError) as info:
        ColdStartSpec(**args)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_allow_remote_lifts_the_loopback_rule() -> None:
    spec = ColdStartSpec(("serve",), "http://10.0.0.5:8000/x", allow_remote=True)
    assert spec.ready_url == "http://10.0.0.5:8000/health/ready"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_coldstart_arguments(parser)
    return parser.parse_args(list(argv))


def test_spec_from_args_splits_without_a_shell_and_reads_the_body(tmp_path: Path) -> None:
    body = tmp_path / "req.json"
    body.write_text('{"prompt": "hi"}')
    spec = spec_from_args(
        _args(
            "--cmd",
            "serve --model 'my model' ; rm -rf x",
            "--url",
            URL,
            "--request-json",
            str(body),
            "-H",
            "Authorization: Bearer t",
            "-k",
            "2",
        )
    )
    assert spec.command == ("serve", "--model", "my model", ";", "rm", "-rf", "x")
    assert spec.body == b'{"prompt": "hi"}'
    assert spec.method == "POST"
    assert spec.headers == {"Authorization": "Bearer t", "Content-Type": "application/json"}
    assert spec.trials == 2
    assert spec.warm == 20


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cmd", "serve 'unclosed"], "cannot split"),
        (["--cmd", "serve", "-H", "no-colon"], "-H 'no-colon'"),
        (["--cmd", "serve", "--request-json", "/nonexistent/req.json"], "cannot read"),
    ],
)
def test_bad_options_are_config_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        spec_from_args(_args(*argv, "--url", URL))


def test_a_request_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    body = tmp_path / "req.json"
    body.write_text("{nope")
    with pytest.raises(ConfigError, match="not JSON"):
        spec_from_args(_args("--cmd", "serve", "--url", URL, "--request-json", str(body)))


# --------------------------------------------------------------------- the loop, on fakes


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeChild:
    """Exits with ``exit_code`` once ``exit_after`` polls have been made (never if None)."""

    def __init__(self, exit_after: int | None = None, exit_code: int = 0, tail: str = "") -> None:
        self.exit_after = exit_after
        self.exit_code = exit_code
        self.tail = tail
        self.polls = 0
        self.stopped: list[float] = []

    def poll(self) -> int | None:
        self.polls += 1
        if self.exit_after is not None and self.polls > self.exit_after:
            return self.exit_code
        return None

    def stop(self, grace_s: float) -> int | None:
        self.stopped.append(grace_s)
        self.server_down()
        return 0

    def server_down(self) -> None:
        """Replaced by FakeServer.launch: the port closes with the process."""

    def last_line(self) -> str:
        return self.tail


class FakeServer:
    """Ready after ``ready_after_s`` of fake time since launch; requests take set times."""

    def __init__(
        self,
        clock: FakeClock,
        ready_after_s: float = 1.5,
        first_ms: float = 300.0,
        warm_ms: float = 20.0,
        status: int = 200,
        already_ready: bool = False,
    ) -> None:
        self.clock = clock
        self.ready_after_s = ready_after_s
        self.first_ms = first_ms
        self.warm_ms = warm_ms
        self.status = status
        self.already_ready = already_ready
        self.launched_at: float | None = None
        self.requests = 0
        self.children: list[FakeChild] = []
        self.child_factory: Callable[[], FakeChild] = FakeChild

    def launch(self, argv: Sequence[str]) -> FakeChild:
        assert argv == ("serve", "--port", "8000")
        self.launched_at = self.clock()
        self.requests = 0
        child = self.child_factory()
        child.server_down = self._down  # type: ignore[method-assign]
        self.children.append(child)
        return child

    def _down(self) -> None:
        self.launched_at = None

    def fetch(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, str]:
        if url == READY:
            if self.already_ready and self.launched_at is None:
                return 200, "ready"
            if self.launched_at is None:
                raise OSError("connection refused")
            up = self.clock() - self.launched_at >= self.ready_after_s
            return (200, "ready") if up else (503, "loading")
        assert (method, url, body) == ("POST", URL, b"{}")
        self.requests += 1
        self.clock.now += (self.first_ms if self.requests == 1 else self.warm_ms) / 1000
        return self.status, '{"error": "bad request"}' if self.status >= 400 else "{}"


def _spec(**kwargs: object) -> ColdStartSpec:
    base: dict[str, object] = {
        "command": ("serve", "--port", "8000"),
        "url": URL,
        "body": b"{}",
        "trials": 2,
        "warm": 5,
        "timeout_s": 10.0,
        "poll_s": 0.25,
    }
    return ColdStartSpec(**{**base, **kwargs})  # type: ignore[arg-type]


def _measure(spec: ColdStartSpec, server: FakeServer) -> tuple[Trial, ...]:
    return measure_cold_start(
        spec, launch=server.launch, fetch=server.fetch, clock=server.clock, sleep=server.clock.sleep
    )


def test_each_trial_times_ready_first_and_warm_then_stops_the_child() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    trials = _measure(_spec(), server)
    assert len(trials) == 2
    for t in trials:
        # polled every 0.25 s: ready at the first poll at or after 1.5 s
        assert t.ready_s == pytest.approx(1.5)
        assert t.first_ms == pytest.approx(300.0)
        assert t.warm_ms == pytest.approx((20.0,) * 5)
        assert t.first_to_warm == pytest.approx(15.0)
    assert [c.stopped for c in server.children] == [[10.0], [10.0]]


def test_an_early_exit_names_the_command_status_and_last_line() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    server.child_factory = lambda: FakeChild(exit_after=2, exit_code=4, tail="boom: no weights")
    with pytest.raises(TargetError) as info:
        _measure(_spec(), server)
    msg = str(info.value)
    assert msg == (
        "the command (serve --port 8000) exited with status 4 before it was ready: boom: no weights"
    )
    assert server.children[0].stopped == [10.0]  # stopped (reaped) all the same


def test_a_child_killed_by_a_signal_says_so() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    server.child_factory = lambda: FakeChild(exit_after=0, exit_code=-9)
    with pytest.raises(TargetError, match=r"was killed by signal 9 before it was ready$"):
        _measure(_spec(), server)


def test_never_ready_times_out_with_the_last_answer_and_stops_the_child() -> None:
    clock = FakeClock()
    server = FakeServer(clock, ready_after_s=1e9)
    server.child_factory = lambda: FakeChild(tail="loading shard 3/8")
    with pytest.raises(TargetError) as info:
        _measure(_spec(timeout_s=2.0), server)
    assert str(info.value) == (
        "the command (serve --port 8000) was not ready after 2 s "
        f"({READY}: last answer 503); last output: loading shard 3/8"
    )
    assert server.children[0].stopped == [10.0]
    assert clock.now - 100.0 == pytest.approx(2.25)  # gave up at the first poll past 2 s


def test_an_error_answer_fails_the_measurement() -> None:
    clock = FakeClock()
    server = FakeServer(clock, status=400)
    with pytest.raises(TargetError) as info:
        _measure(_spec(), server)
    assert str(info.value) == (
        f"POST {URL} (first request of trial 1) answered 400, expected 2xx: "
        '{"error": "bad request"}'
    )
    assert server.children[0].stopped == [10.0]


def test_a_server_already_ready_on_the_port_is_refused_before_starting() -> None:
    clock = FakeClock()
    server = FakeServer(clock, already_ready=True)
    with pytest.raises(TargetError, match="already answers 200 before the command"):
        _measure(_spec(), server)
    assert server.children == []


def test_result_json_has_every_trial_and_the_summary() -> None:
    clock = FakeClock()
    spec = _spec(trials=1)
    trials = _measure(spec, FakeServer(clock))
    data = result_to_dict(spec, trials)
    json.dumps(data, allow_nan=False)
    assert data["command"] == ["serve", "--port", "8000"]
    assert data["ready_url"] == READY
    assert data["trials"][0]["first_request_ms"] == pytest.approx(300.0)
    assert data["trials"][0]["warm_ms"] == [pytest.approx(20.0)] * 5
    assert data["summary"]["first_to_warm"]["median"] == pytest.approx(15.0)
    assert data["summary"]["ready_s"] == {
        "min": pytest.approx(1.5),
        "median": pytest.approx(1.5),
        "max": pytest.approx(1.5),
    }
