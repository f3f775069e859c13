"""Loyalty enrolment as a time-varying covariate: the long-format builder at its edges, the
immortal-time contrast (naive shows a spurious benefit, time-varying does not), a known
hazard ratio recovered, and ``enrolment_effect`` on an ExperimentData built by hand."""
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

import retention_lab as rl
from retention_lab import DataError
from retention_lab.experiment_data import ExperimentData


def test_long_format_edges():
    t = pd.DataFrame({
        "duration":      [100, 100, 100, 100, 50, 0, 30],
        "churned":       [1, 1, 0, 1, 0, 1, 1],
        "enrolment_age": [np.nan, 40, 100, 150, 0, np.nan, -5],
    }, index=pd.Index(list("ABCDEFG"), name="customer_id"))
    long, info = rl.survival.enrolment_long_format(t, collapse_rows=False)
    rows = {cid: g[["start", "stop", "churned", "member"]].to_numpy().tolist()
            for cid, g in long.groupby("customer_id")}
    assert rows["A"] == [[0, 100, 1, 0]]                      # never enrolled
    assert rows["B"] == [[0, 40, 0, 0], [40, 100, 1, 1]]      # non-member, then member
    assert rows["C"] == [[0, 100, 0, 0]]                      # enrolled at the end of follow-up
    assert rows["D"] == [[0, 100, 1, 0]]                      # enrolled after it
    assert rows["E"] == [[0, 50, 0, 1]]                       # enrolled at the first purchase
    assert rows["F"] == [[0, 0.5, 1, 0]]                      # zero duration → half a day
    assert rows["G"] == [[0, 30, 1, 1]]                       # enrolled before the first purchase
    assert info["n_switch"] == 1 and info["n_member_from_start"] == 2
    assert info["n_enrolled_after_followup"] == 2 and info["n_zero_durations"] == 1
    collapsed, _ = rl.survival.enrolment_long_format(t.assign(duration=100, churned=0,
                                                              enrolment_age=np.nan))
    assert len(collapsed) == 1 and collapsed["weight"].iloc[0] == 7
    lapses, _ = rl.survival.enrolment_long_format(t.assign(duration=100, churned=1,
                                                           enrolment_age=np.nan))
    assert len(lapses) == 7 and (lapses["weight"] == 1).all()   # Efron counts tied lapses by rows


def test_collapsed_long_format_fits_like_the_row_by_row_one():
    d = rl.survival.simulate_enrolment(3000, hazard_ratio=0.8, seed=4)
    a, _ = rl.survival.enrolment_long_format(d, covariates=["channel"])
    b, _ = rl.survival.enrolment_long_format(d, covariates=["channel"], collapse_rows=False)
    assert len(a) < len(b)
    fa = CoxTimeVaryingFitter().fit(a, event_col="churned", weights_col="weight")
    fb = CoxTimeVaryingFitter().fit(b.drop(columns="customer_id"), event_col="churned")
    # only censored episodes are merged: the Efron partial likelihood is the row-by-row one
    np.testing.assert_allclose(fa.params_, fb.params_, rtol=1e-8)
    np.testing.assert_allclose(fa.standard_errors_, fb.standard_errors_, rtol=1e-8)


def test_immortal_time_naive_shows_spurious_benefit_time_varying_does_not():
    d = rl.survival.simulate_enrolment(8000, hazard_ratio=1.0, seed=7)
    r = rl.survival.time_varying_enrolment(d)
    assert r.naive_hazard_ratio < 0.8 and r.naive_ci[1] < 1          # spurious benefit
    assert r.ci[0] < 1 < r.ci[1]                                     # none in truth
    assert abs(np.log(r.hazard_ratio)) < 0.06
    assert list(r.summary.index) == ["member (time-varying)", "ever member (naive)"]
    assert {"coef", "se", "lower 95%", "upper 95%", "hazard_ratio", "p_value",
            "method"} <= set(r.summary.columns)
    assert "not clearly different" in r.interpretation and "immortal time" in r.interpretation


def test_known_member_hazard_ratio_is_covered():
    d = rl.survival.simulate_enrolment(8000, hazard_ratio=0.7, seed=8)
    r = rl.survival.time_varying_enrolment(d, covariates=["channel"])
    assert r.ci[0] < 0.7 < r.ci[1]
    assert r.naive_hazard_ratio < r.ci[0]            # the naive one overstates the benefit
    assert "adjusted for channel" in r.method
    assert set(r.model_summary.index) == {"member", "channel=email", "channel=search",
                                          "channel=social"} - {
        f"channel={r.info['coding']['channel']['reference']}"}


def _hand_made_experiment(seed=0, n=400):
    """Random two-purchase customers plus four scripted ones (ids 9001–9004)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    first = start + pd.to_timedelta(rng.integers(0, 200, n), "D")
    gap = pd.to_timedelta(rng.integers(0, 330, n), "D")
    second = first + gap
    keep = second <= pd.Timestamp("2024-12-31")
    ids = np.arange(1, n + 1)
    tx = pd.concat([pd.DataFrame({"customer_id": ids, "date": first}),
                    pd.DataFrame({"customer_id": ids[keep], "date": second[keep]})])
    enrol = pd.Series(pd.NaT, index=ids, dtype="datetime64[ns]")
    joins = rng.random(n) < 0.4
    enrol[joins] = (first + gap / 2)[joins]
    scripted = pd.DataFrame({
        "customer_id": [9001, 9001, 9002, 9002, 9003, 9004, 9004],
        "date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-10", "2024-11-15",
                                "2024-05-01", "2024-02-01", "2024-09-01"])})
    tx = pd.concat([tx, scripted], ignore_index=True).assign(amount=10.0)
    enrol = pd.concat([enrol, pd.Series(pd.to_datetime(["2024-02-01", "2024-11-15", None,
                                                        "2025-02-01"]),
                                        index=[9001, 9002, 9003, 9004])])
    customers = pd.DataFrame({"customer_id": enrol.index, "enrolled_at": enrol.to_numpy(),
                              "region": rng.choice(["n", "s"], len(enrol))})
    return ExperimentData(transactions=tx, customers=customers,
                          observation_end=pd.Timestamp("2024-12-31"))


def test_enrolment_effect_time_origin_and_censoring_edges():
    data = _hand_made_experiment()
    r = rl.survival.enrolment_effect(data, inactivity_days=90, covariates=["region"])
    t = r.table_
    assert pd.Timestamp(r.table_.attrs["cutoff"]) == pd.Timestamp("2024-10-02")
    # 9001: last purchase before the cutoff → lapse dated at it (age 60); enrolled at age 31
    assert t.loc[9001, ["duration", "churned", "enrolment_age"]].tolist() == [60, 1, 31]
    # 9002: last purchase after the cutoff → censored AT the cutoff (age 266), not churned;
    # its enrolment (age 310) comes after the end of follow-up
    assert t.loc[9002, ["duration", "churned", "enrolment_age"]].tolist() == [266, 0, 310]
    # 9003: one purchase, lapsed → duration 0 (set to half a day in the long format)
    assert t.loc[9003, ["duration", "churned"]].tolist() == [0, 1]
    assert np.isnan(t.loc[9003, "enrolment_age"])
    # 9004: enrolled after observation_end → not a member in the data
    assert np.isnan(t.loc[9004, "enrolment_age"])
    assert any("zero duration" in n for n in r.notes)
    assert any("at or after the end of their follow-up" in n for n in r.notes)
    assert np.isfinite(r.hazard_ratio) and r.ci[0] < r.hazard_ratio < r.ci[1]
    # time at risk counts from the launch (the first enrolment, 2024-02-01): customers whose
    # follow-up ended before it are left out, and said so
    assert r.launch_ == pd.Timestamp("2024-02-01")
    gone = int((t["duration"].clip(lower=0.5) <= t["entry_age"]).sum())
    assert gone > 0 and r.info["n_left_before_entry"] == gone and r.n == len(t) - gone
    assert any(f"{gone:,} customer(s) left out" in n for n in r.notes)
    assert "censored at observation end − 90 days" in r.method
    assert r.value == r.hazard_ratio


def test_enrolment_effect_guards():
    data = _hand_made_experiment()
    with pytest.raises(DataError, match="enrolled_at"):
        rl.survival.enrolment_effect(ExperimentData(
            transactions=data.transactions, customers=data.customers.drop(columns="enrolled_at"),
            observation_end=data.observation_end))
    nobody = data.customers.assign(enrolled_at=pd.NaT)
    with pytest.raises(DataError, match="no customer was a member"):
        rl.survival.enrolment_effect(ExperimentData(
            transactions=data.transactions, customers=nobody,
            observation_end=data.observation_end))
    missing = data.customers[data.customers.customer_id != 9001]
    with pytest.raises(DataError, match="every customer in transactions is in customers"):
        rl.survival.enrolment_effect(ExperimentData(
            transactions=data.transactions, customers=missing,
            observation_end=data.observation_end))


def test_enrolment_effect_on_the_loyalty_simulator():
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=4000, design="self_selected",
                                                  seed=3)
    r = rl.survival.enrolment_effect(exp, inactivity_days=90)
    # the programme lowers dropout: members lapse less at the same age and purchase history;
    # the naive comparison (self-selection + immortal time) exaggerates it
    assert r.hazard_ratio < 1.0
    assert r.naive_hazard_ratio < r.ci[0]
    assert r.n_members > 100
    assert "purchase days so far" in r.method and "programme launch" in r.method


def test_enrolment_at_a_purchase_is_unbiased_under_the_null():
    """Issue 13, defect 3, on a BG/NBD-style population built in tests/survival_sims.py:
    invited customers enrol at their first purchase after the launch and the programme does
    nothing. Enrolment at a purchase selects frequent buyers, whose lapses (dated at the last
    purchase) come sooner: the plain time-varying model shows a spurious harm; adjusting for the
    purchases so far and counting from the launch removes it."""
    from survival_sims import bgnbd_enrolment
    data = bgnbd_enrolment(6000, theta=1.0, seed=11)
    plain = rl.survival.enrolment_effect(data, inactivity_days=90, adjust_history=False)
    assert plain.hazard_ratio > 1.08 and plain.ci[0] > 1.0        # the bias of the old model
    r = rl.survival.enrolment_effect(data, inactivity_days=90)
    assert r.ci[0] < 1.0 < r.ci[1]
    assert abs(np.log(r.hazard_ratio)) < 0.08
    assert r.info["history"] and r.launch_ == data.launch_date
    assert "purchases=2" in r.model_summary.index and "period=1" in r.model_summary.index


@pytest.mark.parametrize("grouped", [True, False])
def test_vectorised_counting_process_cox_is_lifelines(grouped):
    """The vectorised Efron partial likelihood equals lifelines' CoxTimeVaryingFitter on tied
    whole-day episodes with case weights, history splits and late entry — summed by covariate
    pattern (``grouped``, the default: indicators only, few patterns) and per row."""
    from lifelines import CoxTimeVaryingFitter

    from retention_lab.survival._cox import CountingProcessCox, _patterns
    from survival_sims import bgnbd_enrolment
    data = bgnbd_enrolment(1500, theta=0.8, seed=5)
    r = rl.survival.enrolment_effect(data, inactivity_days=90)
    long = r.long_
    assert long["weight"].max() > 1 and long.duplicated(["stop"]).any()
    X = long.drop(columns=["churned", "start", "stop", "weight"]).to_numpy(float)
    assert len(_patterns(X)[1]) < len(X) // 4          # the grouped path runs
    ours = CountingProcessCox(grouped=grouped).fit(long, "churned", weights_col="weight")
    ref = CoxTimeVaryingFitter().fit(long, event_col="churned", weights_col="weight")
    np.testing.assert_allclose(ours.params_, ref.params_[ours.params_.index], rtol=1e-6)
    np.testing.assert_allclose(ours.standard_errors_,      # lifelines stops at |Δβ| ~ 1e-7
                               ref.standard_errors_[ours.params_.index], rtol=1e-5)
    assert ours.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-9)
    assert r.summary.loc["member (time-varying)", "coef"] == pytest.approx(
        ref.params_["member"], rel=1e-6)


def test_naive_ever_member_cox_is_lifelines():
    """The naive ever-member model (now the vectorised Efron likelihood with every customer at
    risk from before the first lapse) equals lifelines' CoxPHFitter on the same collapsed
    table — lapses at duration 0 (one purchase, lapsed) included."""
    from lifelines import CoxPHFitter

    from retention_lab.survival._base import collapse
    from survival_sims import bgnbd_enrolment
    data = bgnbd_enrolment(1500, theta=0.8, seed=5)
    r = rl.survival.enrolment_effect(data, inactivity_days=90)
    t = r.table_
    assert ((t["duration"] == 0) & (t["churned"] == 1)).any()
    naive = pd.DataFrame({"ever_member": np.isfinite(t["enrolment_age"].to_numpy(float))
                          .astype(float), "duration": t["duration"].to_numpy(float),
                          "churned": t["churned"].to_numpy()})
    naive = collapse(naive, list(naive.columns), censored_only="churned")
    ref = CoxPHFitter().fit(naive, "duration", "churned", weights_col="weight")
    b, se = ref.params_["ever_member"], ref.standard_errors_["ever_member"]
    assert np.log(r.naive_hazard_ratio) == pytest.approx(b, rel=1e-6)
    assert np.log(r.naive_ci[0]) == pytest.approx(b - 1.959963984540054 * se, rel=1e-5)
    assert r.naive_p_value == pytest.approx(ref.summary.loc["ever_member", "p"], rel=1e-4)


@pytest.mark.parametrize("kw", [{}, {"weights_col": "w"}, {"censored_only": "e"},
                                {"weights_col": "w", "censored_only": "e"}])
def test_collapse_equals_pandas_groupby(kw):
    """collapse's hash factorisation of numeric columns gives pandas' groupby(sort=False,
    dropna=False) sum: the same groups (NaN one group, -0.0 with 0.0), in the same order."""
    from retention_lab.survival._base import WEIGHT, collapse
    rng = np.random.default_rng(1)
    n = 5000
    f = pd.DataFrame({"a": rng.integers(0, 5, n).astype(float), "b": rng.integers(0, 3, n),
                      "d": rng.integers(0, 50, n).astype(float), "e": rng.integers(0, 2, n),
                      "w": rng.random(n)})
    f.loc[::7, "a"] = np.nan
    f.loc[::11, "a"] = -0.0
    cols = ["a", "b", "d", "e"]
    tmp = f[cols].copy()
    tmp[WEIGHT] = f["w"].to_numpy() if "weights_col" in kw else 1.0
    if "censored_only" in kw:
        ev = tmp["e"].to_numpy() == 1
        ref = pd.concat([tmp.loc[ev], tmp.loc[~ev].groupby(cols, sort=False, dropna=False)
                         [WEIGHT].sum().reset_index()], ignore_index=True)
    else:
        ref = tmp.groupby(cols, sort=False, dropna=False)[WEIGHT].sum().reset_index()
    pd.testing.assert_frame_equal(collapse(f, cols, **kw), ref, check_exact=False, rtol=1e-12)


def test_purchase_ages_are_the_distinct_purchase_days():
    """purchase_ages: every (customer, purchase day) of the churn table's customers up to the
    observation end once, in order of first appearance (or, ``by_customer``, by the customer's
    row and the age), age in days — against pandas' normalize + drop_duplicates (+ a sort)."""
    from retention_lab.survival.data import churn_frame
    from retention_lab.survival.time_varying import purchase_ages
    from survival_sims import bgnbd_enrolment
    data = bgnbd_enrolment(600, theta=0.8, seed=3)
    # a second order on some purchase days, shuffled
    tx = data.transactions
    data.transactions = pd.concat([tx, tx.iloc[::4]]).sample(frac=1.0, random_state=1)
    table = churn_frame(data, 90).iloc[::2]              # a subset: the others are left out
    got = purchase_ages(data, table)
    tx = data.transactions
    day = pd.to_datetime(tx["date"]).dt.normalize()
    keep = tx["customer_id"].isin(table.index) & (day <= pd.Timestamp(data.observation_end))
    ref = pd.DataFrame({"customer_id": tx["customer_id"][keep], "day": day[keep]})
    ref = ref.drop_duplicates().reset_index(drop=True)
    ref["age"] = (ref["day"] - table["first_purchase"].reindex(ref["customer_id"]).to_numpy()) \
        / pd.Timedelta(days=1)
    assert len(got) < keep.sum()                          # several orders on some days
    np.testing.assert_array_equal(got["customer_id"].to_numpy(), ref["customer_id"].to_numpy())
    np.testing.assert_array_equal(got["age"].to_numpy(), ref["age"].to_numpy())
    # by_customer: the same rows sorted by the customer's row in the table, then the age
    by = purchase_ages(data, table, by_customer=True)
    ref["row"] = table.index.get_indexer(ref["customer_id"])
    ref = ref.sort_values(["row", "age"], kind="stable")
    np.testing.assert_array_equal(by["customer_id"].to_numpy(), ref["customer_id"].to_numpy())
    np.testing.assert_array_equal(by["age"].to_numpy(), ref["age"].to_numpy())


def test_collapsed_long_format_is_the_collapse_of_the_episodes():
    """enrolment_long_format merges identical censored episodes on integer codes before it
    builds the wide frame: the result equals pandas' groupby over the wide columns of the
    uncollapsed episodes (collapse_rows=False), lapses one row each, same order and weights."""
    from retention_lab.survival.data import churn_frame
    from retention_lab.survival.time_varying import (
        enrolment_long_format,
        launch_of,
        purchase_ages,
    )
    from survival_sims import bgnbd_enrolment
    data = bgnbd_enrolment(1500, theta=0.8, seed=5)
    t = churn_frame(data, 90, columns=None)
    t["x"] = np.random.default_rng(0).integers(0, 3, len(t)).astype(float)
    t["entry_age"] = (launch_of(data) - t["first_purchase"]).dt.days.astype(float)
    kw = dict(purchases=purchase_ages(data, t), entry_age="entry_age",
              calendar=("entry_age", 91.0), covariates=["x"])
    wide, _ = enrolment_long_format(t, "enrolment_age", collapse_rows=False, **kw)
    got, info = enrolment_long_format(t, "enrolment_age", **kw)
    cols = [c for c in wide.columns if c != "customer_id"]
    tmp = wide[cols].assign(weight=1.0)
    ev = tmp["churned"].to_numpy() == 1
    ref = pd.concat([tmp.loc[ev], tmp.loc[~ev].groupby(cols, sort=False)["weight"].sum()
                     .reset_index()], ignore_index=True)
    assert len(got) < len(wide) == info["n_episodes"]
    pd.testing.assert_frame_equal(got, ref)


@pytest.mark.parametrize("whole_days", [True, False])
def test_episode_starts_are_the_sorted_distinct_cuts(whole_days):
    """_episode_starts (one integer sort for whole-day ages, lexsort otherwise) against Python's
    sorted set of (customer, start) pairs with the flags of equal cuts or-ed."""
    from retention_lab.survival.time_varying import _episode_starts
    rng = np.random.default_rng(3)
    pos = np.arange(50)
    cuts = [rng.integers(0, 50, 400) for _ in range(3)]
    ages = [rng.integers(1, 30, 400).astype(float) for _ in range(3)]
    if not whole_days:
        ages[1] = ages[1] + rng.choice([0.0, 0.25, 0.5], 400)
    buy = [np.zeros(400, bool), rng.random(400) < 0.5, np.ones(400, bool)]
    per = [np.zeros(400, bool), rng.random(400) < 0.5, np.zeros(400, bool)]
    want = {(int(i), 0.0): [0, 0] for i in pos}
    for cp, ca, cb, cq in zip(cuts, ages, buy, per):
        for i, a, b, q in zip(cp, ca, cb, cq):
            f = want.setdefault((int(i), float(a)), [0, 0])
            f[0], f[1] = max(f[0], int(b)), max(f[1], int(q))
    keys = sorted(want)
    p, st, b, q = _episode_starts(pos, cuts, ages, buy, per)
    assert list(zip(p.tolist(), st.tolist())) == keys
    assert b.tolist() == [want[k][0] for k in keys] and q.tolist() == [want[k][1] for k in keys]


@pytest.mark.parametrize("ages", ["whole", "half", "quarter", "nan", "wide"])
def test_collapse_codes_is_the_groupby_of_the_censored_episodes(ages):
    """_collapse_codes (one integer key with the row number packed in and a value sort when the
    columns are multiples of ½ in a small range, an argsort when the row number does not fit,
    the chained hash factorisation otherwise) against pandas' groupby(sort=False,
    dropna=False) of the censored rows: the lapse rows first in their order, then one row per
    group in order of first appearance with its count as the weight."""
    from retention_lab.survival._episodes import _collapse_codes, _small_key
    rng = np.random.default_rng(7)
    n = 4000
    st = rng.integers(0, 40, n).astype(float)
    if ages == "half":
        st[::5] += 0.5
        st[::13] = -0.0
    elif ages == "quarter":
        st[::5] += 0.25
    elif ages == "nan":
        st[::9] = np.nan
    stop = st + rng.integers(1, 4, n)
    member = (rng.random(n) < 0.3).astype(float)
    cls = rng.integers(0, 11, n)
    if ages == "wide":       # codes too wide to pack the row number: the argsort branch
        cls = rng.choice([0, 2 ** 45], n)
    event = (rng.random(n) < 0.2).astype(np.int64)
    rows = rng.permutation(n)[: n - 500]          # a subset, in another order
    cols = [st, stop, member, cls]
    key, size = _small_key([v[rows] for v in cols])
    assert (key is None) == (ages in ("quarter", "nan"))
    assert (key is not None and size * len(rows) >= 2 ** 62) == (ages == "wide")
    got_rows, got_w = _collapse_codes(rows, event, cols)
    f = pd.DataFrame({"st": st, "stop": stop, "member": member, "cls": cls, "row": np.arange(n)})
    f = f.iloc[rows]
    lapse = event[rows] == 1
    cens = f.loc[~lapse]
    ref = cens.groupby(["st", "stop", "member", "cls"], sort=False, dropna=False)["row"].agg(
        ["first", "size"])
    np.testing.assert_array_equal(got_rows, np.r_[rows[lapse], ref["first"].to_numpy()])
    np.testing.assert_array_equal(got_w, np.r_[np.ones(lapse.sum()), ref["size"].to_numpy()])
    assert len(ref) < len(cens)


def test_month_labels_are_pandas_period_strings():
    """churn_frame's acquisition_cohort (_month_labels: each distinct month formatted once)
    equals pandas' ``dt.to_period("M").astype(str)``, with times of day, and with a NaT (which
    goes to pandas)."""
    from retention_lab.survival.data import _month_labels
    rng = np.random.default_rng(0)
    s = pd.Series(pd.Timestamp("1969-12-31 23:00") + pd.to_timedelta(rng.integers(0, 20000, 3000),
                                                                     "D"), index=rng.permutation(3000))
    pd.testing.assert_series_equal(_month_labels(s), s.dt.to_period("M").astype(str))
    s.iloc[5] = pd.NaT
    pd.testing.assert_series_equal(_month_labels(s), s.dt.to_period("M").astype(str))


def test_positions_are_pandas_get_indexer():
    """positions (a lookup table for dense integer ids) equals pandas' Index.get_indexer: ids
    absent, below and above the index's range, negative, unsigned, sparse (pandas' branch),
    strings; duplicated index ids raise pandas' error as before."""
    from pandas.errors import InvalidIndexError

    from retention_lab.survival._episodes import positions
    rng = np.random.default_rng(4)
    index = rng.permutation(np.arange(-50, 950))[:700]
    cases = [(index, rng.integers(-80, 1000, 5000)),
             (index.astype(np.uint64) + 100, rng.integers(0, 1200, 5000).astype(np.uint64)),
             (index * 10_000, rng.choice(index * 10_000, 5000)),            # sparse
             (index.astype(str), rng.integers(-80, 1000, 5000).astype(str))]
    for idx, ids in cases:
        np.testing.assert_array_equal(positions(idx, ids), pd.Index(idx).get_indexer(ids))
    with pytest.raises(InvalidIndexError):
        positions(np.r_[index, index[:3]], index)


def test_history_splits_only_where_the_class_moves():
    """With the purchase ages sorted by customer and age, the long format splits a follow-up
    only at the purchases that change the purchase-history class (issue 22): the same model as
    splitting at every purchase (the ages shuffled: every purchase splits) — coefficients to
    1e-9 from our partial likelihood, and to lifelines' own precision (1e-6) from lifelines'
    CoxTimeVaryingFitter on the every-purchase episodes; the class of every purchase day in
    the filtered episodes is the count of purchase days so far, brute force."""
    from retention_lab.survival.data import churn_frame
    from retention_lab.survival.time_varying import (
        HISTORY_BINS,
        enrolment_long_format,
        launch_of,
        purchase_ages,
        time_varying_enrolment,
    )
    from survival_sims import bgnbd_enrolment
    data = bgnbd_enrolment(1500, theta=0.8, seed=5)
    t = churn_frame(data, 90, columns=None)
    t["entry_age"] = (launch_of(data) - t["first_purchase"]).dt.days.astype(float)
    ages = purchase_ages(data, t, by_customer=True)
    shuffled = ages.sample(frac=1.0, random_state=2)
    kw = dict(entry_age="entry_age", calendar=("entry_age", 91.0))
    few, _ = enrolment_long_format(t, "enrolment_age", collapse_rows=False, purchases=ages, **kw)
    every, _ = enrolment_long_format(t, "enrolment_age", collapse_rows=False,
                                     purchases=shuffled, **kw)
    assert len(few) < 0.8 * len(every)
    # brute force: at each purchase age inside the follow-up, the class indicator of the
    # episode covering the age just after it is the count of purchase days up to it
    cols = [c for c in few.columns if c.startswith("purchases=")]
    a = ages.assign(n=ages.groupby("customer_id").cumcount() + 1)  # (days up to this one)
    ep = few.merge(a, on="customer_id")
    ep = ep.loc[(ep["start"] <= ep["age"]) & (ep["age"] < ep["stop"])]
    assert len(ep) > 1000
    cls = np.searchsorted(np.asarray(HISTORY_BINS), ep["n"].to_numpy(), side="right")
    got = 1 + np.argmax(np.c_[np.zeros(len(ep)), ep[cols].to_numpy()], axis=1)
    np.testing.assert_array_equal(got, cls)
    fit = lambda p: time_varying_enrolment(t, "enrolment_age", purchases=p, **kw)  # noqa: E731
    ours, ref_ours = fit(ages).model_summary, fit(shuffled).model_summary
    np.testing.assert_allclose(ours["coef"], ref_ours["coef"], rtol=1e-9, atol=1e-12)
    lif = CoxTimeVaryingFitter().fit(every.drop(columns=["customer_id"]), event_col="churned")
    names = {"member (time-varying)": "member"}
    for k in ours.index:
        assert ours.loc[k, "coef"] == pytest.approx(lif.params_[names.get(k, k)], rel=1e-6,
                                                    abs=1e-7), k
