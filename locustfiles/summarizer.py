"""Capacity ramp against a summarization endpoint (OpenAI-compatible chat API).

Run it with no --host and it tests the bundled reference server (started on a
free loopback port and stopped at the end)::

    locust -f locustfiles/summarizer.py --headless

or point it at your own OpenAI-compatible server::

    locust -f locustfiles/summarizer.py --headless --host http://127.0.0.1:8000

Each user keeps one request in flight; the ramp adds users step by step
(``--ml-ramp-start/--ml-ramp-step/--ml-ramp-max/--ml-step-time``), and the
step table at the end shows where throughput stops rising and latency bends.
Prompt and output lengths: ``--ml-prompt-tokens`` and ``--ml-output-tokens``.
"""

from __future__ import annotations

from locust import task

from locust_ml import ChatCompletionsUser, RampShape


class Summarizer(ChatCompletionsUser):
    model = "summarizer"

    @task
    def summarize(self) -> None:
        self.chat()


class Ramp(RampShape):
    start_users = 1
    factor = 2.0
    max_users = 16
    step_seconds = 20.0
