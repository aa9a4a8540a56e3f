"""Generic JSON endpoints and multipart uploads, parsed back with the standard library."""

from __future__ import annotations

import email.parser
import email.policy
import random
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import HttpRequest
from locust_ml.protocols.generic import JsonEndpoint, MultipartUpload, multipart_body


def parse_multipart(req: HttpRequest) -> EmailMessage:
    raw = f"Content-Type: {req.content_type}\r\n\r\n".encode() + req.body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert msg.is_multipart()
    assert not msg.defects, msg.defects
    return msg


def fields_of(msg: EmailMessage) -> dict[str, tuple[str | None, str | None, bytes]]:
    out = {}
    for part in msg.iter_parts():
        assert part.get_content_disposition() == "form-data"
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        ctype = part.get_content_type() if part.get("Content-Type") else None
        out[name] = (part.get_filename(), ctype, payload)
    return out


def test_multipart_upload_parses_back_with_email_parser() -> None:
    image = bytes(random.Random(7).getrandbits(8) for _ in range(5000)) + b"\r\n--\r\n"
    req = MultipartUpload("/classify", file_field="image").request(
        image, filename="cat.jpg", content_type="image/jpeg", fields={"top_k": "5", "lang": "fr"}
    )
    assert req.method == "POST"
    assert req.path == "/classify"
    assert req.content_type is not None
    assert req.content_type.startswith("multipart/form-data; boundary=locust-ml-")
    parts = fields_of(parse_multipart(req))
    assert parts == {
        "top_k": (None, None, b"5"),
        "lang": (None, None, b"fr"),
        "image": ("cat.jpg", "image/jpeg", image),
    }


def test_boundaries_are_random_and_fixed_ones_are_used() -> None:
    up = MultipartUpload("/u")
    assert up.request(b"x").content_type != up.request(b"x").content_type
    req = up.request(b"x", boundary="AaB03x")
    assert req.content_type == "multipart/form-data; boundary=AaB03x"
    assert req.body.startswith(b"--AaB03x\r\n")
    assert req.body.endswith(b"--AaB03x--\r\n")


def test_boundary_that_occurs_in_the_data_is_refused() -> None:
    with pytest.raises(ConfigError, match="occurs in the uploaded data"):
        multipart_body("f", b"...--AaB03x...", filename="a", content_type="x/y", boundary="AaB03x")
    with pytest.raises(ConfigError, match="1-70 characters"):
        multipart_body("f", b"", filename="a", content_type="x/y", boundary="has space ")


def test_quotes_and_line_breaks_in_names_are_escaped() -> None:
    body, _ = multipart_body(
        'fi"le', b"x", filename='a"b\r\nc.txt', content_type="text/plain", boundary="b"
    )
    assert b'name="fi%22le"; filename="a%22b%0D%0Ac.txt"' in body


@settings(max_examples=40, deadline=None, derandomize=True)
@given(content=st.binary(max_size=2000), value=st.text(max_size=30))
def test_any_content_round_trips(content: bytes, value: str) -> None:
    req = MultipartUpload("/u").request(content, fields={"note": value})
    parts = fields_of(parse_multipart(req))
    assert parts["file"][2] == content
    assert parts["note"][2] == value.encode()


def test_json_endpoint_request_and_check() -> None:
    def has_label(doc: Any) -> str | None:
        return None if doc["label"] in ("pos", "neg") else f"unexpected label {doc['label']!r}"

    ep = JsonEndpoint("/predict", headers={"X-Api-Key": "secret"}, check=has_label)
    req = ep.request({"text": "good"})
    assert (req.method, req.content_type, req.body) == (
        "POST",
        "application/json",
        b'{"text":"good"}',
    )
    assert "secret" not in repr(req)
    assert ep.parse(200, {}, b'{"label": "pos"}').outputs == {"label": "pos"}
    assert ep.parse(200, {}, b'{"label": "meh"}').error == "unexpected label 'meh'"
    assert ep.parse(200, {}, b"{}").error == "check failed: KeyError: 'label'"
    assert (
        ep.parse(200, {}, b"[1]").error
        == "check failed: TypeError: list indices must be integers or slices, not str"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty body"),
        (b"OK", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
    ],
)
def test_json_endpoint_needs_json(body: bytes, fragment: str) -> None:
    r = JsonEndpoint("/p").parse(200, {}, body)
    assert (r.ok, r.error_class) == (False, "invalid")
    assert fragment in (r.error or "")


def test_check_bugs_propagate() -> None:
    def buggy(doc: Any) -> None:
        raise RuntimeError("bug in the check")

    with pytest.raises(RuntimeError, match="bug in the check"):
        JsonEndpoint("/p", check=buggy).parse(200, {}, b"{}")


def test_multipart_answers_may_be_text() -> None:
    up = MultipartUpload("/u", check=lambda text: "cat" in text)
    assert up.parse(200, {"Content-Type": "text/plain"}, b"a cat").text == "a cat"
    assert not up.parse(200, {}, b"a dog").ok
    fail = up.parse(500, {}, b"Internal Server Error")
    assert (fail.error_class, fail.error) == ("server_error", "HTTP 500: 'Internal Server Error'")
