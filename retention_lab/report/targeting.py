"""Words and tables for a :class:`~retention_lab.targeting.TargetingReport` (display only: no
estimation here). The answer comes first: whom to contact, the expected net gain in money with
its interval, and the gain over the churn-risk ranking; or, when the RATE test finds no
heterogeneity, "target everyone or no one" instead of a ranking of noise."""
from __future__ import annotations

import pandas as pd

from .. import formatting as fmt
from ..targeting import policy as P
from . import recording
from .tables import key_values, table

POLICY_LABELS = {P.LEARNED: "the targeting rule (expected CLV gain × margin > cost)",
                 P.EVERYONE: "contact everyone", P.NO_ONE: "contact no one",
                 P.BY_RISK: "highest churn risk first (same number of contacts)",
                 P.BY_CLV: "highest model CLV first (same number of contacts)"}
BASELINE_LABELS = {P.BY_RISK: "churn-risk ranking", P.BY_CLV: "CLV ranking",
                   P.EVERYONE: "contacting everyone"}


def _money_ci(r, currency, signed=True):
    return fmt.estimate(r["value"], r["ci_low"], r["ci_high"], "money", currency=currency,
                        signed=signed)


def answer_text(report, currency: str | None = None) -> str:
    """The answer in two to three sentences (one per line)."""
    s = report.settings
    n = s["n"]
    lines = []
    if report.recommendation == P.REC_RANK:
        r = report.policy(P.LEARNED)
        total = (r["value"] * n, r["ci_low"] * n, r["ci_high"] * n)
        lines.append(
            f"Contact {fmt.count(r['n_treated'])} of {fmt.count(n)} customers "
            f"({fmt.share(r['share_treated'])}): those whose expected 12-month CLV gain × margin "
            f"{s['margin']:g} exceeds the {fmt.money(s['cost'], currency)} cost of a contact.")
        lines.append(
            f"Expected net gain: {_money_ci(r, currency)} per customer of the base, "
            f"{fmt.estimate(*total, 'money', currency=currency, signed=True)} in total "
            f"(doubly robust, on held-out folds).")
        for _, c in report.comparisons.iterrows():
            if c["baseline"] == P.BY_RISK:
                verdict = ("better than" if c["ci_low"] > 0 else "worse than" if c["ci_high"] < 0
                           else "not distinguishable from")
                lines.append(
                    f"Against contacting the same number of customers by churn risk: "
                    f"{fmt.estimate(c['value'], c['ci_low'], c['ci_high'], 'money', currency=currency, signed=True)} "
                    f"per customer — {verdict} the churn-risk ranking.")
    else:
        e = report.policy(P.EVERYONE)
        what = {P.REC_EVERYONE: "Contact everyone",
                P.REC_NO_ONE: "Contact no one",
                P.REC_EVERYONE_OR_NO_ONE: "Target everyone or no one"}[report.recommendation]
        lines.append(
            f"{what}: the RATE test finds no heterogeneity that a ranking could use "
            f"({fmt.p_text(report.rate['p_value'])}), so the report does not rank customers — an "
            f"ordering would be ranking noise.")
        lines.append(f"Contacting everyone is worth {_money_ci(e, currency)} per customer, net "
                     f"of the {fmt.money(s['cost'], currency)} contact cost"
                     + (" — the data do not say whether that is above or below zero."
                        if report.recommendation == P.REC_EVERYONE_OR_NO_ONE else "."))
        if P.BY_RISK in set(report.policies["policy"]):
            r = report.policy(P.BY_RISK)
            lines.append(f"Contacting the {fmt.count(r['n_treated'])} customers with the highest "
                         f"churn risk instead: {_money_ci(r, currency)} per customer — a churn-risk "
                         f"ranking is no better founded than any other here.")
    return "\n".join(lines)


def answer_table(report, currency: str | None = None):
    """The policies side by side: contacts, net gain per customer and in total, with intervals."""
    n = report.settings["n"]
    rows = []
    for _, r in report.policies.iterrows():
        rows.append({"policy": POLICY_LABELS[r["policy"]], "contacts": int(r["n_treated"]),
                     "net gain per customer": r["value"], "ci_low": r["ci_low"],
                     "ci_high": r["ci_high"], "total net gain": r["value"] * n})
    df = pd.DataFrame(rows)
    return table(df, {"net gain per customer": "money", "total net gain": "money"},
                 currency=currency, signed=("net gain per customer", "total net gain"),
                 caption="Net gain of each policy over contacting no one (doubly robust, held-out folds)")


def comparison_table(report, currency: str | None = None):
    rows = [{"the rule against": BASELINE_LABELS[c["baseline"]], "difference per customer": c["value"],
             "ci_low": c["ci_low"], "ci_high": c["ci_high"], "p-value": c["p_value"]}
            for _, c in report.comparisons.iterrows()]
    return table(pd.DataFrame(rows), {"difference per customer": "money"}, currency=currency,
                 signed=("difference per customer",),
                 caption="Gain of the rule over the alternatives (paired, same customers)")


def _points_ci(v, lo, hi) -> str:
    """Share points with their interval: ``+3.8 pts [+0.9 pts, +6.7 pts]`` (inputs in points)."""
    return f"{fmt.points(v)} [{fmt.points(lo)}, {fmt.points(hi)}]"


def effects_table(report, currency: str | None = None):
    labels = {"clv": "12-month CLV (discounted spend)",
              "retention": f"retention to {report.settings['horizon']:g} months (IPCW)",
              "spend": "spend in the first 3 months"}
    rows = []
    for _, r in report.effects.iterrows():
        if r["outcome"] == "retention":
            text = _points_ci(100 * r["value"], 100 * r["ci_low"], 100 * r["ci_high"])
        else:
            text = fmt.estimate(r["value"], r["ci_low"], r["ci_high"], "money", currency=currency,
                                signed=True)
        rows.append({"outcome": labels[r["outcome"]], "average effect of the offer": text})
    return table(pd.DataFrame(rows), caption="Average effect of the offer (everyone contacted vs no one)")


def rate_text(report, currency: str | None = None) -> str:
    r = report.rate
    found = "finds" if r["heterogeneity"] else "does not find"
    return (f"RATE (area under the targeting operator characteristic): "
            f"{fmt.estimate(r['autoc'], r['ci_low'], r['ci_high'], 'money', currency=currency, signed=True)} "
            f"per customer, one-sided {fmt.p_text(r['p_value'])}: the test {found} heterogeneity "
            f"that the estimated effects rank.")


def retention_table(report):
    r = report.retention
    rows = [{"estimator": label, "retention gain (95 % CI)": _points_ci(
                100 * v["value"], 100 * v["ci_low"], 100 * v["ci_high"])}
            for label, v in (("IPCW (censoring weights)", r["ipcw"]),
                             ("complete cases only (biased; for contrast)", r["complete_case"]))]
    return table(pd.DataFrame(rows),
                 caption=(f"The rule's gain in retention to {r['horizon']:g} months, share points "
                          f"of the base ({fmt.share(r['censored_share'])} censored before it)"))


def segments_table(report, currency: str | None = None, columns=None):
    """Segments by estimated gain (columns, highest first) described by their covariates (rows):
    the measured effect with its interval, the share contacted, covariate means and, for a
    category, the share of each level — no ids."""
    seg = report.segments
    fixed = ["segment", "n", "contacted", "effect", "effect_ci_low", "effect_ci_high", "net_gain"]
    covs = [c for c in seg.columns if c not in fixed and (columns is None or c in columns)]
    money_like = {"monetary_value", "model CLV"}
    head = [f"{k}{' (highest gain)' if k == 1 else ' (lowest gain)' if k == len(seg) else ''}"
            for k in seg["segment"]]
    rows = {"customers": [fmt.count(v) for v in seg["n"]],
            "share contacted by the rule": [fmt.share(v) for v in seg["contacted"]],
            "CLV effect": [fmt.money(v, currency, signed=True) for v in seg["effect"]],
            "95 % CI": [fmt.interval(lo, hi, "money", currency=currency, signed=True)
                        for lo, hi in zip(seg["effect_ci_low"], seg["effect_ci_high"])]}
    for c in covs:
        if " = " in c or c == "churn risk":
            rows[f"{c} (share)" if " = " in c else c] = [fmt.share(v) for v in seg[c]]
        elif c in money_like:
            rows[c] = [fmt.money(v, currency) for v in seg[c]]
        else:
            rows[c] = [fmt.number(v, 3) for v in seg[c]]
    df = pd.DataFrame(rows, index=head).T.reset_index().rename(columns={"index": "segment"})
    return table(df, caption="Customers grouped by estimated gain: their measured effect and who they are")


def settings_table(report, currency: str | None = None):
    s = report.settings
    return key_values({"customers": s["n"], "offered (treatment arm)": s["n_treated_arm"],
                       "assignment probability": s["propensity"], "margin": s["margin"],
                       "cost per contact": s["cost"], "folds (cross-fitting)": s["n_folds"],
                       "churn risk from": s["risk_source"] or "—"},
                      formats={"cost per contact": "money", "assignment probability": "share"},
                      currency=currency, caption="Settings")


METHOD_NOTES = (
    "Effects per customer: a cross-fitted DR-learner (Kennedy 2023) — outcome models per arm "
    "(gradient boosting, scikit-learn) fitted on the other folds give each customer a doubly "
    "robust score; a second model, also trained on the other folds, turns the scores into the "
    "customer's expected effect.",
    "12-month CLV is the realised spend in the 12 months after assignment, discounted 1 % a "
    "month (an observed outcome); the BG/NBD + Gamma-Gamma CLV fitted on the pre-campaign "
    "history is a covariate and the CLV ranking.",
    "Retention to the horizon: censored customers enter through inverse probability of "
    "censoring weights (Kaplan–Meier per arm); dropping them (complete cases) under-counts the "
    "retained and is shown for contrast only.",
    "Policy values: the mean doubly robust score of the contacted, net of the contact cost, on "
    "held-out folds (Athey & Wager 2021); differences are paired on the same customers.",
    "Qini curves: incremental CLV per customer of the base when the top share by a ranking is "
    "contacted; bands and the RATE interval by the Poisson bootstrap (Yadlowsky et al. 2024).",
    "The id-level list (rank, contact, expected gain, effects) is written to targeting_list.csv "
    "beside the report, not shown in it.",
)


def record_targeting(report, currency: str | None = None) -> dict:
    """A :class:`~retention_lab.targeting.TargetingReport`'s headline numbers into
    ``metrics.json`` (:func:`retention_lab.report.recording.record`): the value of each policy,
    the rule's gain over each baseline, the RATE, how many to contact and the recommendation id;
    money in ``currency`` (default: the run's)."""
    out = {}
    cur = "currency per customer"
    for pid in (P.LEARNED, P.EVERYONE, P.BY_RISK, P.BY_CLV):
        r = report.policy(pid)
        out[f"policy_value_{pid}"] = recording.record(
            f"policy_value_{pid}", r["value"], (r["ci_low"], r["ci_high"]), unit=cur,
            method="doubly robust policy value on held-out folds", n=int(r["n"]),
            n_treated=int(r["n_treated"]), currency=currency)
    for _, row in report.comparisons.iterrows():
        key = f"gain_vs_{row['baseline']}"
        out[key] = recording.record(key, row["value"], (row["ci_low"], row["ci_high"]), unit=cur,
                                    method="paired doubly robust difference of policy values",
                                    currency=currency)
    out["rate_autoc"] = recording.record("rate_autoc", report.rate["autoc"],
                                         (report.rate["ci_low"], report.rate["ci_high"]),
                                         unit=cur, p_value=report.rate["p_value"],
                                         method="RATE (AUTOC), Poisson bootstrap",
                                         currency=currency)
    out["n_contact"] = recording.record("n_contact", int(report.customers["contact"].sum()),
                                        unit="customers", method=report.settings["rule"])
    out["recommendation"] = recording.record("recommendation", None, unit="id",
                                             id=report.recommendation)
    return out
