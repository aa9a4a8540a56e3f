"""What every shape kind's parameters share, and what a plan is built with.

A shape kind (ramp, soak, spike, stages, capacity-search) is a frozen
dataclass of parameters, one file per kind: its fields are the keys of
``--ml-shape KIND:KEY=VALUE,...`` and the class attributes of the locustfile's
shape class, written once with :func:`locust_ml.config.key` (type, default,
parser, help). ``spec.plan(context)`` turns the parameters into the plan the
shape ticks (:mod:`locust_ml.schedules`), given what the parameters cannot
know: the loop mode (from the arrival process), the open-loop sender pool,
and the SLOs a capacity search judges with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from locust_ml.config import (
    duration,
    key,
    optional_duration,
    positive,
    spec_keys,
)

if TYPE_CHECKING:
    from locust_ml.analysis.slo import SLO
    from locust_ml.analysis.stability import StabilityRule
    from locust_ml.schedules import LoadMode, Plan

__all__ = ["PlanContext", "ShapeSpec", "spec_text"]


@dataclass(frozen=True)
class PlanContext:
    """What a plan needs besides its kind's parameters."""

    mode: LoadMode = "closed"
    #: Open loop: Locust users sending the arrivals (None: by Little's law).
    pool_users: int | None = None
    slos: tuple[SLO, ...] = ()
    #: A capacity search's error ceiling when no errors SLO is given.
    error_ceiling: float | None = 0.01
    stability: StabilityRule | None = None


@dataclass(frozen=True)
class ShapeSpec:
    """Keys every kind takes (loads are users in closed loop, requests/s in open loop)."""

    kind: ClassVar[str] = ""
    warmup: float = key(
        0.0, duration, "start of each step left out of its measurements (SLO judgement, stability)"
    )
    spawn_rate: float = key(
        100.0, positive, "closed loop: users started per second when a step begins"
    )
    window: float | None = key(
        None,
        optional_duration,
        "length of the measurement windows in each step (stability, time series); auto: 1 s "
        "in a capacity search, a tenth of the shortest step (0.5-5 s) otherwise",
        shown="auto",
    )

    def plan(self, context: PlanContext) -> Plan:
        """The schedule these parameters describe."""
        raise NotImplementedError

    def unused(self) -> frozenset[str]:
        """Keys the other keys make irrelevant (a ramp's ``add`` when it has a ``factor``)."""
        return frozenset()

    @classmethod
    def merged(cls, base: ShapeSpec, given: Mapping[str, Any]) -> ShapeSpec:
        """``base`` with the keys given on the command line (a kind may add a rule)."""
        return dataclasses.replace(base, **given)

    @classmethod
    def from_attributes(cls, owner: object) -> ShapeSpec:
        """The defaults with ``owner``'s attributes of the same names (a shape class's).

        A string is parsed as on the command line (``step = "20s"``); other
        values are taken as they are and checked when the plan is built.
        """
        values: dict[str, Any] = {}
        for name, (spec_key, _default) in spec_keys(cls).items():
            if not hasattr(owner, name):
                continue
            value = getattr(owner, name)
            if isinstance(value, str):
                value = spec_key.parse(value, f"{getattr(owner, '__name__', 'shape')}.{name}")
            values[name] = value
        return cls(**values)


def spec_text(spec: ShapeSpec) -> str:
    """The spec as ``--ml-shape`` takes it: the kind's own keys, common keys when set.

    What the web form shows for the locustfile's shape, so a user sees every
    parameter the run will use and edits the one to change.
    """
    parts = []
    common = spec_keys(ShapeSpec)
    for name, (spec_key, default) in spec_keys(type(spec)).items():
        value = getattr(spec, name)
        if (name in common and value == default) or value is None or name in spec.unused():
            continue
        parts.append(f"{name}={spec_key.text(value)}")
    return spec.kind + (":" + ",".join(parts) if parts else "")
