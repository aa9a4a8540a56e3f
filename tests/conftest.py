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


#: Real-process test files that run on the first xdist worker; every other
#: ``slow`` test runs on the second. Measured durations (``--durations``) keep
#: the two about even: capacity, distributed and telemetry runs here.
FIRST_STREAM = frozenset(
    {
        "test_capacity_report.py",
        "test_capacity_search.py",
        "test_distributed.py",
        "test_telemetry_locust.py",
        "test_getting_started.py",
        "test_coldstart_process.py",
        "test_server_process.py",
        "test_server_v2_process.py",
        "test_report_browser.py",
        "test_dashboard.py",
        "test_trace_replay_locustfile.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Real-process tests (``slow``) run in two streams of one test at a time.

    Under ``-n 2 --dist loadgroup`` (``python3 dev.py test``) each stream is
    an xdist group, so a worker runs its stream's tests one after another
    (never two of a stream at once) and the unit tests fill the gaps. Tests
    whose figures are accuracy, not wiring, live in ``benchmarks/`` and run
    on a quiet machine. Without xdist the marker does nothing.
    """
    del config
    for item in items:
        if item.get_closest_marker("slow") is not None:
            stream = "a" if item.path.name in FIRST_STREAM else "b"
            item.add_marker(pytest.mark.xdist_group(f"processes-{stream}"))


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT
