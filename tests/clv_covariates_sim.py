"""Simulators with known covariate effects for the BTYD covariate tests (not the package's own).

``simulate_static``: Pareto/NBD or BG/NBD customers whose α_i, β_i (a_i, b_i) follow the
covariates exactly as the model says; ``simulate_dynamic``: Pareto/NBD customers on a weekly
calendar whose purchase intensity λ·exp(γ_t·x(t)) and dropout hazard μ·exp(γ_l·x(t)) change
with a membership switched on in a random week (and an optional seasonal dummy), simulated in
continuous time (inverse cumulative intensity) and written as dated transactions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ORIGIN = pd.Timestamp("2021-01-04")       # a Monday: calendar week k starts ORIGIN + 7k days


def simulate_static(n, params, g_trans, g_life, T=52.0, seed=0, model="pnbd"):
    """Summary (frequency, recency, T) and covariates (x1 normal, x2 binary) for ``n`` customers
    with ages uniform in [T/4, T] (late acquisition), in continuous time."""
    rng = np.random.default_rng(seed)
    cov = pd.DataFrame({"x1": rng.normal(size=n), "x2": (rng.random(n) < 0.4).astype(float)},
                       index=pd.Index(np.arange(n), name="customer_id"))
    X = cov.to_numpy()
    age = rng.uniform(T / 4, T, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    if model == "pnbd":
        r, alpha, s, beta = params
        lam = rng.gamma(r, 1 / (alpha * np.exp(-X @ g_trans)))
        mu = rng.gamma(s, 1 / (beta * np.exp(-X @ g_life)))
        life = rng.exponential(1 / mu)
        end = np.minimum(life, age)
        for i in range(n):
            k = rng.poisson(lam[i] * end[i])
            if k:
                x[i], tx[i] = k, rng.uniform(0, end[i], k).max()
    else:  # BG/NBD, CLVTools' form: a_i = a e^{γ'z}, b_i = b e^{γ'z}
        r, alpha, a, b = params
        lam = rng.gamma(r, 1 / (alpha * np.exp(-X @ g_trans)))
        f = np.exp(X @ g_life)
        p = rng.beta(a * f, b * f)
        for i in range(n):
            t = 0.0
            while True:
                t += rng.exponential(1 / lam[i])
                if t > age[i]:
                    break
                x[i] += 1
                tx[i] = t
                if rng.random() < p[i]:
                    break
    summ = pd.DataFrame({"frequency": x, "recency": tx, "T": age}, index=cov.index)
    return summ, cov


def simulate_dynamic(n, params, g_trans, g_life, weeks=104, seed=0, p_member=0.5,
                     season=False, max_birth_week=52, return_truth=False):
    """Transactions and the customer × week covariate panel (``member`` and, with ``season``,
    ``q4`` — weeks 40–51 of each year) of a dynamic-covariate Pareto/NBD world.

    Covariate effects: ``g_trans``/``g_life`` dicts {column: coefficient}. Members enrol in a
    week uniform between their birth week + 1 and the last week (so some enrol after the
    observation end has long passed for the others: late enrolment), independently of their
    rates. Order values are Gamma(4, 4/m_i) with m_i ~ 10·Gamma(8)/8 per customer. Returns
    ``(transactions, panel, observation_end)`` and, with ``return_truth``, a per-customer frame
    of the latent ``lam``, ``mu``, ``death`` (weeks on the calendar), ``spend_mean``,
    ``enrol_week`` and ``birth``.
    """
    rng = np.random.default_rng(seed)
    r, alpha, s, beta = params
    birth = rng.uniform(0, max_birth_week, n)
    kb = np.floor(birth).astype(int)
    member = np.zeros((n, weeks))
    enrols = rng.random(n) < p_member
    ke = np.where(enrols, rng.integers(kb + 1, weeks + 20), weeks + 99)
    member[np.arange(weeks)[None, :] >= ke[:, None]] = 1.0
    cols = {"member": member}
    if season:
        cols["q4"] = np.tile(((np.arange(weeks) % 52) >= 40).astype(float), (n, 1))
    lin_t = sum(g_trans.get(c, 0.0) * v for c, v in cols.items())
    lin_l = sum(g_life.get(c, 0.0) * v for c, v in cols.items())
    a, c = np.exp(lin_t), np.exp(lin_l)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    rows, deaths = [], []
    wk = np.arange(weeks + 1, dtype=float)
    for i in range(n):
        # exposure of each week after birth
        expo = np.clip(np.minimum(wk[1:], weeks) - np.maximum(wk[:-1], birth[i]), 0, None)
        C = np.r_[0, np.cumsum(c[i] * expo)]
        E = rng.exponential() / mu[i]
        if E >= C[-1]:
            death = float(weeks) + (E - C[-1]) / c[i, -1]   # after the end: at the last rate
        else:
            k = np.searchsorted(C, E, side="right") - 1
            death = max(wk[k], birth[i]) + (E - C[k]) / c[i, k]
        expo_alive = np.clip(np.minimum(wk[1:], death) - np.maximum(wk[:-1], birth[i]), 0, None)
        A = np.r_[0, np.cumsum(a[i] * expo_alive)]
        n_buy = rng.poisson(lam[i] * A[-1])
        times = [birth[i]]
        if n_buy:
            u = np.sort(rng.uniform(0, A[-1], n_buy))
            k = np.searchsorted(A, u, side="right") - 1
            times += list(np.maximum(wk[k], birth[i]) + (u - A[k]) / a[i, k])
        rows.append(np.c_[np.full(len(times), i), times])
        deaths.append(death)
    tr = np.concatenate(rows)
    spend_mean = 10.0 * rng.gamma(8.0, 1 / 8.0, n)
    cid = tr[:, 0].astype(int)
    tx = pd.DataFrame({"customer_id": cid,
                       "date": ORIGIN + pd.to_timedelta(np.floor(tr[:, 1] * 7), unit="D"),
                       "amount": np.round(rng.gamma(4.0, spend_mean[cid] / 4.0), 2)})
    end = ORIGIN + pd.Timedelta(days=7 * weeks - 1)
    tx = tx.loc[tx["date"] <= end]
    panel = pd.DataFrame({"customer_id": np.repeat(np.arange(n), weeks),
                          "period": np.tile(ORIGIN + pd.to_timedelta(7 * np.arange(weeks), "D"), n)})
    for k, v in cols.items():
        panel[k] = v.ravel()
    if return_truth:
        truth = pd.DataFrame({"lam": lam, "mu": mu, "death": deaths, "spend_mean": spend_mean,
                              "enrol_week": np.where(enrols, ke, -1), "birth": birth})
        return tx.reset_index(drop=True), panel, end, truth
    return tx.reset_index(drop=True), panel, end


def simulate_dynamic_large(n, params, g_trans, g_life, weeks=104, seed=0, p_member=0.5,
                           season=True, max_birth_week=52, chunk=100_000):
    """The world of :func:`simulate_dynamic` (same model, calendar and covariates; another
    random stream), vectorised in chunks of customers for 10⁵–10⁶ customers, with the
    covariates as a table of changes: ``customer_id, period, member[, q4]`` rows at each
    customer's birth week and at every later week where a value changes, marked
    ``attrs["fill"] = "forward"`` (a dense panel would be ``n × weeks`` rows). Returns
    ``(transactions, changes, observation_end)``."""
    rng = np.random.default_rng(seed)
    r, alpha, s, beta = params
    wk = np.arange(weeks, dtype=float)
    q4 = ((np.arange(weeks) % 52) >= 40).astype(float) if season else np.zeros(weeks)
    tx_parts, ch_parts = [], []
    for c0 in range(0, n, chunk):
        m = min(chunk, n - c0)
        ids = np.arange(c0, c0 + m)
        birth = rng.uniform(0, max_birth_week, m)
        kb = np.floor(birth).astype(int)
        enrols = rng.random(m) < p_member
        ke = np.where(enrols, rng.integers(kb + 1, weeks + 20), weeks + 99)
        member = (wk[None, :] >= ke[:, None]).astype(float)
        lin_t = g_trans.get("member", 0.0) * member + g_trans.get("q4", 0.0) * q4[None, :]
        lin_l = g_life.get("member", 0.0) * member + g_life.get("q4", 0.0) * q4[None, :]
        a, c = np.exp(lin_t), np.exp(lin_l)
        lam = rng.gamma(r, 1 / alpha, m)
        mu = rng.gamma(s, 1 / beta, m)
        lo = np.maximum(wk[None, :], birth[:, None])
        expo = np.clip(wk[None, :] + 1 - lo, 0, None)
        C = np.cumsum(c * expo, axis=1)
        E = rng.exponential(size=m) / mu
        k = np.minimum((C <= E[:, None]).sum(1), weeks - 1)       # the week of death
        C_before = np.where(k > 0, C[np.arange(m), k - 1], 0.0)
        death = np.where(E >= C[:, -1], np.inf,
                         lo[np.arange(m), k] + (E - C_before) / c[np.arange(m), k])
        expo_alive = np.clip(np.minimum(wk[None, :] + 1, death[:, None]) - lo, 0, None)
        A = np.cumsum(a * expo_alive, axis=1)
        n_buy = rng.poisson(lam * A[:, -1])
        who = np.repeat(np.arange(m), n_buy)
        u = rng.uniform(0, 1, len(who)) * A[who, -1]
        # the week of each purchase: the first week whose cumulative intensity reaches u
        kk = (A[who] < u[:, None]).sum(1)
        A_before = np.where(kk > 0, A[who, np.maximum(kk - 1, 0)], 0.0)
        t = lo[who, kk] + (u - A_before) / a[who, kk]
        cid = np.r_[ids, ids[who]]
        tt = np.r_[birth, t]
        tx_parts.append(pd.DataFrame({"customer_id": cid, "t": tt}))
        # the covariates' change rows: the birth week and every later week with a new value
        cov = np.stack([member, np.broadcast_to(q4, member.shape)], axis=2)
        change = np.zeros((m, weeks), bool)
        change[:, 1:] = np.any(cov[:, 1:] != cov[:, :-1], axis=2)
        change[np.arange(m), kb] = True
        change &= wk[None, :] >= kb[:, None]
        ci, wi = np.nonzero(change)
        part = pd.DataFrame({"customer_id": ids[ci],
                             "period": ORIGIN + pd.to_timedelta(7 * wi, "D"),
                             "member": member[ci, wi]})
        if season:
            part["q4"] = q4[wi]
        ch_parts.append(part)
    tx = pd.concat(tx_parts, ignore_index=True)
    spend_mean = 10.0 * rng.gamma(8.0, 1 / 8.0, n)
    tx["date"] = ORIGIN + pd.to_timedelta(np.floor(tx.pop("t").to_numpy() * 7), unit="D")
    tx["amount"] = np.round(rng.gamma(4.0, spend_mean[tx["customer_id"].to_numpy()] / 4.0), 2)
    end = ORIGIN + pd.Timedelta(days=7 * weeks - 1)
    tx = tx.loc[tx["date"] <= end].sort_values(["customer_id", "date"], kind="stable")
    changes = pd.concat(ch_parts, ignore_index=True)
    changes.attrs["fill"] = "forward"
    return tx.reset_index(drop=True), changes, end
