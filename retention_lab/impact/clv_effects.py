"""Customer lifetime value per group: BG/NBD + Gamma-Gamma fitted separately to each arm (or to
members and non-members), expected CLV of every customer over the next ``months`` months after
the observation end (``rl.clv.customer_lifetime_value``), and the difference of group means.

The interval of the difference combines (a) the customer-sampling variation of the predicted
values (influence functions of the — weighted — means) and (b) the parameter uncertainty of the
fitted models — the delta-method interval of each group's mean CLV from
``customer_lifetime_value(method="delta")`` (independent models, so the variances add).
Caveat stated in the report: BG/NBD assumes stationary purchase and dropout rates, so a member's
history before enrolment dilutes the post-enrolment change it infers.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def predicted_clv(data, out: pd.DataFrame, groups: dict, *, months: int = 12,
                  discount_rate: float = 0.01, margin: float = 1.0, n_draws: int = 100,
                  seed: int = 0) -> tuple[pd.Series, dict]:
    """Per-customer expected CLV (index of ``out``; customers without transactions get 0) from
    a BG/NBD + Gamma-Gamma pair fitted to each group, and each group's delta-method variance of
    the mean CLV (parameter uncertainty). Returns ``(clv, info)``."""
    from .. import clv as rlclv
    from ..features import rfm_summary
    end = out.attrs["observation_end"]
    tx = data.transactions
    values = pd.Series(0.0, index=out.index)
    info = {}
    for name, mask in groups.items():
        ids = out.index[np.asarray(mask, bool)]
        summ = rfm_summary(tx.loc[tx["customer_id"].isin(ids)], observation_end=end, freq="D",
                           validate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bg = rlclv.BetaGeoFitter().fit(summ)
            rep = summ.loc[summ["frequency"] > 0]
            gg = rlclv.GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
            res = rlclv.customer_lifetime_value(bg, gg, summ, horizon=months, freq="M",
                                                discount_rate=discount_rate, margin=margin,
                                                method="delta", customer_intervals=False)
        values.loc[res.customers.index] = res.customers["clv"].to_numpy()
        draws = getattr(res, "mean_draws", None)
        info[name] = dict(bg=bg, gg=gg, mean=res.mean, mean_ci=res.mean_ci,
                          param_var=float(np.var(draws)) if draws is not None else
                          ((res.mean_ci[1] - res.mean_ci[0]) / 3.92) ** 2, n=len(summ))
    return values, info
