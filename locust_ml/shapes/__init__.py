"""Shape kinds: the parameters of each kind of test, and the plan each builds.

One file per kind (:mod:`.ramp`, :mod:`.soak`, :mod:`.spike`, :mod:`.stages`,
:mod:`.search`), each a frozen dataclass whose fields are the keys of
``--ml-shape KIND:KEY=VALUE,...`` and the class attributes of the
locustfile's shape class; :mod:`.choice` parses ``--ml-shape`` and names
the presets. Pure: no Locust, no sockets (a stages file is read when its
plan is built).
"""

from __future__ import annotations

from locust_ml.shapes.base import PlanContext, ShapeSpec, spec_text
from locust_ml.shapes.choice import KINDS, PRESETS, ShapeChoice, parse_shape, resolve_spec
from locust_ml.shapes.ramp import RampPlan, RampSpec
from locust_ml.shapes.search import SearchSpec
from locust_ml.shapes.soak import SoakPlan, SoakSpec
from locust_ml.shapes.spike import SpikePlan, SpikeSpec
from locust_ml.shapes.stages import Stage, StagesPlan, StagesSpec, load_stages_file, parse_stages

__all__ = [
    "KINDS",
    "PRESETS",
    "PlanContext",
    "RampPlan",
    "RampSpec",
    "SearchSpec",
    "ShapeChoice",
    "ShapeSpec",
    "SoakPlan",
    "SoakSpec",
    "SpikePlan",
    "SpikeSpec",
    "Stage",
    "StagesPlan",
    "StagesSpec",
    "load_stages_file",
    "parse_shape",
    "parse_stages",
    "resolve_spec",
    "spec_text",
]
