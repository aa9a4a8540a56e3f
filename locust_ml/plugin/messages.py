"""The names and shapes of what locust-ml's processes tell each other.

Master and workers talk through Locust's custom messages and its worker
reports; users talk to the request listener through the request's
``context``. Every name is here, so a reader sees the whole protocol at once:

* :data:`STEP_MESSAGE`, master -> workers: the current step
  (:class:`StepAnnouncement`), re-sent every second for late or
  reconnected workers;
* :data:`RATE_MESSAGE`, master -> each worker: its share of an open-loop
  step (:class:`locust_ml.plugin.openloop.RatePlan`);
* :data:`WIRE_KEY`, inside a worker's report: its samples since the last
  report (:meth:`locust_ml.analysis.samples.StepSamples.drain_wire`);
* :data:`CONTEXT_KEY`, inside a request's ``context``: the ML fields of one
  request (intended send time, TTFT, tokens...; see
  :func:`locust_ml.plugin.recorder.sample_from_event`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CONTEXT_KEY", "RATE_MESSAGE", "STEP_MESSAGE", "WIRE_KEY", "StepAnnouncement"]

STEP_MESSAGE = "locust_ml:step"
RATE_MESSAGE = "locust_ml:rate"
WIRE_KEY = "locust_ml"
CONTEXT_KEY = "locust_ml"


@dataclass(frozen=True)
class StepAnnouncement:
    """The step a worker records under: its id, when it started, when its
    measured part begins (None: no warm-up), the window length (master's epoch clock)."""

    step: int
    start: float | None = None
    measure_from: float | None = None
    window_s: float | None = None

    def to_message(self) -> dict[str, Any]:
        return {
            "id": self.step,
            "start": self.start,
            "measure_from": self.measure_from,
            "window": self.window_s,
        }

    @classmethod
    def from_message(cls, data: Any) -> StepAnnouncement | None:
        """The announcement in ``data``, or None when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            return None

        def num(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) else None

        return cls(data["id"], num("start"), num("measure_from"), num("window"))
