"""Before the load: does the target serve the model the users will ask for?

A wrong model name is the most common first mistake against an
OpenAI-compatible server, and a costly one: every request fails (404
"model does not exist") in a millisecond, so the run measures how fast the
server says no and plots thousands of requests per second. So before any
load, each OpenAI-compatible text user's target is asked what it serves
(``GET /v1/models``, beside the user's completions path), and a model it
does not list stops the run with one line naming what it does list.

A target that cannot answer the question (no ``/v1/models``: 404, 405, 501,
an answer that is not a model list, or no answer at all) gets one warning
and the run goes on: the question is a courtesy, not a requirement of the
API. Image and audio users over Open Inference Protocol v2 (and v1) ask
their target what it takes (:func:`check_payload_targets`, see
:mod:`.payload_encoding`): a model it lacks, or an input that can't take the
payload, stops the run the same way.

:func:`model_checks` lists what to ask (from the user classes and options),
:func:`check_models` asks, through an injectable ``fetch`` for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from locust_ml.errors import ConfigError
from locust_ml.options import MLOptions
from locust_ml.plugin.fetch import TIMEOUT_S, Fetch, fetch_url
from locust_ml.protocols.openai import models_path, parse_models

__all__ = [
    "ModelCheck",
    "check_models",
    "check_payload_targets",
    "model_checks",
    "run_preflight",
]

logger = logging.getLogger("locust_ml")

#: Statuses that say "this server has no model list", not "something is wrong".
_NOT_IMPLEMENTED = (404, 405, 501)
#: Models named in the error line at most.
_MAX_LISTED = 10


@dataclass(frozen=True)
class ModelCheck:
    """One question for a target: does ``url`` (a model list) include ``model``?"""

    url: str
    model: str
    #: The user classes sending this model there, for the message.
    users: tuple[str, ...]
    #: Sent with the question (an API key's ``Authorization``), never logged.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


def _join(host: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return host.rstrip("/") + "/" + path.lstrip("/")


def model_checks(
    user_classes: Iterable[type], options: MLOptions, host: str | None
) -> tuple[ModelCheck, ...]:
    """The questions to ask: one per (model list URL, model) of the text users.

    A user class's own ``host`` wins over ``host`` (``--host``), as in Locust.
    Raises :class:`ConfigError` when a user's settings do not fit (the same
    error the user would raise when it starts).
    """
    from locust_ml.plugin.text_users import TextUser

    found: dict[tuple[str, str], ModelCheck] = {}
    for cls in user_classes:
        if not (isinstance(cls, type) and issubclass(cls, TextUser)):
            continue
        base = getattr(cls, "host", None) or host
        if not base:
            continue
        settings = cls.settings_for(options)
        default = "/v1/chat/completions" if settings.protocol == "chat" else "/v1/completions"
        url = _join(base, models_path(settings.endpoint or default))
        key = (url, settings.model)
        old = found.get(key)
        headers = {"Authorization": f"Bearer {cls.api_key}"} if cls.api_key else {}
        users = (*old.users, cls.__name__) if old else (cls.__name__,)
        found[key] = ModelCheck(url, settings.model, users, headers)
    return tuple(found.values())


def _listed(models: Sequence[str]) -> str:
    if not models:
        return "no model at all"
    shown = ", ".join(models[:_MAX_LISTED])
    more = f" and {len(models) - _MAX_LISTED} more" if len(models) > _MAX_LISTED else ""
    return shown + more


def check_models(
    checks: Sequence[ModelCheck],
    *,
    fetch: Fetch = fetch_url,
    warn: Callable[[str], Any] | None = None,
    timeout: float = TIMEOUT_S,
) -> str | None:
    """Ask each target; the first problem as one line, or None when the load may start.

    ``warn`` gets one line per target that cannot say what it serves (the
    run goes on); it defaults to the ``locust_ml`` logger's warning.
    """
    say = warn or (lambda msg: logger.warning("locust-ml: %s", msg))
    answers: dict[str, tuple[str, ...] | None] = {}
    for check in checks:
        if check.url not in answers:
            answers[check.url] = _ask(check, fetch, say, timeout)
        models = answers[check.url]
        if models is None or check.model in models:
            continue
        users = ", ".join(check.users)
        return (
            f"the target does not serve the model {check.model!r} that {users} asks for: "
            f"GET {check.url} lists {_listed(models)}. Set model = ... in the user class "
            "or --ml-model"
        )
    return None


def _ask(
    check: ModelCheck, fetch: Fetch, say: Callable[[str], Any], timeout: float
) -> tuple[str, ...] | None:
    """The models ``check.url`` lists, or None (after one warning) when it can't say."""
    going_on = f"cannot check that it serves {check.model!r}; going on"
    try:
        status, body = fetch(check.url, check.headers, timeout)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        say(f"GET {check.url} failed ({reason}): {going_on}")
        return None
    if status in _NOT_IMPLEMENTED or not 200 <= status < 300:
        what = "no model list" if status in _NOT_IMPLEMENTED else "an error"
        say(f"GET {check.url} answered HTTP {status} ({what}): {going_on}")
        return None
    models = parse_models(body)
    if models is None:
        say(f"GET {check.url} did not answer an OpenAI model list: {going_on}")
    return models


def check_payload_targets(
    user_classes: Iterable[type], options: MLOptions, host: str | None
) -> None:
    """Image and audio users over v2/v1: ask each target what it takes, decide, say so.

    Raises :class:`ConfigError` (exit 2) for a model the target lacks or an
    input that cannot take the payload (see :mod:`.payload_encoding`).
    """
    from locust_ml.plugin import payload_encoding
    from locust_ml.plugin.payload_users import PayloadUser

    for cls in user_classes:
        if not (isinstance(cls, type) and issubclass(cls, PayloadUser)):
            continue
        base = getattr(cls, "host", None) or host
        settings = cls.settings_for(options)
        if base and settings.protocol in ("v2", "v1"):
            payload_encoding.decide(
                cls.__name__,
                cls.kind,
                settings.protocol,
                settings.model,
                cls.input_name,
                settings.encoding,
                base,
            )


def run_preflight(user_classes: Iterable[type], options: MLOptions, host: str | None) -> None:
    """Ask every target; raise :class:`ConfigError` with the one-line problem, if any."""
    classes = tuple(user_classes)
    problem = check_models(model_checks(classes, options, host))
    if problem is not None:
        raise ConfigError(problem)
    check_payload_targets(classes, options, host)
