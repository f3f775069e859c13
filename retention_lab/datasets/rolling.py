"""``design="rolling"``: a loyalty programme that enrols continuously, at checkout.

The generative model
--------------------
* **Acquisition.** First purchases (``signup_date``) are uniform over the ``acquisition_days``
  before ``launch_date`` *and* the ``acquisition_after_days`` after it (default 365 + 183 days,
  18 months): a third of the customers have no history before the launch.
* **Purchasing and spend** follow the other designs (BG/NBD with channel multipliers,
  Gamma-Gamma with region multipliers; Fader, Hardie & Lee 2005a, 2005b). Order values are
  rounded to cents in the simulation itself, so the truth is computed on the same amounts as the
  tables.
* **Enrolment at a purchase.** Enrolment opens at the launch. At every purchase dated on or after
  the launch that is the customer's ``enrol_from_purchase``-th or later (default the 3rd), a
  customer who is not yet a member enrols with the per-purchase probability (hazard)

      logit h = b0 + s · (b_n log k + b_r log(1 + g / 30.44) + b_t tenure + b_ref referral)
                + latent_selection · z

  where ``k`` is the number of purchases so far (this one included), ``g`` the days since the
  previous purchase, ``tenure`` the years since sign-up, ``referral`` the acquisition channel,
  ``z = (log λ − E log λ) / sd(log λ)`` the customer's standardised latent buying rate (before
  the channel multiplier; moments of the Gamma), ``s = selection_strength`` and
  ``b = ENROL_HAZARD`` updated by ``enrol_hazard``. With ``latent_selection = 0`` enrolment
  depends on observed history only (sequential ignorability holds given purchases so far,
  recency, tenure and channel); a positive weight selects members on a latent rate that history
  reveals only partly.
* **The programme** acts from the enrolment purchase on: the dropout probability after the
  enrolment purchase and every later one is multiplied by ``1 − dropout_reduction``, the purchase
  rate by ``1 + freq_lift`` and later order values by ``1 + spend_lift``. The enrolment basket
  itself is unchanged (it was filled before the customer joined at checkout).
* **Surveys** as the other designs (one survey at a uniform date after the launch for a random
  ``survey_share``; membership at the survey date lifts the latent NPS / CSAT).
* **Tier** is set by the value of the acquisition order (pre-treatment for every customer):
  below 40 bronze, below 70 silver, else gold.

Index date and windows
----------------------
A member's *index date* ``d0`` is their ``enrolled_at`` day (the day of the enrolment purchase).
Their outcome window is the ``horizon_days`` days after it, ``(d0, d0 + h]``: the index day itself
(the enrolment purchase and any other order that day) is excluded, since both a member and a
comparison customer who bought on that day share it. Retention is a purchase in the
``retention_days`` after the window, ``(d0 + h, d0 + h + R]`` (``retention_days=None``: up to the
observation end, as in the launch design). A member is *evaluable* when both windows end by the
observation end (``d0 + h + R <= observation_end``; ``R = 0`` with ``None``) — the members
:func:`retention_lab.impact.rolling` analyses with the same ``horizon_days`` and
``retention_days``.

The truth
---------
Every customer is simulated in world 1 (programme available; what the tables show) and world 0
(no programme) with common random numbers, so the two worlds coincide up to the enrolment
purchase. ``exp.truth`` holds:

``truth["effect_on_members"]``
    ``{metric: {control, treatment, abs_diff, rel_lift}}``: the ATT over the evaluable members,
    ``control`` = world 0, ``treatment`` = world 1, for the metrics in
    :data:`ROLLING_TRUTH_METRICS` (the keys of the other designs, anchored at each member's own
    index date). ``nps`` / ``csat`` are over the evaluable members whose survey date falls after
    their index date.
``truth["members"]``
    One row per observed member: ``customer_id``, ``enrolled_at``, ``enrol_purchase`` (``k``),
    ``evaluable``, ``surveyed_after_index`` and ``<metric>_0`` / ``<metric>_1`` for purchases,
    spend, retention, rmst, alive, clv (both potential outcomes), so the truth of any subset of
    members (e.g. the ones an estimator can match) is one ``groupby`` away. The windows of
    members who are not evaluable run past the observation end (simulated, not observed).
``truth["event_time"]``
    The event-study truth: per month since the enrolment month (``event_time``), the mean over
    members observed in that calendar month of world 1 − world 0 purchases and spend in it
    (``purchases``, ``spend``, ``n``; months from the acquisition month to the last complete
    month). This is Callaway & Sant'Anna's ATT(g, g + e) aggregated with cohort-size weights;
    it is exactly 0 before enrolment.
``truth["untreated_transactions"]``
    World 0's transactions over the observed window (``customer_id, date, amount``): what every
    customer would have bought without the programme.
``truth["take_up"]``, ``truth["n_members"]``, ``truth["n_members_evaluable"]``, ``truth["roi"]``
    (evaluable members; cost = ``cost_per_member`` + ``reward_rate`` × members' spend in their
    windows), ``truth["windows"]`` (definitions, ``horizon_days``, ``launch_date``,
    ``observation_end``, ``last_evaluable_index_date``) and ``truth["params"]``.

There is no ``truth["naive"]``: a members-vs-non-members contrast has no single window when every
member has their own index date.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from ..errors import DataQuality
from ..experiment_data import ExperimentData
from ..units import DAYS_PER_YEAR
from ._shared import (
    CHANNEL_DROPOUT,
    CHANNEL_RATE,
    CHANNEL_SHARE,
    CHANNELS,
    DAYS_PER_MONTH,
    REGION_SPEND,
    REGIONS,
    _contrast,
    _roi,
    _survey_scores,
    _Worlds,
)

#: Logit coefficients of the per-purchase enrolment hazard (see the module docstring).
ENROL_HAZARD = {"intercept": -2.4, "log_purchases": 0.8, "log_recency_months": -0.5,
                "tenure_years": 0.3, "referral": 0.5}
FIRST_ORDER_TIERS = (40.0, 70.0)  # acquisition order value: < 40 bronze, < 70 silver, else gold

#: Metric → definition used for the truth (windows in days after each member's index date d0).
ROLLING_TRUTH_METRICS = {
    "purchases": "orders per member dated in (d0, d0 + h]",
    "spend": "spend per member dated in (d0, d0 + h]",
    "aov": "average order value in (d0, d0 + h] (total spend / total orders)",
    "retention": "share with a purchase dated in (d0 + h, d0 + h + R] (R = retention_days; "
                 "None: up to observation_end)",
    "rmst": "mean of min(T, h), T = days from d0 to the last purchase up to observation_end",
    "alive": "share still alive (latent, not dropped out) at d0 + h",
    "clv": "mean discounted spend in the 12 months after observation_end (1 %/month, margin 1)",
    "nps": "NPS (−100…100) of the latent score of members surveyed after d0",
    "csat": "share of CSAT 4–5 of the latent score of members surveyed after d0",
}
MEMBER_METRICS = ("purchases", "spend", "retention", "rmst", "alive", "clv")


def simulate_rolling(n: int, seed, *, launch_date, acquisition_days, acquisition_after_days,
                     followup_days, horizon_days, r, alpha, a, b, spend_p, spend_q, spend_gamma,
                     retention_days, freq_lift, dropout_reduction, spend_lift,
                     selection_strength,
                     latent_selection, enrol_hazard, enrol_from_purchase, reward_rate,
                     cost_per_member, fixed_cost, survey_share, nps_lift, csat_lift,
                     discount_rate, truth_margin) -> ExperimentData:
    """The rolling design of :func:`~retention_lab.datasets.simulate_loyalty_experiment`."""
    unknown = set(enrol_hazard or {}) - set(ENROL_HAZARD)
    if unknown:
        raise ValueError(f"enrol_hazard keys must be among {sorted(ENROL_HAZARD)}, "
                         f"not {sorted(unknown)}")
    if int(enrol_from_purchase) < 1:
        raise ValueError("enrol_from_purchase must be at least 1")
    coef = dict(ENROL_HAZARD, **(enrol_hazard or {}))
    rng = np.random.default_rng(seed)
    launch = pd.Timestamp(launch_date).normalize()
    start = launch - pd.Timedelta(days=acquisition_days)
    L = float(acquisition_days)
    E = L + followup_days
    far = E + 366.0
    h = float(horizon_days)
    R = None if retention_days is None else float(retention_days)

    signup = rng.uniform(0.0, L + acquisition_after_days, n)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARE)
    region = rng.integers(0, len(REGIONS), n)
    ch_rate = np.array([CHANNEL_RATE[c] for c in CHANNELS])[channel]
    ch_drop = np.array([CHANNEL_DROPOUT[c] for c in CHANNELS])[channel]
    lam0 = rng.gamma(r, 1.0 / alpha, n)
    p_drop = np.clip(rng.beta(a, b, n) * ch_drop, 0.0, 0.999)
    nu = rng.gamma(spend_q, 1.0 / spend_gamma, n)
    region_mult = np.array([REGION_SPEND[g] for g in REGIONS])[region]
    z = (np.log(lam0) - (special.digamma(r) - np.log(alpha))) / np.sqrt(special.polygamma(1, r))
    referral = (channel == CHANNELS.index("referral")).astype(float)

    def hazard(k, gap, tenure, idx):
        s = selection_strength
        logit = (coef["intercept"]
                 + s * (coef["log_purchases"] * np.log(k)
                        + coef["log_recency_months"] * np.log1p(gap / DAYS_PER_MONTH)
                        + coef["tenure_years"] * tenure / DAYS_PER_YEAR
                        + coef["referral"] * referral[idx])
                 + latent_selection * z[idx])
        return special.expit(logit)

    worlds, enrol_k, first_amount = _rolling_worlds(
        rng, signup, lam0 * ch_rate, p_drop, nu, region_mult, spend_p, L, far,
        (freq_lift, dropout_reduction, spend_lift), hazard, int(enrol_from_purchase))
    enrol_time = worlds.enrol_time
    member = np.isfinite(enrol_time) & (enrol_time < E + 1.0)

    # --- observed tables (world 1) ---------------------------------------------------------
    tx = _transactions(worlds, 1, E, start)
    tx.insert(0, "order_id", np.arange(1, len(tx) + 1))
    tx["quantity"] = 1 + rng.poisson(0.6, len(tx))
    tier = np.where(first_amount < FIRST_ORDER_TIERS[0], "bronze",
                    np.where(first_amount < FIRST_ORDER_TIERS[1], "silver", "gold"))
    d0 = np.where(member, np.floor(np.where(member, enrol_time, 0.0)), np.nan)
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "signup_date": start + pd.to_timedelta(np.floor(signup).astype(np.int64), unit="D"),
        "acquisition_channel": np.asarray(CHANNELS, dtype=object)[channel],
        "region": np.asarray(REGIONS, dtype=object)[region],
        "tier": tier.astype(object),
        "enrolled_at": start + pd.to_timedelta(d0, unit="D"),
    })
    scores = _survey_scores(rng, n, L, E, worlds, enrol_time, nps_lift, csat_lift)
    sampled = rng.random(n) < survey_share
    surveys = pd.DataFrame({
        "customer_id": np.flatnonzero(sampled) + 1,
        "date": start + pd.to_timedelta(np.floor(scores["time"][sampled]).astype(np.int64), "D"),
        "nps": scores["nps"][sampled, 1].astype(np.int64),
        "csat": scores["csat"][sampled, 1].astype(np.int64),
    }).sort_values(["date", "customer_id"]).reset_index(drop=True)

    # --- truth -----------------------------------------------------------------------------
    out = _member_outcomes(worlds, n, d0, E, h, R, discount_rate)
    evaluable = member & (d0 + h + (R or 0.0) <= E)
    after = member & (np.floor(scores["time"]) > d0)
    truth: dict = {"design": "rolling", "metrics": list(ROLLING_TRUTH_METRICS)}
    truth["effect_on_members"] = _effects_on_members(out, scores, evaluable, after)
    truth["take_up"] = float(member.mean())
    truth["n_members"] = int(member.sum())
    truth["n_members_evaluable"] = int(evaluable.sum())
    cost = cost_per_member * member + reward_rate * out["member_spend"]
    truth["roi"] = _roi(out, evaluable, cost, fixed_cost, truth_margin)
    truth["members"] = _members_truth(out, member, customers, enrol_k, evaluable, after)
    truth["event_time"] = _event_time_truth(worlds, n, member, d0, signup, start, E)
    truth["untreated_transactions"] = _transactions(worlds, 0, E, start)
    last_index = start + pd.Timedelta(days=E - h - (R or 0.0))
    truth["windows"] = dict(ROLLING_TRUTH_METRICS, horizon_days=int(horizon_days),
                            retention_days=None if R is None else int(R),
                            launch_date=str(launch.date()),
                            observation_end=str((start + pd.Timedelta(days=E)).date()),
                            last_evaluable_index_date=str(last_index.date()))
    params = dict(n_customers=n, design="rolling", seed=seed, launch_date=launch,
                  acquisition_days=acquisition_days,
                  acquisition_after_days=acquisition_after_days, followup_days=followup_days,
                  horizon_days=horizon_days, retention_days=retention_days, r=r, alpha=alpha,
                  a=a, b=b, spend_p=spend_p, spend_q=spend_q, spend_gamma=spend_gamma,
                  freq_lift=freq_lift, dropout_reduction=dropout_reduction,
                  spend_lift=spend_lift, selection_strength=selection_strength,
                  latent_selection=latent_selection,
                  enrol_hazard=coef, enrol_from_purchase=int(enrol_from_purchase),
                  reward_rate=reward_rate, cost_per_member=cost_per_member,
                  fixed_cost=fixed_cost, survey_share=survey_share, nps_lift=nps_lift,
                  csat_lift=csat_lift, discount_rate=discount_rate)
    truth["params"] = params
    return ExperimentData(transactions=tx, customers=customers, surveys=surveys,
                          observation_end=start + pd.Timedelta(days=E), launch_date=launch,
                          design="self_selected", truth=truth, quality=DataQuality(),
                          params=dict(params, source="simulated"))


def _effects_on_members(out, scores, evaluable, after) -> dict:
    """Each metric's true effect on the evaluable members: both worlds of the same customers
    (the scores: of those surveyed after their enrolment)."""
    table = {m: _contrast(out[m][evaluable, 0], out[m][evaluable, 1], m) for m in MEMBER_METRICS}
    tot = out["purchases"][evaluable].sum(axis=0)
    spend = out["spend"][evaluable].sum(axis=0)
    c, t = spend[0] / max(tot[0], 1), spend[1] / max(tot[1], 1)
    table["aov"] = {"control": float(c), "treatment": float(t), "abs_diff": float(t - c),
                    "rel_lift": float((t - c) / c) if c else float("nan")}
    surveyed = evaluable & after
    for m in ("nps", "csat"):
        table[m] = _contrast(scores[m][surveyed, 0].astype(float),
                             scores[m][surveyed, 1].astype(float), m)
    return {m: table[m] for m in ROLLING_TRUTH_METRICS}


def _members_truth(out, member, customers, enrol_k, evaluable, after) -> pd.DataFrame:
    """One row per member: enrolment, and each metric in both worlds (``<metric>_0``, ``_1``)."""
    ids = np.flatnonzero(member)
    members = pd.DataFrame({"customer_id": ids + 1,
                            "enrolled_at": customers["enrolled_at"].to_numpy()[ids],
                            "enrol_purchase": enrol_k[ids].astype(np.int64),
                            "evaluable": evaluable[ids], "surveyed_after_index": after[ids]})
    for m in MEMBER_METRICS:
        members[f"{m}_0"] = out[m][ids, 0]
        members[f"{m}_1"] = out[m][ids, 1]
    return members


def _rolling_worlds(rng, signup, lam, p_drop, nu, region_mult, spend_p, L, far, effects,
                    hazard, enrol_from):
    """Purchase paths in world 0 (no programme) and world 1 (enrolment open from ``L``).

    Each pass handles one purchase index of every customer still active: (1) the world-1
    enrolment decision at the current purchase, (2) dropout after it (repeat purchases only, as
    in BG/NBD), (3) the next purchase. Both worlds use the same uniforms at the same purchase
    index (common random numbers), so they agree until the enrolment purchase.
    """
    freq_lift, dropout_reduction, spend_lift = effects
    n = len(signup)
    t = np.column_stack([signup, signup])
    prev = np.full((n, 2), np.nan)
    count = np.ones((n, 2))
    live = np.ones((n, 2), bool)
    member = np.zeros(n, bool)
    enrol_time = np.full(n, np.inf)
    enrol_k = np.zeros(n)
    death = np.full((n, 2), np.inf)
    first_amount = np.round(rng.gamma(spend_p, 1.0 / nu) * region_mult, 2)
    logs = [(np.repeat(np.arange(n), 2), np.tile([0, 1], n), t.ravel().copy(),
             np.repeat(first_amount, 2), np.zeros(2 * n, bool))]
    active = np.arange(n)
    while active.size:
        m = active.size
        u_enrol, u_drop, u_gap = rng.random(m), rng.random(m), rng.random(m)
        g_amt = rng.gamma(spend_p, 1.0, m)
        cand = (live[active, 1] & ~member[active] & (t[active, 1] >= L)
                & (count[active, 1] >= enrol_from))
        ci = active[cand]
        gap = np.where(np.isnan(prev[ci, 1]), 0.0, t[ci, 1] - prev[ci, 1])
        join = u_enrol[cand] < hazard(count[ci, 1], gap, t[ci, 1] - signup[ci], ci)
        joined = ci[join]
        member[joined] = True
        enrol_time[joined] = t[joined, 1]
        enrol_k[joined] = count[joined, 1]
        keep = np.zeros(m, bool)
        for w in (0, 1):
            sel = np.flatnonzero(live[active, w])
            idx = active[sel]
            mem = member[idx] if w == 1 else np.zeros(idx.size, bool)
            p = p_drop[idx] * np.where(mem, 1.0 - dropout_reduction, 1.0)
            dies = (count[idx, w] >= 2) & (u_drop[sel] < p)
            death[idx[dies], w] = t[idx[dies], w]
            live[idx[dies], w] = False
            sel, idx, mem = sel[~dies], idx[~dies], mem[~dies]
            t_new = t[idx, w] - np.log(u_gap[sel]) / (lam[idx] * np.where(mem, 1 + freq_lift, 1))
            ok = t_new < far
            live[idx[~ok], w] = False
            sel, idx, mem, t_new = sel[ok], idx[ok], mem[ok], t_new[ok]
            amount = np.round(g_amt[sel] / nu[idx] * region_mult[idx]
                              * np.where(mem, 1.0 + spend_lift, 1.0), 2)
            prev[idx, w] = t[idx, w]
            t[idx, w] = t_new
            count[idx, w] += 1
            logs.append((idx, np.full(idx.size, w), t_new, amount, mem))
            keep[sel] = True
        active = active[keep]
    cust, world, time, amount, mem = (np.concatenate(x) for x in zip(*logs))
    return _Worlds(cust, world, time, amount, mem, enrol_time, death), enrol_k, first_amount


def _transactions(worlds: _Worlds, w: int, E: float, start: pd.Timestamp) -> pd.DataFrame:
    """World ``w``'s orders dated up to the observation end, in the contract's columns."""
    keep = (worlds.world == w) & (worlds.time < E + 1.0)
    day = np.floor(worlds.time[keep]).astype(np.int64)
    tx = pd.DataFrame({"customer_id": worlds.cust[keep] + 1,
                       "date": start + pd.to_timedelta(day, unit="D"),
                       "amount": worlds.amount[keep]})
    return tx.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


def _member_outcomes(worlds: _Worlds, n, d0, E, h, R, discount_rate) -> dict:
    """Per-customer outcomes in each world over windows anchored at their own index day ``d0``
    (NaN for non-members: every window comparison is then False and the outcome 0)."""
    day = np.floor(worlds.time)
    out = {k: np.zeros((n, 2)) for k in MEMBER_METRICS + ("member_spend",)}
    for w in (0, 1):
        m = worlds.world == w
        c, d, amt = worlds.cust[m], day[m], worlds.amount[m]
        start = d0[c]
        win = (d > start) & (d <= start + h)
        out["purchases"][:, w] = np.bincount(c[win], minlength=n)
        out["spend"][:, w] = np.bincount(c[win], weights=amt[win], minlength=n)
        later = (d > start + h) & (d <= (E if R is None else start + h + R))
        out["retention"][:, w] = np.bincount(c[later], minlength=n) > 0
        seen = d <= E
        last = np.full(n, -np.inf)
        np.maximum.at(last, c[seen], d[seen])
        out["rmst"][:, w] = np.nan_to_num(np.clip(last - d0, 0.0, h))
        out["alive"][:, w] = worlds.death_time[:, w] > d0 + h
        fut = (d > E) & (d <= E + 365)
        disc = amt[fut] * (1.0 + discount_rate) ** (-(d[fut] - E) / DAYS_PER_MONTH)
        out["clv"][:, w] = np.bincount(c[fut], weights=disc, minlength=n)
    out["member_spend"] = out["spend"][:, 1].copy()
    return out


def _month_index(days: np.ndarray, start: pd.Timestamp) -> np.ndarray:
    """Calendar months since ``start``'s month of the dates ``start + days``."""
    dates = pd.DatetimeIndex(start + pd.to_timedelta(days.astype(np.int64), unit="D"))
    return ((dates.year - start.year) * 12 + dates.month - start.month).to_numpy()


def _event_time_truth(worlds: _Worlds, n, member, d0, signup, start, E) -> pd.DataFrame:
    """Mean world 1 − world 0 purchases and spend per calendar month, by months since the
    enrolment month, over the members observed in that month (acquisition month to the last
    complete month)."""
    end_day = start + pd.Timedelta(days=E)
    last_full = int(_month_index(np.array([E]), start)[0])
    if (end_day + pd.Timedelta(days=1)).month == end_day.month:
        last_full -= 1
    n_months = last_full + 1
    ids = np.flatnonzero(member)
    pos = np.full(n, -1)
    pos[ids] = np.arange(ids.size)
    # integer orders and cents, so that months before enrolment difference to exactly 0
    diff = {k: np.zeros((ids.size, n_months), np.int64) for k in ("purchases", "cents")}
    for w, sign in ((1, 1), (0, -1)):
        m = (worlds.world == w) & member[worlds.cust] & (worlds.time < E + 1.0)
        month = _month_index(np.floor(worlds.time[m]), start)
        ok = month <= last_full
        row, month = pos[worlds.cust[m]][ok], month[ok]
        cents = np.round(worlds.amount[m][ok] * 100).astype(np.int64)
        np.add.at(diff["purchases"], (row, month), sign)
        np.add.at(diff["cents"], (row, month), sign * cents)
    cohort = _month_index(d0[ids], start)
    first = _month_index(np.floor(signup[ids]), start)
    cal = np.arange(n_months)
    event = cal[None, :] - cohort[:, None]
    seen = cal[None, :] >= first[:, None]
    rows = []
    for e in np.unique(event[seen]):
        cell = seen & (event == e)
        rows.append({"event_time": int(e), "purchases": float(diff["purchases"][cell].mean()),
                     "spend": float(diff["cents"][cell].mean() / 100), "n": int(cell.sum())})
    return pd.DataFrame(rows)
