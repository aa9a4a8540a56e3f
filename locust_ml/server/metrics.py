"""Prometheus metrics of the reference server.

Every app gets its own :class:`~prometheus_client.CollectorRegistry` (never the
process-global default), so tests can build many apps in one process and a
scrape shows only this server. Names follow Prometheus conventions: snake_case,
base units (seconds), ``_total`` on counters (the client library appends it).

What a load test reads here, and why:

- ``locust_ml_server_queue_depth`` / ``locust_ml_server_running_requests``: where
  the requests are right now; queue depth rising while running stays at the
  batch limit is the signature of saturation.
- ``locust_ml_server_batch_size``: how full batches are; for the continuous
  batcher one observation per decode step (sequences in that step), for the
  simulated backend one per batch.
- ``locust_ml_server_inference_seconds``: execution time of a batch (simulated)
  or of one model iteration, prefill of newly admitted requests included
  (summarizer).
- ``locust_ml_server_queue_seconds``: per-request time from arrival to the
  start of its batch.
- ``locust_ml_server_requests_total{endpoint,code}``: every HTTP answer, so
  shed load (503) and timeouts (504) are visible server-side. Open Inference
  Protocol paths are labelled by their template
  (``/v2/models/{model}/infer``), so the label's values stay bounded.
- ``locust_ml_server_prefix_cache_queries_total`` and
  ``locust_ml_server_prefix_cache_hits_total``: prompt tokens looked up in the
  prefix cache and found there (vLLM's ``prefix_cache_queries``/``_hits``);
  hits over queries is the token hit rate.
- ``locust_ml_server_input_bytes_total``, ``locust_ml_server_image_pixels_total``,
  ``locust_ml_server_audio_seconds_total``: the size of the work the one-shot
  models (image classifier, speech) were given, whose cost grows with it;
  dividing by requests gives the mean input size the load test actually sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServerMetrics", "batch_size_buckets"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def batch_size_buckets(max_batch_size: int) -> tuple[float, ...]:
    """Bucket bounds 1, 2, 4, ... up to and including ``max_batch_size``."""
    bounds: list[float] = []
    b = 1
    while b < max_batch_size:
        bounds.append(float(b))
        b *= 2
    bounds.append(float(max_batch_size))
    return tuple(bounds)


@dataclass(frozen=True)
class ServerMetrics:
    """The server's metric objects, all registered in ``registry``."""

    registry: CollectorRegistry
    requests: Counter
    queue_depth: Gauge
    running: Gauge
    batch_size: Histogram
    inference_seconds: Histogram
    queue_seconds: Histogram
    prompt_tokens: Counter
    generation_tokens: Counter
    prefix_cache_queries: Counter
    prefix_cache_hits: Counter
    ready: Gauge
    model_load_seconds: Gauge
    input_bytes: Counter
    image_pixels: Counter
    audio_seconds: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry, *, max_batch_size: int) -> ServerMetrics:
        """Create and register every metric in ``registry``."""
        p = "locust_ml_server_"
        return cls(
            registry=registry,
            requests=Counter(
                p + "requests",
                "HTTP requests answered, by endpoint and status code.",
                ["endpoint", "code"],
                registry=registry,
            ),
            queue_depth=Gauge(
                p + "queue_depth",
                "Requests waiting for a batch (not yet running).",
                registry=registry,
            ),
            running=Gauge(
                p + "running_requests",
                "Requests in a running batch.",
                registry=registry,
            ),
            batch_size=Histogram(
                p + "batch_size",
                "Requests per executed batch (per decode step for continuous batching).",
                buckets=batch_size_buckets(max_batch_size),
                registry=registry,
            ),
            inference_seconds=Histogram(
                p + "inference_seconds",
                "Execution time of one batch or one model iteration (prefill + decode step).",
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            queue_seconds=Histogram(
                p + "queue_seconds",
                "Time from a request's arrival to the start of its batch.",
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            prompt_tokens=Counter(
                p + "prompt_tokens",
                "Prompt tokens of requests admitted to a batch.",
                registry=registry,
            ),
            generation_tokens=Counter(
                p + "generation_tokens",
                "Tokens generated.",
                registry=registry,
            ),
            prefix_cache_queries=Counter(
                p + "prefix_cache_queries",
                "Prompt tokens looked up in the prefix cache (every admitted prompt's).",
                registry=registry,
            ),
            prefix_cache_hits=Counter(
                p + "prefix_cache_hits",
                "Prompt tokens found in the prefix cache (not prefilled again).",
                registry=registry,
            ),
            ready=Gauge(
                p + "ready",
                "1 once the model is loaded and the server accepts inference, else 0.",
                registry=registry,
            ),
            model_load_seconds=Gauge(
                p + "model_load_seconds",
                "Seconds from the start of model loading to readiness (0 until ready).",
                registry=registry,
            ),
            input_bytes=Counter(
                p + "input_bytes",
                "Encoded bytes of image and audio inputs run by the model.",
                registry=registry,
            ),
            image_pixels=Counter(
                p + "image_pixels",
                "Pixels (width x height) of images run by the image classifier.",
                registry=registry,
            ),
            audio_seconds=Counter(
                p + "audio_seconds",
                "Seconds of audio run by the speech model.",
                registry=registry,
            ),
        )
