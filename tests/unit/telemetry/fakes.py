"""Replayed NVML readings and real local HTTP endpoints for the telemetry tests.

* :class:`FakeNvml` is a stand-in for the ``pynvml`` module that answers from a
  recorded JSON file in ``tests/fixtures/nvml/`` (keys are pynvml function
  names, values what they return; ``{"error": "NOT_SUPPORTED"}`` raises).
* :func:`serve_endpoints` serves the recorded exposition texts of
  ``tests/fixtures/exposition/`` from a real ``http.server`` on 127.0.0.1,
  plus the ways an endpoint goes wrong: HTML, binary, HTTP 500, a handler
  that never answers in time, and a closed port.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NVML_FIXTURES = FIXTURES / "nvml"
EXPOSITIONS = FIXTURES / "exposition"

_ERROR_CODES = {
    "UNINITIALIZED": 1,
    "NO_PERMISSION": 4,
    "NOT_SUPPORTED": 3,
    "DRIVER_NOT_LOADED": 9,
    "LIBRARY_NOT_FOUND": 12,
    "FUNCTION_NOT_FOUND": 13,
    "GPU_IS_LOST": 15,
    "UNKNOWN": 999,
}
_ERROR_TEXT = {
    1: "Uninitialized",
    3: "Not Supported",
    4: "Insufficient Permissions",
    9: "Driver Not Loaded",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    15: "GPU is lost",
    999: "Unknown Error",
}


class FakeNVMLError(Exception):
    """Like ``pynvml.NVMLError``: the NVML return code in ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _ERROR_TEXT.get(self.value, f"NVML error {self.value}")


@dataclass(frozen=True)
class _Handle:
    index: int


class FakeNvml:
    """A ``pynvml`` replacement replaying one recording; counts calls."""

    NVMLError = FakeNVMLError
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_ERROR_UNINITIALIZED = 1
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_FUNCTION_NOT_FOUND = 13
    NVML_ERROR_GPU_IS_LOST = 15

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.devices: list[dict[str, Any]] = recording.get("devices", [])
        self.initialized = False
        self.calls: list[str] = []

    @classmethod
    def from_fixture(cls, name: str) -> FakeNvml:
        return cls(json.loads((NVML_FIXTURES / f"{name}.json").read_text()))

    # Library lifetime.
    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        error = self.recording.get("init_error")
        if error:
            raise FakeNVMLError(_ERROR_CODES[error])
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")
        self._check()
        self.initialized = False

    def _check(self) -> None:
        if not self.initialized:
            raise FakeNVMLError(_ERROR_CODES["UNINITIALIZED"])

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return str(self.recording.get("driver_version", ""))

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._check()
        return _Handle(index)

    # Per-device calls: the recorded value, or the recorded error.
    def _value(self, function: str, handle: _Handle) -> Any:
        self.calls.append(function)
        self._check()
        value = self.devices[handle.index].get(function, {"error": "FUNCTION_NOT_FOUND"})
        if isinstance(value, dict) and "error" in value:
            raise FakeNVMLError(_ERROR_CODES[value["error"]])
        return value

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return str(self._value("nvmlDeviceGetName", handle))

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        return str(self._value("nvmlDeviceGetUUID", handle))

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> SimpleNamespace:
        return SimpleNamespace(**self._value("nvmlDeviceGetUtilizationRates", handle))

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle) -> SimpleNamespace:
        return SimpleNamespace(**self._value("nvmlDeviceGetMemoryInfo", handle))

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        return int(self._value("nvmlDeviceGetPowerUsage", handle))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:
        return int(self._value("nvmlDeviceGetEnforcedPowerLimit", handle))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        return int(self._value("nvmlDeviceGetTotalEnergyConsumption", handle))

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return int(self._value("nvmlDeviceGetTemperature", handle))

    def nvmlDeviceGetClockInfo(self, handle: _Handle, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        return int(self._value("nvmlDeviceGetClockInfo", handle))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[SimpleNamespace]:
        procs = self._value("nvmlDeviceGetComputeRunningProcesses", handle)
        return [SimpleNamespace(**p) for p in procs]


def exposition(name: str) -> str:
    """A recorded exposition text from ``tests/fixtures/exposition``."""
    return (EXPOSITIONS / name).read_text()


@dataclass
class Endpoints:
    """Base URL of the local test server and a port nothing listens on."""

    base: str
    closed_port: int
    release: threading.Event

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"


def _handler(release: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.strip("/")
            text_type = "text/plain; version=0.0.4; charset=utf-8"
            if (EXPOSITIONS / f"{path}.txt").is_file():
                self._send(200, (EXPOSITIONS / f"{path}.txt").read_bytes(), text_type)
            elif path == "html":
                page = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
                self._send(200, page, "text/html")
            elif path == "binary":
                self._send(200, bytes(range(256)) * 4, "application/octet-stream")
            elif path == "error":
                self._send(500, b"internal error", "text/plain")
            elif path == "slow":
                release.wait(5.0)  # the client gives up long before; teardown releases
                self._send(200, b"", text_type)
            else:
                self._send(404, b"not found", "text/plain")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # the "slow" client hangs up before its answer: expected


def serve_endpoints() -> tuple[Endpoints, ThreadingHTTPServer, threading.Thread]:
    """Start the endpoint server in a thread; the caller stops it."""
    release = threading.Event()
    server = _Server(("127.0.0.1", 0), _handler(release))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    with socket.socket() as s:  # a port that was free a moment ago and is closed now
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    ends = Endpoints(f"http://127.0.0.1:{server.server_address[1]}", closed, release)
    return ends, server, thread
