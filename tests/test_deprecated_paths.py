"""Old import paths of moved modules (issue 21's layout) still work for one release.

For every entry of :data:`retention_lab._compat.MOVED` (plus a submodule of each moved package),
importing the old path gives the *same module object* as the new path and warns once with a
:class:`DeprecationWarning` that names the new path and points at the importing line. Attribute
access on the package (``rl.plots``) behaves the same way.

The imports run in a fresh interpreter: an old path imported earlier in this pytest process (by
another test, or by module caching) would not warn again, and the test would prove nothing. One
interpreter serves all paths; each old path is imported there exactly once, in its own
``catch_warnings`` block, so each must warn on its own.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from retention_lab import _compat

#: Submodules reached through a moved package: the alias must follow the package.
SUBMODULES = {"retention_lab.plots.survival": "retention_lab.report.figures.survival",
              "retention_lab.plots.clv": "retention_lab.report.figures.clv"}
PATHS = {**_compat.MOVED, **SUBMODULES}
#: Moved modules that were attributes of the top-level package (``rl.plots``).
ATTRIBUTES = {old.split(".")[1]: new for old, new in _compat.MOVED.items() if old.count(".") == 1}

CALLER = "<caller>"  # file name of the code that imports; the warning must point there

SCRIPT = textwrap.dedent('''
    import importlib, json, sys, warnings
    paths, attributes, caller = json.loads(sys.argv[1])
    out = {"import": {}, "attribute": {}}

    def caught(run):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            value = run()
        return value, [dict(category=w.category.__name__, message=str(w.message),
                            filename=w.filename) for w in seen]

    # Attributes first: `import retention_lab.plots` sets rl.plots, which would then not warn.
    import retention_lab as rl
    for name, new in attributes.items():
        code = compile(f"value = rl.{name}", caller, "exec")
        namespace = {"rl": rl}
        _, seen = caught(lambda: exec(code, namespace))
        out["attribute"][name] = dict(same=namespace["value"] is importlib.import_module(new),
                                      warnings=seen)
    for old, new in paths.items():
        namespace = {}
        code = compile(f"import {old} as module", caller, "exec")
        _, seen = caught(lambda: exec(code, namespace))
        same = namespace["module"] is importlib.import_module(new)
        out["import"][old] = dict(same=same, warnings=seen,
                                  in_sys_modules=sys.modules.get(old) is sys.modules[new])

    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def fresh():
    """Results of importing every old path once in a new interpreter."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([PATHS, ATTRIBUTES, CALLER])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_table_is_not_empty_and_every_new_path_exists():
    assert {"retention_lab.plots", "retention_lab.presentation",
            "retention_lab.reporting"} <= set(_compat.MOVED)
    for old, new in PATHS.items():
        assert _compat.new_path(old) == new


@pytest.mark.parametrize("old", sorted(PATHS))
def test_old_import_path_is_the_new_module_and_warns(fresh, old):
    new = PATHS[old]
    result = fresh["import"][old]
    assert result["same"], f"import {old} is not the module object {new}"
    assert result["in_sys_modules"], f"sys.modules[{old!r}] is not sys.modules[{new!r}]"
    deprecations = [w for w in result["warnings"] if w["category"] == "DeprecationWarning"]
    # Exactly one warning per old path: the one for this path (a parent package imported in
    # the same statement warns on its own, under its own name).
    mine = [w for w in deprecations if w["message"].startswith(old + " ")]
    assert len(mine) == 1, result["warnings"]
    assert f"moved to {new};" in mine[0]["message"]
    assert mine[0]["filename"] == CALLER, "the warning must point at the importing line"


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_old_attribute_of_the_package_is_the_new_module_and_warns(fresh, name):
    result = fresh["attribute"][name]
    assert result["same"]
    mine = [w for w in result["warnings"] if w["category"] == "DeprecationWarning"
            and w["message"].startswith(f"retention_lab.{name} ")]
    assert [w["message"] for w in mine] == [
        f"retention_lab.{name} moved to {ATTRIBUTES[name]}; the old import path is deprecated "
        "and will be removed"]
    assert mine[0]["filename"] == CALLER, "the warning must point at the line that asked"


def test_an_unmoved_path_is_left_alone():
    assert _compat.new_path("retention_lab.report.figures") is None
    assert _compat.new_path("retention_lab.plotsx") is None  # a prefix, not a parent package
