"""The OpenAI adapter against the real reference server, read incrementally over a socket.

The simulated backend's timing is known: a batch of one runs ``base_ms +
per_item_ms`` and a stream's m tokens come at ``start + exec * k / m``. With
``--base-ms 200 --per-item-ms 0 --max-batch-size 1`` and ``max_tokens`` 10,
tokens arrive ~20 ms apart, the first ~20 ms after the batch starts, the last
~200 ms after. The server sleeps to those deadlines, so the lower bounds are
firm; the upper bounds are generous (a loaded 2-core machine).
"""

from __future__ import annotations

import http.client
import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from locust_ml.protocols import ChatCompletions, Completions, HttpRequest, InferenceResult
from tests.integration.helpers import ROOT, Server

pytestmark = pytest.mark.slow

SERVE = [sys.executable, "-m", "locust_ml.cli", "serve", "--backend", "simulated"]
SERVE += ["--base-ms", "200", "--per-item-ms", "0", "--max-batch-size", "1"]
MODEL = "summarizer"
PROMPT = "Load tests measure what users feel. Streams make the first token matter."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``locust-ml serve --backend simulated --base-ms 200 --per-item-ms 0 --max-batch-size 1``."""
    port_file = tmp_path_factory.mktemp("server") / "port"
    proc = subprocess.Popen(
        [*SERVE, "--port", "0", "--port-file", str(port_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = _wait_ready(proc, port_file)
        yield Server(url, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], port_file: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the reference server exited early"
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text.isdigit():
            conn = http.client.HTTPConnection("127.0.0.1", int(text), timeout=2)
            try:
                conn.request("GET", "/health/ready")
                if conn.getresponse().status == 200:
                    return f"http://127.0.0.1:{text}"
            except OSError:
                pass
            finally:
                conn.close()
        time.sleep(0.05)
    pytest.fail("the reference server did not become ready")


def send(
    server: Server,
    api: ChatCompletions | Completions,
    req: HttpRequest,
    *,
    max_reads: int | None = None,
) -> InferenceResult:
    """Send ``req``; feed the stream parser each read as it arrives, or parse the whole body."""
    where = urlsplit(server.url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
    try:
        started = time.monotonic()
        conn.request(req.method, req.path, req.body, dict(req.headers))
        resp = conn.getresponse()
        if not req.stream:
            body = resp.read()
            return api.parse(
                resp.status,
                dict(resp.getheaders()),
                body,
                latency_ms=(time.monotonic() - started) * 1000.0,
            )
        stream = api.stream_parser(started, status=resp.status)
        reads = 0
        while chunk := resp.read1(65536):
            stream.feed(chunk, time.monotonic())
            reads += 1
            if stream.done or (max_reads is not None and reads >= max_reads):
                break
        return stream.finish(time.monotonic())
    finally:
        conn.close()


def warm_up(server: Server) -> None:
    api = ChatCompletions(MODEL)
    assert send(server, api, api.request(PROMPT, max_tokens=2)).ok


def check_stream_timing(r: InferenceResult) -> None:
    assert r.ok, r.error
    assert (r.tokens_out, r.tokens_estimated) == (10, False)
    assert r.ttft_ms is not None
    assert r.latency_ms is not None
    assert len(r.itl_ms) == 9
    # first token at ~20 ms of the 200 ms batch, the last at ~200 ms
    assert 15.0 <= r.ttft_ms <= 150.0
    assert 190.0 <= r.latency_ms <= 600.0
    # ITL: ~20 ms apart; the mean is (last - first) / 9 = 180 / 9 ms
    assert 15.0 <= statistics.mean(r.itl_ms) <= 45.0
    assert 10.0 <= statistics.median(r.itl_ms) <= 45.0
    assert r.tpot_ms is not None
    assert 15.0 <= r.tpot_ms <= 45.0
    assert r.tokens_per_s is not None
    assert 10 / 0.6 <= r.tokens_per_s <= 10 / 0.19


def test_streaming_chat_ttft_and_itl_match_the_simulated_timing(server: Server) -> None:
    warm_up(server)
    api = ChatCompletions(MODEL, stream=True)
    r = send(server, api, api.request(PROMPT, max_tokens=10))
    check_stream_timing(r)
    assert r.finish_reason == "length"
    assert r.tokens_in is not None
    assert r.tokens_in > 0
    assert len(r.text or "") > 10


def test_streaming_completions(server: Server) -> None:
    warm_up(server)
    api = Completions(MODEL, stream=True)
    check_stream_timing(send(server, api, api.request(PROMPT, max_tokens=10)))


def test_non_streaming_chat_has_the_same_text_as_a_stream(server: Server) -> None:
    api = ChatCompletions(MODEL)
    whole = send(server, api, api.request(PROMPT, max_tokens=10))
    streamed = send(server, api, api.request(PROMPT, max_tokens=10, stream=True))
    assert whole.ok, whole.error
    assert (whole.tokens_out, whole.tokens_estimated) == (10, False)
    assert whole.ttft_ms is None
    assert whole.latency_ms is not None
    assert whole.latency_ms >= 190.0
    assert whole.text == streamed.text


def test_a_stream_the_client_cuts_short_is_invalid(server: Server) -> None:
    api = ChatCompletions(MODEL, stream=True)
    r = send(server, api, api.request(PROMPT, max_tokens=10), max_reads=3)
    assert (r.ok, r.error_class) == (False, "invalid")
    assert "before data: [DONE]" in (r.error or "")


def test_an_error_status_on_a_stream_carries_the_servers_message(server: Server) -> None:
    api = ChatCompletions("no-such-model", stream=True)
    r = send(server, api, api.request(PROMPT, max_tokens=10))
    assert (r.ok, r.error_class, r.status) == (False, "client_error", 404)
    assert "does not exist" in (r.error or "")
    bad = ChatCompletions(MODEL, stream=True, extra_body={"max_tokens": "5"})
    r = send(server, bad, bad.request(PROMPT))
    assert (r.ok, r.error_class, r.status) == (False, "client_error", 400)
    assert "max_tokens" in (r.error or "")
    assert json.loads(bad.request(PROMPT).body)["max_tokens"] == "5"
