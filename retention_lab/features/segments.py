"""RFM scores (1–5 on recency, frequency and monetary value) and named customer segments.

Business RFM, not BTYD: recency is *days since the last purchase* (lower is better), frequency
the number of purchases, monetary the total spend over the window. Scores are quantile ranks
(``bins`` groups); customers with the same value get the same score.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import in_window
from ..schema import validate_transactions

#: Segment rules, checked in order: (name, description, predicate on R and F scores 1–5).
SEGMENT_RULES = [
    ("Champions", "bought recently, buy often", lambda r, f: (r >= 4) & (f >= 4)),
    ("Loyal", "buy often, fairly recently", lambda r, f: (r >= 3) & (f >= 4)),
    ("Can't lose them", "used to buy often, not for a long time", lambda r, f: (r == 1) & (f >= 4)),
    ("At risk", "bought often, slipping away", lambda r, f: (r <= 2) & (f >= 3)),
    ("New", "first purchase recently", lambda r, f: (r >= 4) & (f <= 1)),
    ("Potential loyalists", "recent, a few purchases", lambda r, f: (r >= 4) & (f <= 3)),
    ("Need attention", "middling recency and frequency", lambda r, f: (r == 3) & (f <= 3)),
    ("Hibernating", "long gone, bought little", lambda r, f: (r <= 2) & (f <= 2)),
]


def _score(values: pd.Series, bins: int, higher_is_better: bool = True) -> pd.Series:
    x = values if higher_is_better else -values
    pct = x.rank(method="min", pct=True)  # ties share the lower score
    return np.ceil(pct * bins).clip(1, bins).astype(int)


def rfm_scores(tx: pd.DataFrame, observation_end=None, *, bins: int = 5,
               validate: bool = True) -> pd.DataFrame:
    """Per customer: ``recency_days, n_purchases, total_spend``, the scores ``R, F, M`` (1–``bins``,
    higher is better), ``RFM`` (e.g. ``"545"``) and ``segment`` (see :data:`SEGMENT_RULES`;
    ``"Others"`` if no rule matches)."""
    if validate:
        tx, _ = validate_transactions(tx)
    end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    tx = tx.loc[in_window(tx["date"], end)]
    g = tx.groupby("customer_id")
    out = pd.DataFrame({
        "recency_days": (end.normalize() - g["date"].max().dt.normalize()).dt.days,
        "n_purchases": tx.assign(day=tx["date"].dt.normalize()).groupby("customer_id")["day"].nunique(),
        "total_spend": g["amount"].sum(),
    })
    out["R"] = _score(out["recency_days"], bins, higher_is_better=False)
    out["F"] = _score(out["n_purchases"], bins)
    out["M"] = _score(out["total_spend"], bins)
    out["RFM"] = out["R"].astype(str) + out["F"].astype(str) + out["M"].astype(str)
    scale = 5 / bins
    r, f = np.ceil(out["R"] * scale), np.ceil(out["F"] * scale)
    segment = pd.Series("Others", index=out.index, dtype=object)
    for name, _, rule in reversed(SEGMENT_RULES):
        segment = segment.mask(rule(r, f), name)
    out["segment"] = segment
    return out
