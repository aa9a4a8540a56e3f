"""Capacity ramp against a summarization endpoint (OpenAI-compatible chat API).

Run it with no --host and it tests the bundled reference server (started on a
free loopback port and stopped at the end)::

    locust -f locustfiles/summarizer.py --headless

or point it at your own OpenAI-compatible server::

    locust -f locustfiles/summarizer.py --headless --host http://127.0.0.1:8000

Each user keeps one request in flight; the ramp doubles the users step by
step (the class below; ``--ml-shape :max=32,step=30s`` changes it, and
``--ml-shape capacity-search --ml-slo "p95<3s"`` finds the SLO capacity
instead), and the step table at the end shows where throughput stops rising
and latency bends.

Prompt and output lengths are drawn together from the Azure LLM inference
trace (conversation service, ``--ml-profile azure_conv``), and ``ignore_eos``
makes the server generate the drawn output length. ``--ml-prompt-tokens`` or
``--ml-output-tokens`` override one length; ``--ml-profile none`` uses both
options. ``--ml-stream on`` streams the answers and records time to first
token and inter-token latency.
"""

from __future__ import annotations

from locust import task

from locust_ml import RampShape, TextUser


class Summarizer(TextUser):
    model = "summarizer"
    profile = "azure_conv"
    extra_body = {"ignore_eos": True}  # noqa: RUF012 - Locust reads class attributes

    @task
    def summarize(self) -> None:
        self.generate()


class Ramp(RampShape):
    start = 1
    factor = 2.0
    max = 16
    step = "20s"
