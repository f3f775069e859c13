"""The import graph of ``retention_lab.clv`` (issue 21, item 3): no cycle, estimation does not
import the display layer at module level, and no import sits inside a function except the
sanctioned ones (the display layer on use, heavy optional dependencies) — each with its comment.

The graph is read from the source with :mod:`ast` (no module is imported), so a cycle hidden by
a function-level import is found too: every ``import`` statement counts, wherever it sits.
"""
from __future__ import annotations

import ast
from pathlib import Path

import retention_lab

PACKAGE = Path(retention_lab.__file__).resolve().parent
CLV = PACKAGE / "clv"
DISPLAY = ("retention_lab.plots", "retention_lab.report", "retention_lab.reporting",
           "retention_lab.presentation", "retention_lab.formatting")
#: the comment that marks a sanctioned function-level import of the display layer
DISPLAY_NOTE = "display layer: imported on use, estimation never depends on it"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """``(target module, line, inside a function)`` for every import statement of a file."""
    tree = ast.parse(path.read_text())
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module
                # `from . import x` imports the submodule x when it is one
                for a in child.names:
                    sub = f"{mod}.{a.name}"
                    out.append((sub if _exists(sub) else mod, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


def _exists(module: str) -> bool:
    if not module.startswith("retention_lab"):
        return False
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def clv_graph() -> dict:
    """clv module → set of clv modules it imports (anywhere in the file)."""
    graph = {}
    for path in sorted(CLV.glob("*.py")):
        name = _module_name(path)
        graph[name] = {m for m, _, _ in _imports(path)
                       if m.startswith("retention_lab.clv.") and m != name}
    return graph


def find_cycle(graph: dict):
    """One cycle of ``graph`` as a list of nodes, or ``None`` (depth-first search)."""
    state, stack = {}, []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = dfs(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_clv_import_graph_has_no_cycle():
    graph = clv_graph()
    assert "retention_lab.clv.beta_geo" in graph and len(graph) >= 15
    assert find_cycle(graph) is None


def test_clv_does_not_import_display_at_module_level():
    bad = [(p.name, line, m) for p in CLV.glob("*.py") for m, line, inside in _imports(p)
           if m.startswith(DISPLAY) and not inside]
    assert bad == []


def test_clv_function_level_imports_are_the_sanctioned_ones():
    """An import inside a function is allowed for the display layer (marked with its comment)
    only."""
    bad = []
    for path in sorted(CLV.glob("*.py")):
        lines = path.read_text().splitlines()
        for m, line, inside in _imports(path):
            if not inside:
                continue
            near = " ".join(lines[max(0, line - 3):line + 1])
            if not (m.startswith(DISPLAY) and DISPLAY_NOTE in near):
                bad.append((path.name, line, m))
    assert bad == []
