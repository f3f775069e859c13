"""Packaging: environment.yml and pyproject.toml declare the same dependencies (extras included),
the console script is declared and resolves, and the CDNOW files ship as package data."""
from __future__ import annotations

import re
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]

# Conda packages that are not Python dependencies of the package itself.
CONDA_ONLY = {"python", "pip"}


def normalise(name: str) -> str:
    """PEP 503 names; a pip extra ``pkg[extra]`` is conda-forge's ``pkg-extra`` package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_deps(requirements) -> dict[str, SpecifierSet]:
    out = {}
    for text in requirements:
        req = Requirement(text)
        name = normalise(req.name)
        for extra in sorted(req.extras):
            name += "-" + normalise(extra)
        out[name] = req.specifier
    return out


def conda_deps(dependencies) -> tuple[dict[str, SpecifierSet], list[str]]:
    out, pip_section = {}, []
    for dep in dependencies:
        if isinstance(dep, dict):
            pip_section.extend(dep.get("pip", []))
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", dep)
        name, spec = match.group(1), match.group(2).replace(" ", "")
        if spec and spec[0].isdigit():  # conda's bare "pkg 1.2" means ==1.2
            spec = "==" + spec
        out[normalise(name)] = SpecifierSet(spec)
    return out, pip_section


def load():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return pyproject, env


def test_parsers_on_known_examples():
    assert pip_deps(["ibis-framework[duckdb]>=9", "PyYAML>=6"]) == {
        "ibis-framework-duckdb": SpecifierSet(">=9"), "pyyaml": SpecifierSet(">=6")}
    deps, pip_section = conda_deps(["ibis-framework-duckdb>=9", "pyyaml 6.0", "pip",
                                    {"pip": ["-e ."]}])
    assert deps == {"ibis-framework-duckdb": SpecifierSet(">=9"),
                    "pyyaml": SpecifierSet("==6.0"), "pip": SpecifierSet("")}
    assert pip_section == ["-e ."]


def test_environment_and_pyproject_list_the_same_dependencies():
    pyproject, env = load()
    project = pyproject["project"]
    declared = pip_deps(project["dependencies"])
    for reqs in project.get("optional-dependencies", {}).values():
        declared.update(pip_deps(reqs))
    conda, pip_section = conda_deps(env["dependencies"])
    python = conda.pop("python")
    for name in CONDA_ONLY - {"python"}:
        conda.pop(name, None)
    assert sorted(conda) == sorted(declared), (
        f"only in environment.yml: {sorted(set(conda) - set(declared))}; "
        f"only in pyproject.toml: {sorted(set(declared) - set(conda))}")
    differing = {n: (str(conda[n]), str(declared[n])) for n in declared
                 if conda[n] != declared[n]}
    assert not differing, f"version constraints differ (environment.yml, pyproject): {differing}"
    assert python == SpecifierSet(project["requires-python"])
    assert "conda-forge" in env["channels"]
    assert any(line.replace(" ", "") in ("-e.", "-e.[dev]") or line.startswith("-e .")
               for line in pip_section), "environment.yml must pip-install the package itself"


def test_console_script_is_declared_and_resolves():
    pyproject, _ = load()
    target = pyproject["project"]["scripts"]["retention-lab"]
    assert target == "retention_lab.cli:main"
    module, func = target.split(":")
    assert callable(getattr(import_module(module), func))
    installed = entry_points(group="console_scripts", name="retention-lab")
    assert [ep.value for ep in installed] == [target]  # the installed metadata agrees


def test_dev_extra_and_package_data():
    pyproject, _ = load()
    dev = pip_deps(pyproject["project"]["optional-dependencies"]["dev"])
    assert {"pytest", "nbval"} <= set(dev)
    data = pyproject["tool"]["setuptools"]["package-data"]["retention_lab.datasets"]
    shipped = {p.name for p in (ROOT / "retention_lab" / "datasets").glob(data[0])}
    assert shipped == {"CDNOW_sample.txt.gz", "CDNOW_master.txt.gz", "donations.csv.gz"}
