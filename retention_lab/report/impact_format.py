"""Shared pieces of the impact report's words: metric labels and units, number formats for the
sentences and tables (:mod:`retention_lab.report.impact`)."""
from __future__ import annotations

import numpy as np

from .. import formatting as fmt
from ..impact.result import PRIMARY  # noqa: F401 (the headline metrics, for the display modules)
from .recording import get_currency
from .tables import kind_of_metric

#: display labels of the metric ids
LABELS = {"purchases": "purchases per customer", "spend": "spend per customer",
          "aov": "average order value", "retention": "retention",
          "rmst": "restricted mean active days", "purchase rate": "purchase rate",
          "lapse hazard ratio": "lapse hazard ratio", "clv": "12-month CLV",
          "nps": "NPS", "csat": "CSAT (share 4–5)"}
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
    """``currency`` if given (``""`` for none), else the report's
    (:func:`retention_lab.report.recording.set_currency`)."""
    if currency is not None:
        return currency or None
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
