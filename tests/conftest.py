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
from typing import Any

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


#: The real-process test files that take longest (seconds on the project's
#: 2-core machine, ``pytest --durations``), longest first. The main session's
#: two workers take a file at a time; handed out longest first, after the unit
#: files, the last file either worker runs is a short one and neither waits
#: long for the other (xdist's own order, the files with most tests first,
#: left the minute-long files to the end: 40 s of one worker idle). A file not
#: listed runs after these, in collection order.
LONGEST_FIRST = (
    "test_interop_servers.py",  # 77 s: KServe and MLServer started from PyPI installs
    "test_distributed.py",  # 58 s
    "test_capacity_search.py",  # 50 s
    "test_docker_stack.py",  # 49 s
    "test_summarizer_locustfile.py",  # 29 s
    "test_interrupted.py",  # 26 s
    "test_sweep.py",  # 25 s
    "test_open_loop.py",  # 23 s
    "test_webui_browser.py",  # 22 s
    "test_capacity_report.py",  # 21 s
    "test_telemetry_locust.py",  # 19 s
    "test_locustfiles.py",  # 16 s
    "test_trace_replay_locustfile.py",  # 11 s
    "test_conversation_locustfile.py",  # 11 s
    "test_getting_started.py",  # 8 s
)


def _file_rank(scope: str) -> tuple[int, int]:
    """Unit files first (CPU-bound: they run beside a cold mypy), then the listed files."""
    name = scope.rsplit("/", 1)[-1]
    if not scope.startswith("tests/integration/"):
        return (0, 0)
    if name in LONGEST_FIRST:
        return (1, LONGEST_FIRST.index(name))
    return (2, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` that hands out the files in :func:`_file_rank` order."""
    from xdist.scheduler import LoadFileScheduling

    if config.getoption("dist") != "loadfile":
        return None

    class LongestFirst(LoadFileScheduling):  # type: ignore[misc]
        def _assign_work_unit(self, node: Any) -> None:
            # The base class hands out the queue's first unit: put the next one there.
            scope = min(self.workqueue, key=_file_rank)  # min is stable: collection order
            self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)
