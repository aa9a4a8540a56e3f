"""A target that echoes the API key in its error bodies leaks it nowhere (issue 13, item 7).

With ``api_key = "sk-test-SECRET123"`` and a 401 body that repeats the key
(bare, and inside the ``Authorization`` header it quotes), Locust's console
error table, its ``--html`` and ``--csv`` files, and every file of our report
kept the bare key: it is shorter than the key pattern, and the configured
key itself was never redacted. The user now removes the credentials it sent
from each failure's message before Locust's request event sees it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow

KEY = "sk-test-SECRET123"
#: A key with no key-like shape at all: only the literal redaction can catch it.
PLAIN_KEY = "opensesame42"

#: Two users, one per key (Locust's -u 2 starts one of each).
LOCUSTFILE = f"""
from locust import task
from locust_ml import TextUser


class Keyed(TextUser):
    api_key = "{KEY}"
    profile = None

    @task
    def ask(self) -> None:
        self.generate()


class PlainKeyed(Keyed):
    api_key = "{PLAIN_KEY}"
"""


class _Echo(BaseHTTPRequestHandler):
    """401 for everything, quoting the request's credentials in two shapes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key} (sent {auth!r})"}}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def echo_target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_an_echoed_key_reaches_no_output(tmp_path: Path, echo_target: str) -> None:
    locustfile = tmp_path / "keyed.py"
    locustfile.write_text(LOCUSTFILE)
    report_dir = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            str(locustfile),
            "--headless",
            "--host",
            echo_target,
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3s",
            "--ml-prompt-tokens",
            "const:10",
            "--ml-output-tokens",
            "const:2",
            "--csv",
            str(tmp_path / "locust"),
            "--html",
            str(tmp_path / "locust.html"),
            "--ml-report-dir",
            str(report_dir),
        ],
        timeout=60,
    )
    outputs = {"console": run.output}
    for path in tmp_path.rglob("*"):
        # (The locustfile and its compiled form under __pycache__ are the user's own.)
        if path.is_file() and path != locustfile and "__pycache__" not in path.parts:
            outputs[str(path.relative_to(tmp_path))] = path.read_text(errors="replace")
    # The run really failed with the echoed message, in every output that lists errors.
    assert "Incorrect API key provided" in outputs["locust_failures.csv"]
    assert "Incorrect API key provided" in outputs["locust.html"]
    assert "Incorrect API key provided" in outputs["report/report.json"]
    assert {"report/report.json", "report/report.html", "report/report.md"} <= set(outputs)
    leaks = [
        (name, key) for name, text in outputs.items() for key in (KEY, PLAIN_KEY) if key in text
    ]
    assert leaks == [], leaks
    assert "SECRET123" not in "".join(outputs.values())
