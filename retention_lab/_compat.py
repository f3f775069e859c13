"""Old import paths of modules that moved (issue 21's layout), kept working with a warning.

:data:`MOVED` is the one table of moves. :class:`AliasFinder` (installed first on
``sys.meta_path`` by ``retention_lab/__init__``) answers an import of an old path with the module
at its new home — the same module object, not a copy, so classes, private helpers and
monkeypatching behave as before — and warns once with a :class:`DeprecationWarning`. A package's
submodules follow it (``retention_lab.plots.survival`` is ``retention_lab.report.figures.survival``).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module path → new module path (packages: their submodules follow).
MOVED = {
    "retention_lab.plots": "retention_lab.report.figures",
    "retention_lab.presentation": "retention_lab.report.tables",
    "retention_lab.reporting": "retention_lab.report.recording",
    "retention_lab.monitor.report": "retention_lab.report.monitor",
    "retention_lab.targeting.report": "retention_lab.report.targeting",
    # impact/ grouped by design; retention_lab.impact.randomized and .rolling kept their names
    # as packages that re-export the old modules' public names.
    "retention_lab.impact.estimators": "retention_lab.impact.core.estimators",
    "retention_lab.impact.evalues": "retention_lab.impact.core.evalues",
    "retention_lab.impact.outcomes": "retention_lab.impact.core.outcomes",
    "retention_lab.impact.frequency": "retention_lab.impact.core.frequency",
    "retention_lab.impact.surveys": "retention_lab.impact.core.surveys",
    "retention_lab.impact.power": "retention_lab.impact.core.power",
    "retention_lab.impact.roi": "retention_lab.impact.core.roi",
    "retention_lab.impact.heterogeneity": "retention_lab.impact.core.heterogeneity",
    "retention_lab.impact.survival_effects": "retention_lab.impact.core.survival_effects",
    "retention_lab.impact.clv_effects": "retention_lab.impact.core.clv_effects",
    "retention_lab.impact.common": "retention_lab.impact.core.common",
    "retention_lab.impact.preflight": "retention_lab.impact.core.preflight",
    "retention_lab.impact.context": "retention_lab.impact.core.context",
    "retention_lab.impact.sensitivity": "retention_lab.impact.core.sensitivity",
    "retention_lab.impact.self_selected": "retention_lab.impact.core.propensity",
    "retention_lab.impact.event_study": "retention_lab.impact.core.event_study",
    "retention_lab.impact.design_randomized": "retention_lab.impact.randomized.design",
    "retention_lab.impact.design_launch": "retention_lab.impact.launch.design",
    "retention_lab.impact.design_rolling": "retention_lab.impact.rolling.design",
}


def deprecation(old: str, new: str, stacklevel: int) -> None:
    warnings.warn(f"{old} moved to {new}; the old import path is deprecated and will be removed",
                  DeprecationWarning, stacklevel=stacklevel + 1)


def new_path(fullname: str) -> str | None:
    """The new home of module ``fullname``, or None if it did not move."""
    for old, new in MOVED.items():
        if fullname == old or fullname.startswith(old + "."):
            return new + fullname[len(old):]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        # importlib's own frames are skipped by warnings: stacklevel 2 is the importing code.
        deprecation(module.__name__, self.new, stacklevel=2)
        # Replacing the entry is how importlib lets a module stand in for itself: the import
        # statement returns sys.modules[name] after exec_module.
        sys.modules[module.__name__] = importlib.import_module(self.new)


class AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = new_path(fullname)
        if new is None:
            return None
        is_package = importlib.util.find_spec(new).submodule_search_locations is not None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new), is_package=is_package)


def install() -> None:
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
