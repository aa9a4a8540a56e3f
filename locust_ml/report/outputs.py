"""Write every form of a report into its directory: JSON, HTML, Markdown, CSV.

One place decides the file names and the order, used both at the end of a
test and by ``locust-ml report``. Every writer takes the typed report and
redacts as it serializes (no Authorization headers, API keys, URL
passwords in any file); each file is written atomically, JSON first, so a
run killed while writing leaves whole files behind, never a truncated one.
A writer that fails (a plot that matplotlib cannot draw) costs its file, not
the others: the JSON, which holds everything, is already on disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from locust_ml.files import write_atomic
from locust_ml.report.model import RunReport

__all__ = ["FILES", "render_report_files", "write_rendered", "write_report_files"]

logger = logging.getLogger("locust_ml")

#: File names in a report directory, in the order they are written.
FILES = {
    "json": "report.json",
    "html": "report.html",
    "markdown": "report.md",
    "csv": "steps.csv",
}


def _renderers() -> dict[str, Callable[[RunReport], str]]:
    # Imported here: jinja2 and matplotlib load when a report is written, not with the glue.
    from locust_ml.report.html import render_html
    from locust_ml.report.json import render_json
    from locust_ml.report.markdown import render_markdown
    from locust_ml.report.steps_csv import render_steps_csv

    return {
        "json": render_json,
        "html": render_html,
        "markdown": render_markdown,
        "csv": render_steps_csv,
    }


def render_report_files(report: RunReport) -> dict[str, str]:
    """Every file's text, by kind, rendered in memory; the first writer that fails raises.

    For ``locust-ml report``, which must not replace a single file of a saved
    run when a hand-edited report cannot be rendered: render all, then
    :func:`write_rendered`.
    """
    return {kind: render(report) for kind, render in _renderers().items()}


def write_rendered(texts: Mapping[str, str], directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write rendered files (:func:`render_report_files`) atomically, JSON first."""
    out = Path(directory)
    return {kind: write_atomic(out / FILES[kind], text) for kind, text in texts.items()}


def write_report_files(report: RunReport, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write all forms of ``report`` into ``directory``.

    Returns the paths written, by kind. Raises only when the JSON itself
    cannot be rendered or written.
    """
    out = Path(directory)
    written: dict[str, Path] = {}
    for kind, render in _renderers().items():
        try:
            written[kind] = write_atomic(out / FILES[kind], render(report))
        except Exception as exc:  # one writer's bug must not cost the others
            if kind == "json":
                raise
            logger.error("locust-ml: could not write %s: %s", FILES[kind], exc)
    return written
