"""Asking an image or audio target what it serves, before the load (the HTTP call injected).

:func:`probe_v2` reads ``GET /v2`` (server metadata: the extensions) and
``GET /v2/models/{model}`` (the inputs), through a ``fetch(url, headers,
timeout) -> (status, body)`` the caller gives (the Locust glue passes a
urllib call; tests pass recorded answers), and returns what it learned, or
why it learned nothing, for :func:`~locust_ml.protocols.v2_encoding.choose_encoding`.
:func:`probe_v1` asks ``GET /v1/models/{model}`` whether a v1 target has
the model.

What stops the run (a :class:`~locust_ml.errors.ConfigError`, one line,
exit 2): a target that answers as a v2 server (``GET /v2`` is server
metadata) and then 404 for the model's metadata, or a v1 target's 404 for
the model's status. (A target whose ``/v2`` is not metadata may be a
server without the metadata endpoints: its 404 is a note, not a stop.)

What only changes the decision: a server that can't say (no ``/v2``, an
answer that isn't metadata, an error, no answer at all): the probe notes
why, and the encoding falls back to what every v2 server takes, JSON
tensors, naming the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import error_message, preview
from locust_ml.protocols.v1 import V1Model
from locust_ml.protocols.v2 import V2Model
from locust_ml.protocols.v2_metadata import (
    MetadataError,
    ModelMetadata,
    ServerMetadata,
    parse_model_metadata,
    parse_server_metadata,
)

__all__ = ["Fetch", "V2Probe", "probe_v1", "probe_v2"]

#: ``fetch(url, headers, timeout) -> (status, body)``; raises OSError when nothing answers.
Fetch = Callable[[str, Mapping[str, str], float], tuple[int, bytes]]


@dataclass(frozen=True)
class V2Probe:
    """What a v2 target said: its metadata, or (``*_note``) why there is none."""

    server: ServerMetadata | None
    model: ModelMetadata | None
    server_note: str = ""
    model_note: str = ""


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _get(
    fetch: Fetch, url: str, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, bytes, str]:
    """``(status, body, note)``: status None and a note when nothing answered."""
    try:
        status, body = fetch(url, headers, timeout)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return None, b"", f"GET {url} failed ({reason})"
    return status, body, ""


def _missing(url: str, body: bytes, model: str) -> ConfigError:
    said = error_message(body) or (preview(body) if body else "no such model")
    return ConfigError(
        f"the target does not serve the model {model!r}: GET {url} answered 404 ({said})"
    )


def probe_v2(base: str, model: V2Model, fetch: Fetch, *, timeout: float = 5.0) -> V2Probe:
    """Ask ``base`` (the target URL) about the server and ``model``; ConfigError if it lacks it."""
    headers = dict(model.headers)
    server_url = _join(base, "/v2")
    status, body, server_note = _get(fetch, server_url, headers, timeout)
    server = None
    if status is not None:
        if 200 <= status < 300:
            try:
                server = parse_server_metadata(body)
            except MetadataError as exc:
                server_note = f"GET {server_url}: {exc}"
        else:
            server_note = f"GET {server_url} answered HTTP {status}"
    model_url = _join(base, model.model_path)
    status, body, model_note = _get(fetch, model_url, headers, timeout)
    meta = None
    if status == 404 and server is not None:
        raise _missing(model_url, body, model.model)
    if status is not None:
        if 200 <= status < 300:
            try:
                meta = parse_model_metadata(body)
            except MetadataError as exc:
                model_note = f"GET {model_url}: {exc}"
        else:
            model_note = f"GET {model_url} answered HTTP {status}"
    return V2Probe(server, meta, server_note, model_note)


def probe_v1(base: str, model: V1Model, fetch: Fetch, *, timeout: float = 5.0) -> str:
    """Ask a v1 target whether it has ``model``: ConfigError on 404, else a note for the console."""
    url = _join(base, model.model_path)
    status, body, note = _get(fetch, url, dict(model.headers), timeout)
    if status == 404:
        raise _missing(url, body, model.model)
    if status is None:
        return note
    return f"GET {url} answered HTTP {status}"
