"""Model backends of the reference server, and the factory that picks one.

- ``summarizer``: a real extractive summarizer (TextRank) whose cost is a dense
  numpy model, scheduled by continuous batching in a model thread.
- ``simulated``: no model; dynamic batching with an exact service-time model
  ``base_ms + per_item_ms * batch_size``, so its capacity is known in closed form.

Backends are imported lazily so that the simulated one never loads numpy's
model code.
"""

from __future__ import annotations

from locust_ml.server.config import ServerConfig
from locust_ml.server.generation import Backend
from locust_ml.server.metrics import ServerMetrics

__all__ = ["build_backend"]


def build_backend(config: ServerConfig, metrics: ServerMetrics) -> Backend:
    """The backend ``config.backend`` names, not yet loaded or started."""
    if config.backend == "simulated":
        from locust_ml.server.models.simulated import SimulatedBackend

        return SimulatedBackend(config, metrics)
    from locust_ml.server.models.summarizer import build_summarizer_backend

    return build_summarizer_backend(config, metrics)
