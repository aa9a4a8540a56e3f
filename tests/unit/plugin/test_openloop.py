"""The open-loop arrival driver, with fake users on gevent (short real timings)."""

from __future__ import annotations

import itertools
import time

import gevent
import pytest

from locust_ml.plugin.openloop import ArrivalDriver, RatePlan


class FakeUser:
    def __init__(self, busy_s: float = 0.0) -> None:
        self.intended: list[float] = []
        self.busy_s = busy_s

    def run_arrival(self, intended: float) -> None:
        self.intended.append(intended)
        if self.busy_s:
            gevent.sleep(self.busy_s)


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
