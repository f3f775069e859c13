"""The display layer's import graph, read from the source with :mod:`ast` (nothing is imported;
the reader is tests/import_graph.py).

Issue 21: the display package ``retention_lab/report`` has no internal import cycle, and the
estimation packages that sit below it (``survival``, ``monitor``, ``targeting``) import nothing
from it at module level — their lifelines-style ``plot()`` / ``record()`` methods import it
inside the method, when called. Run as a script (``PYTHONPATH=tests python
tests/report/test_display_imports.py``) to print the graph's findings.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from import_graph import Package, cycles, read

PACKAGE = Path(__file__).resolve().parents[2] / "retention_lab"
DISPLAY = "retention_lab.report"
ESTIMATION = ("survival", "monitor", "targeting")


def graph(package: Package, module_level_only: bool = True,
          within: str = "retention_lab") -> dict[str, set[str]]:
    """Module of ``within`` → the modules of ``within`` it imports: at module level (``if
    TYPE_CHECKING:`` included) or anywhere. A package's ``__init__`` that imports its submodules
    is not a cycle with them: an edge submodule → parent package (the submodule reaching its
    siblings through the package) is left out."""
    return package.graph(within, function_level=not module_level_only)


def estimation_into_display(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((src, t) for src, targets in g.items() for t in targets
                  if src.split(".")[1:2] and src.split(".")[1] in ESTIMATION and t.startswith(DISPLAY))


@pytest.fixture(scope="module")
def package() -> Package:
    return read(PACKAGE)


def test_display_package_has_no_internal_cycle(package):
    assert cycles(graph(package, within=DISPLAY)) == []


def test_display_package_has_no_cycle_counting_function_level_imports_except_old_names(package):
    # recording.__getattr__ imports the tables for the deprecated rl.reporting.<table> names:
    # the one function-level edge allowed against the layer's direction.
    g = graph(package, module_level_only=False, within=DISPLAY)
    g["retention_lab.report.recording"].discard("retention_lab.report.tables")
    assert cycles(g) == []


def test_estimation_imports_no_display_at_module_level(package):
    assert estimation_into_display(graph(package)) == []


def test_the_check_sees_a_wrong_import(tmp_path):
    # the checker itself on a package with one deliberately wrong import and one cycle
    pkg = tmp_path / "retention_lab"
    for name, text in {"__init__.py": "", "report/__init__.py": "",
                       "report/a.py": "from . import b\n", "report/b.py": "from .a import x\n",
                       "survival/__init__.py": "",
                       "survival/fit.py": "from ..report import a\n\ndef plot():\n"
                                          "    from ..report import b\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    planted = read(pkg)
    assert cycles(graph(planted, within=DISPLAY)) == [["retention_lab.report.a",
                                                        "retention_lab.report.b"]]
    assert estimation_into_display(graph(planted)) == [("retention_lab.survival.fit",
                                                        "retention_lab.report.a")]
    assert estimation_into_display(graph(planted, module_level_only=False)) == [
        ("retention_lab.survival.fit", "retention_lab.report.a"),
        ("retention_lab.survival.fit", "retention_lab.report.b")]  # plot()'s import


if __name__ == "__main__":
    package = read(PACKAGE)
    g, everywhere = graph(package), graph(package, module_level_only=False)
    print("cycles inside retention_lab.report (module level):",
          cycles(graph(package, within=DISPLAY)))
    print("cycles inside retention_lab.report (all imports):",
          cycles(graph(package, module_level_only=False, within=DISPLAY)))
    print("module-level imports of report from", ESTIMATION, ":", estimation_into_display(g))
    print("function-level imports of report from", ESTIMATION, ":",
          [e for e in estimation_into_display(everywhere) if e not in estimation_into_display(g)])
