"""The sweep's files as JSON: ``sweep.json`` and each configuration's ``outcome.json``.

``OUT/sweep.json`` is the result people and scripts read (``schema_version``;
``configs``, one object per configuration in the order given, with its
figures, verdict, cost, plan, rank and report path; ``best``, the chosen
parameters and why). It is rewritten after every configuration, so a sweep
cut short still leaves one that says what is finished.

``OUT/<config>/outcome.json`` is what resuming reads: the configuration's
measurement (or why it failed) and the *fingerprint* of the settings it was
measured with - everything that changes a measurement (the locust options
but the price and plan options, the server command, setup, teardown, the
target URL, the ready path). It is written last, atomically, once the
configuration is finished; a configuration without one was not finished and
runs again. A fingerprint that differs from the sweep's current one means
the folder holds results of other settings, which a resumed sweep refuses
to mix in (:class:`~locust_ml.errors.ConfigError`: ``--fresh`` redoes them).

The dict forms are pure; :func:`read_outcome` and :func:`write_json` touch
the files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from locust_ml.sweep.configs import Config
from locust_ml.sweep.ranking import Ranking, cost_interval, recommendation
from locust_ml.sweep.result import DONE, FAILED, ConfigResult, Measurement

__all__ = [
    "OUTCOME_FILE",
    "SWEEP_SCHEMA_VERSION",
    "outcome_from_dict",
    "outcome_to_dict",
    "read_outcome",
    "result_to_dict",
    "sweep_to_dict",
    "write_json",
]

#: 1.0: the first form.
SWEEP_SCHEMA_VERSION: Final = "1.0"
OUTCOME_FILE: Final = "outcome.json"


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def _ci(ci: tuple[float, float | None] | None) -> list[float | None] | None:
    return None if ci is None else [_num(ci[0]), _num(ci[1])]


def _measurement_dict(m: Measurement) -> dict[str, Any]:
    return {
        "verdict": m.verdict,
        "verdict_reasons": list(m.verdict_reasons),
        "slo_rps": _num(m.slo_rps),
        "slo_rps_ci": _ci(m.slo_rps_ci),
        "knee_rps": _num(m.knee_rps),
        "saturation_rps": _num(m.saturation_rps),
        "bound": m.bound,
        "latency_key": m.latency_key,
        "latency_at_capacity_ms": {k: _num(v, 3) for k, v in m.latency_ms.items()},
        "note": m.note,
        "report": m.report,
        "duration_s": _num(m.duration_s, 2),
    }


def result_to_dict(
    result: ConfigResult, folder: str, *, rank: int | None = None, pareto: bool = False
) -> dict[str, Any]:
    """One entry of ``sweep.json``'s ``configs``."""
    m = result.measurement
    row: dict[str, Any] = {
        "params": result.config.values,
        "label": result.label,
        "folder": folder,
        "status": result.status,
        "reason": result.reason,
        "rank": rank,
        "pareto": pareto,
        "verdict": None if m is None else m.verdict,
        "slo_rps": None if m is None else _num(m.slo_rps),
        "slo_rps_ci": None if m is None else _ci(m.slo_rps_ci),
        "knee_rps": None if m is None else _num(m.knee_rps),
        "saturation_rps": None if m is None else _num(m.saturation_rps),
        "latency_key": None if m is None else m.latency_key,
        "latency_at_capacity_ms": None if m is None else _num(m.latency_at_capacity_ms, 3),
        "price_per_hour": _num(result.price_per_hour),
        "cost_per_million_requests": _num(result.cost_per_million, 6),
        "cost_per_million_ci": _ci(cost_interval(result)),
        "target_rps": _num(result.target_rps),
        "replicas": result.replicas,
        "report": None if m is None else m.report,
        "elapsed_s": _num(result.elapsed_s, 2),
        "log_tail": list(result.log_tail),
        "notes": list(result.notes),
        "measurement": None if m is None else _measurement_dict(m),
    }
    return row


def sweep_to_dict(
    results: Sequence[ConfigResult],
    folders: Sequence[str],
    ranking: Ranking,
    pareto: frozenset[int],
    settings: Mapping[str, Any],
    *,
    complete: bool,
    elapsed_s: float,
) -> dict[str, Any]:
    """The whole ``sweep.json``."""
    ranks = {id(r): i for i, r in enumerate(ranking.ranked, start=1)}
    best = ranking.best
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "complete": complete,
        "elapsed_s": _num(elapsed_s, 1),
        "ranked_by": ranking.by,
        "rule": ranking.rule,
        "settings": dict(settings),
        "configs": [
            result_to_dict(r, f, rank=ranks.get(id(r)), pareto=i in pareto)
            for i, (r, f) in enumerate(zip(results, folders, strict=True))
        ],
        "best": None
        if best is None
        else {
            "params": best.config.values,
            "label": best.label,
            "why": f"ranked first by {ranking.rule}",
            "recommendation": recommendation(ranking),
        },
        "recommendation": recommendation(ranking),
    }


# --------------------------------------------------------------------- outcome.json


def outcome_to_dict(result: ConfigResult, fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """A finished configuration, as resuming reads it back."""
    m = result.measurement
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "fingerprint": dict(fingerprint),
        "params": [list(p) for p in result.config.params],
        "price_per_hour": result.config.price_per_hour,
        "status": result.status,
        "reason": result.reason,
        "log_tail": list(result.log_tail),
        "notes": list(result.notes),
        "elapsed_s": result.elapsed_s,
        "measurement": None if m is None else _measurement_dict(m),
    }


def _opt_float(raw: Any, where: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TypeError(f"{where}: expected a number, got {raw!r}")
    return float(raw)


def _measurement(raw: Mapping[str, Any]) -> Measurement:
    ci = raw.get("slo_rps_ci")
    latency = raw.get("latency_at_capacity_ms") or {}
    return Measurement(
        verdict=str(raw["verdict"]),
        verdict_reasons=tuple(str(x) for x in raw.get("verdict_reasons") or ()),
        slo_rps=_opt_float(raw.get("slo_rps"), "slo_rps"),
        slo_rps_ci=None if ci is None else (float(ci[0]), _opt_float(ci[1], "slo_rps_ci")),
        knee_rps=_opt_float(raw.get("knee_rps"), "knee_rps"),
        saturation_rps=_opt_float(raw.get("saturation_rps"), "saturation_rps"),
        bound=str(raw.get("bound", "none")),
        latency_key=str(raw.get("latency_key", "p99")),
        latency_ms={str(k): _opt_float(v, str(k)) for k, v in latency.items()},
        note=None if raw.get("note") is None else str(raw["note"]),
        report=None if raw.get("report") is None else str(raw["report"]),
        duration_s=float(raw.get("duration_s") or 0.0),
    )


def outcome_from_dict(raw: Mapping[str, Any], config: Config) -> ConfigResult:
    """The finished configuration ``raw`` holds; ValueError/KeyError/TypeError when malformed."""
    params = tuple((str(k), str(v)) for k, v in raw["params"])
    if params != config.params:
        raise ValueError(f"holds {params!r}, not {config.params!r}")
    status = str(raw["status"])
    if status not in (DONE, FAILED):
        raise ValueError(f"status {status!r}")
    m = raw.get("measurement")
    if status == DONE and not isinstance(m, Mapping):
        raise ValueError("a finished configuration without its measurement")
    return ConfigResult(
        config=config,
        status=status,
        measurement=_measurement(m) if isinstance(m, Mapping) else None,
        reason=None if raw.get("reason") is None else str(raw["reason"]),
        log_tail=tuple(str(x) for x in raw.get("log_tail") or ()),
        elapsed_s=float(raw.get("elapsed_s") or 0.0),
        notes=tuple(str(x) for x in raw.get("notes") or ()),
    )


def read_outcome(path: Path, config: Config) -> tuple[dict[str, Any], ConfigResult] | None:
    """(fingerprint, result) of a finished configuration; None when it has no usable record.

    A record that cannot be read (cut short, hand-edited) counts as not
    finished: the configuration runs again rather than the sweep stopping.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return dict(raw["fingerprint"]), outcome_from_dict(raw, config)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """``data`` as indented JSON, atomically."""
    from locust_ml.files import write_atomic

    write_atomic(path, json.dumps(data, indent=2) + "\n")
