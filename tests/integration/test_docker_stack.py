"""docker/compose.yaml for real: images built, the stack up, a short ramp, a worker killed.

What runs: ``docker/build-local-base.sh`` (a Debian base from the Debian
archive, Prometheus from Debian's package, locust-ml's two images FROM the
base; each image is rebuilt only when what it is built from changed, so a
second run builds nothing), then Compose with ``docker/compose.yaml``,
``docker/compose.local.yaml`` (the local images, as an air-gapped site runs
them) and a small override written here, the services ``server`` (simulated
backend), ``master``, two ``worker`` replicas and ``prometheus``, on the
project's own network. Grafana is left out: its image comes from a registry
this machine cannot reach (the dashboard's queries are evaluated in a real
Prometheus by ``tests/unit/deploy/test_dashboard.py``).

What the test's override changes, and why:

* the master's report folder: a bind mount of a folder of this test instead
  of the named volume, so report.json can be read; and ``--json-file``
  added to compose.yaml's master command, for Locust's own totals;
* the shape and payload sizes, as ``LOCUST_ML_*`` variables of the master.

Host ports are compose.yaml's variables set to empty (a free port on
127.0.0.1 each), so the stack never collides with what else runs here.

One run checks everything, to keep the suite's cost down: an open-loop ramp
(10 then 20 requests/s, constant arrivals) during which Prometheus must
scrape the master's exporter and the server (``up == 1``, request rates
above 0); in its second step one worker container is killed (SIGKILL), and
the report must say so as it does at process level
(``test_distributed.py``): the note, the survivor carrying the whole rate,
and totals equal to Locust's own, which equal the survivor's count plus
what the killed worker had reported. Afterwards every container, network
and volume of the project is gone. Everything is found by the compose
project's label, unique to this run; nothing else on the daemon is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.dockerd import Docker, docker_daemon, machine_lock
from tests.integration.helpers import ROOT, locust_aggregated_count

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

BUILD_SCRIPT = ROOT / "docker" / "build-local-base.sh"
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
COMPOSE_LOCAL = ROOT / "docker" / "compose.local.yaml"
BASE_IMAGE = "locust-ml-base:bookworm"
#: Grafana is not among them: its image is out of reach here.
SERVICES = ("server", "master", "worker", "prometheus")
RATES = (10.0, 20.0)
SHAPE = f"ramp:start={RATES[0]:g},factor=2,max={RATES[1]:g},step=16s,window=1s"
PORT_VARIABLES = ("SERVER_PORT", "WEB_PORT", "EXPORTER_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT")
WORKER_LINE = re.compile(r"locust-ml: worker (\S+) sent (\d+) requests \((\d+) failures\)")
READY_LINE = re.compile(r"(\S+) \(index \d+\) reported as ready")
NOTE_COUNT = re.compile(r"its (\d+) requests \(\d+ failures\) up to its last report are counted")


@dataclass(frozen=True)
class Images:
    """What the build script did, and how long it took."""

    seconds: float
    lines: list[str]


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Docker, Images]]:
    """A daemon (running, or started here) and the stack's images, built when missing."""
    workdir = tmp_path_factory.mktemp("dockerd")
    with machine_lock(), docker_daemon(workdir) as daemon:
        missing_base = subprocess.run(
            [daemon.client, "image", "inspect", BASE_IMAGE], capture_output=True, check=False
        ).returncode
        if missing_base and os.geteuid() != 0:
            pytest.skip(f"{BASE_IMAGE} is not built, and building it (debootstrap) needs root")
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1500, check=False
        )
        seconds = time.monotonic() - t0
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            pytest.fail(f"{BUILD_SCRIPT.name} failed (exit {proc.returncode}):\n{output[-4000:]}")
        lines = [line for line in output.splitlines() if line.startswith("build-local-base.sh:")]
        yield daemon, Images(seconds, lines)


class Stack:
    """One compose project: its command line, its containers by label, its teardown."""

    def __init__(self, docker: Docker, files: list[Path], env: dict[str, str]) -> None:
        self.docker = docker
        self.project = f"lmltest{uuid.uuid4().hex[:10]}"
        self.files = files
        self.env = env

    def compose(self, *args: str, timeout: float = 180.0) -> str:
        cmd = [*self.docker.compose, "-p", self.project]
        for f in self.files:
            cmd += ["-f", str(f)]
        proc = subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=COMPOSE_FILE.parent,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}")
        return proc.stdout + proc.stderr

    def ids(self, kind: str = "container", **labels: str) -> list[str]:
        """Ids of this project's containers, networks or volumes (by its label)."""
        filters = [f"label=com.docker.compose.project={self.project}"]
        filters += [f"label=com.docker.compose.{k}={v}" for k, v in labels.items()]
        args = ["ps", "-a", "-q"] if kind == "container" else [kind, "ls", "-q"]
        for f in filters:
            args += ["--filter", f]
        return self.docker.run(*args).stdout.split()

    def inspect(self, cid: str) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(self.docker.run("inspect", cid).stdout)[0]
        return info

    def logs(self, cid: str) -> str:
        proc = self.docker.run("logs", cid)
        return proc.stdout + proc.stderr

    def wait(self, cid: str, timeout: float) -> int:
        return int(self.docker.run("wait", cid, timeout=timeout).stdout.strip())

    def remove(self) -> None:
        """``down -v``; whatever of the project survives it is removed by id."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=120)
        for kind in ("container", "network", "volume"):
            for id_ in self.ids(kind):
                rm = ["rm", "-f", id_] if kind == "container" else [kind, "rm", id_]
                subprocess.run([self.docker.client, *rm], capture_output=True, check=False)


@contextlib.contextmanager
def _stack(docker: Docker, files: list[Path], env: dict[str, str]) -> Iterator[Stack]:
    stack = Stack(docker, files, env)
    try:
        yield stack
    finally:
        stack.remove()


def _override(reports: Path) -> dict[str, Any]:
    """The test's compose override (see the module docstring)."""
    master = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["master"]
    return {
        "services": {
            "master": {
                "command": [*master["command"], "--json-file", "reports/locust"],
                "environment": {
                    "LOCUST_ML_SHAPE": SHAPE,
                    "LOCUST_ML_ARRIVAL": "constant",
                    "LOCUST_ML_PROMPT_TOKENS": "const:30",
                    "LOCUST_ML_OUTPUT_TOKENS": "const:4",
                },
                "volumes": [f"{reports}:/home/locust/reports"],
            },
        }
    }


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    qs = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{qs}", timeout=5) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _wait_query(url: str, expr: str, timeout: float = 60.0) -> float:
    """Poll an instant query until its one value is above 0; returns it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            last = _query(url, expr)
            if len(last) == 1 and float(last[0]["value"][1]) > 0:
                return float(last[0]["value"][1])
        time.sleep(0.5)
    pytest.fail(f"{expr!r} not above 0 in {timeout:g} s (last: {last})")


def _wait_log(stack: Stack, cid: str, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, logs := stack.logs(cid)):
        running = stack.inspect(cid)["State"]["Running"]
        if not running or time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} in the master's log:\n{logs[-3000:]}")
        time.sleep(0.5)


def _full_windows(step: dict[str, Any]) -> list[dict[str, Any]]:
    """The step's windows after the first, without a shortened last one."""
    windows = [w for w in step["windows"] if w["index"] >= 1]
    length = max(w["end"] - w["start"] for w in windows)
    return [w for w in windows if w["end"] - w["start"] > 0.999 * length]


def _rate(windows: list[dict[str, Any]]) -> float:
    seconds = sum(float(w["end"]) - float(w["start"]) for w in windows)
    return sum(int(w["requests"]) for w in windows) / seconds


def test_the_stack_runs_a_ramp_prometheus_scrapes_and_a_killed_worker_is_reported(
    docker: tuple[Docker, Images], tmp_path: Path
) -> None:
    daemon, images = docker
    reports = tmp_path / "reports"
    reports.mkdir()
    reports.chmod(0o777)  # the containers write as user 10001
    override = tmp_path / "compose.test.yaml"
    override.write_text(yaml.safe_dump(_override(reports)))
    env = dict(
        os.environ,
        SERVER_BACKEND="simulated",
        LOCUST_HEADLESS="true",
        LOCUST_EXPECT_WORKERS="2",
        **dict.fromkeys(PORT_VARIABLES, ""),
    )
    queries: dict[str, float] = {}
    t0 = time.monotonic()
    with _stack(daemon, [COMPOSE_FILE, COMPOSE_LOCAL, override], env) as stack:
        stack.compose("up", "-d", "--no-build", *SERVICES)
        containers = {cid: stack.inspect(cid) for cid in stack.ids()}
        by_service: dict[str, list[dict[str, Any]]] = {}
        for info in containers.values():
            service = info["Config"]["Labels"]["com.docker.compose.service"]
            by_service.setdefault(service, []).append(info)
        assert sorted(by_service) == sorted(SERVICES)
        assert len(by_service["worker"]) == 2
        # On the project's own network, published on loopback only.
        for info in containers.values():
            name = info["Name"]
            assert list(info["NetworkSettings"]["Networks"]) == [f"{stack.project}_default"], name
            for bindings in info["NetworkSettings"]["Ports"].values():
                assert all(b["HostIp"] == "127.0.0.1" for b in bindings or []), (name, bindings)
        (master,) = by_service["master"]
        (prometheus,) = by_service["prometheus"]
        port = prometheus["NetworkSettings"]["Ports"]["9090/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"

        # While the ramp runs: Prometheus scrapes the exporter and the server.
        for job in ("locust-ml", "reference-server"):
            queries[f'up{{job="{job}"}}'] = _wait_query(url, f'up{{job="{job}"}} == 1')
        for expr in (
            "sum(rate(locust_ml_requests_total[10s]))",
            'sum(rate(locust_ml_server_requests_total{endpoint="/v1/chat/completions"}[10s]))',
        ):
            queries[expr] = _wait_query(url, expr)

        # Step 2 runs over both workers; a report later one is killed, early
        # enough in the 16 s step that windows after the master noticed remain
        # (reading the log took seconds on a crowded machine).
        _wait_log(stack, master["Id"], rf"step 2: {RATES[1]:g}(\.0)? req/s over 2 workers", 120)
        time.sleep(3)
        victim, survivor = sorted(
            by_service["worker"],
            key=lambda i: i["Config"]["Labels"]["com.docker.compose.container-number"],
            reverse=True,
        )
        daemon.run("kill", "--signal", "KILL", victim["Id"])
        killed_at = time.time()
        code = stack.wait(master["Id"], timeout=120)
        stack.wait(survivor["Id"], timeout=60)
        run_s = time.monotonic() - t0
        master_log = stack.logs(master["Id"])
        survivor_log = stack.logs(survivor["Id"])
        victim_state = stack.inspect(victim["Id"])["State"]
        t_down = time.monotonic()
    down_s = time.monotonic() - t_down
    # Every container, network and volume of the project is gone.
    assert (stack.ids(), stack.ids("network"), stack.ids("volume")) == ([], [], [])

    assert victim_state["ExitCode"] == 128 + signal.SIGKILL
    assert "Traceback" not in master_log, master_log[-3000:]
    (report_file,) = reports.glob("*/report.json")
    report = json.loads(report_file.read_text())
    requests, failures = locust_aggregated_count(reports / "locust")
    ((survivor_id, (survived, _)),) = [
        (w, (int(n), int(f))) for w, n, f in WORKER_LINE.findall(survivor_log)
    ]
    (victim_id,) = set(READY_LINE.findall(master_log)) - {survivor_id}
    assert victim_id.startswith(victim["Config"]["Hostname"] + "_")
    (note,) = [n for n in report["notes"] if victim_id in n]
    m = NOTE_COUNT.search(note)
    assert m is not None, note
    reported_by_victim = int(m.group(1))
    # The figures, for whoever runs this with -s (or reads a failure).
    print(f"\nimages: {images.seconds:.1f} s", *images.lines, sep="\n  ")
    print(f"stack: up to the master's exit {run_s:.1f} s, down -v {down_s:.1f} s")
    print(*(f"prometheus: {expr} = {value:g}" for expr, value in queries.items()), sep="\n")
    print(
        f"report totals: {report['totals']['requests']} requests, "
        f"{report['totals']['failures']} failures; Locust's: {requests}, {failures}; "
        f"the survivor sent {survived}, the killed worker had reported {reported_by_victim}"
    )
    for step in report["steps"]:
        print(
            f"step {step['id']}: offered {step['offered_rps']:g}/s, "
            f"achieved {step['achieved_rps']:g}/s, {step['judgement']}"
        )
    print(f"master exit code {code}; verdict {report['verdict']}\nnote: {note}")
    assert report["run"]["mode"] == "distributed"
    assert report["run"]["workers"] == 2
    assert [s["offered_rps"] for s in report["steps"]] == list(RATES)
    assert code == report["verdict"]["exit_code"]
    # The report said what happened to the killed worker ...
    assert "stopped reporting at" in note
    assert "carried its share of the arrival rate" in note
    assert reported_by_victim > 0
    # ... lost nothing it had reported: report == Locust's == survivor + the victim's reports ...
    assert report["totals"]["requests"] == requests == survived + reported_by_victim
    assert report["totals"]["failures"] == failures == 0
    # ... and once the master noticed (3-5 s), the survivor sent the whole rate.
    windows = _full_windows(report["steps"][1])
    after = [w for w in windows if w["start"] >= killed_at + 6.0]
    assert len(after) >= 3, windows
    assert _rate(after) == pytest.approx(RATES[1], rel=0.05)
