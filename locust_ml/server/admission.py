"""Admission control: the bounded FIFO of requests waiting for a batch.

Both backends queue requests here between arrival and the start of their batch.
The limit counts only *waiting* requests, not running ones: it bounds how much
queueing delay the server will accept before it sheds load. A request that
arrives to a full queue is refused at once (the HTTP layer answers 503 with a
``Retry-After``) rather than queued behind work it would time out waiting for;
that is what keeps an overloaded server's latency bounded and its memory flat.

The queue is shared between the event loop (which submits and cancels) and,
for the summarizer, the model thread (which takes), so every operation holds a
lock; waiting on it is done with a :class:`threading.Condition` by a thread, or
by an asyncio task that the ``on_put`` callback wakes up.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from locust_ml.server.generation import Generation

__all__ = ["WaitingQueue"]


class WaitingQueue:
    """Bounded FIFO of :class:`Generation` handles, safe to share with one thread.

    ``on_depth`` is called with the new depth after every change (under the
    lock, so calls are in order); ``on_put`` after every successful ``put``, on
    the putting thread. ``full_error`` builds the exception ``put`` raises.
    """

    def __init__(
        self,
        limit: int,
        *,
        full_error: Callable[[int], Exception],
        on_depth: Callable[[int], None] | None = None,
        on_put: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self._full_error = full_error
        self._on_depth = on_depth
        self._on_put = on_put
        self._items: deque[Generation] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._peak = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def peak(self) -> int:
        """The largest depth ever reached."""
        return self._peak

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def put(self, gen: Generation) -> None:
        """Append ``gen``; raise ``full_error(depth)`` if the queue is at its limit."""
        with self._cond:
            depth = len(self._items)
            if depth >= self.limit or self._closed:
                raise self._full_error(depth)
            self._items.append(gen)
            gen.on_cancel = self.discard
            self._peak = max(self._peak, depth + 1)
            self._changed()
            self._cond.notify_all()
        if self._on_put is not None:
            self._on_put()

    def discard(self, gen: Generation) -> None:
        """Remove ``gen`` if it is still waiting (a cancelled request)."""
        with self._cond:
            try:
                self._items.remove(gen)
            except ValueError:
                return
            self._changed()

    def take(self, n: int) -> list[Generation]:
        """Remove and return up to ``n`` requests, oldest first."""
        with self._cond:
            out: list[Generation] = []
            while self._items and len(out) < n:
                gen = self._items.popleft()
                gen.on_cancel = None
                out.append(gen)
            if out:
                self._changed()
            return out

    def oldest_arrival(self) -> float | None:
        """Arrival time of the oldest waiting request, or None when empty."""
        with self._cond:
            return self._items[0].arrival if self._items else None

    def wait(self, timeout: float | None) -> None:
        """Block the calling thread until a put, a close, or ``timeout`` seconds."""
        with self._cond:
            if not self._closed:
                self._cond.wait(timeout)

    def wait_nonempty(self) -> bool:
        """Block until a request waits or the queue is closed; False when closed."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            return not self._closed

    def close(self) -> list[Generation]:
        """Refuse further puts, wake every waiter, and return what was waiting."""
        with self._cond:
            self._closed = True
            rest = list(self._items)
            self._items.clear()
            for gen in rest:
                gen.on_cancel = None
            self._changed()
            self._cond.notify_all()
            return rest

    def _changed(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self._items))
