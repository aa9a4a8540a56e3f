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
from typing import TYPE_CHECKING

from locust_ml.errors import (
    ConfigError,
    DependencyError,
    LocustMLError,
    TargetError,
    TraceError,
)

__all__ = [
    "AudioUser",
    "CapacitySearchShape",
    "ConfigError",
    "ConversationUser",
    "DependencyError",
    "ImageUser",
    "LocustMLError",
    "MLUser",
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
]

from locust_ml.lazy import lazy_exports
from locust_ml.version import __version__

_LAZY = {
    "MLUser": "locust_ml.plugin.users",
    "TextUser": "locust_ml.plugin.users",
    "ImageUser": "locust_ml.plugin.users",
    "AudioUser": "locust_ml.plugin.users",
    "ConversationUser": "locust_ml.plugin.conversation_users",
    "TraceReplayUser": "locust_ml.plugin.trace_users",
    "TraceReplayShape": "locust_ml.plugin.trace_users",
    **dict.fromkeys(
        ("RampShape", "SoakShape", "SpikeShape", "StagesShape", "CapacitySearchShape"),
        "locust_ml.plugin.shapes",
    ),
}

if TYPE_CHECKING:
    from locust_ml.plugin.conversation_users import ConversationUser
    from locust_ml.plugin.shapes import (
        CapacitySearchShape,
        RampShape,
        SoakShape,
        SpikeShape,
        StagesShape,
    )
    from locust_ml.plugin.trace_users import TraceReplayShape, TraceReplayUser
    from locust_ml.plugin.users import (
        AudioUser,
        ImageUser,
        MLUser,
        TextUser,
    )


def _register_plugin() -> None:
    import locust_ml.plugin  # noqa: F401 - registers the plugin before a Locust-facing name


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, before=_register_plugin)


if "locust" in sys.modules:
    import locust_ml.plugin  # noqa: F401 - inside a Locust process: register the plugin
