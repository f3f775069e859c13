"""Retention of report runs: prune old ``reports/<name>/<run-id>/`` folders by a policy.

A run folder is only ever *kept for a reason*; pruning removes what has none left:

- a successful run ``<run-id>/`` is kept if it is the one ``latest`` names, or among the newest
  ``keep`` successful runs of its report, or younger than ``keep_days`` days;
- a failed run ``failed-<run-id>/`` is kept while it is younger than ``keep_failed_days`` days
  (default 7: long enough to debug, short enough not to pile up);
- everything else in a report folder is never touched: unfinished runs ``.tmp-<run-id>/`` (a run in
  progress, or the leftovers of a killed one, which ``retention-lab clean`` removes by the runner's
  liveness instead, :func:`~retention_lab.runner.folders.stale_tmp_dirs`), symlinks (never
  followed), and folders or files whose names are not run ids.

"Newest" and "age" come from the UTC start time in the run id, not from folder mtimes (copies and
backups reset those). Each report folder is pruned under its lock (the one
:func:`~retention_lab.runner.folders.promote` holds), so a run being promoted concurrently is either
seen complete, with ``latest`` already naming it, or not at all. Deleting a run never goes through
a symlink: only real directories directly inside ``<output_dir>/<name>/`` are removed, and
``shutil.rmtree`` removes links inside them without following them.
"""
from __future__ import annotations

import datetime as _dt
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import folders
from .index import build_index

DEFAULT_KEEP_FAILED_DAYS = 7.0


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep of each report's runs (see the module docstring for the exact rules).

    ``keep``: the newest N successful runs (N >= 1); ``keep_days``: also every successful run
    younger than D days; with neither, successful runs are all kept (only failed runs are
    pruned). ``keep_failed_days``: failed runs younger than F days (0 removes every failed run).
    Bad values raise :class:`ValueError` naming the option and the value.
    """
    keep: int | None = None
    keep_days: float | None = None
    keep_failed_days: float = DEFAULT_KEEP_FAILED_DAYS

    def __post_init__(self):
        if self.keep is not None and (isinstance(self.keep, bool) or not isinstance(self.keep, int)
                                      or self.keep < 1):
            raise ValueError(f"keep must be an integer >= 1 (the newest runs to keep), got {self.keep!r}")
        for option in ("keep_days", "keep_failed_days"):
            value = getattr(self, option)
            if value is None and option == "keep_days":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"{option} must be a number of days >= 0, got {value!r}")

    @classmethod
    def from_options(cls, keep=None, keep_days=None, keep_failed_days=None) -> "RetentionPolicy | None":
        """The policy for these options, or None if none was given (nothing is pruned then)."""
        if keep is None and keep_days is None and keep_failed_days is None:
            return None
        return cls(keep, keep_days,
                   DEFAULT_KEEP_FAILED_DAYS if keep_failed_days is None else keep_failed_days)

    @classmethod
    def keep_everything(cls) -> "RetentionPolicy":
        """The policy that removes nothing: what ``clean --dry-run`` without options lists.
        (An infinite age limit is refused from users, who mean a number; here it is the point.)"""
        policy = cls(None, None, 0.0)
        object.__setattr__(policy, "keep_failed_days", math.inf)
        return policy

    def describe(self) -> str:
        if self.keep is None and self.keep_days is None and math.isinf(self.keep_failed_days):
            return "no retention option given: every run is kept"
        ok = []
        if self.keep is not None:
            ok.append(f"the newest {self.keep}")
        if self.keep_days is not None:
            ok.append(f"those younger than {self.keep_days:g} days")
        ok_text = " and ".join(ok) if ok else "all"
        return (f"successful runs: {ok_text} (and the latest); "
                f"failed runs: those younger than {self.keep_failed_days:g} days")


@dataclass
class Decision:
    """What pruning does (or would do) with one entry of a report folder, and why."""
    report: str
    name: str             # the entry's name inside the report folder
    kind: str             # "ok", "failed", "unfinished", "other"
    action: str           # "keep", "remove", or "error" (removal attempted and failed)
    reason: str
    path: Path = field(repr=False, default=None)

    def line(self, dry_run: bool = False) -> str:
        verb = {"keep": "keep", "remove": "would remove" if dry_run else "removed",
                "error": "NOT removed"}[self.action]
        return f"{verb:<13} {self.report}/{self.name}  ({self.reason})"


@dataclass
class PruneReport:
    """Every decision of one pruning pass, in report order then newest first."""
    policy: RetentionPolicy
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "remove"]

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "keep"]

    @property
    def errors(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "error"]

    def summary(self) -> str:
        removed = self.removed
        n_ok = sum(d.kind == "ok" for d in removed)
        reports = len({d.report for d in self.decisions})
        text = (f"{'would remove' if self.dry_run else 'removed'} {len(removed)} run(s) "
                f"({n_ok} successful, {len(removed) - n_ok} failed), kept {len(self.kept)} "
                f"entries in {reports} report(s)")
        if self.errors:
            text += f"; {len(self.errors)} could not be removed"
        return text

    def lines(self) -> list[str]:
        return [d.line(self.dry_run) for d in self.decisions]


def _age_days(run_id: str, now: _dt.datetime) -> float | None:
    try:
        return (now - folders.run_started(run_id)).total_seconds() / 86400
    except ValueError:  # matches the id pattern but is no real date (e.g. month 13)
        return None


def _latest_target(report_dir: Path) -> Path | None:
    latest = folders.latest_run(report_dir)
    return latest.resolve() if latest is not None else None


def _plan(report_dir: Path, policy: RetentionPolicy, now: _dt.datetime,
          max_age_hours: float) -> list[Decision]:
    """Decide every entry of one report folder (no side effects)."""
    report = report_dir.name
    decisions: list[Decision] = []
    # Under the report lock no promotion can happen in between. Without flock (Windows) a run
    # promoted between these two reads could look unprotected; _remove re-reads latest right
    # before deleting, which narrows that window to the rmtree call itself.
    runs = folders.list_runs(report_dir)   # real directories only, newest first
    latest = _latest_target(report_dir)
    listed = {p.name for _, _, p in runs}
    n_ok = 0
    for run_id, status, path in runs:
        age = _age_days(run_id, now)
        if status == "ok":
            n_ok += 1
        if age is None:
            reason, keep = "run id holds no valid date", True
        elif status == "ok":
            if path.resolve() == latest:
                reason, keep = "latest", True
            elif policy.keep is not None and n_ok <= policy.keep:
                reason, keep = f"one of the newest {policy.keep}", True
            elif policy.keep_days is not None and age < policy.keep_days:
                reason, keep = f"{age:.1f} days old < {policy.keep_days:g}", True
            elif policy.keep is None and policy.keep_days is None:
                reason, keep = "no limit on successful runs", True
            else:
                parts = []
                if policy.keep is not None:
                    parts.append(f"not among the newest {policy.keep}")
                if policy.keep_days is not None:
                    parts.append(f"{age:.1f} days old >= {policy.keep_days:g}")
                reason, keep = ", ".join(parts), False
        elif math.isinf(policy.keep_failed_days):
            keep, reason = True, f"failed, {age:.1f} days old, no limit on failed runs"
        else:
            keep = age < policy.keep_failed_days
            cmp = "<" if keep else ">="
            reason = f"failed, {age:.1f} days old {cmp} {policy.keep_failed_days:g}"
        decisions.append(Decision(report, path.name, status, "keep" if keep else "remove",
                                  reason, path))
    for child in sorted(report_dir.iterdir()):
        if child.name in listed or child.name in (folders.LATEST, folders.LOCK_FILE):
            continue
        if child.is_symlink():
            decisions.append(Decision(report, child.name, "other", "keep",
                                      "symlink, never followed", child))
        elif child.is_dir() and child.name.startswith(folders.TMP_PREFIX) \
                and folders.RUN_ID_RE.match(child.name[len(folders.TMP_PREFIX):]):
            stale, why = folders.unfinished_run_state(child, max_age_hours)
            why = f"unfinished, {why}" + ("; `retention-lab clean` removes it" if stale else "")
            decisions.append(Decision(report, child.name, "unfinished", "keep", why, child))
        elif child.is_dir():
            decisions.append(Decision(report, child.name, "other", "keep",
                                      "not a run folder, never touched", child))
    return decisions


def _remove(decision: Decision, report_dir: Path) -> Decision:
    """Delete one run folder, after re-checking it is a real directory inside ``report_dir``
    and still not what ``latest`` names."""
    path = decision.path
    if _latest_target(report_dir) == path.resolve():
        decision.action, decision.reason = "keep", "became latest while pruning"
        return decision
    if path.is_symlink() or not path.is_dir() or path.resolve().parent != report_dir.resolve():
        decision.action, decision.reason = "keep", "no longer a run folder inside the report"
        return decision
    try:
        shutil.rmtree(path)
    except OSError as exc:
        decision.action, decision.reason = "error", f"{decision.reason}; {type(exc).__name__}: {exc}"
    return decision


def prune_runs(output_dir="reports", policy: RetentionPolicy | None = None, *,
               names=None, dry_run: bool = False, now: _dt.datetime | None = None,
               max_age_hours: float = 24.0, update_index: bool = True) -> PruneReport:
    """Apply ``policy`` to every report folder under ``output_dir`` (or only to ``names``).

    Returns a :class:`PruneReport` listing, for each entry, whether it was removed or kept and
    why. ``dry_run`` decides but deletes nothing and leaves the index alone; otherwise
    ``<output_dir>/index.html`` is rebuilt afterwards (unless ``update_index`` is false, as in a
    schedule's worker, whose parent rebuilds it once) so it never links to a removed run.
    ``now`` (UTC) is for tests; ``max_age_hours`` only labels unfinished runs as stale or live,
    exactly as ``retention-lab clean`` judges them.
    """
    if policy is None:
        raise ValueError("prune_runs needs a RetentionPolicy, got None")
    now = now or _dt.datetime.now(_dt.timezone.utc)
    root = Path(output_dir)
    report = PruneReport(policy, dry_run)
    if not root.is_dir():
        return report
    wanted = None if names is None else {folders.check_name(n) for n in names}
    for report_dir in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if wanted is not None and report_dir.name not in wanted:
            continue
        if report_dir.is_symlink():
            if report_dir.is_dir():
                report.decisions.append(Decision(report_dir.name, ".", "other", "keep",
                                                 "report folder is a symlink, never followed",
                                                 report_dir))
            continue
        if not report_dir.is_dir():
            continue
        if dry_run:
            report.decisions.extend(_plan(report_dir, policy, now, max_age_hours))
            continue
        with folders.report_lock(report_dir):
            for decision in _plan(report_dir, policy, now, max_age_hours):
                if decision.action == "remove":
                    _remove(decision, report_dir)
                report.decisions.append(decision)
    if not dry_run and update_index:
            build_index(root)
    return report
