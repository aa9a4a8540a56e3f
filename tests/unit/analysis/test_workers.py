from __future__ import annotations

from datetime import datetime

from locust_ml.analysis.workers import WorkerGap, WorkerRoster, WorkerTally

T0 = 1_700_000_000.0


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


def test_reports_add_up_per_worker() -> None:
    roster = WorkerRoster()
    roster.reported("a", T0 + 3, step=1, requests=10, failures=1)
    roster.reported("b", T0 + 3.1, step=1, requests=7, failures=0)
    roster.reported("a", T0 + 6, step=2, requests=5, failures=2)
    assert roster.tally("a") == WorkerTally(
        reports=2, requests=15, failures=3, last_report_at=T0 + 6, last_report_step=2
    )
    assert roster.tally("b").requests == 7
    assert roster.tally("nobody") == WorkerTally()
    assert set(roster.tallies) == {"a", "b"}


def test_healthy_workers_leave_no_gap() -> None:
    roster = WorkerRoster()
    for k in range(10):
        assert roster.observe(T0 + k, {"a": False, "b": False}, step=1) == []
    assert roster.gaps == ()
    assert roster.notes(T0) == []


def test_a_missing_worker_is_noted_with_its_last_report() -> None:
    roster = WorkerRoster()
    roster.observe(T0, {"a": False, "b": False}, step=1)
    roster.reported("a", T0 + 3, step=1, requests=40, failures=0)
    roster.reported("b", T0 + 3, step=1, requests=41, failures=1)
    roster.reported("b", T0 + 6, step=2, requests=39, failures=0)
    roster.reported("a", T0 + 6, step=2, requests=38, failures=0)  # then "b" dies
    assert roster.observe(T0 + 8, {"a": False, "b": False}, step=2) == []
    (gap,) = roster.observe(T0 + 9.5, {"a": False, "b": True}, step=2, load="rate")
    assert (gap.worker, gap.kind, gap.at, gap.step, gap.load) == (
        "b",
        "missing",
        T0 + 9.5,
        2,
        "rate",
    )
    assert gap.tally.requests == 80
    # Still missing: the same gap, not a new one.
    assert roster.observe(T0 + 10, {"a": False, "b": True}, step=2) == []
    (note,) = roster.notes(T0)
    assert note.startswith(
        f"worker b stopped reporting at {_clock(T0 + 6)} (6.0 s into the run, step 2)"
    )
    assert "its 80 requests (1 failures) up to its last report are counted" in note
    assert f"marked it missing at {_clock(T0 + 9.5)}" in note
    assert "carried its share of the arrival rate" in note


def test_a_report_that_arrives_after_the_gap_opened_is_counted_in_the_note() -> None:
    roster = WorkerRoster()
    roster.reported("b", T0 + 3, step=1, requests=10, failures=0)
    roster.observe(T0 + 7, {"b": True}, step=1)
    roster.reported("b", T0 + 7.1, step=1, requests=5, failures=0)  # was already on its way
    (gap,) = roster.gaps
    assert gap.tally.requests == 15
    assert "its 15 requests" in roster.notes()[0]


def test_a_worker_that_dies_before_its_first_report() -> None:
    roster = WorkerRoster()
    roster.observe(T0, {"a": False}, step=1)
    roster.observe(T0 + 4, {"a": True}, step=1)
    (note,) = roster.notes(T0)
    assert note.startswith(
        f"worker a stopped before its first report (missing from {_clock(T0 + 4)}"
    )
    assert "none of its requests reached the master" in note


def test_missing_then_forgotten_by_locust_is_one_gap() -> None:
    roster = WorkerRoster()
    roster.reported("b", T0 + 3, step=1, requests=1, failures=0)
    roster.observe(T0 + 5, {"a": False, "b": True}, step=1)
    # Locust deletes a worker missing for a minute: not a second ("left") gap.
    assert roster.observe(T0 + 65, {"a": False}, step=3) == []
    assert [g.kind for g in roster.gaps] == ["missing"]


def test_heartbeats_that_come_back_close_the_gap() -> None:
    roster = WorkerRoster()
    roster.observe(T0, {"a": False}, step=1)
    roster.reported("a", T0 + 3, step=1, requests=9, failures=0)
    roster.observe(T0 + 6, {"a": True}, step=1)
    (back,) = roster.observe(T0 + 20, {"a": False}, step=2)
    assert back.back_at == T0 + 20
    assert f"its heartbeats came back at {_clock(T0 + 20)}" in roster.notes()[0]
    # Missing again later: the newest gap is the one the report keeps.
    (again,) = roster.observe(T0 + 30, {"a": True}, step=3)
    assert (again.at, again.back_at) == (T0 + 30, None)
    assert len(roster.gaps) == 1


def test_a_worker_that_leaves_cleanly_is_noted_as_left() -> None:
    roster = WorkerRoster()
    roster.observe(T0, {"a": False, "b": False}, step=1)
    roster.reported("a", T0 + 3, step=1, requests=12, failures=0)
    # Locust moves the users of a worker that quit, rebalancing or not.
    (gap,) = roster.observe(T0 + 4, {"b": False}, step=1, load="none")
    assert (gap.worker, gap.kind, gap.load) == ("a", "left", "users")
    note = roster.notes(T0)[0]
    assert note.startswith(f"worker a left at {_clock(T0 + 4)} (4.0 s into the run, step 1)")
    assert "its 12 requests (0 failures) up to its last report are counted" in note
    assert "Locust moved its users to the other workers" in note


def test_closed_loop_without_rebalancing_says_the_users_were_not_replaced() -> None:
    gap = WorkerGap("w", "missing", T0 + 5, 1, WorkerTally(1, 3, 0, T0 + 3, 1), "none")
    assert "its users were not replaced in that step" in gap.note()
    assert "--enable-rebalancing" in gap.note()
    assert "into the run" not in gap.note()  # no run start known
    assert "(step 1)" in gap.note()


def test_a_new_worker_is_not_a_gap() -> None:
    roster = WorkerRoster()
    roster.observe(T0, {"a": False}, step=1)
    assert roster.observe(T0 + 1, {"a": False, "b": False}, step=1) == []
    assert roster.gaps == ()
