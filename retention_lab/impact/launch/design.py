"""The self-selected design with one launch date: members (who enrolled at their first purchase
after the launch) against eligible non-members, everyone measured from the launch and adjusted
for pre-launch behaviour — propensity, doubly robust ATT, DiD, NB rate ratio, NPS/CSAT,
survival, CLV, sensitivity. The estimators are in :mod:`.self_selected`; members who enrolled
later than their first post-launch purchase are what :mod:`.rolling` is for (the
enrolment-timing check says so)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import ids
from ...errors import DataError
from ..core.balance import CORE, MIN_EFFECTIVE_COMPARISON, OVERLAP_FAIL_SHARE, balance_check
from ..core.common import _clv_rows, _cox, _km, _members_note
from ..core.design_io import DesignInput, DesignResult
from ..core.frequency import nb_rate_ratio
from ..core.power import mde_table
from ..core.propensity import (
    att_effects,
    did_effect,
    fit_propensity,
    naive_effects,
    propensity_balance,
)
from ..core.sensitivity import (
    conditional_benchmarks,
    covariate_benchmarks,
    member_effects,
    sensitivity_table,
)
from ..core.survival_effects import enrolment_hazard_ratio


def analyze_launch(inp: DesignInput) -> DesignResult:
    """The single-launch design's effects, checks and diagnostics (see the module docstring)."""
    data, out, X, alpha, trim = inp.data, inp.out, inp.X, inp.alpha, inp.trim
    D = out["enrolled"].to_numpy() == 1
    elig = out["eligible"].to_numpy() == 1
    if D.sum() == 0:
        raise DataError("customers: no customer enrolled; rule 'some enrolled_at not null' "
                        "(the self-selected design compares members with non-members)",
                        table="customers", column="enrolled_at",
                        rule="some enrolled_at not null", n_rows=0)
    checks = [_members_note(int((D & ~elig).sum()))]
    ps = fit_propensity(out, X, trim=trim)
    ov = ps.overlap()
    trimmed_members = ov["n_trimmed"] / max(ov["n_members"], 1)
    if trimmed_members > OVERLAP_FAIL_SHARE or ov["ess_non_members"] < MIN_EFFECTIVE_COMPARISON:
        status = "fail"   # many members have no comparable non-members: not identified
    elif ov["n_trimmed"] <= 0.05 * ov["n_eligible"] and ov["max_weight_share"] < 0.05:
        status = "pass"
    else:
        status = "warn"
    checks.append(dict(id=ids.CHECK_OVERLAP_LAUNCH, check="propensity overlap", status=status, value=ov["ess_non_members"],
                       detail=f"scores: members {ov['min_member']:.3f}–{ov['max_member']:.3f}, "
                              f"non-members {ov['min_non_member']:.3f}–"
                              f"{ov['max_non_member']:.3f}; {ov['n_trimmed']:,} trimmed (score > "
                              f"{1 - trim:.2f}); effective non-member sample "
                              f"{ov['ess_non_members']:,.0f} of {ov['n_non_members']:,}; largest "
                              f"weight share {ov['max_weight_share']:.2%}"))
    bal = propensity_balance(out, ps, X)
    checks.append(balance_check(bal, "smd", name="balance before weighting (members vs "
                                "eligible non-members)", check_id=ids.CHECK_BALANCE_BEFORE_LAUNCH) | {"status": "pass"} |
                  {"detail": balance_check(bal, "smd")["detail"] + " — imbalance before "
                   "weighting is expected; it is what the weighting corrects"})
    checks.append(balance_check(bal, "smd_weighted", name="balance after weighting",
                                check_id=ids.CHECK_BALANCE_AFTER_LAUNCH))
    effects = [att_effects(out, ps, CORE, alpha=alpha)]
    naive = [naive_effects(out, CORE, alpha=alpha)]
    did = did_effect(out, ps, alpha=alpha)
    gap = did.pop("pre_members") - did.pop("pre_non_members")
    effects.append(pd.DataFrame([did]))
    w = ps.weights()
    effects.append(pd.DataFrame([nb_rate_ratio(out["orders"], out["exposure_days"], D, w,
                                               alpha=alpha, estimand="effect on members "
                                               "(rate ratio)")]))
    for metric, col in (("nps", "nps_score"), ("csat", "csat_score")):
        sub = out[col].notna().to_numpy()
        if (sub & ps.kept_ & D).sum() > 10 and (sub & ps.kept_ & ~D).sum() > 10:
            effects.append(att_effects(out, ps, (metric,), alpha=alpha, subset=sub))
            naive.append(naive_effects(out, (metric,), alpha=alpha, subset=sub))
    curves = {}
    if inp.survival:
        curves = _km(out, {"members": D & ps.kept_, "non-members (weighted)": ~D & ps.kept_}, w)
        hr, ph = _cox(out, D, w, alpha, "effect on members (IPW Cox)")
        if hr is not None:
            hr["method"] = (f"{hr.get('method', '')}; ATT weights taken as known (the "
                            "propensity's estimation is not propagated into this SE)")
            effects.append(pd.DataFrame([hr]))
            checks.append(ph)
        try:
            tv, nv = enrolment_hazard_ratio(data, out, alpha=alpha)
            effects.append(pd.DataFrame([tv]))
            naive.append(pd.DataFrame([nv]))
        except Exception as exc:  # the survival module is optional here: report, do not fail
            checks.append(dict(id=ids.CHECK_TV_COX, check="time-varying Cox (enrolment)", status="warn", value=np.nan,
                               detail=f"not computed: {type(exc).__name__}: {exc}"))
    clv_values = {}
    if inp.clv:
        effects.append(_clv_rows(data, out, {"members": D, "non-members": ~D & elig}, alpha,
                                 inp.n_draws, inp.seed, lambda o: att_effects(o, ps, ("clv",), alpha=alpha),
                                 {"effect on members": 1.0}, checks, store=clv_values))
    effects = pd.concat(effects, ignore_index=True)
    bench = cond = sens = None
    if inp.sensitivity:
        try:
            bench = covariate_benchmarks(out, ps, extra_outcomes=clv_values)
            cond = conditional_benchmarks(
                out, ps, effects, X, extra_outcomes=clv_values, crude=bench,
                refit=lambda p: member_effects(out, p, extra_outcomes=clv_values, alpha=alpha))
            sens = sensitivity_table(effects, out, ps, extra_outcomes=clv_values,
                                     benchmarks=bench, conditional=cond)
        except (ZeroDivisionError, ValueError, np.linalg.LinAlgError) as exc:
            bench = cond = sens = None   # data the benchmarks cannot handle: say so, not crash
            checks.append(dict(id=ids.CHECK_SENSITIVITY, check="sensitivity analysis", status="warn", value=np.nan,
                               detail=f"not computed on these data ({type(exc).__name__}: "
                                      f"{exc}); the effects above do not depend on it"))
    power = mde_table(out, D & ps.kept_, ~D & ps.kept_,
                      columns={"purchases": "orders", "spend": "spend", "retention": "retained"},
                      alpha=alpha, n_control_effective=ov["ess_non_members"])

    def seg_est(mask, metrics):
        return att_effects(out, ps, metrics, alpha=alpha, subset=mask)
    take_up = dict(take_up=float(D[elig].mean()), n_members=int(D.sum()),
                   n_customers=len(out), n_eligible=int(elig.sum()),
                   n_eligible_non_members=int((elig & ~D).sum()), pre_rate_gap_weighted=gap)
    return DesignResult(effects=effects, checks=checks, segment_estimator=seg_est, balance=bal,
                        power=power, curves=curves, take_up=take_up, propensity=ps,
                        naive=pd.concat(naive, ignore_index=True), sensitivity=sens,
                        confounder_benchmarks=bench, conditional_benchmarks=cond)
