"""The Locust glue: the only package that imports locust or gevent.

Importing it registers the plugin's options and event listeners
(:mod:`locust_ml.plugin.hooks`).
"""

from __future__ import annotations

from locust_ml.plugin import hooks

__all__ = ["hooks"]
