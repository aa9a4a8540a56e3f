"""A minimal HTTP sink on 127.0.0.1 for benchmarks that measure the load generator.

It reads each request (head and ``Content-Length`` body) and answers one
canned response, in its own process, several times cheaper per request than
any real server, so the generator and not the target sets the pace. Used by
``user_overhead.py`` (a v2 answer) and ``distributed_scaling.py`` (a chat
completion). ``sink(tmp, answer, gets)`` starts it and stops it (by PID) on
exit; ``gets`` maps paths to the bodies a ``GET`` of them answers (the v2
metadata an image user asks for before the test), every other request gets
``answer``.

Run alone: ``python benchmarks/sink.py PORT_FILE ANSWER_FILE [GETS_FILE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _serve(port_file: Path, body: bytes, gets: dict[str, str]) -> None:
    answer = _response(body)
    by_path = {
        b"GET " + path.encode() + b" ": _response(doc.encode()) for path, doc in gets.items()
    }

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                size = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        size = int(line[15:])
                await reader.readexactly(size)
                if head[:4] == b"GET ":
                    line = head[: head.index(b"HTTP/")]
                    writer.write(by_path.get(line, answer))
                else:
                    writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 20)
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextlib.contextmanager
def sink(tmp: Path, answer: bytes, gets: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``(url, pid)`` of a sink answering ``answer`` (a JSON body), killed on exit."""
    port_file, answer_file = tmp / "sink-port", tmp / "sink-answer.json"
    gets_file = tmp / "sink-gets.json"
    port_file.unlink(missing_ok=True)
    answer_file.write_bytes(answer)
    gets_file.write_text(json.dumps(gets or {}))
    cmd = [sys.executable, __file__, str(port_file), str(answer_file), str(gets_file)]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the sink did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}", proc.pid
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    gets = json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else {}
    _serve(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes(), gets)
