"""Exceptions raised by locust-ml.

Every error a user can act on derives from :class:`LocustMLError`, so a caller
(the CLI, the Locust glue) can turn it into one clear line and an exit code
instead of a traceback. Errors that refine a builtin also inherit it, so code
that already catches ``ValueError`` or ``ConnectionError`` keeps working::

    LocustMLError
    ├── ConfigError(ValueError)        a bad option, SLO expression or setting
    ├── TraceError(ValueError)         a malformed or unreadable trace / profile
    ├── TargetError(ConnectionError)   the target can't be started or reached
    └── DependencyError(ImportError)   an optional extra is not installed

Messages name the bad value, its type where it helps, and what was expected.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DependencyError",
    "LocustMLError",
    "ReportError",
    "TargetError",
    "TraceError",
]

#: Exit code for a configuration error (bad option, bad value); argparse uses 2 too.
EXIT_CONFIG = 2
#: Exit code when the target can't be started or reached.
EXIT_TARGET = 3


class LocustMLError(Exception):
    """Root of every error locust-ml raises on purpose."""


class ConfigError(LocustMLError, ValueError):
    """A configuration value is invalid: an option, a distribution spec, an SLO."""


class TraceError(LocustMLError, ValueError):
    """A trace or profile file is malformed, empty, or lacks a requested column."""


class ReportError(LocustMLError, ValueError):
    """A saved report that cannot be read back (missing, not JSON, wrong schema)."""


class TargetError(LocustMLError, ConnectionError):
    """The load-test target could not be started, or did not become ready."""


class DependencyError(LocustMLError, ImportError):
    """An optional dependency (an ``extra``) needed for this feature is missing."""


def require_extra(module: str, extra: str) -> None:
    """Import-check ``module``; raise a :class:`DependencyError` naming the extra.

    Used where a feature needs an optional dependency, so the user reads
    ``pip install 'locust-ml[server]'`` instead of a bare ``ModuleNotFoundError``.
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DependencyError(
            f"this feature needs the {module!r} package: pip install 'locust-ml[{extra}]'"
        )
