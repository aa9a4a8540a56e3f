"""A "ML steps" tab in Locust's web UI: the step table, live.

Locust's UI lets a plugin add a tab whose table rows arrive with the
``/stats/requests`` poll (every ~2 s): we declare the tab and its columns in
``template_args`` and append our rows to that JSON in an ``after_request``
hook, the mechanism of Locust's ``examples/extend_web_ui.py``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from locust.env import Environment

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.steps import summarize_steps
from locust_ml.plugin.recorder import RunRecorder

__all__ = ["TAB_KEY", "install", "step_rows"]

TAB_KEY = "locust-ml-steps"
_PERCENTILES = (50.0, 95.0, 99.0, 99.9)


def _ms(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{x:.1f}"


def step_rows(rec: RunRecorder) -> list[dict[str, Any]]:
    """One row per step so far, the running one provisional (pure given ``rec``)."""
    spans = rec.steps.spans(rec.clock())
    rows = []
    for s in summarize_steps(spans, rec.samples, _PERCENTILES):
        row: dict[str, Any] = {
            "step": s.id,
            "users": "" if s.users is None else s.users,
            "achieved_rps": "" if s.achieved_rps is None else f"{s.achieved_rps:.2f}",
            "requests": s.requests,
            "failures": s.failures,
        }
        for q in _PERCENTILES:
            key = percentile_key(q)
            row[key.replace(".", "_")] = _ms(s.latency_ms.get(key))
        rows.append(row)
    return rows


def install(environment: Environment, rec: RunRecorder) -> None:
    """Add the tab to ``environment.web_ui`` (no-op without a web UI)."""
    web_ui = environment.web_ui
    if web_ui is None or web_ui.app is None:
        return
    columns = [
        {"key": "step", "title": "Step"},
        {"key": "users", "title": "Users"},
        {"key": "achieved_rps", "title": "Achieved req/s"},
        {"key": "requests", "title": "Requests"},
        {"key": "failures", "title": "Failures"},
    ] + [
        {"key": percentile_key(q).replace(".", "_"), "title": f"{percentile_key(q)} (ms)"}
        for q in _PERCENTILES
    ]
    web_ui.template_args["extended_tabs"] = [
        *web_ui.template_args.get("extended_tabs", []),
        {"title": "ML steps", "key": TAB_KEY},
    ]
    web_ui.template_args["extended_tables"] = [
        *web_ui.template_args.get("extended_tables", []),
        {"key": TAB_KEY, "structure": columns},
    ]

    from flask import request

    app = web_ui.app

    @app.after_request
    def add_step_rows(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        body = response.get_json()
        extended = [e for e in body.get("extended_stats", []) if e.get("key") != TAB_KEY]
        extended.append({"key": TAB_KEY, "data": step_rows(rec)})
        body["extended_stats"] = extended
        response.set_data(json.dumps(body))
        return response
