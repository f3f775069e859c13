"""The `retention-lab` console script: usage errors exit 2 before anything runs."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retention_lab import cli

DEMO = Path(__file__).parents[1] / "runner_fixtures" / "demo.ipynb"


def test_params_lists_declared_parameters(capsys):
    assert cli.main(["params", str(DEMO)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "n: int = 200  # sample size"
    assert "fail: bool = False" in out and 'label: str = "demo"' in out


def test_params_of_missing_notebook_exits_2(tmp_path, capsys):
    assert cli.main(["params", str(tmp_path / "nope.ipynb")]) == 2
    assert "notebook not found" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["run"], "give either a NOTEBOOK or --schedule"),
    (["run", "x.ipynb", "--schedule", "s.yaml"], "give either a NOTEBOOK or --schedule"),
    (["run", "--schedule", "s.yaml", "-p", "n", "1"], "apply to a single notebook"),
    (["run", "x.ipynb", "--jobs", "0"], "--jobs must be >= 1"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_wrong_type_on_command_line_exits_2(tmp_path, capsys):
    assert cli.main(["run", str(DEMO), "-p", "fail", "maybe", "--output-dir", str(tmp_path)]) == 2
    assert "parameter 'fail' expects bool" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_parameter_file_and_override(tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text("n: 5\nlabel: 7\n")       # label must be a string
    assert cli.main(["run", str(DEMO), "-f", str(params), "--output-dir", str(tmp_path)]) == 2
    assert "parameter 'label' expects str" in capsys.readouterr().err


def test_bad_report_name_exits_2(tmp_path, capsys):
    assert cli.main(["run", str(DEMO), "--name", "../up", "--output-dir", str(tmp_path)]) == 2
    assert "invalid report name" in capsys.readouterr().err


def test_index_refuses_a_folder_without_reports(tmp_path, capsys):
    """Run in the wrong directory, `index` used to create an empty reports/index.html."""
    for where in (tmp_path, tmp_path / "missing"):
        assert cli.main(["index", "--output-dir", str(where)]) == 2
        assert capsys.readouterr().err == (
            f"retention-lab: error: {where} holds no report runs (expected <report>/<run-id>/ "
            "folders written by 'retention-lab run'); run from the project folder or pass "
            "--output-dir\n")
    assert not list(tmp_path.iterdir())


def test_version_and_plain_help(capsys):
    from retention_lab import __version__
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"retention-lab {__version__}\n"
    for argv in (["--help"], ["run", "--help"], ["clean", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "`" not in text and "``" not in text, argv   # no reStructuredText markup
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "retention-lab clean --dry-run" in capsys.readouterr().out


def test_clean_dry_run_without_options_lists_every_run(tmp_path, capsys):
    import json
    report = tmp_path / "r"
    for run_id, status in (("20260101T000000Z-aaaa", "ok"), ("20260102T000000Z-bbbb", "failed")):
        folder = report / (run_id if status == "ok" else f"failed-{run_id}")
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"status": status, "run_id": run_id}))
    assert cli.main(["clean", "--dry-run", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "retention (no retention option given: every run is kept):"
    assert len([line for line in out if line.startswith("  keep ")]) == 2, out
    assert any("failed-20260102T000000Z-bbbb" in line and "no limit on failed runs" in line
               for line in out), out
    assert out[-1].startswith("dry run: would remove 0 run(s)")
    assert sorted(p.name for p in report.iterdir()) == ["20260101T000000Z-aaaa",
                                                        "failed-20260102T000000Z-bbbb"]


def test_console_script_is_installed():
    exe = shutil.which("retention-lab") or str(Path(sys.executable).parent / "retention-lab")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "run" in out.stdout and "params" in out.stdout


def test_clean_keeps_live_and_recent_tmp_folders(tmp_path, capsys):
    import json
    import os
    import platform

    live = tmp_path / "r" / ".tmp-20260101T000000Z-aaaa"
    dead = tmp_path / "r" / ".tmp-20260101T000000Z-bbbb"
    other_host = tmp_path / "r" / ".tmp-20260101T000000Z-cccc"
    for folder, pid, host in [(live, os.getpid(), platform.node()), (dead, 2**22 + 12345, platform.node()),
                              (other_host, 1, "elsewhere")]:
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"pid": pid, "host": host}))
    assert cli.main(["clean", "--output-dir", str(tmp_path)]) == 0
    assert live.exists() and not dead.exists() and other_host.exists()
    os.utime(other_host, (0, 0))                       # very old: its runner is surely gone
    assert cli.main(["clean", "--output-dir", str(tmp_path), "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out and other_host.exists()
    assert cli.main(["clean", "--output-dir", str(tmp_path)]) == 0
    assert not other_host.exists() and live.exists()


@pytest.mark.parametrize("uid, root", [("0", True), ("1000", False)])
def test_make_lab_allows_root_only_as_root(tmp_path, uid, root):
    """JupyterLab refuses to run as root unless given --allow-root; `make lab` adds it then
    (and only then). The recipe runs with a fake `jupyter` and a fake `id` on PATH."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").touch()
    fake = {venv / "bin" / "jupyter": 'echo "jupyter $*"', tmp_path / "id": f"echo {uid}"}
    for path, body in fake.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    root_dir = Path(__file__).resolve().parents[2]
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    res = subprocess.run(["make", "-s", "-o", f"{venv}/.installed", "lab", f"VENV={venv}"],
                         cwd=root_dir, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    args = res.stdout.split()
    assert args[:2] == ["jupyter", "lab"] and args[-1] == "notebooks/"
    assert ("--allow-root" in args) == root
