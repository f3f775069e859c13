"""The rolling-enrolment analysis on mechanisms it was not designed around (issue 19, items 6
and 8): a simulator written here, not the package's (retention_lab/datasets/rolling.py) nor
tests/impact_rolling_data.py.

The simulator
-------------
* Customers are acquired uniformly from ``acquire[0]`` to ``acquire[1]`` days around the launch
  (day 0), so many arrive after the launch (late entry).
* Purchases are a **renewal process** with gamma(shape 2) gaps of mean ``1/λ`` (not Poisson, so
  not the BG/NBD's own process), ``λ ~ Gamma(1.5)`` with mean 7 purchases a year, and each
  customer leaves for good at an exponential calendar lifetime (mean 2.5 years; not the BG/NBD's
  dropout at purchases).
* Times are floored to days: two purchases on one day happen (ties), and a purchase day is
  written as two lines (the amount split) with probability ``p_split``.
* **Enrolment at a purchase, chosen on the inter-purchase gap**: at every purchase on or after
  the launch a not-yet-member joins with probability
  ``sigmoid(base + gap_slope·log(30 / gap) + 0.3·log1p(earlier purchases))``, ``gap`` the days
  since the previous purchase (the first purchase: no gap term) — a short gap makes joining
  likelier.
* From enrolment on the member's gaps are divided by ``1 + lift`` (+25 % purchase rate).
* Order values: gamma with mean 45, times ``(1 + drift)^(t / 365)`` (calendar price drift).
* **Truth with common random numbers**: the untreated world uses the same gap draws, lifetime,
  order values and enrolment draws; before enrolment both worlds coincide, after it the member's
  gaps are ``G_k / λ`` (untreated) or ``G_k / ((1 + lift) λ)`` (treated). The true effect on a
  member is, in the window ``(enrolment, enrolment + h]``, the difference between the worlds'
  purchase days, spend, and (retention) any purchase day in ``(e + h, e + h + R]``; the truth of
  a study is its mean over the members the analysis kept.

Fast tests (default suite) run one study through CSV files and :func:`rl.io.read_experiment`.
The slow studies (200 seeds each) are :func:`test_gap_selection_coverage` and
:func:`test_price_drift_null_coverage`; their measured numbers are in their docstrings.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_rolling_coverage import coverage_table

import retention_lab as rl
from retention_lab.impact.rolling import trials as R

LAUNCH = pd.Timestamp("2024-01-01")
PRIMARY = ("purchases", "spend", "retention")


def simulate_gap_enrolment(n: int = 4000, seed: int = 0, *, lift: float = 0.25,
                           drift: float = 0.0, base: float = -3.6, gap_slope: float = 0.8,
                           acquire=(-400, 450), end_day: int = 760, horizon_days: int = 180,
                           retention_days: int = 90, p_split: float = 0.15,
                           mean_rate: float = 7 / 365, design: str = "self_selected",
                           untreated: bool = False, gap_sigma: float | None = None,
                           life_years: float | None = 2.5, p_drop: float = 0.0,
                           value_slope: float = 0.0, value_rate_power: float = 0.0):
    """One study (see the module docstring). ``design="randomized"``: half the customers are
    invited (``arm``), only they can join (same gap rule), the others never do.

    Returns ``(transactions, customers, truth)``; ``truth`` has one row per member (customer_id,
    enrol_day, purchases_1, purchases_0, spend_1, spend_0, retained_1, retained_0). With
    ``untreated=True`` also every customer's untreated purchases (customer_id, day, amount;
    days from the launch, before the same-day split), the oracle of the completion.

    Other mechanisms (the defaults are the one above): ``gap_sigma`` lognormal unit-mean gaps with
    that log-sd instead of gamma(2); ``life_years=None`` no calendar lifetime; ``p_drop`` the
    customer leaves for good after each purchase with that probability (a BG-type dropout, the
    same purchase index in both worlds); ``value_rate_power`` a customer's mean order value is
    ``∝ (λ / mean_rate)^power``; ``value_slope`` adds ``value_slope·log(previous order value /
    45)`` to the enrolment logit (selection on recent spend)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(1.5, mean_rate / 1.5, n)
    acq = rng.uniform(acquire[0], acquire[1], n)
    death = acq + rng.exponential((life_years or 1.0) * 365, n)
    stop = np.minimum(death, end_day + 1) if life_years is not None else np.full(n, end_day + 1.0)
    K = 8
    while True:      # enough purchases for everyone to pass the end even at the treated rate
        G = (rng.gamma(2.0, 0.5, (n, K)) if gap_sigma is None       # unit-mean gap shapes
             else rng.lognormal(-gap_sigma ** 2 / 2, gap_sigma, (n, K)))
        t0 = acq[:, None] + np.c_[np.zeros(n), np.cumsum(G[:, 1:] / lam[:, None], axis=1)]
        if np.all(t0[:, -1] >= stop):
            break
        K *= 2
    U = rng.random((n, K))
    value = rng.gamma(3.0, 15.0, (n, K)) * (lam / mean_rate)[:, None] ** value_rate_power
    invited = rng.random(n) < 0.5 if design == "randomized" else np.ones(n, bool)
    # purchases up to the one after which the customer leaves (same index in both worlds)
    alive_k = np.ones((n, K), bool)
    if p_drop > 0:
        drop = rng.random((n, K)) < p_drop
        k_drop = np.where(drop.any(axis=1), drop.argmax(axis=1), K)
        alive_k = np.arange(K)[None, :] <= k_drop[:, None]
    # enrolment decisions along the untreated path (identical to the treated one up to then)
    gap = np.c_[np.full(n, np.nan), np.diff(t0, axis=1)]
    eta = base + 0.3 * np.log1p(np.arange(K))[None, :] + np.where(
        np.isfinite(gap), gap_slope * np.log(30.0 / np.maximum(gap, 0.5)), 0.0)
    if value_slope:
        eta[:, 1:] += value_slope * np.log(value[:, :-1] / 45.0)
    can = (t0 >= 0) & (t0 < stop[:, None]) & invited[:, None] & alive_k
    join = can & (U < 1 / (1 + np.exp(-eta)))
    k_star = np.where(join.any(axis=1), join.argmax(axis=1), -1)
    member = k_star >= 0
    e_time = np.where(member, t0[np.arange(n), np.maximum(k_star, 0)], np.inf)
    e_day = np.floor(e_time)
    # the treated path: after the enrolment purchase gaps shrink by 1 + lift
    after = np.arange(K)[None, :] > k_star[:, None]
    scale = np.where(after & member[:, None], 1 / (1 + lift), 1.0)
    steps = np.c_[np.zeros(n), (G[:, 1:] / lam[:, None]) * scale[:, 1:]]
    t1 = acq[:, None] + np.cumsum(steps, axis=1)

    def lines(t):
        i, k = np.nonzero((t < stop[:, None]) & alive_k)
        day = np.floor(t[i, k]).astype(int)
        amt = value[i, k] * (1 + drift) ** (t[i, k] / 365.0)
        return i, k, day, amt
    i1, k1, d1, a1 = lines(t1)
    i0, k0, d0, a0 = lines(t0)
    # truth per member: both worlds' purchase days, spend, retention after their enrolment
    h, R = horizon_days, retention_days
    mem = np.flatnonzero(member)

    def outcome(i, d, a):
        df = pd.DataFrame({"i": i, "d": d, "a": a})
        df = df[member[df["i"]]]
        rel = df["d"] - e_day[df["i"]]
        win = df[(rel > 0) & (rel <= h)]
        ret = df[(rel > h) & (rel <= h + R)]
        n_days = win.drop_duplicates(["i", "d"]).groupby("i").size()
        return (n_days.reindex(mem, fill_value=0).to_numpy(float),
                win.groupby("i")["a"].sum().reindex(mem, fill_value=0.0).to_numpy(),
                pd.Series(1.0, index=ret["i"].unique()).reindex(mem, fill_value=0.0).to_numpy())
    p1, s1, r1 = outcome(i1, d1, a1)
    p0, s0, r0 = outcome(i0, d0, a0)
    truth = pd.DataFrame({"customer_id": mem + 1, "enrol_day": e_day[mem], "purchases_1": p1,
                          "purchases_0": p0, "spend_1": s1, "spend_0": s0, "retained_1": r1,
                          "retained_0": r0})
    # observed: members' treated path, the others' untreated one (identical before enrolment)
    obs = member[i1]
    i, d, a = i1[obs], d1[obs], a1[obs]
    o = ~member[i0]
    i, d, a = np.r_[i, i0[o]], np.r_[d, d0[o]], np.r_[a, a0[o]]
    split = rng.random(len(i)) < p_split
    frac = rng.uniform(0.2, 0.8, split.sum())
    tx = pd.DataFrame({"customer_id": np.r_[i, i[split]] + 1,
                       "date": LAUNCH + pd.to_timedelta(np.r_[d, d[split]], "D"),
                       "amount": np.r_[np.where(split, a, a), a[split] * (1 - frac)]})
    tx.loc[np.flatnonzero(split), "amount"] = a[split] * frac
    tx["amount"] = tx["amount"].round(2).clip(lower=0.01)
    tx = tx.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "signup_date": LAUNCH + pd.to_timedelta(np.floor(acq).astype(int), "D"),
        "region": np.where(rng.random(n) < 0.4, "north", "south"),
        "enrolled_at": LAUNCH + pd.to_timedelta(np.where(e_day <= end_day, e_day, np.nan), "D")})
    if design == "randomized":
        customers["arm"] = np.where(invited, "treatment", "control")
    if untreated:       # every customer's untreated purchases: the completion's oracle
        return tx, customers, truth, pd.DataFrame({"customer_id": i0 + 1, "day": d0,
                                                   "amount": a0})
    return tx, customers, truth


def to_experiment(tx, customers, tmp_path=None, *, design="self_selected", end_day=760):
    """The tables as a user would hand them over: CSV files read by ``read_experiment`` (or the
    frames directly when ``tmp_path`` is None)."""
    if tmp_path is not None:
        tx.to_csv(tmp_path / "transactions.csv", index=False)
        customers.to_csv(tmp_path / "customers.csv", index=False)
        tx, customers = tmp_path / "transactions.csv", tmp_path / "customers.csv"
    return rl.io.read_experiment(tx, customers, observation_end=LAUNCH + pd.Timedelta(
        days=end_day), launch_date=LAUNCH, design=design)


def analyze_quietly(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rl.impact.analyze(data, **kw)


def study_truth(truth: pd.DataFrame, rep) -> dict:
    """The true effects on the members the rolling analysis kept (complete window, not
    trimmed), matched by customer and enrolment date."""
    tr = rep.rolling.trials
    kept = tr.loc[(tr["member"] == 1) & tr["kept"], "customer_id"].astype(int)
    t = truth.set_index("customer_id").loc[kept.to_numpy()]
    return {"purchases": float((t["purchases_1"] - t["purchases_0"]).mean()),
            "spend": float((t["spend_1"] - t["spend_0"]).mean()),
            "retention": float((t["retained_1"] - t["retained_0"]).mean()),
            "purchases_rel": float(t["purchases_1"].mean() / t["purchases_0"].mean() - 1),
            "n_members": len(t)}


ANALYSIS = dict(design="self_selected", horizon=180, clv=False, survival=False,
                event_study=False, segment_column=None)


# --- fast: one study through CSV files --------------------------------------------------------

def test_programme_with_selection_on_gaps_is_covered_through_csv(tmp_path):
    """+25 % purchase rate after enrolment, members chosen on their inter-purchase gap, late
    entry and same-day lines; through CSV files and ``read_experiment``.

    The truth is computed by the simulator from both potential worlds with common random
    numbers (same gaps, lifetimes and order values; after enrolment the gaps shrink by 1.25 in
    the treated world only): the mean over the members the analysis kept of the difference in
    purchase days in the 180 days after enrolment. For this seed (848 members kept) it is
    +1.350 purchase days on an untreated 5.263 (+25.7 %); the analysis gave +1.396
    [+1.115, +1.677]."""
    tx, cust, truth = simulate_gap_enrolment(4000, seed=3)
    data = to_experiment(tx, cust, tmp_path)
    rep = analyze_quietly(data, sensitivity=False, **ANALYSIS)
    assert rep.analysis == "rolling"
    e = rep.effects.set_index("metric")
    t = study_truth(truth, rep)
    assert 0.20 < t["purchases_rel"] < 0.30, t          # the simulator did what it says
    r = e.loc["purchases"]
    assert r["ci_low"] <= t["purchases"] <= r["ci_high"], (r["abs_diff"], r["ci_low"],
                                                           r["ci_high"], t)
    assert r["ci_low"] > 0                               # and the effect is detected


def test_completion_model_check_is_reported():
    tx, cust, _ = simulate_gap_enrolment(1500, seed=5)
    res = rl.impact.rolling_effects(to_experiment(tx, cust), horizon_days=180)
    c = [c for c in res.checks if c["id"] == rl.ids.CHECK_COMPLETION_MODEL]
    assert len(c) == 1 and c[0]["status"] == "pass"


def test_completion_model_check_warns_when_the_covariance_is_not_finite(monkeypatch):
    """A completion-model fit whose information matrix is singular gives a NaN covariance: the
    parameter uncertainty of the completion model cannot enter the intervals, and a check says
    so (it used to be skipped silently, with the fitter's warning muted). Both candidate models
    (BG/NBD and Pareto/NBD) are made singular, whichever the likelihood keeps."""
    def singular(cls):
        orig = cls.fit

        def fit(self, *a, **kw):
            out = orig(self, *a, **kw)
            warnings.warn(f"{cls.__name__}: the information matrix is singular (test)",
                          stacklevel=2)
            self.variance_matrix_log_ = self.variance_matrix_log_ * np.nan
            return out
        monkeypatch.setattr(cls, "fit", fit)
    for cls in R.COMPLETION_MODELS:
        singular(cls)
    tx, cust, _ = simulate_gap_enrolment(1500, seed=5)
    res = rl.impact.rolling_effects(to_experiment(tx, cust), horizon_days=180)
    c = [c for c in res.checks if c["id"] == rl.ids.CHECK_COMPLETION_MODEL][0]
    assert c["status"] == "warn"
    assert "NOT in the intervals" in c["detail"] and "not finite" in c["detail"]
    assert "singular (test)" in c["detail"]
    assert np.isfinite(res.effects.set_index("metric").loc["purchases", "se"])


def test_price_index_recovers_the_calendar_drift():
    """The completion's calendar price index (two-way fixed effects on the log spend of untreated
    purchase days) against the simulator's drift: order values times 1.08^(t/365), so the
    monthly log index rises by log(1.08)·30.44/365 = 0.00642 a month."""
    tx, cust, _ = simulate_gap_enrolment(3000, seed=8, lift=0.25, drift=0.08)
    _rows, _info, H, frame = R.build_trials(to_experiment(tx, cust), horizon_days=180)
    tau = R._price_index(H, frame)["tau"]
    months = np.arange(-12, 24)                 # periods with many untreated purchase days
    slope = np.polyfit(months, tau.loc[months].to_numpy(), 1)[0]
    assert slope == pytest.approx(np.log(1.08) * 30.436875 / 365, rel=0.15)


def _untreated_truth(rows: pd.DataFrame, untreated: pd.DataFrame, horizon_days: int):
    """The simulator's untreated outcomes (purchase days in the window, any purchase day in the
    retention window) of trial rows, from every customer's untreated purchases."""
    u = untreated.drop_duplicates(["customer_id", "day"])
    m = rows[["customer_id", "day", "follow_end_day"]].reset_index().merge(u, on="customer_id",
                                                                           suffixes=("", "_u"))
    rel = m["day_u"] - m["day"]
    orders = m[(rel > 0) & (rel <= horizon_days)].groupby("index").size()
    ret = m[(rel > horizon_days) & (m["day_u"] <= m["follow_end_day"])].groupby("index").size()
    return (orders.reindex(rows.index, fill_value=0).to_numpy(float),
            (ret.reindex(rows.index, fill_value=0) > 0).to_numpy(float))


def test_completion_against_the_untreated_truth():
    """The completed comparison rows (customers who enrol during their follow-up) against what
    the simulator's untreated world says they would have done (oracle), one study of 4,000
    customers (seed 11). Issue 19's diagnosis over 60 studies (seeds 90000–90059): with the
    Pareto/NBD the completion under-predicted retention by 0.039 a row and purchases by 0.092
    (the effect biased by +0.084 purchase days and +0.011 retention, all of the bias: with the
    oracle in its place +0.0015 and +0.0004); conditional on x and T the last gap did not
    predict the error (coefficient 0.006 per log day) — the Poisson models' shrinkage of the
    short, busy histories did (−0.59 in the shortest fifth of T). The likelihood now keeps the
    Pareto/CNBD-2 (gamma(2) gaps): −0.003 and −0.024 over the same studies (effect bias +0.011,
    +0.0015). This seed: see the assertion message."""
    tx, cust, _truth, untreated = simulate_gap_enrolment(4000, seed=11, untreated=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rl.impact.rolling_effects(to_experiment(tx, cust), horizon_days=180)
    assert res.info["completion_model"] == "Pareto/CNBD-2", res.info["completion_loglik"]
    rows = res.trials[res.trials["completed"].astype(bool)]
    orders, retained = _untreated_truth(rows, untreated, 180)
    err_o = float(np.mean(rows["orders"].to_numpy() - orders))
    err_r = float(np.mean(rows["retained"].to_numpy() - retained))
    assert abs(err_r) < 0.02 and abs(err_o) < 0.1, (len(rows), err_o, err_r)


#: the third mechanism (issue 19, item 8): lognormal gaps, dropout at purchases (no calendar
#: lifetime), order values that grow with the buying rate, enrolment chosen on the previous
#: order's value (not on the gap)
THIRD = dict(gap_sigma=0.5, life_years=None, p_drop=0.04, value_slope=0.8,
             value_rate_power=0.3, gap_slope=0.0)


def test_third_mechanism_regular_gaps_and_dropout_at_purchases():
    """Lognormal gaps (log-sd 0.5: more regular than Poisson, not Erlang) and a BG-type dropout
    at purchases: the likelihood keeps a BG/CNBD-k (dropout at purchases, regular timing), and
    the +25 % programme's purchases interval covers the truth (one study, seed 5)."""
    tx, cust, truth = simulate_gap_enrolment(3000, seed=5, **THIRD)
    rep = analyze_quietly(to_experiment(tx, cust), sensitivity=False, **ANALYSIS)
    model = rep.rolling.info["completion_model"]
    assert model.startswith("BG/CNBD-") and int(model[-1]) >= 2, rep.rolling.info
    t = study_truth(truth, rep)
    r = rep.effects.set_index("metric").loc["purchases"]
    assert r["ci_low"] <= t["purchases"] <= r["ci_high"], (r["abs_diff"], r["se"], t)


# --- slow: coverage over 200 seeds ------------------------------------------------------------

N_SEEDS, N_CUSTOMERS = 200, 3000


def _coverage_study(seed0: int, n_seeds: int = N_SEEDS, **sim) -> pd.DataFrame:
    rows = []
    for s in range(n_seeds):
        tx, cust, truth = simulate_gap_enrolment(N_CUSTOMERS, seed=seed0 + s, **sim)
        rep = analyze_quietly(to_experiment(tx, cust), sensitivity=False, **ANALYSIS)
        t = study_truth(truth, rep)
        e = rep.effects.set_index("metric")
        for m in PRIMARY:
            r = e.loc[m]
            rows.append(dict(seed=s, metric=m, est=r["abs_diff"], se=r["se"], truth=t[m],
                             ci_low=r["ci_low"], ci_high=r["ci_high"], n_members=t["n_members"],
                             cover=r["ci_low"] <= t[m] <= r["ci_high"]))
    return pd.DataFrame(rows)


def _summary(df: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the population effect on members (``coverage``: the member-weighted Monte
    Carlo mean of the per-seed member effects, as in tests/impact/test_rolling_coverage.py —
    the estimand the SE is for) and of each seed's own members' effect (``coverage_satt``);
    ``sd_est`` is the SD of the estimates, ``sd_err_satt`` that of estimate − own effect."""
    out = coverage_table(df)
    out["sd_err_satt"] = (df["est"] - df["truth"]).groupby(df["metric"]).std()
    return out


@pytest.mark.slow
@pytest.mark.xfail(reason="open (issue 19): against the population effect purchases cover "
                   "98.0 % (200 seeds; spend 95.5 %, retention 96.5 %; SE/SD 1.05) — see the "
                   "docstring", strict=False)
def test_gap_selection_coverage():
    """+25 % programme, enrolment at a purchase chosen on the inter-purchase gap, late entry,
    ties; 3,000 customers a study, analysed with ``design="self_selected"`` (rolling chosen).

    The truth is the population effect on members (the member-weighted mean of the per-seed
    member effects over the 200 seeds, as in tests/impact/test_rolling_coverage.py: the estimand
    the SE is for); each seed's own members' effect (SATT, common random numbers) is the second
    number. Measured after that change (same estimator, all 200 seeds, 2026-12-06 12:13 UTC,
    quiet machine, 1.3 s a study):

    * purchases: coverage 98.0 % (SATT 99.0 %), population truth +1.3501 (MC SE 0.0032), mean SE
      0.1778 vs SD of the estimates 0.1690 (ratio 1.05), bias +0.0022
    * spend: coverage 95.5 % (SATT 98.5 %), truth +61.02 (MC SE 0.17), mean SE 8.890 vs SD 8.628
      (1.03), bias +0.31
    * retention: coverage 96.5 % (SATT 95.0 %), truth +0.0223 (MC SE 0.0007), mean SE 0.02186 vs
      SD 0.01928 (1.13), bias −0.0007

    Purchases stay above the band (98.0 %: 4 misses of 200, where a calibrated interval misses
    10 ± 3); the SE is 5 % above the spread — the package simulator shows the same excess in
    the doubly robust jackknife of purchases (tests/impact/test_rolling_coverage.py), unexplained.
    Leverage corrections (issue 19 item 6, 2026-12-06; same seeds): CR2 / the plain sandwich give
    purchases SE/SD 1.03 / 1.01, coverage 98.0 / 97.0 % (spend 95.0 / 95.0, retention 96.5 /
    96.5 %). Next 200 seeds (40200–40399, jackknife): purchases 95.0 %, spend 97.5 %, retention
    96.0 %, SE/SD 1.02 / 1.03 / 0.98 — inside the band but for spend; over 400 seeds purchases
    1.04, coverage 96.5 %.

    Measured against the SATT (the truth of this test until then):

    With the Erlang-k completion (issue 19: the likelihood keeps the Pareto/CNBD-2 here), over all
    200 seeds (40000–40199; the 2-core machine was shared, load 9–12):

    * purchases: coverage 99.0%, mean SE 0.1778 vs SD of estimate − truth 0.1547 (ratio 1.15), bias
      +0.002183 (mean truth +1.35)
    * spend: coverage 98.5%, mean SE 8.89 vs SD of estimate − truth 7.98 (ratio 1.11), bias +0.3043
      (mean truth +61.02)
    * retention: coverage 95.0%, mean SE 0.02185 vs SD of estimate − truth 0.02062 (ratio 1.06),
      bias -0.0006874 (mean truth +0.02228)
    * identified in 70% of the studies; completion model Pareto/CNBD-2 (200)

    Before it (Pareto/NBD completion, jackknife SEs; first 80 seeds): purchases 95.0 % (bias
    +0.0928), spend 96.2 % (+4.49), retention 92.5 % (+0.0087). The completion's bias is gone (the
    oracle diagnosis of test_completion_against_the_untreated_truth and the 'Known limits' in
    retention_lab/impact/rolling/trials.py); purchases and spend now cover above the band: their SEs
    are above the spread of estimate − truth, as before.

    Before (BG/NBD completion, sandwich SEs; all 200 seeds): purchases 94.5 %, spend 95.0 %,
    retention 89.0 % (bias +0.0203). The SEs
    are above the spread of estimate − truth because the truth is the members' own mean effect
    (common random numbers) while the SE is that of the population effect, which also counts
    the spread of the effect across members."""
    df = _coverage_study(40_000)
    s = _summary(df)
    print(s.to_string())
    assert ((s["coverage"] >= 0.93) & (s["coverage"] <= 0.97)).all(), s


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 19: under a null with price drift purchases / spend / "
                   "retention cover 92.0 / 93.5 / 93.0 % on these 200 seeds; fresh seeds "
                   "63000–63199: 95.0 / 94.5 / 93.5 % (Monte Carlo) — see the docstring",
                   strict=False)
def test_price_drift_null_coverage():
    """No programme effect; order values rise 8 % a year for everyone (calendar price drift);
    members chosen on their gaps as above. The truth is 0 for every metric.

    With the Erlang-k completion (Pareto/CNBD-2 kept), over all 200 seeds (60000–60199; machine
    shared, as above):

    * purchases: coverage 92.0%, mean SE 0.1655 vs SD of the estimates 0.1823 (ratio 0.91), bias
      -0.00159
    * spend: coverage 93.5%, mean SE 8.848 vs SD of the estimates 9.523 (ratio 0.93), bias +0.1455
    * retention: coverage 93.0%, mean SE 0.02227 vs SD of the estimates 0.02208 (ratio 1.01), bias
      -0.0006605
    * identified in 74% of the studies; completion model Pareto/CNBD-2 (200)

    Before (200 seeds; purchases / spend / retention): Pareto/NBD completion 88.5 / 89.5 / 94.5 %
    (ebe9cc5), before it 86.0 / 82.0 / 85.5 % (biases +0.070, +6.45, +0.0199); the Erlang-k
    completion and the price index removed the biases, the jackknife raised the SEs. CR2 / the
    plain sandwich: purchases 91.0 / 91.0 % (SE/SD 0.88 / 0.86) on these seeds.

    Issue 19 item 6 (2026-12-06): Monte Carlo noise, no error to fix. SE/SD purchases / spend /
    retention (± ≈ 0.05 per 200 seeds) on blocks fixed in writing before each run, 3,000
    customers: 60200–60399 0.99 / 1.00 / 1.01 (coverage 92.0 / 93.5 / 95.5 %); 63000–63199 1.02 /
    1.00 / 0.98 (95.0 / 94.5 / 93.5 %), and with the simulator's complete untreated outcomes in
    place of the completion (the oracle; observed = untreated here,
    tests/impact/test_rolling_drift_oracle.py) 0.98 / 1.02 / 0.99. The 400 fresh seeds: 1.00 /
    1.00 / 0.99 ± 0.04 (93.5 / 94.0 / 94.5 %); with these 600: 0.97 / 0.98 / 1.00 ± 0.03. Per seed
    (63000–63199, purchases) each term matches its spread across seeds: oracle DR part SE² 0.0239
    vs variance 0.0243 ± 0.0024, completion error 0.0047 vs 0.0044 ± 0.0005, 2·cov −0.0025 vs
    −0.0031 ± 0.0015; the completion model's parameter term is 0.3 % of SE², its 2·cov 1.9 %.
    12,000 customers: 64000–64199 0.91 / 0.93 / 0.89 ± 0.045 (92.0 / 92.0 / 91.5 %; the oracle as
    short, in its DR part), the next 100 (64200–64299, fixed before their run) 1.05 / 1.08 / 1.02
    ± 0.07 (96 / 97 / 96 %); with 61100–61199, 400 seeds: 0.95 / 0.98 / 0.97 ± 0.035 (94.0 / 94.0 /
    93.8 %); the oracle (with 61000–61099) 0.99 / 1.00 / 0.96. Every pooled ratio is within 1.5 MC
    SE of 1, and the jackknife rows equal a whole-analysis delete-one rerun
    (tests/impact/test_rolling_se_oracle.py). Estimator unchanged; the xfail stays."""
    df = _coverage_study(60_000, lift=0.0, drift=0.08)
    s = _summary(df)
    print(s.to_string())
    assert ((s["coverage"] >= 0.93) & (s["coverage"] <= 0.97)).all(), s


@pytest.mark.slow
def test_third_mechanism_coverage():
    """+25 % programme on the third mechanism (:data:`THIRD`: lognormal gaps of log-sd 0.5, a
    BG-type dropout after each purchase with probability 0.04 and no calendar lifetime, order
    values growing with the buying rate, enrolment chosen on the previous order's value); 3,000
    customers a study.

    Measured with the Erlang-k completion, over all 200 seeds (80000–80199; machine shared, as
    above):

    * purchases: coverage 96.5%, mean SE 0.1328 vs SD of estimate − truth 0.1151 (ratio 1.15), bias
      +0.03455 (mean truth +0.9402)
    * spend: coverage 97.0%, mean SE 9.012 vs SD of estimate − truth 7.91 (ratio 1.14), bias +1.576
      (mean truth +49.8)
    * retention: coverage 97.0%, mean SE 0.02146 vs SD of estimate − truth 0.02077 (ratio 1.03),
      bias -0.001184 (mean truth -0.0135)
    * identified in 28% of the studies; completion model BG/CNBD-4 (200)

    Against the population effect on members (see :func:`test_gap_selection_coverage`; same
    estimator, all 200 seeds, 12:13 UTC, quiet machine): purchases 95.0 % (truth +0.9403, mean SE
    0.1328 vs SD of the estimates 0.1341), spend 94.0 % (+49.81; 9.012 vs 9.032), retention
    95.5 % (−0.0135; 0.02146 vs 0.02085). The numbers above are against each seed's own members'
    effect (SATT).

    No before: the mechanism is new. Inside the 93–97 % band for all three metrics. The
    likelihood keeps the BG/CNBD-4 (the dropout at purchases is recognised; lognormal gaps are not
    Erlang, and k stops at 4). Purchases are still biased by +0.035 (about 4 standard errors of
    the mean over the 200 seeds; 4 % of the effect), not yet diagnosed with the oracle. Only 28 %
    of the studies pass the identification checks (members join at any purchase, chosen on order
    value)."""
    df = _coverage_study(80_000, **THIRD)
    s = _summary(df)
    print(s.to_string())
    assert ((s["coverage"] >= 0.93) & (s["coverage"] <= 0.97)).all(), s
