"""The report: immutable data (:mod:`.model`) and writers that only serialize it.

Exports are lazy (PEP 562): the command-line tools build their parsers from
submodules here (:mod:`.options`) without paying for numpy and the analysis
layer until a command runs.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SCHEMA_VERSION", "RunInfo", "RunReport", "build_report", "decide"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("locust_ml.report.model"), name)
    raise AttributeError(f"module 'locust_ml.report' has no attribute {name!r}")
