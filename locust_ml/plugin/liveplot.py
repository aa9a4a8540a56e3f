"""The web UI's live latency-vs-throughput plot: the report's knee plot, drawn as steps end.

Locust's extended tabs render tables of plain text (a cell's value is a
React text child: no markup, no image), so the picture is served beside
them, from the tables' own data (:class:`~locust_ml.plugin.webui.LiveTables`):

* ``/locust-ml/live.svg`` - the plot
  (:func:`locust_ml.report.plots.latency_throughput_svg`, the same figure as
  report.html's) of the steps that have ended, their SLO results, the live
  knee, saturation and SLO capacity; once the report is written, the
  report's own. Redrawn only when a step ends (about 0.2 s of matplotlib).
* ``/locust-ml/live.json`` - ``{version, state}``: the plot's version and
  the test's state in words, polled by
* ``/locust-ml/tab.js`` - a small script added to Locust's page
  (``static/live_tab.js``) that shows the plot above the "ML steps" table.
* ``/locust-ml/live`` - the plot, the state and the step table on a page of
  their own that reloads itself while the test runs, linked from the
  Reports tab: it does not depend on how Locust's page is built.

The script relies on Locust's ``?tab=<key>`` query parameter and on the
tab's ``<table>``; if a Locust release changes either, the tab keeps its
table and the page its plot.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from locust_ml.plugin.webui import LiveTables

__all__ = [
    "LIVE_JSON_ROUTE",
    "LIVE_ROUTE",
    "LIVE_SVG_ROUTE",
    "TAB_SCRIPT_ROUTE",
    "LivePlot",
    "inject_script",
    "live_page",
    "placeholder_svg",
    "standalone_svg",
    "tab_script",
]

LIVE_ROUTE: Final = "/locust-ml/live"
LIVE_SVG_ROUTE: Final = "/locust-ml/live.svg"
LIVE_JSON_ROUTE: Final = "/locust-ml/live.json"
TAB_SCRIPT_ROUTE: Final = "/locust-ml/tab.js"
#: Seconds between reloads of the live page while the test runs.
PAGE_REFRESH_S: Final = 3
_SCRIPT: Final = Path(__file__).resolve().parent / "static" / "live_tab.js"
_SVG_NS: Final = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def tab_script() -> str:
    """The script Locust's page loads (``static/live_tab.js``)."""
    return _SCRIPT.read_text(encoding="utf-8")


def standalone_svg(svg: str) -> str:
    """An inline ``<svg>`` element (namespaces stripped, for HTML) as an SVG document.

    >>> standalone_svg('<svg width="1"><g/></svg>').startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    True
    """
    if "xmlns=" in svg.partition(">")[0]:
        return svg
    return svg.replace("<svg", f"<svg {_SVG_NS}", 1)


def placeholder_svg(text: str) -> str:
    """A small SVG document saying why there is no plot yet (no matplotlib needed)."""
    return (
        f'<svg {_SVG_NS} width="640" height="80" viewBox="0 0 640 80" role="img">'
        '<rect width="640" height="80" fill="#f6f8fa" stroke="#d0d7de"/>'
        '<text x="320" y="45" font-family="sans-serif" font-size="16" text-anchor="middle" '
        f'fill="#57606a">{html.escape(text)}</text></svg>'
    )


def inject_script(page: str, src: str) -> str:
    """Locust's index page with our script added before ``</body>`` (once)."""
    tag = f'<script defer src="{html.escape(src, quote=True)}"></script>'
    if tag in page or "</body>" not in page:
        return page
    head, _, tail = page.rpartition("</body>")
    return f"{head}{tag}\n</body>{tail}"


class LivePlot:
    """The plot of a :class:`LiveTables`' current curve, drawn once per version."""

    def __init__(self, tables: LiveTables) -> None:
        self.tables = tables
        self.drawn = 0
        self._version: int | None = None
        self._svg: str | None = None

    def svg(self) -> str | None:
        """The inline SVG element of the plot, or None while there is nothing to draw."""
        self.tables.tables()  # brings the curve up to date (cached)
        version, data = self.tables.curve()
        if version != self._version:
            from locust_ml.report import plots

            self._svg = plots.latency_throughput_svg(data) if data is not None else None
            self._version = version
            self.drawn += 1
        return self._svg

    def document(self) -> str:
        """``live.svg``: the plot, or a placeholder, as an SVG document."""
        svg = self.svg()
        if svg is None:
            return placeholder_svg("The plot appears when the first step ends.")
        return standalone_svg(svg)

    def info(self) -> dict[str, Any]:
        """``live.json``: what the tab's script polls."""
        self.tables.tables()
        version, _ = self.tables.curve()
        return {"version": version, "state": self.tables.state_text()}


def _cells(rows: Sequence[Mapping[str, Any]], columns: Sequence[Mapping[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(c['title'])}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(str(r.get(c['key'], '')))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def live_page(
    svg: str | None,
    state: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Mapping[str, str]],
    *,
    refresh: bool,
    report_url: str | None,
) -> str:
    """``/locust-ml/live``: plot, state and step table; reloads itself while ``refresh``.

    Every string is escaped; the one markup inserted as it is, the SVG, is
    matplotlib's (which escapes the text it draws).
    """
    meta = f'<meta http-equiv="refresh" content="{PAGE_REFRESH_S}">' if refresh else ""
    plot = svg or '<p class="muted">The plot appears when the first step ends.</p>'
    report = (
        f'<p><a href="{html.escape(report_url, quote=True)}">the report</a></p>'
        if report_url
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{meta}
<title>locust-ml live: {html.escape(state)}</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 1000px;
        padding: 0 1rem; }}
 svg {{ max-width: 100%; height: auto; }}
 table {{ border-collapse: collapse; font-size: 0.9rem; }}
 th, td {{ border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; text-align: right; }}
 .muted {{ color: #57606a; }}
</style></head>
<body>
<h1>locust-ml: latency vs throughput</h1>
<p id="state">{html.escape(state)}</p>
<figure id="plot">{plot}</figure>
{_cells(rows, columns)}
{report}
</body></html>
"""
