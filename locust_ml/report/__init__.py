"""Report data and its writers (JSON, console table; HTML and Markdown to come)."""

from __future__ import annotations

from locust_ml.report.model import SCHEMA_VERSION, RunInfo, RunReport, build_report

__all__ = ["SCHEMA_VERSION", "RunInfo", "RunReport", "build_report"]
