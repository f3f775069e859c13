"""A package's import graph read from its source with :mod:`ast` (nothing is imported): the one
reader and cycle finder behind the layout tests (tests/test_architecture.py,
tests/report/test_display_imports.py, tests/clv/test_clv_import_graph.py,
tests/impact/test_impact_layout.py), each of which checks its own scope.

- :func:`read` parses every module once and lists its imports, one :class:`Import` per imported
  name: the importing module, the module imported (relative imports resolved; ``from pkg import
  name`` is an import of ``pkg.name`` when that is a module of the package, else of ``pkg``), the
  line, whether it sits inside a function (runs when called, not on import) and whether it sits
  under ``if TYPE_CHECKING:`` (never runs);
- :meth:`Package.graph` keeps the imports of one scope (a module prefix; with or without the
  function-level and ``TYPE_CHECKING`` ones) as module → modules it imports;
- :func:`cycles` gives the strongly connected components of more than one module (Tarjan 1972,
  "Depth-first search and linear graph algorithms", SIAM J. Comput. 1(2)).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Import:
    importer: str  #: the module holding the statement
    path: Path  #: its file
    target: str  #: the module imported (outside the package too: "numpy", "lifelines.plotting")
    line: int  #: the statement's first line (1-based)
    function_level: bool  #: inside a def or lambda: runs when called, not when imported
    type_checking: bool  #: under ``if TYPE_CHECKING:``: never runs
    source: tuple[str, ...] = field(repr=False, compare=False)

    def text(self, above: int = 0, below: int = 0) -> str:
        """The statement's first line with ``above`` lines before it and ``below`` after it (to
        find the comment that says why an import sits where it does)."""
        return "\n".join(self.source[max(0, self.line - 1 - above):self.line + below])


def in_scope(module: str, within: str) -> bool:
    return module == within or module.startswith(within + ".")


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@dataclass
class Package:
    name: str  #: the top-level package, e.g. "retention_lab"
    modules: dict[str, Path]  #: every module of the package → its file
    imports: list[Import]  #: every import statement of every module, one row per imported name

    def graph(self, within: str | None = None, *, function_level: bool,
              type_checking: bool = True, parents: bool = False,
              own_packages: bool = False) -> dict[str, set[str]]:
        """Module → the modules of ``within`` it imports, for every module of ``within`` (default:
        the whole package).

        ``function_level``: count imports inside functions too. ``type_checking``: count those
        under ``if TYPE_CHECKING:``. ``parents``: importing ``a.b.c`` is an edge to ``a.b`` and
        ``a`` too (their ``__init__`` runs first). ``own_packages``: keep the edges from a module
        to its own parent packages (already running when it is imported). A module never has an
        edge to itself.
        """
        within = within or self.name
        graph = {m: set() for m in self.modules if in_scope(m, within)}
        for imp in self.imports:
            if (imp.importer not in graph or (imp.function_level and not function_level)
                    or (imp.type_checking and not type_checking)):
                continue
            target = imp.target
            while target and target not in self.modules:  # `import a.b.name` imports a.b
                target = target.rpartition(".")[0]
            while target:
                if (target in graph and target != imp.importer
                        and (own_packages or not imp.importer.startswith(target + "."))):
                    graph[imp.importer].add(target)
                target = target.rpartition(".")[0] if parents else ""
        return graph

    def within(self, scope: str) -> list[Import]:
        """The imports made by the modules of ``scope``."""
        return [imp for imp in self.imports if in_scope(imp.importer, scope)]


def read(package: Path) -> Package:
    """Every import of every module under the package directory ``package``."""
    package = Path(package)
    modules = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    imports = []
    for module, path in modules.items():
        source = path.read_text()
        lines = tuple(source.splitlines())
        for node, function_level, type_checking in _statements(ast.parse(source, str(path))):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                imports.append(Import(module, path, target, node.lineno, function_level,
                                      type_checking, lines))
    return Package(package.name, modules, imports)


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _statements(node: ast.AST, function_level: bool = False, type_checking: bool = False):
    """``(import statement, inside a function, under TYPE_CHECKING)`` for every import below
    ``node``."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, function_level, type_checking
    elif isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.body:
            yield from _statements(child, function_level, True)
        for child in node.orelse:  # the `else:` of `if TYPE_CHECKING:` is what runs
            yield from _statements(child, function_level, type_checking)
    else:
        inner = function_level or isinstance(node, FUNCTIONS)
        for child in ast.iter_child_nodes(node):
            yield from _statements(child, inner, type_checking)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node, each sorted, in sorted order
    (Tarjan's algorithm, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def enter(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        return v, iter(sorted(graph.get(v, ())))

    for root in sorted(graph):
        if root in index:
            continue
        work = [enter(root)]
        while work:
            v, successors = work[-1]
            for w in successors:
                if w not in index:
                    work.append(enter(w))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:  # every successor of v is done
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return sorted(out)
