"""The reference inference server: a real target for load tests.

An OpenAI-compatible API (chat and text completions, streaming included) in
front of one of two backends: a real CPU summarizer with continuous batching,
or a simulated model with an exact service-time formula whose capacity is known
in closed form. See ``docs/reference-server.md``.

Only :mod:`~locust_ml.server.config` is imported eagerly (the CLI builds its
``--help`` from it without FastAPI or numpy); ``create_app`` and ``serve`` load
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from locust_ml.lazy import lazy_exports
from locust_ml.server.config import ServerConfig, saturation_rps, unloaded_latency_ms

if TYPE_CHECKING:
    from locust_ml.server.app import create_app
    from locust_ml.server.run import serve

__all__ = ["ServerConfig", "create_app", "saturation_rps", "serve", "unloaded_latency_ms"]


__getattr__, __dir__ = lazy_exports(
    __name__, {"create_app": "locust_ml.server.app", "serve": "locust_ml.server.run"}
)
