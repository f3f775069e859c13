"""The impact result and its names (issue 21): a plain :class:`ImpactResult` (numbers only) is
rendered by the display layer's functions; renamed keywords and the helpers trimmed from
``rl.impact`` keep working with a DeprecationWarning; the designs take one typed input."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import ids
from retention_lab.impact.core import sensitivity
from retention_lab.impact.core.design_io import DesignInput
from retention_lab.impact.result import ImpactResult
from retention_lab.report import impact as display


def _result() -> ImpactResult:
    """Three headline effects on members with p-values 0.01, 0.03, 0.04 (Holm by hand: 0.03,
    0.06, 0.06 — only purchases survives at 0.05) and a benchmark they survive (bias factor 1.0
    against E-value bounds above it), so the verdict is "effect"."""
    rows = [dict(metric=m, estimand=ids.MEMBERS, control=1.0, treatment=1.2, abs_diff=0.2,
                 rel_lift=0.2, ci_low=0.01, ci_high=0.4, p_value=p, rel_ci_low=0.01,
                 rel_ci_high=0.4, se=0.1, n=100, method="m")
            for m, p in zip(ids.PRIMARY_METRICS, (0.01, 0.03, 0.04))]
    sens = pd.DataFrame([dict(metric=m, estimand=ids.MEMBERS, rr=1.2, rr_ci_low=1.1,
                              rr_ci_high=1.3, evalue=1.69, evalue_ci=1.43, benchmark="b",
                              benchmark_bias=1.0) for m in ids.PRIMARY_METRICS])
    return ImpactResult(design="self_selected", effects=pd.DataFrame(rows),
                        checks=pd.DataFrame(columns=["id", "check", "status", "value", "detail"]),
                        segments=pd.DataFrame(), roi={},
                        settings=dict(horizon=365, alpha=0.05), analysis="launch",
                        sensitivity=sens)


def test_a_plain_result_is_rendered_by_the_display_layer():
    res = _result()
    assert not hasattr(res, "summary_text")          # numbers only
    assert res.claim == ids.CLAIM_EFFECT
    fam = res.headline_family().set_index("metric")["p_holm"]
    assert fam.to_dict() == pytest.approx({"purchases": 0.03, "spend": 0.06, "retention": 0.06})
    text = display.summary_text(res, currency="USD")
    assert "For members, the programme raised purchases per customer" in text
    assert "may have raised (not significant after correcting for the 3 headline tests) " \
           "spend per customer" in text


def test_old_names_warn_and_still_work():
    with pytest.warns(DeprecationWarning, match="retention_lab.impact.core.sensitivity"):
        k = rl.impact.k_times
    assert k is sensitivity.k_times
    from retention_lab.impact.randomized.estimators import balance_check  # noqa: F401
    from retention_lab.impact.rolling.trials import MIN_EFFECTIVE_COMPARISON
    assert MIN_EFFECTIVE_COMPARISON == 50
    from retention_lab.impact.report import LABELS, _assumptions  # the display layer's, on use
    assert LABELS["clv"] == "12-month CLV" and callable(_assumptions)


def test_horizon_keyword_is_deprecated_for_horizon_days():
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=300, design="randomized", seed=4)
    with pytest.warns(DeprecationWarning, match="horizon_days"):
        old = rl.impact.outcome_table(exp, horizon=200)
    new = rl.impact.outcome_table(exp, horizon_days=200)
    assert old.attrs["horizon"] == new.attrs["horizon"] == 200
    pd.testing.assert_frame_equal(old, new)


def test_design_input_is_one_frozen_record():
    fields = {f.name for f in dataclasses.fields(DesignInput)}
    assert {"data", "out", "X", "alpha", "horizon_days"} <= fields
    inp = DesignInput(data=None, out=pd.DataFrame(), X=pd.DataFrame())
    with pytest.raises(dataclasses.FrozenInstanceError):
        inp.alpha = 0.1
    assert np.isclose(inp.alpha, 0.05)
