from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.report.html import render_html
from locust_ml.report.json import render_json, report_to_dict
from locust_ml.report.markdown import render_markdown
from locust_ml.report.model import RunReport
from locust_ml.report.plots import timeseries_svg
from locust_ml.report.redact import (
    REDACTED,
    header_secrets,
    is_secret_key,
    redact,
    redact_text,
)
from locust_ml.report.steps_csv import render_steps_csv
from tests.report_fixtures import fixture, fixture_json

#: Every secret planted in hostile.json, in the forms a leak would show.
SECRETS = (
    "hunter2",
    "YWRtaW46aHVudGVyMg==",
    "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "sk-live-0123456789abcdefghij",
    "sk-abcdefghijklmnopqrstuvwx",
    "sk-ABCDEFGHIJKLMNOP0123",
    "abc123secret",
    "k-12345",
    "deadbeef",
)


load = fixture_json


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "authorization",
        "Proxy-Authorization",
        "api_key",
        "apiKey",
        "APIKEY",
        "X-Api-Key",
        "token",
        "access_token",
        "refreshToken",
        "password",
        "db_password",
        "client_secret",
        "secrets",
        "Cookie",
        "Set-Cookie",
        "credentials",
        "private_key",
        "aws_secret_access_key",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "tokens_in",
        "tokens_out",
        "tokens_out_per_s",
        "max_tokens",
        "output_tokens",
        "author",
        "authenticated_users",
        "key",
        "keys",
        "latency_ms",
        "name",
        "target",
        "passed",
    ],
)
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_values_under_secret_keys_are_replaced_but_numbers_are_not() -> None:
    report = {
        "headers": {"Authorization": "Token abc", "X-Api-Key": "k1", "Accept": "text/plain"},
        "token": 17,
        "api_key": None,
        "password": True,
        "tokens_in": 4242,
        "tokens_out": 1717,
        "max_tokens": 256,
        "cookie": {"session": "abc"},
        "secrets": ["a", "b"],
    }
    assert redact(report) == {
        "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "text/plain"},
        "token": 17,
        "api_key": None,
        "password": True,
        "tokens_in": 4242,
        "tokens_out": 1717,
        "max_tokens": 256,
        "cookie": {"session": REDACTED},
        "secrets": [REDACTED, REDACTED],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bearer eyJhbGciOi.eyJzdWIiOiIx.c2ln", "Bearer [redacted]"),
        ("authorization: bearer abcd1234efgh", "authorization: [redacted]"),
        ("missing Bearer token", "missing Bearer token"),
        ('WWW-Authenticate: Bearer realm="api"', 'WWW-Authenticate: Bearer realm="api"'),
        ("Basic dXNlcjpwYXNz", "Basic [redacted]"),
        ("Basic training for staff", "Basic training for staff"),
        ("key sk-proj-abcdefghijklmnop1234 used", "key [redacted] used"),
        ("uses sk-learn", "uses sk-learn"),
        ("https://bob:pw@host:8000/v1", "https://[redacted]@host:8000/v1"),
        ("http://host/v1?api_key=abc&x=1", "http://host/v1?api_key=[redacted]&x=1"),
        ("GET /v1?model=m&access_token=zz9", "GET /v1?model=m&access_token=[redacted]"),
        ("https://user@host/x", "https://user@host/x"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": "[redacted]", "user": "bob"}'),
        ("Authorization: Token abc def\nnext", "Authorization: [redacted]\nnext"),
        ("Cookie: a=b; c=d", "Cookie: [redacted]"),
        ("prompt token: 4096 too long", "prompt token: 4096 too long"),
        ("password=1234", "password=[redacted]"),
        ("max_tokens=256 tokens_out=12", "max_tokens=256 tokens_out=12"),
        ("plain text, p99<500ms", "plain text, p99<500ms"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_a_real_report_has_nothing_to_redact() -> None:
    """Precision: a real run's report (URLs, token counts, telemetry) comes back unchanged."""
    report = load("ramp_open_loop")
    assert redact(report) == report


def test_redact_returns_a_deep_copy_and_leaves_the_input() -> None:
    report = load("hostile")
    report["run"]["headers"] = {"Authorization": "Bearer sk-proj-ABCDEFGH", "Cookie": "a=b"}
    before = copy.deepcopy(report)
    out = redact(report)
    assert report == before
    assert out["steps"][0] is not report["steps"][0]
    assert out["run"]["headers"] == {"Authorization": REDACTED, "Cookie": REDACTED}
    assert out["totals"]["endpoints"][0]["tokens_in"] == 4242


def _leaky() -> RunReport:
    """The hostile fixture with a secret in every text the writers show besides."""
    report = fixture("hostile")
    key = "Bearer sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    steps = tuple(replace(s, label=f"step {key}") for s in report.steps)
    verdict = replace(report.verdict, reasons=(f"reason {key}",), warnings=(f"warn {key}",))
    return replace(report, steps=steps, verdict=verdict, notes=(*report.notes, f"note {key}"))


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(render_html, id="html"),
        pytest.param(render_markdown, id="markdown"),
        pytest.param(render_steps_csv, id="csv"),
        pytest.param(render_json, id="json"),
        pytest.param(timeseries_svg, id="plot"),
    ],
)
def test_no_writer_output_contains_a_secret(writer: Callable[[RunReport], str | None]) -> None:
    report = _leaky()
    raw = json.dumps(report_to_dict(report))
    assert all(s in raw for s in SECRETS)  # the report does carry them
    out = writer(report)
    assert out is not None
    leaked = [s for s in SECRETS if s in out]
    assert not leaked, f"secrets in the output: {leaked}"
    assert "Bearer sk" not in out
    assert REDACTED in out.replace("\\", "")  # Markdown escapes its brackets


def test_writers_redact_as_they_serialize_and_leave_the_report_alone() -> None:
    report = _leaky()
    render_json(report)
    render_html(report)
    assert "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ" in report.notes[-1]


_PIECES = [*"abkpsAB19:=/@?&;- .\"'\n", "Bearer ", "Basic ", "sk-", "token", "://", "password"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_TEXT)
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(["token", "api_key", "tokens_in", "x"]), children)
        ),
        max_leaves=10,
    )
)
def test_numbers_are_never_touched(value: Any) -> None:
    assert redact({"v": value}) == {"v": value}


def test_short_openai_style_keys_are_caught_by_shape() -> None:
    # Issue 13: "sk-test-SECRET123" was shorter than the pattern (16 characters after sk-).
    assert redact_text("Incorrect API key provided: sk-test-SECRET123.") == (
        "Incorrect API key provided: [redacted]."
    )
    assert redact_text("uses sk-learn") == "uses sk-learn"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("bad key k3y-42 sent", ["k3y-42"], "bad key [redacted] sent"),
        ("key 'x' and x", ["x"], "key '[redacted]' and [redacted]"),
        (
            "said 'Bearer opensesame42'",
            ["Bearer opensesame42", "opensesame42"],
            "said '[redacted]'",
        ),
        (
            "body 'Incorrect key: opensesa...'",
            ["opensesame42"],
            "body 'Incorrect key: [redacted]...'",
        ),
        ("body ends: ope...", ["opensesame42"], "body ends: ope..."),  # 3 characters say nothing
        ("nothing here", ["", "zzz"], "nothing here"),
    ],
)
def test_known_secrets_are_replaced_literally_whatever_they_look_like(
    text: str, secrets: list[str], expected: str
) -> None:
    assert redact_text(text, secrets) == expected


def test_header_secrets_reads_the_credentials_sent() -> None:
    headers = {
        "Authorization": "Bearer opensesame42",
        "x-api-key": " k ",
        "Content-Type": "application/json",
        "Accept": "*/*",
    }
    assert header_secrets(headers) == ("Bearer opensesame42", "opensesame42", "k")
    assert header_secrets(None) == ()
