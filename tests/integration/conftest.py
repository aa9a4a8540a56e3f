"""Fixtures for real-process tests (see ``helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from locust_ml.server.embedded import EmbeddedServer
from tests.integration.helpers import Server


@pytest.fixture(scope="session")
def simulated_server() -> Iterator[Server]:
    """A ``locust-ml serve --backend simulated`` process on a free loopback port.

    Started and stopped (by PID) by the same code the plugin uses for its
    embedded target; one per session (per xdist worker), shared by the tests
    that run one after another there: none changes its configuration, and
    a test that checks the server's counts reads them before and after
    (:meth:`Server.served`).
    """
    server = EmbeddedServer("simulated", "--base-ms 2 --per-item-ms 1 --max-batch-size 8")
    with server:
        url = server.start(timeout=30)
        assert server.proc is not None
        yield Server(url, server.proc)
