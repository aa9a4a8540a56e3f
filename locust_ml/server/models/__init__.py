"""Model backends of the reference server, and the factories that pick one.

- ``summarizer``: a real extractive summarizer (TextRank) whose cost is a dense
  numpy model, scheduled by continuous batching in a model thread.
- ``simulated``: no model; dynamic batching with an exact service-time model
  ``base_ms + per_item_ms * batch_size``, so its capacity is known in closed form.
- ``image-classifier``: JPEG/PNG decoding and a numpy CNN whose cost grows with
  the pixels; dynamic batching over worker-thread instances
  (:mod:`~locust_ml.server.oneshot`), served over the Open Inference Protocol v2.
- ``speech``: WAV/FLAC decoding, a log-mel spectrogram and a numpy network whose
  cost grows with the duration; batched and served like the image classifier.

Backends are imported lazily so that the simulated one never loads numpy's
model code, and a missing optional package (Pillow, soundfile) only affects the
backend that needs it.
"""

from __future__ import annotations

from typing import Any

from locust_ml.errors import require_extra
from locust_ml.server.config import ServerConfig
from locust_ml.server.generation import Backend
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.oneshot import OneShotBatcher, OneShotModel

__all__ = ["build_backend", "build_oneshot_backend"]


def build_backend(config: ServerConfig, metrics: ServerMetrics) -> Backend:
    """The text backend ``config.backend`` names, not yet loaded or started."""
    if config.backend == "simulated":
        from locust_ml.server.models.simulated import SimulatedBackend

        return SimulatedBackend(config, metrics)
    from locust_ml.server.models.summarizer import build_summarizer_backend

    return build_summarizer_backend(config, metrics)


def build_oneshot_backend(config: ServerConfig, metrics: ServerMetrics) -> OneShotBatcher[Any]:
    """The one-shot model ``config.backend`` names, behind a dynamic batcher.

    Raises :class:`~locust_ml.errors.DependencyError` when the model's decoder
    (Pillow for images, soundfile for FLAC) is not installed.
    """
    model: OneShotModel[Any]
    if config.backend == "image-classifier":
        require_extra("PIL", "server")
        from locust_ml.server.models.image_classifier import ImageClassifier

        model = ImageClassifier(
            seed=config.seed, max_pixels=config.max_image_pixels, metrics=metrics
        )
    elif config.backend == "speech":
        require_extra("soundfile", "server")
        from locust_ml.server.models.speech import SpeechModel

        model = SpeechModel(seed=config.seed, max_seconds=config.max_audio_seconds, metrics=metrics)
    else:
        raise ValueError(f"{config.backend!r} is not a one-shot backend")
    return OneShotBatcher(
        model,
        max_batch_size=config.max_batch_size,
        max_queue_delay_s=config.max_queue_delay_ms / 1000.0,
        queue_limit=config.queue_limit,
        instances=config.instances,
        metrics=metrics,
    )
