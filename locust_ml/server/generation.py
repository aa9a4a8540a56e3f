"""The contract between the HTTP layer and a model backend.

The HTTP layer turns an OpenAI-style request into a :class:`GenerationRequest`
and submits it to a :class:`Backend`, which answers with a :class:`Generation`
handle. The backend then delivers events to the handle, always in this order::

    Started (queue time, batch size)
    Token* (one per generated token, only for streaming requests)
    Finished (full text, counts, timings)   or   Failed (status, message)

Events are delivered on the event loop's thread: a backend that runs in another
thread hands them over with ``loop.call_soon_threadsafe(deliver_all, items)``,
batched per model step so that a decode step of 16 sequences costs one wake-up
of the loop, not 16.

A handle can be cancelled from the loop (client gone, request timed out); the
backend then drops it from its waiting queue at once, or from its running batch
at the next step, so a dead request never holds a slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from locust_ml.server.tokens import token_pieces

__all__ = [
    "Backend",
    "Event",
    "Failed",
    "Finished",
    "Generation",
    "GenerationRequest",
    "Plan",
    "QueueFull",
    "Started",
    "Token",
    "deliver_all",
]


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate, independent of the API shape it came in.

    ``prompt_tokens`` is the whole prompt (every chat message); prefill runs
    over those after the first ``cached_tokens``, which the prefix cache
    held (:mod:`~locust_ml.server.prefix_cache`). ``source_text`` is the text
    to summarize (the user messages, or the completion prompt).
    """

    prompt_tokens: tuple[str, ...]
    source_text: str
    max_tokens: int
    min_tokens: int = 0
    ignore_eos: bool = False
    stream: bool = False
    cached_tokens: int = 0

    @property
    def uncached_tokens(self) -> int:
        """Prompt tokens prefill has to compute."""
        return len(self.prompt_tokens) - self.cached_tokens


@dataclass(frozen=True)
class Plan:
    """What a backend will generate for one request, decided when it is admitted.

    ``pieces[i]`` is ``tokens[i]`` with the whitespace that precedes it in the
    joined text; ``finish_reason`` is ``"stop"`` (natural end) or ``"length"``
    (``max_tokens`` reached).
    """

    tokens: tuple[str, ...]
    pieces: tuple[str, ...]
    finish_reason: str

    @classmethod
    def of(cls, tokens: Sequence[str], finish_reason: str) -> Plan:
        """A plan for ``tokens``, with their pieces computed."""
        return cls(tuple(tokens), tuple(token_pieces(tokens)), finish_reason)

    @property
    def text(self) -> str:
        """The generated text: the pieces concatenated."""
        return "".join(self.pieces)


@dataclass(frozen=True)
class Started:
    """The request left the waiting queue and joined a batch of ``batch_size``."""

    queue_s: float
    batch_size: int


@dataclass(frozen=True)
class Token:
    """One generated token: its text piece (with leading space), and on the last
    token the finish reason."""

    text: str
    finish_reason: str | None = None


@dataclass(frozen=True)
class Finished:
    """Generation is complete. ``batch_size`` is the largest batch it shared."""

    text: str
    completion_tokens: int
    finish_reason: str
    queue_s: float
    inference_s: float
    batch_size: int


@dataclass(frozen=True)
class Failed:
    """The backend gave up on the request (shutting down, say)."""

    status: int
    message: str
    code: str


Event = Started | Token | Finished | Failed


class QueueFull(Exception):
    """The waiting queue is at its limit; the request must be shed."""

    def __init__(self, depth: int, retry_after_s: int) -> None:
        super().__init__(f"waiting queue full ({depth} requests)")
        self.depth = depth
        self.retry_after_s = retry_after_s


class Generation:
    """Handle on one submitted request: its events, and a way to cancel it.

    Created and consumed on the event loop's thread. ``arrival`` is the
    backend clock's time at submission (``time.monotonic`` unless injected).
    """

    def __init__(self, request: GenerationRequest, arrival: float) -> None:
        self.request = request
        self.arrival = arrival
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._cancelled = False
        self._done = False
        self.on_cancel: Callable[[Generation], None] | None = None

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called; read by backend threads each step."""
        return self._cancelled

    @property
    def done(self) -> bool:
        """True once a Finished or Failed event was delivered."""
        return self._done

    def cancel(self) -> None:
        """Give up on the request: drop it from the queue or from its batch."""
        if self._cancelled or self._done:
            return
        self._cancelled = True
        if self.on_cancel is not None:
            self.on_cancel(self)

    def deliver(self, event: Event) -> None:
        """Queue ``event`` for the consumer; call on the event loop's thread."""
        if isinstance(event, Finished | Failed):
            self._done = True
        self._events.put_nowait(event)

    async def next_event(self) -> Event:
        """Wait for the next event."""
        return await self._events.get()

    def poll(self) -> Event | None:
        """The next event if one is queued already, else None (no waiting)."""
        try:
            return self._events.get_nowait()
        except asyncio.QueueEmpty:
            return None


def deliver_all(items: Iterable[tuple[Generation, Event]]) -> None:
    """Deliver a step's worth of events (the target of ``call_soon_threadsafe``)."""
    for gen, event in items:
        gen.deliver(event)


class Backend(Protocol):
    """A model behind the API: loads, schedules requests into batches, runs them."""

    def load(self) -> None:
        """Build the model (weights...). Blocking; the app calls it in a thread."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start scheduling; events are delivered on ``loop``."""

    async def stop(self) -> None:
        """Stop scheduling; every pending request gets a Failed event."""

    def submit(self, request: GenerationRequest) -> Generation:
        """Queue a request; raise :class:`QueueFull` when the queue is at its limit."""

    def retry_after_s(self) -> int:
        """Whole seconds (>= 1) a shed client should wait: the queue's drain time."""

    @property
    def waiting(self) -> int:
        """Requests in the waiting queue now."""

    @property
    def running(self) -> int:
        """Requests in a running batch now."""

    @property
    def peak_waiting(self) -> int:
        """The most requests ever in the waiting queue at once."""
