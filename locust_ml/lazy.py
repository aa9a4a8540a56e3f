"""Lazy package exports (PEP 562): a name is imported from its module when first used.

Packages export names whose modules are costly (numpy, FastAPI, Locust):
``import locust_ml.traces`` must stay cheap for the CLI's parsers, and
importing the pure layer must never import Locust. Each package states
what it exports and where from, once::

    __getattr__, __dir__ = lazy_exports(__name__, {"Profile": "locust_ml.traces.profile"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str], *, before: Callable[[], object] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps an export to its module.

    A name is looked up once and kept in the package's namespace. ``before``
    runs ahead of the first import (``locust_ml`` registers its Locust plugin
    then).
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if before is not None:
            before()
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
