"""Fixtures of the telemetry tests; the fakes themselves live in ``fakes.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.prometheus import find_prometheus, find_promtool
from tests.unit.telemetry.fakes import Endpoints, FakeNvml, serve_endpoints


@pytest.fixture
def fake_nvml() -> type[FakeNvml]:
    """The :class:`FakeNvml` class (``fake_nvml.from_fixture("a100_idle")``)."""
    return FakeNvml


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    """A real HTTP server on 127.0.0.1 in a thread (see ``fakes.py``)."""
    ends, server, thread = serve_endpoints()
    try:
        yield ends
    finally:
        ends.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def promtool() -> str:
    """Path of ``promtool`` (Debian package ``prometheus``), or skip."""
    path = find_promtool()
    if path is None:
        pytest.skip("promtool not found: apt-get install -y prometheus")
    return path


@pytest.fixture
def prometheus_binary() -> str:
    """Path of the ``prometheus`` server binary, or skip."""
    path = find_prometheus()
    if path is None:
        pytest.skip("prometheus not found: apt-get install -y prometheus")
    return path
