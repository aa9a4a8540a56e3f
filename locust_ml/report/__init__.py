"""The report: immutable data (:mod:`.model`) and writers that only serialize it.

Exports are lazy (PEP 562): the command-line tools build their parsers from
submodules here (:mod:`.options`) without paying for numpy and the analysis
layer until a command runs.
"""

from __future__ import annotations

from locust_ml.lazy import lazy_exports

__all__ = ["SCHEMA_VERSION", "RunInfo", "RunReport", "build_report", "decide"]

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "locust_ml.report.model"))
