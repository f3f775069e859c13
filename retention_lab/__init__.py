"""retention_lab: customer-retention analytics.

Did the loyalty programme work? Survival-analysis churn models (lifelines), BTYD customer
lifetime value fitted by maximum likelihood, business metrics with intervals, and the
experiment analysis of a loyalty programme — run as parameterized notebooks by Papermill.

Subpackages are imported on first use (``rl.clv``, ``rl.survival``, …), so ``import
retention_lab`` stays cheap and a notebook pays only for what it touches.
"""
from __future__ import annotations

import importlib

from . import _compat
from .errors import DataError, DataQuality, quality

__version__ = "0.1.0"

_SUBMODULES = (
    "schema", "io", "datasets", "engines", "features", "metrics", "survival", "clv",
    "impact", "monitor", "targeting", "report", "formatting", "runner", "cli", "overview",
)
_compat.install()  # old import paths of moved modules keep working, with a DeprecationWarning

__all__ = ["DataError", "DataQuality", "quality", "__version__", *_SUBMODULES]


def __getattr__(name: str):
    moved = _compat.new_path(f"{__name__}.{name}")
    if moved is not None:
        _compat.deprecation(f"{__name__}.{name}", moved, stacklevel=2)
        # Warn once, like the import of an old path: later accesses find the attribute.
        module = globals()[name] = importlib.import_module(moved)
        return module
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'retention_lab' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
