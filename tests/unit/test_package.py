"""Package-level contracts: the public names, and the purity of the pure layer."""

from __future__ import annotations

import subprocess
import sys

import pytest

import locust_ml

PURE_MODULES = [
    "locust_ml",
    "locust_ml.analysis",
    "locust_ml.schedules",
    "locust_ml.config",
    "locust_ml.payloads",
    "locust_ml.report",
    "locust_ml.report.json",
    "locust_ml.report.console",
    "locust_ml.errors",
    "locust_ml.traces",
    "locust_ml.arrivals",
    "locust_ml.shapes",
    "locust_ml.options",
    "locust_ml.preflight",
    "locust_ml.protocols",
    "locust_ml.server.embedded",
    "locust_ml.sweep",
    "locust_ml.sweep.configs",
    "locust_ml.sweep.ranking",
    "locust_ml.sweep.strategy",
    "locust_ml.sweep.settings",
]


def test_pure_modules_do_not_import_locust_or_gevent() -> None:
    # One interpreter, the modules imported one by one: the first that brings
    # Locust or gevent in is named (importing locust monkey-patches the process).
    code = (
        "import importlib, sys\n"
        f"for name in {PURE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = [m for m in ('locust', 'gevent') if m in sys.modules]\n"
        "    if bad:\n"
        "        print(name, ','.join(bad))\n"
        "        break\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {out.stdout.strip()}"


def test_public_names_are_what_we_mean_to_export() -> None:
    assert set(locust_ml.__all__) == {
        "AudioUser",
        "ConfigError",
        "ConversationUser",
        "DependencyError",
        "ImageUser",
        "LocustMLError",
        "MLUser",
        "CapacitySearchShape",
        "RampShape",
        "SoakShape",
        "SpikeShape",
        "StagesShape",
        "TargetError",
        "TextUser",
        "TraceError",
        "TraceReplayShape",
        "TraceReplayUser",
        "__version__",
    }


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = locust_ml.Nope  # type: ignore[attr-defined]


def test_errors_refine_builtins() -> None:
    assert issubclass(locust_ml.ConfigError, ValueError)
    assert issubclass(locust_ml.TraceError, ValueError)
    assert issubclass(locust_ml.TargetError, ConnectionError)
    assert issubclass(locust_ml.DependencyError, ImportError)
    for err in (locust_ml.ConfigError, locust_ml.TargetError):
        assert issubclass(err, locust_ml.LocustMLError)


def test_version_matches_metadata() -> None:
    from importlib.metadata import version

    assert locust_ml.__version__ == version("locust-ml")


def test_lazy_user_import_registers_the_plugin() -> None:
    code = (
        "import sys\n"
        "from locust_ml import RampShape, TextUser\n"
        "assert 'locust_ml.plugin.hooks' in sys.modules\n"
        "assert TextUser.abstract and RampShape.abstract\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
