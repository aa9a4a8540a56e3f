"""Without ``--host``: the reference server, started for the locustfile's users.

The backend is ``--ml-server-backend``'s, else the first ML user class's
``server_backend`` (so ``image_classifier.py`` starts the image backend
without an option), else the summarizer; the server serves the model the
users ask for (``model = "my-model"`` works as written) unless
``--ml-server-args`` names one. A user class's ``server_args`` (what its
workload needs, e.g. the trace replay's long prompts) come before
``--ml-server-args``, which can override them. It runs on a free loopback port; a server
that fails to start is one line and exit 2 (a bad argument) or 3 (it did
not come up).
"""

from __future__ import annotations

import logging
import shlex
import sys
from typing import Any, NoReturn

from locust_ml.errors import EXIT_CONFIG, EXIT_TARGET, ConfigError, DependencyError, TargetError
from locust_ml.options import MLOptions
from locust_ml.plugin.text_users import TextUser
from locust_ml.plugin.users import MLUser
from locust_ml.server.embedded import EmbeddedServer, check_server_args, split_server_args

__all__ = ["backend", "check_args", "needed", "start"]

logger = logging.getLogger("locust_ml")

#: The backend when neither the option nor a user class names one.
DEFAULT_BACKEND = "summarizer"


def needed(environment: Any) -> bool:
    """No ``--host``, and an ML user class without a host of its own."""
    if environment.host:
        return False
    return any(
        issubclass(cls, MLUser) and not getattr(cls, "host", None)
        for cls in environment.user_classes
    )


def backend(environment: Any, options: MLOptions) -> str:
    """``--ml-server-backend`` if given, else the first ML user class's ``server_backend``."""
    if options.server.backend:
        return options.server.backend
    for cls in environment.user_classes:
        name = getattr(cls, "server_backend", None) if issubclass(cls, MLUser) else None
        if name:
            return str(name)
    return DEFAULT_BACKEND


def check_args(environment: Any, options: MLOptions) -> None:
    """``--ml-server-args`` as the user typed them, checked before anything starts."""
    check_server_args(backend(environment, options), split_server_args(options.server.args))


def _models(environment: Any, options: MLOptions) -> list[str]:
    """The model names the ML users will send, in user-class order, without repeats."""
    names: list[str] = []
    for cls in environment.user_classes:
        if not issubclass(cls, MLUser):
            continue
        if issubclass(cls, TextUser):
            try:
                name = cls.settings_for(options).model
            except ConfigError:
                continue  # the user says so itself when it starts
        else:
            name = options.users.model or str(getattr(cls, "model", "") or "")
        if name and name not in names:
            names.append(name)
    return names


def _class_args(environment: Any) -> str:
    """The first ML user class's ``server_args`` (what its workload needs of the server)."""
    for cls in environment.user_classes:
        args = getattr(cls, "server_args", None) if issubclass(cls, MLUser) else None
        if args:
            return str(args)
    return ""


def _server_args(environment: Any, options: MLOptions) -> str:
    """The user class's ``server_args``, then ``--ml-server-args`` (the later of an option
    given twice wins), plus ``--model-name`` for the users' model unless they name one.

    The server serves one name, the first user class's.
    """
    args = f"{_class_args(environment)} {options.server.args}".strip()
    if "--model-name" in args:
        return args
    models = _models(environment, options)
    if not models:
        return args
    if len(models) > 1:
        logger.warning(
            "locust-ml: the embedded server serves one model, %r; users asking for %s will fail "
            "(give --host for a server that serves them all)",
            models[0],
            ", ".join(repr(m) for m in models[1:]),
        )
    return f"{args} --model-name {shlex.quote(models[0])}".strip()


def _fail(message: str, code: int) -> NoReturn:
    logger.error("locust-ml: %s", message)
    sys.stderr.flush()
    raise SystemExit(code)


def start(environment: Any, options: MLOptions) -> EmbeddedServer:
    """Start the server and point ``environment.host`` at it (exit 2 or 3 when it can't)."""
    try:
        server = EmbeddedServer(backend(environment, options), _server_args(environment, options))
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    extra = server.extra_args
    at = extra.index("--model-name") + 1 if "--model-name" in extra else len(extra)
    model = repr(extra[at]) if at < len(extra) else "the backend's own"
    logger.info(
        "locust-ml: no --host given; starting the reference server (backend=%s, model %s)",
        server.backend,
        model,
    )
    try:
        url = server.start(timeout=options.server.timeout)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except (TargetError, DependencyError) as exc:
        _fail(str(exc), EXIT_TARGET)
    environment.host = url
    logger.info(
        "locust-ml: reference server ready at %s in %.2f s (pid %s)",
        url,
        server.ready_seconds or 0.0,
        server.pid,
    )
    return server
