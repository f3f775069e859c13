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

import pandas as pd

from . import context as ctx
from .design_launch import analyze_launch
from .design_randomized import analyze_randomized
from .heterogeneity import segment_effects
from .outcomes import covariate_matrix, outcome_table
from .report import EFFECT_COLUMNS, LABELS, PRIMARY, ImpactReport, _assumptions  # noqa: F401
from .common import _costs
from .roi import programme_roi
from .surveys import survey_scores


def analyze(data, design: str | None = None, horizon: int = 365, margin: float = 0.3,
            cost_per_member: float | None = None, fixed_cost: float | None = None, *,
            reward_rate: float | None = None, alpha: float = 0.05,
            segment_column: str | None = "tier", seed: int = 0, correction: str = "holm",
            trim: float = 0.01, clv: bool = True, survival: bool = True,
            sensitivity: bool = True, n_draws: int = 100) -> ImpactReport:
    """Analyse a loyalty-programme study.

    Parameters
    ----------
    data : ExperimentData
        The simulator's bundle or :func:`retention_lab.io.read_experiment` /
        :func:`retention_lab.io.load_data` output (needs ``launch_date``).
    design : {"randomized", "self_selected"}, default ``data.design``
    horizon : int
        Days after launch of the outcome window; retention is measured after it.
    margin : float
        Gross margin on spend (for ROI).
    cost_per_member, reward_rate, fixed_cost : float, optional
        Programme costs: per enrolment, share of members' spend, fixed; default from
        ``data.params`` (the simulator records them), else 0.
    alpha : float
        1 − confidence level of every interval.
    segment_column : str or None
        Customer column for heterogeneous effects (tier, acquisition_channel, region, …).
    seed : int
        Seed of the bootstrap draws (CLV).
    correction : {"holm", "bh"}
        Multiplicity correction of the segment p-values.
    trim : float
        Self-selected: trim eligible customers with propensity above ``1 − trim``.
    clv, survival, sensitivity : bool
        Skip the slower parts (BTYD fits, Cox models, the self-selected sensitivity analysis
        with its per-covariate refits) when False, e.g. in coverage studies.
    """
    design = design or getattr(data, "design", None) or "randomized"
    if design not in ("randomized", "self_selected"):
        raise ValueError(f"design must be 'randomized' or 'self_selected', not {design!r}")
    out = outcome_table(data, horizon)
    sv = survey_scores(getattr(data, "surveys", None), out.index, out.attrs["launch"])
    out["nps_score"], out["csat_score"] = sv["nps_score"], sv["csat_score"]
    X = covariate_matrix(out)
    cpm, rr, fc = _costs(data, cost_per_member, reward_rate, fixed_cost)
    settings = dict(design=design, horizon=int(horizon), margin=margin, cost_per_member=cpm,
                    reward_rate=rr, fixed_cost=fc, alpha=alpha, segment_column=segment_column,
                    correction=correction, trim=trim, n_customers=len(out),
                    launch=out.attrs["launch"], observation_end=out.attrs["observation_end"])
    if design == "randomized":
        rep = analyze_randomized(data, out, X, alpha, clv, survival, n_draws, seed)
    else:
        rep = analyze_launch(data, out, X, alpha, clv, survival, n_draws, seed, trim,
                             sensitivity)
    effects, checks, extra = rep
    effects = pd.DataFrame(effects)
    effects = effects[[c for c in EFFECT_COLUMNS if c in effects.columns] +
                      [c for c in effects.columns if c not in EFFECT_COLUMNS]]
    est = "ITT" if design == "randomized" else "effect on members"
    spend_row = effects.loc[(effects["metric"] == "spend") & (effects["estimand"] == est)].iloc[0]
    n_roi = int(out["arm_treated"].sum()) if design == "randomized" else int(out["enrolled"].sum())
    roi_out = out if design == "randomized" else out
    roi = programme_roi(spend_row.to_dict(), n_roi, roi_out.loc[
        (roi_out["arm_treated"] == 1) if design == "randomized" else slice(None)],
        margin=margin, reward_rate=rr, cost_per_member=cpm, fixed_cost=fc)
    segs = pd.DataFrame()
    if segment_column:
        segs = segment_effects(out, segment_column, extra.pop("segment_estimator"),
                               correction=correction)
    else:
        extra.pop("segment_estimator")
    context = ctx.context_table(effects, "effect on members")
    ctrl = effects.loc[(effects["metric"] == "retention") & (effects["estimand"] == est)].iloc[0]
    clv_rows = effects.loc[(effects["metric"] == "clv") & (effects["estimand"] == est)]
    if len(clv_rows):   # the fitted BTYD models' 12-month value of a control customer
        year_value = float(clv_rows.iloc[0]["control"])
        source = "the fitted BG/NBD + Gamma-Gamma 12-month CLV of the control group"
    else:
        year_value = float(spend_row["control"]) * 365.0 / horizon
        source = "the control group's spend per customer-year"
    retention_value = ctx.retention_gain_value(float(ctrl["control"]), margin * year_value)
    retention_value["method"] += f"; yearly value per customer from {source}, × margin"
    return ImpactReport(design=design, effects=effects.reset_index(drop=True),
                        checks=pd.DataFrame(checks), segments=segs, roi=roi,
                        assumptions=_assumptions(design, settings), context=context,
                        retention_value=retention_value, settings=settings, **extra)
