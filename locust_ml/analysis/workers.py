"""Which worker reported what, and when one stopped: the bookkeeping behind a gap note.

In a distributed run the master only ever sees a worker through its messages:
a report every 3 s (samples, shipped as deltas and merged exactly) and a
heartbeat every second. A worker that dies - killed, out of memory, its
machine gone - sends neither, and Locust's master notices only by the missing
heartbeats: after about 3 s it marks the worker *missing*, stops giving it
users, and about a minute later forgets it. What the worker had shipped
before it died is merged and stays merged; what it measured after its last
report is gone. The run goes on with the others.

A report that silently counts fewer workers' requests for part of a step
would mislead, so the report says what happened, in one note per worker:
which worker, when its last report arrived and in which step, how many of its
requests the totals hold, and when the master noticed (from then the other
workers carry its share of an open-loop rate; closed-loop users are moved only
when Locust rebalances). A worker that leaves cleanly mid-test (it sends
``quit``) gets a note too, and one that comes back after being missing gets
the time it came back.

This module keeps that record from plain inputs - report arrivals and the
runner's view of its workers, each with the time the master saw it - so it is
tested with a fake clock. The Locust glue (``plugin/hooks.py``) feeds it and
puts :meth:`WorkerRoster.notes` into the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

__all__ = ["Takeover", "WorkerGap", "WorkerRoster", "WorkerTally"]

#: Who carries a stopped worker's load (see :class:`WorkerGap`).
Takeover = Literal["rate", "users", "none"]


@dataclass(frozen=True, slots=True)
class WorkerTally:
    """What the master has merged from one worker so far."""

    reports: int = 0
    requests: int = 0
    failures: int = 0
    #: When its last report arrived (master's epoch clock), and the step then.
    last_report_at: float | None = None
    last_report_step: int | None = None


@dataclass(frozen=True, slots=True)
class WorkerGap:
    """A worker that stopped reporting (``missing``) or left (``left``) mid-test.

    ``at`` is when the master noticed (Locust marked it missing, or it was
    gone from the runner's workers), ``step`` the step then; ``tally`` what
    was merged from the worker. ``load`` says who
    carries its load from then: ``rate`` (open loop: the rate was re-split
    over the others), ``users`` (Locust moved its users: rebalancing is on),
    ``none`` (its users were not replaced in that step).
    """

    worker: str
    kind: Literal["missing", "left"]
    at: float
    step: int | None
    tally: WorkerTally
    load: Takeover = "none"
    #: When a missing worker's heartbeats came back (None: they never did).
    back_at: float | None = None

    def note(self, run_start: float | None = None) -> str:
        """One sentence for ``report.notes``."""
        t = self.tally
        counted = (
            f"its {t.requests} requests ({t.failures} failures) up to its last report are counted"
        )
        if self.kind == "left":
            head = f"worker {self.worker} left at {_when(self.at, run_start, self.step)}"
            if t.last_report_at is None:
                counted = "it sent no report, so none of its requests are counted"
        elif t.last_report_at is None:
            head = (
                f"worker {self.worker} stopped before its first report (missing from "
                f"{_when(self.at, run_start, self.step)})"
            )
            counted = "none of its requests reached the master"
        else:
            head = (
                f"worker {self.worker} stopped reporting at "
                f"{_when(t.last_report_at, run_start, t.last_report_step)}"
            )
            counted += (
                "; what it measured after that is lost; the master marked it missing at "
                f"{_clock(self.at)}"
            )
        tail = {
            "rate": "; the other workers carried its share of the arrival rate from then",
            "users": "; Locust moved its users to the other workers",
            "none": "; its users were not replaced in that step (Locust moves them to the "
            "other workers with --enable-rebalancing)",
        }[self.load]
        if self.kind == "missing" and self.back_at is not None:
            tail += f"; its heartbeats came back at {_clock(self.back_at)}"
        return f"{head}; {counted}{tail}"


class WorkerRoster:
    """Per-worker tallies and gaps, from what the master saw and when.

    Feed it each worker report (:meth:`reported`) and, while the load runs,
    the runner's workers with whether each is missing (:meth:`observe`, a
    few times a second). It only notes; it never decides the run's fate.
    """

    def __init__(self) -> None:
        self._tallies: dict[str, WorkerTally] = {}
        self._present: set[str] = set()
        self._gaps: dict[str, WorkerGap] = {}
        self._order: list[str] = []

    # -- inputs --------------------------------------------------------------
    def reported(
        self, worker: str, t: float, *, step: int | None, requests: int, failures: int
    ) -> None:
        """A report from ``worker`` arrived at ``t`` holding ``requests`` new requests."""
        old = self._tallies.get(worker, WorkerTally())
        self._tallies[worker] = WorkerTally(
            reports=old.reports + 1,
            requests=old.requests + requests,
            failures=old.failures + failures,
            last_report_at=t,
            last_report_step=step,
        )

    def observe(
        self,
        t: float,
        workers: Mapping[str, bool],
        *,
        step: int | None,
        load: Takeover = "none",
    ) -> list[WorkerGap]:
        """The runner's workers at ``t`` (id -> missing?); returns gaps opened or changed.

        ``load`` is who takes over a missing worker's load (see
        :class:`WorkerGap`); a worker that left has its users moved by Locust.
        A worker that disappears without first being missing left cleanly
        (Locust forgets a missing worker only after a minute; that is not a
        second gap).
        """
        changed: list[WorkerGap] = []
        for worker, missing in workers.items():
            self._present.add(worker)
            gap = self._gaps.get(worker)
            if missing and (gap is None or gap.back_at is not None):
                if gap is not None:
                    self._order.remove(worker)  # missing again: the newest gap stands
                gap = WorkerGap(worker, "missing", t, step, self.tally(worker), load)
                self._open(gap)
                changed.append(gap)
            elif not missing and gap is not None and gap.kind == "missing" and gap.back_at is None:
                gap = self._gaps[worker] = replace(gap, back_at=t)
                changed.append(gap)
        # Locust re-dispatches the users of a worker that quit (not those of
        # a missing one, unless rebalancing is on).
        left_load: Takeover = "rate" if load == "rate" else "users"
        for worker in sorted(self._present - set(workers)):
            self._present.discard(worker)
            gap = self._gaps.get(worker)
            if gap is None or gap.back_at is not None:
                if gap is not None:
                    self._order.remove(worker)
                gap = WorkerGap(worker, "left", t, step, self.tally(worker), left_load)
                self._open(gap)
                changed.append(gap)
        return changed

    def _open(self, gap: WorkerGap) -> None:
        self._gaps[gap.worker] = gap
        self._order.append(gap.worker)

    # -- outputs -------------------------------------------------------------
    def tally(self, worker: str) -> WorkerTally:
        return self._tallies.get(worker, WorkerTally())

    @property
    def tallies(self) -> dict[str, WorkerTally]:
        return dict(self._tallies)

    @property
    def gaps(self) -> tuple[WorkerGap, ...]:
        """Gaps in the order they opened, each with the worker's tally as it is now.

        Now, not when the gap opened: a report already on its way when the
        master noticed is merged after, and counted.
        """
        return tuple(replace(self._gaps[w], tally=self.tally(w)) for w in self._order)

    def notes(self, run_start: float | None = None) -> list[str]:
        return [gap.note(run_start) for gap in self.gaps]


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


def _when(t: float, run_start: float | None, step: int | None) -> str:
    parts = [f"{t - run_start:.1f} s into the run"] if run_start is not None else []
    if step is not None:
        parts.append(f"step {step}")
    return f"{_clock(t)} ({', '.join(parts)})" if parts else _clock(t)
