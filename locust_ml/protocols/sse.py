"""An incremental server-sent-events decoder: bytes in, whole events out.

Streams arrive in network reads that cut anywhere: inside a line, between a
``\\r`` and its ``\\n``, inside a multi-byte UTF-8 character. This decoder
keeps the unfinished tail between :meth:`SseDecoder.feed` calls and returns
each event once its terminating blank line has arrived, so an event is
"received" when the client could first have acted on it. It follows the
WHATWG HTML "server-sent events" parsing rules:

* lines end with ``\\r\\n``, ``\\n`` or a lone ``\\r``; a ``\\r`` that ends a read
  ends its line at once, and a ``\\n`` starting the next read is then skipped;
* a line starting with ``:`` is a comment (servers send them as keep-alives);
* ``field: value`` with at most one space after the colon removed; ``data``
  lines of one event are joined with ``\\n``; ``event`` names the event;
  ``id``, ``retry`` and unknown fields are ignored (the first unknown line is
  kept, to explain a body that was not SSE at all);
* a blank line ends the event; an event without ``data`` lines is dropped;
* a leading UTF-8 byte-order mark is skipped.

It knows nothing about OpenAI or JSON; :mod:`.openai` gives events a meaning.
Lines longer than ``max_line_bytes`` raise :class:`SseError` rather than
buffering a garbage body without bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_MAX_LINE_BYTES", "SseDecoder", "SseError", "SseEvent"]

#: Longest line (one ``data:`` payload) accepted before the stream counts as garbage.
DEFAULT_MAX_LINE_BYTES: Final = 8 * 1024 * 1024

_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"


class SseError(ValueError):
    """The byte stream cannot be an SSE stream (an overlong line)."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its ``event`` name (``""`` if none) and joined ``data``."""

    name: str
    data: bytes


class SseDecoder:
    """Feed bytes with :meth:`feed`; get the events each read completed.

    >>> d = SseDecoder()
    >>> d.feed(b"data: a\\r\\n\\r\\n: keep-alive\\n\\ndata: b")
    [SseEvent(name='', data=b'a')]
    >>> d.feed(b"\\n\\n"), d.pending
    ([SseEvent(name='', data=b'b')], False)
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buf = bytearray()
        self._data: list[bytes] = []
        self._name = b""
        self._fields = 0
        self._started = False
        self._after_cr = False
        self.comments = 0
        """Comment lines seen (keep-alives)."""
        self.stray_line: bytes | None = None
        """The first line that was neither a known field nor a comment."""

    @property
    def pending(self) -> bool:
        """Whether an event has begun (bytes or fields) but not been dispatched."""
        return bool(self._buf) or self._fields > 0

    @property
    def tail(self) -> bytes:
        """The unfinished bytes, for an error message."""
        return bytes(self._buf)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Consume one read; return the events it completed, in order."""
        if self._after_cr and chunk:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]  # the \n of a \r\n split across reads
        buf = self._buf
        scan = len(buf)  # the old tail holds no line end
        buf += chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(bytes(buf)):
                return []
            self._started = True
            if buf.startswith(_BOM):
                del buf[: len(_BOM)]
                scan = 0
        events: list[SseEvent] = []
        start = 0
        while (m := _LINE_END.search(buf, scan)) is not None:
            self._line(bytes(buf[start : m.start()]), events)
            start = scan = m.end()
        if start:
            self._after_cr = start == len(buf) and buf[start - 1] == 0x0D
        del buf[:start]
        if len(buf) > self.max_line_bytes:
            raise SseError(f"an SSE line exceeds {self.max_line_bytes} bytes")
        return events

    def _line(self, line: bytes, events: list[SseEvent]) -> None:
        if not line:
            if self._data:
                events.append(
                    SseEvent(self._name.decode("utf-8", "replace"), b"\n".join(self._data))
                )
            self._data = []
            self._name = b""
            self._fields = 0
            return
        if line[0] == 0x3A:  # ":"
            self.comments += 1
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        self._fields += 1
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._name = value
        elif name not in (b"id", b"retry") and self.stray_line is None:
            self.stray_line = line
