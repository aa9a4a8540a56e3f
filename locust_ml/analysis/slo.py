"""Service-level objectives: a tiny expression language and its evaluation.

An SLO is an upper bound on one measured number of a load step (or of a
whole run). The capacity search, the report's verdict and the process exit
code all read the same :class:`SLO` objects, written on the command line as::

    p99<500ms        99th percentile of request latency below 500 ms
    p99.9<2s         units: us, ms, s; a bare number is milliseconds
    p50<=200ms       "<=" admits the threshold itself
    errors<1%        failed requests / requests; a bare number is a fraction (0.01)
    ttft_p99<300ms   time to first token (streaming)
    itl_p95<50ms     inter-token latency (streaming)

Only upper bounds exist: every metric here is better when lower. ``str(slo)``
prints the canonical form, which parses back to an equal object.

Evaluation never turns missing data into a pass. A percentile nobody
measured, or a step with no requests, is ``no-data``, and a verdict with any
``no-data`` result has not passed: a step that served nothing is not a step
that met its SLO.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

from locust_ml.analysis.histogram import percentile_key
from locust_ml.errors import ConfigError

if TYPE_CHECKING:  # steps.py imports this module's neighbours; no cycle at run time
    from locust_ml.analysis.steps import StepStats

__all__ = [
    "SLO",
    "SLOResult",
    "SLOStats",
    "SLOStatsLike",
    "SLOStatus",
    "SLOVerdict",
    "evaluate",
    "parse_slo",
    "parse_slos",
    "required_percentiles",
    "step_slo_stats",
]

#: Metrics an SLO can bound. Latency-like ones are in milliseconds and need a percentile.
LATENCY_METRICS: Final = ("latency", "ttft", "itl")
METRICS: Final = (*LATENCY_METRICS, "errors")

_PREFIX: Final = {"latency": "", "ttft": "ttft_", "itl": "itl_"}
_LATENCY_UNITS_MS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "": 1.0}
_NUMBER: Final = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_EXPRESSION: Final = re.compile(
    rf"^(?P<lhs>[a-z_][a-z_0-9.]*?)\s*(?P<op><=|<|>=|>|==|=)\s*(?P<value>{_NUMBER})\s*(?P<unit>[a-z%]*)$"
)
_LHS: Final = re.compile(rf"^(?:(?P<prefix>ttft|itl)_)?p(?P<q>{_NUMBER})$")
_EXAMPLES: Final = "e.g. p99<500ms, p99.9<2s, errors<1%, ttft_p99<300ms, itl_p95<50ms"


def _num(x: float) -> str:
    """Shortest text that parses back to exactly ``x`` (``500.0 -> "500"``)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class SLO:
    """One objective: ``metric`` (at ``percentile``) must stay below ``threshold``.

    ``threshold`` is in milliseconds for latency metrics and a fraction (0..1)
    for ``errors``. ``inclusive`` makes the bound ``<=`` instead of ``<``.

    >>> SLO.latency(99, 500)
    SLO(metric='latency', threshold=500.0, percentile=99.0, inclusive=False)
    >>> str(SLO.errors(0.01)), str(SLO.ttft(99, 300)), str(SLO.latency(50, 200, inclusive=True))
    ('errors<1%', 'ttft_p99<300ms', 'p50<=200ms')
    >>> parse_slo(str(SLO.itl(95, 50))) == SLO.itl(95, 50)
    True
    """

    metric: str
    threshold: float
    percentile: float | None = None
    inclusive: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"SLO metric {self.metric!r} is unknown; expected one of {', '.join(METRICS)}"
            )
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise ConfigError(
                f"SLO threshold must be a finite number >= 0, got {self.threshold!r} "
                f"for {self.metric}"
            )
        if self.metric == "errors":
            if self.percentile is not None:
                raise ConfigError("an errors SLO takes no percentile")
            if self.threshold > 1.0:
                raise ConfigError(
                    f"errors SLO threshold is a fraction in [0, 1], got {self.threshold!r} "
                    "(write 1% or 0.01)"
                )
        else:
            q = self.percentile
            if q is None or not 0.0 < q <= 100.0:
                raise ConfigError(f"{self.metric} SLO needs a percentile in (0, 100], got {q!r}")
        if not self.inclusive and self.threshold == 0:
            raise ConfigError(f"SLO {self.name}<0 can never pass; did you mean {self.name}<=0?")
        object.__setattr__(self, "threshold", float(self.threshold))
        if self.percentile is not None:
            object.__setattr__(self, "percentile", float(self.percentile))

    @classmethod
    def latency(cls, percentile: float, threshold_ms: float, *, inclusive: bool = False) -> SLO:
        """Request latency at ``percentile`` below ``threshold_ms``."""
        return cls("latency", threshold_ms, percentile, inclusive)

    @classmethod
    def ttft(cls, percentile: float, threshold_ms: float, *, inclusive: bool = False) -> SLO:
        """Time to first token at ``percentile`` below ``threshold_ms``."""
        return cls("ttft", threshold_ms, percentile, inclusive)

    @classmethod
    def itl(cls, percentile: float, threshold_ms: float, *, inclusive: bool = False) -> SLO:
        """Inter-token latency at ``percentile`` below ``threshold_ms``."""
        return cls("itl", threshold_ms, percentile, inclusive)

    @classmethod
    def errors(cls, fraction: float, *, inclusive: bool = False) -> SLO:
        """Failed requests over requests below ``fraction`` (0.01 is 1 %)."""
        return cls("errors", fraction, None, inclusive)

    @property
    def key(self) -> str | None:
        """The percentile key this SLO reads (``"p99"``), None for ``errors``."""
        return None if self.percentile is None else percentile_key(self.percentile)

    @property
    def name(self) -> str:
        """The left-hand side: ``p99``, ``ttft_p99``, ``errors``."""
        if self.metric == "errors":
            return "errors"
        return f"{_PREFIX[self.metric]}p{_num(self.percentile or 0.0)}"

    def admits(self, value: float) -> bool:
        """Whether a measured ``value`` (ms, or a fraction for errors) meets the SLO."""
        return value <= self.threshold if self.inclusive else value < self.threshold

    def format_value(self, value: float) -> str:
        """A measured value in this SLO's unit, for messages (``612.3ms``, ``1.2%``)."""
        if self.metric == "errors":
            return f"{value * 100:.3g}%"
        return f"{value:.4g}ms"

    def __str__(self) -> str:
        op = "<=" if self.inclusive else "<"
        if self.metric == "errors":
            pct = self.threshold * 100.0
            if float(_num(pct)) / 100.0 == self.threshold:
                return f"errors{op}{_num(pct)}%"
            return f"errors{op}{_num(self.threshold)}"
        return f"{self.name}{op}{_num(self.threshold)}ms"


def parse_slo(text: str, *, option: str = "--ml-slo") -> SLO:
    """Parse one SLO expression (see the module docstring for the language).

    >>> parse_slo("p99.9 < 2s")
    SLO(metric='latency', threshold=2000.0, percentile=99.9, inclusive=False)
    >>> parse_slo("errors<0.5%").threshold
    0.005
    """
    s = text.strip().lower() if isinstance(text, str) else ""
    m = _EXPRESSION.match(s)
    if m is None:
        raise ConfigError(f"{option}: {text!r} is not an SLO; expected METRIC<VALUE, {_EXAMPLES}")
    lhs, op, unit = m.group("lhs"), m.group("op"), m.group("unit")
    if op not in ("<", "<="):
        raise ConfigError(f"{option}: {text!r}: an SLO is an upper bound; use < or <=, not {op!r}")
    inclusive = op == "<="
    value = float(m.group("value"))
    if lhs in ("errors", "error_rate"):
        if unit not in ("", "%"):
            raise ConfigError(
                f"{option}: {text!r}: an error rate takes % or a bare fraction, not {unit!r}"
            )
        fraction = value / 100.0 if unit == "%" else value
        try:
            return SLO.errors(fraction, inclusive=inclusive)
        except ConfigError as exc:
            raise ConfigError(f"{option}: {text!r}: {exc}") from None
    lm = _LHS.match(lhs)
    if lm is None:
        raise ConfigError(
            f"{option}: {text!r}: unknown metric {lhs!r}; expected pQ, ttft_pQ, itl_pQ or "
            f"errors, {_EXAMPLES}"
        )
    metric, q = lm.group("prefix") or "latency", lm.group("q")
    if unit not in _LATENCY_UNITS_MS:
        raise ConfigError(
            f"{option}: {text!r}: a latency takes the unit us, ms or s (bare numbers are ms), "
            f"not {unit!r}"
        )
    try:
        return SLO(metric, value * _LATENCY_UNITS_MS[unit], float(q), inclusive)
    except ConfigError as exc:
        raise ConfigError(f"{option}: {text!r}: {exc}") from None


def parse_slos(texts: Iterable[str] | str | None, *, option: str = "--ml-slo") -> tuple[SLO, ...]:
    """Parse a repeatable option's values (a string may hold several, ``;``-separated)."""
    if texts is None:
        return ()
    items = [texts] if isinstance(texts, str) else list(texts)
    return tuple(
        parse_slo(part, option=option) for item in items for part in item.split(";") if part.strip()
    )


def required_percentiles(slos: Iterable[SLO], metric: str = "latency") -> tuple[float, ...]:
    """The percentiles of ``metric`` that ``slos`` read, sorted: compute these.

    >>> required_percentiles([parse_slo("p99<1s"), parse_slo("p50<80"), parse_slo("ttft_p90<1")])
    (50.0, 99.0)
    """
    if metric not in LATENCY_METRICS:
        raise ConfigError(
            f"no percentiles for metric {metric!r}; expected one of latency, ttft, itl"
        )
    return tuple(sorted({s.percentile for s in slos if s.metric == metric and s.percentile}))


class SLOStatsLike(Protocol):
    """What :func:`evaluate` reads; :class:`SLOStats` and ``StepStats`` both fit.

    ``ttft_ms`` and ``itl_ms`` (mappings like ``latency_ms``) are read when
    present, so stats without streaming numbers still fit.
    """

    @property
    def requests(self) -> int: ...

    @property
    def failure_ratio(self) -> float: ...

    @property
    def latency_ms(self) -> Mapping[str, float | None]: ...


@dataclass(frozen=True)
class SLOStats:
    """The numbers SLOs are judged on: one step's (post-warm-up) or one run's.

    Percentile mappings use :func:`~locust_ml.analysis.histogram.percentile_key`
    keys (``"p99"``, ``"p99.9"``) and milliseconds; None or NaN means unmeasured.
    """

    requests: int
    failure_ratio: float
    latency_ms: Mapping[str, float | None]
    ttft_ms: Mapping[str, float | None] | None = None
    itl_ms: Mapping[str, float | None] | None = None

    def __post_init__(self) -> None:
        if self.requests < 0:
            raise ValueError(f"requests must be >= 0, got {self.requests}")
        if not 0.0 <= self.failure_ratio <= 1.0:
            raise ValueError(f"failure_ratio must be in [0, 1], got {self.failure_ratio}")


class SLOStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    NO_DATA = "no-data"


@dataclass(frozen=True)
class SLOResult:
    """One SLO judged: the measured value (None without data) and the outcome."""

    slo: SLO
    measured: float | None
    status: SLOStatus

    @property
    def passed(self) -> bool:
        return self.status is SLOStatus.PASS

    @property
    def threshold(self) -> float:
        return self.slo.threshold

    def __str__(self) -> str:
        if self.measured is None:
            return f"{self.slo}: no data"
        return f"{self.slo}: measured {self.slo.format_value(self.measured)} ({self.status})"


@dataclass(frozen=True)
class SLOVerdict:
    """All SLOs judged. Passed only if every result passed (``no-data`` does not)."""

    results: tuple[SLOResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[SLOResult, ...]:
        """Results with data that broke their SLO."""
        return tuple(r for r in self.results if r.status is SLOStatus.FAIL)

    @property
    def no_data(self) -> tuple[SLOResult, ...]:
        return tuple(r for r in self.results if r.status is SLOStatus.NO_DATA)

    def reasons(self) -> tuple[str, ...]:
        """One line per result that did not pass."""
        return tuple(str(r) for r in self.results if not r.passed)


def _measure(slo: SLO, stats: SLOStatsLike) -> float | None:
    if stats.requests <= 0:
        return None
    if slo.metric == "errors":
        return float(stats.failure_ratio)
    table: Mapping[str, float | None] | None
    if slo.metric == "latency":
        table = stats.latency_ms
    else:
        table = getattr(stats, f"{slo.metric}_ms", None)
    value = None if table is None or slo.key is None else table.get(slo.key)
    if value is None or math.isnan(value):
        return None
    return float(value)


def evaluate(slos: Sequence[SLO], stats: SLOStatsLike) -> SLOVerdict:
    """Judge each SLO against ``stats``.

    >>> stats = SLOStats(requests=1000, failure_ratio=0.002, latency_ms={"p99": 612.0})
    >>> verdict = evaluate(parse_slos(["p99<500ms", "errors<1%", "p99.9<2s"]), stats)
    >>> verdict.passed, [r.status.value for r in verdict.results]
    (False, ['fail', 'pass', 'no-data'])
    """
    results = []
    for slo in slos:
        measured = _measure(slo, stats)
        if measured is None:
            status = SLOStatus.NO_DATA
        else:
            status = SLOStatus.PASS if slo.admits(measured) else SLOStatus.FAIL
        results.append(SLOResult(slo, measured, status))
    return SLOVerdict(tuple(results))


def step_slo_stats(step: StepStats) -> SLOStats:
    """What the SLOs judge in a step: its counts and its judged latency.

    The latency is :attr:`~locust_ml.analysis.steps.StepStats.judged_latency_ms`
    (from the intended send time in open loop), where that rule lives.
    """
    extra = step.extra_ms or {}
    return SLOStats(
        requests=step.requests,
        failure_ratio=step.failure_ratio,
        latency_ms=step.judged_latency_ms,
        ttft_ms=extra.get("ttft"),
        itl_ms=extra.get("itl"),
    )
