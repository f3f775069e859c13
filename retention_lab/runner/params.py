"""Check a run's parameters against the notebook's ``parameters`` cell before any kernel starts.

The ``parameters`` cell is read with Python's own parser (every top-level ``name = value`` or
``name: type = value``, with the trailing comment as help). That is the information papermill's
inspection (:func:`papermill.inspect_notebook`, ``papermill --help-notebook``) gives, but
papermill's line regex skips lines it cannot parse (e.g. a ``"`` or ``=`` inside the comment);
papermill's inspection is the fallback when the cell is not plain Python (IPython magics). The expected type of each parameter is its
annotation when there is one, otherwise the type of its literal default. A run that names a
parameter the notebook does not declare, or passes a value of the wrong type, is refused with a
:class:`ParameterError` (the CLI turns it into exit status 2).
"""
from __future__ import annotations

import ast
import datetime as _dt
import difflib
import json
from pathlib import Path

import yaml

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict,
          "tuple": tuple}


class ParameterError(ValueError):
    """A run's parameters do not match the notebook's ``parameters`` cell."""


def notebook_parameters(notebook) -> dict[str, dict]:
    """The parameters a notebook declares: ``{name: {"type": str|None, "default": source}}``.

    Raises :class:`ParameterError` if the notebook has no cell tagged ``parameters``.
    """
    path = Path(notebook)
    if not path.is_file():
        raise ParameterError(f"notebook not found: {path}")
    cells = _cells(path)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells):
        raise ParameterError(f"{path.name} has no cell tagged 'parameters'; "
                             "a report notebook must declare its parameters")
    source = next(c["source"] for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(source) if isinstance(source, list) else source
    try:
        found = _parse_parameters_cell(source)
    except SyntaxError:
        import papermill  # heavy (1-8 s to import): only for a cell that ast cannot read
        found = {name: (None if (info.get("inferred_type_name") or "None") == "None"
                        else info["inferred_type_name"], info.get("default"), info.get("help") or "")
                 for name, info in papermill.inspect_notebook(str(path)).items()}
    out = {}
    for name, (annotation, default, help_) in found.items():
        ptype = _annotation_type(annotation) if annotation else None
        if ptype is None:
            ptype = _literal_type(default)
        out[name] = {"type": ptype, "default": default, "help": help_}
    return out


def _cells(path: Path) -> list[dict]:
    """The notebook's cells: plain JSON for an nbformat 4 file (a usage error is then reported
    without importing nbformat and papermill, seconds on a busy machine), nbformat otherwise."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(nb, dict) and nb.get("nbformat") == 4 and isinstance(nb.get("cells"), list):
            return nb["cells"]
    except (OSError, ValueError):
        pass
    import nbformat  # heavy (1-8 s to import): see the docstring
    return nbformat.read(path, as_version=4).cells


def _parse_parameters_cell(source: str) -> dict[str, tuple[str | None, str | None, str]]:
    """``{name: (annotation, default source, help)}`` of the top-level assignments."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation = node.targets[0].id, None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, annotation = node.target.id, ast.unparse(node.annotation)
        else:
            continue
        default = ast.get_source_segment(source, node.value)
        rest = lines[node.end_lineno - 1][node.end_col_offset:].strip()
        help_ = rest[1:].strip() if rest.startswith("#") else ""
        out[name] = (annotation, default, help_)
    return out


def _annotation_type(annotation: str) -> str | None:
    ann = annotation.replace(" ", "")
    optional = ann.startswith("Optional[") or "|None" in ann or "None|" in ann
    base = ann.removeprefix("Optional[").removesuffix("]") if ann.startswith("Optional[") else ann
    base = base.replace("|None", "").replace("None|", "").split("[")[0]
    if base not in _TYPES:
        return None
    return f"{base}|None" if optional else base


def _literal_type(default: str | None) -> str | None:
    if default is None:
        return None
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return None  # an expression (e.g. a function call): no type to check against
    if value is None:
        return None
    return type(value).__name__ if type(value).__name__ in _TYPES else None


def parse_cli_value(text: str):
    """Convert a ``-p name value`` string the way YAML would (``3`` → int, ``true`` → bool)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return _plain(value)


def _plain(value):
    """Dates from YAML become ISO strings: notebooks take dates as ``"YYYY-MM-DD"`` text."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def load_parameter_file(path) -> dict:
    """Parameters from a YAML (or JSON) mapping file."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"cannot read the parameter file {Path(path).absolute()}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a parameter file must be a mapping name: value")
    return _plain(data)


def _matches(value, expected: str) -> bool:
    if expected.endswith("|None"):
        if value is None:
            return True
        expected = expected[:-5]
    if expected == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected in ("list", "tuple"):
        return isinstance(value, (list, tuple))
    return isinstance(value, _TYPES[expected])


def check_parameters(notebook, parameters: dict, declared: dict | None = None) -> dict:
    """Validate ``parameters`` against the notebook; return them (ints promoted where float is expected).

    Raises :class:`ParameterError` listing every unknown name (with the closest declared name)
    and every value of the wrong type.
    """
    declared = notebook_parameters(notebook) if declared is None else declared
    problems, checked = [], {}
    for name, value in (parameters or {}).items():
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown parameter {name!r}{hint}; "
                            f"{Path(notebook).name} declares: {', '.join(sorted(declared)) or 'none'}")
            continue
        expected = declared[name]["type"]
        if expected is not None and not _matches(value, expected):
            problems.append(f"parameter {name!r} expects {expected} (default "
                            f"{declared[name]['default']}), got {type(value).__name__} {value!r}")
            continue
        if expected in ("float", "float|None") and isinstance(value, int):
            value = float(value)
        checked[name] = value
    if problems:
        raise ParameterError(f"{Path(notebook).name}: " + "; ".join(problems))
    return checked
