"""Open-loop load: requests start on an arrival schedule, not when a user is free.

Closed-loop users send, wait for the answer, and send again, so a slow server
slows the load down and its queueing never shows in the latency (coordinated
omission). Here each worker runs an :class:`ArrivalDriver`: one greenlet that
sleeps until the next *intended* send time of its share of the global arrival
sequence (:class:`~locust_ml.arrivals.ArrivalSchedule`, thinned by worker
index so the total is exactly the requested process whatever the worker
count) and hands the arrival to one of the registered users, which runs one
of its tasks in a new greenlet. Latency is then also measured from the
intended time (``context["locust_ml"]["intended"]``), so waiting for a free
slot counts.

In-flight requests per worker are capped (``--ml-open-loop inflight=N``). At the cap
an arrival waits for a slot - it is counted as *late* - and one that still
can't start ``lateness`` (same option) after its intended time is *dropped* and
counted: the load generator never silently sends less than asked.

The master announces each open-loop step to every worker with
``locust_ml:rate`` (step id, rate, start time, the arrival process, this
worker's index and the worker count); a local run calls :meth:`configure`
directly.

A plan may instead ask for a *concurrency*: a closed loop run by the same
pool of senders, each of this worker's share of clients sending again as
soon as its answer arrives (the capacity search's saturation probe). No
Locust user is started or stopped for it, so the probe's steps change in
an instant; a client's latency is then measured from its actual send.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import BoundedSemaphore
from gevent.pool import Group

from locust_ml.arrivals import ArrivalSchedule, ArrivalSpec, parse_arrival
from locust_ml.errors import ConfigError

__all__ = ["RATE_MESSAGE", "ArrivalDriver", "RatePlan"]

logger = logging.getLogger("locust_ml")

#: The last stretch before an intended send time is spent yielding, not in a timer.
SPIN_S = 0.0015
#: Master -> worker: the open-loop plan of the current step (see RatePlan.to_message).
RATE_MESSAGE = "locust_ml:rate"


class RatePlan:
    """One open-loop step as announced to a worker."""

    __slots__ = (
        "arrival",
        "concurrency",
        "max_inflight",
        "max_lateness_s",
        "rate",
        "seed",
        "start",
        "step",
        "worker_count",
        "worker_index",
    )

    def __init__(
        self,
        *,
        step: int,
        rate: float | None,
        start: float,
        arrival: str,
        seed: int,
        worker_index: int = 0,
        worker_count: int = 1,
        max_inflight: int = 1000,
        max_lateness_s: float = 10.0,
        concurrency: int | None = None,
    ) -> None:
        self.step, self.rate, self.start, self.arrival = step, rate, start, arrival
        self.seed, self.worker_index, self.worker_count = seed, worker_index, worker_count
        self.max_inflight, self.max_lateness_s = max_inflight, max_lateness_s
        #: The whole test's clients (a closed loop): this worker runs its share.
        self.concurrency = concurrency

    @property
    def clients(self) -> int:
        """This worker's share of ``concurrency`` (0 for a rate plan)."""
        if self.concurrency is None:
            return 0
        n, i = max(self.worker_count, 1), self.worker_index
        return self.concurrency // n + (1 if i < self.concurrency % n else 0)

    def to_message(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_message(cls, data: Any) -> RatePlan:
        if not isinstance(data, dict):
            raise ValueError(f"malformed rate message: {data!r:.200}")
        try:
            return cls(
                **{k: data[k] for k in cls.__slots__ if k != "concurrency"},
                concurrency=data.get("concurrency"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed rate message: {exc}") from None


class ArrivalDriver:
    """Sends this worker's share of the arrivals through the registered users.

    ``record_event(step, name)`` counts late and dropped arrivals;
    ``load_timestamps(path, column)`` reads a trace for trace replay.
    """

    def __init__(
        self,
        *,
        record_event: Callable[[str, int], None],
        load_timestamps: Callable[[str, str | None], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._record_event = record_event
        self._load_timestamps = load_timestamps
        self._clock = clock
        self._users: list[Any] = []
        self._next_user: itertools.cycle[Any] | None = None
        self._plan: RatePlan | None = None
        self._schedule: ArrivalSchedule | None = None
        self._spec_text: str | None = None
        self._process: Any = None
        self._slots = BoundedSemaphore(1000)
        self._slots_size = 1000
        self._loop: gevent.Greenlet | None = None
        self._inflight = Group()
        self._user_registered = Event()
        self.sent = 0
        self.late = 0
        self.dropped = 0

    # -- users ---------------------------------------------------------------
    def register(self, user: Any) -> None:
        self._users.append(user)
        self._next_user = None
        self._user_registered.set()

    def unregister(self, user: Any) -> None:
        if user in self._users:
            self._users.remove(user)
            self._next_user = None
            if not self._users:
                self._user_registered.clear()

    def _pick_user(self) -> Any:
        if not self._users:
            return None
        if self._next_user is None:
            self._next_user = itertools.cycle(list(self._users))
        return next(self._next_user)

    # -- plan ------------------------------------------------------------------
    def configure(self, plan: RatePlan) -> None:
        """Start (or re-start) sending at ``plan``'s rate (or concurrency) from its start time."""
        if plan.concurrency is not None:
            self._plan, self._schedule = plan, None  # a rate loop stops at its next look
            for _ in range(plan.clients):
                self._inflight.spawn(self._client, plan)
            return
        if self._spec_text != plan.arrival:
            spec: ArrivalSpec = parse_arrival(plan.arrival)
            self._process = spec.process(self._load_timestamps)
            self._spec_text = plan.arrival
        if self._process is None:
            raise ConfigError("the open-loop driver got a closed-loop arrival process")
        if plan.max_inflight != self._slots_size:
            self._slots = BoundedSemaphore(plan.max_inflight)
            self._slots_size = plan.max_inflight
        self._plan = plan
        self._schedule = ArrivalSchedule(
            self._process,
            plan.rate,
            start=plan.start,
            seed=plan.seed,
            step=plan.step,
            worker_index=plan.worker_index,
            worker_count=plan.worker_count,
        )
        if self._loop is None or self._loop.dead:
            self._loop = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop sending; abandon in-flight requests (as Locust does when it stops users)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.kill(block=False)
        self._inflight.kill(block=False)
        self._plan = None
        self._schedule = None

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.dead

    # -- the loop --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            schedule, plan = self._schedule, self._plan
            if schedule is None or plan is None:
                return
            t = schedule.next_time()
            if t is None:  # a trace ran out: idle until the next step's plan
                gevent.sleep(0.2)
                continue
            self._sleep_until(t)
            if self._schedule is not schedule:
                continue  # a new step's plan arrived while we slept
            self._dispatch(t, plan)

    def _sleep_until(self, t: float) -> None:
        """Sleep to ``t`` with sub-millisecond precision.

        The event loop's timers wake up to about a millisecond late, which at
        hundreds of arrivals per second visibly distorts the gaps (a Poisson
        process stops looking exponential). So sleep to just before ``t``,
        then yield to other greenlets until it is reached.
        """
        wait = t - self._clock()
        if wait > SPIN_S:
            gevent.sleep(wait - SPIN_S)
        while self._clock() < t:
            gevent.sleep(0)

    def _dispatch(self, intended: float, plan: RatePlan) -> None:
        user = self._pick_user()
        if user is None:
            # Users are still starting (a step's first moments): wait for one,
            # as for a free slot, rather than drop at once.
            self._record_event("late", plan.step)
            self.late += 1
            deadline = intended + plan.max_lateness_s - self._clock()
            if deadline > 0:
                self._user_registered.wait(timeout=deadline)
            user = self._pick_user()
            if user is None:
                self._record_event("dropped", plan.step)
                self.dropped += 1
                return
        if not self._slots.acquire(blocking=False):
            self._record_event("late", plan.step)
            self.late += 1
            deadline = intended + plan.max_lateness_s - self._clock()
            if deadline <= 0 or not self._slots.acquire(timeout=deadline):
                self._record_event("dropped", plan.step)
                self.dropped += 1
                return
        self.sent += 1
        self._inflight.spawn(self._send, user, intended)

    def _client(self, plan: RatePlan) -> None:
        """One closed-loop client: send, wait for the answer, repeat while ``plan`` holds."""
        self._sleep_until(plan.start)
        while self._plan is plan:
            user = self._pick_user()
            if user is None:
                self._user_registered.wait(timeout=1.0)
                continue
            self.sent += 1
            user.run_arrival(self._clock())

    def _send(self, user: Any, intended: float) -> None:
        try:
            user.run_arrival(intended)
        finally:
            self._slots.release()
