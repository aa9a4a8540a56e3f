#!/usr/bin/env python3
"""Project tasks that work on a fresh machine with only Python and pip.

    python3 dev.py demo   # install, then the capacity search -> report
    python3 dev.py test   # install dev deps (and KServe, MLServer for the interop
                          # tests, in .interop/), then ruff, mypy, the whole test suite

Each task creates (or reuses) the virtualenv ``.venv`` (``LOCUST_ML_VENV`` to
move it) and reinstalls only when ``pyproject.toml`` changed. Extra arguments
go to ``locust`` (demo) or ``pytest`` (test).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("LOCUST_ML_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _run(*cmd: str | Path) -> int:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_venv(extra: str) -> None:
    """Create the venv if missing; (re)install the project with ``extra``."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on any python3
        sys.exit(f"dev.py: Python >= 3.11 is needed, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"dev.py: creating virtualenv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".locust-ml-{extra}-{digest}"
    if stamp.exists():
        return
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run(*pip, "-e", f".[{extra}]") != 0:
        sys.exit("dev.py: installing the project failed (see pip's output above)")
    for old in VENV.glob(f".locust-ml-{extra}-*"):
        old.unlink()
    stamp.touch()


def demo(args: list[str]) -> int:
    ensure_venv("server")
    return _run(
        BIN / "locust",
        "-f",
        "locustfiles/summarizer.py",
        "--headless",
        # The main job, from its defaults: the capacity search (a saturation
        # probe, then Poisson arrivals bracketed and bisected).
        "--ml-shape",
        "capacity-search",
        # What the report decides with: the SLO, an instance price (a 4-vCPU
        # cloud VM) and a peak to plan replicas for.
        "--ml-slo",
        "p95<3s",
        "--ml-price-per-hour",
        "0.17",
        "--ml-instance",
        "c6i.xlarge",
        "--ml-target-rps",
        "50",
        *args,
    )


#: Debian packages some tests use, and the command that shows each is there.
SYSTEM_PACKAGES = {
    # Prometheus (and promtool) scrape the exporter in its tests.
    "prometheus": ("prometheus", "promtool"),
    # Headless Chromium opens the HTML report and Locust's web UI in tests.
    "chromium": ("chromium",),
    # The docker stack's test builds the images and runs docker/compose.yaml
    # (tests/integration/test_docker_stack.py starts dockerd when none runs);
    # debootstrap builds its local base (docker/build-local-base.sh).
    "docker.io": ("dockerd", "docker"),
    "docker-compose": ("docker-compose",),
    "debootstrap": ("debootstrap",),
}


def ensure_system_packages() -> None:
    """Install the Debian packages tests use, when missing and possible.

    With apt-get as root (CI, a fresh container) they are installed; otherwise
    the tests that need them skip and say why.
    """
    missing = [
        pkg
        for pkg, commands in SYSTEM_PACKAGES.items()
        if not all(shutil.which(c) for c in commands)
    ]
    if not missing:
        return
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(
            f"dev.py: {', '.join(missing)} not installed and apt-get not usable; "
            "the tests that need them will be skipped",
            flush=True,
        )
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        print("+ " + " ".join(cmd), flush=True)
        if subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL) != 0:
            print(f"dev.py: installing {', '.join(missing)} failed; their tests will be skipped")
            return


def ensure_interop_servers() -> None:
    """KServe and MLServer from PyPI, each in its own venv under .interop/ (see
    tests/interop/servers.py); the interoperability tests skip, saying why, without them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("servers", ROOT / "tests/interop/servers.py")
    if spec is None or spec.loader is None:
        return
    servers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(servers)

    def ensure(name: str) -> None:
        if not servers.stamp(name).exists():
            print(f"dev.py: installing {name} into {servers.venv_dir(name)}", flush=True)
        problem = servers.ensure_venv(name)
        if problem is not None:
            print(f"dev.py: {name}: {problem}; its interoperability tests will be skipped")

    with concurrent.futures.ThreadPoolExecutor() as pool:
        list(pool.map(ensure, servers.REQUIREMENTS))


def test(args: list[str]) -> int:
    """Lint, types and both pytest sessions; side checks run beside the main session.

    The main session spreads over two pytest-xdist workers, a test file at a
    time (``--dist loadfile``: a file's tests and its module fixtures, such as
    a server, stay on one worker): the unit files first, then the real-process
    files longest first (tests/conftest.py), so neither worker ends long
    after the other.
    mypy runs meanwhile, its output kept and printed after; the gevent
    session runs after it (see docs/development.md).
    """
    began = time.monotonic()
    phases: list[tuple[str, float]] = []

    def phase(name: str, since: float) -> float:
        now = time.monotonic()
        phases.append((name, now - since))
        return now

    # On a fresh clone the three pip installs (ours, KServe's, MLServer's) take
    # a minute or more each, mostly waiting on the registry: side by side.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        interop = pool.submit(ensure_interop_servers)
        ensure_venv("dev")
        ensure_system_packages()
        interop.result()
    # The suite starts a hundred-odd Python processes (pytest's workers, Locust
    # masters and workers, servers) that import the same modules: with
    # PYTHONDONTWRITEBYTECODE set, as on this project's machines, each compiled
    # them all again (0.35 s a Locust process; pytest rewrote every test
    # module's asserts anew: 14.5 s to collect instead of 6.7). __pycache__/ is
    # ignored by git.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    mark = phase("setup", began)
    failed = []
    for name, cmd in (
        ("ruff check", [BIN / "ruff", "check", "."]),
        ("ruff format", [BIN / "ruff", "format", "--check", "."]),
    ):
        if _run(*cmd) != 0:
            failed.append(name)
    mark = phase("ruff", mark)
    side: list[tuple[str, list[str | Path]]] = [("mypy", [BIN / "mypy"])]
    with contextlib.ExitStack() as logs:
        running = []
        for name, cmd in side:
            log = logs.enter_context(tempfile.TemporaryFile(mode="w+"))
            print(f"+ {' '.join(str(c) for c in cmd)}  (beside the main session)", flush=True)
            proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=log, stderr=log)
            running.append((name, proc, log))
        main = [PY, "-m", "pytest", "-n", "2", "--dist", "loadfile", *args]
        if _run(*main) != 0:
            failed.append("pytest")
        for name, proc, log in running:
            code = proc.wait()
            log.seek(0)
            print(f"--- {name} (exit {code}) ---\n{log.read()}", end="", flush=True)
            if code != 0:
                failed.append(name)
    mark = phase("pytest, mypy beside", mark)
    # In-process Locust tests need gevent's patching before pytest starts (see
    # tests/conftest.py); they run in a session of their own, after the main one:
    # their in-process master and workers miss heartbeats beside real-process tests.
    if _run(PY, "-m", "gevent.monkey", "--module", "pytest", *args) != 0:
        failed.append("pytest (gevent)")
    phase("pytest (gevent)", mark)
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases)
    print(f"dev.py test: {times}; {time.monotonic() - began:.0f} s in all", flush=True)
    if failed:
        print(f"dev.py test: FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("dev.py test: all checks passed", flush=True)
    return 0


TASKS = {"demo": demo, "test": test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        return 2
    return TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
