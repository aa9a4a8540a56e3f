"""Write every form of a report into its directory: JSON, HTML, Markdown, CSV.

One place decides the file names and the order, used both at the end of a
test and by ``locust-ml report``. The report is turned into its JSON form
once and redacted (no Authorization headers, API keys, URL passwords) before
any writer sees it; each file is written atomically, JSON first, so a run
killed while writing leaves whole files behind, never a truncated one.
A writer that fails (a plot that matplotlib cannot draw) costs its file, not
the others: the JSON, which holds everything, is already on disk.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from locust_ml.files import write_atomic
from locust_ml.report.json import report_to_dict
from locust_ml.report.model import RunReport
from locust_ml.report.redact import redact

__all__ = ["FILES", "render_report_files", "write_rendered", "write_report_files"]

logger = logging.getLogger("locust_ml")

#: File names in a report directory.
FILES = {
    "json": "report.json",
    "html": "report.html",
    "markdown": "report.md",
    "csv": "steps.csv",
}


def _json_text(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def render_report_files(report: RunReport | Mapping[str, Any]) -> dict[str, str]:
    """Every file's text, by kind, rendered in memory; the first writer that fails raises.

    For ``locust-ml report``, which must not replace a single file of a saved
    run when a hand-edited report cannot be rendered: render all, then
    :func:`write_rendered`.
    """
    from locust_ml.report.html import render_html
    from locust_ml.report.markdown import render_markdown
    from locust_ml.report.steps_csv import render_steps_csv

    data = redact(report_to_dict(report) if isinstance(report, RunReport) else dict(report))
    return {
        "json": _json_text(data),
        "html": render_html(data),
        "markdown": render_markdown(data),
        "csv": render_steps_csv(data),
    }


def write_rendered(texts: Mapping[str, str], directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write rendered files (:func:`render_report_files`) atomically, JSON first."""
    out = Path(directory)
    return {kind: write_atomic(out / FILES[kind], text) for kind, text in texts.items()}


def write_report_files(
    report: RunReport | Mapping[str, Any], directory: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write all forms of ``report`` (a report or its JSON form) into ``directory``.

    Returns the paths written, by kind. Raises ``OSError`` only when the JSON
    itself cannot be written.
    """
    from locust_ml.report.html import write_html
    from locust_ml.report.markdown import write_markdown
    from locust_ml.report.steps_csv import write_steps_csv

    data = report_to_dict(report) if isinstance(report, RunReport) else dict(report)
    data = redact(data)
    out = Path(directory)
    written = {"json": write_atomic(out / FILES["json"], _json_text(data))}
    for kind, writer in (
        ("html", write_html),
        ("markdown", write_markdown),
        ("csv", write_steps_csv),
    ):
        try:
            written[kind] = writer(data, out / FILES[kind])
        except Exception as exc:  # one writer's bug must not cost the others
            logger.error("locust-ml: could not write %s: %s", FILES[kind], exc)
    return written
