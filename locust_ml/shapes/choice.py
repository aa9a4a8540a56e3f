"""``--ml-shape``: which kind of test, with which parameters.

``KIND[:KEY=VALUE,...]`` (the mini-language ``--ml-arrival`` uses), a
named preset (``soak-1h``) with keys of its own kind added
(``soak-1h:load=20``), or keys alone for the locustfile's own kind
(``:max=64,step=20s``). What the command line gives is parsed and checked
here, before the load; the run's parameters are the locustfile's shape
class's for its own kind, with the given keys on top
(:func:`resolve_spec`). A different kind than the class's starts from that
kind's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from locust_ml.config import parse_keys, spec_keys, split_spec
from locust_ml.errors import ConfigError
from locust_ml.shapes.base import ShapeSpec
from locust_ml.shapes.ramp import RampSpec
from locust_ml.shapes.search import SearchSpec
from locust_ml.shapes.soak import SoakSpec
from locust_ml.shapes.spike import SpikeSpec
from locust_ml.shapes.stages import StagesSpec

__all__ = ["KINDS", "PRESETS", "ShapeChoice", "parse_shape", "resolve_spec"]

#: Every shape kind, by the name ``--ml-shape`` takes.
KINDS: Final[Mapping[str, type[ShapeSpec]]] = {
    cls.kind: cls for cls in (RampSpec, SoakSpec, SpikeSpec, StagesSpec, SearchSpec)
}

#: Named presets for the common cases: a kind and its keys.
PRESETS: Final[Mapping[str, str]] = {
    "smoke": "ramp:start=1,max=1,step=10s",
    "quick-search": "capacity-search:max_time=3m",
    "soak-1h": "soak:hold=1h,ramp=2m",
    "soak-8h": "soak:hold=8h",
    "spike-5x": "spike:factor=5",
    "spike-10x": "spike:factor=10",
}

#: What a preset is for, in the listing and the docs.
PRESET_HELP: Final[Mapping[str, str]] = {
    "smoke": "one user for 10 s: does the target answer at all",
    "quick-search": "a capacity search of at most 3 minutes",
    "soak-1h": "one hour at the load, 2 min ramp-up",
    "soak-8h": "a working day at the load",
    "spike-5x": "a spike to 5x the baseline",
    "spike-10x": "a spike to 10x the baseline",
}

#: Keys a kind's spec takes without ``KEY=`` (``stages:plan.yaml``).
_BARE: Final = {"stages": "file"}


@dataclass(frozen=True)
class ShapeChoice:
    """A parsed ``--ml-shape``: the kind and the keys given (typed, checked)."""

    kind: str
    given: Mapping[str, Any] = field(default_factory=dict)
    #: The text as typed (for messages).
    text: str = ""


def parse_shape(text: str, *, option: str = "--ml-shape") -> ShapeChoice:
    """Parse ``KIND[:KEY=VALUE,...]`` or ``PRESET[:KEY=VALUE,...]``.

    >>> parse_shape("ramp:start=2,step=20s").given
    {'start': 2.0, 'step': 20.0}
    >>> c = parse_shape("soak-1h:load=20")
    >>> c.kind, c.given["hold"], c.given["load"]
    ('soak', 3600.0, 20.0)
    >>> parse_shape(":warmup=2s")  # the locustfile's kind
    ShapeChoice(kind='', given={'warmup': 2.0}, text=':warmup=2s')
    """
    name, params = split_spec(
        text, option=option, bare=_BARE.get(text.split(":", maxsplit=1)[0].strip())
    )
    if name in PRESETS:
        kind, preset = split_spec(PRESETS[name], option=option)
        params = {**preset, **params}
    else:
        kind = name
    if not kind:
        # ":KEY=VALUE,...": the locustfile's own kind, checked once it is known.
        return ShapeChoice("", _any_kind_keys(params, option, text), text)
    spec_cls = KINDS.get(kind)
    if spec_cls is None:
        known = ", ".join([*KINDS, *PRESETS])
        raise ConfigError(f"{option}: unknown shape {name!r} in {text!r}; expected one of {known}")
    given = parse_keys(spec_cls, params, option=option, what=kind)
    return ShapeChoice(kind, given, text)


def _any_kind_keys(params: dict[str, str], option: str, text: str) -> dict[str, Any]:
    """Keys without a kind, parsed by the first kind that has each."""
    given: dict[str, Any] = {}
    for name, value in params.items():
        owner = next((cls for cls in KINDS.values() if name in spec_keys(cls)), None)
        if owner is None:
            raise ConfigError(f"{option}: no shape kind has a key {name!r} (in {text!r})")
        given.update(parse_keys(owner, {name: value}, option=option, what="the shape"))
    return given


def resolve_spec(choice: ShapeChoice | None, kind: str, owner: object) -> ShapeSpec:
    """The run's parameters: ``owner``'s (a shape class's) for its ``kind``, ``choice``'s on top.

    A choice of another kind starts from that kind's defaults; the common
    keys (warmup, spawn_rate, window) of ``owner`` apply to any kind.
    """
    run_kind = choice.kind if choice is not None and choice.kind else kind
    spec_cls = KINDS.get(run_kind)
    if spec_cls is None:
        raise ConfigError(f"unknown shape kind {run_kind!r}; expected one of {', '.join(KINDS)}")
    if run_kind == kind:
        base = spec_cls.from_attributes(owner)
    else:
        common = ShapeSpec.from_attributes(owner)
        base = spec_cls(
            **{
                name: getattr(common, name)
                for name in ("warmup", "spawn_rate", "window")
                if getattr(common, name) != getattr(ShapeSpec(), name)
            }
        )
    given = dict(choice.given) if choice is not None else {}
    unknown = [name for name in given if name not in spec_keys(spec_cls)]
    if unknown:
        raise ConfigError(
            f"--ml-shape: the {run_kind} shape has no key {unknown[0]!r}; its keys are "
            f"{', '.join(spec_keys(spec_cls))}"
        )
    return spec_cls.merged(base, given)
