"""Replay a Mooncake trace: its arrival times, lengths and shared prefixes.

Run it with no --host and it replays the first 100 requests of the bundled
development trace at five times its speed against the reference server
(simulated backend, its prefix cache on)::

    locust -f locustfiles/trace_replay.py --headless

Another trace, part of it, at its own pace (``time_scale`` 2 plays it at
half speed, 0.5 at double)::

    locust -f locustfiles/trace_replay.py --headless \\
        --ml-trace my_trace.jsonl,limit=500,time_scale=1

or against your server, reading its prefix-cache counters::

    locust -f locustfiles/trace_replay.py --headless --host http://127.0.0.1:8000 \\
        --ml-model my-model --ml-scrape http://127.0.0.1:8000/metrics

A Mooncake trace is JSON Lines: ``timestamp`` (ms), ``input_length``,
``output_length`` and ``hash_ids``, the ids of the prompt's 512-token
blocks. Each block id becomes its own fixed text of 512 tokens, and each
prompt its blocks in order, cut to ``input_length``: requests share exactly
the prefixes the trace says, and the step table shows the server's token
hit rate. The test is one open-loop step at the trace's times (then a
5 s cooldown for the last answers);
``--ml-shape ramp:...`` (with the trace's gaps rescaled to each step's
rate) or ``--ml-arrival poisson`` send the same requests at other times.
"""

from __future__ import annotations

from pathlib import Path

from locust_ml import TraceReplayShape, TraceReplayUser

TRACES = Path(__file__).resolve().parent.parent / "data" / "traces"
TRACE = TRACES / "mooncake_synthetic_trace.jsonl"


class Replay(TraceReplayUser):
    model = "summarizer"
    trace = f"{TRACE},limit=100,time_scale=0.2"


class Shape(TraceReplayShape):
    pass
