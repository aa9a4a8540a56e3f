"""Third-party inference servers from PyPI for the interoperability tests: venvs, processes.

KServe's Python model server and MLServer pin web stacks that conflict with
ours and with each other (MLServer 1.7 needs FastAPI < 0.116, KServe 0.21
ships with 0.165), so each gets a venv of its own under ``.interop/``,
created from :data:`REQUIREMENTS` by :func:`ensure_venv`: ``python3 dev.py
test`` calls it before pytest (a few minutes the first time, then a stamp
file says it is done), and the tests' fixtures call it too, skipping with
the reason when the venv can't be made (no network, no PyPI).

Each server runs the tiny models of ``kserve_models.py`` or
``mlserver_models.py`` beside this file, which decode what they receive
(JPEG/PNG/WebP, WAV/FLAC, pixels, samples), so a 200 means the payload
arrived intact. :func:`serve` starts one on a free loopback port and ends it
by its PID. Standard library only: ``dev.py`` imports this file before the
project is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENVS = ROOT / ".interop"

#: What each server's venv holds: the versions verified here. Pillow and
#: soundfile are for the tiny models' decoding.
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "kserve": ("kserve==0.21.0", "pillow>=10.4", "soundfile>=0.12"),
    "mlserver": ("mlserver==1.7.1", "pillow>=10.4", "soundfile>=0.12"),
}


def venv_dir(name: str) -> Path:
    return VENVS / f"{name}-venv"


def _python(name: str) -> Path:
    return venv_dir(name) / ("Scripts" if os.name == "nt" else "bin") / "python"


def stamp(name: str) -> Path:
    digest = hashlib.sha256("\n".join(REQUIREMENTS[name]).encode()).hexdigest()[:16]
    return venv_dir(name) / f".installed-{digest}"


def ensure_venv(name: str, *, quiet: bool = True) -> str | None:
    """Create or update ``name``'s venv; None when ready, else why not (one line)."""
    if stamp(name).exists():
        return None
    target = venv_dir(name)
    if not _python(name).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
    cmd = [str(_python(name)), "-m", "pip", "install", "--disable-pip-version-check"]
    cmd += ["-q"] if quiet else []
    result = subprocess.run(
        [*cmd, *REQUIREMENTS[name]], capture_output=True, text=True, timeout=1800, check=False
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return f"pip install {' '.join(REQUIREMENTS[name])} failed: {tail[0]}"
    for old in target.glob(".installed-*"):
        old.unlink()
    stamp(name).touch()
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v2/health/ready", timeout=1) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


@contextlib.contextmanager
def serve(name: str, *, timeout: float = 90.0) -> Iterator[str]:
    """The base URL of server ``name`` with its tiny models loaded; stopped (by PID) on exit."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        log = Path(tmp) / "server.log"
        if name == "kserve":
            args = [str(HERE / "kserve_models.py"), "--http_port", str(port)]
        else:
            repo = Path(tmp) / "models"
            repo.mkdir()
            args = [str(HERE / "mlserver_models.py"), str(repo), str(port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(_python(name)), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                start_new_session=True,  # its workers go with it
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while not _ready(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become ready: {log.read_text()[-2000:]}")
                time.sleep(0.5)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


if __name__ == "__main__":
    for server in sys.argv[1:] or REQUIREMENTS:
        print(f"{server}: {ensure_venv(server, quiet=False) or 'ready'}", flush=True)
