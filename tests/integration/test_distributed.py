"""Distributed runs in real processes on loopback: counts, rates, and a worker killed mid-run.

Topologies: a ``--master --expect-workers 2`` process with two ``--worker``
processes, and ``--processes 2``. Each worker logs ``locust-ml: worker <id>
sent N requests (M failures)`` when it quits; the merged report must count
exactly what the workers sent (and what Locust's own stats count). The
open-loop test through a separate master and workers is in
``test_open_loop.py``; here the same is done with ``--processes``, and with
one worker killed (SIGKILL, by PID) in the middle of a step.

Every process is started here and ended here, by its PID, in a ``finally``;
every run is bounded by its shape and a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from locust_ml.arrivals import ArrivalSchedule, parse_arrival
from tests.integration.helpers import BIN, ROOT, Server, locust_aggregated_count, run_locust

pytestmark = pytest.mark.slow

#: Small requests; a loose latency SLO that only sets the generator's allowance
#: (p99 lateness 10 % of it, docs/load-shapes.md): these tests check counts and
#: rates, and two real-process tests may share the machine's two cores.
SMALL = [
    *("--ml-prompt-tokens", "const:30", "--ml-output-tokens", "const:4", "--ml-nvml", "off"),
    *("--ml-slo", "p99<30s"),
]
WORKER_LINE = re.compile(r"locust-ml: worker (\S+) sent (\d+) requests \((\d+) failures\)")
READY_LINE = re.compile(r"(\S+) \(index \d+\) reported as ready")
#: The master starts a step's arrivals this long after announcing it
#: (``plugin/hooks.py: RATE_LEAD_SECONDS``; not imported: the plugin imports
#: locust, which monkey-patches this process).
RATE_LEAD_S = 0.2


def _free_port() -> int:
    # Locust's master can't bind port 0 for workers to find: pick one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _worker_counts(output: str) -> dict[str, tuple[int, int]]:
    """``{worker id: (requests, failures)}`` from the workers' end-of-run lines."""
    counts: dict[str, tuple[int, int]] = {}
    for m in WORKER_LINE.finditer(output):
        assert m.group(1) not in counts, f"worker {m.group(1)} logged its count twice"
        counts[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return counts


def _scheduled(step: dict[str, Any], arrival: str, windows: list[dict[str, Any]]) -> list[int]:
    """Arrivals per window of the step's seeded global schedule (``--ml-seed`` 0).

    Every worker sends its share of one arrival sequence, so what the workers
    sent together must be exactly that sequence (give or take a request that
    completed across a window's edge).
    """
    schedule = ArrivalSchedule(
        parse_arrival(arrival).process(None),
        step["offered_rps"],
        start=step["start"] + RATE_LEAD_S,
        seed=0,
        step=step["id"],
    )
    times = schedule.until(step["end"])
    return [int(np.count_nonzero((times >= w["start"]) & (times < w["end"]))) for w in windows]


def _steady_rate(windows: list[dict[str, Any]]) -> float:
    seconds = sum(w["end"] - w["start"] for w in windows)
    return sum(w["requests"] for w in windows) / seconds


def _full_windows(step: dict[str, Any]) -> list[dict[str, Any]]:
    """The step's windows after the first, without a shortened last one."""
    windows = [w for w in step["windows"] if w["index"] >= 1]
    length = max(w["end"] - w["start"] for w in windows)
    return [w for w in windows if w["end"] - w["start"] > 0.999 * length]


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Cluster:
    """A master and workers as subprocesses, logging to files (no pipe to fill up)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.port = _free_port()
        self.procs: list[Proc] = []

    def _start(self, name: str, args: list[str]) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as fh:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                [str(BIN / "locust"), *args],
                cwd=ROOT,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        proc = Proc(popen, log)
        self.procs.append(proc)
        return proc

    def master(self, locustfile: str, args: list[str]) -> Proc:
        return self._start(
            "master",
            [
                "-f",
                locustfile,
                "--headless",
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(self.port),
                "--expect-workers",
                "2",
                *args,
            ],
        )

    def worker(self, locustfile: str) -> Proc:
        n = sum(1 for p in self.procs if p.log.name.startswith("worker"))
        return self._start(
            f"worker{n}",
            [
                "-f",
                locustfile,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(self.port),
            ],
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.popen.wait()


@contextlib.contextmanager
def _cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


def _wait_exit(proc: Proc, timeout: float) -> int:
    try:
        return proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.log.name} did not finish in {timeout} s:\n{proc.output()[-3000:]}")


def _wait_for(proc: Proc, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, proc.output()):
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} in {proc.log.name}:\n{proc.output()[-3000:]}")
        time.sleep(0.1)


def test_master_and_two_workers_ramp_counts_add_up(
    tmp_path: Path, simulated_server: Server
) -> None:
    out = tmp_path / "r"
    with _cluster(tmp_path) as cluster:
        master = cluster.master(
            "locustfiles/summarizer.py",
            [
                "--host",
                simulated_server.url,
                "--ml-shape",
                "ramp:start=2,factor=2,max=4,step=5s",
                *SMALL,
                "--ml-report-dir",
                str(out),
                "--json-file",
                str(tmp_path / "locust"),
            ],
        )
        workers = [cluster.worker("locustfiles/summarizer.py") for _ in range(2)]
        code = _wait_exit(master, 90)
        for w in workers:
            _wait_exit(w, 30)
        output = master.output()
        worker_output = "".join(w.output() for w in workers)
    assert code == 0, output[-3000:]
    report = json.loads((out / "report.json").read_text())
    requests, failures = locust_aggregated_count(tmp_path / "locust")
    counts = _worker_counts(worker_output)
    assert len(counts) == 2
    assert set(counts) == set(READY_LINE.findall(output))
    assert report["run"]["mode"] == "distributed"
    assert report["run"]["workers"] == 2
    assert [s["users"] for s in report["steps"]] == [2, 4]
    # Merged exactly: the report == Locust's own count == what the workers sent.
    assert report["totals"]["requests"] == requests == sum(n for n, _ in counts.values())
    assert report["totals"]["failures"] == failures == sum(f for _, f in counts.values())
    assert all(n > 0 for n, _ in counts.values())
    assert not [n for n in report["notes"] if "worker" in n]


def test_processes_open_loop_rate_and_counts(tmp_path: Path, simulated_server: Server) -> None:
    out = tmp_path / "r"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--processes",
            "2",
            "--host",
            simulated_server.url,
            "--ml-arrival",
            "poisson",
            "--ml-shape",
            "ramp:start=60,max=60,step=10s,window=1s",
            *SMALL,
            "--ml-report-dir",
            str(out),
            "--json-file",
            str(tmp_path / "locust"),
        ],
        timeout=90,
    )
    assert run.returncode == 0, run.output[-3000:]
    report = json.loads((out / "report.json").read_text())
    requests, _ = locust_aggregated_count(tmp_path / "locust")
    counts = _worker_counts(run.output)
    assert len(counts) == 2
    assert report["totals"]["requests"] == requests == sum(n for n, _ in counts.values())
    assert report["run"]["workers"] == 2
    (a, _), (b, _) = counts.values()
    assert abs(a - b) <= 2  # one sequence, dealt out in turn
    (step,) = report["steps"]
    assert (step["mode"], step["offered_rps"], step["dropped"]) == ("open", 60.0, 0)
    # The realized Poisson process, not only its mean rate: window by window
    # the two processes together sent what the seeded schedule offered.
    windows = _full_windows(step)
    sent = [w["requests"] for w in windows]
    offered = _scheduled(step, "poisson", windows)
    # (Poisson noise would be +-11 a window; a few requests may complete
    # across a window's edge.)
    assert all(abs(s - o) <= 4 for s, o in zip(sent, offered, strict=True)), (sent, offered)
    assert sum(sent) == pytest.approx(sum(offered), rel=0.02)


def test_a_killed_worker_is_noted_and_the_survivor_carries_the_rate(
    tmp_path: Path, simulated_server: Server
) -> None:
    out = tmp_path / "r"
    rate = 60.0
    with _cluster(tmp_path) as cluster:
        master = cluster.master(
            "locustfiles/summarizer.py",
            [
                "--host",
                simulated_server.url,
                "--ml-arrival",
                "constant",
                "--ml-shape",
                f"ramp:start={rate},max={rate},step=22s,window=1s",
                *SMALL,
                "--ml-report-dir",
                str(out),
                "--json-file",
                str(tmp_path / "locust"),
            ],
        )
        survivor, victim = (cluster.worker("locustfiles/summarizer.py") for _ in range(2))
        _wait_for(master, r"step 1: 60(\.0)? req/s over 2 workers", 60)
        time.sleep(8)  # a few worker reports in
        os.kill(victim.popen.pid, signal.SIGKILL)
        killed_at = time.time()
        victim.popen.wait(timeout=10)
        code = _wait_exit(master, 60)
        _wait_exit(survivor, 30)
        output = master.output()
        survivor_output = survivor.output()
    assert "Traceback" not in output
    report = json.loads((out / "report.json").read_text())
    # The step did not get its load while the master had not noticed: its
    # measurement is the generator's failure, not the target's - INVALID.
    assert code == report["verdict"]["exit_code"] == 2, output[-3000:]
    assert "worker of the load generator stopped during the step" in " ".join(
        report["verdict"]["reasons"]
    )
    assert report["steps"][0]["workers_lost"] == 1
    requests, _ = locust_aggregated_count(tmp_path / "locust")
    ((survivor_id, (survived, _)),) = _worker_counts(survivor_output).items()
    (victim_id,) = set(READY_LINE.findall(output)) - {survivor_id}
    # The report says which worker stopped, when, and what of it is counted.
    (note,) = [n for n in report["notes"] if victim_id in n]
    assert "stopped reporting at" in note
    assert "carried its share of the arrival rate" in note
    m = re.search(r"its (\d+) requests \(\d+ failures\) up to its last report are counted", note)
    assert m is not None, note
    reported_by_victim = int(m.group(1))
    assert reported_by_victim > 0
    # Nothing received is lost: the survivor's requests plus what the victim had reported.
    assert report["totals"]["requests"] == requests == survived + reported_by_victim
    # The run went on, and once the master noticed (~3-5 s), the survivor sent the whole rate.
    (step,) = report["steps"]
    windows = _full_windows(step)
    # Before: windows the victim had reported in full (it reports every 3 s).
    before = [w for w in windows if w["end"] <= killed_at - 3.5]
    after = [w for w in windows if w["start"] >= killed_at + 6.0]
    assert len(before) >= 3
    assert len(after) >= 4  # 5 - 8 of them, as the machine's load delays the kill
    assert _steady_rate(before) == pytest.approx(rate, rel=0.03)
    assert _steady_rate(after) == pytest.approx(rate, rel=0.03)
