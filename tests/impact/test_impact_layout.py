"""The layout of ``retention_lab.impact`` (issue 21): estimation never imports the display layer
at module level, its modules import each other without a cycle, data flows down (``core`` imports
no design sub-package), and the only function-level imports left are the display delegation
(commented "display layer: imported on use …") or heavy optional dependencies (commented as
such).

The oracle is the source itself, read with :mod:`ast` (no import is executed; the reader is
tests/import_graph.py)."""
from __future__ import annotations

from pathlib import Path

import retention_lab
from import_graph import Package, cycles, read

ROOT = Path(retention_lab.__file__).parent
IMPACT = "retention_lab.impact"
DESIGNS = ("randomized", "launch", "rolling")
#: function-level imports that other helpers' files still hold (issue 21: theirs to remove)
OTHERS = {"rolling/trials.py", "core/clv_effects.py"}


def _relative(path: Path, package: Package) -> str:
    """``path`` relative to the package's impact/ folder, as in ``OTHERS``."""
    return path.relative_to(package.modules[IMPACT].parent).as_posix()


def display_at_module_level(package: Package) -> list[tuple[str, int, str]]:
    return [(i.importer, i.line, i.target) for i in package.within(IMPACT)
            if not i.function_level and i.target.startswith("retention_lab.report")]


def unsanctioned_function_imports(package: Package) -> list[tuple[str, int, str]]:
    """Imports inside functions that are neither display delegation nor a heavy optional
    dependency, each by the comment on its line or the line above."""
    bad = []
    for i in package.within(IMPACT):
        rel, above = _relative(i.path, package), i.text(above=1)
        if not i.function_level or rel in OTHERS:
            continue
        if i.target.startswith("retention_lab.report") and "display layer: imported on use" in above:
            continue
        if not i.target.startswith("retention_lab") and ("heavy" in above or "optional" in above):
            continue   # a heavy optional dependency, deferred with a comment saying so
        bad.append((rel, i.line, i.target))
    return bad


def module_level_graph(package: Package) -> dict[str, set[str]]:
    """impact module → the impact modules it imports at module level (its own parent packages
    included: an ``__init__`` and a submodule that import each other are a cycle here)."""
    return package.graph(IMPACT, function_level=False, own_packages=True)


def core_into_designs(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return [(m, t) for m, ts in edges.items() for t in ts
            if m.startswith(IMPACT + ".core") and t.split(".")[2:3] in [[d] for d in DESIGNS]]


PACKAGE = read(ROOT)


def test_no_module_level_import_of_the_display_layer():
    assert display_at_module_level(PACKAGE) == []


def test_function_level_imports_are_display_delegation_only():
    assert unsanctioned_function_imports(PACKAGE) == []


def test_core_imports_no_design_and_no_cycle():
    edges = module_level_graph(PACKAGE)
    assert core_into_designs(edges) == []
    assert cycles(edges) == []


def test_the_checks_see_planted_violations(tmp_path):
    impact = tmp_path / "retention_lab" / "impact"
    for name, text in {
            "../__init__.py": "", "__init__.py": "", "core/__init__.py": "",
            "core/base.py": "from ..rolling import history\n",  # core importing a design
            "rolling/__init__.py": "",
            "rolling/history.py": (
                "from ..core import base\n"  # closes a cycle
                "from ...report import tables\n"  # display at module level
                "def f():\n    import json\n"  # no comment saying why
                "def g():\n    # display layer: imported on use\n    from ...report import tables\n"
                "def h():\n    import pyspark  # heavy optional dependency\n")}.items():
        (impact / name).parent.mkdir(parents=True, exist_ok=True)
        (impact / name).write_text(text)
    planted = read(impact.parent)
    assert display_at_module_level(planted) == [
        ("retention_lab.impact.rolling.history", 2, "retention_lab.report")]
    assert unsanctioned_function_imports(planted) == [("rolling/history.py", 4, "json")]
    edges = module_level_graph(planted)
    assert core_into_designs(edges) == [
        ("retention_lab.impact.core.base", "retention_lab.impact.rolling.history")]
    assert cycles(edges) == [["retention_lab.impact.core.base",
                              "retention_lab.impact.rolling.history"]]
