"""The option table (:mod:`locust_ml.options`) on Locust's parser and in its web form.

Options are registered on Locust's parser, so they work in ``locust.conf``,
in environment variables ``LOCUST_ML_*``, on the command line, and (those
with a form label) in the web UI's start form. Everything about an option
is declared once in :mod:`locust_ml.options`; this module only adds what
Locust needs to show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from locust_ml.options import GROUPS, Flag, add_group, flags

__all__ = ["add_options", "form_labels", "web_form"]


def _add(arg_group: Any, meta: Flag, **kwargs: Any) -> None:
    """One option on Locust's parser, with the attributes its web form reads.

    Locust's ``include_in_web_ui`` keyword exists only on the parser itself,
    not on argument groups, so the attributes Locust reads are set here.
    """
    action = arg_group.add_argument(meta.flag, env_var=meta.env, **kwargs)
    action.include_in_web_ui = meta.form is not None
    action.form_help = meta.form
    action.is_secret = False
    action.is_required = False
    action.is_multiple = False


def add_options(parser: Any) -> None:
    """Register every ``--ml-*`` option on Locust's parser (idempotent).

    ``init_command_line_parser`` fires for every parser Locust builds,
    including one per web UI page load, so adding twice must be harmless.
    """
    if "--ml-shape" in getattr(parser, "_option_string_actions", {}):
        return
    for group in GROUPS:
        add_group(parser, group, _add)


def form_labels() -> dict[str, str]:
    """Option dest (``ml_slo``) -> its label in the web form, for the options shown there."""
    return {
        meta.dest: meta.form for g in GROUPS for _n, meta, _d in flags(g) if meta.form is not None
    }


def web_form(
    extra_options: Mapping[str, Mapping[str, Any]], *, shape_spec: str | None = None
) -> dict[str, dict[str, Any]]:
    """Locust's ``extra_options`` (the start form's custom fields) with our fields made usable.

    Locust labels a field "name (help)" on one line, from argparse's raw
    help, which is long and cut off: our fields get their short labels. A
    list default (SLOs given on the command line) becomes one comma-separated
    string, which the form sends back and the option's parser splits. An
    empty ``--ml-shape`` shows ``shape_spec``, the locustfile's shape with
    every parameter the run will use, so a user edits the one to change.
    """
    labels = form_labels()
    out: dict[str, dict[str, Any]] = {}
    for key, spec in extra_options.items():
        item = dict(spec)
        if key in labels:
            item["help_text"] = labels[key]
            default = item.get("default_value")
            if isinstance(default, list | tuple):
                item["default_value"] = ", ".join(str(x) for x in default)
            if key == "ml_shape" and not default and shape_spec:
                item["default_value"] = shape_spec
        out[key] = item
    return out
