"""Business metrics: exact values on hand-computed examples, intervals against statsmodels and
by simulation with known truth, and the errors for impossible input."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

import retention_lab as rl
from retention_lab import DataError, metrics as m


def message(excinfo) -> str:
    return str(excinfo.value).splitlines()[0]


# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize("x, n, alpha", [(0, 10, 0.05), (3, 10, 0.05), (10, 10, 0.05),
                                         (800, 1000, 0.05), (1, 2357, 0.1), (57, 91, 0.01)])
def test_wilson_matches_statsmodels(x, n, alpha):
    expected = proportion_confint(x, n, alpha=alpha, method="wilson")
    assert m.wilson_interval(x, n, alpha) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- retention / churn


def test_retention_rate_seed_formula():
    r = m.retention_rate(customers_start=1000, customers_end=900, new_customers=100)
    assert r.value == 0.8  # (900 - 100) / 1000
    assert r.n == 1000
    assert r.ci == pytest.approx(proportion_confint(800, 1000, method="wilson"), abs=1e-12)
    assert r.method == "Wilson score interval"
    assert r.details == dict(customers_start=1000, customers_end=900, new_customers=100,
                             retained=800)


@pytest.mark.parametrize("s, e, n, value", [(200, 180, 20, 0.8), (50, 50, 0, 1.0),
                                            (50, 30, 30, 0.0), (3, 4, 2, 2 / 3)])
def test_retention_rate_examples(s, e, n, value):
    assert m.retention_rate(s, e, n).value == pytest.approx(value, abs=1e-15)


def test_retention_rate_impossible_counts():
    with pytest.raises(DataError) as err:
        m.retention_rate(100, 40, 50)
    assert message(err) == (
        "retention_rate: customers_end - new_customers = 40 - 50 = -10 is negative (more new "
        "customers than customers at the end); rule '0 <= customers_end - new_customers <= "
        "customers_start'")
    with pytest.raises(DataError) as err:
        m.retention_rate(100, 130, 20)
    assert message(err) == (
        "retention_rate: customers_end - new_customers = 130 - 20 = 110 exceeds "
        "customers_start = 100 (more customers retained than there were); rule '0 <= "
        "customers_end - new_customers <= customers_start'")
    with pytest.raises(DataError) as err:
        m.retention_rate(0, 10, 10)
    assert message(err) == ("retention_rate: customers_start = 0; rule 'customers_start > 0' "
                            "(the rate is undefined without starting customers)")
    with pytest.raises(DataError) as err:
        m.retention_rate(100, -1, 0)
    assert message(err) == "retention_rate: customers_end = -1 is negative; rule 'customers_end >= 0'"
    with pytest.raises(DataError) as err:
        m.retention_rate(100.5, 90, 10)
    assert message(err) == ("retention_rate: customers_start = 100.5 is not a whole number; "
                            "rule 'customers_start is a count'")
    assert isinstance(err.value, ValueError)


def test_churn_rate():
    r = m.churn_rate(400, 52)
    assert r.value == 0.13 and r.n == 400
    assert r.ci == pytest.approx(proportion_confint(52, 400, method="wilson"), abs=1e-12)
    # churn and retention of the same counts are complements
    kept = m.retention_rate(400, 400 - 52 + 17, 17)
    assert kept.value == pytest.approx(1 - r.value)
    assert kept.ci == pytest.approx((1 - r.ci[1], 1 - r.ci[0]))
    with pytest.raises(DataError) as err:
        m.churn_rate(10, 11)
    assert message(err) == ("churn_rate: customers_lost = 11 exceeds customers_start = 10; "
                            "rule 'customers_lost <= customers_start'")


def counts_tx() -> pd.DataFrame:
    """Period 2024-04-01 → 2024-06-30, inactivity 30 days (a customer on day d bought in
    (d − 30, d])."""
    rows = [
        ("kept", "2024-03-20"), ("kept", "2024-06-25"),           # S and E
        ("lost", "2024-03-15"), ("lost", "2024-04-10"),           # S only
        ("edge_out", "2024-03-02"),                               # exactly 30 days before: not S
        ("edge_in", "2024-03-03"), ("edge_in", "2024-06-01"),     # 29 days: S; 06-01: E
        ("first", "2024-05-05"), ("first", "2024-06-30 18:00"),   # new, first time
        ("back", "2023-11-01"), ("back", "2024-06-20"),           # new, reactivated
        ("late", "2024-07-02"),                                   # after the period
    ]
    return pd.DataFrame({"customer_id": [r[0] for r in rows],
                         "date": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
                         "amount": 10.0})


def test_customer_counts_hand_example():
    c = m.customer_counts(counts_tx(), "2024-04-01", "2024-06-30", inactivity_days=30)
    # S = kept, lost, edge_in; E = kept, edge_in, first, back; N = first, back
    assert c == m.CustomerCounts(customers_start=3, customers_end=4, new_customers=2,
                                 first_time=1, reactivated=1)
    r = m.retention_rate_from_transactions(counts_tx(), "2024-04-01", "2024-06-30",
                                           inactivity_days=30)
    assert r.value == pytest.approx(2 / 3)
    assert (r.details["first_time"], r.details["reactivated"]) == (1, 1)


def test_retention_from_transactions_cdnow(cdnow_sample):
    c = m.customer_counts(cdnow_sample, "1997-06-30", "1997-12-31", inactivity_days=90)
    # the CDNOW cohort was acquired in Q1 1997: nobody is new in the second half, only back
    assert c.first_time == 0
    r = m.retention_rate(c.customers_start, c.customers_end, c.new_customers)
    # check by hand: the share of customers active in (Apr 1, Jun 30] also active in
    # (Oct 2, Dec 31]
    day = cdnow_sample["date"]
    start = set(cdnow_sample.loc[(day > "1997-04-01") & (day <= "1997-06-30"), "customer_id"])
    end = set(cdnow_sample.loc[(day > "1997-10-02") & (day <= "1997-12-31"), "customer_id"])
    assert (c.customers_start, c.customers_end) == (len(start), len(end))
    assert r.value == pytest.approx(len(start & end) / len(start))


# --------------------------------------------------------------------------- NPS / CSAT


def test_nps_hand_example():
    r = m.nps([10, 9, 9, 7, 2])  # 3 promoters, 1 passive, 1 detractor
    assert r.value == pytest.approx(40.0)
    se = 100 * math.sqrt((0.6 + 0.2 - 0.4 ** 2) / 5)  # 35.78
    assert r.details["se"] == pytest.approx(se)
    assert r.ci == pytest.approx((40 - 1.959964 * se, min(100.0, 40 + 1.959964 * se)), abs=1e-4)
    assert r.ci[1] == 100.0  # clipped to the scale
    assert (r.details["promoters"], r.details["passives"], r.details["detractors"]) == (3, 1, 1)
    assert r.details["share_promoters"] == pytest.approx(0.6)
    assert r.unit == "points" and r.n == 5


def test_nps_balanced_example_and_missing_answers():
    r = m.nps(pd.Series([10, 10, 9, 8, 7, 6, 5, 0, 3, 10, None, None]))
    assert r.value == 0.0 and r.n == 10 and r.details["n_missing"] == 2
    assert r.ci == pytest.approx((-55.4362, 55.4362), abs=1e-4)  # 1.96 * 100 * sqrt(0.08)


def test_nps_accepts_a_surveys_frame():
    surveys = pd.DataFrame({"customer_id": [1, 2, 3], "nps": [10, 0, 8], "csat": [5, 1, 4]})
    assert m.nps(surveys).value == pytest.approx(0.0)
    assert m.csat(surveys).value == pytest.approx(2 / 3)


def test_nps_interval_coverage():
    """Shares (0.45, 0.30, 0.25) → true NPS 20; 1,000 surveys of 300: the 95 % interval should
    cover 20 in 93–97 % of them (binomial SE of the coverage ≈ 0.7 points)."""
    rng = np.random.default_rng(20240501)
    scores = np.array([10, 9, 8, 7, 6, 3])
    probs = np.array([0.25, 0.20, 0.15, 0.15, 0.10, 0.15])
    covered = 0
    for _ in range(1000):
        r = m.nps(rng.choice(scores, size=300, p=probs))
        covered += r.ci[0] <= 20 <= r.ci[1]
    assert 0.93 <= covered / 1000 <= 0.97


def test_nps_rejects_scores_off_the_scale():
    with pytest.raises(DataError) as err:
        m.nps([10, 11, 7, -1, 8.5])
    assert message(err) == ("surveys.nps: 3 of 5 rows break the rule 'nps is a whole number "
                            "from 0 to 10'")
    assert err.value.examples["nps"].tolist() == [11, -1, 8.5]
    with pytest.raises(DataError) as err:
        m.nps(["10", "nine"])
    assert message(err) == ("surveys.nps: 1 of 2 rows break the rule 'nps is a whole number "
                            "from 0 to 10'")
    with pytest.raises(DataError) as err:
        m.nps([None, None])
    assert message(err) == "surveys.nps: no responses; rule 'at least one response'"


def test_csat():
    r = m.csat([5, 4, 4, 3, 2, 1, 5, 5, 3, 4])  # 6 of 10 answer 4 or 5
    assert r.value == 0.6 and r.n == 10
    assert r.ci == pytest.approx(proportion_confint(6, 10, method="wilson"), abs=1e-12)
    assert r.details["score_5"] == 3 and r.details["mean_score"] == pytest.approx(3.6)
    with pytest.raises(DataError) as err:
        m.csat([5, 0, 6])
    assert message(err) == ("surveys.csat: 2 of 3 rows break the rule 'csat is a whole number "
                            "from 1 to 5'")


# --------------------------------------------------------------------------- purchases


def test_repeat_purchase_rate_hand_example():
    tx = pd.DataFrame({
        "customer_id": [1, 1, 2, 2, 3, 4, 4],
        # customer 2 bought twice on one day: one purchase day, not a repeat customer
        "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05 09:00",
                                "2024-01-05 17:00", "2024-01-09", "2024-01-02", "2024-03-02"],
                               format="ISO8601"),
        "amount": 1.0,
    })
    r = m.repeat_purchase_rate(tx)
    assert r.value == 0.5 and r.n == 4 and r.details["repeat_customers"] == 2
    assert r.ci == pytest.approx(proportion_confint(2, 4, method="wilson"), abs=1e-12)
    assert m.repeat_purchase_rate(tx, observation_end="2024-02-29").value == 0.25


def test_repeat_purchase_rate_transactions_and_summary_agree(cdnow_sample):
    from_tx = m.repeat_purchase_rate(cdnow_sample)
    summary = rl.features.rfm_summary(cdnow_sample, observation_end="1998-06-30", freq="D")
    from_summary = m.repeat_purchase_rate(summary)
    assert from_tx.n == from_summary.n == 2357
    assert from_tx.details["repeat_customers"] == from_summary.details["repeat_customers"] == 1139


def test_simple_cltv_plug_in_and_delta_method():
    r = m.simple_cltv(40.0, 3.0, 2.5)
    assert r.value == 300.0 and all(math.isnan(x) for x in r.ci)
    assert "CI not available" in repr(r)
    r = m.simple_cltv(40.0, 3.0, 2.5, se=(2.0, 0.3, 0.5))
    # Var = (3 * 2.5 * 2)^2 + (40 * 2.5 * 0.3)^2 + (40 * 3 * 0.5)^2 = 225 + 900 + 3600
    assert r.details["se"] == pytest.approx(math.sqrt(4725))
    assert r.ci == pytest.approx((300 - 1.959964 * math.sqrt(4725),
                                  300 + 1.959964 * math.sqrt(4725)), abs=1e-3)
    with pytest.raises(ValueError, match="simple_cltv: lifespan must be a finite non-negative"):
        m.simple_cltv(40.0, 3.0, -1)


def test_simple_cltv_delta_method_coverage():
    """Independent normal component estimates around known means: the delta interval covers
    the true product close to nominally (the product is nearly normal at these CVs)."""
    rng = np.random.default_rng(7)
    truth, se = np.array([40.0, 3.0, 2.5]), np.array([1.0, 0.1, 0.1])
    draws = rng.normal(truth, se, size=(2000, 3))
    intervals = [m.simple_cltv(*d, se=tuple(se)).ci for d in draws]
    covered = sum(lo <= 300 <= hi for lo, hi in intervals)
    assert 0.935 <= covered / 2000 <= 0.965


def cltv_tx() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["A", "A", "B", "B", "C", "D"],
        "date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01", "2024-12-01",
                                "2024-05-01", "2024-11-01"]),
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    })


def test_simple_cltv_from_transactions_hand_example():
    """End 2024-12-31, 90 days → cutoff 2024-10-02. A lapses after 60 days; B is censored at
    the cutoff after 244 days (its December purchase is after the cutoff); C lapses at once;
    D is too new. Revenue 110 over 4 purchases, 304 customer-days, 2 lapses."""
    r = m.simple_cltv_from_transactions(cltv_tx(), 90, "2024-12-31", time_unit="day", n_boot=200)
    d = r.details
    assert d["average_purchase_value"] == pytest.approx(27.5)
    assert d["purchase_frequency"] == pytest.approx(4 / 304)
    assert d["lifespan"] == pytest.approx(152.0)
    assert r.value == pytest.approx(55.0)  # revenue / lapses
    assert (r.n, d["purchases"], d["lapses"]) == (3, 4, 2)
    yearly = m.simple_cltv_from_transactions(cltv_tx(), 90, "2024-12-31", n_boot=200)
    assert yearly.value == pytest.approx(55.0)  # the unit cancels
    assert yearly.details["lifespan"] == pytest.approx(152 / 365.2425)  # mean Gregorian year (retention_lab.units)


def test_simple_cltv_from_transactions_cdnow(cdnow_sample):
    r = m.simple_cltv_from_transactions(cdnow_sample, inactivity_days=90,
                                        observation_end="1998-06-30", seed=3)
    again = m.simple_cltv_from_transactions(cdnow_sample, inactivity_days=90,
                                            observation_end="1998-06-30", seed=3)
    assert r.ci == again.ci  # fixed seed: reproducible
    assert r.ci[0] < r.value < r.ci[1]
    d = r.details
    assert r.value == pytest.approx(d["average_purchase_value"] * d["purchase_frequency"]
                                    * d["lifespan"])
    # every CDNOW customer was acquired by the cutoff (1998-04-01)
    assert r.n == 2357
    # the bootstrap SE is close to the delta method's on the bootstrap component SEs
    delta = m.simple_cltv(d["average_purchase_value"], d["purchase_frequency"], d["lifespan"],
                          se=(d["se_average_purchase_value"], d["se_purchase_frequency"],
                              d["se_lifespan"]))
    assert 0.5 < d["se"] / delta.details["se"] < 2.0


def test_simple_cltv_from_transactions_needs_a_lapse():
    tx = cltv_tx().query("customer_id == 'B'")
    with pytest.raises(DataError) as err:
        m.simple_cltv_from_transactions(tx, 90, "2024-12-31")
    assert message(err) == ("simple_cltv_from_transactions: no confirmed lapse, so the lifespan "
                            "cannot be estimated; rule 'at least one churned customer'")


# --------------------------------------------------------------------------- the result object


def test_metric_result_prints_and_serialises():
    r = m.retention_rate(1000, 900, 100)
    assert repr(r) == ("retention_rate = 0.8 (95% CI 0.7741 to 0.8236), n = 1,000 "
                       "[Wilson score interval]")
    html = r._repr_html_()
    assert "<b>retention_rate</b>" in html and "retained" in html and "800" in html
    d = r.to_dict()
    assert d["value"] == 0.8 and d["n"] == 1000 and d["method"] == "Wilson score interval"
    assert (d["ci_low"], d["ci_high"]) == r.ci
    assert (r.lower, r.upper) == r.ci
    with pytest.raises(AttributeError):
        r.value = 0.5  # frozen
    rec = rl.report.recording.record_result("retention_rate", r)
    assert rec["value"] == 0.8 and rec["ci_low"] == r.ci[0] and rec["n"] == 1000
    assert rec["unit"] == "proportion"  # metrics.json: every metric carries a unit (issue 15.2)
    assert rl.report.recording.record_result("nps", m.nps([10, 9, 0, 7]))["unit"] == m.nps([1]).unit != ""


# --------------------------------------------------------------------------- figures


def test_cohort_heatmap(cdnow_sample):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    cohorts = rl.features.cohort_retention(cdnow_sample, freq="M", observation_end="1998-06-30")
    fig = rl.report.figures.cohort_heatmap(cohorts)
    assert isinstance(fig, Figure) and plt.get_fignums() == []  # returned, not left open
    ax = fig.axes[0]
    image = ax.images[0].get_array()
    assert image.shape == (3, 18)
    assert int(image.mask.sum()) == 3  # Feb misses 1, Mar misses 2 unobserved months
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 3 * 18 - 3 and labels[0] == "100%"
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "1997-01 (n=781)", "1997-02 (n=857)", "1997-03 (n=719)"]


def test_segment_bar(cdnow_sample):
    scores = rl.features.rfm_scores(cdnow_sample, observation_end="1998-06-30")
    fig = rl.report.figures.segment_bar(scores)
    bars = fig.axes[0].patches
    counts = scores["segment"].value_counts()
    assert len(bars) == scores["segment"].nunique()
    assert sorted(b.get_width() for b in bars) == sorted(counts.tolist())
    assert sum(b.get_width() for b in bars) == 2357


def test_nps_bar():
    result = m.nps([10] * 45 + [8] * 30 + [3] * 25)
    fig = rl.report.figures.nps_bar(result)
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths == pytest.approx([0.25, 0.30, 0.45])
    assert fig.axes[0].get_title() == "NPS 20 (95% CI 4 to 36), n = 100"


def simulate_exponential_customers(n: int, seed: int, life_mean=300.0, rate=1 / 30,
                                   mean_spend=50.0, end_day=730) -> tuple[pd.DataFrame, str]:
    """Customers acquired uniformly over a year, exponential lifetimes (mean ``life_mean``
    days), Poisson purchases at ``rate`` a day while alive after a first purchase at
    acquisition, gamma spend. Expected lifetime revenue = mean_spend (1 + rate life_mean)."""
    rng = np.random.default_rng(seed)
    acquired = rng.uniform(0, 365, n)
    life = rng.exponential(life_mean, n)
    repeats = rng.poisson(rate * life)
    owner = np.repeat(np.arange(n), repeats)
    when = acquired[owner] + rng.uniform(0, 1, owner.size) * life[owner]
    day = np.concatenate([acquired, when])
    ids = np.concatenate([np.arange(n), owner])
    tx = pd.DataFrame({"customer_id": ids,
                       "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.floor(day), "D"),
                       "amount": rng.gamma(4.0, mean_spend / 4.0, day.size)})
    end = pd.Timestamp("2024-01-01") + pd.Timedelta(days=end_day)
    return tx.loc[tx["date"] <= end], str(end.date())


@pytest.mark.parametrize("seed", [1, 2])
def test_simple_cltv_from_transactions_recovers_known_lifetime_revenue(seed):
    """Truth 50 × (1 + 300 / 30) = 550 per customer, with two years observed (a third of the
    customers still alive at the end): the estimate lands within 5 % and its interval covers."""
    tx, end = simulate_exponential_customers(6000, seed)
    r = m.simple_cltv_from_transactions(tx, inactivity_days=90, observation_end=end,
                                        n_boot=300, seed=seed)
    assert r.value == pytest.approx(550, rel=0.05)
    assert r.ci[0] < 550 < r.ci[1]


def test_time_units_and_z_come_from_units():
    """One definition of days per unit and of z (issue 13.7): a month is 365.2425 / 12 days
    everywhere (metrics had 365.25 / 12), and the intervals use z = Phi^-1(0.975)."""
    from statistics import NormalDist

    import retention_lab.features.periods as fp
    from retention_lab import units

    assert m.DAYS_PER_UNIT is units.DAYS_PER_UNIT
    assert units.days_per("month") == 365.2425 / 12 == fp.DAYS_PER["M"]
    assert m._z(0.05) == units.Z95 == pytest.approx(NormalDist().inv_cdf(0.975), abs=1e-12)
    lo, hi = m.wilson_interval(50, 100)
    z = NormalDist().inv_cdf(0.975)  # Wilson (1927) by hand
    centre, half = (0.5 + z * z / 200) / (1 + z * z / 100), \
        z * math.sqrt(0.25 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert (lo, hi) == pytest.approx((centre - half, centre + half), abs=1e-12)
    for unit in ("month", "M"):
        r = m.simple_cltv_from_transactions(cltv_tx(), 90, "2024-12-31", time_unit=unit, n_boot=50)
        assert r.details["lifespan"] == pytest.approx(152 / 30.436875)
    with pytest.raises(ValueError, match="unit must be one of"):
        m.simple_cltv_from_transactions(cltv_tx(), 90, "2024-12-31", time_unit="fortnight")
