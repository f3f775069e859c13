"""Run parameterized notebooks into atomic report folders (Papermill → ipynb, HTML, metrics.json).

``run_notebook`` executes one notebook with one parameter set; ``run_schedule`` many, in
parallel; ``prune_runs`` removes old runs by a ``RetentionPolicy``
(:mod:`retention_lab.runner.retention`). The console script ``retention-lab``
(:mod:`retention_lab.cli`) wraps all three. Layout of ``reports/`` and the atomicity rules:
:mod:`retention_lab.runner.folders`.
"""
from .execute import RunResult, run_notebook
from .folders import latest_run, list_runs
from .html import export_html
from .index import build_index
from .params import ParameterError, check_parameters, notebook_parameters
from .retention import PruneReport, RetentionPolicy, prune_runs
from .schedule import RunSpec, load_schedule, run_schedule, validate

__all__ = ["RunResult", "run_notebook", "latest_run", "list_runs", "export_html", "build_index",
           "ParameterError", "check_parameters", "notebook_parameters", "RunSpec",
           "load_schedule", "run_schedule", "validate", "PruneReport", "RetentionPolicy",
           "prune_runs"]
