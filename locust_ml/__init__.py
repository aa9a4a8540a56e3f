"""locust-ml: load testing and capacity planning for ML inference services.

In a locustfile::

    import locust_ml                      # registers --ml-* options and listeners
    from locust_ml import RampShape, TextUser

Importing the package never imports Locust by itself: the pure layer
(``locust_ml.analysis``, ``locust_ml.schedules``, ...) must stay usable without
gevent's monkey-patching. The Locust-facing names are loaded lazily (PEP 562),
and the plugin registers itself when Locust is already loaded, which is always
the case inside a locustfile run by ``locust``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from locust_ml.errors import (
    ConfigError,
    DependencyError,
    LocustMLError,
    TargetError,
    TraceError,
)

__all__ = [
    "AudioUser",
    "ChatCompletionsUser",
    "ConfigError",
    "DependencyError",
    "ImageUser",
    "LocustMLError",
    "MLUser",
    "RampShape",
    "TargetError",
    "TextUser",
    "TraceError",
    "__version__",
]

__version__ = "0.1.0"

_LAZY = {
    "MLUser": "locust_ml.plugin.users",
    "ChatCompletionsUser": "locust_ml.plugin.users",
    "TextUser": "locust_ml.plugin.users",
    "ImageUser": "locust_ml.plugin.users",
    "AudioUser": "locust_ml.plugin.users",
    "RampShape": "locust_ml.plugin.shapes",
}

if TYPE_CHECKING:
    from locust_ml.plugin.shapes import RampShape
    from locust_ml.plugin.users import (
        AudioUser,
        ChatCompletionsUser,
        ImageUser,
        MLUser,
        TextUser,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'locust_ml' has no attribute {name!r}")
    import importlib

    import locust_ml.plugin  # noqa: F401 - registers the plugin first

    return getattr(importlib.import_module(module), name)


if "locust" in sys.modules:
    import locust_ml.plugin  # noqa: F401 - inside a Locust process: register the plugin
