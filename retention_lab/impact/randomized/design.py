"""The randomized design's analysis (invite vs control): SRM and balance checks, ITT and the
effect on members (Wald/IV) with CUPED, take-up, NB rate ratio, NPS/CSAT, survival, CLV, power
and the segment estimator. The estimators themselves are in :mod:`.randomized`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import ids
from ...errors import DataError
from ...formatting import p_text
from ...units import z_value
from ..core.common import _clv_rows, _cox, _km
from ..core.design_io import DesignInput, DesignResult
from ..core.estimators import z_interval
from ..core.frequency import nb_rate_ratio
from ..core.power import mde_table
from .estimators import CORE, balance_check, balance_table, itt_and_members, srm_check

#: control customers who enrolled, as a share of the control arm, from which the effect on
#: members (Wald/IV) is refused: :func:`control_enrolment_check`
CONTROL_TAKE_UP_LIMIT = 0.05


def control_enrolment_check(out, z, take_up: float, se: float, zc: float) -> dict:
    """Are control customers enrolled, and does it leave the effect on members identified?

    The Wald estimator divides the ITT by the take-up difference (invited − control share
    enrolled; Imbens & Angrist 1994). With control customers enrolled it needs monotonicity
    (nobody joins *because* they were not invited) and a take-up difference clearly away from
    zero; near zero the ratio explodes (issue 20: a study with a control arm enrolled like the
    invited one read 0 → 2.6e13 purchases per member). Rule (id :data:`~retention_lab.ids.CHECK_CONTROL_NOT_ENROLLED`):

    * **pass** — no control customer enrolled (one-sided non-compliance: the effect on members
      is the effect on the treated);
    * **warn** — some did, fewer than :data:`CONTROL_TAKE_UP_LIMIT` (5 %) of the control arm,
      and the take-up difference's interval excludes zero: the Wald ratio stands, as the
      effect on compliers, if the leakage is not systematic;
    * **fail** — 5 % of the control arm or more enrolled (the programme leaked into the
      control arm: the complier population and monotonicity are in doubt), or the take-up
      difference's interval includes zero (no first stage: the ratio is unstable). The effect
      on members is then *not identified* and is not estimated; the ITT (the effect of the
      invitation) is kept — randomization still identifies it.
    """
    control = ~np.asarray(z, bool)
    n_c = int(control.sum())
    members = int(out.loc[control, "enrolled"].sum())
    share = members / n_c if n_c else float("nan")
    lo, hi = take_up - zc * se, take_up + zc * se
    base = dict(id=ids.CHECK_CONTROL_NOT_ENROLLED, check="control arm not enrolled",
                value=float(members))
    if members == 0:
        return dict(base, status="pass", detail="no control customer enrolled")
    what = (f"{members:,} of {n_c:,} control customers enrolled ({share:.1%}); take-up "
            f"difference invited − control {take_up:.1%} [{lo:.1%}, {hi:.1%}]")
    if share >= CONTROL_TAKE_UP_LIMIT or not lo > 0:
        why = (f"{CONTROL_TAKE_UP_LIMIT:.0%} or more of the control arm enrolled"
               if share >= CONTROL_TAKE_UP_LIMIT else
               "the take-up difference's interval includes zero")
        return dict(base, status="fail",
                    detail=f"{what}: {why}, so the Wald ratio (ITT ÷ take-up difference) is "
                           "not identified and is not reported; the ITT, the effect of the "
                           "invitation, stands")
    return dict(base, status="warn",
                detail=f"{what}: the Wald estimator handles this two-sided non-compliance "
                       "(effect on compliers, assuming no one joined because they were not "
                       "invited); check how control customers could enrol")


def analyze_randomized(inp: DesignInput) -> DesignResult:
    """The randomized design's effects, checks and diagnostics (see the module docstring)."""
    data, out, X, alpha = inp.data, inp.out, inp.X, inp.alpha
    planned_share = inp.planned_share
    if "arm_treated" not in out.columns:
        raise DataError("customers: missing required column(s) 'arm'; rule 'required columns "
                        "present' (design='randomized' needs the arm of each customer)",
                        table="customers", column="arm", rule="required columns present",
                        n_rows=len(out))
    z = out["arm_treated"].to_numpy() == 1
    if planned_share is None:   # the simulator records its allocation; users pass theirs
        planned_share = float((data.params or {}).get("invite_share", 0.5))
    checks = [srm_check(z, float(planned_share))]
    bal = balance_table(X, z)
    checks.append(balance_check(bal, name="covariate balance (invited vs control)",
                                check_id=ids.CHECK_BALANCE_RANDOMIZED))
    rows, tu = itt_and_members(out, CORE, covariates=X, alpha=alpha)
    raw, _ = itt_and_members(out, CORE, adjust=False, alpha=alpha)
    ratio = dict(zip(rows.loc[rows.estimand == "ITT", "metric"],
                     rows.loc[rows.estimand == "ITT", "se"].to_numpy() /
                     raw.loc[raw.estimand == "ITT", "se"].to_numpy()))
    effects = [rows]
    zc = z_value(alpha)   # the take-up interval follows alpha like every other interval
    leak = control_enrolment_check(out, z, tu["take_up"], tu["se"], zc)
    checks.append(leak)
    take = shown = tu["take_up"]
    members_note = None
    if leak["status"] == "fail":   # the Wald ratio is not identified: the ITT still stands
        effects = [rows.loc[rows["estimand"] == "ITT"]]
        members_note = ("effect on members not identified: " + leak["detail"])
        take = float("nan")
    elif not take > 0:   # no enrolment data (or nobody joined): the ITT still stands
        effects = [rows.loc[rows["estimand"] == "ITT"]]
        checks.append(dict(id=ids.CHECK_TAKE_UP, check="take-up", status="warn", value=0.0,
                           detail="no invited customer has an enrolled_at date: only the effect "
                                  "of the invitation (ITT) is estimated"))
        take = shown = float("nan")
    take_up = dict(take_up=shown, se=tu["se"], ci=(shown - zc * tu["se"], shown + zc * tu["se"]),
                   n_invited=int(z.sum()), n_control=int((~z).sum()),
                   n_members=int(out["enrolled"].sum()))
    if members_note:
        take_up["members_not_identified"] = members_note
    effects.append(pd.DataFrame([nb_rate_ratio(out["orders"], out["exposure_days"], z,
                                               alpha=alpha)]))
    for metric, col in (("nps", "nps_score"), ("csat", "csat_score")):
        sub = out[col].notna().to_numpy()
        if sub.sum() > 20 and z[sub].any() and (~z[sub]).any():
            res = itt_and_members(out.loc[sub], (metric,), covariates=X.loc[sub],
                                  alpha=alpha)[0]
            effects.append(res if take > 0 else res.loc[res["estimand"] == "ITT"])
    for metric, col in (("NPS", "nps_score"), ("CSAT", "csat_score")):
        sub = out[col].notna().to_numpy()   # each survey metric's own respondents
        if not sub.sum():
            continue
        n_t, n_s = z[sub].sum(), sub.sum()
        share_t, share_c = n_t / z.sum(), (n_s - n_t) / (~z).sum()
        diff = share_t - share_c
        se = np.sqrt(share_t * (1 - share_t) / z.sum() + share_c * (1 - share_c) / (~z).sum())
        p = z_interval(diff, se)[2]
        p = 1.0 if not np.isfinite(p) else p
        checks.append(dict(id=ids.CHECK_SURVEY_BALANCE, check=f"survey response balanced by arm ({metric})",
                           status="pass" if p >= 0.01 else "warn", value=float(p),
                           detail=f"{metric} answered by {share_t:.1%} of invited vs "
                                  f"{share_c:.1%} of control ({p_text(p)}); the {metric} "
                                  "difference assumes response does not depend on the arm"))
    curves = {}
    if inp.survival:
        curves = _km(out, {"invited": z, "control": ~z})
        hr, ph = _cox(out, z, None, alpha, "ITT")
        if hr is not None:
            effects.append(pd.DataFrame([hr]))
            checks.append(ph)
    if inp.clv:
        effects.append(_clv_rows(data, out, {"treatment": z, "control": ~z}, alpha, inp.n_draws,
                                 inp.seed, lambda o: itt_and_members(o, ("clv",), covariates=X,
                                                                 alpha=alpha)[0],
                                 {"ITT": 1.0, "effect on members": 1 / take ** 2}, checks,
                                 members=take > 0))
    power = mde_table(out, z, ~z, columns={"purchases": "orders", "spend": "spend",
                                           "retention": "retained"}, alpha=alpha,
                      variance_ratio=ratio, take_up=take if take > 0 else None)

    def seg_est(mask, metrics):
        Xs = X.loc[mask]
        Xs = Xs.loc[:, Xs.std(ddof=0) > 0]
        res = itt_and_members(out.loc[mask], metrics, covariates=Xs, alpha=alpha)[0]
        return res if take > 0 else res.loc[res["estimand"] == "ITT"]
    return DesignResult(effects=pd.concat(effects, ignore_index=True), checks=checks,
                        segment_estimator=seg_est, balance=bal, power=power, curves=curves,
                        take_up=take_up,
                        notes=[f"CUPED SE ratio {k}: {v:.3f}" for k, v in ratio.items()])
