"""Cox fits that have no finite answer (issue 20, "Numbers that are really failures").

* A covariate that separates the lapses (monotone partial likelihood) used to give HR 42
  [17, 105] from an automatic L2 refit, shown as the estimate. Now the separated column is
  reported as such (coefficient ±inf, no interval, a ``SeparationWarning``), the penalised
  refit is kept apart and labelled (``penalized_summary_``).
* No lapse at all: a ``DataError`` (was lifelines' ``ZeroDivisionError`` / a ``LinAlgError``).
* The counting-process Cox checks convergence; cross-checked with lifelines'
  ``CoxTimeVaryingFitter``, which warns on the same data and agrees where it converges.

Data are built in the tests; the separation detector is checked against a brute-force loop
over every lapse's risk set.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

import retention_lab as rl
from retention_lab.errors import RetentionLabWarning, SeparationWarning
from retention_lab.survival._cox import CountingProcessCox
from retention_lab.survival.regression import separated_columns


def _churn(seed=3, n=300):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, n)
    return pd.DataFrame({"duration": rng.exponential(100, n).round(1),
                         "churned": (rng.random(n) < 0.5).astype(int),
                         "g": np.where(g == 1, "a", "b"), "z": rng.normal(size=n)})


def test_separating_covariate_is_reported_not_estimated():
    tab = _churn()
    tab["churned"] = np.where(tab["g"] == "a", tab["churned"], 0)   # lapses only among g=a
    with pytest.warns(SeparationWarning, match="g=a"):
        m = rl.survival.ChurnCoxModel().fit(tab, ["g", "z"], reference={"g": "b"})
    assert m.separation_ == {"g=a": 1}
    row = m.summary.loc["g=a"]
    assert row["coef"] == np.inf and row["hazard_ratio"] == np.inf
    assert row[["se", "hr_lower", "hr_upper", "p_value"]].isna().all()
    assert "separation" in row["method"] and "not an estimate" in row["method"]
    # the penalised refit is kept, finite and labelled; the other column says it is penalised
    pen = m.penalized_summary_
    assert np.isfinite(pen.loc["g=a", "hazard_ratio"]) and pen.loc["g=a", "hazard_ratio"] > 1
    assert pen["method"].str.contains("not a maximum-likelihood estimate").all()
    assert "penalised" in m.summary.loc["z", "method"]
    assert "cannot be estimated" in m.interpretation
    # lapses never among g=a (the non-reference level): the hazard ratio runs to 0
    tab2 = _churn(seed=4)
    tab2["churned"] = np.where(tab2["g"] == "a", 0, tab2["churned"])
    with pytest.warns(SeparationWarning):
        m2 = rl.survival.ChurnCoxModel().fit(tab2, ["g", "z"], reference={"g": "b"})
    assert m2.separation_ == {"g=a": -1}
    assert m2.summary.loc["g=a", "hazard_ratio"] == 0.0


def test_no_separation_no_warning_and_plain_estimate():
    tab = _churn()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RetentionLabWarning)
        m = rl.survival.ChurnCoxModel().fit(tab, ["g", "z"])
    assert m.separation_ == {} and m.penalized_summary_ is None
    assert m.fitter_.penalizer == 0
    assert m.summary["se"].notna().all()


def _brute_separated(X, d, e, strata=None):
    out = {}
    strata = np.zeros(len(d)) if strata is None else np.asarray(strata)
    for col in X.columns:
        x = X[col].to_numpy(float)
        hi_all = lo_all = True
        varies = False
        for i in np.flatnonzero(e == 1):
            risk = (d >= d[i]) & (strata == strata[i])
            varies |= x[risk].max() > x[risk].min()
            hi_all &= x[i] == x[risk].max()
            lo_all &= x[i] == x[risk].min()
        if varies and (hi_all or lo_all):
            out[col] = 1 if hi_all else -1
    return out


@pytest.mark.parametrize("seed", range(6))
def test_separation_detector_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 60
    d = rng.integers(1, 15, n).astype(float)            # many ties
    e = (rng.random(n) < 0.3).astype(int)
    s = rng.integers(0, 2, n)
    X = pd.DataFrame({"noise": rng.normal(size=n).round(1),
                      "late": (d >= np.quantile(d, 0.5)).astype(float),
                      "lapse_flag": e.astype(float),          # separates towards +inf
                      "neg_lapse": -e * rng.uniform(1, 2, n)})  # separates towards -inf
    for strata in (None, s):
        st = None if strata is None else pd.DataFrame({"s": strata})
        assert separated_columns(X, d, e, strata=st) == _brute_separated(X, d, e, strata)


def test_no_lapse_is_a_data_error():
    tab = _churn().assign(churned=0)
    with pytest.raises(rl.DataError, match="at least one row with churned = 1") as err:
        rl.survival.ChurnCoxModel().fit(tab, ["z"])
    assert (err.value.column, err.value.n_rows) == ("churned", 300)
    long = tab.assign(start=0.0, stop=tab["duration"] + 1)[["start", "stop", "churned", "z"]]
    with pytest.raises(rl.DataError, match="churned = 1"):
        CountingProcessCox().fit(long, "churned")
    # the parametric families' scale runs to infinity and the log-rank statistic is 0/0
    with pytest.raises(rl.DataError, match="parametric lifetime model needs at least one lapse"):
        rl.survival.ParametricRetention().fit(tab)
    with pytest.raises(rl.DataError, match="log-rank test needs at least one lapse"):
        rl.survival.logrank(tab, "g")


def _episodes(seed=3, n=400, separate=False):
    """Customers split into two episodes at age 20; ``m`` switches on in the second. With
    ``separate`` nobody lapses while ``m`` = 1 (its coefficient runs to −∞)."""
    rng = np.random.default_rng(seed)
    stop = rng.exponential(60, n).round(1) + 1
    ev = (rng.random(n) < 0.6).astype(int)
    z = rng.normal(size=n)
    switch = rng.random(n) < 0.5
    rows = []
    for i in range(n):
        if switch[i] and stop[i] > 20:
            rows.append((0.0, 20.0, 0, 0.0, z[i]))
            rows.append((20.0, stop[i], 0 if separate else ev[i], 1.0, z[i]))
        else:
            rows.append((0.0, stop[i], ev[i], 0.0, z[i]))
    return pd.DataFrame(rows, columns=["start", "stop", "churned", "m", "z"])


def test_counting_process_cox_checks_convergence_like_lifelines():
    sep = _episodes(separate=True)
    with pytest.warns(SeparationWarning, match="m run to"):
        ours = CountingProcessCox().fit(sep, "churned")
    assert ours.at_boundary_.to_dict() == {"m": True, "z": False}
    assert not ours.converged_
    assert ours.params_["m"] < -10
    assert ours.summary.loc["m", ["se(coef)", "p"]].isna().all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = CoxTimeVaryingFitter().fit(sep, event_col="churned", start_col="start",
                                         stop_col="stop")
    assert any("onvergence" in type(w.message).__name__ for w in caught)   # lifelines agrees
    # the other coefficient is unaffected and equal to lifelines'
    assert ours.params_["z"] == pytest.approx(ref.params_["z"], abs=1e-6)
    # well-posed data: no warning, converged, equal to lifelines
    ok = _episodes(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RetentionLabWarning)
        ours = CountingProcessCox().fit(ok, "churned")
    assert ours.converged_ and not ours.at_boundary_.any()
    ref = CoxTimeVaryingFitter().fit(ok, event_col="churned", start_col="start", stop_col="stop")
    assert np.allclose(ours.params_, ref.params_[ours.params_.index], atol=1e-7)
    assert np.allclose(ours.standard_errors_, ref.standard_errors_[ours.params_.index],
                       rtol=1e-6)


def test_separation_by_a_combination_is_labelled_penalised():
    """Lapses ordered by x1 + x2 (each lapsing customer has the largest x1 + x2 of those still
    at risk) but by neither column alone: the plain fit has no finite maximum, the univariate
    detector finds nothing, and the penalised refit is labelled as such, with a package
    ConvergenceWarning."""
    rng = np.random.default_rng(11)
    n = 200
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    s = x1 + x2
    ev = s > np.quantile(s, 0.6)
    dur = np.where(ev, 100 - 10 * s, 200.0)        # larger x1 + x2 lapses earlier
    tab = pd.DataFrame({"duration": dur, "churned": ev.astype(int), "x1": x1, "x2": x2})
    assert separated_columns(tab[["x1", "x2"]], dur, ev.astype(int)) == {}
    with pytest.warns(rl.errors.ConvergenceWarning, match="L2-penalised"):
        m = rl.survival.ChurnCoxModel().fit(tab, ["x1", "x2"], check_ph=False)
    assert m.separation_ == {} and m.fitter_.penalizer > 0
    assert m.summary["method"].str.contains("not a maximum-likelihood estimate").all()
    assert m.penalized_summary_ is not None
