"""Locustfile for benchmarks/open_loop_accuracy.py: records each request's actual send time.

The times go to the file named by ``LOCUST_ML_BENCH_TIMES`` when Locust quits,
so the benchmark can test the inter-arrival distribution of what was really
sent, not of the schedule.
"""

from __future__ import annotations

import os
from typing import Any

from locust import events, task

from locust_ml import RampShape, TextUser

SEND_TIMES: list[float] = []


@events.request.add_listener
def _record(start_time: float | None = None, **_: Any) -> None:
    if start_time is not None:
        SEND_TIMES.append(start_time)


@events.quitting.add_listener
def _dump(**_: Any) -> None:
    path = os.environ.get("LOCUST_ML_BENCH_TIMES")
    if path:
        with open(path, "w") as fh:
            fh.write("\n".join(f"{t:.6f}" for t in sorted(SEND_TIMES)))


class Chat(TextUser):
    @task
    def chat_once(self) -> None:
        self.generate()


class Shape(RampShape):
    arrival = "poisson"
