"""Degenerate designs end in a DataError saying what the data lack, or in a section that says
why it is empty (issue 20, "Designs").

Before the fix (measured 2026-12-06): all customers in one arm, or every customer a member,
raised ``ZeroDivisionError: Weights sum to zero`` (impact/randomized.py smd); one customer a
``LinAlgError`` (impact/frequency.py); a control arm enrolled like the invited one gave an
effect on members of 0 → 2.6e13 purchases with only a "warn"; a segment-column typo gave an
empty section without a note, and one customer per level ``KeyError: 'ci_low'``.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import DataError, ids
from retention_lab.impact import heterogeneity, preflight
from retention_lab.impact.core.frequency import nb_rate_ratio
from retention_lab.impact.randomized import smd
from retention_lab.impact.randomized.design import control_enrolment_check

FAST = dict(clv=False, survival=False, sensitivity=False, event_study=False)


@pytest.fixture(scope="module")
def study():
    return rl.datasets.simulate_loyalty_experiment(n_customers=1500, seed=5)


def analyze(data, **kw):
    kw.setdefault("segment_column", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rl.impact.analyze(data, **FAST, **kw)


def test_all_customers_in_one_arm(study):
    cust = study.customers.assign(arm="treatment")
    with pytest.raises(DataError) as e:
        analyze(dataclasses.replace(study, customers=cust))
    assert e.value.column == "arm" and "0 customers in arm 'control'" in str(e.value)


def test_every_customer_a_member():
    ss = rl.datasets.simulate_loyalty_experiment(n_customers=1500, design="self_selected",
                                                 seed=5)
    cust = ss.customers.assign(enrolled_at=ss.customers["enrolled_at"].fillna(
        ss.launch_date + pd.Timedelta(days=3)))
    with pytest.raises(DataError) as e:
        analyze(dataclasses.replace(ss, customers=cust), design="launch")
    assert e.value.column == "enrolled_at" and "every customer enrolled" in str(e.value)


@pytest.mark.parametrize("n_tx", [5, 1_000_000])
def test_one_customer(study, n_tx):
    """One customer, with a handful or 10⁶ transactions (the latter raised statsmodels'
    ValueError): the comparison needs customers in both arms."""
    one = study.customers.iloc[[0]]
    cid = one["customer_id"].iloc[0]
    rng = np.random.default_rng(0)
    days = rng.integers(0, (study.observation_end - study.launch_date).days, n_tx)
    tx = pd.DataFrame({"customer_id": cid, "date": study.launch_date +
                       pd.to_timedelta(np.sort(days), unit="D"),
                       "amount": rng.uniform(1, 50, n_tx), "order_id": np.arange(n_tx)})
    with pytest.raises(DataError) as e:
        analyze(dataclasses.replace(study, customers=one, transactions=tx))
    assert e.value.column == "arm" and "at least 10 in each group" in str(e.value)


def test_estimators_refuse_empty_groups_directly():
    with pytest.raises(DataError, match="control group is empty"):
        smd([1.0, 2.0], [True, True])
    with pytest.raises(DataError, match="control group has 1 customer"):
        nb_rate_ratio([1, 2, 0], [365, 365, 365], [1, 1, 0])
    with pytest.raises(DataError, match="treated group has no purchase"):
        nb_rate_ratio([0, 0, 3, 1], [365] * 4, [1, 1, 0, 0])


def test_a_group_without_purchases_in_the_window(study):
    ctrl = study.customers.loc[study.customers["arm"] == "control", "customer_id"]
    tx = study.transactions
    keep = ~(tx["customer_id"].isin(ctrl) & (tx["date"] >= study.launch_date))
    with pytest.raises(DataError) as e:
        analyze(dataclasses.replace(study, transactions=tx.loc[keep]))
    assert "arm 'control'" in str(e.value) and e.value.rule.startswith("each compared group")


def _leaky(study, share, seed=0):
    cust = study.customers.copy()
    rng = np.random.default_rng(seed)
    ctrl = (cust["arm"] == "control") & (rng.random(len(cust)) < share)
    cust.loc[ctrl, "enrolled_at"] = study.launch_date + pd.Timedelta(days=10)
    return dataclasses.replace(study, customers=cust)


def test_control_enrolled_like_the_invited_fails_and_keeps_the_itt(study):
    """Control customers enrolled at the invited arm's rate: no first stage. The effect on
    members is not identified (no row, the reason in take_up), the ITT rows stay, finite."""
    invited_rate = study.customers.loc[study.customers["arm"] == "treatment",
                                       "enrolled_at"].notna().mean()
    rep = analyze(_leaky(study, invited_rate))
    check = rep.checks.set_index("id").loc[ids.CHECK_CONTROL_NOT_ENROLLED]
    assert check["status"] == "fail"
    assert not (rep.effects["estimand"] == ids.MEMBERS).any()
    assert "not identified" in rep.take_up["members_not_identified"]
    itt = rep.effects.loc[rep.effects["estimand"] == ids.ITT]
    assert set(ids.PRIMARY_METRICS) <= set(itt["metric"])
    assert np.isfinite(itt[["control", "treatment", "abs_diff", "ci_low", "ci_high"]]
                       .to_numpy(float)).all()
    assert ids.CHECK_CONTROL_NOT_ENROLLED in rep.settings["members_not_identified_because"]
    assert rep.identified and rep.verdict["claim"] != "not identified"   # the ITT stands


def test_a_little_leakage_warns_and_keeps_the_wald_estimate(study):
    rep = analyze(_leaky(study, 0.02))
    check = rep.checks.set_index("id").loc[ids.CHECK_CONTROL_NOT_ENROLLED]
    assert check["status"] == "warn" and check["value"] > 0
    members = rep.effects.loc[rep.effects["estimand"] == ids.MEMBERS]
    assert len(members) and np.isfinite(members["abs_diff"].to_numpy(float)).all()


@pytest.mark.parametrize("n_control_members,take_up,se,status", [
    (0, 0.30, 0.01, "pass"),
    (10, 0.30, 0.01, "warn"),     # 10 / 1000 = 1 % of control, strong first stage
    (50, 0.30, 0.01, "fail"),     # 5 % of control: leakage
    (10, 0.01, 0.01, "fail"),     # the take-up difference's interval includes 0
])
def test_control_enrolment_rule(n_control_members, take_up, se, status):
    out = pd.DataFrame({"enrolled": np.r_[np.zeros(1000), np.zeros(1000)]})
    out.loc[1000:1000 + n_control_members - 1, "enrolled"] = 1.0
    z = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    assert control_enrolment_check(out, z, take_up, se, 1.96)["status"] == status


def _fake_estimate(mask, metrics):
    return pd.DataFrame({"metric": list(metrics), "estimand": "ITT", "control": 1.0,
                         "treatment": 1.1, "abs_diff": 0.1, "rel_lift": 0.1, "ci_low": 0.0,
                         "ci_high": 0.2, "p_value": 0.05, "se": 0.05})


def test_segment_column_typo_gives_a_reason(study):
    rep = analyze(study, segment_column="tierr")
    assert rep.segments.empty
    reason = rep.segments.attrs["reason"]
    assert "'tierr'" in reason and "tier" in reason.split("could segment:")[1]


def test_segment_with_too_many_levels_or_one_customer_each():
    n = 600
    out = pd.DataFrame({"uid": np.arange(n).astype(str), "few": np.repeat(["x"], n),
                        "tiny": np.arange(n) % 40})
    res = heterogeneity.segment_effects(out, "uid", _fake_estimate)
    assert res.empty and "600 distinct values (more than 50)" in res.attrs["reason"]
    small = out.iloc[:40]
    res = heterogeneity.segment_effects(small, "tiny", _fake_estimate)
    assert res.empty and "no level of 'tiny' has 50 customers" in res.attrs["reason"]
    assert {"ci_low", "ci_high"} <= set(res.columns)
    res = heterogeneity.segment_effects(out, "few", _fake_estimate)
    assert len(res) == 3 and "reason" not in res.attrs


def test_mixed_small_and_large_levels_keep_every_column():
    out = pd.DataFrame({"seg": ["big"] * 80 + ["small"] * 5})
    res = heterogeneity.segment_effects(out, "seg", _fake_estimate)
    small = res.loc[res["level"] == "small"]
    assert small["note"].str.startswith("not estimated").all()
    assert small[["ci_low", "ci_high"]].isna().all().all()
    assert list(res.columns) == heterogeneity.COLUMNS


def test_preflight_minimum_is_documented():
    assert preflight.MIN_PER_GROUP == 10
    assert str(preflight.MIN_PER_GROUP) in preflight.__doc__ or "ten" in preflight.__doc__
