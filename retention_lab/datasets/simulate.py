"""``simulate_loyalty_experiment``: a loyalty-programme study with known true effects.

The generative model
--------------------
* **Acquisition.** Customers make their first purchase uniformly over the ``acquisition_days``
  before the programme's ``launch_date``; that day is their ``signup_date``.
* **Purchasing (BG/NBD; Fader, Hardie & Lee 2005).** While alive a customer buys as a Poisson
  process with rate ``λ ~ Gamma(r, α)`` (per day); after every repeat purchase they drop out for
  good with probability ``p ~ Beta(a, b)``. The acquisition channel multiplies ``λ`` and ``p``.
* **Spend (Gamma-Gamma; Fader, Hardie & Lee 2005b).** Order values are ``Gamma(p_s, ν)`` with a
  customer-level ``ν ~ Gamma(q_s, γ_s)``, scaled by region.
* **The programme.** From enrolment on, a member's purchase rate is multiplied by
  ``1 + freq_lift``, their dropout probability by ``1 − dropout_reduction`` and their order
  values by ``1 + spend_lift``. Customers enrol at their first purchase after the launch:

  - ``design="randomized"``: half the customers (``invite_share``) are invited (``arm =
    "treatment"``); an invited customer enrols with probability ``take_up`` (imperfect take-up;
    the control arm cannot enrol);
  - ``design="self_selected"``: everyone may enrol; the probability rises with pre-launch
    activity and is higher for referred customers — so members are heavier, longer-lived buyers
    to begin with, and must survive until their enrolment purchase (immortal time).

  - ``design="rolling"``: customers are also acquired after the launch and enrol at any later
    purchase with a hazard that depends on their observed history plus a configurable latent
    part; every member is anchored at their own enrolment date. That model, its windows and its
    truth are in :mod:`retention_lab.datasets.rolling`.

  Members cost ``cost_per_member`` at enrolment plus ``reward_rate`` of their spend as rewards.
* **Surveys.** A random ``survey_share`` of customers answers one survey at a uniform date after
  the launch (response does not depend on the arm); NPS (0–10) and CSAT (1–5) rise with being
  alive at that date and with membership (``nps_lift``, ``csat_lift`` on the latent scale).
* **Tiers** are set by spend in the year before launch (pre-treatment, defined for everyone).

The truth
---------
Every customer is simulated in two worlds with common random numbers — world 1 with the
programme (invited / eligible) and world 0 without — and ``exp.truth`` is computed from both
potential outcomes of every customer over the same windows the analysis sees, so it is the
finite-sample truth of each estimand, censoring included:

``truth["itt"]`` (randomized: invite vs no invite, everyone), ``truth["effect_on_members"]``
(randomized: customers who enrol when invited — compliers; self-selected: the members, ATT),
``truth["naive"]`` (observed members minus non-members), each ``{metric: {control, treatment,
abs_diff, rel_lift}}`` for the metrics in :data:`TRUTH_METRICS`; plus ``truth["take_up"]``,
``truth["roi"]``, ``truth["windows"]`` and ``truth["params"]``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataQuality
from ..experiment_data import ExperimentData
from ._shared import (
    CHANNEL_DROPOUT,
    CHANNEL_RATE,
    CHANNEL_SHARE,
    CHANNELS,
    DAYS_PER_MONTH,
    REGION_SPEND,
    REGIONS,
    TIER_BOUNDS,
    _contrast,
    _roi,
    _survey_scores,
    _Worlds,
)
from .rolling import simulate_rolling

#: Metric → definition used for the truth (windows in days after ``launch_date``, horizon h).
TRUTH_METRICS = {
    "purchases": "orders per customer dated in [launch, launch + h)",
    "spend": "spend per customer dated in [launch, launch + h)",
    "aov": "average order value in [launch, launch + h) (total spend / total orders)",
    "retention": "share with a purchase dated after launch + h, up to observation_end",
    "rmst": "mean of min(T, h), T = days from launch to the last purchase (0 if none after launch)",
    "alive": "share still alive (latent, not dropped out) at launch + h",
    "clv": "mean discounted spend in the 12 months after observation_end (1 %/month, margin 1)",
    "nps": "NPS (−100…100) of every customer's latent score at their survey date",
    "csat": "share of CSAT 4–5 of every customer's latent score at their survey date",
}


# Over the 120-line guide (133 lines) on purpose: 55 are the docstring of its 30 parameters and
# 24 hand them on (to the rolling design, and into ``params``); each step is a helper.
def simulate_loyalty_experiment(
    n_customers: int = 20_000, design: str = "randomized", seed: int | None = 1, *,
    launch_date="2025-01-01", acquisition_days: int = 365, followup_days: int | None = None,
    horizon_days: int = 365,
    r: float = 0.9, alpha: float = 60.0, a: float = 1.0, b: float = 6.0,
    spend_p: float = 6.0, spend_q: float = 4.0, spend_gamma: float = 25.0,
    freq_lift: float = 0.20, dropout_reduction: float = 0.30, spend_lift: float = 0.0,
    invite_share: float = 0.5, take_up: float = 0.5,
    selection_strength: float = 1.0,
    reward_rate: float = 0.03, cost_per_member: float = 2.0, fixed_cost: float = 0.0,
    survey_share: float = 0.3, nps_lift: float = 0.5, csat_lift: float = 0.4,
    discount_rate: float = 0.01, truth_margin: float = 0.3,
    acquisition_after_days: int = 183, enrol_from_purchase: int = 3,
    latent_selection: float = 0.0, enrol_hazard: dict | None = None,
    retention_days: int | None = 90,
) -> ExperimentData:
    """Simulate a loyalty-programme study with known truth (see the module docstring).

    Parameters
    ----------
    n_customers : int
        Customers acquired in the ``acquisition_days`` before ``launch_date`` (rolling: and in
        the ``acquisition_after_days`` after it).
    design : {"randomized", "self_selected", "rolling"}
        ``"rolling"``: enrolment at any purchase after launch, with a history-dependent hazard
        (:mod:`retention_lab.datasets.rolling` documents the model and its truth); the data's
        ``design`` is then ``"self_selected"`` (what an analyst would call it) and
        ``truth["design"]`` is ``"rolling"``.
    followup_days : int, optional
        Days observed after the launch: default 547 (rolling: 730).
    seed : int
        Everything is deterministic per seed.
    r, alpha, a, b : float
        BG/NBD heterogeneity (rates per day): mean rate ``r/α`` (≈ 5.5 orders a year), mean
        dropout probability ``a/(a+b)`` per repeat purchase.
    spend_p, spend_q, spend_gamma : float
        Gamma-Gamma spend: mean order value ``p γ / (q − 1)`` (= 50).
    freq_lift, dropout_reduction, spend_lift : float
        The programme's true effects on members (0 for a null programme).
    invite_share, take_up : float
        Randomized design: share invited and the invited customers' enrolment probability at
        their first purchase after launch.
    selection_strength : float
        Self-selected design: how strongly enrolment depends on pre-launch activity; rolling:
        the weight of the observed-history terms of the enrolment hazard.
    reward_rate, cost_per_member, fixed_cost : float
        Programme costs: a share of members' spend, per enrolment, and fixed.
    survey_share, nps_lift, csat_lift : float
        Survey sampling and the programme's effect on the latent satisfaction scores.
    discount_rate, truth_margin : float
        Monthly discount rate for the CLV truth; gross margin for the ROI truth.
    acquisition_after_days, enrol_from_purchase, latent_selection, enrol_hazard, retention_days
        Rolling design only: acquisition continues this many days after the launch; the first
        purchase (1 = the acquisition order) at which a customer may enrol; the weight of the
        standardised latent buying rate in the enrolment logit (0: selection on observed
        history only); overrides of :data:`~retention_lab.datasets.rolling.ENROL_HAZARD`; the
        retention window after each member's outcome window (None: up to the observation end).
    """
    if design not in ("randomized", "self_selected", "rolling"):
        raise ValueError(f"design must be 'randomized', 'self_selected' or 'rolling', "
                         f"not {design!r}")
    if n_customers < 2:
        raise ValueError("n_customers must be at least 2")
    if design == "rolling":
        return simulate_rolling(
            int(n_customers), seed, launch_date=launch_date, acquisition_days=acquisition_days,
            acquisition_after_days=acquisition_after_days,
            followup_days=730 if followup_days is None else followup_days,
            horizon_days=horizon_days, retention_days=retention_days, r=r, alpha=alpha, a=a,
            b=b, spend_p=spend_p, spend_q=spend_q, spend_gamma=spend_gamma,
            freq_lift=freq_lift, dropout_reduction=dropout_reduction, spend_lift=spend_lift,
            selection_strength=selection_strength, latent_selection=latent_selection,
            enrol_hazard=enrol_hazard, enrol_from_purchase=enrol_from_purchase,
            reward_rate=reward_rate, cost_per_member=cost_per_member, fixed_cost=fixed_cost,
            survey_share=survey_share, nps_lift=nps_lift, csat_lift=csat_lift,
            discount_rate=discount_rate, truth_margin=truth_margin)
    followup_days = 547 if followup_days is None else followup_days
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    launch = pd.Timestamp(launch_date).normalize()
    start = launch - pd.Timedelta(days=acquisition_days)
    # Time is in days since `start`; launch at L, observation end at E (end of that day).
    L = float(acquisition_days)
    E = L + followup_days
    far = E + 366.0  # simulate a year past the window for the CLV truth

    signup, channel, region, lam, p_drop, nu, region_mult = _draw_customers(
        rng, n, L, r, alpha, a, b, spend_q, spend_gamma)
    invited = rng.random(n) < invite_share if design == "randomized" else np.ones(n, bool)

    if design == "randomized":
        enrol_model = (float(take_up), 0.0, 0.0)
    else:  # logit P(enrol) = c0 + c1 log(1 + pre-launch repeat orders) + c2 [referral]
        enrol_model = (-1.6, 0.9 * selection_strength, 0.6 * selection_strength)
    referral = channel == CHANNELS.index("referral")
    worlds = _simulate_worlds(rng, signup, lam, p_drop, nu, region_mult, spend_p, L, far,
                              freq_lift, dropout_reduction, spend_lift, enrol_model, referral,
                              design)
    pre_spend = _pre_launch_spend(worlds, n, L)
    enrol_time = worlds.enrol_time  # world 1: first purchase after launch of a would-enrol

    observed_world = invited.astype(np.int64)  # randomized: invited see the programme
    member_obs = invited & np.isfinite(enrol_time) & (enrol_time <= E)

    # --- observed tables (the random draws in this order: quantities, scores, survey sample)
    tx, customers = _observed_tables(rng, worlds, observed_world, member_obs, enrol_time,
                                     pre_spend, signup, channel, region, invited, design,
                                     start, E)
    scores = _survey_scores(rng, n, L, E, worlds, enrol_time, nps_lift, csat_lift)
    surveys = _observed_surveys(rng, scores, observed_world, survey_share, start)

    # --- truth -----------------------------------------------------------------------------
    truth = _study_truth(worlds, scores, design, invited, member_obs, observed_world, enrol_time,
                         L, E, horizon_days, discount_rate, freq_lift, reward_rate,
                         cost_per_member, fixed_cost, truth_margin)
    truth["windows"] = dict(TRUTH_METRICS, horizon_days=int(horizon_days),
                            launch_date=str(launch.date()),
                            observation_end=str((start + pd.Timedelta(days=E)).date()))
    params = dict(n_customers=n, design=design, seed=seed, launch_date=launch,
                  acquisition_days=acquisition_days, followup_days=followup_days,
                  horizon_days=horizon_days, r=r, alpha=alpha, a=a, b=b, spend_p=spend_p,
                  spend_q=spend_q, spend_gamma=spend_gamma, freq_lift=freq_lift,
                  dropout_reduction=dropout_reduction, spend_lift=spend_lift,
                  invite_share=invite_share, take_up=take_up,
                  selection_strength=selection_strength, reward_rate=reward_rate,
                  cost_per_member=cost_per_member, fixed_cost=fixed_cost,
                  survey_share=survey_share, nps_lift=nps_lift, csat_lift=csat_lift,
                  discount_rate=discount_rate)
    truth["params"] = params
    return ExperimentData(transactions=tx, customers=customers, surveys=surveys,
                          observation_end=start + pd.Timedelta(days=E), launch_date=launch,
                          design=design, truth=truth, quality=DataQuality(),
                          params=dict(params, source="simulated"))


def _draw_customers(rng, n, L, r, alpha, a, b, spend_q, spend_gamma):
    """Each customer's signup day, channel, region and latent BG/NBD and spend traits (the
    random draws in this order: the study's results depend on it)."""
    signup = rng.uniform(0.0, L, n)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARE)
    region = rng.integers(0, len(REGIONS), n)
    ch_rate = np.array([CHANNEL_RATE[c] for c in CHANNELS])[channel]
    ch_drop = np.array([CHANNEL_DROPOUT[c] for c in CHANNELS])[channel]
    lam = rng.gamma(r, 1.0 / alpha, n) * ch_rate
    p_drop = np.clip(rng.beta(a, b, n) * ch_drop, 0.0, 0.999)
    nu = rng.gamma(spend_q, 1.0 / spend_gamma, n)
    region_mult = np.array([REGION_SPEND[g] for g in REGIONS])[region]
    return signup, channel, region, lam, p_drop, nu, region_mult


def _study_truth(worlds, scores, design, invited, member_obs, observed_world, enrol_time, L, E,
                 horizon_days, discount_rate, freq_lift, reward_rate, cost_per_member,
                 fixed_cost, truth_margin) -> dict:
    """The true effects from both worlds of every customer (see :func:`_truth`)."""
    n = len(invited)
    outcomes = _potential_outcomes(worlds, n, L, E, float(horizon_days), discount_rate,
                                   freq_lift=freq_lift)
    outcomes["nps"] = scores["nps"].astype(float)
    outcomes["csat"] = scores["csat"].astype(float)
    member_if_offered = np.isfinite(enrol_time) & (enrol_time <= E)
    cost = _programme_cost(worlds, n, L, float(horizon_days), reward_rate, cost_per_member)
    return _truth(outcomes, design, invited, member_if_offered, member_obs, observed_world,
                  cost, fixed_cost, truth_margin)


def _observed_tables(rng, worlds, observed_world, member_obs, enrol_time, pre_spend, signup,
                     channel, region, invited, design, start, E) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    """The transactions and customers an analyst sees: each customer's purchases in the world
    they were in (randomized: the invited see the programme) up to the observation end."""
    n = len(signup)
    ev_obs = (worlds.world == observed_world[worlds.cust]) & (worlds.time < E + 1.0)
    order_day = np.floor(worlds.time[ev_obs]).astype(np.int64)
    tx = pd.DataFrame({
        "customer_id": worlds.cust[ev_obs] + 1,
        "date": start + pd.to_timedelta(order_day, unit="D"),
        "amount": np.round(worlds.amount[ev_obs], 2),
    })
    tx = tx.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)
    tx.insert(0, "order_id", np.arange(1, len(tx) + 1))
    tx["quantity"] = 1 + rng.poisson(0.6, len(tx))

    tier = np.where(pre_spend < TIER_BOUNDS[0], "bronze",
                    np.where(pre_spend < TIER_BOUNDS[1], "silver", "gold"))
    enrolled_day = np.where(member_obs, np.floor(np.where(member_obs, enrol_time, 0.0)), np.nan)
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "signup_date": start + pd.to_timedelta(np.floor(signup).astype(np.int64), unit="D"),
        "acquisition_channel": np.asarray(CHANNELS, dtype=object)[channel],
        "region": np.asarray(REGIONS, dtype=object)[region],
        "tier": tier.astype(object),
        "enrolled_at": start + pd.to_timedelta(enrolled_day, unit="D"),
    })
    if design == "randomized":
        customers.insert(1, "arm", np.where(invited, "treatment", "control").astype(object))
    return tx, customers


def _observed_surveys(rng, scores, observed_world, survey_share, start) -> pd.DataFrame:
    """A random ``survey_share`` of customers, each with the scores of the world they were in."""
    n = len(observed_world)
    sampled = rng.random(n) < survey_share
    obs_nps = np.where(observed_world == 1, scores["nps"][:, 1], scores["nps"][:, 0])
    obs_csat = np.where(observed_world == 1, scores["csat"][:, 1], scores["csat"][:, 0])
    return pd.DataFrame({
        "customer_id": np.flatnonzero(sampled) + 1,
        "date": start + pd.to_timedelta(np.floor(scores["time"][sampled]).astype(np.int64), "D"),
        "nps": obs_nps[sampled].astype(np.int64),
        "csat": obs_csat[sampled].astype(np.int64),
    }).sort_values(["date", "customer_id"]).reset_index(drop=True)


def _simulate_worlds(rng, signup, lam, p_drop, nu, region_mult, spend_p, L, far, freq_lift,
                     dropout_reduction, spend_lift, enrol_model, referral, design) -> _Worlds:
    """Purchase paths of every customer in world 0 (no programme) and world 1 (programme).

    Both worlds consume the same uniforms at each purchase index (common random numbers), so
    they coincide until the customer's enrolment purchase and differ only by the programme.
    In world 1 a customer decides once, at their first purchase after launch, whether to enrol
    (probability from ``enrol_model`` and their pre-launch orders, uniform drawn up front).
    """
    n = len(signup)
    u_enrol = rng.random(n)
    decided = np.zeros(n, bool)
    pre_orders = np.ones(n)  # the acquisition purchase
    t = np.column_stack([signup, signup])
    alive = np.ones((n, 2), bool)
    enrolled = np.zeros((n, 2), bool)
    enrol_time = np.full(n, np.inf)
    death = np.full((n, 2), np.inf)
    first_amount = rng.gamma(spend_p, 1.0 / nu) * region_mult
    logs = [(np.repeat(np.arange(n), 2), np.tile([0, 1], n), t.ravel().copy(),
             np.repeat(first_amount, 2), np.zeros(2 * n, bool))]
    active = np.arange(n)
    while active.size:
        u_gap = rng.random(active.size)
        u_drop = rng.random(active.size)
        g_amt = rng.gamma(spend_p, 1.0, active.size)
        keep = np.zeros(active.size, bool)
        for w in (0, 1):
            al = alive[active, w]
            idx = active[al]
            mem = enrolled[idx, w]
            rate = lam[idx] * np.where(mem, 1.0 + freq_lift, 1.0)
            t_new = t[idx, w] + (-np.log(u_gap[al])) / rate
            ok = t_new < far
            alive[idx[~ok], w] = False
            idx, t_new, mem = idx[ok], t_new[ok], mem[ok]
            sel = np.flatnonzero(al)[ok]
            if w == 0:
                pre_orders[idx[t_new < L]] += 1
            else:
                first_post = (~decided[idx]) & (t_new >= L)
                decided[idx[first_post]] = True
                c0, c1, c2 = enrol_model
                if design == "randomized":
                    p_join = np.full(idx.size, c0)
                else:
                    logit = c0 + c1 * np.log(pre_orders[idx]) + c2 * referral[idx]
                    p_join = 1.0 / (1.0 + np.exp(-logit))
                join = first_post & (u_enrol[idx] < p_join)
                enrol_time[idx[join]] = t_new[join]
                enrolled[idx[join], 1] = True
                mem = mem | join
            amount = g_amt[sel] / nu[idx] * region_mult[idx] * np.where(mem, 1.0 + spend_lift, 1.0)
            t[idx, w] = t_new
            logs.append((idx, np.full(idx.size, w), t_new, amount, mem))
            p = p_drop[idx] * np.where(mem, 1.0 - dropout_reduction, 1.0)
            dies = u_drop[sel] < p
            alive[idx[dies], w] = False
            death[idx[dies], w] = t_new[dies]
            keep[sel[~dies]] = True
        active = active[keep]
    cust, world, time, amount, member = (np.concatenate(x) for x in zip(*logs))
    return _Worlds(cust, world, time, amount, member, enrol_time, death)


def _pre_launch_spend(worlds: _Worlds, n: int, L: float) -> np.ndarray:
    """Each customer's spend before launch (the same in both worlds): sets the tier."""
    pre = (worlds.world == 0) & (worlds.time < L)
    return np.bincount(worlds.cust[pre], weights=worlds.amount[pre], minlength=n)


def _potential_outcomes(worlds: _Worlds, n, L, E, h, discount_rate, freq_lift) -> dict:
    """Per-customer outcomes in each world, on the observed (day-floored) dates."""
    day = np.floor(worlds.time)
    out = {k: np.zeros((n, 2)) for k in ("purchases", "spend", "retention", "rmst", "alive",
                                          "clv")}
    for w in (0, 1):
        m = worlds.world == w
        c, d, amt = worlds.cust[m], day[m], worlds.amount[m]
        post = (d >= L) & (d < L + h)
        out["purchases"][:, w] = np.bincount(c[post], minlength=n)
        out["spend"][:, w] = np.bincount(c[post], weights=amt[post], minlength=n)
        later = (d > L + h) & (d <= E)
        out["retention"][:, w] = np.bincount(c[later], minlength=n) > 0
        seen = d <= E
        last = np.full(n, -np.inf)
        np.maximum.at(last, c[seen], d[seen])
        out["rmst"][:, w] = np.clip(last - L, 0.0, h)
        out["alive"][:, w] = worlds.death_time[:, w] > L + h
        fut = (d > E) & (d <= E + 365)
        disc = amt[fut] * (1.0 + discount_rate) ** (-(d[fut] - E) / DAYS_PER_MONTH)
        out["clv"][:, w] = np.bincount(c[fut], weights=disc, minlength=n)
    return out


def _programme_cost(worlds: _Worlds, n, L, h, reward_rate, cost_per_member) -> np.ndarray:
    """World-1 programme cost per customer over [launch, launch + h): enrolment + rewards."""
    m = (worlds.world == 1) & worlds.member & (np.floor(worlds.time) < L + h)
    rewards = reward_rate * np.bincount(worlds.cust[m], weights=worlds.amount[m], minlength=n)
    joined = np.isfinite(worlds.enrol_time) & (np.floor(worlds.enrol_time) < L + h)
    return rewards + cost_per_member * joined


def _table(outcomes: dict, mask0: np.ndarray, mask1: np.ndarray, world0=0, world1=1) -> dict:
    """Contrast of every metric: group ``mask0`` in ``world0`` vs ``mask1`` in ``world1``
    (a world is 0/1 for everyone or a per-customer array, e.g. the observed world)."""
    n = len(mask0)
    w0, w1 = np.broadcast_to(world0, n), np.broadcast_to(world1, n)

    def pick(metric, mask, w):
        return outcomes[metric][mask, w[mask]]

    res = {m: _contrast(pick(m, mask0, w0), pick(m, mask1, w1), m)
           for m in ("purchases", "spend", "retention", "rmst", "alive", "clv", "nps", "csat")}
    c = pick("spend", mask0, w0).sum() / max(pick("purchases", mask0, w0).sum(), 1)
    t = pick("spend", mask1, w1).sum() / max(pick("purchases", mask1, w1).sum(), 1)
    res["aov"] = {"control": float(c), "treatment": float(t), "abs_diff": float(t - c),
                  "rel_lift": float((t - c) / c)}
    return res


def _truth(outcomes, design, invited, member_if_offered, member_obs, observed_world, cost,
           fixed_cost, margin) -> dict:
    n = len(invited)
    everyone = np.ones(n, bool)
    truth: dict = {"design": design, "metrics": list(TRUTH_METRICS)}
    if design == "randomized":
        truth["itt"] = _table(outcomes, everyone, everyone)
        truth["effect_on_members"] = _table(outcomes, member_if_offered, member_if_offered)
        truth["take_up"] = float(member_if_offered.mean())
        truth["roi"] = _roi(outcomes, invited, cost, fixed_cost, margin)
        truth["roi_per_invited_if_all"] = _roi(outcomes, everyone, cost, fixed_cost, margin)
    else:
        truth["effect_on_members"] = _table(outcomes, member_obs, member_obs)
        truth["take_up"] = float(member_obs.mean())
        truth["roi"] = _roi(outcomes, member_obs, cost, fixed_cost, margin)
    truth["naive"] = _table(outcomes, ~member_obs, member_obs, world0=observed_world,
                            world1=observed_world)
    truth["n_members"] = int(member_obs.sum())
    return truth
