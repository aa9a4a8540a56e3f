"""The web UI's start form with the plugin's options: fields that work, errors as messages.

Locust builds the form's "Custom parameters" from the parser's options and,
on START (``POST /swarm``), writes each field back into ``parsed_options``
keeping the type of the value already there: a list default is parsed as a
list of integers when it is empty (so an empty ``--ml-slo`` list failed
every START with HTTP 500), ``None`` takes the text as it is. Our form
fields therefore default to ``None`` or a string, and the values are
validated here, *before* Locust applies them: a bad value, an impossible
shape or a model the target does not serve comes back as the form's error
message instead of a test that starts and dies.

What this touches in Locust (2.47): the ``locust.swarm`` endpoint and the
form field names (option dests), and ``WebUI.update_template_args``, which
rebuilds ``template_args["extra_options"]`` on every page load; our labels
(:func:`locust_ml.plugin.options.web_form`) are applied after it. Without
that method the form keeps Locust's raw labels and everything else works.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from locust_ml.errors import ConfigError
from locust_ml.options import read_options
from locust_ml.plugin.options import web_form

__all__ = ["check_start", "form_namespace", "install_form_labels"]


def form_namespace(parsed: Any, form: Any) -> SimpleNamespace:
    """``parsed`` with the form's ``ml_*`` fields applied as Locust's ``/swarm`` applies them.

    ``form`` is a Werkzeug ``MultiDict`` (``get``, ``getlist``) or a plain
    mapping. Fields Locust would ignore (not in ``parsed``) are ignored.
    Raises :class:`ConfigError` for a value Locust could not convert.
    """
    values: dict[str, Any] = dict(vars(parsed)) if parsed is not None else {}
    getlist: Callable[[str], list[Any]] = getattr(form, "getlist", lambda k: [form[k]])
    for key in list(form.keys()):
        if not key.startswith("ml_") or key not in values:
            continue
        value = str(form.get(key))
        current = values[key]
        if isinstance(current, bool):
            values[key] = value == "true"
        elif current is None:
            values[key] = value
        elif isinstance(current, list):
            values[key] = value.split(",") if "," in value else [str(v) for v in getlist(key)]
        else:
            try:
                values[key] = type(current)(value)
            except (TypeError, ValueError):
                flag = "--" + key.replace("_", "-")
                what = {int: "an integer", float: "a number"}.get(type(current), "another value")
                raise ConfigError(f"{flag}: expected {what}, got {value!r}") from None
    return SimpleNamespace(**values)


def check_start(
    parsed: Any,
    form: Any,
    *,
    shape: Any = None,
    preflight: Callable[[Any], None] | None = None,
) -> str | None:
    """Why START must not go ahead with these form values (one line), or None.

    ``shape`` (the locustfile's :class:`~locust_ml.plugin.shapes.MLShape`)
    builds its plan from them; ``preflight(options)`` asks the target about
    its models and raises :class:`ConfigError` when it won't do.
    """
    try:
        options = read_options(form_namespace(parsed, form))
        if shape is not None:
            shape.build_plan(options)
        if preflight is not None:
            preflight(options)
    except ConfigError as exc:
        return f"locust-ml: {exc}"
    return None


def install_form_labels(web_ui: Any, shape_spec: Callable[[], str | None]) -> bool:
    """Apply our form labels each time Locust rebuilds the form; False if it can't be done."""
    update = getattr(web_ui, "update_template_args", None)
    if update is None or getattr(update, "locust_ml", False):
        return update is not None

    def update_template_args() -> None:
        update()
        extra: Mapping[str, Mapping[str, Any]] = web_ui.template_args.get("extra_options") or {}
        web_ui.template_args["extra_options"] = web_form(extra, shape_spec=shape_spec())

    update_template_args.locust_ml = True  # type: ignore[attr-defined]
    web_ui.update_template_args = update_template_args
    return True
