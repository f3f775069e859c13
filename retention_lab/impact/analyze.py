"""``rl.impact.analyze``: the loyalty-programme impact analysis of one study, and its report.

Randomized design (invite vs control): intention-to-treat effects (CUPED/Lin-adjusted) and the
effect on members (Wald/IV), SRM and balance checks. Self-selected design (customers chose to
enrol): doubly robust effect on members (ATT: inverse-probability weights from a logit propensity
model plus a weighted outcome regression) against eligible non-members,
overlap and balance diagnostics, difference-in-differences, time-varying Cox; the naive
members-vs-non-members contrast is kept aside for comparison. Both: purchase-rate ratio (NB),
retention at the horizon and RMST, lapse hazard ratio, CLV (BG/NBD + Gamma-Gamma per group),
NPS/CSAT, ROI, segment effects with multiplicity correction, power/MDE and context. The
self-selected report adds the sensitivity of the effect on members to unmeasured confounding:
E-values beside the strength of the measured covariates given the others, and the shift of each
estimate when one of them is left out (:mod:`.sensitivity`).

Only columns of the data contract are used, so the simulator's bundle and a user's own tables
(:func:`retention_lab.io.read_experiment`) are analysed the same way.
"""
from __future__ import annotations

import warnings

import pandas as pd

from .. import ids
from ..errors import DataError
from . import verdict as vd
from .core import context as ctx
from .core.common import _costs
from .core.design_io import DesignInput, DesignResult
from .core.heterogeneity import segment_effects
from .core.outcomes import covariate_matrix, outcome_table
from .core.power import holdout_plan
from .core.preflight import check_design
from .core.roi import programme_roi
from .core.surveys import survey_scores
from .launch.design import analyze_launch
from .randomized.design import analyze_randomized
from .report import ImpactReport
from .result import EFFECT_COLUMNS, PRIMARY, ImpactResult  # noqa: F401
from .rolling.design import _event_study, analyze_rolling
from .rolling.trials import RETENTION_DAYS, choose_analysis, late_enrolment_check

DESIGNS = ("randomized", "self_selected", "launch", "rolling")
#: ids of the checks whose failure means the data cannot separate selection from effect
IDENTIFICATION_CHECKS = ids.IDENTIFICATION_CHECK_IDS


def analyze(data, design: str | None = None, horizon: int | None = None, margin: float = 0.3,
            cost_per_member: float | None = None, fixed_cost: float | None = None, *,
            reward_rate: float | None = None, alpha: float = 0.05,
            segment_column: str | None = "tier", seed: int = 0, correction: str = "holm",
            trim: float = 0.01, clv: bool = True, survival: bool = True,
            sensitivity: bool = True, n_draws: int = 100, horizon_days: int | None = None,
            event_study: bool = True, retention_days: int | None = None,
            planned_share: float | None = None) -> ImpactReport:
    """Analyse a loyalty-programme study.

    Parameters
    ----------
    data : ExperimentData
        The simulator's bundle or :func:`retention_lab.io.read_experiment` /
        :func:`retention_lab.io.load_data` output (needs ``launch_date``).
    design : {"randomized", "self_selected", "launch", "rolling"}, default ``data.design``
        ``"self_selected"`` picks the analysis from the data (:func:`.rolling.choose_analysis`):
        ``"rolling"`` enrolment when more than 10 % of members enrolled after their first
        purchase on or after the launch (each member anchored at their own enrolment date,
        :mod:`.rolling`), else the single-``"launch"`` design (everyone measured from the
        launch). Both can be asked for explicitly. The result's ``design`` is the study's
        design (``"randomized"`` or ``"self_selected"``: who decided membership), its
        ``analysis`` the method that ran (``"randomized"``, ``"launch"`` or ``"rolling"``) and
        ``settings["design_requested"]`` the argument as given.
    horizon_days : int, default 365
        Days of the outcome window: after the launch (randomized, launch) or after each
        member's enrolment (rolling); retention is measured after it. ``horizon`` is the
        older name of the same parameter (deprecated: a DeprecationWarning).
    margin : float
        Gross margin on spend (for ROI).
    cost_per_member, reward_rate, fixed_cost : float, optional
        Programme costs: per enrolment, share of members' spend, fixed; default from
        ``data.params`` (the simulator records them), else 0.
    alpha : float
        1 − confidence level of every interval (0.05: 95 % intervals).
    segment_column : str or None
        Customer column for heterogeneous effects (tier, acquisition_channel, region, …).
    seed : int
        Seed of the bootstrap draws (CLV); ``n_draws`` their number.
    correction : {"holm", "bh"}
        Multiplicity correction of the segment p-values.
    trim : float
        Self-selected: trim eligible customers with propensity above ``1 − trim``.
    clv, survival, sensitivity, event_study : bool
        Skip the slower parts (BTYD fits, Cox models, the self-selected sensitivity analysis
        with its per-covariate refits, the event study by month since enrolment with its
        pre-trend check, :func:`.core.event_study.event_study`) when False.
    planned_share : float, optional
        Randomized design: the planned share of invited customers, for the sample-ratio check
        (default: the simulator's recorded ``invite_share``, else 0.5).
    retention_days : int, optional
        Rolling design: retention = a purchase within this many days after the window
        (default :data:`.rolling.RETENTION_DAYS`).

    Returns an :class:`~.report.ImpactReport`: the numbers (:class:`~.result.ImpactResult`,
    keyed by metric, estimand and check ids) with methods that render them. Identification:
    when a check that decides whether these data can separate selection from effect fails
    (:data:`IDENTIFICATION_CHECKS`), ``report.identified`` is False and the summary makes no
    causal claim; it recommends a randomized holdout instead.

    The verdict (``report.verdict``: claim, evidence, robustness, reasons) is decided by
    :func:`.verdict.decide` from check ids, metric ids and the sensitivity table; an
    observational design claims an effect only if it survives an unmeasured confounder as
    strong as the strongest measured covariate (rule in :mod:`.verdict`), else it is
    "suggestive" and ``report.holdout`` sizes the randomized holdout that would settle it
    (:func:`.power.holdout_plan`).
    """
    requested = design
    design = design or getattr(data, "design", None) or "randomized"
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    horizon = _horizon_days(horizon, horizon_days)
    try:
        out = outcome_table(data, horizon)
    except DataError:
        if design != "rolling":
            raise
        out = outcome_table(data, 1)   # customer attributes only: rolling windows are per member
    analysis = design if design != "self_selected" else choose_analysis(out)
    check_design(out, analysis)   # degenerate groups: a DataError saying what the data lack
    sv = survey_scores(getattr(data, "surveys", None), out.index, out.attrs["launch"])
    out["nps_score"], out["csat_score"] = sv["nps_score"], sv["csat_score"]
    cpm, rr, fc = _costs(data, cost_per_member, reward_rate, fixed_cost)
    report_design = "randomized" if analysis == "randomized" else "self_selected"
    settings = _settings(out, design=report_design, design_requested=requested or design,
                         analysis=analysis, horizon=int(horizon), horizon_days=int(horizon),
                         margin=margin, cost_per_member=cpm, reward_rate=rr, fixed_cost=fc,
                         alpha=alpha, segment_column=segment_column, correction=correction,
                         trim=trim)
    X = None if analysis == "rolling" else covariate_matrix(out)   # rolling: its own, per trial
    inp = DesignInput(data=data, out=out, X=X, alpha=alpha, horizon_days=int(horizon), clv=clv,
                      survival=survival, sensitivity=sensitivity, event_study=event_study,
                      n_draws=n_draws,
                      seed=seed, trim=trim, planned_share=planned_share,
                      retention_days=retention_days, segment_column=segment_column,
                      correction=correction)
    rep = _run_design(inp, analysis)
    if analysis == "rolling":
        settings["rolling"] = {k: v for k, v in rep.rolling.info.items()}
        settings["retention_days"] = RETENTION_DAYS if retention_days is None else retention_days
    effects = _ordered(pd.DataFrame(rep.effects))
    est = ids.ITT if analysis == "randomized" else ids.MEMBERS
    spend_row = effects.loc[(effects["metric"] == ids.SPEND) & (effects["estimand"] == est)].iloc[0]
    roi = _roi(out, analysis, rep, spend_row, margin=margin, reward_rate=rr,
               cost_per_member=cpm, fixed_cost=fc)
    segs = _segments(out, rep, segment_column, correction)
    context = ctx.context_table(effects, ids.MEMBERS)
    retention_value = _retention_value(effects, est, spend_row, margin, horizon)
    checks = pd.DataFrame(rep.checks)
    settings.update(_identification(checks))
    effects = effects.reset_index(drop=True)
    verdict = vd.decide(effects, checks, report_design, sensitivity=rep.sensitivity,
                        alpha=alpha)
    holdout = _holdout(out, effects, verdict, report_design, analysis, rep, alpha, horizon)
    return ImpactReport(design=report_design, effects=effects, checks=checks, segments=segs,
                        roi=roi, context=context, retention_value=retention_value,
                        settings=settings, analysis=analysis, verdict=verdict, holdout=holdout,
                        **rep.diagnostics())


def _segments(out, rep: DesignResult, segment_column, correction) -> pd.DataFrame:
    """The segment effects: the design's own (the rolling design computes them while its side
    process runs), else from its segment estimator; empty without a segment column."""
    if not segment_column:
        return pd.DataFrame()
    if rep.segments is not None:
        return rep.segments
    return segment_effects(out, segment_column, rep.segment_estimator, correction=correction)


def _settings(out, **settings) -> dict:
    """The analysis' settings, with the study's size and dates."""
    return dict(settings, n_customers=len(out), launch=out.attrs["launch"],
                observation_end=out.attrs["observation_end"])


def _horizon_days(horizon, horizon_days) -> int:
    """``horizon_days``, or the deprecated ``horizon`` (same meaning: days), default 365."""
    if horizon is not None:
        warnings.warn("analyze(horizon=...) is deprecated: use horizon_days= (days of the "
                      "outcome window)", DeprecationWarning, stacklevel=3)
        if horizon_days is None:
            return horizon
    return 365 if horizon_days is None else horizon_days


def _ordered(effects: pd.DataFrame) -> pd.DataFrame:
    """``effects`` with :data:`~.result.EFFECT_COLUMNS` first."""
    return effects[[c for c in EFFECT_COLUMNS if c in effects.columns] +
                   [c for c in effects.columns if c not in EFFECT_COLUMNS]]


def _run_design(inp: DesignInput, analysis: str) -> DesignResult:
    """The design's analysis; the launch design adds the enrolment-timing check and the event
    study (the rolling design runs its own)."""
    if analysis == "randomized":
        return analyze_randomized(inp)
    if analysis == "rolling":
        return analyze_rolling(inp)
    rep = analyze_launch(inp)
    rep.checks.append(late_enrolment_check(inp.out))
    if inp.event_study:
        es, check = _event_study(inp.data, inp.alpha)
        rep.checks.append(check)
        rep.event_study = es
    return rep


def _roi(out, analysis: str, rep: DesignResult, spend_row, **costs) -> dict:
    """ROI over the customers the spend effect is about: the invited (randomized), everyone
    (launch: the effect on members times the members), the analysed members (rolling)."""
    if analysis == "randomized":
        n_roi, roi_out = int(out["arm_treated"].sum()), out.loc[out["arm_treated"] == 1]
    elif analysis == "launch":
        n_roi, roi_out = int(out["enrolled"].sum()), out
    else:
        n_roi, roi_out = len(rep.roi_table), rep.roi_table
    return programme_roi(spend_row.to_dict(), n_roi, roi_out, **costs)


def _retention_value(effects, est: str, spend_row, margin: float, horizon: int) -> dict:
    """The value of a retention gain for this customer base (:func:`.context.retention_gain_value`),
    with the yearly value per customer from the fitted CLV when there is one."""
    ctrl = effects.loc[(effects["metric"] == ids.RETENTION) & (effects["estimand"] == est)].iloc[0]
    clv_rows = effects.loc[(effects["metric"] == ids.CLV) & (effects["estimand"] == est)]
    if len(clv_rows):   # the fitted BTYD models' 12-month value of a control customer
        year_value = float(clv_rows.iloc[0]["control"])
        source = "the fitted BG/NBD + Gamma-Gamma 12-month CLV of the control group"
    else:
        year_value = float(spend_row["control"]) * 365.0 / horizon
        source = "the control group's spend per customer-year"
    retention_value = ctx.retention_gain_value(float(ctrl["control"]), margin * year_value)
    retention_value["method"] += f"; yearly value per customer from {source}, × margin"
    return retention_value


def _identification(checks: pd.DataFrame) -> dict:
    """Whether the effect (and the effect on members) is identified, and the failed check ids
    that say why not."""
    failed = checks.loc[checks["id"].isin(IDENTIFICATION_CHECKS) & (checks["status"] == "fail")]
    failed_m = checks.loc[checks["id"].isin(ids.MEMBER_IDENTIFICATION_CHECK_IDS) &
                          (checks["status"] == "fail")]
    return dict(identified=failed.empty, not_identified_because=list(failed["id"]),
                members_identified=failed_m.empty,
                members_not_identified_because=list(failed_m["id"]))


def _holdout(out, effects, verdict: dict, report_design: str, analysis: str,
             rep: DesignResult, alpha: float, horizon: int) -> dict:
    """The randomized holdout that would settle an observational claim
    (:func:`.power.holdout_plan`); empty for a randomized study or when nothing is
    significant."""
    sig = vd.significant(effects, report_design, alpha)
    if report_design == "randomized" or not sig:
        return {}
    rob = verdict.get("robustness") or {}
    fragile = [m for m in sig if (rob.get(m) or {}).get("survives") is not True]
    metric = (fragile or sig)[0]   # the claim in doubt
    row = effects.loc[(effects["metric"] == metric) & (effects["estimand"] == ids.MEMBERS)].iloc[0]
    y = None
    if analysis == "rolling":   # outcomes in the windows after each index date
        tr = rep.rolling.trials
        col = {"purchases": "orders", "spend": "spend", "retention": "retained"}[metric]
        if col in tr.columns:
            y = tr.loc[tr["kept"].astype(bool), col].to_numpy(float)
    return holdout_plan(out, row, y=y, alpha=alpha, window_days=int(horizon))
