"""Customers the Gamma-Gamma spend model cannot take, excluded and counted.

The Gamma-Gamma model (Fader, Hardie & Lee 2005, *JMR* 42(4), eq. 1–3) describes a repeat
buyer's mean spend per purchase, ``monetary_value`` in the BTYD summary, as the mean of
gamma-distributed positive amounts; a repeat buyer whose repeat purchases sum to zero or less
has no place in it (:class:`retention_lab.clv.GammaGammaFitter` refuses the summary with the
rule ``monetary_value > 0 when frequency > 0``). CDNOW's master file has one such customer
(id 10244: 15.96 on 1997-02-07, then 0.00 on 1997-03-07). As the data contract asks, such
customers are excluded — all of their transactions, so that the purchase model and the spend
model describe the same customers — and counted in the data-quality ledger.
"""
from __future__ import annotations

import pandas as pd

from ..errors import DataQuality
from .rfm import rfm_summary

RULE_POSITIVE_SPEND = "monetary_value > 0 when frequency > 0"


def exclude_nonpositive_spend(transactions: pd.DataFrame, observation_end, *,
                              quality: DataQuality | None = None, freq: str = "D"
                              ) -> tuple[pd.DataFrame, DataQuality]:
    """``transactions`` without the customers whose mean repeat spend up to
    ``observation_end`` is not positive (BTYD summary at ``freq``: repeat purchases are the
    purchase periods after the first), and the ledger with one entry counting them.

    Returns ``(transactions, quality)``; ``quality`` is the ledger given (extended) or a new one.
    """
    quality = DataQuality() if quality is None else quality
    summary = rfm_summary(transactions, observation_end, freq=freq)
    bad = summary.index[(summary["frequency"] > 0) & ~(summary["monetary_value"] > 0)]
    if len(bad) == 0:
        return transactions, quality
    drop = transactions["customer_id"].isin(bad)
    quality.record("summary", "monetary_value", RULE_POSITIVE_SPEND, len(bad), "excluded",
                   f"customers whose repeat purchases sum to zero or less ({int(drop.sum()):,} "
                   "transactions): the Gamma-Gamma spend model needs a positive mean spend")
    return transactions.loc[~drop], quality
