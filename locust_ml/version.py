"""The package's version, in a module that imports nothing (the server and traces report it).

``pyproject.toml`` states it too; a test checks the installed metadata agrees.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
