"""A discrete-event model of the reference server's simulated backend, for tests.

Requests queue (up to ``queue_limit``; beyond it they are shed at once, as
the server answers 503); each of ``instances`` instances takes up to ``batch``
of them, oldest first, after waiting at most ``delay_ms`` for a batch to
fill, and runs the batch for ``base_ms + per_item_ms * n``. Load comes as
Poisson arrivals at a rate (open loop) or from ``c`` clients that each send
again as soon as their answer arrives (closed loop). Its saturation is
``instances * batch / ((base_ms + per_item_ms * batch) / 1000)`` requests/s,
as the server's.

:class:`QueueTarget` keeps its state across calls, so a capacity search can
be driven over it step after step, the queue carried over as on a real
server, and :func:`measurement` cuts what completed in a stretch of time into
the :class:`~locust_ml.analysis.judge.StepMeasurement` the glue would hand
the search. Everything is seeded; time is simulated.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from locust_ml.analysis.judge import StepMeasurement
from locust_ml.analysis.samples import RequestSample, StepSamples, window_index
from locust_ml.analysis.search import CapacitySearch, SearchConfig
from locust_ml.analysis.slo import SLOStats
from locust_ml.analysis.steps import StepLog, StepStats, Totals, WindowStats, summarize_steps
from locust_ml.report.model import ReportSettings, RunInfo, RunReport, decide


@dataclass(frozen=True)
class Done:
    """One finished request: when it was sent, when it was answered, and how."""

    sent: float
    end: float
    ok: bool


@dataclass
class QueueTarget:
    base_ms: float = 30.0
    per_item_ms: float = 5.0
    batch: int = 8
    instances: int = 1
    delay_ms: float = 5.0
    queue_limit: int = 64
    seed: int = 0
    #: Client-side time added to each answer (HTTP, the generator), ms.
    overhead_ms: float = 1.0
    now: float = 0.0
    #: Answers in the order of their answer times (re-sorted after each run).
    done: list[Done] = field(default_factory=list)
    #: Answers in the order they were produced (append-only: for recording them once).
    log: list[Done] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._queue: deque[tuple[float, int | None]] = deque()  # (sent, client)
        self._busy = [False] * self.instances
        self._timer = [math.inf] * self.instances
        self._events: list[tuple[float, int, str, object]] = []
        self._seq = itertools.count()
        self._clients: dict[int, int] = {}  # client id -> the step generation it belongs to
        self._generation = 0
        self._closed_until = -math.inf

    @property
    def xsat(self) -> float:
        """Saturation throughput, requests/s."""
        return self.instances * self.batch / ((self.base_ms + self.per_item_ms * self.batch) / 1e3)

    # -- the event loop ------------------------------------------------------------------
    def _push(self, t: float, kind: str, data: object) -> None:
        heapq.heappush(self._events, (t, next(self._seq), kind, data))

    def _try_start(self, k: int, t: float) -> None:
        if self._busy[k] or not self._queue:
            return
        wait_until = self._queue[0][0] + (self.delay_ms / 1e3 if self.batch > 1 else 0.0)
        if len(self._queue) >= self.batch or t >= wait_until - 1e-12:
            n = min(self.batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._busy[k] = True
            self._timer[k] = math.inf
            end = t + (self.base_ms + self.per_item_ms * n) / 1e3
            self._push(end, "done", (k, batch))
        elif self._timer[k] != wait_until:
            self._timer[k] = wait_until
            self._push(wait_until, "timer", k)

    def _answer(self, sent: float, end: float, ok: bool, client: int | None) -> None:
        answered = end + self.overhead_ms / 1e3
        done = Done(sent, answered, ok)
        self.done.append(done)
        self.log.append(done)
        still_on = client is not None and self._clients.get(client) == self._generation
        if still_on and answered < self._closed_until:
            self._push(answered, "arrival", client)

    def _arrive(self, t: float, client: int | None) -> None:
        if len(self._queue) >= self.queue_limit:
            self._answer(t, t, ok=False, client=client)
            return
        self._queue.append((t, client))
        for k in range(self.instances):
            self._try_start(k, t)

    def _run(self, t_end: float) -> None:
        while self._events and self._events[0][0] < t_end:
            t, _, kind, data = heapq.heappop(self._events)
            if kind == "arrival":
                self._arrive(t, data if isinstance(data, int) else None)
            elif kind == "timer":
                assert isinstance(data, int)
                if self._timer[data] == t:
                    self._timer[data] = math.inf
                    self._try_start(data, t)
            else:
                k, batch = data  # type: ignore[misc]
                self._busy[k] = False
                for sent, client in batch:
                    self._answer(sent, t, ok=True, client=client)
                self._try_start(k, t)
        self.now = t_end
        self.done.sort(key=lambda d: d.end)

    # -- the load ------------------------------------------------------------------------
    def set_open(self, rate: float) -> None:
        """From now on, Poisson arrivals at ``rate`` per second (0: none)."""
        self._generation += 1  # closed-loop clients of an earlier load stop resending
        self._rate = rate

    def set_closed(self, clients: int) -> None:
        """From now on, ``clients`` that each send again as soon as they are answered."""
        self._generation += 1
        self._rate = 0.0
        self._closed_until = math.inf
        base = len(self._clients)
        for c in range(base, base + clients):
            self._clients[c] = self._generation
            self._push(self.now, "arrival", c)

    _rate: float = 0.0

    def advance(self, seconds: float) -> None:
        """Run the target and its load for ``seconds``."""
        t_end = self.now + seconds
        t = self.now
        while self._rate > 0:
            t += self._rng.expovariate(self._rate)
            if t >= t_end:
                break
            self._push(t, "arrival", None)
        self._run(t_end)

    def open_loop(self, rate: float, seconds: float) -> None:
        self.set_open(rate)
        self.advance(seconds)

    def closed_loop(self, clients: int, seconds: float) -> None:
        self.set_closed(clients)
        self.advance(seconds)


def measurement(
    target: QueueTarget,
    step: int,
    mode: str,
    load: float,
    t0: float,
    t1: float,
    *,
    window_s: float = 1.0,
    percentiles: tuple[float, ...] = (25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9),
) -> StepMeasurement:
    """What completed in ``[t0, t1)``, as the glue measures a step's measured part.

    Latency is from the send time to the answer, successful requests only;
    windows are the complete ``window_s`` windows from ``t0``.
    """
    ends = [d.end for d in target.done]
    lo, hi = bisect.bisect_left(ends, t0), bisect.bisect_left(ends, t1)
    part = target.done[lo:hi]
    lat = np.array([(d.end - d.sent) * 1e3 for d in part if d.ok])
    windows = []
    for w in range(math.floor((t1 - t0) / window_s + 1e-9)):
        a, b = t0 + w * window_s, t0 + (w + 1) * window_s
        inside = part[bisect.bisect_left(ends, a) - lo : bisect.bisect_left(ends, b) - lo]
        wl = np.array([(d.end - d.sent) * 1e3 for d in inside if d.ok])
        q = {f"p{p:g}": float(np.percentile(wl, p)) for p in (25, 50, 75)} if len(wl) else {}
        windows.append(WindowStats(a, b, len(inside), sum(not d.ok for d in inside), q, index=w))
    n = len(part)
    ok = sum(d.ok for d in part)
    stats = SLOStats(
        requests=n,
        failure_ratio=(n - ok) / n if n else 0.0,
        latency_ms=(
            {f"p{p:g}": float(np.percentile(lat, p, method="inverted_cdf")) for p in percentiles}
            if len(lat)
            else {}
        ),
    )
    return StepMeasurement(step, mode, load, t1 - t0, stats, ok, tuple(windows))


@dataclass
class SearchRun:
    """A capacity search driven over a :class:`QueueTarget`, recorded as the glue records it."""

    search: CapacitySearch
    target: QueueTarget
    steps: tuple[StepStats, ...]
    #: The measurement the search saw last in each step (its judgement's data).
    seen: dict[int, StepMeasurement]
    elapsed_s: float

    def report(self, settings: ReportSettings | None = None) -> RunReport:
        """The run's report, decided as the plugin decides it."""
        steps = self.steps
        run = RunInfo(
            locustfile="queue_target",
            target=None,
            started_at=0.0,
            ended_at=self.elapsed_s,
            mode="local",
            shape="capacity-search",
        )
        totals = Totals(
            requests=sum(s.all_requests for s in steps),
            failures=sum(s.all_failures for s in steps),
            latency_ms={},
            endpoints=(),
        )
        result = self.search.result or self.search.stop()
        base = RunReport(
            run=run,
            percentiles=PERCENTILES,
            window_s=WINDOW_S,
            steps=steps,
            totals=totals,
            search=result,
        )
        return decide(base, self.search.config.slos, settings or ReportSettings())


WINDOW_S = 1.0
PERCENTILES = (25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9)


def run_search(target: QueueTarget, config: SearchConfig, *, limit_s: float = 3600.0) -> SearchRun:
    """Drive ``config``'s search over ``target`` a (simulated) second at a time.

    Each second the tick's load runs on the target; what completed is
    recorded into the step then current (window, measured part after the
    warm-up), and the search is handed the step's measurement so far - the
    same pipeline as the plugin's recorder and shape.
    """
    search = CapacitySearch(config)
    samples, log = StepSamples(), StepLog()
    seen: dict[int, StepMeasurement] = {}
    t = 0.0
    tick = search.at(t)
    current, started = None, 0.0
    recorded = 0
    pending: list[Done] = []
    while tick is not None and t < limit_s:
        if current is None or tick.step != current.step:
            current, started = tick, t
            if tick.concurrency is not None:
                target.set_closed(tick.concurrency)
            elif tick.mode == "open":
                target.set_open(tick.offered_rps or 0.0)
            else:
                target.set_closed(tick.users)
            mode = "closed" if tick.concurrency is not None else tick.mode
            log.observe(
                t,
                users=tick.users,
                offered_rps=tick.offered_rps if mode == "open" else None,
                mode=mode,
                label=tick.label,
                key=tick.step,
                warmup_s=tick.warmup_s,
                step_id=tick.step,
            )
        target.advance(1.0)
        t += 1.0
        # Record what was answered by now (an answer's time may fall after the tick).
        pending += target.log[recorded:]
        recorded = len(target.log)
        ready = sorted((d for d in pending if d.end < t), key=lambda d: d.end)
        pending = [d for d in pending if d.end >= t]
        for d in ready:
            span = log.current
            assert span is not None
            sample = RequestSample(
                ("POST", "/v1/chat/completions"),
                (d.end - d.sent) * 1e3,
                status="ok" if d.ok else "shed",
                corrected_ms=(d.end - d.sent) * 1e3 if span.mode == "open" else None,
            )
            samples.add(
                span.id,
                sample,
                window_index(d.end, span.start, WINDOW_S),
                measured=span.warmup_s > 0 and d.end >= span.measure_from,
            )
        t0 = started + tick.warmup_s
        m = None
        if t > t0:
            mode = "closed" if tick.concurrency is not None else tick.mode
            m = measurement(target, tick.step, mode, tick.load, t0, t, window_s=WINDOW_S)
            seen[tick.step] = m
        tick = search.at(t, m)
    spans = log.close(t)
    steps = summarize_steps(spans, samples, PERCENTILES, window_s=WINDOW_S)
    return SearchRun(search, target, steps, seen, t)
