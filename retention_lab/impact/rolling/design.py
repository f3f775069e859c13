"""The self-selected design with rolling enrolment: the analysis :func:`~.analyze` runs when
members join at any time (``design="rolling"``, or ``design="self_selected"`` with enrolment
spread beyond the first purchase after the launch — :func:`.rolling.choose_analysis`).

Estimation is :func:`.rolling.rolling_effects` (sequential trial emulation, doubly robust,
later enrolment completed by g-computation, customer-clustered SEs); this module adds the event
study (Callaway & Sant'Anna 2021, :mod:`.event_study`) with its pre-trend check, the
time-varying Cox model, the sensitivity of the effects to unmeasured confounding with the
purchase history as benchmarks, ROI inputs and the segment estimator.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ... import ids
from ...engines.side_process import SideProcess, enabled as side_enabled, wait_for_parent
from ..core.clv_effects import rolling_clv_rows
from ..core.design_io import DesignInput, DesignResult
from ..core.event_study import event_study
from ..core.heterogeneity import segment_effects
from ..core.sensitivity import (
    SENSITIVITY_COLUMNS,
    bias_factor,
    confounder_strength,
    evalues_md,
    evalues_rr,
    interpret,
)
from ..core.survival_effects import enrolment_hazard_ratio
from .trials import HISTORY_LABELS, RETENTION_DAYS, rolling_effects

#: history covariates used as benchmarks of the rolling sensitivity analysis
BENCHMARKS = {"prior_orders": "purchases so far", "recency_days": "days since the previous "
              "purchase", "tenure_days": "tenure", "prior_spend": "spend so far",
              "mean_gap_days": "mean inter-purchase time"}
#: seconds the side process is always granted after the trial emulation ends
SIDE_GRACE_S = 60.0
#: the stages that may run in the side process (names of its tasks)
EVENT_STUDY, TV_COX, CLV_EFFECT = "event study", "time-varying Cox", "CLV effect"
WORDS = {"purchases": "purchases", "spend": "spend", "retention": "retention",
         "nps": "NPS", "csat": "satisfaction (CSAT 4–5)"}


def analyze_rolling(inp: DesignInput, *, period: str = "M") -> DesignResult:
    """The rolling design's effects, checks and diagnostics for :func:`~.analyze` (see the
    module docstring); ``period`` is the trial grid (one trial per month).

    The event study, the time-varying Cox model and the CLV effect do not depend on the trial
    emulation (the CLV effect only on which members it kept): on a large study they run in a
    forked side process beside it (:mod:`retention_lab.engines.side_process`; issue 22), with the same
    results as in one process — each is computed here instead if the side process fails."""
    data, out, alpha, retention_days = inp.data, inp.out, inp.alpha, inp.retention_days
    tasks = _side_tasks(inp)
    t0 = time.monotonic()
    with SideProcess(tasks, run=bool(tasks) and side_enabled(len(out))) as side:
        res = rolling_effects(data, horizon_days=inp.horizon_days, alpha=alpha, trim=inp.trim,
                              retention_days=RETENTION_DAYS if retention_days is None
                              else retention_days, period=period,
                              on_kept=(lambda rows: side.send(_kept_members(rows)))
                              if side.running and inp.clv else None)
        # the side stages take about as long as the trial emulation: a side process still
        # silent at twice that (and at least SIDE_GRACE_S) is stopped and its stages run here
        deadline = time.monotonic() + max(SIDE_GRACE_S, 2 * (time.monotonic() - t0))
        # what needs only the trial emulation runs before the side results are awaited: while
        # the side process is still busy, this time is otherwise spent waiting (issue 22)
        def seg_est(mask, metrics):
            return res.subset_effects(mask, list(metrics))
        segs = None if not inp.segment_column else segment_effects(
            inp.out, inp.segment_column, seg_est, correction=inp.correction)
        # the side stages' rows (the Cox hazard ratio, the CLV effect) have no E-value here
        sens = rolling_sensitivity(res, res.effects) if inp.sensitivity else None
        # the side process runs its tasks in order: the ones it has not started yet, the
        # parent (done with its own work) runs itself, from the last one back
        side_out = {}
        for task in reversed(tasks):
            if not side.claim(task[0]):
                break
            side_out[task[0]] = _run_here(task, inp, res)
        for task in tasks:
            if task[0] not in side_out:
                side_out[task[0]] = _side_result(side, task, inp, res, deadline)
    if side.cost_ or side.failed:   # say where the stages ran and what the side cost
        res.info["side_process"] = dict(cost=side.cost_, failed=side.failed,
                                        peak_rss_gib=side.peak_rss_gib_)
    effects = [res.effects]
    checks = list(res.checks)
    naive = pd.DataFrame()
    es = None
    if inp.event_study:
        es, check = side_out[EVENT_STUDY]
        checks.append(check)
    if inp.survival:
        tv, nv, check = side_out[TV_COX]
        if check is None:
            effects.append(pd.DataFrame([tv]))
            naive = pd.DataFrame([nv])
        else:
            checks.append(check)
    if inp.clv:   # one BG/NBD with membership switching on at enrolment (never raises)
        rows, check = side_out[CLV_EFFECT]
        effects.append(rows)
        checks.append(check)
    effects = pd.concat(effects, ignore_index=True)
    tr = res.trials
    mem = tr.loc[(tr["member"] == 1) & tr["kept"]]
    roi_table = pd.DataFrame({"joined_in_window": np.ones(len(mem)),
                              "member_spend": mem["spend"].to_numpy(float)})
    info = res.info
    take_up = dict(take_up=float("nan"), n_members=int(info["n_members"]),
                   n_members_analysed=int(info["n_member_rows"]), n_customers=len(out),
                   n_comparison_rows=int(info["n_comparison_rows"]),
                   n_comparison_customers=int(info["n_comparison_customers"]),
                   n_trials=int(info["n_trials"]), n_eligible_non_members=int(
                       info["n_comparison_customers"]))
    return DesignResult(
        effects=effects, checks=checks, segment_estimator=seg_est, segments=segs,
        balance=res.balance,
        power=pd.DataFrame(), curves={}, take_up=take_up, propensity=None, naive=naive,
        sensitivity=sens, rolling=res, event_study=es, roi_table=roi_table,
        notes=[f"rolling enrolment: {info['n_trials']} monthly trials from "
               f"{info['start'].date()} to {info['last_index_date'].date()}; "
               f"{info['n_members_too_late']:,} members enrolled too late for a "
               "complete window"])


def _side_tasks(inp: DesignInput) -> list:
    """The stages that may run beside the trial emulation: ``(name, function, args, kwargs)``
    in the order they run. The CLV effect waits for the kept members, so the Cox model comes
    first; the event study, the cheapest, comes last: it is the one the parent most often
    claims when it finishes first (measured at 1M customers: the side process was the critical
    path by 12 s, its event study 5 s)."""
    tasks = []
    if inp.survival:
        tasks.append((TV_COX, _tv_cox, (inp.data, inp.out, inp.alpha), {}))
    if inp.clv:
        tasks.append((CLV_EFFECT, _clv_after_trials, (inp,), {}))
    if inp.event_study:
        tasks.append((EVENT_STUDY, _event_study, (inp.data, inp.alpha), {}))
    return tasks


def _side_result(side: SideProcess, task: tuple, inp: DesignInput, res, deadline=None):
    """A side task's result from the side process, or computed here by :func:`_run_here`
    (side process not run, failed or not done by ``deadline``)."""
    value = side.result(task[0], deadline) if side.running else None
    return value if value is not None else _run_here(task, inp, res)


def _run_here(task: tuple, inp: DesignInput, res):
    """A side task computed in this process: its own function on the same inputs — for the
    CLV effect, on the trial emulation's result instead of the kept members it waits for."""
    name, fn, args, kwargs = task
    if name == CLV_EFFECT:
        return rolling_clv_rows(inp.data, res, alpha=inp.alpha, n_draws=inp.n_draws,
                                seed=inp.seed)
    return fn(*args, **kwargs)


def _kept_members(rows: pd.DataFrame) -> pd.DataFrame:
    """The trial rows the CLV effect reads (members, kept), small enough to send."""
    keep = (rows["member"].to_numpy() == 1) & rows["kept"].to_numpy(bool)
    return rows.loc[keep, ["customer_id", "index_date", "member", "kept"]]


def _clv_after_trials(inp: DesignInput):
    """In the side process: wait for the kept members, then the CLV effect on them."""
    trials = SimpleNamespace(trials=wait_for_parent())
    return rolling_clv_rows(inp.data, trials, alpha=inp.alpha, n_draws=inp.n_draws,
                            seed=inp.seed)


def _tv_cox(data, out, alpha):
    """The time-varying Cox model of enrolment: ``(row, naive row, None)``, or ``(None, None,
    check)`` saying why it was not computed."""
    try:
        tv, nv = enrolment_hazard_ratio(data, out, alpha=alpha)
        return tv, nv, None
    except Exception as exc:   # the survival module is optional here: report, do not fail
        return None, None, dict(id=ids.CHECK_TV_COX, check="time-varying Cox (enrolment)",
                                status="warn", value=np.nan,
                                detail=f"not computed: {type(exc).__name__}: {exc}")


def _event_study(data, alpha):
    """The event study and its pre-trend check (a warning for the headline: see below)."""
    name = "pre-trends (event study, not-yet-enrolled comparison)"
    try:
        es = event_study(data, outcome="purchases", months_before=6, months_after=12,
                         alpha=alpha)
    except Exception as exc:   # H2's estimator may refuse a panel: say so, never crash
        return None, dict(id=ids.CHECK_PRETRENDS, check=name, status="warn", value=np.nan,
                          detail=f"event study not computed: {type(exc).__name__}: {exc}")
    p = es.pretrend
    status = {"pass": "pass", "fail": "warn"}.get(p.get("status"), "warn")
    detail = p.get("detail", "")
    if p.get("status") == "fail":
        detail += (" The event study compares members with customers not yet enrolled without "
                   "adjusting for their purchase history, so enrolment at checkout (which "
                   "selects on recent activity) alone makes its placebo months differ; the "
                   "headline effects adjust for that history and do not rest on parallel "
                   "trends, but the event-study estimates do.")
    return es, dict(id=ids.CHECK_PRETRENDS, check=name, status=status, value=float(p.get("p_value", np.nan)),
                    detail=detail)


def _levels(codes_source: pd.Series, mask: np.ndarray) -> np.ndarray:
    codes = np.full(len(codes_source), -1)
    q = pd.qcut(codes_source[mask].astype(float), 4, labels=False, duplicates="drop")
    codes[mask] = np.nan_to_num(q.to_numpy(float), nan=-1).astype(int)
    return codes


def rolling_sensitivity(res, effects: pd.DataFrame) -> pd.DataFrame:
    """E-values (VanderWeele & Ding 2017) of the rolling effects on members — purchases as a rate
    ratio, retention and CSAT as risk ratios, spend and NPS as standardized mean differences —
    each beside the strongest measured *history* covariate (purchases so far, days since the
    previous purchase, tenure, spend so far, mean inter-purchase time; quartiles at the index
    date) as a crude benchmark (Cinelli & Hazlett 2020): its associations with joining and with
    the outcome among the comparison rows, and the bias factor they imply (Ding & VanderWeele
    2016). Rows whose ratio cannot be formed (a zero or negative level) get NaN E-values and say
    so; nothing here raises on odd data."""
    tr = res.trials
    ok = tr["kept"].to_numpy(bool)
    t = (tr["member"].to_numpy() == 1) & ok
    c = (tr["member"].to_numpy() == 0) & ok & (tr["weight"].to_numpy() > 0)
    cols = {"purchases": "orders", "spend": "spend", "retention": "retained",
            "nps": "nps_score", "csat": "csat_score"}
    scales = {"purchases": "rate ratio", "spend": "standardized mean difference",
              "retention": "risk ratio", "nps": "standardized mean difference",
              "csat": "risk ratio"}
    rows, levels = [], {}
    for _, r in effects.loc[effects["estimand"] == ids.MEMBERS].iterrows():
        m = r["metric"]
        if m not in cols or cols[m] not in tr.columns:
            continue
        y = tr[cols[m]].to_numpy(float)
        scale = scales[m]
        row = dict.fromkeys(SENSITIVITY_COLUMNS, np.nan)
        row.update(metric=m, estimand=r["estimand"], scale=scale, benchmark=None,
                   benchmark_kind="crude", crude_benchmark=None, largest_shift=None)
        try:
            if scale == "standardized mean difference":
                fin = np.isfinite(y)
                sd = float(np.sqrt((np.nanvar(y[t & fin], ddof=1) +
                                    np.nanvar(y[c & fin], ddof=1)) / 2))
                if not sd > 0:
                    raise ValueError("the outcome has no variance")
                ev = evalues_md(r["abs_diff"] / sd, lo=r["ci_low"] / sd, hi=r["ci_high"] / sd)
                # the table shows the estimate in the metric's units, as the headline does (the
                # E-value uses d = difference / SD; before, d itself was shown as dollars)
                ev.estimate, ev.ci_low, ev.ci_high = (float(r["abs_diff"]), float(r["ci_low"]),
                                                      float(r["ci_high"]))
            else:
                sd = None
                if not (r["control"] > 0 and r["treatment"] > 0):
                    raise ValueError("a level is not positive, so no ratio can be formed")
                ev = evalues_rr(1 + r["rel_lift"], 1 + r["rel_ci_low"], 1 + r["rel_ci_high"])
            row.update(estimate=ev.estimate, ci_low=ev.ci_low, ci_high=ev.ci_high, rr=ev.rr,
                       rr_ci_low=ev.rr_ci_low, rr_ci_high=ev.rr_ci_high, evalue=ev.evalue,
                       evalue_ci=ev.evalue_ci, method=ev.method)
        except (ValueError, ZeroDivisionError, FloatingPointError) as exc:
            row.update(method=f"not computed: {exc}",
                       interpretation=f"E-value not computed for {m}: {exc}.")
            rows.append(row)
            continue
        best = None
        for cov, label in BENCHMARKS.items():
            if cov not in tr.columns:
                continue
            if cov not in levels:   # the same quartiles for every metric: cut once
                levels[cov] = _levels(tr[cov], ok)
            codes = levels[cov]
            try:
                eu, ud = confounder_strength(codes, t, np.where(ok, y, np.nan), scale=scale,
                                             sd=sd)
            except (ValueError, ZeroDivisionError):
                continue
            if np.isfinite(eu) and np.isfinite(ud):
                bf = bias_factor(eu, ud)
                if best is None or bf > best[3]:
                    best = (label, eu, ud, bf)
        if best is not None:
            row.update(benchmark=best[0], benchmark_rr_eu=best[1], benchmark_rr_ud=best[2],
                       benchmark_bias=best[3], crude_benchmark=best[0],
                       crude_benchmark_rr_eu=best[1], crude_benchmark_rr_ud=best[2],
                       crude_benchmark_bias=best[3])
        row["interpretation"] = interpret(row, WORDS.get(m, m))
        rows.append(row)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


__all__ = ["analyze_rolling", "rolling_sensitivity", "HISTORY_LABELS"]
