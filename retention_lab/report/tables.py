"""Tables and the verdict card, made for people (re-exported by :mod:`retention_lab.report.recording`).

:func:`table` turns a DataFrame into a :class:`Table` that Jupyter and the runner's HTML show
without a pandas index, with numbers formatted by :mod:`retention_lab.formatting` (no scientific
notation, integer counts, p-values as ``< 0.001``), each pair of interval columns merged into one
``95 % CI`` column written ``[a, b]``, missing values as ``—`` explained in a footnote, and the
``method`` column moved into numbered footnotes. Long text wraps; numbers never do, so a table
fits a 1,000 px page. :func:`effects_table` and :func:`verdict_card` apply the same rules to the
effects of :func:`retention_lab.impact.analyze`, in business units: money in the report's
currency, shares and NPS differences in points.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import formatting as fmt
from .. import ids

CI_LABEL = "95 % CI"
#: Interval column pairs merged into one ``95 % CI`` column (low, high).
CI_PAIRS = (("ci_low", "ci_high"), ("lower 95%", "upper 95%"), ("lower_95", "upper_95"),
            ("hr_lower", "hr_upper"), ("median_lower", "median_upper"), ("lower", "upper"),
            ("rel_ci_low", "rel_ci_high"))
P_COLUMNS = {"p", "p_value", "p-value", "p value", "p_adjusted", "q_p", "p_holm", "pvalue"}
COUNT_COLUMNS = {"n", "n_rows", "customers", "count", "n_customers", "n_treated", "n_control",
                 "members", "n_members", "n_at_risk", "events", "at_risk", "observed", "censored",
                 "lapses", "orders", "n_scored", "flagged"}
#: The display kind of each metric of the impact and overview reports.
METRIC_KINDS = {"purchases": "number", "spend": "money", "aov": "money", "retention": "share",
                "rmst": "days", "purchase rate": "ratio", "lapse hazard ratio": "ratio",
                "clv": "money", "nps": "nps", "csat": "share", "retention_rate": "share",
                "churn_rate": "share", "repeat_purchase_rate": "share", "simple_cltv": "money",
                "take_up": "share", "roi": "lift"}
METRIC_LABELS = {"purchases": "Purchases per customer", "spend": "Spend per customer",
                 "aov": "Average order value", "retention": "Retention at the horizon",
                 "rmst": "Active days (RMST)", "purchase rate": "Purchase rate",
                 "lapse hazard ratio": "Lapse hazard ratio", "clv": "12-month CLV",
                 "nps": "NPS", "csat": "CSAT (share 4–5)",
                 "retention_rate": "Customer retention rate", "churn_rate": "Churn rate",
                 "repeat_purchase_rate": "Repeat-purchase rate", "simple_cltv": "Simple CLTV"}
MISSING_NOTE = "— no value: not defined or not estimable for this row."
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_NUM_STYLE = "text-align:right;white-space:nowrap"
_TEXT_STYLE = "text-align:left;white-space:normal"
_SHORT_TEXT_STYLE = "text-align:left;white-space:nowrap"
_HEAD_NUM_STYLE = "text-align:right;white-space:normal"
SHORT_TEXT = 24  # text cells up to this many characters do not wrap (labels stay on one line)


def metric_label(metric: str) -> str:
    """A metric's name for people (``"retention_rate"`` → ``"Customer retention rate"``)."""
    return METRIC_LABELS.get(str(metric), _humanize(metric))


def metrics_table(frame: pd.DataFrame, *, currency: str | None = None,
                  caption: str | None = None) -> Table:
    """One row per metric (a ``metric`` column or index; ``value``, ``ci_low``, ``ci_high``,
    ``n``, ``method``): each value and interval in its metric's unit, the methods as footnotes."""
    df = frame.reset_index() if "metric" not in frame.columns else frame.copy()
    df = df.drop(columns=[c for c in ("unit",) if c in df.columns])
    kinds = {c: (lambda r: kind_of_metric(r["metric"])) for c in ("value", "estimate")
             if c in df.columns}
    t = table(df, formats=kinds, currency=currency, caption=caption)
    for row in t.rows:
        marker = row[0][len(row[0].rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹")):]
        row[0] = metric_label(row[0][:len(row[0]) - len(marker)]) + marker
    return t


def kind_of_metric(metric: str) -> str:
    """The display kind (:mod:`retention_lab.formatting`) of a metric name."""
    return METRIC_KINDS.get(str(metric), "number")


def _currency(currency):
    if currency is not None:
        return currency or None
    from .recording import get_currency
    return get_currency()


@dataclass
class Table:
    """A formatted table: ``header``, ``rows`` of strings, per-column ``numeric`` flags and
    footnotes. Displays as HTML in Jupyter and as aligned text elsewhere."""

    header: list
    rows: list
    numeric: list
    notes: list = field(default_factory=list)
    caption: str | None = None
    row_classes: list = field(default_factory=list)
    cell_styles: dict = field(default_factory=dict)  # (row, column) -> extra CSS

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.header)

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f'<th style="{_HEAD_NUM_STYLE if num else _TEXT_STYLE}">{e(h)}</th>'
                       for h, num in zip(self.header, self.numeric))
        body = []
        for i, row in enumerate(self.rows):
            cls = self.row_classes[i] if i < len(self.row_classes) else ""
            style = ' style="color:#c00;font-weight:bold"' if cls == "rl-fail" else ""
            cells = "".join(
                f'<td style="{_cell_style(c, num)}{self.cell_styles.get((i, j), "")}">'
                f'{_cell_html(c)}</td>' for j, (c, num) in enumerate(zip(row, self.numeric)))
            body.append(f'<tr class="{cls}"{style}>{cells}</tr>' if cls else f"<tr>{cells}</tr>")
        cap = f"<caption>{e(self.caption)}</caption>" if self.caption else ""
        notes = ""
        if self.notes:
            notes = ('<p class="rl-notes"><small>' + "<br>".join(_note_html(n) for n in self.notes)
                     + "</small></p>")
        return (f'<div class="rl-table-wrap"><table class="rl-table">{cap}<thead><tr>{head}</tr>'
                f'</thead><tbody>{"".join(body)}</tbody></table>{notes}</div>')

    def __str__(self) -> str:
        cols = [self.header] + [list(r) for r in self.rows]
        widths = [max(len(str(r[j])) for r in cols) for j in range(len(self.header))]
        lines = []
        if self.caption:
            lines.append(self.caption)
        for r in cols:
            lines.append("  ".join(str(c).rjust(w) if num else str(c).ljust(w)
                                   for c, w, num in zip(r, widths, self.numeric)).rstrip())
        lines.extend(self.notes)
        return "\n".join(lines)

    __repr__ = __str__


def _cell_style(text, numeric: bool) -> str:
    if numeric:
        return _NUM_STYLE
    return _SHORT_TEXT_STYLE if len(str(text)) <= SHORT_TEXT else _TEXT_STYLE


def _note_html(note: str) -> str:
    """A footnote; its leading marker (``¹``) as a superscript number."""
    head, _, rest = str(note).partition(" ")
    if head and all(ch in "⁰¹²³⁴⁵⁶⁷⁸⁹" for ch in head):
        return _cell_html(head) + " " + html.escape(rest)
    return html.escape(str(note))


def _cell_html(text: str) -> str:
    """Escaped cell text; a trailing footnote marker becomes a superscript."""
    text = str(text)
    stripped = text.rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹")
    marker = text[len(stripped):]
    plain = marker.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))
    return html.escape(stripped) + (f"<sup>{plain}</sup>" if marker else "")


def _auto_kind(name: str, col: pd.Series) -> str:
    low = str(name).lower()
    if low in P_COLUMNS or low.endswith("_p_value") or low.endswith(" p"):
        return "p"
    if pd.api.types.is_bool_dtype(col):
        return "text"
    if pd.api.types.is_integer_dtype(col):
        return "count"
    if pd.api.types.is_float_dtype(col):
        vals = col.to_numpy(float)
        vals = vals[np.isfinite(vals)]
        if low in COUNT_COLUMNS or low.startswith("n_"):
            return "count"
        if len(vals) and np.all(vals == np.round(vals)) and np.all(np.abs(vals) < 1e15) and \
                (np.abs(vals) >= 1).any():
            return "count"
        return "number"
    return "text"


def _cell(x, kind, currency, signed=False) -> str:
    """One cell: tuples and lists as intervals, numbers by ``kind``, everything else as text."""
    if isinstance(x, (tuple, list, np.ndarray)) and len(x) == 2 and \
            all(isinstance(v, (int, float, np.number)) or v is None for v in x):
        k = "number" if kind in ("text", "count") else kind
        return fmt.interval(x[0], x[1], k, currency=currency, signed=signed)
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if x is None or (isinstance(x, (float, np.floating)) and not np.isfinite(x)):
        return fmt.MISSING
    if isinstance(x, str):
        return x
    if isinstance(x, pd.Timestamp):
        return x.strftime("%Y-%m-%d") if (x.hour, x.minute, x.second) == (0, 0, 0) else \
            x.strftime("%Y-%m-%d %H:%M")
    if isinstance(x, (int, float, np.number)):
        if kind == "text":
            kind = "count" if float(x) == round(float(x)) and abs(float(x)) >= 1 else "number"
        return fmt.value(x, kind, currency=currency, signed=signed)
    if isinstance(x, (list, tuple, set)):
        return ", ".join(_cell(v, kind, currency) for v in x)
    return str(x)


SHORT_LABELS = {"p": "p", "n": "n", "p_value": "p", "p_adjusted": "p (adjusted)", "se": "SE",
                "coef": "Coefficient", "index": "", "q_p": "p (segments differ)", "sd": "SD",
                "roi": "ROI", "roi_ci": "ROI — 95 % CI", "mde_abs": "MDE (absolute)",
                "mde_rel": "MDE (relative)", "smd": "SMD", "aic": "AIC", "tau": "Up to age",
                "kaplan_meier": "Kaplan–Meier", "delta_AIC": "ΔAIC", "df": "df"}


def _humanize(name) -> str:
    if str(name) in SHORT_LABELS:
        return SHORT_LABELS[str(name)]
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def table(df: pd.DataFrame, formats: dict | None = None, *, labels: dict | None = None,
          ci="auto", method="auto", index: bool | str = "auto", columns=None,
          currency: str | None = None, signed=(), caption: str | None = None,
          missing: str | None = None, notes=(), fail_rows=None) -> Table:
    """A DataFrame as a :class:`Table` for a report.

    ``formats`` maps a column to a kind of :mod:`retention_lab.formatting` or to a function of the
    row returning one (rows of different units); other columns are inferred (p-value names →
    ``< 0.001``; integers and whole floats → counts; floats → 3 significant figures; text as is).
    ``ci="auto"`` merges each known interval pair (``ci_low``/``ci_high``, ``lower 95%``/
    ``upper 95%``, …) into one ``95 % CI`` column in the estimate's units; pass a list of
    ``(low, high)`` pairs, or ``None``. ``method="auto"`` moves a ``method`` column into
    footnotes. The index is shown (as the first column) only when it carries names
    (``index="auto"``: a named or non-default index). ``signed`` lists columns that are
    differences (``+3.8 pts``). ``missing`` explains ``—`` in its footnote. ``fail_rows`` is a
    boolean mask of rows shown in red.
    """
    df = pd.DataFrame(df).copy()
    if index == "auto":
        index = not isinstance(df.index, pd.RangeIndex) and (
            any(n is not None for n in df.index.names) or df.index.dtype == object)
    if index:
        df = df.reset_index()
    if isinstance(df.columns, pd.MultiIndex):
        df.columns = [" ".join(str(c) for c in col if str(c) != "").strip()
                      for col in df.columns]
    if columns is not None:
        df = df[list(columns)]
    currency = _currency(currency)
    formats = dict(formats or {})
    labels = dict(labels or {})
    signed = set(signed)
    method_col = ("method" if "method" in df.columns else None) if method == "auto" else method
    pairs = [p for p in CI_PAIRS if p[0] in df.columns and p[1] in df.columns] \
        if ci == "auto" else list(ci or [])
    merged = {lo: hi for lo, hi in pairs}
    skip = {hi for _, hi in pairs} | ({method_col} if method_col else set())
    order = [c for c in df.columns if c not in skip]
    kinds = {c: formats.get(c) or _auto_kind(c, df[c]) for c in df.columns}
    for lo, hi in pairs:  # an interval takes the kind of the estimate it belongs to
        if lo not in formats:
            est = _estimate_column(order, lo)
            kinds[lo] = formats.get(est) or (kinds[est] if est else kinds[lo])
            if kinds[lo] == "count":
                kinds[lo] = "number"
    method_notes: dict[str, int] = {}
    rows = []
    numeric = [callable(kinds[c]) or kinds[c] != "text" for c in order]
    for _, row in df.iterrows():
        out = []
        for c in order:
            kind = kinds[c](row) if callable(kinds[c]) else kinds[c]
            if c in merged:
                text = fmt.interval(row[c], row[merged[c]], kind, currency=currency,
                                    signed=c in signed or _estimate_column(order, c) in signed)
            else:
                text = _cell(row[c], kind, currency, signed=c in signed)
            out.append(text)
        if method_col is not None and isinstance(row[method_col], str) and row[method_col]:
            m = row[method_col]
            method_notes.setdefault(m, len(method_notes) + 1)
            out[0] = f"{out[0]}{str(method_notes[m]).translate(_SUP)}"
        rows.append(out)
    header = [labels.get(c, CI_LABEL if c in merged else _humanize(c)) for c in order]
    foot = [f"{str(i).translate(_SUP)} {m}" for m, i in method_notes.items()]
    if any(fmt.MISSING in r for r in rows):
        foot.append(f"— {missing}" if missing else MISSING_NOTE)
    foot.extend(notes)
    row_classes = []
    if fail_rows is not None:
        row_classes = ["rl-fail" if bool(f) else "" for f in fail_rows]
    return Table(header, rows, numeric, foot, caption, row_classes)


ESTIMATE_COLUMNS = ("estimate", "value", "coef", "hazard_ratio", "abs_diff", "median_lifetime",
                    "mean", "effect", "rel_lift", "clv")


def _estimate_column(order, low):
    """The column an interval belongs to: the nearest estimate-named column before it (``coef``
    before ``se`` and ``lower 95%``), else the column just before it."""
    i = order.index(low)
    for c in reversed(order[:i]):
        if str(c) in ESTIMATE_COLUMNS:
            return c
    return order[i - 1] if i > 0 else None


def key_values(mapping: dict, formats: dict | None = None, *, labels: dict | None = None,
               currency: str | None = None, notes=(), caption: str | None = None) -> Table:
    """A dict as a two-column table (``Quantity``, ``Value``); a ``(low, high)`` tuple beside a
    key ``<name>_ci`` is shown as that quantity's ``95 % CI``. A ``method`` entry becomes a
    footnote; ``None`` is ``—``."""
    formats = dict(formats or {})
    labels = dict(labels or {})
    currency = _currency(currency)
    rows, foot = [], []
    for k, v in mapping.items():
        if k == "method":
            continue
        kind = formats.get(k) or formats.get(k[:-3] if k.endswith("_ci") else k)
        if kind is None:
            kind = "count" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) \
                else "number"
        label = labels.get(k) or (f"{labels.get(k[:-3], _humanize(k[:-3]))} — {CI_LABEL}"
                                  if k.endswith("_ci") else _humanize(k))
        rows.append([label, _cell(v, kind if not isinstance(v, str) else "text", currency)])
    if mapping.get("method"):
        foot.append(f"Method: {mapping['method']}")
    if any(r[1] == fmt.MISSING for r in rows):
        foot.append(MISSING_NOTE)
    foot.extend(notes)
    return Table(["Quantity", "Value"], rows, [False, True], foot, caption)


def effects_table(effects: pd.DataFrame, metrics=None, *, estimands=None, currency=None,
                  levels: bool = True, lift: bool = True, n: bool = True,
                  caption: str | None = None) -> Table:
    """Rows of an impact report's ``effects`` (or ``segments``, ``naive``) in business units.

    Control and treatment levels in the metric's unit, the effect (difference; for the hazard and
    rate ratio rows the ratio itself) with its ``95 % CI``, the relative lift (not for NPS, a score
    that can be zero or negative), the p-value (Holm-adjusted where the table has it) and n; the
    method of each row as a footnote.
    """
    e = effects
    if metrics is not None:
        e = e.loc[e["metric"].isin(list(metrics))]
    if estimands is not None:
        e = e.loc[e["estimand"].isin(list(estimands))]
    currency = _currency(currency)
    out = []
    ratio_note = nps_note = False
    for _, r in e.iterrows():
        kind = kind_of_metric(r["metric"])
        is_ratio = kind == "ratio"
        row = {}
        if "segment" in e.columns:
            row[_humanize(r["segment"])] = str(r["level"])
        row["Metric"] = METRIC_LABELS.get(r["metric"], _humanize(r["metric"]))
        row["Estimand"] = r["estimand"]
        if levels:
            if is_ratio:
                row["Control"] = row["Treatment"] = fmt.MISSING
                ratio_note = True
            else:
                row["Control"] = fmt.value(r["control"], kind, currency=currency)
                row["Treatment"] = fmt.value(r["treatment"], kind, currency=currency)
        if is_ratio and "rel_ci_low" not in r:
            row["Effect"], row[CI_LABEL] = effect_text(r, currency)[0], fmt.MISSING
        else:
            row["Effect"], row[CI_LABEL] = effect_text(r, currency)
        if lift:
            if kind == "nps":
                row["Relative lift"] = fmt.MISSING
                nps_note = True
            else:
                row["Relative lift"] = fmt.lift(r["rel_lift"])
        if "p_adjusted" in e.columns:
            row["p (Holm)"] = fmt.p_value(r["p_adjusted"])
        elif "p_value" in e.columns:
            row["p"] = fmt.p_value(r["p_value"])
        if n and "n" in e.columns:
            row["n"] = fmt.count(r["n"])
        row["method"] = r.get("method")
        out.append(row)
    frame = pd.DataFrame(out)
    notes = []
    if "q_p" in e.columns and len(e):
        q = e.drop_duplicates("metric")
        notes.append("Do the effects differ between segments? Cochran's Q: " + "; ".join(
            f"{METRIC_LABELS.get(m, m)} p = {fmt.p_value(v)}" for m, v in zip(q["metric"],
                                                                              q["q_p"])) + ".")
    if ratio_note:
        notes.append("— ratio rows: the hazard or rate ratio compares the groups directly "
                     "(below 1: fewer lapses or purchases in the treatment group).")
    if nps_note:
        notes.append("— NPS: no relative lift for a score on the −100…100 scale; the effect is "
                     "in points.")
    if not len(frame):
        return Table(["Metric"], [], [False], ["No effects for this selection."], caption)
    frame = frame.loc[:, [c for c in frame.columns if not (c == "method" and
                                                            frame[c].isna().all())]]
    text_cols = {"Metric", "Estimand"} | ({_humanize(x) for x in e["segment"]}
                                          if "segment" in e.columns else set())
    if "segment" in e.columns and frame["Estimand"].nunique() == 1:
        # one estimand for every row: say it once, in the caption (the table stays narrow)
        caption = caption or f"Effects by {e['segment'].iloc[0]}: {frame['Estimand'].iloc[0]}"
        frame = frame.drop(columns="Estimand")
    t = table(frame, formats={c: "text" for c in frame.columns}, ci=None, index=False,
              labels={c: c for c in frame.columns}, caption=caption,
              missing="see the notes below.")
    t.numeric = [c not in text_cols and c != "method" for c in t.header]
    t.notes = [n for n in t.notes if not n.startswith("— ")] + notes
    if any(fmt.MISSING in row for row in t.rows) and not notes:
        t.notes.append(MISSING_NOTE)
    if "Estimand" in t.header:  # a phrase, not a label: it may wrap, so nine columns fit 1,000 px
        j = t.header.index("Estimand")
        t.cell_styles.update({(i, j): ";white-space:normal" for i in range(len(t.rows))})
    return t


def checks_table(checks: pd.DataFrame) -> Table:
    """The design checks: check, status (fail in red), detail; failed checks first."""
    c = checks.copy()
    order = {"fail": 0, "warn": 1, "pass": 2}
    c = c.iloc[np.argsort([order.get(s, 3) for s in c["status"]], kind="stable")]
    t = table(c[["check", "status", "detail"]], formats={"check": "text", "status": "text",
                                                         "detail": "text"},
              fail_rows=(c["status"] == "fail").to_numpy())
    colour = {"warn": "#b60", "pass": "#080"}
    t.cell_styles = {(i, 1): f";color:{colour[s]};font-weight:bold"
                     for i, s in enumerate(c["status"]) if s in colour}
    return t


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


def data_summary(data, *, caption: str | None = "The data") -> Table:
    """What a report analysed (an :class:`~retention_lab.ExperimentData`), for people: design,
    table sizes, the study's dates and how many rows were excluded while reading."""
    def day(ts):
        return fmt.MISSING if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")
    tx = data.transactions
    rows = [["Design", {"randomized": "randomized (invitation at random)",
                        "self_selected": "self-selected (customers chose to join)"}.get(
                            data.design, data.design or "not a programme study")],
            ["Customers", fmt.count(len(data.customers))],
            ["Transactions", fmt.count(len(tx))],
            ["Survey responses", fmt.count(0 if data.surveys is None else len(data.surveys))]]
    if len(tx) and "date" in tx:
        rows.append(["First transaction", day(tx["date"].min())])
    if getattr(data, "launch_date", None) is not None:
        rows.append(["Programme launch", day(data.launch_date)])
    rows.append(["Observation end", day(data.observation_end)])
    rows.append(["Rows excluded while reading", fmt.count(data.quality.n_excluded())])
    params = getattr(data, "params", {}) or {}
    if "engine" in params:
        rows.append(["Read by", f"{params['engine']} ({fmt.count(params.get('n_rows_read', 0))} "
                                "rows read)"])
    return Table(["", "Value"], rows, [False, True], [], caption)


def quality_table(quality) -> Table:
    """The data-quality ledger (:class:`~retention_lab.errors.DataQuality` or its table): every row
    a documented policy excluded or changed, with the rule; a sentence when there is none."""
    if isinstance(quality, pd.DataFrame):
        frame = quality
    elif isinstance(quality, dict):  # a ledger saved as a dict of its entries
        frame = pd.DataFrame(quality.get("entries", quality.get("table", [])))
    elif isinstance(quality, list):
        frame = pd.DataFrame(quality)
    else:
        frame = quality.table
    if not len(frame):
        return Table(["Data quality"], [["No row was excluded or changed while reading."]],
                     [False])
    return table(frame, formats={"n_rows": "count"}, labels={"n_rows": "Rows"})


@dataclass
class Paragraphs:
    """Plain sentences shown as wrapped paragraphs (never as preformatted text that overflows or
    breaks mid-word); ``text/plain`` keeps the lines as they are."""

    lines: list

    def _repr_html_(self) -> str:
        return "".join(f"<p>{html.escape(ln)}</p>" for ln in self.lines if ln.strip())

    def _ipython_display_(self):
        if self.lines:  # nothing to say shows nothing (no empty output area)
            from IPython.display import publish_display_data
            publish_display_data({"text/html": self._repr_html_(), "text/plain": str(self)})

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


def paragraphs(*texts) -> Paragraphs:
    """``display(rl.report.tables.paragraphs(model.interpretation, *notes))``: one paragraph per line
    of each text (``None`` and empty texts are skipped)."""
    lines = []
    for t in texts:
        if t is None:
            continue
        if isinstance(t, (list, tuple)):
            lines.extend(str(x) for x in t)
        else:
            lines.extend(str(t).splitlines())
    return Paragraphs([ln for ln in lines if ln.strip()])


def wide_estimates(frame: pd.DataFrame, index: str, columns: str, kind: str = "share", *,
                   estimate: str = "estimate", low: str = "lower 95%", high: str = "upper 95%",
                   column_label: str = "{:g} days", currency: str | None = None,
                   caption: str | None = None) -> Table:
    """Estimates laid out ``index`` × ``columns`` (e.g. group × horizon), each cell
    ``73.4% [71.7%, 74.9%]``: one table instead of three blocks of estimate / lower / upper."""
    currency = _currency(currency)
    cols = list(dict.fromkeys(frame[columns]))
    rows = []
    for key, grp in frame.groupby(index, sort=False):
        by = grp.set_index(columns)
        row = [str(key)]
        for c in cols:
            if c in by.index:
                r = by.loc[c]
                row.append(fmt.estimate(r[estimate], r[low], r[high], kind, currency=currency))
            else:
                row.append(fmt.MISSING)
        rows.append(row)
    header = [_humanize(index)] + [column_label.format(c) if isinstance(c, (int, float, np.number))
                                   else str(c) for c in cols]
    notes = [f"Estimate [{CI_LABEL}]."]
    if any(fmt.MISSING in r for r in rows):
        notes.append(MISSING_NOTE)
    return Table(header, rows, [False] + [True] * len(cols), notes, caption)


def hazard_ratio_table(summary: pd.DataFrame, caption: str | None = None) -> Table:
    """A Cox model's summary for people: hazard ratio with its 95 % CI and p (the log-scale
    coefficient, its SE and z are left to the model's ``summary``); methods as footnotes."""
    drop = [c for c in ("coef", "se", "lower 95%", "upper 95%", "z", "se(coef)") if c in summary]
    return table(summary.drop(columns=drop), formats={"hazard_ratio": "ratio", "hr_lower": "ratio"},
                 labels={"hazard_ratio": "Hazard ratio"}, caption=caption)


ROI_FORMATS = {"customers": "count", "incremental_revenue": "money", "incremental_margin": "money",
               "reward_cost": "money", "enrolment_cost": "money", "fixed_cost": "money",
               "programme_cost": "money", "net_benefit": "money", "roi": "lift",
               "margin": "share", "p_positive_roi_one_sided": "p"}
ROI_LABELS = {"customers": "Customers the effect applies to",
              "incremental_revenue": "Incremental revenue", "incremental_margin": "Incremental margin",
              "reward_cost": "Rewards paid", "enrolment_cost": "Enrolment costs",
              "fixed_cost": "Fixed costs", "programme_cost": "Programme costs (total)",
              "net_benefit": "Net benefit (margin − costs)", "roi": "ROI", "margin": "Gross margin",
              "p_positive_roi_one_sided": "P(ROI > 0), one-sided"}


def roi_table(roi: dict, currency: str | None = None) -> Table:
    """The ROI of a programme (``report.roi``) in money, with its intervals."""
    return key_values(roi, ROI_FORMATS, labels=ROI_LABELS, currency=currency)


RETENTION_VALUE_FORMATS = {"retention": "share", "margin_per_year": "money", "years": "count",
                           "clv_base": "money", "clv_with_gain": "money",
                           "value_per_customer": "money", "rel_change": "lift", "quoted": "text"}
RETENTION_VALUE_LABELS = {"retention": "Annual retention now", "retention_gain": "Retention gain",
                          "margin_per_year": "Margin per customer per year",
                          "years": "Years valued", "clv_base": "Customer value now",
                          "clv_with_gain": "Customer value with the gain",
                          "value_per_customer": "Worth per customer",
                          "rel_change": "Change in customer value", "quoted": "Often quoted"}


def retention_value_table(value: dict, currency: str | None = None) -> Table:
    """What a retention gain is worth for this customer base (``report.retention_value``)."""
    v = dict(value)
    rows = key_values(v, RETENTION_VALUE_FORMATS, labels=RETENTION_VALUE_LABELS, currency=currency)
    for row, k in zip(rows.rows, [k for k in v if k != "method"]):
        if k == "retention_gain":
            row[1] = fmt.value(v[k], "share", signed=True)
    return rows


def power_table(power: pd.DataFrame) -> Table:
    """Minimum detectable effects (``report.power``) in each metric's units; the power and alpha
    they were computed for in the caption."""
    p = power.copy()
    caption = None
    if {"alpha", "power"} <= set(p.columns) and len(p):
        caption = (f"Smallest effects detectable with {fmt.share(p['power'].iloc[0], decimals=0)}"
                   f" power at alpha {fmt.number(p['alpha'].iloc[0])} (two-sided)")
        p = p.drop(columns=["alpha", "power", "sd"], errors="ignore")
    kind = (lambda r: kind_of_metric(r["metric"]))
    formats = {"n_treated": "count", "n_control": "count", "sd": kind, "mde_abs": kind,
               "mde_members_abs": kind, "mde_rel": "share", "mde_members_rel": "share",
               "alpha": "share", "power": "share", "cuped_se_ratio": "ratio"}
    labels = {"n_treated": "n treated", "n_control": "n control (effective)", "sd": "SD",
              "cuped_se_ratio": "SE ratio after CUPED", "mde_abs": "MDE",
              "mde_rel": "MDE (relative)", "mde_members_abs": "MDE on members",
              "mde_members_rel": "MDE on members (relative)"}
    t = table(p, formats={k: v for k, v in formats.items() if k in p}, labels=labels,
              caption=caption)
    for row in t.rows:
        row[0] = metric_label(row[0])
    return t


def context_table(context: pd.DataFrame) -> Table:
    """Measured lifts beside the ranges practitioners quote (``report.context``)."""
    c = context.copy()
    if not len(c):
        return Table(["Context"], [["No measured lift to compare."]], [False])
    c["quoted range"] = [f"{fmt.share(lo)}–{fmt.share(hi)}" for lo, hi in
                         zip(c["quoted_low"], c["quoted_high"])]
    c = c.drop(columns=["quoted_low", "quoted_high"])
    t = table(c, formats={"measured_rel_lift": "lift", "ci_low": "lift"},
              labels={"measured_rel_lift": "Measured lift", "position": "Point estimate",
                      "quoted": "Source of the quoted range"})
    for row in t.rows:
        row[0] = metric_label(row[0])
    return t


def _scale_text(scale, metric, x, currency):
    if scale in ("rate ratio", "risk ratio", "odds ratio"):
        return fmt.lift(x - 1) if not fmt.is_missing(x) else fmt.MISSING
    if scale == "hazard ratio":
        return fmt.ratio(x)
    return fmt.value(x, kind_of_metric(metric), currency=currency, signed=True)


def effect_text(r, currency: str | None = None) -> tuple[str, str]:
    """``(effect, 95 % interval)`` of one effects row as :func:`effects_table` shows it: the
    difference in the metric's units (money, points, counts), the ratio itself for the hazard
    and rate ratio rows."""
    kind = kind_of_metric(r["metric"])
    if kind == "ratio":
        est = r.get("hazard_ratio") if r["metric"] == "lapse hazard ratio" else \
            r.get("rate_ratio")
        if est is None or fmt.is_missing(est):
            est = 1 + r["rel_lift"]
        return fmt.ratio(est), fmt.interval(1 + r["rel_ci_low"], 1 + r["rel_ci_high"], "ratio")
    return (fmt.value(r["abs_diff"], kind, currency=currency, signed=True),
            fmt.interval(r["ci_low"], r["ci_high"], kind, currency=currency, signed=True))


def sensitivity_table(sensitivity: pd.DataFrame, currency: str | None = None,
                      effects: pd.DataFrame | None = None) -> Table:
    """The sensitivity of each effect on members to unmeasured confounding, in seven columns:
    the estimate and its interval, the E-values of the estimate and of the interval
    (VanderWeele & Ding 2017), the strongest measured covariate, the bias a confounder as strong
    could cause, and the estimate with that covariate left out (the column is left out when no
    row has it: crude benchmarks are not refitted).

    With ``effects`` (the report's effects table) the estimate is the headline's own row, in the
    headline's units (one number, one source); without, the sensitivity row's estimate (ratios
    as relative changes, differences in the metric's units)."""
    currency = _currency(currency)
    rows = []
    key = {} if effects is None else {(r["metric"], r["estimand"]): r
                                      for _, r in effects.iterrows()}
    for _, r in sensitivity.iterrows():
        row = key.get((r["metric"], r.get("estimand")))
        if row is not None:
            est, ci = effect_text(row, currency)
        else:
            est = _scale_text(r["scale"], r["metric"], r["estimate"], currency)
            lo = _scale_text(r["scale"], r["metric"], r["ci_low"], currency)
            hi = _scale_text(r["scale"], r["metric"], r["ci_high"], currency)
            ci = fmt.MISSING if fmt.MISSING in (lo, hi) else f"[{lo}, {hi}]"
        bench = r.get("benchmark")
        if row is None:
            without = _scale_text(r["scale"], r["metric"], r.get("benchmark_estimate_without"),
                                  currency)
        elif kind_of_metric(r["metric"]) == "ratio":   # the ratio itself, as the effect
            without = fmt.ratio(r.get("benchmark_estimate_without"))
        else:
            without = fmt.value(r.get("benchmark_diff_without"), kind_of_metric(r["metric"]),
                                currency=currency, signed=True)
        rows.append([metric_label(r["metric"]), f"{est} {ci}", fmt.ratio(r["evalue"]),
                     fmt.ratio(r["evalue_ci"]), bench if isinstance(bench, str) else fmt.MISSING,
                     fmt.ratio(r.get("benchmark_bias")), without])
    header = ["Metric", f"Effect on members [{CI_LABEL}]", "E-value", "E-value of the interval",
              "Strongest measured covariate", "Its bias factor", "Estimate without it"]
    numeric = [False, True, True, True, False, True, True]
    crude = "benchmark_kind" in sensitivity.columns and \
        (sensitivity["benchmark_kind"] == "crude").all()
    notes = ["E-value: the risk ratio an unmeasured confounder would need with both joining and "
             "the outcome to explain the estimate away (VanderWeele & Ding 2017); of the "
             "interval: to move it to no effect (1 = it already includes no effect).",
             "Bias factor: the largest shift, as a ratio, that a confounder as strong as the "
             "measured covariate " + ("(crude associations: with joining, and with the outcome "
                                      "among non-members)" if crude else "(given the others)") +
             " could cause (Ding & VanderWeele 2016).",
             "Effects in the headline's units" + (" (the effects tables' rows)" if key else
                                                   ": ratios as relative changes") +
             "; each E-value is computed on the ratio scale (differences through the "
             "standardized difference, VanderWeele 2017)."]
    if rows and all(r[-1] == fmt.MISSING for r in rows):
        # no refit without the benchmark (rolling design: crude benchmarks): no empty column
        for r in rows:
            r.pop()
        header.pop()
        numeric.pop()
    if any(fmt.MISSING in r for r in rows):
        notes.append(MISSING_NOTE)
    return Table(header, rows, numeric, notes)


#: How a ``metrics.json`` unit is shown (a kind of :mod:`retention_lab.formatting`).
UNIT_KINDS = {"proportion": "share", "share": "share", "probability": "p", "hazard ratio": "ratio",
              "rate ratio": "ratio", "risk ratio": "ratio", "ratio": "lift", "days": "days",
              "customers": "count", "NPS points": "nps", "points": "nps"}


def unit_kind(unit: str | None) -> tuple[str, str | None, str]:
    """``(kind, currency, unit left to show)`` for a ``metrics.json`` unit: ``"USD per
    customer"`` → money in USD, shown unit ``"per customer"``; ``"proportion"`` → a share."""
    import re
    unit = str(unit or "")
    kind = UNIT_KINDS.get(unit)
    if kind is not None:
        return kind, None, ("" if kind in ("share", "p", "lift", "days", "count") else unit)
    m = re.fullmatch(r"([A-Z]{3}|[$€£¥])(?: (per .*))?", unit)
    if m:
        return "money", m.group(1), m.group(2) or ""
    return "number", None, unit


def recorded_table(entries: dict | None = None, caption: str | None = None) -> Table:
    """The headline numbers recorded for ``metrics.json`` (default: all recorded so far), each
    in its unit with its 95 % interval; methods as footnotes."""
    if entries is None:
        from .recording import recorded
        entries = recorded()
    rows, methods = [], {}
    for key, v in entries.items():
        v = v if isinstance(v, dict) else {"value": v}
        kind, cur, unit = unit_kind(v.get("unit"))
        label = key
        if v.get("method"):
            methods.setdefault(v["method"], len(methods) + 1)
            label += str(methods[v["method"]]).translate(_SUP)
        signed = "control" in v and "treatment" in v  # an effect: treatment − control
        rows.append([label, fmt.value(v.get("value"), kind, currency=cur, signed=signed),
                     fmt.interval(v.get("ci_low"), v.get("ci_high"), kind, currency=cur,
                                  signed=signed),
                     unit, fmt.count(v["n"]) if v.get("n") is not None else fmt.MISSING])
    notes = [f"{str(i).translate(_SUP)} {m}" for m, i in methods.items()]
    if any(fmt.MISSING in r for r in rows):
        notes.append("— no interval or sample size recorded for this number.")
    return Table(["Metric", "Estimate", CI_LABEL, "Unit", "n"], rows,
                 [False, True, True, False, True], notes, caption)
