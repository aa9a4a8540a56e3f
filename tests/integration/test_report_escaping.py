"""A target whose error bodies carry HTML and secrets: the report escapes and redacts them.

The fake target answers every request with HTTP 500 and a JSON error whose
message contains a ``<script>`` tag, markup, and an echoed Authorization
header with an OpenAI-style key. A real ``locust`` run against it must write
a report whose HTML shows the message only escaped, and whose files never
contain the key.
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

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"  # noqa: S105 - a fake key to redact
HOSTILE = (
    f'<script>alert("owned")</script><img src=x onerror=alert(1)> Authorization: Bearer {SECRET}'
)


class _Hostile(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"error": {"message": HOSTILE, "type": "server_error"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile_target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_error_bodies_are_escaped_and_secrets_removed(tmp_path: Path, hostile_target: str) -> None:
    out = tmp_path / "r"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--host",
            hostile_target,
            "--ml-shape",
            "ramp:start=2,max=2,step=3s",
            "--ml-slo",
            "errors<1%",
            "--ml-report-dir",
            str(out),
        ],
        timeout=90,
    )
    assert run.returncode in (1, 2), run.output[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["failures"] > 0
    messages = " ".join(e["message"] for e in report["errors"])
    assert "alert(" in messages  # the target's words are kept (as text)...
    html = (out / "report.html").read_text()
    assert "&lt;script&gt;" in html  # ...and shown escaped
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    for name in ("report.json", "report.html", "report.md", "steps.csv"):
        assert SECRET not in (out / name).read_text(), name
