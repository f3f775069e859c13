"""The impact report: :class:`ImpactReport` (effects, checks and the diagnostics the figures
show) and everything that turns it into sentences — the executive summary, the ROI verdict, the
sensitivity paragraph, the checks table, the method notes. No estimation happens here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .sensitivity import BENCHMARK_CAVEAT, format_estimate

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


#: metrics reported in points, with the factor from the stored value (a share, or NPS already
#: on its −100…100 scale)
POINTS = {"retention": 100.0, "csat": 100.0, "nps": 1.0}


def _pts(x, factor: float, digits: int = 3, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    v = float(x) * factor
    return f"{v:+.1f}" if sign else f"{v:.1f}"


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
    analysis: str = ""
    event_study: object = None
    rolling: object = None

    @property
    def identified(self) -> bool:
        """False when a check that decides identification failed (history before enrolment,
        overlap, enrolment timing of a launch design): the report then makes no causal claim."""
        return bool(self.settings.get("identified", True))

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

    def headline_family(self) -> pd.DataFrame:
        """The headline effects (purchases, spend, retention × the report's estimands) with
        Holm-adjusted p-values across that family (Holm 1979): the summary says "raised" or
        "lowered" only where the adjusted p-value is below ``alpha``."""
        from statsmodels.stats.multitest import multipletests
        h = self.headline().copy()
        h["p_holm"] = np.nan
        ok = h["p_value"].notna()
        if ok.any():
            h.loc[ok, "p_holm"] = multipletests(h.loc[ok, "p_value"], method="holm")[1]
        return h

    def summary_text(self) -> str:
        """Plain sentences for an executive summary: the design, the headline effects with
        intervals (shares and NPS in points, counts and money as relative lifts) and which of
        them survive a Holm correction across the headline family, the ROI verdict and any
        failed check. When identification fails the summary makes no causal claim."""
        s = self.settings
        h = s.get("horizon", 365)
        alpha = s.get("alpha", 0.05)
        rolling = self.analysis == "rolling"
        anchor = "after enrolment" if rolling else "after launch"
        lines = []
        tu = self.take_up
        if self.design == "randomized":
            lines.append(f"Randomized study: {tu.get('n_invited', 0):,} customers invited, "
                         f"{tu.get('n_control', 0):,} in control; {_pct(tu.get('take_up'))[1:]} of "
                         f"the invited joined (95 % CI {_pct(tu.get('ci', (np.nan,) * 2)[0])[1:]} "
                         f"to {_pct(tu.get('ci', (np.nan,) * 2)[1])[1:]}).")
            groups = (("ITT", "Inviting customers"), ("effect on members",
                                                       "For customers who joined, the programme"))
        elif rolling:
            ri = s.get("rolling", {})
            lines.append(
                f"Self-selected study, rolling enrolment: {tu.get('n_members_analysed', 0):,} of "
                f"{tu.get('n_members', 0):,} members are analysed at their own enrolment date "
                f"(the others enrolled too late for a complete {h}-day window), each against "
                f"customers not yet enrolled who bought in the same month, with the purchase "
                f"history both had at that moment ({ri.get('n_trials', 0)} monthly trials, "
                f"{tu.get('n_comparison_customers', 0):,} comparison customers; doubly robust "
                "adjustment; comparison customers who enrolled later are followed until their "
                "enrolment and completed with their expected untreated purchases).")
            groups = (("effect on members", "For members, the programme"),)
        else:
            lines.append(f"Self-selected study, one launch date: {tu.get('n_members', 0):,} "
                         f"members among {tu.get('n_customers', 0):,} customers; members are "
                         f"compared with {tu.get('n_eligible_non_members', 0):,} non-members who "
                         "also bought after the launch, weighted to resemble them "
                         "(inverse-probability weighting with a regression adjustment: doubly "
                         "robust).")
            groups = (("effect on members", "For members, the programme"),)
        identified = self.identified
        if not identified:
            why = "; ".join(s.get("not_identified_because", []))
            lines.append(
                f"NOT IDENTIFIED — the effect of the programme is not identified by these data "
                f"(failed: {why}): they cannot separate who chose to join from what joining "
                "did. The differences below describe how members differed from comparable "
                "customers; they are not a measured effect of the programme. To measure it, "
                "run a randomized holdout: keep a random share of eligible customers out of the "
                "programme (or invite a random half) and compare them.")
        fam = self.headline_family()
        for est, who in groups:
            for metric in PRIMARY:
                row = fam.loc[(fam["metric"] == metric) & (fam["estimand"] == est)]
                if row.empty:
                    continue
                r = row.iloc[0]
                if metric == "retention":
                    lvl = f"{r['control']:.1%} to {r['treatment']:.1%}"
                    diff = (f"{100 * r['abs_diff']:+.1f} points, 95 % CI "
                            f"{100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}")
                else:
                    lvl = f"{_fmt(r['control'])} to {_fmt(r['treatment'])}"
                    diff = (f"{_pct(r['rel_lift'])}, 95 % CI {_pct(r['rel_ci_low'])} to "
                            f"{_pct(r['rel_ci_high'])}")
                what = {"purchases": f"purchases per customer in the {h} days {anchor}",
                        "spend": f"spend per customer in the {h} days {anchor}",
                        "retention": f"the share still buying after {h} days"}[metric]
                p_txt = f"p = {_fmt(r['p_value'], 2)}, Holm-adjusted {_fmt(r['p_holm'], 2)}"
                if not identified:
                    lines.append(f"Members vs comparison customers, {what}: {lvl} ({diff}; "
                                 f"{p_txt}) — an association, not an effect.")
                    continue
                if r["p_holm"] < alpha:
                    verb = "raised" if r["abs_diff"] > 0 else "lowered"
                elif r["p_value"] < alpha:
                    verb = ("may have " + ("raised" if r["abs_diff"] > 0 else "lowered") +
                            " (not significant after correcting for the "
                            f"{len(fam)} headline tests)")
                else:
                    verb = "did not clearly change"
                lines.append(f"{who} {verb} {what}: {lvl} ({diff}; {p_txt}).")
        if self.analysis == "launch" and len(self.naive):
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
        lines.append(self.roi_verdict() if identified else
                     "ROI not assessed: it needs an identified effect on spend.")
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
            if line.startswith(("FAILED CHECK", "NOT IDENTIFIED")):
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
        and output checks: metric, estimand, control, treatment, difference, interval, lift.
        Shares (retention, CSAT) and NPS are differences in points (percentage points; NPS
        points on its −100…100 scale) and get no relative lift — a relative change of a share
        or of a score that can be negative misleads."""
        rows = []
        for _, r in self.effects.iterrows():
            if r["metric"] not in PRIMARY + ("aov", "rmst", "clv", "nps", "csat") or \
                    r["estimand"] not in ("ITT", "effect on members"):
                continue
            if r["metric"] in POINTS:
                k = POINTS[r["metric"]]
                rows.append(dict(metric=r["metric"], estimand=r["estimand"],
                                 control=_pts(r["control"], k, digits),
                                 treatment=_pts(r["treatment"], k, digits),
                                 difference=_pts(r["abs_diff"], k, digits, sign=True) + " pts",
                                 ci=f"[{_pts(r['ci_low'], k, digits, sign=True)}, "
                                    f"{_pts(r['ci_high'], k, digits, sign=True)}] pts",
                                 rel_lift="—"))
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
