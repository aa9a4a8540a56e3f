"""TextUser's request rate against a bare FastHttpUser's, and open loop against closed loop.

Does the ML glue slow the load generator down? The users post to the same
fast sink on 127.0.0.1 (``sink.py``: an asyncio HTTP server in its own
process that reads each request and answers one canned chat completion, so
the generator and not the target sets the pace):

* **TextUser** (``locust_ml.TextUser``, chat, not streamed): draws each
  request's prompt and output lengths, cuts a prompt of exactly that many
  tokens from the process's corpus, builds the JSON body, sends it, judges
  the answer with the OpenAI adapter (JSON, ``choices``, non-empty text,
  ``usage``) and records the ML sample (tokens, bytes). Two payloads:
  ``small`` (30-token prompts, 4 output tokens: the least a request costs)
  and ``trace`` (lengths drawn from the Azure conversation trace,
  ``azure_conv``: a few hundred to a few thousand tokens, kilobytes of JSON
  per request, 8 output tokens);
* **bare FastHttpUser**: posts pre-built bodies built the same way (512 of
  them, cycled), with the same headers; Locust judges its answers by status
  code alone and nothing reads the body. It runs with the locust-ml plugin
  loaded, so both pay for the plugin's request listener; the ratio that
  counts is TextUser / bare, both with the plugin. (The bare user in plain
  Locust is printed too: the listener's own cost.)

Closed loop: 8 users each (``--users``), one request in flight each, ``-t``
``--seconds``: the bare user and TextUser with no shape (``-u 8``), and
TextUser under a one-step ramp (``--ml-shape ramp:start=8,max=8``), as a
locustfile runs a closed-loop test: the plugin then also keeps each step's
measurement windows. Open loop: the same TextUser under the same one-step
ramp, at a rate (``--ml-arrival poisson``, the default ``--ml-open-loop``:
8 Locust users, at most 1,000 requests in flight), offered 2x
(``--overload``) the one-step closed loop's rate of the same round: the
generator saturates, and its achieved rate is what one core sends open
loop. Each open-loop run also prints the arrival driver's pool of slots
(its median and largest size: 8 at saturation; larger means the loop sat
idle, waiting on a slow sink or a crowded machine) and its late and dropped
arrivals (at saturation nearly all are late). The acceptance ratios, judged
on the medians of the rates:

* TextUser / bare FastHttpUser >= 0.9, small and trace-sized prompts, both
  closed loop without a shape;
* open loop / closed loop >= 0.8, small and trace-sized, both under the
  one-step ramp, both on one core (a Locust process is one core: gevent runs
  one thread). Open loop also records each request's latency from its
  intended send time and its lateness (two more histograms); open loop
  against TextUser without a shape is printed too.

Every case is a ``locust --headless`` subprocess; the cases alternate,
``--rounds`` times each. The rate is Locust's own count over its own time
span (``--json-file``); each locustfile also measures its process's CPU
time between ``test_start`` and ``test_stop``, so requests per CPU second
are printed too, and their ratios: where other work crowds the machine
(the Locust process below ~95 % busy), requests per CPU second say more
about the cost per request than the rates do. Each round's ratios are shown
as well as the medians', and the sink's CPU share (near 100 % of a core,
the sink and not the generator set the pace).

Run: ``.venv/bin/python benchmarks/transport.py [--users 8] [--seconds 8] [--rounds 3]
[--cases plain,bare,text,ramp,open]``; about 10 s per case and round, 4 - 5
minutes with the defaults. Exit status 0 when every verdict passes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sink import sink
from user_overhead import CPU_PROBE, cpu_seconds

BIN = Path(sys.executable).parent

CHAT_ANSWER = json.dumps(
    {
        "id": "sink",
        "object": "chat.completion",
        "model": "summarizer",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two three four"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34},
    }
).encode()

#: The TextUser's options per payload (the bare user's bodies are built from the same).
PAYLOADS = {
    "small": (
        "--ml-profile", "none", "--ml-prompt-tokens", "const:30", "--ml-output-tokens", "const:4",
    ),
    "trace": ("--ml-profile", "azure_conv", "--ml-output-tokens", "const:8"),
}  # fmt: skip

TEXT_LOCUSTFILE = """
import json
import os

from locust import task
from locust_ml import TextUser


class Text(TextUser):
    model = "summarizer"

    @task
    def post(self) -> None:
        self.generate()
"""

#: The same user under a ramp of one step: closed loop (users) or open loop (a rate),
#: as a locustfile runs a test (the plugin then also records the step's windows).
RAMP_LOCUSTFILE = (
    TEXT_LOCUSTFILE
    + """

from locust_ml import RampShape


class OneStep(RampShape):
    pass
"""
)

#: Open loop also notes the arrival driver's pool of slots (requests in flight at most)
#: every 0.1 s, and late and dropped arrivals, into $LOCUST_ML_BENCH_OPEN at the end: a
#: pool that grew past its 8 means the loop sat idle (the sink, or the machine, was
#: slow), not a saturated generator.
OPEN_LOCUSTFILE = (
    RAMP_LOCUSTFILE
    + """

import gevent
from locust import events

_slots = []


@events.test_start.add_listener
def _watch(environment, **_):
    def watch():
        while True:
            gevent.sleep(0.1)
            _slots.append(environment.locust_ml.driver.slots)

    gevent.spawn(watch)


@events.test_stop.add_listener
def _note(environment, **_):
    driver = environment.locust_ml.driver
    line = {
        "slots_median": sorted(_slots)[len(_slots) // 2] if _slots else 0,
        "slots_max": max(_slots, default=0),
        "late": driver.late,
        "dropped": driver.dropped,
    }
    with open(os.environ["LOCUST_ML_BENCH_OPEN"], "a") as out:
        out.write(json.dumps(line) + "\\n")
"""
)

BARE_LOCUSTFILE = """
import itertools
import json
import os

from locust import FastHttpUser, constant, task

_BODIES = itertools.cycle(
    [b.encode() for b in json.loads(open(os.environ["LOCUST_ML_BENCH_BODIES"]).read())]
)
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def post(self) -> None:
        self.client.post("/v1/chat/completions", data=next(_BODIES), headers=_HEADERS)
"""


def bodies(payload: str, n: int = 512) -> list[str]:
    """``n`` request bodies as a TextUser with ``PAYLOADS[payload]`` builds them."""
    from locust_ml.payloads.prompt_pool import PromptSampler, prompt_corpus
    from locust_ml.protocols.openai import ChatCompletions
    from locust_ml.traces.profile import Profile

    rng = random.Random(7)
    prompts = PromptSampler(prompt_corpus(), rng.getrandbits(64))
    api = ChatCompletions("summarizer")
    system = {"role": "system", "content": "Summarize the user's text in a few sentences."}
    if payload == "small":
        lengths = [(30, 4)] * n
    else:
        rows = Profile.load("azure_conv").sampler(3).sample(n)
        lengths = [(max(int(p), 1), 8) for p in rows["ContextTokens"]]
    out = []
    for prompt_tokens, max_tokens in lengths:
        text = prompts.text(prompt_tokens)
        messages = [system, {"role": "user", "content": text}]
        out.append(bytes(api.request(messages, max_tokens=max_tokens).body).decode())
    return out


@dataclass(frozen=True)
class Rates:
    """One run: requests/s over Locust's span, requests per CPU second, the CPU busy share,
    the sink's CPU share; open loop: the slot pool's median and largest size, late and
    dropped arrivals (from the open-loop locustfile's note)."""

    wall: float
    cpu: float
    busy: float
    sink: float = 0.0
    open: dict[str, int] | None = None


def run_locust(locustfile: Path, host: str, tmp: Path, env: dict[str, str], *args: str) -> Rates:
    """One headless run's rates (the report's verdict, exit 1 or 2, does not matter here)."""
    prefix = tmp / f"stats-{time.monotonic_ns()}"
    probe = tmp / f"cpu-{time.monotonic_ns()}.jsonl"
    note = tmp / f"open-{time.monotonic_ns()}.jsonl"
    cmd = [
        str(BIN / "locust"),
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        host,
        "--only-summary",
        "--json-file",
        str(prefix),
        "--loglevel",
        "WARNING",
        *args,
    ]
    done = subprocess.run(
        cmd,
        cwd=tmp,
        env=dict(os.environ, **env, LOCUST_ML_BENCH_CPU=str(probe), LOCUST_ML_BENCH_OPEN=str(note)),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode not in (0, 1, 2) or not Path(f"{prefix}.json").exists():
        raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    entries = json.loads(Path(f"{prefix}.json").read_text())
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    if failures or not requests:
        raise SystemExit(f"{failures} of {requests} requests failed:\n{done.stderr[-3000:]}")
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] for e in entries)
    used = json.loads(probe.read_text().splitlines()[-1])
    return Rates(
        wall=float(requests / (end - start)),
        cpu=used["requests"] / used["cpu"],
        busy=used["cpu"] / used["wall"],
        open=json.loads(note.read_text().splitlines()[-1]) if note.exists() else None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--overload", type=float, default=2.0, help="open loop: x closed rate")
    parser.add_argument(
        "--cases",
        default="plain,bare,text,ramp,open",
        help="which of plain,bare,text,ramp,open to run",
    )
    args = parser.parse_args()
    wanted = set(args.cases.split(","))

    tmp = Path(tempfile.mkdtemp(prefix="locust-ml-transport-"))
    files = {
        "plain": BARE_LOCUSTFILE,
        "bare": "import locust_ml.plugin  # noqa: F401\n" + BARE_LOCUSTFILE,
        "text": TEXT_LOCUSTFILE,
        "ramp": RAMP_LOCUSTFILE,
        "open": OPEN_LOCUSTFILE,
    }
    for name, text in files.items():
        (tmp / f"{name}_locustfile.py").write_text(CPU_PROBE + text)
    envs = {}
    for payload in PAYLOADS:
        path = tmp / f"bodies-{payload}.json"
        made = bodies(payload)
        path.write_text(json.dumps(made))
        sizes = [len(b) for b in made]
        print(
            f"{payload} bodies: mean {statistics.fmean(sizes) / 1000:.1f} kB, "
            f"max {max(sizes) / 1000:.1f} kB"
        )
        envs[payload] = {"LOCUST_ML_BENCH_BODIES": str(path)}
    closed = ("-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s")
    rates: dict[tuple[str, str], list[Rates]] = {}
    offered: dict[str, list[float]] = {p: [] for p in PAYLOADS}
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with sink(tmp, CHAT_ANSWER) as (host, sink_pid):
        for _ in range(args.rounds):
            for payload, options in PAYLOADS.items():
                step = f"max={args.users},step={args.seconds}s"
                runs: list[tuple[str, tuple[str, ...]]] = [
                    ("plain", closed),
                    ("bare", closed),
                    ("text", (*closed, *options)),
                    ("ramp", ("--ml-shape", f"ramp:start={args.users},{step}", *options)),
                ]
                for name, extra in runs:
                    if name not in wanted and not (name == "ramp" and "open" in wanted):
                        continue
                    measure(rates, name, payload, tmp, host, sink_pid, envs[payload], extra)
                if "open" in wanted:
                    rate = args.overload * rates[("ramp", payload)][-1].wall
                    offered[payload].append(rate)
                    extra = (
                        "--ml-arrival", "poisson",
                        "--ml-shape", f"ramp:start={rate:.0f},max={rate:.0f},step={args.seconds}s",
                        *options,
                    )  # fmt: skip
                    measure(rates, "open", payload, tmp, host, sink_pid, envs[payload], extra)
    return 0 if report(rates, offered, args) else 1


def measure(
    rates: dict[tuple[str, str], list[Rates]],
    name: str,
    payload: str,
    tmp: Path,
    host: str,
    sink_pid: int,
    env: dict[str, str],
    extra: tuple[str, ...],
) -> None:
    cpu0, t0 = cpu_seconds(sink_pid), time.monotonic()
    if name != "plain":
        extra = (*extra, "--ml-report-dir", str(tmp / "report"))
    got = run_locust(tmp / f"{name}_locustfile.py", host, tmp, env, *extra)
    share = (cpu_seconds(sink_pid) - cpu0) / (time.monotonic() - t0)
    got = dataclasses.replace(got, sink=share)
    rates.setdefault((name, payload), []).append(got)
    pool = (
        ""
        if got.open is None
        else (
            f"; slots median {got.open['slots_median']}, max {got.open['slots_max']}, "
            f"late {got.open['late']}, dropped {got.open['dropped']}"
        )
    )
    print(
        f"  {payload:>5} {name:>5}: {got.wall:8.1f} requests/s, {got.cpu:8.1f} per CPU second "
        f"(Locust busy {got.busy:.0%}; sink CPU {share:.0%} of a core{pool})",
        flush=True,
    )


LABELS = {
    "plain": "bare FastHttpUser, plain Locust",
    "bare": "bare FastHttpUser, plugin loaded",
    "text": "TextUser, closed loop",
    "ramp": "TextUser, closed loop, one-step ramp",
    "open": "TextUser, open loop, one-step ramp",
}


def report(
    rates: dict[tuple[str, str], list[Rates]],
    offered: dict[str, list[float]],
    args: argparse.Namespace,
) -> bool:
    """Print the medians, the ratios and the acceptance verdicts; True when all pass."""

    def median(name: str, payload: str, field: str = "wall") -> float:
        return float(statistics.median(getattr(r, field) for r in rates[(name, payload)]))

    def rounds(a: str, b: str, payload: str) -> str:
        pairs = zip(rates[(a, payload)], rates[(b, payload)], strict=True)
        return ", ".join(f"{x.wall / y.wall:.2f}" for x, y in pairs)

    print()
    print(f"users {args.users}, {args.seconds} s per run, {args.rounds} rounds (medians)")
    print(f"{'case':<36} {'payload':>7} {'requests/s':>10} {'per CPU s':>9} {'busy':>5}")
    for payload in PAYLOADS:
        for name, label in LABELS.items():
            if (name, payload) in rates:
                print(
                    f"{label:<36} {payload:>7} {median(name, payload):>10.1f} "
                    f"{median(name, payload, 'cpu'):>9.1f} {median(name, payload, 'busy'):>5.0%}"
                )
    checks = [
        ("TextUser / bare FastHttpUser, closed", "text", "bare", 0.9),
        ("open / closed loop, one-step ramps", "open", "ramp", 0.8),
        ("open loop / closed loop without shape", "open", "text", None),
        ("closed: one-step ramp / no shape", "ramp", "text", None),
        ("bare with the plugin / plain Locust", "bare", "plain", None),
    ]
    passed = True
    print()
    print(
        f"{'ratio':<37} {'payload':>7} {'rates':>6} {'per CPU s':>9}  "
        f"{'verdict (rates)':<16} rates round by round"
    )
    for payload in PAYLOADS:
        for label, a, b, floor in checks:
            if (a, payload) not in rates or (b, payload) not in rates:
                continue
            ratio = median(a, payload) / median(b, payload)
            cpu = median(a, payload, "cpu") / median(b, payload, "cpu")
            if floor is None:
                verdict = ""
            else:
                verdict = f"{'PASS' if ratio >= floor else 'FAIL'} (>= {floor})"
                passed = passed and ratio >= floor
            print(
                f"{label:<37} {payload:>7} {ratio:>6.3f} {cpu:>9.3f}  {verdict:<16} "
                f"{rounds(a, b, payload)}"
            )
        if offered[payload]:
            shown = ", ".join(f"{r:.0f}" for r in offered[payload])
            print(f"  open loop offered ({payload}): {shown} requests/s")
    print("PASS" if passed else "FAIL")
    return passed


if __name__ == "__main__":
    sys.exit(main())
