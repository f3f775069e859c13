"""The import graph of ``retention_lab.clv`` (issue 21, item 3): no cycle, estimation does not
import the display layer at module level, and no import sits inside a function except the
sanctioned ones (the display layer on use, heavy optional dependencies) — each with its comment.

The graph is read from the source with :mod:`ast` (no module is imported; the reader is
tests/import_graph.py), so a cycle hidden by a function-level import is found too: every
``import`` statement counts, wherever it sits.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import retention_lab
from import_graph import Package, cycles, read

PACKAGE = Path(retention_lab.__file__).resolve().parent
CLV = "retention_lab.clv"
DISPLAY = ("retention_lab.plots", "retention_lab.report", "retention_lab.reporting",
           "retention_lab.presentation", "retention_lab.formatting")
#: the comment that marks a sanctioned function-level import of the display layer
DISPLAY_NOTE = "display layer: imported on use, estimation never depends on it"
#: the comment that marks a scipy subpackage imported on its rare use only (issue 22: scipy.optimize
#: and scipy.integrate cost 0.1-0.3 s to import, which a plain fit or prediction does not need)
HEAVY_NOTE = "heavy to import"


def clv_graph(package: Package) -> dict[str, set[str]]:
    """clv module → set of clv modules it imports (anywhere in the file)."""
    return package.graph(CLV, function_level=True)


@pytest.fixture(scope="module")
def package() -> Package:
    return read(PACKAGE)


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    # a cycle closed by an import inside a function is one too
    clv = tmp_path / "retention_lab" / "clv"
    clv.mkdir(parents=True)
    for name, text in {"../__init__.py": "", "__init__.py": "from .a import f\n",
                       "a.py": "from . import b\n\ndef f():\n    pass\n",
                       "b.py": "def g():\n    from .a import f\n"}.items():
        (clv / name).write_text(text)
    planted = read(clv.parent)
    assert cycles(clv_graph(planted)) == [["retention_lab.clv.a", "retention_lab.clv.b"]]
    assert cycles(planted.graph(CLV, function_level=False)) == []  # hidden at module level


def test_clv_import_graph_has_no_cycle(package):
    graph = clv_graph(package)
    assert "retention_lab.clv.beta_geo" in graph and len(graph) >= 15
    assert cycles(graph) == []


def test_clv_does_not_import_display_at_module_level(package):
    bad = [(i.path.name, i.line, i.target) for i in package.within(CLV)
           if i.target.startswith(DISPLAY) and not i.function_level]
    assert bad == []


def test_clv_function_level_imports_are_the_sanctioned_ones(package):
    """An import inside a function is allowed for the display layer and for a heavy scipy
    subpackage on a rare path (each marked with its comment) only."""
    bad = [(i.path.name, i.line, i.target) for i in package.within(CLV) if i.function_level
           and not (i.target.startswith(DISPLAY) and DISPLAY_NOTE in i.text(above=2, below=1))
           and not (i.target.split(".")[0] == "scipy" and HEAVY_NOTE in i.text(above=2, below=0))]
    assert bad == []
