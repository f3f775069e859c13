"""The layout of ``retention_lab.impact`` (issue 21): estimation never imports the display layer
at module level, its modules import each other without a cycle, data flows down (``core`` imports
no design sub-package), and the only function-level imports left are the display delegation
(commented "display layer: imported on use …") or heavy optional dependencies (commented as
such).

The oracle is the source itself, read with :mod:`ast` (no import is executed)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import retention_lab

ROOT = Path(retention_lab.__file__).parent
IMPACT = ROOT / "impact"
#: function-level imports that other helpers' files still hold (issue 21: theirs to remove)
OTHERS = {"rolling/trials.py", "core/clv_effects.py"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(mod: str, node, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if node.level:
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module
    # ``from package import module`` imports the module; ``from module import name`` the module
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
            for a in node.names]


def _imports():
    """(module, file, line, target, inside a function, the import's line and the one above)
    of every import."""
    out = []
    for path in sorted(IMPACT.rglob("*.py")):
        mod = _module(path)
        src = path.read_text()
        tree = ast.parse(src)
        inner = {id(s) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef,
                                                                  ast.AsyncFunctionDef))
                 for s in ast.walk(f) if isinstance(s, (ast.Import, ast.ImportFrom))}
        lines = src.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(mod, node, path.name == "__init__.py"):
                    out.append((mod, str(path.relative_to(IMPACT)), node.lineno, t,
                                id(node) in inner,
                                lines[node.lineno - 2] + "\n" + lines[node.lineno - 1]))
    return out


MODULES = {_module(p) for p in IMPACT.rglob("*.py")}
IMPORTS = _imports()


def test_no_module_level_import_of_the_display_layer():
    bad = [(m, line, t) for m, _, line, t, inner, _ in IMPORTS
           if not inner and t.startswith("retention_lab.report")]
    assert bad == []


def test_function_level_imports_are_display_delegation_only():
    bad = []
    for _, rel, line, t, inner, above in IMPORTS:
        if not inner or rel in OTHERS:
            continue
        if t.startswith("retention_lab.report") and "display layer: imported on use" in above:
            continue
        if not t.startswith("retention_lab") and ("heavy" in above or "optional" in above):
            continue   # a heavy optional dependency, deferred with a comment saying so
        bad.append((rel, line, t))
    assert bad == []


def test_core_imports_no_design_and_no_cycle():
    edges: dict[str, set] = {m: set() for m in MODULES}
    for m, _, _, t, inner, _ in IMPORTS:
        if not inner and t in MODULES and t != m:
            edges[m].add(t)
    up = [(m, t) for m, ts in edges.items() for t in ts
          if m.startswith("retention_lab.impact.core") and
          t.split(".")[2:3] in (["randomized"], ["launch"], ["rolling"])]
    assert up == []
    state: dict[str, int] = {}   # depth-first search: 1 on the stack, 2 done

    def visit(m, stack):
        state[m] = 1
        for t in edges[m]:
            if state.get(t) == 1:
                pytest.fail(f"import cycle: {' → '.join(stack + [t])}")
            if t not in state:
                visit(t, stack + [t])
        state[m] = 2
    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
