"""A plan's ticks at given times, as comparable tuples."""

from __future__ import annotations

from locust_ml.schedules import Plan


def walk(plan: Plan, times: list[float]) -> list[tuple[object, ...] | None]:
    out: list[tuple[object, ...] | None] = []
    for t in times:
        tick = plan.at(t)
        out.append(
            None
            if tick is None
            else (tick.step, tick.users, tick.offered_rps, tick.mode, tick.warmup_s, tick.label)
        )
    return out
