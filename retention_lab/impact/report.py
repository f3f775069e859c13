"""The impact report: :class:`ImpactReport` (effects, checks and the diagnostics the figures
show) and everything that turns it into sentences — the executive summary, the ROI verdict, the
sensitivity paragraph, the checks table, the method notes. No estimation happens here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import formatting as fmt
from .. import ids
from ..report.tables import kind_of_metric
from ..report.recording import metric_key
from .core.sensitivity import BENCHMARK_CAVEAT

EFFECT_COLUMNS = ["metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
                  "ci_high", "p_value", "method", "n", "se", "rel_ci_low", "rel_ci_high"]
LABELS = {"purchases": "purchases per customer", "spend": "spend per customer",
          "aov": "average order value", "retention": "retention",
          "rmst": "restricted mean active days", "purchase rate": "purchase rate",
          "lapse hazard ratio": "lapse hazard ratio", "clv": "12-month CLV",
          "nps": "NPS", "csat": "CSAT (share 4–5)"}
PRIMARY = ("purchases", "spend", "retention")
#: units of the effect rows in ``metrics.json`` (an effect is in its metric's unit; the word
#: ``currency`` becomes the report's currency, :func:`retention_lab.report.recording.record`)
UNITS = {"purchases": "purchases per customer", "spend": "currency per customer",
         "aov": "currency per order", "retention": "proportion", "rmst": "days",
         "purchase rate": "rate ratio", "lapse hazard ratio": "hazard ratio",
         "clv": "currency per customer", "nps": "NPS points", "csat": "proportion"}
#: rows whose effect is a ratio: recorded as the ratio (the column holding it), not ratio − 1
RATIO_METRICS = {"lapse hazard ratio": "hazard_ratio", "purchase rate": "rate_ratio"}


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


def _float(x):
    return None if fmt.is_missing(x) else float(x)


def _join(items, conj: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conj} " + items[-1]


def _currency(currency: str | None) -> str | None:
    """``currency`` if given (``""`` for none), else the report's (:func:`reporting.set_currency`)."""
    if currency is not None:
        return currency or None
    from ..report.recording import get_currency
    return get_currency()


def _ci(lo, hi, kind: str, currency: str | None = None, signed: bool = True) -> str:
    return f"95 % CI {fmt.interval(lo, hi, kind, currency=currency, signed=signed)}"


def estimate_text(scale: str, metric: str, est, currency: str | None = None) -> str:
    """A sensitivity estimate as the sentences quote it: rate and risk ratios as a relative
    change (``+11.9%``), hazard ratios as such, differences in the metric's units."""
    if fmt.is_missing(est):
        return fmt.MISSING
    if scale == "hazard ratio":
        return f"a hazard ratio of {fmt.ratio(est)}"
    if scale in ("rate ratio", "risk ratio", "odds ratio"):
        return fmt.lift(float(est) - 1)
    return fmt.value(est, kind_of_metric(metric), currency=currency, signed=True)


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
    (:func:`retention_lab.impact.core.sensitivity.conditional_benchmarks`); ``confounder_benchmarks``
    the crude strength of every measured covariate
    (:func:`retention_lab.impact.core.sensitivity.covariate_benchmarks`)."""

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
    verdict: dict = field(default_factory=dict)
    holdout: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.verdict:   # a report built by hand: decide from its ids now
            _ = self.claim

    @property
    def identified(self) -> bool:
        """False when a check that decides identification failed (history before enrolment,
        overlap, enrolment timing of a launch design): the report then makes no causal claim."""
        if self.verdict:
            return self.verdict.get("claim") != ids.CLAIM_NOT_IDENTIFIED
        return bool(self.settings.get("identified", True))

    @property
    def claim(self) -> str:
        """The verdict's claim id (:data:`retention_lab.ids.CLAIMS`); decided in estimation
        (:func:`retention_lab.impact.verdict.decide`), recomputed only for a report built
        without one."""
        if not self.verdict:
            from .verdict import decide
            self.verdict = decide(self.effects, self.checks, self.design,
                                  sensitivity=self.sensitivity,
                                  alpha=self.settings.get("alpha", 0.05))
        return self.verdict["claim"]

    @property
    def suggestive(self) -> bool:
        return self.claim == ids.CLAIM_SUGGESTIVE

    @property
    def member_estimand(self) -> str:
        return ids.MEMBERS

    def headline(self) -> pd.DataFrame:
        """The primary rows: purchases, spend, retention (ITT and/or effect on members)."""
        e = self.effects
        keep = e["metric"].isin(PRIMARY) & e["estimand"].isin([ids.ITT, ids.MEMBERS])
        return e.loc[keep].reset_index(drop=True)

    def effect(self, metric: str, estimand: str | None = None) -> pd.Series:
        est = estimand or (ids.ITT if self.design == "randomized" else ids.MEMBERS)
        rows = self.effects.loc[(self.effects["metric"] == metric) &
                                (self.effects["estimand"] == est)]
        if rows.empty:
            raise KeyError(f"no effect row for metric {metric!r}, estimand {est!r}")
        return rows.iloc[0]

    def check_labels(self, check_ids) -> list[str]:
        """The display labels of the checks with these ids (the id itself when unknown)."""
        c = self.checks
        labels = dict(zip(c["id"], c["check"])) if "id" in c.columns else {}
        return [str(labels.get(i, i)) for i in check_ids]

    def failed_checks(self) -> pd.DataFrame:
        return self.checks.loc[self.checks["status"] == "fail"]

    def roi_verdict(self, currency: str | None = None) -> str:
        """Whether the programme paid for itself within the horizon: ROI with its interval, the
        incremental margin and the programme costs in ``currency`` (default: the report's,
        :func:`retention_lab.report.recording.set_currency`)."""
        currency = _currency(currency)
        r = self.roi
        if not r or fmt.is_missing(r.get("roi")):
            return "ROI could not be computed (no programme costs known)."
        lo, hi = r["roi_ci"]
        head = (f"ROI {fmt.lift(r['roi'])} ({_ci(lo, hi, 'lift')}): incremental margin "
                f"{fmt.money(r['incremental_margin'], currency)} against costs "
                f"{fmt.money(r['programme_cost'], currency)}")
        if lo > 0:
            return f"The programme paid for itself within the horizon. {head}."
        if hi < 0:
            return f"The programme did not pay for itself within the horizon. {head}."
        return f"Whether the programme paid for itself is not settled by these data. {head}."

    def headline_family(self) -> pd.DataFrame:
        """The headline effects (purchases, spend, retention × the report's estimands) with
        Holm-adjusted p-values across that family (Holm 1979): the summary says "raised" or
        "lowered" only where the adjusted p-value is below ``alpha``."""
        from .verdict import headline_family
        return headline_family(self.effects, self.design)

    def _groups(self) -> tuple:
        """(estimand, subject of the sentence) of the headline sentences."""
        if self.design == "randomized":
            return (("ITT", "Inviting customers"),
                    ("effect on members", "For customers who joined, the programme"))
        return (("effect on members", "For members, the programme"),)

    @staticmethod
    def _effect_words(r, currency: str | None) -> tuple[str, str]:
        """(levels "a to b", difference with its interval) of a headline row: retention in
        points, purchases and spend as relative lifts."""
        if r["metric"] == "retention":
            return (f"{fmt.share(r['control'])} to {fmt.share(r['treatment'])}",
                    f"{fmt.points(r['abs_diff'], scale=100)}, "
                    f"{_ci(r['ci_low'], r['ci_high'], 'share')}")
        kind = "money" if r["metric"] == "spend" else "number"
        return (f"{fmt.value(r['control'], kind, currency=currency)} to "
                f"{fmt.value(r['treatment'], kind, currency=currency)}",
                f"{fmt.lift(r['rel_lift'])}, {_ci(r['rel_ci_low'], r['rel_ci_high'], 'lift')}")

    def summary_sentence(self, currency: str | None = None) -> str:
        """One sentence answering "did the programme work?" for the verdict card: the headline
        effects (purchases, spend, retention) of the design's estimand (ITT in a randomized
        study, the effect on members otherwise) that survive a Holm correction across the
        headline family, with their intervals. When identification fails it makes no causal
        claim and recommends a randomized holdout."""
        currency = _currency(currency)
        if self.claim == ids.CLAIM_NOT_IDENTIFIED:
            why = "; ".join(self.check_labels(self.verdict.get("reasons", [])))
            return ("Not identified: these data cannot tell whether the programme worked, because "
                    "they cannot separate who chose to join from what joining did"
                    + (f" (failed: {why})" if why else "") +
                    " — run a randomized holdout to measure it.")
        if self.claim == ids.CLAIM_SUGGESTIVE:
            return self.measured_sentence()
        alpha = self.settings.get("alpha", 0.05)
        est, _ = self._groups()[0]
        fam = self.headline_family()
        rows = fam.loc[fam["estimand"] == est]
        if rows.empty:
            return "No headline effect (purchases, spend, retention) could be estimated."
        names = {"purchases": "purchases per customer", "spend": "spend per customer",
                 "retention": "retention"}
        up, down, unclear = [], [], []
        for _, r in rows.iterrows():
            diff = self._effect_words(r, currency)[1].split(", 95 % CI ")[0]
            text = f"{names[r['metric']]} ({diff})"
            if np.isfinite(r["p_holm"]) and r["p_holm"] < alpha:
                (up if r["abs_diff"] > 0 else down).append(text)
            else:
                unclear.append(names[r["metric"]])
        who = "inviting customers" if est == "ITT" else "the programme"
        n_sig = len(up) + len(down)
        tail = (f" — {'each ' if n_sig > 1 else ''}significant after a Holm correction across "
                f"the {len(fam)} headline tests")
        if not up and not down:
            if self.design != "randomized":
                return (f"Not clearly: members did not differ significantly from comparable "
                        f"non-members in {_join([names[m] for m in rows['metric']], 'or')} "
                        f"after a Holm correction across the {len(fam)} headline tests.")
            return (f"Not clearly: {who} did not significantly change "
                    f"{_join([names[m] for m in rows['metric']], 'or')} after a Holm correction "
                    f"across the {len(fam)} headline tests.")
        parts = []
        if up:
            parts.append(f"raised {_join(up)}")
        if down:
            parts.append(f"lowered {_join(down)}")
        answer = "Yes" if up and not down else ("No" if down and not up else "Mixed")
        rest = f"; {_join(unclear)} did not clearly change" if unclear else ""
        subject = "inviting customers" if est == "ITT" else "for members, the programme"
        robust = ""
        if self.verdict.get("evidence") == ids.EVIDENCE_OBSERVATIONAL:
            robust = ("; observational evidence that survives an unmeasured trait as strong as "
                      "the strongest measured covariate (see the sensitivity section)")
        return f"{answer}: {subject} {' but '.join(parts)}{tail}{rest}{robust}."

    #: what members did, per metric, for the suggestive verdict (no causal verb)
    _MEASURED = {"purchases": ("bought {x} more", "bought {x} less"),
                 "spend": ("spent {x} more", "spent {x} less"),
                 "retention": ("had a retention {x} higher", "had a retention {x} lower")}

    def measured_sentence(self) -> str:
        """The suggestive verdict's sentence: what was measured — members against comparable
        non-members, the Holm-significant headline differences — with no causal verb."""
        alpha = self.settings.get("alpha", 0.05)
        fam = self.headline_family()
        rows = fam.loc[fam["estimand"] == ids.MEMBERS]
        said, unclear = [], []
        names = {"purchases": "purchases", "spend": "spend", "retention": "retention"}
        for _, r in rows.iterrows():
            m = r["metric"]
            if not (np.isfinite(r["p_holm"]) and r["p_holm"] < alpha):
                unclear.append(names[m])
                continue
            if m == "retention":
                x = fmt.points(abs(r["abs_diff"]), scale=100, signed=False)
            else:
                x = fmt.share(abs(r["rel_lift"]))
            said.append(self._MEASURED[m][0 if r["abs_diff"] > 0 else 1].format(x=x))
        rest = f"; {_join(unclear)} did not clearly differ" if unclear else ""
        return (f"Suggestive, not proven: members {_join(said)} than comparable non-members "
                f"(each significant after a Holm correction{rest}) — members chose to join, so "
                "this measures a difference, not what the programme did.")

    def fragility_sentence(self) -> str:
        """One sentence: how strong an unmeasured difference between members and non-members
        would have to be to explain the headline away, against the strongest measured covariate
        (``verdict["robustness"]``)."""
        rob = self.verdict.get("robustness") or {}
        alpha = self.settings.get("alpha", 0.05)
        fam = self.headline_family()
        sig = [r["metric"] for _, r in fam.iterrows() if r["estimand"] == ids.MEMBERS and
               np.isfinite(r["p_holm"]) and r["p_holm"] < alpha]
        fragile = [m for m in sig if (rob.get(m) or {}).get("survives") is False]
        if not fragile:
            return ("Whether an unmeasured difference between members and non-members explains "
                    "this could not be assessed: no measured covariate could serve as a "
                    "benchmark.")
        m = fragile[0]
        r = rob[m]
        what = {"purchases": "the purchases difference", "spend": "the spend difference",
                "retention": "the retention difference"}[m]
        others = [x for x in fragile[1:]]
        also = f" (and the {_join(others)} difference{'s' if len(others) > 1 else ''})" \
            if others else ""
        return (f"Fragile: an unmeasured difference between members and non-members as strong "
                f"as {r['benchmark']} could explain {what}{also} away — the end of its interval "
                f"nearest no effect needs an unmeasured trait of strength "
                f"{fmt.ratio(r['evalue_bound'])} (E-value), less than the "
                f"{fmt.ratio(r['benchmark_strength'])} that {r['benchmark']} implies.")

    def holdout_sentence(self, currency: str | None = None) -> str:
        """The randomized holdout (share, weeks) that would settle a suggestive verdict
        (``report.holdout``, :func:`retention_lab.impact.core.power.holdout_plan`)."""
        h = self.holdout
        if not h or fmt.is_missing(h.get("weeks")):
            return ("A randomized holdout would settle it: keep a random share of newly eligible "
                    "customers out of the programme and compare them with the rest.")
        currency = _currency(currency)
        m = h["metric"]
        kind = {"purchases": "number", "spend": "money", "retention": "share"}[m]
        unit = {"purchases": " purchases", "spend": "", "retention": ""}[m]

        def v(x):
            if m == "retention":
                return fmt.points(x, scale=100)
            return fmt.value(x, kind, currency=currency, signed=True) + unit
        long = (" At the current rate that is more than a year of sign-ups: only a larger base "
                "(or a larger effect) would shorten it." if h["weeks"] > 52 else "")
        return (f"A randomized holdout would settle it: keep a random "
                f"{fmt.share(h['share'], decimals=0)} of newly eligible customers out of the "
                f"programme; at about {fmt.count(h['arrivals_per_week'])} new eligible customers "
                f"a week, {fmt.count(h['weeks'])} weeks of sign-ups "
                f"({fmt.count(h['n_total'])} customers, {fmt.count(h['n_holdout'])} held out) "
                f"give {fmt.share(h['power'], decimals=0)} power to detect the difference measured "
                f"here ({v(h['effect_members'])} per member, {v(h['effect_itt'])} per customer "
                f"offered at {fmt.share(h['take_up'], decimals=0)} take-up), each customer "
                f"followed for {h['window_days']} days.{long}")

    def summary_text(self, currency: str | None = None) -> str:
        """Plain sentences for an executive summary: the design, the headline effects with
        intervals (shares in points, purchases and spend as relative lifts, levels in the
        report's ``currency``) and which of them survive a Holm correction across the headline
        family, the sensitivity in one sentence, the ROI verdict and any failed check. When
        identification fails the summary makes no causal claim; a suggestive (observational)
        verdict describes differences, how fragile they are and the holdout that would settle
        them."""
        return "\n".join(text for _, text in self.summary_lines(currency))

    #: kinds of :meth:`summary_lines` shown in red
    ALERT_LINES = ("fail", "not_identified")

    def summary_lines(self, currency: str | None = None) -> list[tuple[str, str]]:
        """``(kind, sentence)`` of the executive summary: kind ``"text"``, ``"not_identified"``,
        ``"suggestive"`` or ``"fail"`` (a failed check) — the display styles by kind, never by
        the wording."""
        currency = _currency(currency)
        kinds = []
        s = self.settings
        h = s.get("horizon", 365)
        alpha = s.get("alpha", 0.05)
        rolling = self.analysis == "rolling"
        anchor = "after enrolment" if rolling else "after launch"
        lines = []
        tu = self.take_up
        if self.design == "randomized":
            ci = tu.get("ci", (np.nan, np.nan))
            lines.append(f"Randomized study: {fmt.count(tu.get('n_invited', 0))} customers invited, "
                         f"{fmt.count(tu.get('n_control', 0))} in control; "
                         f"{fmt.share(tu.get('take_up'))} of the invited joined "
                         f"({_ci(ci[0], ci[1], 'share', signed=False)}).")
            if tu.get("members_not_identified"):   # control customers enrolled: no first stage
                lines.append(f"The effect on members is not estimated — "
                             f"{tu['members_not_identified']}.")
        elif rolling:
            ri = s.get("rolling", {})
            lines.append(
                f"Self-selected study, rolling enrolment: "
                f"{fmt.count(tu.get('n_members_analysed', 0))} of "
                f"{fmt.count(tu.get('n_members', 0))} members are analysed at their own enrolment "
                f"date (the others enrolled too late for a complete {h}-day window), each against "
                f"customers not yet enrolled who bought in the same month, with the purchase "
                f"history both had at that moment ({fmt.count(ri.get('n_trials', 0))} monthly "
                f"trials, {fmt.count(tu.get('n_comparison_customers', 0))} comparison customers; "
                "doubly robust adjustment; comparison customers who enrolled later are followed "
                "until their enrolment and completed with their expected untreated purchases).")
        else:
            lines.append(f"Self-selected study, one launch date: {fmt.count(tu.get('n_members', 0))} "
                         f"members among {fmt.count(tu.get('n_customers', 0))} customers; members "
                         f"are compared with {fmt.count(tu.get('n_eligible_non_members', 0))} "
                         "non-members who also bought after the launch, weighted to resemble them "
                         "(inverse-probability weighting with a regression adjustment: doubly "
                         "robust).")
        identified = self.identified
        suggestive = self.suggestive
        kinds = ["text"] * len(lines)
        if not identified:
            why = "; ".join(self.check_labels(self.verdict.get("reasons", [])))
            kinds.append("not_identified")
            lines.append(
                f"NOT IDENTIFIED — the effect of the programme is not identified by these data "
                f"(failed: {why}): they cannot separate who chose to join from what joining "
                "did. The differences below describe how members differed from comparable "
                "customers; they are not a measured effect of the programme. To measure it, "
                "run a randomized holdout: keep a random share of eligible customers out of the "
                "programme (or invite a random half) and compare them.")
        if suggestive:
            kinds += ["suggestive"] * 3
            lines += [self.measured_sentence(), self.fragility_sentence(),
                      self.holdout_sentence(currency)]
        fam = self.headline_family()
        for est, who in self._groups():
            for metric in PRIMARY:
                row = fam.loc[(fam["metric"] == metric) & (fam["estimand"] == est)]
                if row.empty:
                    continue
                r = row.iloc[0]
                lvl, diff = self._effect_words(r, currency)
                what = {"purchases": f"purchases per customer in the {h} days {anchor}",
                        "spend": f"spend per customer in the {h} days {anchor}",
                        "retention": f"the share still buying after {h} days"}[metric]
                p_txt = f"{fmt.p_text(r['p_value'])}, Holm-adjusted {fmt.p_text(r['p_holm'])}"
                if not identified:
                    kinds.append("text")
                    lines.append(f"Members vs comparison customers, {what}: {lvl} ({diff}; "
                                 f"{p_txt}) — an association, not an effect.")
                    continue
                if suggestive:
                    kinds.append("text")
                    lines.append(f"Members vs comparable non-members, {what}: {lvl} ({diff}; "
                                 f"{p_txt}) — a measured difference, not a proven effect.")
                    continue
                if r["p_holm"] < alpha:
                    verb = "raised" if r["abs_diff"] > 0 else "lowered"
                elif r["p_value"] < alpha:
                    verb = ("may have " + ("raised" if r["abs_diff"] > 0 else "lowered") +
                            " (not significant after correcting for the "
                            f"{len(fam)} headline tests)")
                else:
                    verb = "did not clearly change"
                kinds.append("text")
                lines.append(f"{who} {verb} {what}: {lvl} ({diff}; {p_txt}).")
        if self.analysis == "launch" and len(self.naive):
            nv = self.naive.loc[self.naive["metric"] == "purchases"]
            if len(nv):
                corr = self.effect("purchases", "effect on members")["abs_diff"]
                kinds.append("text")
                lines.append(
                    f"A naive comparison of members with all non-members would have credited the "
                    f"programme with {fmt.number(nv.iloc[0]['abs_diff'])} extra purchases per "
                    f"member instead of {fmt.number(corr)} — members were heavier buyers to "
                    "begin with and had to be active to enrol.")
        if self.design == "self_selected" and identified:
            kinds.append("text")
            lines.append(self.sensitivity_sentence())
        kinds.append("text")
        if not identified:
            lines.append("ROI not assessed: it needs an identified effect on spend.")
        elif suggestive:
            roi = self.roi_verdict(currency)
            lines.append("Only if the spend difference were entirely the programme's doing: "
                         + roi[:1].lower() + roi[1:])
        else:
            lines.append(self.roi_verdict(currency))
        for _, c in self.failed_checks().iterrows():
            kinds.append("fail")
            lines.append(f"FAILED CHECK — {c['check']}: {c['detail']}")
        return list(zip(kinds, lines))

    def sensitivity_sentence(self) -> str:
        """The executive summary's one sentence on unmeasured confounding: the E-values of the
        primary effects on members, pointing to the sensitivity section for the benchmarks."""
        if self.sensitivity is None:
            return self.sensitivity_text()
        sv = self.sensitivity.set_index("metric")
        prim = [m for m in PRIMARY if m in sv.index and not fmt.is_missing(sv.loc[m, "evalue"])]
        if not prim:
            return ("Sensitivity to unmeasured confounding: no E-value could be computed (see the "
                    "sensitivity section).")
        ev = _join([f"{fmt.ratio(sv.loc[m, 'evalue'])} for {m}" for m in prim])
        return (f"Sensitivity to unmeasured confounding (E-values, VanderWeele & Ding 2017): an "
                f"unmeasured trait would need a risk-ratio association of at least {ev} with both "
                "joining and the outcome to explain the effects on members away — the "
                "sensitivity section compares this with the strongest measured covariates.")

    def sensitivity_text(self, currency: str | None = None) -> str:
        """The sensitivity section's paragraph: the E-values of the primary effects on members
        (VanderWeele & Ding 2017) and the strongest measured covariate as a benchmark."""
        currency = _currency(currency)
        if self.sensitivity is None:
            if self.design == "self_selected":
                return ("The sensitivity analysis for unmeasured confounding was not computed "
                        "(analyze(..., sensitivity=False)).")
            return ("Randomized study: the effect of the invitation rests on the randomization, so "
                    "no sensitivity analysis for unmeasured confounding is needed.")
        sv = self.sensitivity.set_index("metric")
        prim = [m for m in PRIMARY if m in sv.index and not fmt.is_missing(sv.loc[m, "evalue"])]
        if not prim:
            return "Sensitivity to unmeasured confounding: no E-value could be computed."
        ev = _join([f"{fmt.ratio(sv.loc[m, 'evalue'])} for {m}" for m in prim])
        ci = _join([fmt.ratio(sv.loc[m, "evalue_ci"]) for m in prim])
        text = (f"Sensitivity to unmeasured confounding (E-values, VanderWeele & Ding 2017): to "
                f"explain the effects on members away, an unmeasured trait would have to be "
                f"associated with both joining and the outcome by a risk ratio of at least {ev} "
                f"beyond the measured covariates (for the interval to reach no effect: {ci}).")
        m = self._sensitivity_metric(prim)
        r = sv.loc[m]
        if isinstance(r["benchmark"], str) and not fmt.is_missing(r["benchmark_bias"]):
            rr = r["rr"] if r["rr"] >= 1 else 1 / r["rr"]
            enough = r["benchmark_bias"] >= rr
            cond = r["benchmark_kind"] == "conditional"
            text += (f" The strongest measured covariate, {r['benchmark']}, is associated with "
                     f"joining by {fmt.ratio(r['benchmark_rr_eu'])} and with {m} by "
                     f"{fmt.ratio(r['benchmark_rr_ud'])} "
                     f"({'given the other covariates' if cond else 'crude'}): a confounder as "
                     f"strong could shift the {m} estimate by a factor of at most "
                     f"{fmt.ratio(r['benchmark_bias'])} — "
                     f"{'enough, in the worst case,' if enough else 'not enough'} to explain it "
                     "away.")
            if cond and not fmt.is_missing(r["benchmark_shift"]):
                headline = m in PRIMARY and not fmt.is_missing(r.get("benchmark_diff_without"))

                def est(x, diff=None):
                    if headline and not fmt.is_missing(diff):   # the headline's units
                        return fmt.value(diff, kind_of_metric(m), currency=currency,
                                         signed=True) if m != "retention" else \
                            fmt.points(diff, scale=100)
                    return estimate_text(r["scale"], m, x, currency)
                text += (f" Leaving it out of the adjustment moves the {m} estimate from "
                         f"{est(r['estimate'], self.effect(m)['abs_diff'] if headline else None)}"
                         f" to {est(r['benchmark_estimate_without'], r.get('benchmark_diff_without'))}"
                         + (f"; the largest move, leaving out {r['largest_shift']}, is to "
                            f"{est(r['largest_shift_estimate_without'], r.get('largest_shift_diff_without'))}."
                            if isinstance(r["largest_shift"], str) and
                            r["largest_shift"] != r["benchmark"] else "."))
            if cond and not fmt.is_missing(r["crude_benchmark_bias"]):
                text += (f" (Crude associations, which ignore the other covariates, give "
                         f"{r['crude_benchmark']} a bias factor of "
                         f"{fmt.ratio(r['crude_benchmark_bias'])}.)")
            text += f" {BENCHMARK_CAVEAT}"
        return text

    def event_study_text(self, currency: str | None = None) -> str:
        """The event study's summary beside the headline's own purchases effect, in the same
        unit (purchases per member over the window), so that a reader sees the two estimands
        side by side: the event study is unadjusted and per month; the headline is adjusted for
        purchase history."""
        if self.event_study is None:
            return ""
        text = self.event_study.summary_text()
        try:
            r = self.effect("purchases", ids.MEMBERS)
        except KeyError:
            return text
        h = self.settings.get("horizon", 365)
        anchor = "enrolment" if self.analysis == "rolling" else "the launch"
        return (f"{text} The headline, adjusted for that history: "
                f"{fmt.estimate(r['abs_diff'], r['ci_low'], r['ci_high'], signed=True)} purchases "
                f"per member in the {h} days after {anchor}.")

    def _sensitivity_metric(self, prim: list) -> str:
        """The metric the sensitivity paragraph discusses: the one that decided the verdict (the
        first significant headline effect that does not survive its benchmark, else the first
        significant one), else retention, else the first with an E-value."""
        rob = self.verdict.get("robustness") or {}
        alpha = self.settings.get("alpha", 0.05)
        fam = self.headline_family()
        sig = [r["metric"] for _, r in fam.iterrows() if r["estimand"] == ids.MEMBERS and
               np.isfinite(r["p_holm"]) and r["p_holm"] < alpha and r["metric"] in prim]
        fragile = [m for m in sig if (rob.get(m) or {}).get("survives") is False]
        for choice in (fragile, sig, [m for m in ("retention",) if m in prim], prim):
            if choice:
                return choice[0]
        return prim[0]

    def context_text(self, currency: str | None = None) -> str:
        """Plain sentences: measured lifts beside the quoted ranges, and the value of a 5-point
        retention gain for this customer base in ``currency`` (default: the report's)."""
        currency = _currency(currency)
        lines = []
        for _, c in self.context.iterrows():
            who = ("of inviting customers (ITT)" if c.get("estimand") == "ITT" else
                   "for members")
            lines.append(f"Measured {c['metric']} lift {who}: "
                         f"{fmt.lift(c['measured_rel_lift'])} "
                         f"({_ci(c['ci_low'], c['ci_high'], 'lift')}) — point estimate "
                         f"{c['position']} the quoted {fmt.share(c['quoted_low'], decimals=0)}–"
                         f"{fmt.share(c['quoted_high'], decimals=0)} ({c['quoted']}).")
        v = self.retention_value
        if v:
            lines.append(f"For this customer base, raising annual retention from "
                         f"{fmt.share(v['retention'])} to "
                         f"{fmt.share(v['retention'] + v['retention_gain'])} is worth "
                         f"{fmt.money(v['value_per_customer'], currency)} of discounted margin "
                         f"per customer over {v['years']} years ({fmt.lift(v['rel_change'])} of "
                         f"customer value) — against the often-quoted 'a 5 % retention gain lifts "
                         f"profit 25–95 %'.")
        return "\n".join(lines)

    def summary_html(self, currency: str | None = None) -> str:
        """The executive summary as HTML: one paragraph per sentence, failed checks in red."""
        import html
        parts = []
        for kind, line in self.summary_lines(currency):
            if kind in self.ALERT_LINES:
                parts.append(f'<p style="color:#c00;font-weight:bold">{html.escape(line)}</p>')
            elif kind == "suggestive":
                parts.append(f'<p style="color:#8a5a00;font-weight:bold">{html.escape(line)}</p>')
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
                    r["estimand"] not in (ids.ITT, ids.MEMBERS):
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
        """Record the headline numbers with :func:`retention_lab.report.recording.record` (for the
        report's ``metrics.json``): the verdict (key ``verdict``,
        :func:`retention_lab.report.recording.record_verdict`), every ITT / effect-on-members row
        (each with the verdict's ``claim``, so that no estimate travels without it), take-up, ROI
        and, for a
        self-selected study, the E-value of each effect on members (``<metric>_members_evalue``,
        with ``evalue_ci``, the scale and the risk ratio it was computed from)."""
        from ..report import recording as reporting
        out = {}
        claim = self.claim
        out[f"{prefix}verdict"] = reporting.record_verdict(self.verdict, f"{prefix}verdict")
        for _, r in self.effects.iterrows():
            if r["estimand"] not in (ids.ITT, ids.MEMBERS):
                continue
            name = metric_key(f"{prefix}{r['metric']}_"
                              f"{'itt' if r['estimand'] == 'ITT' else 'members'}")
            unit = UNITS.get(r["metric"])
            if r["metric"] in RATIO_METRICS:
                # the ratio itself with its interval (the effects table stores ratio − 1)
                ratio = r.get(RATIO_METRICS[r["metric"]], np.nan)
                ratio = float(r["rel_lift"]) + 1 if fmt.is_missing(ratio) else float(ratio)
                out[name] = reporting.record(name, ratio, (r["rel_ci_low"] + 1,
                                                           r["rel_ci_high"] + 1),
                                             method=r["method"], unit=unit, n=int(r["n"]),
                                             p_value=_float(r["p_value"]), claim=claim)
                continue
            out[name] = reporting.record(name, r["abs_diff"], (r["ci_low"], r["ci_high"]),
                                         method=r["method"], unit=unit, n=int(r["n"]),
                                         control=_float(r["control"]),
                                         treatment=_float(r["treatment"]),
                                         rel_lift=_float(r["rel_lift"]),
                                         p_value=_float(r["p_value"]), claim=claim)
        tu = self.take_up
        if "ci" in tu:
            out[f"{prefix}take_up"] = reporting.record(f"{prefix}take_up", tu["take_up"], tu["ci"],
                                                       method="share of invited who enrolled",
                                                       unit="proportion")
        if self.roi:
            out[f"{prefix}roi"] = reporting.record(f"{prefix}roi", self.roi["roi"],
                                                   self.roi["roi_ci"], method=self.roi["method"],
                                                   unit="ratio", claim=claim)
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


def _rolling_assumptions(s: dict) -> list:
    """Method notes of the rolling-enrolment analysis (:mod:`.rolling`): every window starts at
    the customer's own index date, not at the launch."""
    h = s["horizon"]
    return [
        "Estimand — effect on members (ATT) at enrolment: how members' behaviour in the "
        f"{h} days after their own enrolment differs from what the same members would have done "
        "without the programme.",
        "Rolling enrolment, analysed as a sequence of emulated trials (one per month): each "
        "member is compared, at their enrolment purchase, with customers not yet enrolled who "
        "bought in the same month, using the history both had at that moment (purchases and "
        "spend so far, tenure, days since the previous purchase, mean time between purchases, "
        "customer attributes). Members who enrolled too late for a complete window are left "
        "out and counted.",
        "Doubly robust: propensity (odds) weights from that history plus an outcome regression "
        "on it; right if either model is right. Standard errors are clustered by customer, "
        "because a customer can be a comparison in several trials.",
        "Comparison customers who enrol later count up to and including their enrolment "
        "purchase (made as a non-member); the rest of their window is completed with their "
        "expected untreated purchases from a BG/NBD model of pre-enrolment histories "
        "(g-computation), whose uncertainty the intervals carry.",
        "This rests on no unmeasured confounding given that history: a trait that drives both "
        "joining and buying, and that the history does not reveal, biases the effect. The "
        "identification checks fail when members have too little history before enrolment or "
        "overlap is poor; then the report makes no causal claim.",
        "The event study (by month since enrolment) compares members with not-yet-enrolled "
        "customers without adjusting for history; enrolment at checkout selects on recent "
        "activity, so its placebo months often differ. It is shown as a diagnostic and does "
        "not carry the headline.",
        f"Retention = a purchase in the {s['retention_days']} days after the window.",
        f"Every interval is a {1 - s['alpha']:.0%} interval; p-values are two-sided.",
        "CLV comes from one BG/NBD with membership as a time-varying covariate: each member "
        "projected with membership on and switched off. The interval is for these members' "
        "expected CLV difference (parameter uncertainty and customer sampling).",
        "ROI counts rewards, a cost per enrolment and fixed costs within the horizon, against "
        "the margin on incremental spend.",
    ]


def _assumptions(design: str, s: dict) -> list:
    if s.get("analysis") == "rolling":
        return _rolling_assumptions(s)
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
