"""Fixtures of the deployment-file tests (see ``deployfiles.py``)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.unit.deploy.deployfiles import (
    exported_metrics,
    locust_command_lines,
    parse_locust_commands,
)


@pytest.fixture(scope="session")
def locust_commands() -> dict[str, dict[str, Any]]:
    """Every ``locust`` command line of compose and the manifests, parsed by Locust.

    Keys: ``compose:master``, ``compose:worker``, ``compose+gpu:master``, ...,
    ``kube:<deployment>``. One subprocess for all of them.
    """
    cases = locust_command_lines()
    return dict(zip(cases, parse_locust_commands(cases.values()), strict=True))


@pytest.fixture(scope="session")
def metrics() -> dict[str, set[str]]:
    """Sample name -> label names that the exporter and the reference server expose."""
    return exported_metrics()


@pytest.fixture
def promtool() -> str:
    """Path of ``promtool`` (Debian package ``prometheus``), or skip."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not found: apt-get install -y prometheus")
    return path
