"""The architecture checks of ARCHITECTURE.md: they pass on the package, and they catch a wrong
import when one is made.

- ``lint-imports`` (import-linter; contracts in pyproject.toml's ``[tool.importlinter]``) keeps
  the layers and "estimation does not import display";
- ``ruff check`` (config in ``[tool.ruff]``) keeps pyflakes, pycodestyle, bugbear and the import
  order;
- an AST graph of module-level imports has no cycle (import-linter cannot say this: it counts
  imports inside functions too, which are not executed at import time).

The "catches" half runs the tools on a copy of the package in ``tmp_path`` with one deliberate
mistake, so a contract that checks nothing (a typo in a module name, a layer left out) fails
here. Each tool run takes about a second.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from import_graph import cycles, read

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "retention_lab"
LAYERS = "retention_lab layers"
ESTIMATION = "estimation (survival, clv, metrics, impact, targeting, monitor) does not import"


def tool(name: str) -> str:
    """The console script next to this interpreter (the project's venv), else on PATH."""
    here = Path(sys.executable).with_name(name)
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it is in the dev extra: `make setup`)")
    return found


def run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return run([tool("lint-imports"), "--no-cache"], cwd)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package's Python sources and pyproject.toml under ``tmp_path`` (data files left out)."""
    shutil.copytree(PACKAGE, tmp_path / "retention_lab",
                    ignore=shutil.ignore_patterns("__pycache__", "files", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


# --- the contracts --------------------------------------------------------------------------

def test_import_contracts_are_kept():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_estimation_importing_display_breaks_both_contracts(copy):
    add_line(copy / "retention_lab" / "clv" / "base.py", "from retention_lab.report import tables")
    done = lint_imports(copy)
    assert done.returncode != 0
    out = " ".join(done.stdout.split())  # rich wraps long lines
    assert "Contracts: 0 kept, 2 broken." in out
    assert f"{LAYERS}: each layer imports only from the layers below it BROKEN" in out
    assert f"{ESTIMATION} display (report) BROKEN" in out
    assert "retention_lab.clv.base -> retention_lab.report.tables" in out


def test_a_leaf_importing_upwards_breaks_the_layers(copy):
    add_line(copy / "retention_lab" / "units.py", "from retention_lab import engines")
    done = lint_imports(copy)
    out = " ".join(done.stdout.split())
    assert done.returncode != 0
    assert "retention_lab.units -> retention_lab.engines" in out
    assert f"{ESTIMATION} display (report) KEPT" in out  # only the layers are broken


def test_siblings_in_one_layer_are_independent(copy):
    add_line(copy / "retention_lab" / "metrics.py", "from retention_lab.clv import base")
    done = lint_imports(copy)
    assert done.returncode != 0
    assert "retention_lab.metrics -> retention_lab.clv.base" in " ".join(done.stdout.split())


def test_a_new_top_level_module_must_be_given_a_layer(copy):
    (copy / "retention_lab" / "newcomer.py").write_text('"""Not in any layer yet."""\n')
    done = lint_imports(copy)
    assert done.returncode != 0
    assert "retention_lab.newcomer" in done.stdout


def test_an_ignored_import_that_is_gone_warns_without_failing(copy):
    """Removing a known violation must not break CI: its stale ignore_imports entry warns."""
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "ignore_imports = [\n", 'ignore_imports = [\n    "retention_lab.units -> retention_lab.errors",\n',
        1))
    done = lint_imports(copy)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "No matches for ignored import retention_lab.units -> retention_lab.errors" in done.stdout


# --- ruff -----------------------------------------------------------------------------------

def test_ruff_passes_on_the_package_tests_and_benchmarks():
    done = run([tool("ruff"), "check", "--no-cache", "retention_lab", "tests", "benchmarks"], ROOT)
    assert done.returncode == 0, done.stdout[-4000:]


def test_ruff_catches_an_unused_import_and_the_import_order(copy):
    bad = copy / "retention_lab" / "bad_style.py"
    bad.write_text('"""Imports out of order, one unused."""\nimport sys\nimport os\n\n'
                   "print(sys.argv)\n")
    done = run([tool("ruff"), "check", "--no-cache", "--output-format", "concise",
                "retention_lab/bad_style.py"], copy)
    assert done.returncode != 0
    assert "I001" in done.stdout and "F401" in done.stdout


# --- module-level import cycles -------------------------------------------------------------

def import_graph(root: Path) -> dict[str, set[str]]:
    """module → the package's modules it imports at module level (tests/import_graph.py reads
    them): not inside a function, not under ``if TYPE_CHECKING``. ``from a import b`` is an edge
    to ``a.b`` when that is a module, else to ``a``; a submodule's import also runs its parent
    packages' ``__init__``, so those are edges too (not the importer's own parents: they are
    already running)."""
    return read(root / "retention_lab").graph(function_level=False, type_checking=False,
                                              parents=True)


def test_cycle_finder_on_a_known_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_reads_module_level_imports_only(tmp_path):
    pkg = tmp_path / "retention_lab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .one import f\n")
    (pkg / "sub" / "one.py").write_text(
        "from typing import TYPE_CHECKING\nfrom .. import leaf\n"
        "if TYPE_CHECKING:\n    from ..top import T\n"
        "def f():\n    from ..top import g\n")
    (pkg / "leaf.py").write_text("")
    (pkg / "top.py").write_text("from .sub import one\n")
    graph = import_graph(tmp_path)
    assert graph["retention_lab.sub.one"] == {"retention_lab.leaf"}
    assert graph["retention_lab.top"] == {"retention_lab.sub", "retention_lab.sub.one"}
    assert cycles(graph) == []
    (pkg / "leaf.py").write_text("import retention_lab.top\n")
    assert cycles(import_graph(tmp_path)) == [
        ["retention_lab.leaf", "retention_lab.sub", "retention_lab.sub.one", "retention_lab.top"]]


def test_no_import_cycle_at_module_level():
    graph = import_graph(ROOT)
    assert len(graph) > 100  # the whole package was read
    assert cycles(graph) == []


# --- sizes and function-level imports (issue 21's acceptance) -------------------------------
# A file over 500 lines or a function over 120 fails unless a comment says why ("500-line" in a
# comment of the file; "120-line" in the comment right above the def); an import inside a
# function fails unless a comment on its line or right above its group of imports says why
# (a heavy dependency, or lifelines-style lazy delegation). The KNOWN_* sets hold what the
# package had when the rule came in (2026-12-06, issue 21): new ones fail, and an entry is
# deleted when its owner fixes it (a stale entry does not fail, so fixing never breaks CI).

FILE_LINES, FUNCTION_LINES = 500, 120

KNOWN_LONG_FILES: set[str] = set()
KNOWN_LONG_FUNCTIONS: set[str] = set()
#: "file::function" with an uncommented function-level import (any number of them).
KNOWN_FUNCTION_IMPORTS: set[str] = set()


def source_files():
    return sorted(PACKAGE.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def comment_above(lines: list[str], lineno: int) -> str:
    """The comment lines right above line ``lineno`` (1-based), joined."""
    out, i = [], lineno - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        out.append(lines[i].strip())
        i -= 1
    return " ".join(reversed(out))


def uncommented_function_imports(path: Path) -> dict[str, list[int]]:
    """function name → line numbers of its imports that no comment explains."""
    lines = path.read_text().splitlines()
    out: dict[str, list[int]] = {}
    for func in functions(ast.parse("\n".join(lines))):
        for node in ast.walk(func):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            first = node.lineno
            while first > 1 and lines[first - 2].lstrip().startswith(("import ", "from ")):
                first -= 1  # the group of imports this one belongs to
            if "#" in lines[node.end_lineno - 1] or comment_above(lines, first):
                continue
            out.setdefault(func.name, []).append(node.lineno)
    return out


def test_comment_finder_on_known_source(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def a():\n    import json\n\n"
                 "def b():\n    import pyspark  # heavy optional dependency\n\n"
                 "def c():\n    # heavy: nbconvert\n    import nbformat\n    import nbconvert\n")
    assert uncommented_function_imports(f) == {"a": [2]}


@pytest.fixture(scope="module")
def current():
    return current_exceptions()


def test_no_new_long_file(current):
    new = set(current["KNOWN_LONG_FILES"]) - KNOWN_LONG_FILES
    assert not new, f"over {FILE_LINES} lines, no comment saying why: {sorted(new)}"


def test_no_new_long_function(current):
    new = set(current["KNOWN_LONG_FUNCTIONS"]) - KNOWN_LONG_FUNCTIONS
    assert not new, f"functions over {FUNCTION_LINES} lines, no comment saying why: {sorted(new)}"


def test_no_new_uncommented_function_level_import(current):
    new = set(current["KNOWN_FUNCTION_IMPORTS"]) - KNOWN_FUNCTION_IMPORTS
    assert not new, ("imports inside functions without a comment saying why (move them to the "
                     f"top of the module, or say which heavy dependency they avoid): {sorted(new)}")


def current_exceptions() -> dict[str, list[str]]:
    """What the KNOWN_* sets would hold for the tree as it is now."""
    files = sorted(relative(p) for p in source_files()
                   if p.read_text().count("\n") > FILE_LINES and "500-line" not in p.read_text())
    funcs, imports = set(), set()
    for path in source_files():
        lines = path.read_text().splitlines()
        for func in functions(ast.parse("\n".join(lines))):
            start = min([func.lineno] + [d.lineno for d in func.decorator_list])
            if (func.end_lineno - func.lineno + 1 > FUNCTION_LINES
                    and "120-line" not in comment_above(lines, start)):
                funcs.add(f"{relative(path)}::{func.name}")
        imports |= {f"{relative(path)}::{name}" for name in uncommented_function_imports(path)}
    return {"KNOWN_LONG_FILES": files, "KNOWN_LONG_FUNCTIONS": sorted(funcs),
            "KNOWN_FUNCTION_IMPORTS": sorted(imports)}


if __name__ == "__main__":  # `python tests/test_architecture.py`: the lists for today's tree
    for name, items in current_exceptions().items():
        print(f"{name} = {{\n" + "".join(f'    "{i}",\n' for i in items) + "}")
