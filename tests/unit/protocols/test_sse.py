"""The incremental SSE decoder: line endings, fields, comments, splits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.protocols.sse import SseDecoder, SseError, SseEvent


def decode(*reads: bytes) -> list[SseEvent]:
    d = SseDecoder()
    return [e for r in reads for e in d.feed(r)]


def test_lf_crlf_and_lone_cr_line_ends() -> None:
    expected = [SseEvent("", b"a"), SseEvent("", b"b"), SseEvent("", b"c")]
    assert decode(b"data: a\n\ndata: b\r\n\r\ndata: c\r\r") == expected


def test_a_cr_ending_a_read_ends_its_line_at_once() -> None:
    d = SseDecoder()
    assert d.feed(b"data: a\r\n\r") == [SseEvent("", b"a")]  # dispatched without waiting
    assert d.feed(b"\n") == []  # the \n of the split \r\n, skipped
    assert d.feed(b"") == []
    assert d.feed(b"\ndata: b\n\n") == [SseEvent("", b"b")]  # a real blank line: no event


def test_multi_line_data_event_names_and_ignored_fields() -> None:
    body = b"event: error\nid: 7\nretry: 100\ndata: line one\ndata:line two\n\n"
    assert decode(body) == [SseEvent("error", b"line one\nline two")]


def test_comments_are_counted_and_events_without_data_dropped() -> None:
    d = SseDecoder()
    assert d.feed(b": ping\n\nid: 3\n\n:\n\n") == []
    assert d.comments == 2
    assert not d.pending


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode(b"data:  two spaces\n\ndata\n\n") == [
        SseEvent("", b" two spaces"),
        SseEvent("", b""),
    ]


def test_a_leading_bom_is_skipped_even_split() -> None:
    assert decode(b"\xef", b"\xbb\xbfdata: x\n\n") == [SseEvent("", b"x")]


def test_stray_lines_are_remembered_for_messages() -> None:
    d = SseDecoder()
    d.feed(b'{"not": "sse"}\n')
    assert d.stray_line == b'{"not": "sse"}'
    assert d.pending


def test_overlong_line_raises() -> None:
    d = SseDecoder(max_line_bytes=10)
    with pytest.raises(SseError, match="exceeds 10 bytes"):
        d.feed(b"data: 0123456789")


# Every line end followed by a blank line's end, except "\r" + "\n", which is one CRLF.
_EVENT_ENDS = [
    a + b
    for a in (b"\n", b"\r\n", b"\r")
    for b in (b"\n", b"\r\n", b"\r")
    if (a, b) != (b"\r", b"\n")
]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    events=st.lists(
        st.binary(min_size=0, max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b),
        max_size=6,
    ),
    ends=st.lists(st.sampled_from(_EVENT_ENDS), min_size=6, max_size=6),
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
def test_events_survive_any_split_and_line_ending(
    events: list[bytes], ends: list[bytes], cuts: list[int]
) -> None:
    body = b""
    for i, data in enumerate(events):
        body += b"data: " + data + ends[i]
    bounds = sorted({min(c, len(body)) for c in cuts})
    reads = [body[a:b] for a, b in zip([0, *bounds], [*bounds, len(body)], strict=True)]
    assert decode(*reads) == [SseEvent("", d) for d in events]
