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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from . import context as ctx
from .clv_effects import predicted_clv
from .estimators import z_interval
from .frequency import nb_rate_ratio
from .heterogeneity import segment_effects
from .outcomes import covariate_matrix, outcome_table
from .power import mde_table
from .randomized import CORE, balance_check, balance_table, itt_and_members, srm_check
from .roi import programme_roi
from .self_selected import (att_effects, did_effect, fit_propensity, naive_effects,
                            propensity_balance)
from .sensitivity import (BENCHMARK_CAVEAT, conditional_benchmarks, covariate_benchmarks,
                          format_estimate, member_effects, sensitivity_table)
from .surveys import survey_scores

EFFECT_COLUMNS = ["metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
                  "ci_high", "p_value", "method", "n", "se", "rel_ci_low", "rel_ci_high"]
LABELS = {"purchases": "purchases per customer", "spend": "spend per customer",
          "aov": "average order value", "retention": "retention",
          "rmst": "restricted mean active days", "purchase rate": "purchase rate",
          "lapse hazard ratio": "lapse hazard ratio", "clv": "12-month CLV",
          "nps": "NPS", "csat": "CSAT (share 4–5)"}
PRIMARY = ("purchases", "spend", "retention")


def _fmt(x, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{float(f'{x:.{digits}g}'):,g}"


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:+.1%}"


@dataclass
class ImpactReport:
    """The result of :func:`analyze`. ``effects`` one row per metric and estimand; ``checks``
    (check, status pass/warn/fail, value, detail); ``segments``; ``roi`` (dict); ``assumptions``
    (plain-language list); plus the diagnostics that the report's figures show.

    ``sensitivity`` (self-selected design only; ``None`` for a randomized study, whose ITT rests
    on the randomization and needs no such analysis): one row per effect on members with its
    estimate, interval and scale, the approximate risk ratio, the E-values of the estimate and of
    the interval (VanderWeele & Ding 2017), the strongest measured covariate as a benchmark —
    its associations with joining and the outcome given the other covariates, and the estimate
    without it (Cinelli & Hazlett 2020 benchmarking) — and a plain interpretation;
    ``conditional_benchmarks`` those leave-one-covariate-out numbers for every measured covariate
    (:func:`retention_lab.impact.sensitivity.conditional_benchmarks`); ``confounder_benchmarks``
    the crude strength of every measured covariate
    (:func:`retention_lab.impact.sensitivity.covariate_benchmarks`)."""

    design: str
    effects: pd.DataFrame
    checks: pd.DataFrame
    segments: pd.DataFrame
    roi: dict
    assumptions: list
    naive: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    power: pd.DataFrame = field(default_factory=pd.DataFrame)
    context: pd.DataFrame = field(default_factory=pd.DataFrame)
    retention_value: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    propensity: object = None
    take_up: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    sensitivity: pd.DataFrame | None = None
    confounder_benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    conditional_benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def member_estimand(self) -> str:
        return "effect on members"

    def headline(self) -> pd.DataFrame:
        """The primary rows: purchases, spend, retention (ITT and/or effect on members)."""
        e = self.effects
        keep = e["metric"].isin(PRIMARY) & e["estimand"].isin(["ITT", "effect on members"])
        return e.loc[keep].reset_index(drop=True)

    def effect(self, metric: str, estimand: str | None = None) -> pd.Series:
        est = estimand or ("ITT" if self.design == "randomized" else "effect on members")
        rows = self.effects.loc[(self.effects["metric"] == metric) &
                                (self.effects["estimand"] == est)]
        if rows.empty:
            raise KeyError(f"no effect row for metric {metric!r}, estimand {est!r}")
        return rows.iloc[0]

    def failed_checks(self) -> pd.DataFrame:
        return self.checks.loc[self.checks["status"] == "fail"]

    def roi_verdict(self) -> str:
        r = self.roi
        if not r or not np.isfinite(r.get("roi", np.nan)):
            return "ROI could not be computed (no programme costs known)."
        lo, hi = r["roi_ci"]
        head = (f"ROI {_pct(r['roi'])} (95 % CI {_pct(lo)} to {_pct(hi)}): incremental margin "
                f"{_fmt(r['incremental_margin'])} against costs {_fmt(r['programme_cost'])}")
        if lo > 0:
            return f"The programme paid for itself within the horizon. {head}."
        if hi < 0:
            return f"The programme did not pay for itself within the horizon. {head}."
        return f"Whether the programme paid for itself is not settled by these data. {head}."

    def summary_text(self) -> str:
        """Plain sentences for an executive summary: headline effects with intervals, the ROI
        verdict and any failed check."""
        s = self.settings
        h = s.get("horizon", 365)
        lines = []
        if self.design == "randomized":
            tu = self.take_up
            lines.append(f"Randomized study: {tu.get('n_invited', 0):,} customers invited, "
                         f"{tu.get('n_control', 0):,} in control; {_pct(tu.get('take_up'))[1:]} of "
                         f"the invited joined (95 % CI {_pct(tu.get('ci', (np.nan,) * 2)[0])[1:]} "
                         f"to {_pct(tu.get('ci', (np.nan,) * 2)[1])[1:]}).")
            groups = (("ITT", "Inviting customers"), ("effect on members",
                                                       "For customers who joined, the programme"))
        else:
            tu = self.take_up
            lines.append(f"Self-selected study: {tu.get('n_members', 0):,} members among "
                         f"{tu.get('n_customers', 0):,} customers; members are compared with "
                         f"{tu.get('n_eligible_non_members', 0):,} non-members who also bought "
                         "after the launch, weighted to resemble them (inverse-probability "
                         "weighting with a regression adjustment: doubly robust).")
            groups = (("effect on members", "For members, the programme"),)
        for est, who in groups:
            for metric in PRIMARY:
                try:
                    r = self.effect(metric, est)
                except KeyError:
                    continue
                unit = " points" if metric == "retention" else ""
                if metric == "retention":
                    lvl = f"{r['control']:.1%} to {r['treatment']:.1%}"
                    diff = (f"{100 * r['abs_diff']:+.1f}{unit}, 95 % CI "
                            f"{100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}")
                else:
                    lvl = f"{_fmt(r['control'])} to {_fmt(r['treatment'])}"
                    diff = (f"{_pct(r['rel_lift'])}, 95 % CI {_pct(r['rel_ci_low'])} to "
                            f"{_pct(r['rel_ci_high'])}")
                what = {"purchases": f"purchases per customer in the {h} days after launch",
                        "spend": f"spend per customer in the {h} days after launch",
                        "retention": f"the share still buying after {h} days"}[metric]
                if r["p_value"] < s.get("alpha", 0.05):
                    verb = "raised" if r["abs_diff"] > 0 else "lowered"
                else:
                    verb = "did not clearly change"
                lines.append(f"{who} {verb} {what}: {lvl} ({diff}; p = "
                             f"{_fmt(r['p_value'], 2)}).")
        if self.design == "self_selected" and len(self.naive):
            nv = self.naive.loc[self.naive["metric"] == "purchases"]
            if len(nv):
                corr = self.effect("purchases", "effect on members")["abs_diff"]
                lines.append(
                    f"A naive comparison of members with all non-members would have credited the "
                    f"programme with {_fmt(nv.iloc[0]['abs_diff'])} extra purchases per member "
                    f"instead of {_fmt(corr)} — members were heavier buyers to begin with and had "
                    "to be active to enrol.")
        if self.design == "self_selected":
            lines.append(self.sensitivity_text())
        lines.append(self.roi_verdict())
        for _, c in self.failed_checks().iterrows():
            lines.append(f"FAILED CHECK — {c['check']}: {c['detail']}")
        return "\n".join(lines)

    def sensitivity_text(self) -> str:
        """One sentence on the sensitivity of the primary effects on members to unmeasured
        confounding (E-values, VanderWeele & Ding 2017) and the strongest measured covariate."""
        if self.sensitivity is None:
            if self.design == "self_selected":
                return ("The sensitivity analysis for unmeasured confounding was not computed "
                        "(analyze(..., sensitivity=False)).")
            return ("Randomized study: the effect of the invitation rests on the randomization, so "
                    "no sensitivity analysis for unmeasured confounding is needed.")
        sv = self.sensitivity.set_index("metric")
        prim = [m for m in PRIMARY if m in sv.index and np.isfinite(sv.loc[m, "evalue"])]
        if not prim:
            return "Sensitivity to unmeasured confounding: no E-value could be computed."
        ev = ", ".join(f"{sv.loc[m, 'evalue']:.2f} for {m}" for m in prim)
        ci = ", ".join(f"{sv.loc[m, 'evalue_ci']:.2f}" for m in prim)
        text = (f"Sensitivity to unmeasured confounding (E-values, VanderWeele & Ding 2017): to "
                f"explain the effects on members away, an unmeasured trait would have to be "
                f"associated with both joining and the outcome by a risk ratio of at least {ev} "
                f"beyond the measured covariates (for the interval to reach no effect: {ci}).")
        m = "retention" if "retention" in prim else prim[0]
        r = sv.loc[m]
        if isinstance(r["benchmark"], str) and np.isfinite(r["benchmark_bias"]):
            rr = r["rr"] if r["rr"] >= 1 else 1 / r["rr"]
            enough = r["benchmark_bias"] >= rr
            cond = r["benchmark_kind"] == "conditional"
            text += (f" The strongest measured covariate, {r['benchmark']}, is associated with "
                     f"joining by {r['benchmark_rr_eu']:.2f} and with {m} by "
                     f"{r['benchmark_rr_ud']:.2f} "
                     f"({'given the other covariates' if cond else 'crude'}): a confounder as "
                     f"strong could shift the {m} estimate by a factor of at most "
                     f"{r['benchmark_bias']:.2f} — "
                     f"{'enough, in the worst case,' if enough else 'not enough'} to explain it "
                     "away.")
            if cond and np.isfinite(r["benchmark_shift"]):
                text += (f" Leaving it out of the adjustment moves the estimate from "
                         f"{format_estimate(r['scale'], r['estimate'])} to "
                         f"{format_estimate(r['scale'], r['benchmark_estimate_without'])}"
                         + (f"; the largest move, leaving out {r['largest_shift']}, is to "
                            f"{format_estimate(r['scale'], r['largest_shift_estimate_without'])}."
                            if isinstance(r["largest_shift"], str) and
                            r["largest_shift"] != r["benchmark"] else "."))
            if cond and np.isfinite(r["crude_benchmark_bias"]):
                text += (f" (Crude associations, which ignore the other covariates, give "
                         f"{r['crude_benchmark']} a bias factor of "
                         f"{r['crude_benchmark_bias']:.2f}.)")
            text += f" {BENCHMARK_CAVEAT}"
        return text

    def context_text(self) -> str:
        """Plain sentences: measured lifts beside the quoted ranges, and the value of a 5-point
        retention gain for this customer base."""
        lines = []
        for _, c in self.context.iterrows():
            lines.append(f"Measured {c['metric']} lift for members: {_pct(c['measured_rel_lift'])} "
                         f"(95 % CI {_pct(c['ci_low'])} to {_pct(c['ci_high'])}) — point estimate "
                         f"{c['position']} the quoted {c['quoted_low']:.0%}–{c['quoted_high']:.0%} "
                         f"({c['quoted']}).")
        v = self.retention_value
        if v:
            lines.append(f"For this customer base, raising annual retention from "
                         f"{v['retention']:.1%} to {v['retention'] + v['retention_gain']:.1%} "
                         f"is worth {_fmt(v['value_per_customer'])} of discounted margin per "
                         f"customer over {v['years']} years ({_pct(v['rel_change'])} of customer "
                         f"value) — against the often-quoted 'a 5 % retention gain lifts profit "
                         f"25–95 %'.")
        return "\n".join(lines)

    def summary_html(self) -> str:
        """The executive summary as HTML: one paragraph per sentence, failed checks in red."""
        import html
        parts = []
        for line in self.summary_text().splitlines():
            if line.startswith("FAILED CHECK"):
                parts.append(f'<p style="color:#c00;font-weight:bold">{html.escape(line)}</p>')
            else:
                parts.append(f"<p>{html.escape(line)}</p>")
        return "\n".join(parts)

    def checks_html(self) -> str:
        """The checks table as HTML with the status coloured (fail red, warn orange)."""
        import html
        colour = {"pass": "#080", "warn": "#c60", "fail": "#c00"}
        rows = "".join(
            f"<tr><td>{html.escape(str(c['check']))}</td><td style=\"color:"
            f"{colour.get(c['status'], '#000')};font-weight:bold\">{c['status']}</td>"
            f"<td>{html.escape(str(c['detail']))}</td></tr>" for _, c in self.checks.iterrows())
        return ("<table><tr><th>check</th><th>status</th><th>detail</th></tr>" + rows +
                "</table>")

    def headline_table(self, digits: int = 3) -> pd.DataFrame:
        """Headline effects rounded to ``digits`` significant figures (strings), for display
        and output checks: metric, estimand, control, treatment, difference, interval, lift."""
        rows = []
        for _, r in self.effects.iterrows():
            if r["metric"] not in PRIMARY + ("aov", "rmst", "clv", "nps", "csat") or \
                    r["estimand"] not in ("ITT", "effect on members"):
                continue
            rows.append(dict(metric=r["metric"], estimand=r["estimand"],
                             control=_fmt(r["control"], digits),
                             treatment=_fmt(r["treatment"], digits),
                             difference=_fmt(r["abs_diff"], digits),
                             ci=f"[{_fmt(r['ci_low'], digits)}, {_fmt(r['ci_high'], digits)}]",
                             rel_lift=_pct(r["rel_lift"])))
        return pd.DataFrame(rows)

    def record(self, prefix: str = "") -> dict:
        """Record the headline numbers with :func:`retention_lab.reporting.record` (for the
        report's ``metrics.json``): every ITT / effect-on-members row, take-up, ROI and, for a
        self-selected study, the E-value of each effect on members (``<metric>_members_evalue``,
        with ``evalue_ci``, the scale and the risk ratio it was computed from)."""
        from .. import reporting
        out = {}
        for _, r in self.effects.iterrows():
            if r["estimand"] not in ("ITT", "effect on members"):
                continue
            name = f"{prefix}{r['metric']}_{'itt' if r['estimand'] == 'ITT' else 'members'}"
            out[name] = reporting.record(name, r["abs_diff"], (r["ci_low"], r["ci_high"]),
                                         method=r["method"], n=int(r["n"]),
                                         control=float(r["control"]),
                                         treatment=float(r["treatment"]),
                                         rel_lift=float(r["rel_lift"]))
        tu = self.take_up
        if "ci" in tu:
            out[f"{prefix}take_up"] = reporting.record(f"{prefix}take_up", tu["take_up"], tu["ci"],
                                                       method="share of invited who enrolled",
                                                       unit="share")
        if self.roi:
            out[f"{prefix}roi"] = reporting.record(f"{prefix}roi", self.roi["roi"],
                                                   self.roi["roi_ci"], method=self.roi["method"],
                                                   unit="ratio")
        if self.sensitivity is not None:
            for _, r in self.sensitivity.iterrows():
                name = f"{prefix}{r['metric']}_members_evalue"
                out[name] = reporting.record(
                    name, r["evalue"], method=r["method"], unit="risk ratio",
                    evalue_ci=None if not np.isfinite(r["evalue_ci"]) else float(r["evalue_ci"]),
                    scale=r["scale"], rr=float(r["rr"]),
                    rr_ci=[float(r["rr_ci_low"]), float(r["rr_ci_high"])],
                    benchmark=r["benchmark"], benchmark_kind=r["benchmark_kind"],
                    benchmark_bias=None if not np.isfinite(r["benchmark_bias"])
                    else float(r["benchmark_bias"]),
                    benchmark_shift=None if not np.isfinite(r["benchmark_shift"])
                    else float(r["benchmark_shift"]),
                    crude_benchmark_bias=None if not np.isfinite(r["crude_benchmark_bias"])
                    else float(r["crude_benchmark_bias"]))
        return out

    def print_summary(self, file=None) -> None:
        print(self.summary_text(), file=file)
        cols = ["metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
                "ci_high", "p_value"]
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(self.effects[cols].to_string(index=False, float_format=lambda v: _fmt(v)),
                  file=file)
            print(self.checks[["check", "status", "detail"]].to_string(index=False), file=file)


def _costs(data, cost_per_member, reward_rate, fixed_cost):
    p = getattr(data, "params", None) or {}
    return (float(p.get("cost_per_member", 0.0)) if cost_per_member is None else cost_per_member,
            float(p.get("reward_rate", 0.0)) if reward_rate is None else reward_rate,
            float(p.get("fixed_cost", 0.0)) if fixed_cost is None else fixed_cost)


def _add_param_var(row: dict, extra_var: float, alpha: float) -> dict:
    se = float(np.sqrt(row["se"] ** 2 + extra_var))
    row["ci_low"], row["ci_high"], row["p_value"] = z_interval(row["abs_diff"], se, alpha)
    scale = se / row["se"] if row["se"] > 0 else 1.0
    for k in ("rel_ci_low", "rel_ci_high"):  # widen the relative interval alike (log scale)
        rel = np.log1p(row["rel_lift"])
        row[k] = np.expm1(rel + (np.log1p(row[k]) - rel) * scale)
    row["se"] = se
    return row


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
        rep = _randomized(data, out, X, alpha, clv, survival, n_draws, seed)
    else:
        rep = _self_selected(data, out, X, alpha, clv, survival, n_draws, seed, trim,
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
    member_rows = effects.loc[effects["estimand"] == "effect on members"]
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


def _members_note(n_members_not_eligible: int) -> dict:
    status = "pass" if n_members_not_eligible == 0 else "warn"
    return dict(check="members enrolled at a purchase after launch", status=status,
                value=float(n_members_not_eligible),
                detail=f"{n_members_not_eligible:,} members have no purchase on or after the "
                       "launch; the comparison assumes enrolment happens at a purchase")


def _randomized(data, out, X, alpha, clv, survival, n_draws, seed):
    if "arm_treated" not in out.columns:
        raise DataError("customers: missing required column(s) 'arm'; rule 'required columns "
                        "present' (design='randomized' needs the arm of each customer)",
                        table="customers", column="arm", rule="required columns present",
                        n_rows=len(out))
    z = out["arm_treated"].to_numpy() == 1
    checks = [srm_check(z, float((data.params or {}).get("invite_share", 0.5)))]
    bal = balance_table(X, z)
    checks.append(balance_check(bal, name="covariate balance (invited vs control)"))
    rows, tu = itt_and_members(out, CORE, covariates=X, alpha=alpha)
    raw, _ = itt_and_members(out, CORE, adjust=False, alpha=alpha)
    ratio = dict(zip(rows.loc[rows.estimand == "ITT", "metric"],
                     rows.loc[rows.estimand == "ITT", "se"].to_numpy() /
                     raw.loc[raw.estimand == "ITT", "se"].to_numpy()))
    effects = [rows]
    control_members = int(out.loc[~z, "enrolled"].sum())
    checks.append(dict(check="control arm not enrolled", status="pass" if control_members == 0
                       else "warn", value=float(control_members),
                       detail=f"{control_members:,} control customers enrolled (the Wald "
                              "estimator handles two-sided non-compliance; check for leakage)"))
    take = tu["take_up"]
    if not take > 0:   # no enrolment data (or nobody joined): the ITT still stands
        effects = [rows.loc[rows["estimand"] == "ITT"]]
        checks.append(dict(check="take-up", status="warn", value=0.0,
                           detail="no invited customer has an enrolled_at date: only the effect "
                                  "of the invitation (ITT) is estimated"))
        take = float("nan")
    z95 = 1.959963984540054
    take_up = dict(take_up=take, se=tu["se"], ci=(take - z95 * tu["se"], take + z95 * tu["se"]),
                   n_invited=int(z.sum()), n_control=int((~z).sum()),
                   n_members=int(out["enrolled"].sum()))
    effects.append(pd.DataFrame([nb_rate_ratio(out["orders"], out["exposure_days"], z,
                                               alpha=alpha)]))
    for metric, col in (("nps", "nps_score"), ("csat", "csat_score")):
        sub = out[col].notna().to_numpy()
        if sub.sum() > 20 and z[sub].any() and (~z[sub]).any():
            res = itt_and_members(out.loc[sub], (metric,), covariates=X.loc[sub],
                                  alpha=alpha)[0]
            effects.append(res if take > 0 else res.loc[res["estimand"] == "ITT"])
    if sub.sum():
        n_t, n_s = z[sub].sum(), sub.sum()
        share_t, share_c = n_t / z.sum(), (n_s - n_t) / (~z).sum()
        diff = share_t - share_c
        se = np.sqrt(share_t * (1 - share_t) / z.sum() + share_c * (1 - share_c) / (~z).sum())
        p = z_interval(diff, se)[2]
        checks.append(dict(check="survey response balanced by arm",
                           status="pass" if p >= 0.01 else "warn", value=float(p),
                           detail=f"surveyed {share_t:.1%} of invited vs {share_c:.1%} of control "
                                  f"(p = {p:.3g}); NPS/CSAT differences assume response does not "
                                  "depend on the arm"))
    curves = {}
    if survival:
        curves = _km(out, {"invited": z, "control": ~z})
        hr, ph = _cox(out, z, None, alpha, "ITT")
        if hr is not None:
            effects.append(pd.DataFrame([hr]))
            checks.append(ph)
    if clv:
        effects.append(_clv_rows(data, out, {"treatment": z, "control": ~z}, alpha, n_draws,
                                 seed, lambda o: itt_and_members(o, ("clv",), covariates=X,
                                                                 alpha=alpha)[0],
                                 {"ITT": 1.0, "effect on members": 1 / take ** 2}, checks,
                                 members=take > 0))
    power = mde_table(out, z, ~z, columns={"purchases": "orders", "spend": "spend",
                                           "retention": "retained"}, alpha=alpha,
                      variance_ratio=ratio, take_up=take if take > 0 else None)

    def seg_est(mask, metrics):
        Xs = X.loc[mask]
        Xs = Xs.loc[:, Xs.std(ddof=0) > 0]
        res = itt_and_members(out.loc[mask], metrics, covariates=Xs, alpha=alpha)[0]
        return res if take > 0 else res.loc[res["estimand"] == "ITT"]
    return (pd.concat(effects, ignore_index=True), checks,
            dict(balance=bal, power=power, curves=curves, take_up=take_up,
                 segment_estimator=seg_est, notes=[f"CUPED SE ratio {k}: {v:.3f}"
                                                   for k, v in ratio.items()]))


def _self_selected(data, out, X, alpha, clv, survival, n_draws, seed, trim, sensitivity=True):
    D = out["enrolled"].to_numpy() == 1
    elig = out["eligible"].to_numpy() == 1
    if D.sum() == 0:
        raise DataError("customers: no customer enrolled; rule 'some enrolled_at not null' "
                        "(the self-selected design compares members with non-members)",
                        table="customers", column="enrolled_at",
                        rule="some enrolled_at not null", n_rows=0)
    checks = [_members_note(int((D & ~elig).sum()))]
    ps = fit_propensity(out, X, trim=trim)
    ov = ps.overlap()
    status = "pass" if ov["n_trimmed"] <= 0.05 * ov["n_eligible"] and \
        ov["max_weight_share"] < 0.05 else "warn"
    checks.append(dict(check="propensity overlap", status=status, value=ov["ess_non_members"],
                       detail=f"scores: members {ov['min_member']:.3f}–{ov['max_member']:.3f}, "
                              f"non-members {ov['min_non_member']:.3f}–"
                              f"{ov['max_non_member']:.3f}; {ov['n_trimmed']:,} trimmed (score > "
                              f"{1 - trim:.2f}); effective non-member sample "
                              f"{ov['ess_non_members']:,.0f} of {ov['n_non_members']:,}; largest "
                              f"weight share {ov['max_weight_share']:.2%}"))
    bal = propensity_balance(out, ps, X)
    checks.append(balance_check(bal, "smd", name="balance before weighting (members vs "
                                "eligible non-members)") | {"status": "pass"} |
                  {"detail": balance_check(bal, "smd")["detail"] + " — imbalance before "
                   "weighting is expected; it is what the weighting corrects"})
    checks.append(balance_check(bal, "smd_weighted", name="balance after weighting"))
    effects = [att_effects(out, ps, CORE, alpha=alpha)]
    naive = [naive_effects(out, CORE, alpha=alpha)]
    did = did_effect(out, ps, alpha=alpha)
    gap = did.pop("pre_members") - did.pop("pre_non_members")
    effects.append(pd.DataFrame([did]))
    w = ps.weights()
    effects.append(pd.DataFrame([nb_rate_ratio(out["orders"], out["exposure_days"], D, w,
                                               alpha=alpha, estimand="effect on members "
                                               "(rate ratio)")]))
    for metric, col in (("nps", "nps_score"), ("csat", "csat_score")):
        sub = out[col].notna().to_numpy()
        if (sub & ps.kept_ & D).sum() > 10 and (sub & ps.kept_ & ~D).sum() > 10:
            effects.append(att_effects(out, ps, (metric,), alpha=alpha, subset=sub))
            naive.append(naive_effects(out, (metric,), alpha=alpha, subset=sub))
    curves = {}
    if survival:
        curves = _km(out, {"members": D & ps.kept_, "non-members (weighted)": ~D & ps.kept_}, w)
        hr, ph = _cox(out, D, w, alpha, "effect on members (IPW Cox)")
        if hr is not None:
            effects.append(pd.DataFrame([hr]))
            checks.append(ph)
        try:
            from .survival_effects import enrolment_hazard_ratio
            tv, nv = enrolment_hazard_ratio(data, out, alpha=alpha)
            effects.append(pd.DataFrame([tv]))
            naive.append(pd.DataFrame([nv]))
        except Exception as exc:  # the survival module is optional here: report, do not fail
            checks.append(dict(check="time-varying Cox (enrolment)", status="warn", value=np.nan,
                               detail=f"not computed: {type(exc).__name__}: {exc}"))
    clv_values = {}
    if clv:
        effects.append(_clv_rows(data, out, {"members": D, "non-members": ~D & elig}, alpha,
                                 n_draws,
                                 seed, lambda o: att_effects(o, ps, ("clv",), alpha=alpha),
                                 {"effect on members": 1.0}, checks, store=clv_values))
    effects = pd.concat(effects, ignore_index=True)
    bench = cond = sens = None
    if sensitivity:
        bench = covariate_benchmarks(out, ps, extra_outcomes=clv_values)
        cond = conditional_benchmarks(
            out, ps, effects, X, extra_outcomes=clv_values, crude=bench,
            refit=lambda p: member_effects(out, p, extra_outcomes=clv_values, alpha=alpha))
        sens = sensitivity_table(effects, out, ps, extra_outcomes=clv_values, benchmarks=bench,
                                 conditional=cond)
    power = mde_table(out, D & ps.kept_, ~D & ps.kept_,
                      columns={"purchases": "orders", "spend": "spend", "retention": "retained"},
                      alpha=alpha, n_control_effective=ov["ess_non_members"])

    def seg_est(mask, metrics):
        return att_effects(out, ps, metrics, alpha=alpha, subset=mask)
    take_up = dict(take_up=float(D[elig].mean()), n_members=int(D.sum()),
                   n_customers=len(out), n_eligible=int(elig.sum()),
                   n_eligible_non_members=int((elig & ~D).sum()), pre_rate_gap_weighted=gap)
    return (effects, checks,
            dict(balance=bal, power=power, curves=curves, take_up=take_up, propensity=ps,
                 naive=pd.concat(naive, ignore_index=True), segment_estimator=seg_est,
                 sensitivity=sens, confounder_benchmarks=bench, conditional_benchmarks=cond))


def _km(out, groups, weights=None):
    from .survival_effects import km_curves
    return km_curves(out, groups, weights)


def _cox(out, treated, weights, alpha, estimand):
    from .survival_effects import cox_hazard_ratio
    try:
        return cox_hazard_ratio(out, treated, weights, alpha=alpha, estimand=estimand)
    except Exception as exc:  # convergence trouble must not sink the report
        warnings.warn(f"Cox model failed: {exc}")
        return None, None


def _clv_rows(data, out, groups, alpha, n_draws, seed, estimator, scale, checks,
              members: bool = True, store: dict | None = None):
    try:
        values, info = predicted_clv(data, out, groups, n_draws=n_draws, seed=seed)
    except Exception as exc:
        checks.append(dict(check="CLV models (BG/NBD + Gamma-Gamma)", status="warn",
                           value=np.nan, detail=f"not fitted: {type(exc).__name__}: {exc}"))
        return pd.DataFrame()
    o = out.copy()
    o["clv"] = values
    if store is not None:   # per-customer CLV, for the sensitivity analysis
        store["clv"] = np.asarray(values, float)
    rows = estimator(o)
    if not members:
        rows = rows.loc[rows["estimand"] == "ITT"]
    pv = sum(v["param_var"] for v in info.values())
    out_rows = []
    for _, r in rows.iterrows():
        r = _add_param_var(r.to_dict(), pv * scale.get(r["estimand"], 1.0), alpha)
        r["method"] = ("BG/NBD + Gamma-Gamma fitted per group, expected discounted spend over "
                       "12 months after the observation end; interval: customer sampling + "
                       f"delta method on the models' parameters; " + r["method"])
        out_rows.append(r)
    checks.append(dict(check="CLV models (BG/NBD + Gamma-Gamma)", status="pass",
                       value=float(len(info)),
                       detail="; ".join(f"{k}: mean CLV {_fmt(v['mean'])} (n = {v['n']:,})"
                                        for k, v in info.items()) +
                       " — BTYD models assume stationary behaviour, so a change at enrolment is "
                       "only partly reflected"))
    return pd.DataFrame(out_rows)


def _assumptions(design: str, s: dict) -> list:
    h = s["horizon"]
    common = [
        f"Outcomes are measured in the {h} days from the launch ({s['launch'].date()}); "
        f"retention = bought again after day {h}, up to the observation end "
        f"({s['observation_end'].date()}).",
        f"Every interval is a {1 - s['alpha']:.0%} interval; p-values are two-sided.",
        "ROI counts rewards (a share of members' spend), a cost per enrolment and fixed costs "
        "within the horizon, against the margin on incremental spend; it ignores effects beyond "
        "the horizon (see CLV).",
        "CLV comes from BG/NBD + Gamma-Gamma models fitted to each group's whole history; these "
        "assume stationary behaviour, so they understate a change that began at enrolment.",
    ]
    if design == "randomized":
        return [
            "Estimand 1 — intention to treat (ITT): the effect of inviting a customer, "
            "averaged over everyone invited, whether they joined or not. It rests only on the "
            "randomization (checked: sample ratio and covariate balance).",
            "Estimand 2 — effect on members: the effect of the programme on customers who join "
            "when invited (compliers), by the Wald/IV estimator ITT ÷ take-up. It assumes the "
            "invitation changes behaviour only through joining (exclusion restriction) and "
            "that nobody joins only because they were not invited (monotonicity).",
            "CUPED: each effect is adjusted for pre-launch orders, spend, tenure, recency and "
            "customer attributes; this narrows intervals without changing what is estimated.",
            "The hazard ratio is an average over time; when the proportional-hazards check "
            "fails, rely on retention at the horizon and RMST.",
        ] + common
    return [
        "Estimand — effect on members (ATT): how members' behaviour differs from what the same "
        "members would have done without the programme.",
        "Members chose to join, so they are compared only with customers who also bought after "
        "the launch (who had the same chance to join — this removes the immortal-time bias of "
        "counting members' guaranteed pre-enrolment activity), weighted by inverse-probability "
        "(propensity) weights built from pre-launch behaviour and customer attributes, plus a "
        "regression on the same attributes that mops up remaining differences (doubly robust: "
        "right if either the propensity or the outcome model is right).",
        "This rests on three assumptions that the data cannot fully prove: no unmeasured "
        "confounding (given pre-launch behaviour and attributes, who joined is as good as "
        "random), overlap (every kind of member has comparable non-members — checked, extreme "
        "scores trimmed) and a correct propensity model (checked with the weighted balance "
        "table).",
        "The time-varying Cox model counts a member's time before enrolment as non-member time, "
        "which removes immortal-time bias from the hazard ratio; it does not remove "
        "self-selection on unmeasured traits.",
        "Difference-in-differences compares the change from pre-launch purchase rates; it "
        "assumes weighted members and non-members would have changed alike without the "
        "programme (parallel trends).",
        "The naive members-vs-non-members comparison is shown only to show its bias.",
        "Sensitivity to unmeasured confounding: the E-value of each effect on members is the "
        "risk-ratio association an unmeasured trait would need with both joining and the outcome, "
        "beyond the measured covariates, to explain the effect away (VanderWeele & Ding 2017); it "
        "is set beside the strongest measured covariate's associations given the other "
        "covariates, and the shift of the estimate when that covariate is left out "
        "(benchmarking as in Cinelli & Hazlett 2020). It bounds the worst case; it does not "
        "estimate the bias, and benchmarks cannot show that no stronger confounder is missing.",
    ] + common
