"""Each bundled locustfile, headless for a few seconds against the reference server it starts.

Locustfiles are documentation (``shared/CONVENTIONS.md``): these runs show that
each one works as its docstring says, with no ``--host``, on small payload
pools so that the whole run takes seconds. (``summarizer.py``'s run is in
``test_summarizer_locustfile.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import locust_aggregated_count, run_locust

pytestmark = pytest.mark.slow

SHORT_RAMP = ["--ml-shape", "ramp:start=1,factor=2,max=2,step=2s,window=0.25s"]
SMALL_POOL = ["--ml-pool-draws", "64", "--ml-pool-max-mb", "4"]


def _run(tmp_path: Path, locustfile: str, *args: str) -> tuple[dict, str]:
    out_dir = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            f"locustfiles/{locustfile}",
            "--headless",
            *SHORT_RAMP,
            "--ml-report-dir",
            str(out_dir),
            "--json-file",
            str(tmp_path / "locust"),
            *args,
        ]
    )
    assert run.returncode == 0, run.output[-4000:]
    report = json.loads((out_dir / "report.json").read_text())
    requests, failures = locust_aggregated_count(tmp_path / "locust")
    assert report["totals"]["requests"] == requests > 0
    assert report["totals"]["failures"] == failures == 0
    assert [s["users"] for s in report["steps"]] == [1, 2]
    for step in report["steps"]:
        assert step["requests"] > 0
        assert step["failures"] == 0
        assert sum(e["bytes_sent"] for e in step["endpoints"]) > 0
    return report, run.output


def test_image_classifier_sends_trace_sized_jpegs_over_v2(tmp_path: Path) -> None:
    report, output = _run(tmp_path, "image_classifier.py", *SMALL_POOL)
    assert "backend=image-classifier" in output
    # The reference server lists binary_tensor_data: binary it is, without being asked.
    assert "encoded files as BYTES in binary tensors: GET /v2 (locust-ml" in output
    (endpoint,) = report["totals"]["endpoints"]
    assert endpoint["name"] == "/v2/models/image-classifier/infer"
    # ImageNet-sized JPEGs: tens of kB each on average, not a fixed tiny image.
    assert endpoint["bytes_sent"] / endpoint["requests"] > 10_000


def test_speech_to_text_sends_trace_length_wavs_over_v2(tmp_path: Path) -> None:
    report, output = _run(tmp_path, "speech_to_text.py", *SMALL_POOL)
    assert "backend=speech" in output
    (endpoint,) = report["totals"]["endpoints"]
    assert endpoint["name"] == "/v2/models/speech/infer"
    # LibriSpeech clips last seconds: 16 kHz PCM16 is 32 kB a second.
    assert endpoint["bytes_sent"] / endpoint["requests"] > 32_000
