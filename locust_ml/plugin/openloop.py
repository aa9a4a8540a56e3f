"""Open-loop load: requests start on an arrival schedule, not when a user is free.

Closed-loop users send, wait for the answer, and send again, so a slow server
slows the load down and its queueing never shows in the latency (coordinated
omission). Here each worker runs an :class:`ArrivalDriver`: its share of the
global arrival sequence (:class:`~locust_ml.arrivals.ArrivalSchedule`,
thinned by worker index so the total is exactly the requested process
whatever the worker count) is sent by a pool of *slots*, greenlets that
each take the next arrival, sleep until its *intended* send time, hand it to
one of the registered users (which runs one of its tasks,
:meth:`~locust_ml.plugin.ml_user.MLUser.run_arrival`), and take the next one
when the answer is in. One slot at a time waits for the next arrival (it
holds the *lead*), so the sleep is precise and no greenlet is made per
request: at saturation a slot goes from one answer straight to the next
late arrival, as cheaply as a closed-loop user. Latency is measured from the
intended time (``context["locust_ml"]["intended"]``), so waiting for a free
slot counts.

**The pool grows while the event loop has time to spare.** It starts with
:data:`MIN_SLOTS`. When the next arrival is due and no other slot is
free, the lead starts one more, up to ``--ml-open-loop inflight=N`` per
worker, but only while the event loop is busy less than :data:`GROW_BELOW`
of the time (:class:`Busy`, read every 20 ms) and by at most half between
two readings (from 8 to 1,000 in about 0.25 s); while it is busy more than
:data:`SHRINK_ABOVE`, slots leave, a sixteenth at a time, down to
:data:`MIN_SLOTS`. A slow target needs many requests in flight (rate x
latency) and gets them from an idle loop; a worker whose CPU is the limit
gains nothing from more: each extra request in flight makes every request
dearer (more sockets, more greenlets, colder caches: against the
benchmarks' sink 8 closed-loop TextUsers sent 1.4 - 2.1x as much per CPU
second as 256), so the pool settles where the loop is just busy, and the
arrivals it can't take on time are counted.

**A pool that is behind grows only from a mostly idle loop.** While the
arrivals the slots take are :data:`BEHIND_S` or more late, the pool grows
only while the loop is busy less than :data:`GROW_BEHIND_BELOW` of the time.
A pool that keeps up grows as the target slows, and its arrivals stay on
time; one that fell behind is either short of slots for a slow target (its
loop is then mostly idle, and it grows) or on a worker whose CPU is the
limit. There, every pause of the target (a stall, a busy machine that runs
it late) idles the loop for a moment; were the pool to grow then, each
growth would make every request dearer and the loop busier, never idle
enough to shrink. Measured at 15,000 small requests/s offered to the
benchmarks' sink stopped 15 ms in every 200 (four runs each on the shared
2-core machine): without this rule the pool's median size over a run was
122 - 1,000 slots and the worker sent 2,300 - 4,700 requests/s; with it,
25 - 75 slots and 3,800 - 6,100 requests/s.

An arrival that had to wait for a free slot is *late*; one that still
can't start ``lateness`` (same option) after its intended time is *dropped* and
counted when a slot reaches it: the load generator never silently sends
less than asked.

The master announces each open-loop step to every worker with
:data:`~locust_ml.plugin.messages.RATE_MESSAGE` (step id, rate, start
time, the arrival process, this worker's index and the worker count); a
local run calls :meth:`configure` directly.

A plan may instead ask for a *concurrency*: a closed loop of this worker's
share of clients, greenlets that each send through the registered users
again as soon as their answer arrives (the capacity search's saturation
probe). No Locust user is started or stopped for it, so the probe's steps
change in an instant; a client's latency is then measured from its actual
send.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from gevent.pool import Group

from locust_ml.arrivals import ArrivalSchedule, ArrivalSpec, parse_arrival
from locust_ml.errors import ConfigError

__all__ = [
    "BEHIND_S",
    "GROW_BEHIND_BELOW",
    "GROW_BELOW",
    "MIN_SLOTS",
    "SHRINK_ABOVE",
    "ArrivalDriver",
    "Busy",
    "RatePlan",
]

logger = logging.getLogger("locust_ml")

#: The last stretch before an intended send time is spent yielding, not in a timer.
SPIN_S = 0.0015
#: The pool of slots grows while the event loop is busy less of the time than this...
GROW_BELOW = 0.85
#: ... or, while the arrivals it takes are this late (seconds) or more,
BEHIND_S = 0.1
#: ... less than this (a pool behind its arrivals grows only from a mostly idle loop),
GROW_BEHIND_BELOW = 0.5
#: ... and gives slots back while it is busy more than this (it can't serve them all),
SHRINK_ABOVE = 0.95
#: ... down to this many, which it starts with (as many as the 8 users of a closed loop
#: that keeps one core busy against a fast target).
MIN_SLOTS = 8


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


def _runnable_seconds() -> float:
    """Seconds this process's main thread has been on a CPU or waiting for one.

    Linux counts both in ``/proc/self/schedstat`` (the thread the event loop
    runs on); elsewhere only CPU time is known, which makes a worker that
    other processes crowd out look idler than it is.
    """
    try:
        with open("/proc/self/schedstat", "rb") as fh:
            on_cpu, waiting = fh.read().split()[:2]
        return (int(on_cpu) + int(waiting)) / 1e9
    except (OSError, ValueError):
        return time.thread_time()


class Busy:
    """The share of the time the event loop had work to do (0 idle, 1 never idle).

    An event loop that never waits for the network is as busy as it can be:
    its own CPU, or the machine's, is the limit. The share is read every
    ``interval`` seconds from the time the loop's thread was runnable (on a
    CPU or waiting for one, :func:`_runnable_seconds`) over the wall time;
    :attr:`readings` counts them.
    """

    def __init__(
        self,
        interval: float = 0.02,
        *,
        weight: float = 0.3,
        runnable: Callable[[], float] = _runnable_seconds,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.share = 0.0
        self.readings = 0
        #: Called after each reading (the driver resizes its pool then).
        self.on_read: Callable[[], None] | None = None
        self._interval = interval
        self._weight = weight
        self._runnable = runnable
        self._clock = clock
        self._last = (0.0, 0.0)
        self._timer: Any = None

    def start(self) -> None:
        if self._timer is None:
            self._last = (self._clock(), self._runnable())
            self._timer = gevent.get_hub().loop.timer(self._interval, self._interval)
            self._timer.start(self.read)

    def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()

    def read(self) -> None:
        """Take a reading (the timer does, every ``interval``)."""
        now, runnable = self._clock(), self._runnable()
        then, before = self._last
        if now > then:
            share = min(max((runnable - before) / (now - then), 0.0), 1.0)
            self.share += self._weight * (share - self.share)
            self.readings += 1
        self._last = (now, runnable)
        if self.on_read is not None:
            self.on_read()


class ArrivalDriver:
    """Sends this worker's share of the arrivals through the registered users.

    ``record_event(step, name)`` counts late and dropped arrivals;
    ``load_timestamps(path, column)`` reads a trace for trace replay;
    ``busy`` reads how busy the event loop is (tests give one they set).
    """

    def __init__(
        self,
        *,
        record_event: Callable[[str, int], None],
        load_timestamps: Callable[[str, str | None], Any] | None = None,
        clock: Callable[[], float] = time.time,
        busy: Busy | None = None,
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
        #: One slot at a time holds the lead: it waits for the next arrival.
        self._lead = Semaphore(1)
        self._waiting = 0
        self._slots = Group()
        self._free = 0  # slots not sending: waiting for the lead, or holding it
        self._free_again = -math.inf
        self._epoch = 0  # a pool's slots, until stop() dissolves it
        self._busy = busy or Busy()
        self._busy.on_read = self._resize
        self._grow = 0  # slots the pool may still add before the next reading
        self._behind = 0.0  # how late the last arrival taken was, in seconds
        self._shrink = 0  # slots it gives back before the next reading
        self._inflight = Group()  # concurrency plans' clients
        self._user_registered = Event()
        #: Users ever registered (a worker that got plans but no users can say so).
        self.users_seen = 0
        self.sent = 0
        self.late = 0
        self.dropped = 0

    # -- users ---------------------------------------------------------------
    def register(self, user: Any) -> None:
        self.users_seen += 1
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
            self._busy.stop()  # the clients are a fixed number: nothing to resize
            for _ in range(plan.clients):
                self._inflight.spawn(self._client, plan)
            return
        if self._spec_text != plan.arrival:
            spec: ArrivalSpec = parse_arrival(plan.arrival)
            self._process = spec.process(self._load_timestamps)
            self._spec_text = plan.arrival
        if self._process is None:
            raise ConfigError("the open-loop driver got a closed-loop arrival process")
        self._plan = plan
        self._behind = 0.0
        self._schedule = ArrivalSchedule(
            self._process,
            plan.rate,
            start=plan.start,
            seed=plan.seed,
            step=plan.step,
            worker_index=plan.worker_index,
            worker_count=plan.worker_count,
        )
        self._busy.start()
        for _ in range(min(MIN_SLOTS, plan.max_inflight) - len(self._slots)):
            self._spawn()

    def stop(self) -> None:
        """Stop sending; abandon in-flight requests (as Locust does when it stops users)."""
        self._plan = None
        self._schedule = None
        self._busy.stop()
        # A new group at once: the old slots die at their next switch, and a plan
        # configured before then must not count them.
        dying, self._slots = self._slots, Group()
        dying.kill(block=False)
        self._epoch += 1
        self._free = 0
        self._free_again = -math.inf
        self._inflight.kill(block=False)

    @property
    def running(self) -> bool:
        return self._schedule is not None and bool(self._slots)

    @property
    def slots(self) -> int:
        """The rate plan's slots: requests in flight at most, now."""
        return len(self._slots)

    # -- the slots ---------------------------------------------------------
    def _spawn(self) -> None:
        self._freed(self._epoch, 1)
        self._slots.spawn(self._slot, self._epoch)

    def _freed(self, epoch: int, change: int) -> None:
        """Count slots coming free (+1) or sending, or leaving (-1), for this plan's pool.

        When one comes free after all were sending, arrivals due until now waited for it.
        """
        if epoch != self._epoch:
            return  # a slot of a pool stop() dissolved
        self._free += change
        if change > 0 and self._free == 1 and self._slots:
            self._free_again = self._clock()

    def _slot(self, epoch: int) -> None:
        """Take the next arrival and send it, again and again, while a rate plan holds."""
        while True:
            self._waiting += 1
            try:
                self._lead.acquire()
            finally:
                self._waiting -= 1
            try:
                taken = self._take()
            finally:
                self._lead.release()
            if taken is None:
                self._freed(epoch, -1)
                return
            user, intended = taken
            self.sent += 1
            self._freed(epoch, -1)
            try:
                user.run_arrival(intended)
            finally:
                self._freed(epoch, 1)

    def _take(self) -> tuple[Any, float] | None:
        """The next arrival to send now and its user, with the lead; None: stop sending.

        An arrival is late when it waited for a free slot: it was due
        before the last moment one came free after all were sending (had
        one been free when it was due, it would have taken it then). One
        that a slot takes late because the event loop ran it late is not
        late in this sense (a slot was free); its lateness is recorded with
        the request. It is dropped once it is ``max_lateness_s`` old.
        """
        while True:
            schedule, plan = self._schedule, self._plan
            if schedule is None or plan is None or len(self._slots) > plan.max_inflight:
                return None
            if self._shrink > 0 and len(self._slots) > MIN_SLOTS:
                self._shrink -= 1
                return None
            t = schedule.next_time()
            if t is None:  # a trace ran out: idle until the next step's plan
                gevent.sleep(0.2)
                continue
            self._sleep_until(t)
            if self._schedule is not schedule:
                continue  # a new step's plan arrived while we slept
            user = self._pick_user()
            if user is None or t < self._free_again:
                self._record_event("late", plan.step)
                self.late += 1
            if user is None:
                # Users are still starting (a step's first moments): wait for one,
                # as for a free slot, rather than drop at once.
                deadline = t + plan.max_lateness_s - self._clock()
                if deadline > 0:
                    self._user_registered.wait(timeout=deadline)
                user = self._pick_user()
            if user is None or self._clock() - t > plan.max_lateness_s:
                self._record_event("dropped", plan.step)
                self.dropped += 1
                continue
            self._behind = self._clock() - t
            if not self._waiting and self._grow > 0 and len(self._slots) < plan.max_inflight:
                self._grow -= 1
                self._spawn()  # the next arrival's slot
            return user, t

    def _resize(self) -> None:
        """After each reading of the loop's busy share: how much the pool may grow
        (by half, at most) or must shrink (by a sixteenth) until the next one. A
        pool grown at once would outrun the readings, and one that shrank at once
        could starve a slow target. When every slot is out with a request, one
        more is started here: only a slot that holds the lead can add the next."""
        n = len(self._slots)
        share = self._busy.share
        below = GROW_BELOW if self._behind < BEHIND_S else GROW_BEHIND_BELOW
        self._grow = max(n // 2, 1) if share < below else 0
        self._shrink = max(n // 16, 1) if share > SHRINK_ABOVE else 0
        plan = self._plan
        if (
            self._grow
            and self._schedule is not None
            and plan is not None
            and n < plan.max_inflight
            and not self._waiting
            and not self._lead.locked()
        ):
            self._grow -= 1
            self._spawn()

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
