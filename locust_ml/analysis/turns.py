"""Figures by conversation turn: how latency, TTFT and ITL change as a chat goes on.

A conversation resends its whole history every turn, so turn ``k``'s prompt
is turn ``k - 1``'s plus the answer and a new message. A server with a
prefix cache computes only the new part: time to first token *falls* after
turn 1 even though prompts grow, while a server without one takes longer
each turn. The split by turn is how a load test shows which server it has.

Turns are kept apart the way Locust keeps anything apart: by request name.
A conversation user names each request ``"<name> turn <k>"``
(:func:`turn_name`), so Locust's own table shows one row per turn too, and
the run's per-endpoint statistics (merged exactly across workers) hold
everything this module needs; :func:`by_turn` reads them back in turn
order. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from locust_ml.analysis.steps import EndpointStats, Percentiles

__all__ = ["TurnStats", "by_turn", "turn_name", "turn_of"]

_TURN: Final = re.compile(r"^(?P<base>.*) turn (?P<turn>[1-9][0-9]*)$")


def turn_name(name: str, turn: int) -> str:
    """The request name of ``name``'s turn ``turn`` (counted from 1).

    >>> turn_name("/v1/chat/completions", 2)
    '/v1/chat/completions turn 2'
    """
    if turn < 1:
        raise ValueError(f"turns count from 1, got {turn}")
    return f"{name} turn {turn}"


def turn_of(name: str) -> tuple[str, int] | None:
    """``(name, turn)`` of a request name :func:`turn_name` made, else None.

    >>> turn_of("/v1/chat/completions turn 12"), turn_of("/v1/chat/completions")
    (('/v1/chat/completions', 12), None)
    """
    match = _TURN.match(name)
    if match is None:
        return None
    return match["base"], int(match["turn"])


@dataclass(frozen=True)
class TurnStats:
    """One turn's figures over the run (an endpoint's, named by its turn)."""

    turn: int
    name: str
    request_type: str
    requests: int
    failures: int
    #: The latency SLOs judge: from the intended send time in open loop.
    latency_ms: Percentiles
    ttft_ms: Percentiles
    itl_ms: Percentiles
    #: Mean prompt tokens of the turn's answered requests (what the server said).
    mean_tokens_in: float | None


def by_turn(
    endpoints: Sequence[EndpointStats], *, open_loop: bool = False
) -> tuple[TurnStats, ...]:
    """The endpoints named by turn, in (name, turn) order; empty when none is."""
    rows = []
    for e in endpoints:
        parsed = turn_of(e.name)
        if parsed is None:
            continue
        base, turn = parsed
        corrected = e.extra_ms.get("corrected")
        latency = corrected if open_loop and corrected else e.latency_ms
        ok = e.requests - e.failures
        rows.append(
            TurnStats(
                turn=turn,
                name=base,
                request_type=e.request_type,
                requests=e.requests,
                failures=e.failures,
                latency_ms=latency,
                ttft_ms=e.extra_ms.get("ttft", {}),
                itl_ms=e.extra_ms.get("itl", {}),
                mean_tokens_in=e.tokens_in / ok if ok and e.tokens_in else None,
            )
        )
    rows.sort(key=lambda r: (r.name, r.request_type, r.turn))
    return tuple(rows)
