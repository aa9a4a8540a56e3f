"""What the server's routes share, and the model's cold start.

:class:`ServerState` holds the config, metrics and backend of one app, and
tracks readiness: the model loads in the background after the socket is bound
(the app's lifespan starts :meth:`ServerState.load`), and the server is ready
only once both the build is done and ``--load-seconds`` have passed since
loading began. Until then health checks and inference answer 503 with a
``Retry-After`` of the seconds left.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from locust_ml.server.config import ServerConfig
from locust_ml.server.generation import Backend
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.prefix_cache import Match, PrefixCache

__all__ = ["ServerState"]

log = logging.getLogger("locust_ml.server")


class ServerState:
    """What the routes share: config, metrics, backend, prefix cache, readiness.

    Exposed as ``app.state.server`` so tests can look at the backend's queue.
    """

    def __init__(
        self,
        config: ServerConfig,
        metrics: ServerMetrics,
        backend: Backend,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.backend = backend
        self.prefix_cache = PrefixCache(config.prefix_cache_blocks)
        self.clock = clock
        self.ready = False
        self.load_started = clock()
        self.created = int(time.time())

    async def load(self) -> None:
        """Build the model, honour ``load_seconds``, then start serving."""
        self.load_started = t0 = self.clock()
        try:
            await asyncio.to_thread(self.backend.load)
        except Exception:
            log.exception("model failed to load; the server stays not ready")
            return
        remaining = t0 + self.config.load_seconds - self.clock()
        if remaining > 0:
            await asyncio.sleep(remaining)
        self.backend.start(asyncio.get_running_loop())
        self.ready = True
        self.metrics.model_load_seconds.set(self.clock() - t0)
        self.metrics.ready.set(1)

    def admitted(self, match: Match) -> None:
        """A request whose prompt ``match`` describes was admitted: store and count it."""
        self.prefix_cache.commit(match)
        self.metrics.prefix_cache_queries.inc(match.tokens)
        if match.cached:
            self.metrics.prefix_cache_hits.inc(match.cached)

    def loading_retry_after(self) -> int:
        left = self.load_started + self.config.load_seconds - self.clock()
        return max(1, math.ceil(left))
