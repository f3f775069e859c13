"""The display layer's import graph, read from the source with :mod:`ast` (nothing is imported).

Issue 21: the display package ``retention_lab/report`` has no internal import cycle, and the
estimation packages that sit below it (``survival``, ``monitor``, ``targeting``) import nothing
from it at module level — their lifelines-style ``plot()`` / ``record()`` methods import it
inside the method, when called. Run as a script to print the graph's findings.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "retention_lab"
ESTIMATION = ("survival", "monitor", "targeting")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for each import of ``path`` inside the package;
    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module."""
    module = module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    top = set(map(id, tree.body))
    # imports under `if TYPE_CHECKING:` or `try:` at module level still run at module level
    for stmt in tree.body:
        if isinstance(stmt, (ast.If, ast.Try)):
            top |= {id(n) for n in ast.walk(stmt)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path.name == "__init__.py", node)
            targets = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base
                       for a in node.names]
        else:
            continue
        out += [(t, id(node) in top) for t in targets if t.startswith("retention_lab")]
    return out


def _is_module(name: str) -> bool:
    p = PACKAGE.parent.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def graph(module_level_only: bool = True) -> dict[str, set[str]]:
    g = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        g[module_name(path)] = {t for t, top in imports(path) if top or not module_level_only}
    return g


def cycles(g: dict[str, set[str]], within: str) -> list[list[str]]:
    """Strongly connected components (more than one module) of ``g`` restricted to ``within``."""
    nodes = [n for n in g if n == within or n.startswith(within + ".")]
    # a package's __init__ that imports its submodules is not a cycle with them: an edge
    # submodule → parent package is the submodule reaching its siblings through the package.
    edges = {n: {t for t in g[n] if t in nodes and not n.startswith(t + ".")} for n in nodes}
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return comps


def estimation_into_display(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((src, t) for src, targets in g.items() for t in targets
                  if src.split(".")[1:2] and src.split(".")[1] in ESTIMATION and t.startswith("retention_lab.report"))


def test_display_package_has_no_internal_cycle():
    assert cycles(graph(), "retention_lab.report") == []


def test_display_package_has_no_cycle_counting_function_level_imports_except_old_names():
    # recording.__getattr__ imports the tables for the deprecated rl.reporting.<table> names:
    # the one function-level edge allowed against the layer's direction.
    g = graph(module_level_only=False)
    g["retention_lab.report.recording"].discard("retention_lab.report.tables")
    assert cycles(g, "retention_lab.report") == []


def test_estimation_imports_no_display_at_module_level():
    assert estimation_into_display(graph()) == []


def test_the_check_sees_a_wrong_import(tmp_path, monkeypatch):
    # the checker itself on a package with one deliberately wrong import and one cycle
    pkg = tmp_path / "retention_lab"
    for name, text in {"__init__.py": "", "report/__init__.py": "",
                       "report/a.py": "from . import b\n", "report/b.py": "from .a import x\n",
                       "survival/__init__.py": "",
                       "survival/fit.py": "from ..report import a\n\ndef plot():\n"
                                          "    from ..report import b\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    g = graph()
    assert cycles(g, "retention_lab.report") == [["retention_lab.report.a",
                                                   "retention_lab.report.b"]]
    assert estimation_into_display(g) == [("retention_lab.survival.fit", "retention_lab.report.a")]


if __name__ == "__main__":
    g = graph()
    print("cycles inside retention_lab.report (module level):", cycles(g, "retention_lab.report"))
    print("cycles inside retention_lab.report (all imports):",
          cycles(graph(False), "retention_lab.report"))
    print("module-level imports of report from", ESTIMATION, ":", estimation_into_display(g))
    print("function-level imports of report from", ESTIMATION, ":",
          [e for e in estimation_into_display(graph(False)) if e not in estimation_into_display(g)])
