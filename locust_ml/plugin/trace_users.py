"""Trace replay: a Mooncake trace's requests, with its lengths, times and shared prefixes.

:class:`TraceReplayUser` sends the requests of a Mooncake trace
(:mod:`~locust_ml.traces.mooncake`, ``--ml-trace FILE,limit=N,time_scale=S``)
in order: each prompt is made of its 512-token prefix blocks, every block id
its own fixed text (:class:`~locust_ml.payloads.blocks.BlockTexts`), cut to
the request's ``input_length``, sent as one user message (no system
prompt: it would shift the blocks) or a completions prompt, with
``max_tokens`` its ``output_length``. Requests that share block ids share
exactly those prefixes, so a server's prefix cache hits what the trace says.

:class:`TraceReplayShape` runs the trace at its own times: one open-loop
step (``replay``) at the trace's mean rate, whose arrival process is the
trace's timestamps (``trace:path=FILE,limit=N,time_scale=S``, what
``--ml-arrival`` takes), lasting the replay (the trace's span times
``time_scale``, plus a second), then a ``cooldown`` step of
:data:`COOLDOWN_S` without arrivals, so that the answers still on their way
are in the report (not judged, as any cooldown). With ``--ml-shape`` the
shape's steps set the rate instead and the trace's gaps are rescaled to
it, keeping their shape (as ``--ml-arrival trace`` does); with
``--ml-arrival`` another process sends the same requests at its own times.

**Which request an arrival sends.** The ``i``-th arrival of the global
arrival sequence sends the trace's ``i``-th request. In open loop the
worker ``k`` of ``W`` sends the global arrivals ``k, k + W, k + 2W, ...``
(:mod:`locust_ml.arrivals`), so its ``j``-th arrival is request
``k + j W`` (:func:`~locust_ml.traces.mooncake.replay_row`); each step starts
the trace again. In closed loop the process's users take the requests in
turn. Past the trace's end (another arrival process, a closed loop) the
requests start over.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from locust import task

from locust_ml.arrivals import ArrivalSpec
from locust_ml.errors import ConfigError, TraceError
from locust_ml.options import MLOptions, TraceReplay
from locust_ml.payloads.blocks import BlockTexts
from locust_ml.plugin.run import LoadSide, load_side
from locust_ml.plugin.shapes import MLShape
from locust_ml.plugin.text_users import TextSettings, TextUser
from locust_ml.protocols.base import InferenceResult
from locust_ml.protocols.openai import ChatCompletions
from locust_ml.schedules import Plan
from locust_ml.shapes import StagesPlan
from locust_ml.shapes.stages import Stage
from locust_ml.traces.mooncake import MooncakeTrace, read_mooncake, replay_row

__all__ = ["COOLDOWN_S", "REPLAY_TAIL_S", "TraceReplayShape", "TraceReplayUser", "trace_of"]

#: The replay step lasts this much past the trace's last arrival...
REPLAY_TAIL_S = 1.0
#: ... and a cooldown step without arrivals follows, for the answers still on their way.
COOLDOWN_S = 5.0


def _parse(text: str, where: str) -> TraceReplay:
    from locust_ml.options import _trace

    return _trace(text, where)


def trace_of(owner: type, options: MLOptions) -> TraceReplay:
    """``--ml-trace``, else the class's ``trace`` attribute; ConfigError without either."""
    if options.users.trace is not None:
        return options.users.trace
    text = getattr(owner, "trace", None)
    if not text:
        raise ConfigError(
            f"{owner.__name__}: no trace to replay; give --ml-trace FILE[,limit=N][,time_scale=S]"
        )
    return _parse(str(text), f"{owner.__name__}.trace")


@functools.lru_cache(maxsize=4)
def _read(path: str, limit: int | None) -> MooncakeTrace:
    """The trace's requests, read once per process."""
    try:
        return read_mooncake(path, limit=limit)
    except TraceError as exc:
        raise ConfigError(f"--ml-trace: {exc}") from None


@functools.lru_cache(maxsize=4)
def _blocks(seed: int, tokenizer: Callable[[str], int] | None) -> BlockTexts:
    """The block texts, shared by the process's users (the same in every process)."""
    return BlockTexts(seed=seed, count=tokenizer)


class _Cursor:
    """Which request this process sends next: its arrivals counted per step."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.sent = 0

    def next_row(self, side: LoadSide | None, rows: int) -> int:
        plan = getattr(side, "rate_plan", None) if side is not None else None
        if plan is None or plan.concurrency is not None or side is None or not side.driver.running:
            index = self.sent % rows  # closed loop: the users take turns
        else:
            if plan.step != self.step:
                self.step, self.sent = plan.step, 0
            index = replay_row(self.sent, plan.worker_index, plan.worker_count, rows)
        self.sent += 1
        return index


_cursors: weakref.WeakKeyDictionary[Any, _Cursor] = weakref.WeakKeyDictionary()


class TraceReplayUser(TextUser):
    """Replays a Mooncake trace's requests (``--ml-trace``, else the class's ``trace``)."""

    abstract = True
    #: The trace, as ``--ml-trace`` writes it: ``"FILE[,limit=N][,time_scale=S]"``.
    trace: ClassVar[str | None] = None
    #: The trace's lengths need the simulated backend (or patience) and long prompts.
    server_backend: ClassVar[str | None] = "simulated"
    server_args: ClassVar[str] = "--max-prompt-tokens 262144"
    #: A system prompt would shift every prompt's blocks: none.
    system_prompt: ClassVar[str | None] = None
    #: Generate each request's output_length exactly (the reference server, vLLM).
    extra_body: ClassVar[dict[str, Any]] = {"ignore_eos": True}

    replay: MooncakeTrace
    blocks: BlockTexts

    @classmethod
    def settings_for(cls, options: MLOptions) -> TextSettings:
        """The text settings, after reading the trace (a bad one: ConfigError now)."""
        settings = super().settings_for(options)
        spec = trace_of(cls, options)
        _read(spec.path, spec.limit)
        return settings

    def on_start(self) -> None:
        super().on_start()
        spec = trace_of(type(self), self.ml_options)
        self.replay = _read(spec.path, spec.limit)
        self.blocks = _blocks(self.ml_options.seed, type(self).tokenizer)

    @task
    def send_next(self) -> None:
        """Send the trace's next request."""
        self.send_row(self._next_row())

    def _next_row(self) -> int:
        side = load_side(self.environment)
        key: Any = side if side is not None else self.environment
        cursor = _cursors.get(key)
        if cursor is None:
            cursor = _cursors[key] = _Cursor()
        return cursor.next_row(side, len(self.replay))

    def send_row(self, index: int) -> InferenceResult | None:
        """Send request ``index`` of the trace: its blocks' text, its output length."""
        row = self.replay.requests[index]
        prompt = self.blocks.prompt(row.hash_ids, row.input_length)
        api = self.api
        max_tokens = row.output_length
        if self.min_tokens:
            api = dataclasses.replace(api, extra_body={**api.extra_body, "min_tokens": max_tokens})
        if isinstance(api, ChatCompletions):
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            request = api.request(messages, max_tokens=max_tokens, tokens_in=row.input_length)
        else:
            request = api.request(prompt, max_tokens=max_tokens, tokens_in=row.input_length)
        return self.send_request(request, self.api, tokens_in=row.input_length)


class TraceReplayShape(MLShape):
    """The trace at its own times: one open-loop step at its rate, as long as the replay,
    then a cooldown without arrivals.

    ``trace`` (class attribute) or ``--ml-trace`` names it; ``--ml-shape``
    replaces the single step with another shape (the trace's gaps rescaled
    to its rates), ``--ml-arrival`` the arrival process.
    """

    abstract = True
    kind = "stages"
    trace: ClassVar[str | None] = None

    @classmethod
    def spec_text(cls) -> str:
        """Empty: the replay's one step comes from the trace, not from a shape spec (the
        web form leaves ``--ml-shape`` blank instead of offering a stages spec)."""
        return ""

    def _trace(self, opts: MLOptions) -> TraceReplay:
        owner: type = type(self)
        if opts.users.trace is None and not getattr(owner, "trace", None):
            owner = _user_with_trace(self) or owner
        return trace_of(owner, opts)

    def trace_arrival(self, opts: MLOptions | None = None) -> ArrivalSpec:
        """The arrival process of the trace's times (what ``--ml-arrival trace:`` takes)."""
        t = self._trace(opts or self.options())
        try:
            return ArrivalSpec(
                kind="trace", path=str(Path(t.path)), time_scale=t.time_scale, limit=t.limit
            )
        except ConfigError as exc:
            raise ConfigError(f"--ml-trace {t.path}: {exc}") from None

    def arrival_spec(self, opts: MLOptions | None = None) -> ArrivalSpec:
        opts = opts or self.options()
        return opts.load.arrival or self.trace_arrival(opts)

    def default_arrival(self, opts: MLOptions | None = None) -> ArrivalSpec:
        return self.trace_arrival(opts)

    def build_plan(self, opts: MLOptions) -> Plan:
        if opts.load.shape is not None:
            return super().build_plan(opts)
        arrival = self.arrival_spec(opts)
        if not arrival.is_open:
            raise ConfigError(
                "trace replay at the trace's times is open loop; with --ml-arrival closed "
                "give a shape (--ml-shape ramp:...) for the users"
            )
        t = self._trace(opts)
        trace = _read(t.path, t.limit)
        if len(trace) < 2 or trace.duration_s <= 0:
            raise ConfigError(
                f"--ml-trace {t.path}: a replay needs two requests at different times"
            )
        span = trace.duration_s * t.time_scale
        rate = (len(trace) - 1) / span
        replay = Stage(span + REPLAY_TAIL_S, rps=rate, label="replay")
        cooldown = Stage(COOLDOWN_S, rps=0.0, label="cooldown")
        return StagesPlan((replay, cooldown), pool_users=opts.load.open_loop.senders)


def _user_with_trace(shape: MLShape) -> type | None:
    """The locustfile's trace user with a ``trace`` attribute (the shape's default)."""
    runner = getattr(shape, "runner", None)
    classes = getattr(getattr(runner, "environment", None), "user_classes", None) or ()
    found: list[type] = [c for c in classes if issubclass(c, TraceReplayUser) and c.trace]
    return found[0] if found else None
