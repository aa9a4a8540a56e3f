"""Any JSON endpoint, and multipart/form-data uploads, with a user-supplied body check.

Many inference services are neither OpenAI-compatible nor v2: a FastAPI app
taking ``{"text": ...}``, a Flask app taking an uploaded image. For those a
load test needs two things: the request, and a rule for telling a real
answer from garbage, because counting a 200 with an error page as a success
overstates capacity. :class:`JsonEndpoint` posts a JSON document;
:class:`MultipartUpload` posts one file field plus text fields. Both decode
the answer (JSON when it parses, else text, else bytes) and run ``check`` on
it.

**The check.** ``check(document)`` returns ``None`` or ``True`` when the body
is acceptable, and ``False`` or a message saying what is wrong otherwise. A
check that raises ``KeyError``, ``IndexError``, ``TypeError``, ``ValueError``
or ``AttributeError`` (``doc["labels"][0]`` on a body without labels) also
marks the answer ``invalid``, with the exception as the message; other
exceptions are bugs in the check and propagate.

**Multipart bodies** are built by hand, per RFC 7578 (``multipart/form-data``)
and RFC 2046 (boundaries): ``--boundary CRLF``, a ``Content-Disposition:
form-data; name="..."`` header (plus ``filename`` and ``Content-Type`` for the
file), a blank line, the raw bytes, ``CRLF``; the last delimiter is
``--boundary--``. Not with :mod:`email`: its generator base64-encodes binary
parts and folds long headers, which HTTP form parsers neither need nor always
accept. Quotes and line breaks in names are percent-escaped (``%22``,
``%0D``, ``%0A``) as browsers do. The boundary is random (128 bits from
:mod:`secrets`) unless given, and is checked not to occur in any part.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import HttpRequest, InferenceResult, header, http_failure, preview

__all__ = [
    "Check",
    "JsonEndpoint",
    "MultipartUpload",
    "decode_document",
    "multipart_body",
    "parse_checked",
]

#: A response check: None/True accept; False or a message reject.
Check = Callable[[Any], str | bool | None]

_CHECK_ERRORS: Final = (KeyError, IndexError, TypeError, ValueError, AttributeError)
_BOUNDARY: Final = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}")


def decode_document(headers: Mapping[str, str], body: bytes) -> tuple[Any, str | None]:
    """``(document, text)``: parsed JSON (text None), else ``(None, text)``, else ``(bytes, None)``.

    JSON is tried when the ``Content-Type`` says JSON or the body starts like
    a JSON object or array; a body declared JSON that doesn't parse raises
    ``ValueError``.
    """
    ctype = (header(headers, "content-type") or "").lower()
    declared_json = "json" in ctype
    if declared_json or body.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(body), None
        except (ValueError, UnicodeDecodeError) as exc:
            if declared_json:
                raise ValueError(f"body declared {ctype!r} is not JSON ({exc})") from None
    try:
        return None, body.decode("utf-8")
    except UnicodeDecodeError:
        return body, None


def parse_checked(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    check: Check | None,
    *,
    require_json: bool = False,
    latency_ms: float | None = None,
) -> InferenceResult:
    """Decode an answer with :func:`decode_document` and apply ``check`` to it.

    The check sees the parsed JSON, else the text, else the bytes. An empty
    2xx body is invalid (an inference answers something).
    """
    if not 200 <= status < 300:
        return http_failure(status, body, latency_ms=latency_ms)
    try:
        document, text = _checked(headers, body, check, require_json=require_json)
    except _Rejected as exc:
        return InferenceResult(
            ok=False,
            error_class="invalid",
            error=str(exc),
            status=status,
            latency_ms=latency_ms,
            bytes_received=len(body),
        )
    return InferenceResult(
        ok=True,
        status=status,
        latency_ms=latency_ms,
        text=text,
        outputs=document,
        bytes_received=len(body),
    )


class _Rejected(Exception):
    """The answer is not acceptable; the message says why."""


def _checked(
    headers: Mapping[str, str], body: bytes, check: Check | None, *, require_json: bool
) -> tuple[Any, str | None]:
    if not body.strip():
        raise _Rejected("empty body")
    try:
        document, text = decode_document(headers, body)
    except ValueError as exc:
        raise _Rejected(f"{exc}: {preview(body)}") from None
    if require_json and (text is not None or isinstance(document, bytes)):
        raise _Rejected(f"body is not JSON: {preview(body)}")
    if check is None:
        return document, text
    try:
        verdict = check(text if text is not None else document)
    except _CHECK_ERRORS as exc:
        raise _Rejected(f"check failed: {type(exc).__name__}: {exc}") from None
    if verdict is False:
        raise _Rejected(f"rejected by check: {preview(body)}")
    if isinstance(verdict, str):
        raise _Rejected(verdict)
    return document, text


@dataclass(frozen=True)
class JsonEndpoint:
    """``POST`` (or ``method``) a JSON document to ``path``; the answer must be JSON.

    >>> ep = JsonEndpoint("/predict", check=lambda doc: None if doc["label"] else "no label")
    >>> ep.request({"text": "hello"}).body
    b'{"text":"hello"}'
    >>> ep.parse(200, {}, b'{"label": "greeting"}').ok
    True
    >>> ep.parse(200, {}, b'{"score": 1}').error
    "check failed: KeyError: 'label'"
    """

    path: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    check: Check | None = None

    def request(self, document: Any, *, tokens_in: int | None = None) -> HttpRequest:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        return HttpRequest(self.method, self.path, headers, body, tokens_in=tokens_in)

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        return parse_checked(
            status, headers, body, self.check, require_json=True, latency_ms=latency_ms
        )


def _quote(value: str) -> str:
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _part(delimiter: bytes, disposition: str, content_type: str | None, data: bytes) -> bytes:
    head = f"Content-Disposition: form-data; {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return delimiter + b"\r\n" + head.encode() + b"\r\n" + data + b"\r\n"


def multipart_body(
    file_field: str,
    content: bytes,
    *,
    filename: str,
    content_type: str,
    fields: Mapping[str, str] | None = None,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """``(body, boundary)`` of a ``multipart/form-data`` upload: text ``fields``, then the file.

    A random boundary is drawn again if it happens to occur in a part; a given
    one that occurs raises :class:`~locust_ml.errors.ConfigError`.
    """
    if boundary is not None and not _BOUNDARY.fullmatch(boundary):
        raise ConfigError(
            f"multipart boundary {boundary!r} must be 1-70 characters from [0-9A-Za-z'()+_,-./:=?]"
        )
    values = [v.encode() for v in (fields or {}).values()]
    while True:
        chosen = boundary if boundary is not None else f"locust-ml-{secrets.token_hex(16)}"
        delimiter = b"--" + chosen.encode()
        if not any(delimiter in part for part in (content, *values)):
            break
        if boundary is not None:
            raise ConfigError(f"multipart boundary {boundary!r} occurs in the uploaded data")
    parts = [
        _part(delimiter, f'name="{_quote(name)}"', None, value.encode())
        for name, value in (fields or {}).items()
    ]
    disposition = f'name="{_quote(file_field)}"; filename="{_quote(filename)}"'
    parts.append(_part(delimiter, disposition, content_type, content))
    parts.append(delimiter + b"--\r\n")
    return b"".join(parts), chosen


@dataclass(frozen=True)
class MultipartUpload:
    """Upload one file (plus text fields) as ``multipart/form-data`` to ``path``.

    >>> up = MultipartUpload("/classify", file_field="image")
    >>> req = up.request(b"\\xff\\xd8...", filename="cat.jpg", content_type="image/jpeg",
    ...                  fields={"top_k": "5"}, boundary="b0undary")
    >>> req.content_type
    'multipart/form-data; boundary=b0undary'

    The answer is decoded as in :func:`parse_checked` (JSON, else text) and
    checked with ``check``.
    """

    path: str
    file_field: str = "file"
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    check: Check | None = None

    def request(
        self,
        content: bytes,
        *,
        filename: str = "upload.bin",
        content_type: str = "application/octet-stream",
        fields: Mapping[str, str] | None = None,
        boundary: str | None = None,
    ) -> HttpRequest:
        body, chosen = multipart_body(
            self.file_field,
            content,
            filename=filename,
            content_type=content_type,
            fields=fields,
            boundary=boundary,
        )
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={chosen}"}
        return HttpRequest(self.method, self.path, headers, body)

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        return parse_checked(status, headers, body, self.check, latency_ms=latency_ms)
