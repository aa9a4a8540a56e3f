"""Multi-turn chat: conversations that resend their history, latency and TTFT by turn.

Run it with no --host and it tests the bundled reference server, whose
prefix cache keeps 512-token blocks of earlier prompts::

    locust -f locustfiles/conversation.py --headless

or point it at your own OpenAI-compatible chat server (vLLM, SGLang, ...)::

    locust -f locustfiles/conversation.py --headless --host http://127.0.0.1:8000 \\
        --ml-model my-model --ml-scrape http://127.0.0.1:8000/metrics

Each user holds conversations of 4 turns: the first message starts with a
system prompt of about 1,500 tokens (one of 64, picked alike), every turn
sends the whole history (the server's own answers included) and a new
question of ``--ml-prompt-tokens`` tokens, then thinks 0.2 s before the
next. The report's "by turn" table shows TTFT per turn: on a server that
caches prefixes it falls after turn 1 (later turns prefill only what is
new), without one it grows with the history (try ``--ml-server-args
"--prefix-cache-blocks 0"``). The step table shows the server's token hit
rate per step (``--ml-scrape`` reads it from vLLM or SGLang).

``--ml-conversation turns=2-8,think=1s-5s,system=16,zipf=1.1`` changes the
workload; ``dataset=sharegpt.json`` sends a ShareGPT file's conversations
instead of generated text; ``turns=1`` with a pool of system prompts is the
shared-prefix workload of independent requests. ``--ml-arrival poisson``
makes it open loop: conversations arrive at the shape's rate.
"""

from __future__ import annotations

from locust_ml import ConversationUser, RampShape


class Chat(ConversationUser):
    model = "summarizer"
    stream = True  # TTFT and ITL by turn
    conversation = "turns=4,think=200ms,system=64,system_tokens=1536,zipf=0"


class Ramp(RampShape):
    start = 2
    factor = 2.0
    max = 4
    step = "15s"
