"""The verdict card: the first thing a reader of an impact report sees.

The report's own one-sentence answer, the headline effects with 95 % intervals in business
units (:func:`retention_lab.report.impact_tables.effects_table`), the ROI verdict and every
failed check in red; the claim (:data:`retention_lab.ids.CLAIMS`) decides its colour.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .. import formatting as fmt, ids
from .impact_tables import effects_table
from .table_base import Table, _currency, _humanize


@dataclass
class VerdictCard:
    """The first thing a reader sees: the answer, the headline effects, the ROI verdict and any
    failed check (in red)."""

    sentence: str
    effects: Table
    roi: str | None
    failed: list
    warnings: list
    design: str
    identified: bool = True
    claim: str = ""
    evidence: str = ""
    notes: list = field(default_factory=list)

    def _repr_html_(self) -> str:
        e = html.escape
        border, colour = CLAIM_COLOURS.get(self.claim, ("#356", "inherit"))
        if not self.identified:
            border, colour = CLAIM_COLOURS["not identified"]
        slug = "rl-claim-" + self.claim.replace(" ", "-") if self.claim else ""
        parts = [f'<div class="rl-verdict {slug}" data-claim="{e(self.claim)}" style="border:2px '
                 f'solid {border};padding:12px 16px;margin:0 0 16px 0">']
        if self.claim:
            parts.append(f'<p class="rl-claim" style="margin:0 0 4px 0;color:{border};'
                         f'font-weight:bold">{e(claim_label(self.claim, self.evidence))}</p>')
        parts += [f'<p class="rl-answer" style="font-size:120%;font-weight:bold;margin:0 0 8px 0;'
                  f'color:{colour}">{e(self.sentence)}</p>']
        parts += [f'<p class="rl-note">{e(n)}</p>' for n in self.notes]
        parts.append(self.effects._repr_html_())
        if self.roi:
            parts.append(f'<p class="rl-roi" style="font-weight:bold">{e(self.roi)}</p>')
        for f in self.failed:
            parts.append(f'<p class="rl-fail" style="color:#c00;font-weight:bold">'
                         f'Failed check — {e(f)}</p>')
        if not self.failed:
            warned = (f" {'Warnings' if len(self.warnings) > 1 else 'Warning'}: "
                      f"{'; '.join(self.warnings)} — see Checks." if self.warnings else "")
            parts.append(f'<p class="rl-pass" style="color:#080">No design check failed.'
                         f'{e(warned)}</p>')
        parts.append("</div>")
        return "".join(parts)

    def __str__(self) -> str:
        lines = ([claim_label(self.claim, self.evidence)] if self.claim else []) + \
            [self.sentence, *self.notes, str(self.effects)]
        if self.roi:
            lines.append(self.roi)
        lines += [f"FAILED CHECK — {f}" for f in self.failed]
        return "\n".join(lines)

    __repr__ = __str__


HEADLINE_METRICS = ("purchases", "spend", "retention", "clv", "nps")
#: how a verdict's claim id is shown (:data:`retention_lab.ids.CLAIMS`)
CLAIM_LABELS = {"effect": "Effect measured", "suggestive": "Suggestive, not proven",
                "no effect detected": "No effect detected", "not identified": "Not identified"}
EVIDENCE_LABELS = {"randomized": "randomized experiment",
                   "observational": "observational data: customers chose to join"}
#: (border, sentence colour) of the verdict card by claim id
CLAIM_COLOURS = {"effect": ("#356", "inherit"), "no effect detected": ("#356", "inherit"),
                 "suggestive": ("#8a5a00", "inherit"), "not identified": ("#c00", "#c00")}


def claim_label(claim: str, evidence: str = "") -> str:
    """``"Suggestive, not proven — observational data: customers chose to join"``."""
    text = CLAIM_LABELS.get(claim, _humanize(claim))
    return f"{text} — {EVIDENCE_LABELS.get(evidence, evidence)}" if evidence else text


def _verdict(report) -> dict:
    v = getattr(report, "verdict", None)
    if isinstance(v, dict) and v:
        return v
    claim = getattr(report, "claim", None)   # an ImpactReport built without a stored verdict
    if isinstance(claim, str):
        return dict(report.verdict)
    return {}


def _sentence(report) -> str:
    """The report's own one-sentence answer (its ``summary_sentence``, else its summary's
    second line, after the design)."""
    for name in ("verdict_sentence", "summary_sentence", "headline_sentence", "answer"):
        attr = getattr(report, name, None)
        if attr is not None:
            text = attr() if callable(attr) else attr
            if text:
                return str(text)
    lines = [ln for ln in report.summary_text().splitlines() if ln.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else "")


def roi_sentence(report, currency: str | None = None) -> str:
    """The ROI verdict: the report's own verdict sentence, then ROI, margin, costs and net benefit
    with their intervals in money."""
    currency = _currency(currency)
    claim = _verdict(report).get("claim")
    if not getattr(report, "identified", True) or claim == "not identified":
        return "ROI not assessed: it needs an identified effect on spend."
    r = report.roi or {}
    verdict = report.roi_verdict()
    head = verdict.split(". ")[0].rstrip(".") + "."
    if claim == "suggestive":
        head = ("Only if the spend difference were entirely the programme's doing: "
                + head[:1].lower() + head[1:])
    if not r or fmt.is_missing(r.get("roi")):
        return verdict
    lo, hi = r.get("roi_ci", (None, None))
    parts = [f"ROI {fmt.lift(r['roi'])} {fmt.interval(lo, hi, 'lift')}"]
    if "incremental_margin" in r:
        parts.append(f"incremental margin {fmt.money(r['incremental_margin'], currency)}")
    if "programme_cost" in r:
        parts.append(f"programme cost {fmt.money(r['programme_cost'], currency)}")
    if "net_benefit" in r:
        nb_lo, nb_hi = r.get("net_benefit_ci", (None, None))
        parts.append(f"net benefit {fmt.estimate(r['net_benefit'], nb_lo, nb_hi, 'money', currency=currency, signed=True)}")
    return f"{head} " + "; ".join(parts) + "."


def verdict_card(report, currency: str | None = None, metrics=HEADLINE_METRICS) -> VerdictCard:
    """The verdict card of an :class:`~retention_lab.impact.ImpactReport`: the report's own
    answer sentence, the headline effects (3–5 of ``metrics``, for the design's estimand: ITT in
    a randomized study, the effect on members in a self-selected one) with 95 % intervals in
    business units, the ROI verdict and every failed check."""
    currency = _currency(currency)
    est = ids.ITT if report.design == "randomized" else ids.MEMBERS
    e = report.effects
    e = e.loc[(e["estimand"] == est) & e["metric"].isin(metrics)]
    e = e.iloc[np.argsort([list(metrics).index(m) for m in e["metric"]], kind="stable")]
    effects = effects_table(e, currency=currency, n=False)
    effects.header = ["Effect of the invitation (ITT)" if h == "Estimand" and est == "ITT"
                      else h for h in effects.header]
    # the estimand is the same on every row: say it once, in the caption
    j = effects.header.index("Effect of the invitation (ITT)") if est == "ITT" else \
        effects.header.index("Estimand")
    effects.header.pop(j)
    effects.numeric.pop(j)
    for row in effects.rows:
        row.pop(j)
    effects.cell_styles = {}  # they styled the estimand column just removed
    verdict = _verdict(report)
    claim = verdict.get("claim", "")
    identified = bool(getattr(report, "identified", True)) and claim != "not identified"
    effects.caption = ("Effect of inviting customers (intention to treat), 95 % intervals"
                       if est == "ITT" else "Effect on members, 95 % intervals")
    notes = []
    if not identified:
        effects.caption = ("Members vs comparison customers, 95 % intervals — an association, "
                           "not a measured effect of the programme")
    elif claim == "suggestive":
        effects.caption = ("Members vs comparable non-members, 95 % intervals — measured "
                           "differences, not a proven effect of the programme")
        notes = [t for t in (_call(report, "fragility_sentence"),
                             _call(report, "holdout_sentence", currency)) if t]
    if not identified or claim == "suggestive":   # differences between groups, not effects
        names = {"Control": "Comparison", "Treatment": "Members", "Effect": "Difference"}
        effects.header = [names.get(h, h) for h in effects.header]
    failed = [f"{c['check']}: {c['detail']}" for _, c in report.checks.iterrows()
              if c["status"] == "fail"]
    warns = [c["check"] for _, c in report.checks.iterrows() if c["status"] == "warn"]
    return VerdictCard(_sentence(report), effects, roi_sentence(report, currency), failed, warns,
                       report.design, identified, claim, verdict.get("evidence", ""), notes)


def _call(obj, name, *args):
    f = getattr(obj, name, None)
    return f(*args) if callable(f) else None
