"""Test-session setup shared by every test.

Importing Locust monkey-patches the whole process with gevent, which would
change how the reference server's asyncio loop and model thread behave under
test. So the suite runs in two pytest sessions (``python3 dev.py test`` runs
both):

* ``pytest`` — everything except ``tests/unit/plugin`` (no gevent patching;
  real Locust runs happen in subprocesses);
* ``python -m gevent.monkey --module pytest tests/unit/plugin`` — the
  in-process Locust glue tests, patched before pytest starts, as Locust
  itself recommends.

Each session skips the other's tests at collection time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_TESTS = ROOT / "tests" / "unit" / "plugin"


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("socket"))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    path = Path(collection_path).resolve()
    in_plugin = path == PLUGIN_TESTS or PLUGIN_TESTS in path.parents
    if not in_plugin and path.is_dir() and PLUGIN_TESTS.is_relative_to(path):
        return None  # an ancestor of the plugin tests: keep walking
    return in_plugin != _gevent_patched()


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT
