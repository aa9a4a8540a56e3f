"""The decision options (:class:`locust_ml.options.Decisions`) for ``locust-ml report``.

They change no measurement, only what the report concludes from it, so
``locust-ml report`` takes the same options to re-decide a saved run; they
are declared once, in the option table. The table is imported when used:
the CLI builds its parsers without numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locust_ml.options import Decisions
    from locust_ml.report.model import ReportSettings

__all__ = ["add_report_options", "given_decisions", "report_settings"]


def add_report_options(parser: Any) -> Any:
    """Register the decision options on ``parser`` (unset: keep the saved values)."""
    from locust_ml.options import Decisions, add_group

    return add_group(parser, Decisions, unset="as saved in the report")


def given_decisions(args: Any) -> dict[str, Any]:
    """The decision options given in ``args`` (an argparse namespace), parsed: name -> value."""
    from locust_ml.options import Decisions, read_given

    return read_given(Decisions, lambda dest: getattr(args, dest, None))


def report_settings(decisions: Decisions, *, warmup_s: float = 0.0) -> ReportSettings:
    """The report's settings from the decision options (fields of the same names)."""
    import dataclasses

    from locust_ml.report.model import ReportSettings

    return ReportSettings(**dataclasses.asdict(decisions), warmup_s=warmup_s)
