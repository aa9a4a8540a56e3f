"""Image and audio users against KServe and MLServer from PyPI: 0 failures in every encoding.

The servers (``tests/interop/servers.py``) run tiny models that decode what
they receive: an encoded image or audio file (``BYTES``), pixels (``FP32``
NCHW, ``UINT8`` NHWC), samples (``FP32 [1, n]``). Each test runs real
``locust`` processes against a real server on loopback and reads Locust's
own final stats: every user class (one per model and payload) sent requests,
none failed, and the console named the encoding chosen.

What each server takes (the table in docs/protocols.md comes from here):

* KServe 0.21 lists no ``binary_tensor_data``: JSON tensors by default
  (files base64, numbers as numbers); forced binary works for numeric
  tensors (its REST layer reads them), and v1 ``:predict`` with ``b64``
  instances for files. Binary ``BYTES`` (files) it can't take: it turns them
  into UTF-8 text (the issue this fixes), so that is not run.
* MLServer 1.7 lists no extension and takes JSON tensors only.

Skipped, with the reason, when the servers' venvs can't be installed
(``python3 dev.py test`` installs them into ``.interop/``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import ROOT, run_locust

pytestmark = pytest.mark.slow

sys.path.insert(0, str(ROOT / "tests" / "interop"))
import servers  # noqa: E402

MATRIX = "tests/interop/locustfile_matrix.py"
ALL = [
    "ImageFile",
    "ImageWebp",
    "ImagePixelsFp32",
    "ImagePixelsUint8",
    "AudioWav",
    "AudioFlac",
    "AudioPcm",
]
FILES = ["ImageFile", "ImageWebp", "AudioWav", "AudioFlac"]
TENSORS = ["ImagePixelsFp32", "ImagePixelsUint8", "AudioPcm"]


def _server(name: str) -> Iterator[str]:
    problem = servers.ensure_venv(name)
    if problem is not None:
        pytest.skip(f"{name} is not installed: {problem}")
    with servers.serve(name) as url:
        yield url


@pytest.fixture(scope="module")
def kserve() -> Iterator[str]:
    yield from _server("kserve")


@pytest.fixture(scope="module")
def mlserver() -> Iterator[str]:
    yield from _server("mlserver")


def per_class(json_prefix: Path) -> dict[str, tuple[int, int]]:
    entries = json.loads(Path(f"{json_prefix}.json").read_text())
    return {e["name"]: (int(e["num_requests"]), int(e["num_failures"])) for e in entries}


def run_matrix(
    host: str, tmp: Path, classes: list[str], *args: str
) -> tuple[dict[str, tuple[int, int]], str]:
    prefix = tmp / f"stats-{len(list(tmp.iterdir()))}"
    run = run_locust(
        [
            "-f",
            MATRIX,
            *classes,
            "--headless",
            "--host",
            host,
            # One user per class (the locustfile has no shape: Locust's own -u/-r/-t).
            "-u",
            str(len(classes)),
            "-r",
            str(len(classes)),
            "-t",
            "6s",
            "--json-file",
            str(prefix),
            "--ml-report-dir",
            str(tmp / "report"),
            *args,
        ],
        timeout=240,
    )
    # 1 is locust-ml's verdict on a 6-second step (too short to be judged stable), never
    # a failed request: those are counted from Locust's own stats by the caller.
    assert run.returncode in (0, 1), run.output[-3000:]
    return per_class(prefix), run.output


def assert_no_failures(stats: dict[str, tuple[int, int]], classes: list[str]) -> None:
    for name in classes:
        requests, failures = stats.get(name, (0, 0))
        assert requests > 0, f"{name} sent nothing: {stats}"
        assert failures == 0, f"{name}: {failures} of {requests} failed: {stats}"


def test_kserve_takes_json_tensors_by_default(kserve: str, tmp_path: Path) -> None:
    stats, output = run_matrix(kserve, tmp_path, ALL)
    assert_no_failures(stats, ALL)
    assert (
        "encoded files as BYTES (base64) in JSON tensors: "
        "GET /v2 (kserve 0.21.0) lists no binary_tensor_data" in output
    )
    assert "decoded pixels [1, 3, 224, 224] in JSON tensors" in output
    assert "decoded samples at 16000 Hz in JSON tensors" in output


def test_kserve_takes_binary_numeric_tensors_but_not_files_when_forced(
    kserve: str, tmp_path: Path
) -> None:
    """Why binary is not the default there: KServe turns binary BYTES into UTF-8 text."""
    stats, output = run_matrix(kserve, tmp_path, [*TENSORS, "ImageFile"], "--ml-encoding", "binary")
    assert_no_failures(stats, TENSORS)
    assert "decoded pixels [1, 224, 224, 3] in binary tensors: --ml-encoding binary" in output
    requests, failures = stats["ImageFile"]
    assert requests > 0
    assert failures == requests
    assert "Failed to encode" in output, output[-3000:]


def test_kserve_takes_v1_b64_instances(kserve: str, tmp_path: Path) -> None:
    stats, output = run_matrix(kserve, tmp_path, FILES, "--ml-protocol", "v1")
    assert_no_failures(stats, FILES)
    assert 'encoded files as v1 {"b64": ...} instances' in output


def test_mlserver_takes_json_tensors(mlserver: str, tmp_path: Path) -> None:
    stats, output = run_matrix(mlserver, tmp_path, ALL)
    assert_no_failures(stats, ALL)
    assert (
        "in JSON tensors: GET /v2 (mlserver 1.7.1) lists no binary_tensor_data (extensions: none)"
        in output
    )


def run_locustfile(locustfile: str, tmp: Path, *args: str) -> str:
    """A shipped locustfile, unchanged, on a short ramp and a small pool: its output, once
    its one user class sent requests and none failed."""
    prefix = tmp / "stats"
    run = run_locust(
        [
            "-f",
            f"locustfiles/{locustfile}",
            "--headless",
            "--ml-shape",
            "ramp:start=1,max=2,step=2s,window=0.25s",
            *("--ml-pool-draws", "64", "--ml-pool-max-mb", "4"),
            *("--json-file", str(prefix), "--ml-report-dir", str(tmp / "report")),
            *args,
        ],
        timeout=180,
    )
    assert run.returncode == 0, run.output[-3000:]
    ((_, (requests, failures)),) = per_class(prefix).items()
    assert requests > 0
    assert failures == 0, run.output[-3000:]
    return run.output


@pytest.mark.parametrize(
    ("locustfile", "server"),
    [("image_classifier.py", "kserve"), ("speech_to_text.py", "mlserver")],
)
def test_the_locustfiles_with_only_host(
    request: pytest.FixtureRequest, tmp_path: Path, locustfile: str, server: str
) -> None:
    """The shipped locustfiles with only --host; one server each: the matrix above runs
    every payload against both."""
    output = run_locustfile(locustfile, tmp_path, "--host", request.getfixturevalue(server))
    assert "BYTES (base64) in JSON tensors" in output


def test_the_reference_server_takes_json_when_asked(tmp_path: Path) -> None:
    """No --host: the embedded reference server lists binary_tensor_data, so binary is its
    default (``test_locustfiles.py`` runs that); JSON tensors when asked."""
    output = run_locustfile("image_classifier.py", tmp_path, "--ml-encoding", "json")
    assert "encoded files as BYTES (base64) in JSON tensors: --ml-encoding json" in output
