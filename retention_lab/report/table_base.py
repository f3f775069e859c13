"""The rules every table for people follows: :class:`Table` and :func:`table`.

:func:`table` turns a DataFrame into a :class:`Table` that Jupyter and the runner's HTML show
without a pandas index, with numbers formatted by :mod:`retention_lab.formatting` (no scientific
notation, integer counts, p-values as ``< 0.001``), each pair of interval columns merged into one
``95 % CI`` column written ``[a, b]``, missing values as ``—`` explained in a footnote, and the
``method`` column moved into numbered footnotes. Long text wraps; numbers never do, so a table
fits a 1,000 px page. :func:`key_values` shows a dict by the same rules.

Money is shown in the ``currency`` a call passes, else in the run's default
(:func:`retention_lab.report.recording.resolve_currency`).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import formatting as fmt
from .recording import resolve_currency

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


def kind_of_metric(metric: str) -> str:
    """The display kind (:mod:`retention_lab.formatting`) of a metric name."""
    return METRIC_KINDS.get(str(metric), "number")



def _currency(currency):
    """The currency a table shows money in: the argument, else the run's default."""
    return resolve_currency(currency)


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
    for lo, _ in pairs:  # an interval takes the kind of the estimate it belongs to
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
