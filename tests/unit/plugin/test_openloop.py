"""The open-loop arrival driver, with fake users on gevent (short real timings)."""

from __future__ import annotations

import itertools
import time

import gevent
import pytest
from gevent.event import Event

from locust_ml.plugin import openloop
from locust_ml.plugin.openloop import ArrivalDriver, Busy, RatePlan


class FakeUser:
    def __init__(self, busy_s: float = 0.0, answer: Event | None = None) -> None:
        self.intended: list[float] = []
        self.busy_s = busy_s
        #: A target that answers when this is set (until then, every request waits).
        self.answer = answer

    def run_arrival(self, intended: float) -> None:
        self.intended.append(intended)
        if self.answer is not None:
            self.answer.wait()
        elif self.busy_s:
            gevent.sleep(self.busy_s)


class FakeBusy(Busy):
    """A loop whose busy share the test sets; each :meth:`set` is one reading."""

    def __init__(self) -> None:
        self.runnable, self.now = 0.0, 0.0
        super().__init__(runnable=lambda: self.runnable, clock=lambda: self.now, weight=1.0)

    def start(self) -> None:
        pass  # no timer: the test takes the readings

    def set(self, share: float) -> None:
        self.now += 1.0
        self.runnable += share
        self.read()


def _driver() -> tuple[ArrivalDriver, list[str]]:
    events: list[str] = []
    return ArrivalDriver(record_event=lambda name, step: events.append(name)), events


def _plan(**kw: object) -> RatePlan:
    base: dict[str, object] = {
        "step": 1,
        "rate": 200.0,
        "start": time.time(),
        "arrival": "constant",
        "seed": 7,
    }
    return RatePlan(**{**base, **kw})  # type: ignore[arg-type]


def test_rate_plan_round_trips_through_a_message() -> None:
    plan = _plan(worker_index=1, worker_count=3, max_inflight=5)
    back = RatePlan.from_message(plan.to_message())
    assert back.to_message() == plan.to_message()
    with pytest.raises(ValueError, match="malformed"):
        RatePlan.from_message({"step": 1})


def test_constant_arrivals_are_sent_on_schedule_round_robin() -> None:
    driver, events = _driver()
    users = [FakeUser(), FakeUser()]
    for u in users:
        driver.register(u)
    plan = _plan(rate=200.0)
    driver.configure(plan)
    gevent.sleep(0.5)
    driver.stop()
    sent = sorted(t for u in users for t in u.intended)
    assert 60 <= len(sent) <= 105  # 200/s for 0.5 s (fewer if this machine is busy)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert all(g == pytest.approx(0.005, abs=1e-6) for g in gaps)  # intended, not actual, times
    assert abs(len(users[0].intended) - len(users[1].intended)) <= 1
    assert events == []


def test_workers_split_one_global_sequence() -> None:
    start = time.time()
    got = []
    for index in range(2):
        driver, _ = _driver()
        user = FakeUser()
        driver.register(user)
        driver.configure(
            _plan(rate=100.0, start=start, arrival="poisson", worker_index=index, worker_count=2)
        )
        got.append(user)
    gevent.sleep(0.6)
    whole, _ = _driver()
    alone = FakeUser()
    whole.register(alone)
    whole.configure(_plan(rate=100.0, start=start, arrival="poisson"))
    gevent.sleep(0.1)
    union = sorted(got[0].intended + got[1].intended)
    assert union == alone.intended[: len(union)]
    assert set(got[0].intended).isdisjoint(got[1].intended)


def test_at_the_cap_arrivals_are_late_then_dropped() -> None:
    driver, events = _driver()
    driver.register(FakeUser(busy_s=0.3))
    driver.configure(_plan(rate=100.0, max_inflight=1, max_lateness_s=0.05))
    gevent.sleep(0.35)
    driver.stop()
    assert driver.sent >= 1
    assert driver.late >= 5
    assert driver.dropped >= 5
    assert events.count("late") == driver.late
    assert events.count("dropped") == driver.dropped


def test_without_users_arrivals_wait_then_are_dropped_and_counted() -> None:
    driver, events = _driver()
    driver.configure(_plan(rate=100.0, max_lateness_s=0.02))
    gevent.sleep(0.2)
    driver.stop()
    assert driver.sent == 0
    assert driver.dropped >= 5
    assert set(events) == {"late", "dropped"}


def test_arrivals_before_the_users_start_wait_for_them() -> None:
    driver, events = _driver()
    driver.configure(_plan(rate=100.0))
    gevent.sleep(0.05)
    user = FakeUser()
    driver.register(user)
    gevent.sleep(0.1)
    driver.stop()
    assert driver.dropped == 0
    assert len(user.intended) >= 10
    assert "late" in events


def test_a_new_plan_restarts_the_schedule_and_stop_stops() -> None:
    driver, _ = _driver()
    user = FakeUser()
    driver.register(user)
    driver.configure(_plan(rate=50.0))
    gevent.sleep(0.2)
    driver.configure(_plan(step=2, rate=0.0))  # a cooldown: no arrivals
    n = len(user.intended)
    gevent.sleep(0.2)
    assert len(user.intended) <= n + 1
    driver.stop()
    assert not driver.running


def test_a_plan_right_after_stop_starts_a_full_pool() -> None:
    driver, _ = _driver()
    user = FakeUser()
    driver.register(user)
    driver.configure(_plan(rate=100.0))
    gevent.sleep(0.1)
    driver.stop()  # the old slots die at their next switch, not now
    sent = len(user.intended)
    driver.configure(_plan(step=2, rate=100.0, start=time.time()))
    gevent.sleep(0.005)  # the old ones are gone; the busy share has not been read again
    assert driver.slots == openloop.MIN_SLOTS
    gevent.sleep(0.2)
    driver.stop()
    assert len(user.intended) - sent >= 10


# -- the pool of slots ------------------------------------------------------------------


def test_busy_reads_the_share_of_time_the_loop_was_runnable() -> None:
    busy = FakeBusy()
    busy.read()
    assert (busy.share, busy.readings) == (0.0, 0)  # no time has passed
    busy.set(0.25)
    assert busy.share == pytest.approx(0.25)
    busy.set(1.0)
    assert busy.share == 1.0
    assert busy.readings == 2
    smoothed = Busy(runnable=lambda: 0.0, clock=itertools.count().__next__, weight=0.5)
    smoothed.share = 1.0
    smoothed.read()  # first reading: the counters from the start
    smoothed.read()
    assert smoothed.share == 0.5  # half-way to the idle reading


def test_the_time_the_loop_was_runnable_counts_its_cpu_time() -> None:
    before = openloop._runnable_seconds()
    end = time.thread_time() + 0.05
    while time.thread_time() < end:  # 50 ms on the CPU
        pass
    assert openloop._runnable_seconds() - before >= 0.045


def _late_plan(**kw: object) -> RatePlan:
    """A plan whose arrivals are all due: every slot takes the next one at once."""
    return _plan(rate=1000.0, start=time.time() - 3600, max_lateness_s=1e9, **kw)


def _pool(busy: FakeBusy, users: list[FakeUser], **kw: object) -> ArrivalDriver:
    driver = ArrivalDriver(record_event=lambda name, step: None, busy=busy)
    for user in users:
        driver.register(user)
    driver.configure(_late_plan(**kw))
    return driver


def _settle(driver: ArrivalDriver, *, sending: bool = True) -> None:
    """Yield until the pool stops changing (each new slot starts the next).

    ``sending=False``: until its size stops changing, for a target that
    answers at once (its slots never stop sending, so ``sent`` never settles).
    """
    before = None
    for _ in range(1000):
        gevent.sleep(0)
        now = (driver.slots, driver.sent if sending else 0)
        if now == before:
            return
        before = now


def test_the_pool_grows_while_the_loop_is_idle_by_half_a_reading() -> None:
    busy, answer = FakeBusy(), Event()
    driver = _pool(busy, [FakeUser(answer=answer)])  # a target that never answers
    sizes = []
    for _ in range(6):
        busy.set(0.1)  # idle: the requests in flight wait on the target
        _settle(driver)
        sizes.append(driver.slots)
    # It starts with 8; every slot has a request in flight; by half at each reading.
    assert sizes == [12, 18, 27, 40, 60, 90]
    assert driver.sent == 90
    driver.stop()


def test_a_pool_behind_its_arrivals_grows_only_while_the_loop_is_mostly_idle() -> None:
    busy, answer = FakeBusy(), Event()
    driver = _pool(busy, [FakeUser(answer=answer)])  # every arrival an hour late
    _settle(driver)  # the first slots take theirs
    busy.set(0.7)  # idle enough for arrivals on time, not for a backlog
    _settle(driver)
    assert driver.slots == openloop.MIN_SLOTS
    busy.set(0.3)
    _settle(driver)
    assert driver.slots == 12
    driver.stop()


def test_a_pool_on_time_grows_while_the_loop_has_time_to_spare() -> None:
    busy, answer = FakeBusy(), Event()
    driver = ArrivalDriver(record_event=lambda name, step: None, busy=busy)
    driver.register(FakeUser(answer=answer))  # a target that never answers
    driver.configure(_plan(rate=1000.0, start=time.time()))
    gevent.sleep(0.02)  # the first slots take the first arrivals, each on time
    busy.set(0.7)
    gevent.sleep(0.05)
    assert driver.slots == 12
    driver.stop()


def test_the_pool_stops_at_max_inflight() -> None:
    busy, answer = FakeBusy(), Event()
    driver = _pool(busy, [FakeUser(answer=answer)], max_inflight=5)
    for _ in range(8):
        busy.set(0.0)
        _settle(driver)
    assert driver.slots == 5
    assert driver.sent == 5
    driver.stop()


def test_a_busy_loop_neither_grows_the_pool_nor_keeps_more_than_the_minimum() -> None:
    busy, answer = FakeBusy(), Event()
    driver = _pool(busy, [FakeUser(answer=answer)])
    for _ in range(6):
        busy.set(0.0)
        _settle(driver)
    grown = driver.slots
    assert grown > openloop.MIN_SLOTS
    busy.set(0.9)  # between the thresholds: the pool stays as it is
    _settle(driver)
    assert driver.slots == grown
    answer.set()  # the target answers; the loop is saturated from now on
    shrinking = []
    for _ in range(80):  # by a sixteenth at a time, at least one: ~40 readings from 90
        busy.set(1.0)
        _settle(driver, sending=False)
        shrinking.append(driver.slots)
    assert shrinking == sorted(shrinking, reverse=True)
    assert shrinking[-1] == openloop.MIN_SLOTS
    driver.stop()
