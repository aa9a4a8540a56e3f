"""Remove secrets from everything a report writer writes.

A report quotes the outside world: the target URL, endpoint names, error
messages and response bodies the server sent back, step-hook output, notes.
Any of those can carry a credential - a URL with ``user:password@``, an error
body that echoes the request's ``Authorization`` header, an OpenAI key pasted
into a locustfile's ``host``. Reports get attached to CI runs and pull
requests, so every writer redacts at the point it serializes, and the report
in memory is left as it was: ``report.json`` is :func:`redact` of its dict
form; the HTML page (its template's ``finalize``), the Markdown summary (its
escaping function), the CSV (its text cells) and the plots (the labels they
draw) pass each string through :func:`redact_text`. A string a writer
composes (a sentence quoting the target) is redacted whole, so a field
added to the report later is covered without edits here or there.

What is replaced by ``"[redacted]"``:

* **values under secret-looking keys**, at any depth: a key whose words
  (split on ``_``, ``-``, ``.``, spaces and camelCase) include
  ``authorization``, ``auth``, ``password``/``passwd``, ``secret``,
  ``cookie``, ``token``, ``credential``, ``sessionid``, or that
  say ``api key``/``apikey``, ``private key``, ``access key``, ``secret key``.
  ``token`` must be a whole word, so the report's token *counts*
  (``tokens_in``, ``tokens_out``, ``tokens_out_per_s``, ``max_tokens``) are
  not secret-looking at all. Under such a key every *string* is replaced,
  however deep (``{"cookie": {"session": "..."}}``), but a number, boolean
  or null never is, whatever its key (``token_count: 12`` stays);
* **in every string**, wherever it appears (values, list items):

  - ``Bearer <token>``: the token, unless it is a plain word
    (``Bearer token``, ``Bearer realm=...`` in a challenge stay readable);
  - ``Basic <base64>``: the credentials, when they decode to ``user:password``
    as RFC 7617 defines them (so ``Basic training`` stays);
  - OpenAI-style keys: ``sk-`` followed by at least 8 key characters
    (``sk-proj-...``, ``sk-ant-...``, a short test key like ``sk-test-SECRET123``);
  - URL user info with a password: ``https://user:pw@host`` becomes
    ``https://[redacted]@host``;
  - URL query parameters with a secret-looking name: ``?api_key=...``,
    ``&access_token=...``;
  - ``key: value`` / ``key=value`` text with a secret-looking key, as in an
    error body that echoes headers or JSON (``"api_key": "abc"``,
    ``Authorization: Token abc``); for ``authorization`` and ``cookie``
    headers the rest of the line is the value.

* **the secrets the caller knows**, literally, whatever their length or
  shape (``redact_text(text, secrets=...)``): the load generator knows the
  key it sends (:func:`header_secrets` reads it from a request's headers),
  so an error body that echoes it loses it even when it looks like nothing
  above; a key cut short at the end of an excerpt (``sk-te...``) goes too.

Nothing else changes: keys are never renamed or dropped, numbers are never
touched, and the result is a deep copy (the input is left as it was). The
rules are deliberately about *shapes of secrets*, not a list of report
fields, so a field added to the report later is covered without edits here.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["REDACTED", "header_secrets", "is_secret_key", "redact", "redact_text"]

#: What a secret is replaced with.
REDACTED: Final = "[redacted]"

#: Words that make a key secret-looking on their own (whole words only).
_SECRET_WORDS: Final = frozenset(
    {
        "authorization",
        "auth",
        "password",
        "passwords",
        "passwd",
        "secret",
        "secrets",
        "cookie",
        "cookies",
        "token",
        "credential",
        "credentials",
        "sessionid",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
    }
)
#: Word pairs that are secret-looking together (``api_key``, ``X-Api-Key``).
_SECRET_PAIRS: Final = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key")}
)
#: Header-like keys whose value in text runs to the end of the line.
_LINE_KEYS: Final = frozenset({"authorization", "cookie", "cookies"})

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT: Final = re.compile(r"[^a-z0-9]+")


def _words(key: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(_CAMEL.sub("_", key).lower()) if w]


def is_secret_key(key: str) -> bool:
    """Whether a key's value is a secret (``Authorization``, ``api_key``, ``x-api-key``...).

    >>> [is_secret_key(k) for k in ("Authorization", "apiKey", "access_token", "Set-Cookie")]
    [True, True, True, True]
    >>> [is_secret_key(k) for k in ("tokens_in", "max_tokens", "tokens_out_per_s", "author")]
    [False, False, False, False]
    """
    words = _words(key)
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def _is_line_key(key: str) -> bool:
    return any(w in _LINE_KEYS for w in _words(key))


# A credential in an HTTP auth scheme is a "token68" (RFC 7235).
_TOKEN68: Final = r"[A-Za-z0-9._~+/-]+=*"
_BEARER: Final = re.compile(rf"(?P<scheme>\bBearer\s+)(?P<cred>{_TOKEN68})", re.IGNORECASE)
_BASIC: Final = re.compile(rf"(?P<scheme>\bBasic\s+)(?P<cred>{_TOKEN68})", re.IGNORECASE)
# A plain word after "Bearer" is prose or a challenge parameter, not a token.
_PLAIN_WORD: Final = re.compile(r"[A-Za-z][a-z]*=*")
_OPENAI_KEY: Final = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{8,}")
_URL_USERINFO: Final = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s@:?#]*):(?P<pw>[^/\s@?#]*)@"
)
_QUERY_PARAM: Final = re.compile(
    r"(?P<lead>[?&;])(?P<key>[A-Za-z0-9_.-]+)=(?P<value>[^&#\s\"'<>]+)"
)
_KEY_VALUE: Final = re.compile(
    r"""(?<![A-Za-z0-9_.-])(?P<key>[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>["']?\s*[:=]\s*["']?)(?P<value>[^\s"',;&}\]]+)"""
)
_NUMBER: Final = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# The rest of a header line: up to the end of the line or a closing quote.
_LINE_VALUE: Final = re.compile(r"""[^\r\n"']+""")


def _bearer(m: re.Match[str]) -> str:
    if _PLAIN_WORD.fullmatch(m["cred"]):
        return m[0]
    return m["scheme"] + REDACTED


def _basic(m: re.Match[str]) -> str:
    cred = m["cred"]
    if len(cred) < 4 or len(cred) % 4:
        return m[0]
    try:
        decoded = base64.b64decode(cred, validate=True)
    except (binascii.Error, ValueError):
        return m[0]
    return m["scheme"] + REDACTED if b":" in decoded else m[0]


def _query(m: re.Match[str]) -> str:
    if is_secret_key(m["key"]) and m["value"] != REDACTED:
        return f"{m['lead']}{m['key']}={REDACTED}"
    return m[0]


def _key_values(text: str) -> str:
    out: list[str] = []
    pos = 0
    while (m := _KEY_VALUE.search(text, pos)) is not None:
        key, value = m["key"], m["value"]
        secret = is_secret_key(key) and not text.startswith(REDACTED, m.start("value"))
        # "token: 512" in an error message is a count, not a credential.
        if secret and _NUMBER.fullmatch(value) and "token" in _words(key):
            secret = False
        if not secret:
            # The value may itself start a "key: value" ("x=Authorization: ...").
            out.append(text[pos : m.start("value")])
            pos = m.start("value")
            continue
        end = m.end()
        if _is_line_key(key):
            line = _LINE_VALUE.match(text, m.start("value"))
            if line is not None:
                end = line.end()
        out.append(text[pos : m.start("value")])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


#: A known secret cut short at the end of an excerpt still goes when this much of it shows.
_MIN_CUT = 4
_ELLIPSES: Final = ("...", "\u2026")


def _literal(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
        for cut in range(len(secret) - 1, _MIN_CUT - 1, -1):
            for ellipsis in _ELLIPSES:
                text = text.replace(secret[:cut] + ellipsis, REDACTED + ellipsis)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret-shaped part, and each of ``secrets``, replaced.

    ``secrets`` are replaced literally first, whatever they look like (see
    the module docs).

    >>> redact_text("GET https://bob:hunter2@h/x?api_key=abc failed: Bearer eyJ0.e30.sig")
    'GET https://[redacted]@h/x?api_key=[redacted] failed: Bearer [redacted]'
    >>> redact_text("HTTP 401: bad key 'k3y-42'", secrets=["k3y-42"])
    "HTTP 401: bad key '[redacted]'"
    """
    if secrets:
        text = _literal(text, secrets)
    text = _URL_USERINFO.sub(lambda m: m["scheme"] + REDACTED + "@", text)
    text = _QUERY_PARAM.sub(_query, text)
    text = _BEARER.sub(_bearer, text)
    text = _BASIC.sub(_basic, text)
    text = _OPENAI_KEY.sub(REDACTED, text)
    return _key_values(text)


def header_secrets(headers: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The credentials in request headers: each secret-looking header's value.

    For ``Authorization: Bearer KEY`` both the value and ``KEY`` itself, so
    a body that echoes the key alone is caught too.

    >>> header_secrets({"Authorization": "Bearer sk-1", "Accept": "*/*", "X-Api-Key": "k"})
    ('Bearer sk-1', 'sk-1', 'k')
    """
    out: list[str] = []
    for name, raw in (headers or {}).items():
        if not isinstance(name, str) or not is_secret_key(name) or not isinstance(raw, str):
            continue
        value = raw.strip()
        if value:
            out.append(value)
        scheme, _, credential = value.partition(" ")
        credential = credential.strip()
        if scheme and credential:
            out.append(credential)
    return tuple(out)


def _value(value: Any, secret: bool) -> Any:
    """Copy ``value``; under a secret key (``secret``), every string in it is replaced."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return REDACTED if secret else redact_text(value)
    if isinstance(value, Mapping):
        return _mapping(value, secret)
    if isinstance(value, list | tuple):
        return [_value(v, secret) for v in value]
    return REDACTED if secret else value


def _mapping(value: Mapping[Any, Any], secret: bool = False) -> dict[Any, Any]:
    return {
        k: _value(v, secret or (isinstance(k, str) and is_secret_key(k))) for k, v in value.items()
    }


def redact(report: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``report`` (the JSON form) with its secrets replaced."""
    return _mapping(report)
