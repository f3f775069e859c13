"""Pieces both loyalty simulators share: the customer population's constants, the two-world
event log, the survey model and the contrasts that turn potential outcomes into the truth."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..units import DAYS_PER_UNIT

CHANNELS = ("organic", "paid_search", "social", "referral")
CHANNEL_SHARE = (0.40, 0.25, 0.20, 0.15)
CHANNEL_RATE = {"organic": 1.0, "paid_search": 0.8, "social": 0.9, "referral": 1.25}
CHANNEL_DROPOUT = {"organic": 1.0, "paid_search": 1.3, "social": 1.15, "referral": 0.8}
REGIONS = ("north", "south", "east", "west")
REGION_SPEND = {"north": 1.0, "south": 0.95, "east": 1.05, "west": 1.10}
TIER_BOUNDS = (75.0, 250.0)  # pre-launch spend: < 75 bronze, < 250 silver, else gold
DAYS_PER_MONTH = DAYS_PER_UNIT["M"]


@dataclass
class _Worlds:
    """Event log of both worlds: one row per purchase (customer, world, time, amount)."""
    cust: np.ndarray
    world: np.ndarray
    time: np.ndarray
    amount: np.ndarray
    member: np.ndarray          # purchase made as a member
    enrol_time: np.ndarray      # (n,) world-1 enrolment time (inf if never)
    death_time: np.ndarray      # (n, 2) time of the purchase after which the customer dropped out


def _survey_scores(rng, n, L, E, worlds: _Worlds, enrol_time, nps_lift, csat_lift):
    """Latent NPS and CSAT at one survey date per customer, in both worlds (same noise)."""
    when = rng.uniform(L, E, n)
    e_nps = rng.normal(0.0, 1.8, n)
    e_csat = rng.normal(0.0, 0.9, n)
    nps = np.empty((n, 2), np.int64)
    csat = np.empty((n, 2), np.int64)
    for w in (0, 1):
        alive = worlds.death_time[:, w] > when
        member = (enrol_time <= when) if w == 1 else np.zeros(n, bool)
        nps[:, w] = np.clip(np.round(6.6 + 1.6 * alive + nps_lift * member + e_nps), 0, 10)
        csat[:, w] = np.clip(np.round(3.3 + 0.7 * alive + csat_lift * member + e_csat), 1, 5)
    return {"time": when, "nps": nps, "csat": csat}


def _contrast(y0: np.ndarray, y1: np.ndarray, metric: str) -> dict:
    if metric == "nps":
        c = 100 * (np.mean(y0 >= 9) - np.mean(y0 <= 6))
        t = 100 * (np.mean(y1 >= 9) - np.mean(y1 <= 6))
    elif metric == "csat":
        c, t = np.mean(y0 >= 4), np.mean(y1 >= 4)
    else:
        c, t = float(np.mean(y0)), float(np.mean(y1))
    return {"control": float(c), "treatment": float(t), "abs_diff": float(t - c),
            "rel_lift": float((t - c) / c) if c else float("nan")}


def _roi(outcomes, group, cost, fixed_cost, margin) -> dict:
    inc_rev = float((outcomes["spend"][group, 1] - outcomes["spend"][group, 0]).sum())
    prog = float(cost[group].sum() + fixed_cost)
    inc_margin = margin * inc_rev
    return {"customers": int(group.sum()), "incremental_revenue": inc_rev,
            "incremental_margin": inc_margin, "programme_cost": prog, "margin": margin,
            "net_benefit": inc_margin - prog,
            "roi": (inc_margin - prog) / prog if prog else float("nan")}
