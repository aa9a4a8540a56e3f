"""Fake processes, HTTP, commands and searches for the sweep's adapters (no real process)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from locust_ml.analysis.verdict import RunVerdict
from locust_ml.sweep.search import SearchRun
from locust_ml.sweep.target import Effects
from tests.report_fixtures import capacity, decided, write_report


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeChild:
    """A started server: exits with ``exit_code`` after ``exit_after_s`` (never if None)."""

    clock: FakeClock
    argv: tuple[str, ...]
    started: float
    exit_after_s: float | None = None
    exit_code: int = 1
    output: tuple[str, ...] = ()
    stopped: list[float] = field(default_factory=list)
    on_stop: Callable[[], None] = lambda: None

    def poll(self) -> int | None:
        if self.stopped:
            return -15
        if self.exit_after_s is not None and self.clock() - self.started >= self.exit_after_s:
            return self.exit_code
        return None

    def stop(self, grace_s: float) -> int | None:
        self.stopped.append(grace_s)
        self.on_stop()
        return -15

    def last_line(self) -> str:
        return self.output[-1] if self.output else ""

    def tail(self, lines: int) -> tuple[str, ...]:
        return self.output[-lines:]


@dataclass
class FakeWorld:
    """One target at a time: up after a server start or a setup command, ready ``ready_after_s``
    later on ``ready_paths`` (other paths answer 404).

    A server whose command line holds ``crash`` exits after 0.5 s without
    listening; ``commands`` records setup/teardown command lines, and those
    holding a word of ``failing`` exit 1.
    """

    clock: FakeClock = field(default_factory=FakeClock)
    ready_after_s: float = 2.0
    ready_paths: tuple[str, ...] = ("/health/ready",)
    children: list[FakeChild] = field(default_factory=list)
    commands: list[tuple[str, ...]] = field(default_factory=list)
    failing: tuple[str, ...] = ()
    fetched: list[str] = field(default_factory=list)
    up_since: float | None = None
    next_port: int = 40000

    def launch(self, argv: Sequence[str], folder: Path) -> FakeChild:
        crash = any("crash" in w for w in argv)
        child = FakeChild(
            self.clock,
            tuple(argv),
            self.clock(),
            exit_after_s=0.5 if crash else None,
            output=("loading model", "RuntimeError: CUDA out of memory") if crash else ("ok",),
            on_stop=self._down,
        )
        self.children.append(child)
        if not crash:
            self.up_since = self.clock()
        return child

    def _down(self) -> None:
        self.up_since = None

    def fetch(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, str]:
        self.fetched.append(url)
        if self.up_since is None:
            raise OSError("connection refused")
        path = "/" + url.split("/", 3)[3]
        if path not in self.ready_paths:
            return 404, "not found"
        ready = self.clock() - self.up_since >= self.ready_after_s
        return (200, "ok") if ready else (503, "loading")

    def run(self, argv: Sequence[str], log: Path, timeout_s: float) -> tuple[int, tuple[str, ...]]:
        self.commands.append(tuple(argv))
        if any(word in " ".join(argv) for word in self.failing):
            return 1, ("Error: release not found",)
        if argv and argv[0] == "setup":
            self.up_since = self.clock()
        return 0, ()

    def port(self) -> int:
        self.next_port += 1
        return self.next_port

    def effects(self) -> Effects:
        return Effects(
            launch=self.launch,
            fetch=self.fetch,
            run=self.run,
            free_port=self.port,
            clock=self.clock,
            sleep=self.clock.sleep,
        )


@dataclass
class FakeSearch:
    """Writes the report a capacity search would, with ``capacity(argv)`` as its SLO capacity.

    ``capacity`` returns None for no capacity (FAIL); ``invalid`` words make an
    INVALID run; ``no_report`` words make locust exit 2 without a report.
    """

    clock: FakeClock
    capacity: Callable[[Sequence[str]], float | None]
    seconds: float = 120.0
    runs: list[tuple[str, ...]] = field(default_factory=list)
    no_report: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    interrupt_on: str | None = None

    def __call__(self, argv: Sequence[str], folder: Path, timeout_s: float) -> SearchRun:
        words = tuple(argv)
        self.runs.append(words)
        self.clock.sleep(self.seconds)
        text = " ".join(words)
        if self.interrupt_on is not None and self.interrupt_on in text:
            raise KeyboardInterrupt
        if any(w in text for w in self.no_report):
            return SearchRun(2, False, ("locust: error: unrecognized arguments: --bogus",))
        report_dir = Path(words[words.index("--ml-report-dir") + 1])
        cap = self.capacity(words)
        valid = not any(w in text for w in self.invalid)
        report = decided(
            capacity=capacity(cap),
            verdict=RunVerdict(passed=cap is not None, valid=valid, reasons=("sends late",)),
        )
        write_report(report_dir / "report.json", report)
        return SearchRun(0 if cap is not None else 1, False, ())
