"""retention-lab: run report notebooks and schedules.

    retention-lab run NOTEBOOK [-p NAME VALUE]... [-f params.yaml] [--name NAME] [--output-dir reports]
                      [--keep N] [--keep-days D] [--keep-failed-days F]
    retention-lab run --schedule schedule.yaml [--jobs N] [--output-dir DIR] [--keep N ...]
    retention-lab params NOTEBOOK          # the parameters a notebook declares
    retention-lab index [--output-dir reports]
    retention-lab clean [--output-dir reports]  # remove .tmp-* left by killed runs
    retention-lab clean --dry-run          # list every run and why it would be kept or removed
    retention-lab clean --keep N [--keep-days D] [--keep-failed-days F] [--dry-run]
                                           # ... and prune old runs (see runner.retention)
    retention-lab --version

Exit status: 0 every run succeeded; 1 at least one run failed (its notebook and error are kept
in reports/<name>/failed-<run-id>/, or nothing is kept when not even the error could be written,
e.g. on a full disk; for clean: a run could not be removed); 2 bad usage, parameters (an input
file that does not exist included) or retention options, an --output-dir that is a file, or
(index) a folder without reports: nothing was run or removed.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
from pathlib import Path

from . import __version__
from .runner import (
    ParameterError,
    build_index,
    load_schedule,
    notebook_parameters,
    run_notebook,
    run_schedule,
)
from .runner.folders import list_runs, stale_tmp_dirs
from .runner.params import load_parameter_file, parse_cli_value
from .runner.retention import RetentionPolicy, prune_runs

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_RETENTION_HELP = """A successful run is kept if 'latest' names it, or it is among the newest
N successful runs of its report (--keep), or younger than D days (--keep-days); a failed run
is kept while younger than F days (--keep-failed-days, default 7 once any retention option is
given). Ages come from the run id's UTC start time. Unfinished .tmp-<run-id> folders, symlinks
and other folders are never pruned."""


def _add_retention_options(parser, what: str) -> None:
    group = parser.add_argument_group("retention", what)
    group.add_argument("--keep", type=int, default=None, metavar="N",
                       help="keep the newest N successful runs of each report (N >= 1)")
    group.add_argument("--keep-days", type=float, default=None, metavar="D",
                       help="also keep successful runs younger than D days")
    group.add_argument("--keep-failed-days", type=float, default=None, metavar="F",
                       help="keep failed runs younger than F days (default 7; 0 removes them all)")


def _retention(args):
    """The RetentionPolicy the options ask for, or None; ValueError names a bad value."""
    try:
        return RetentionPolicy.from_options(args.keep, args.keep_days, args.keep_failed_days)
    except ValueError as exc:  # name the command-line option, not the Python field
        field_, _, rest = str(exc).partition(" ")
        if field_ in ("keep", "keep_days", "keep_failed_days"):
            raise ValueError(f"--{field_.replace('_', '-')} {rest}") from None
        raise


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="retention-lab", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"retention-lab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a notebook (or a schedule) into reports/<name>/<run-id>/")
    run.add_argument("notebook", nargs="?", help="the notebook to run")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="a parameter (value parsed as YAML: 3, 0.5, true, text)")
    run.add_argument("-f", "--parameters-file", help="YAML file of parameters (-p values override it)")
    run.add_argument("--name", help="report name (folder under the output dir); default: notebook stem")
    run.add_argument("--output-dir", default=None, help="where reports go (default: reports)")
    run.add_argument("--schedule", help="YAML schedule of many runs (see reports/schedule.example.yaml)")
    run.add_argument("--jobs", type=int, default=1, help="runs of a schedule executed in parallel")
    run.add_argument("--kernel", default=None, help="Jupyter kernel (default: the notebook's own)")
    run.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--allow-ids", action="store_true",
                     help="let the HTML show tables of customer ids (refused by default)")
    _add_retention_options(run, "after a successful run, prune that report's older runs "
                                "(with --schedule: replaces the file's keep/keep_days/"
                                "keep_failed_days). " + _RETENTION_HELP)

    params = sub.add_parser("params", help="list the parameters a notebook declares")
    params.add_argument("notebook")

    index = sub.add_parser("index", help="rebuild reports/index.html")
    index.add_argument("--output-dir", default="reports")

    clean = sub.add_parser("clean", help="remove unfinished .tmp-<run-id> folders of dead runs; "
                                         "with --keep/--keep-days/--keep-failed-days also prune "
                                         "old runs")
    clean.add_argument("--output-dir", default="reports")
    clean.add_argument("--max-age-hours", type=float, default=24.0,
                       help="also remove .tmp folders older than this (runs on other hosts)")
    clean.add_argument("--dry-run", action="store_true",
                       help="list what would be removed and kept (and why); delete nothing")
    _add_retention_options(clean, "prune old runs of every report, then rebuild index.html. "
                           + _RETENTION_HELP)
    return p


def _print_result(res) -> None:
    if res.ok:
        print(f"ok      {res.name}  {res.run_id}  {res.duration:.1f}s  {res.path}/report.html")
        if res.pruned:
            print(f"        pruned {len(res.pruned)} old run(s): {' '.join(res.pruned)}")
        if res.prune_error:
            print(f"WARNING {res.name}: pruning old runs failed: {res.prune_error}", file=sys.stderr)
    else:
        kept = f"kept: {res.path}" if res.path else "nothing kept"
        print(f"FAILED  {res.name}  {res.run_id}  {res.error}\n        {kept}", file=sys.stderr)


def _cmd_run(args, parser) -> int:

    if bool(args.schedule) == bool(args.notebook):
        parser.error("give either a NOTEBOOK or --schedule FILE")
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    try:
        retention = _retention(args)
        if args.schedule:
            if args.parameter or args.parameters_file or args.name or args.allow_ids:
                parser.error("-p/-f/--name/--allow-ids apply to a single notebook, not to --schedule")
            runs, sched_out = load_schedule(args.schedule)
            if retention is not None:   # the command line wins over the file, as --output-dir does
                for spec in runs:
                    spec.retention = retention
            results = run_schedule(runs, output_dir=args.output_dir or sched_out or "reports",
                                   jobs=args.jobs, kernel_name=args.kernel,
                                   progress=not args.no_progress)
        else:
            params = load_parameter_file(args.parameters_file) if args.parameters_file else {}
            params.update({k: parse_cli_value(v) for k, v in args.parameter})
            results = [run_notebook(args.notebook, params, name=args.name,
                                    output_dir=args.output_dir or "reports",
                                    kernel_name=args.kernel, execution_timeout=args.timeout,
                                    allow_ids=args.allow_ids, progress=not args.no_progress,
                                    retention=retention)]
    except (ParameterError, ValueError) as exc:
        print(f"retention-lab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. the reports folder cannot be written at all
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"retention-lab: error: {exc.strerror or exc}{where}; nothing was kept",
              file=sys.stderr)
        return EXIT_FAILED
    for res in results:
        _print_result(res)
    failed = [r for r in results if not r.ok]
    if len(results) > 1:
        print(f"{len(results) - len(failed)} of {len(results)} runs succeeded", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_params(args) -> int:
    try:
        declared = notebook_parameters(args.notebook)
    except ParameterError as exc:
        print(f"retention-lab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for name, info in declared.items():
        help_ = f"  # {info['help']}" if info["help"] else ""
        print(f"{name}: {info['type'] or 'any'} = {info['default']}{help_}")
    return EXIT_OK


def _cmd_clean(args) -> int:
    """Remove dead runs' .tmp folders, then (with a retention option) prune old runs."""

    try:
        retention = _retention(args)
    except ValueError as exc:
        print(f"retention-lab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.max_age_hours >= 0:
        print(f"retention-lab: error: --max-age-hours must be >= 0, got {args.max_age_hours!r}",
              file=sys.stderr)
        return EXIT_USAGE
    for tmp in stale_tmp_dirs(args.output_dir, args.max_age_hours):
        print(("would remove " if args.dry_run else "removed ") + str(tmp))
        if not args.dry_run:
            shutil.rmtree(tmp)
    if retention is None and args.dry_run:   # list every run, with why it stays
        retention = RetentionPolicy.keep_everything()
    if retention is None:
        return EXIT_OK
    report = prune_runs(args.output_dir, retention, dry_run=args.dry_run,
                        max_age_hours=args.max_age_hours)
    print(f"retention ({retention.describe()}):")
    for line in report.lines():
        print("  " + line)
    print(("dry run: " if args.dry_run else "") + report.summary()
          + ("" if args.dry_run else "; index.html rebuilt"))
    return EXIT_FAILED if report.errors else EXIT_OK


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        # cron and Airflow stop a job with SIGTERM: turn it into KeyboardInterrupt so the
        # unfinished run is moved aside as failed-<run-id> (SIGKILL leaves a hidden .tmp-<run-id>).
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return _cmd_run(args, parser)
        except KeyboardInterrupt:
            print("retention-lab: interrupted; the unfinished run was kept as failed-<run-id>",
                  file=sys.stderr)
            return 130
    if args.command == "params":
        return _cmd_params(args)
    try:
        return _cmd_clean(args) if args.command == "clean" else _cmd_index(args)
    except OSError as exc:  # a full disk or a read-only folder: say so, no traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"retention-lab: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILED


def _cmd_index(args) -> int:
    """Rebuild index.html, refusing a folder that holds no report runs (a wrong directory)."""

    root = Path(args.output_dir).absolute()
    reports = [d for d in root.iterdir() if d.is_dir() and list_runs(d)] if root.is_dir() else []
    if not reports:
        print(f"retention-lab: error: {root} holds no report runs (expected "
              "<report>/<run-id>/ folders written by 'retention-lab run'); run from the project "
              "folder or pass --output-dir", file=sys.stderr)
        return EXIT_USAGE
    print(build_index(root))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
