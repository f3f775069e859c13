"""A rolling-enrolment simulator for the flagship benchmark (not the package's own).

Written for ``benchmarks/flagship_scale.py`` so that the benchmark runs on data the package's
simulator did not make, at up to a million customers in seconds. It is a plain data generator,
not an oracle: the benchmark measures time and memory, not accuracy.

Model (one world, days from ``START``):

* sign-up day uniform over the 548 days from ``START`` (a year before the launch, half a year
  after it); acquisition channel ``web`` / ``store`` / ``referral`` (shares 0.5 / 0.3 / 0.2,
  purchase-rate multipliers 1.0 / 0.8 / 1.3); region one of four (order-value multipliers);
* purchases: BG/NBD — rate ``λ ~ Gamma(1.3, 1/36)`` per day times the channel's multiplier,
  dropout probability ``p ~ Beta(1.2, 20)`` after every repeat purchase;
* order values: ``Gamma(5, ν)``, ``ν ~ Gamma(3, 1/3.5)`` (mean ≈ 52), rounded to cents;
* enrolment at a purchase on or after the launch that is the customer's 2nd or later, with
  probability ``expit(−3.6 + 0.7 log k − 0.4 log(1 + gap/30.44) + 0.4 referral + 0.3 z)``
  (``k`` purchases so far, ``gap`` days since the previous one, ``z`` the standardised log
  rate: some selection on a trait the data do not show);
* membership multiplies the purchase rate by 1.15, the dropout probability by 0.8 and order
  values by 1.03 from the purchase after enrolment on.

Vectorised over customers: one pass per purchase number over the customers still active, so
a million customers (~17M transactions) take a few seconds. :func:`write` stores the tables as
Parquet files for :func:`retention_lab.io.read_experiment`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import digamma, expit, polygamma

START = pd.Timestamp("2023-01-01")
LAUNCH_DAY = 365          # launch on 2024-01-01
END_DAY = 365 + 730       # observation end two years after the launch
ACQUISITION_DAYS = 548
CHANNELS = np.array(["web", "store", "referral"], dtype=object)
CHANNEL_SHARE = (0.5, 0.3, 0.2)
CHANNEL_RATE = np.array([1.0, 0.8, 1.3])
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
REGION_SPEND = np.array([1.0, 0.9, 1.1, 1.05])
R, ALPHA, A, B = 1.3, 36.0, 1.2, 20.0
SPEND_P, SPEND_Q, SPEND_G = 5.0, 3.0, 3.5
HAZARD = dict(intercept=-3.6, log_k=0.7, log_gap=-0.4, referral=0.4, latent=0.3)
EFFECT = dict(rate=1.15, dropout=0.8, spend=1.03)
ENROL_FROM = 2


def simulate(n: int, seed: int = 0):
    """``(transactions, customers)`` DataFrames in the data contract's columns."""
    rng = np.random.default_rng(seed)
    signup = rng.uniform(0.0, ACQUISITION_DAYS, n)
    channel = rng.choice(3, n, p=CHANNEL_SHARE)
    region = rng.integers(0, 4, n)
    lam0 = rng.gamma(R, 1.0 / ALPHA, n)
    z = (np.log(lam0) - (digamma(R) - np.log(ALPHA))) / np.sqrt(polygamma(1, R))
    lam = lam0 * CHANNEL_RATE[channel]
    p = rng.beta(A, B, n)
    nu = rng.gamma(SPEND_Q, 1.0 / SPEND_G, n)
    rmult = REGION_SPEND[region]
    referral = (channel == 2).astype(float)

    t = signup.copy()
    prev = np.full(n, np.nan)
    k = np.ones(n)
    member = np.zeros(n, bool)
    enrol = np.full(n, np.nan)
    first_amt = np.round(rng.gamma(SPEND_P, 1.0, n) / nu * rmult, 2)
    out_c, out_t, out_a = [np.arange(n)], [t.copy()], [first_amt]
    active = np.arange(n)
    while active.size:
        m = active.size
        ta, ka = t[active], k[active]
        # enrolment at the current purchase
        cand = ~member[active] & (ta >= LAUNCH_DAY) & (ka >= ENROL_FROM)
        gap = np.where(np.isnan(prev[active]), 0.0, ta - prev[active])
        logit = (HAZARD["intercept"] + HAZARD["log_k"] * np.log(ka)
                 + HAZARD["log_gap"] * np.log1p(gap / 30.44)
                 + HAZARD["referral"] * referral[active] + HAZARD["latent"] * z[active])
        join = cand & (rng.random(m) < expit(logit))
        member[active[join]] = True
        enrol[active[join]] = ta[join]
        mem = member[active]
        # dropout after a repeat purchase, then the next purchase
        pd_ = p[active] * np.where(mem, EFFECT["dropout"], 1.0)
        alive = ~((ka >= 2) & (rng.random(m) < pd_))
        t_new = ta + rng.exponential(1.0, m) / (lam[active] * np.where(mem, EFFECT["rate"], 1.0))
        go = alive & (t_new < END_DAY + 1)
        idx, tn = active[go], t_new[go]
        amt = np.round(rng.gamma(SPEND_P, 1.0, idx.size) / nu[idx] * rmult[idx]
                       * np.where(member[idx], EFFECT["spend"], 1.0), 2)
        prev[idx], t[idx] = t[idx], tn
        k[idx] += 1
        out_c.append(idx)
        out_t.append(tn)
        out_a.append(amt)
        active = idx
    cust = np.concatenate(out_c)
    day = np.floor(np.concatenate(out_t)).astype(np.int64)
    tx = pd.DataFrame({"customer_id": cust + 1,
                       "date": START + pd.to_timedelta(day, unit="D"),
                       "amount": np.concatenate(out_a)})
    tx = tx.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)
    enrol_day = np.floor(enrol)
    tier = np.where(first_amt < 35, "bronze", np.where(first_amt < 65, "silver", "gold"))
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "signup_date": START + pd.to_timedelta(np.floor(signup).astype(np.int64), unit="D"),
        "acquisition_channel": CHANNELS[channel], "region": REGIONS[region],
        "tier": tier.astype(object),
        "enrolled_at": START + pd.to_timedelta(enrol_day, unit="D")})
    return tx, customers


def observation_end() -> pd.Timestamp:
    return START + pd.Timedelta(days=END_DAY)


def launch_date() -> pd.Timestamp:
    return START + pd.Timedelta(days=LAUNCH_DAY)


def write(n: int, folder, seed: int = 0) -> tuple[Path, Path]:
    """Simulate ``n`` customers and write ``transactions.parquet`` / ``customers.parquet`` in
    ``folder`` (reused when present). Returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tp, cp = folder / "transactions.parquet", folder / "customers.parquet"
    if not (tp.exists() and cp.exists()):
        tx, cust = simulate(n, seed)
        tx.to_parquet(tp, index=False)
        cust.to_parquet(cp, index=False)
    return tp, cp
