"""E-values: pure formulas, no data (VanderWeele & Ding 2017, *Ann. Intern. Med.* 167:268–274).

For a risk ratio ``RR ≥ 1`` (``RR < 1``: use ``1/RR``) the E-value is

    ``E = RR + sqrt(RR · (RR − 1))``,

the minimum strength of association, on the risk-ratio scale, that an unmeasured confounder
would need with *both* the exposure (joining) and the outcome, conditional on the measured
covariates, to fully explain away the estimate. The E-value of the interval is that of the
confidence limit closest to the null, and 1 when the interval includes the null. It follows
from the bounding factor of Ding & VanderWeele (2016, *Epidemiology* 27:368–377): a confounder
with associations ``RR_EU`` (exposure–confounder: ``max_u P(u | E=1) / P(u | E=0)``) and
``RR_UD`` (confounder–outcome: ``max_{u,u'} E[Y | E=0, u] / E[Y | E=0, u']``; for the effect on
the treated only the untreated stratum matters) can shift a ratio
by at most ``B = RR_EU · RR_UD / (RR_EU + RR_UD − 1)``, and ``B ≥ RR`` needs
``max(RR_EU, RR_UD) ≥ E``. The bound uses only that the stratum means are non-negative, so it
applies to the ratio of mean counts (purchases) as to a risk ratio.

Other scales are first converted to an approximate risk ratio, as in the paper's Table 2 and the
R package EValue (``evalues.OR``, ``evalues.HR``, ``evalues.MD``):

* rate ratio: used as a risk ratio;
* odds ratio: ``OR`` if the outcome is rare (< 15 % at the end of follow-up), else ``sqrt(OR)``;
* hazard ratio: ``HR`` if rare, else ``(1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR))``;
* difference in means of a continuous outcome: standardized ``d = difference / SD`` and
  ``RR ≈ exp(0.91 d)`` with the interval ``exp(0.91 d_low), exp(0.91 d_high)`` (VanderWeele
  2017, *Epidemiology* 28(4) e-appendix; EValue uses ``exp(0.91 d ± 1.78 se)``, the same at
  95 %). ``SD`` here is the pooled within-group SD of members and weighted non-members.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

#: how a rare outcome is told from a common one (VanderWeele & Ding 2017: 15 % at the end of
#: follow-up)
RARE_THRESHOLD = 0.15


#: 0.91 converts a standardized mean difference to a log risk ratio (VanderWeele 2017)
SMD_TO_LOG_RR = 0.91


SCALES = ("risk ratio", "rate ratio", "odds ratio", "hazard ratio", "standardized mean difference")


@dataclass
class EValue:
    """An estimate on its own ``scale`` with its interval, the approximate risk ratio it maps to
    (``rr``, ``rr_ci``) and the E-values of the point estimate and of the interval."""

    scale: str
    estimate: float
    ci_low: float
    ci_high: float
    rr: float
    rr_ci_low: float
    rr_ci_high: float
    evalue: float
    evalue_ci: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def evalue(rr: float) -> float:
    """E-value of one risk ratio: ``RR + sqrt(RR (RR − 1))`` for ``RR ≥ 1``, of ``1/RR``
    below 1 (VanderWeele & Ding 2017, eq. in Table 1). NaN for a missing or non-positive RR."""
    rr = float(rr)
    if not np.isfinite(rr) or rr <= 0:
        return float("nan")
    if rr < 1:
        rr = 1.0 / rr
    return float(rr + np.sqrt(rr * (rr - 1.0)))


def bias_factor(rr_eu, rr_ud):
    """The largest factor by which a confounder with exposure association ``rr_eu`` and outcome
    association ``rr_ud`` (both ≥ 1) can shift a risk ratio: ``RR_EU RR_UD / (RR_EU + RR_UD − 1)``
    (Ding & VanderWeele 2016, *Epidemiology* 27:368, Result 1). Scalars or arrays."""
    a, b = np.asarray(rr_eu, float), np.asarray(rr_ud, float)
    out = a * b / (a + b - 1.0)
    return float(out) if out.ndim == 0 else out


def _evalues(scale, est, lo, hi, rr, rr_lo, rr_hi, method) -> EValue:
    if not (np.isfinite(rr) and rr > 0):
        return EValue(scale, est, lo, hi, rr, rr_lo, rr_hi, np.nan, np.nan, method)
    point = evalue(rr)
    if rr > 1:
        limit = rr_lo
        e_ci = 1.0 if not limit > 1 else evalue(limit)
    elif rr < 1:
        limit = rr_hi
        e_ci = 1.0 if not limit < 1 else evalue(limit)
    else:
        e_ci = 1.0
    if not np.isfinite(limit if rr != 1 else 1.0):
        e_ci = np.nan
    return EValue(scale, float(est), float(lo), float(hi), float(rr), float(rr_lo),
                  float(rr_hi), point, float(e_ci), method)


def evalues_rr(est: float, lo: float = np.nan, hi: float = np.nan, *,
               scale: str = "risk ratio") -> EValue:
    """E-values of a risk ratio (or a rate ratio, or a ratio of means of a non-negative outcome)
    and its interval: the E-value of the point estimate and of the limit closest to 1 (1 if the
    interval includes 1). As ``EValue::evalues.RR`` (VanderWeele & Ding 2017)."""
    _check_interval(est, lo, hi)
    return _evalues(scale, est, lo, hi, est, lo, hi,
                    f"E-value of the {scale} (VanderWeele & Ding 2017)")


def or_to_rr(odds_ratio, rare: bool):
    """Approximate risk ratio of an odds ratio: itself if the outcome is rare, else its square
    root (VanderWeele 2017, *Biometrics* 73; VanderWeele & Ding 2017, Table 2)."""
    x = np.asarray(odds_ratio, float)
    return x if rare else np.sqrt(x)


def hr_to_rr(hazard_ratio, rare: bool):
    """Approximate risk ratio of a hazard ratio: itself if the outcome is rare, else
    ``(1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR))`` (VanderWeele 2020, *Epidemiology* 31;
    VanderWeele & Ding 2017, Table 2)."""
    x = np.asarray(hazard_ratio, float)
    return x if rare else (1 - 0.5 ** np.sqrt(x)) / (1 - 0.5 ** np.sqrt(1 / x))


def smd_to_rr(d):
    """Approximate risk ratio of a standardized mean difference: ``exp(0.91 d)``
    (VanderWeele 2017; Hasselblad & Hedges 1995)."""
    return np.exp(SMD_TO_LOG_RR * np.asarray(d, float))


def evalues_or(est: float, lo: float = np.nan, hi: float = np.nan, *, rare: bool) -> EValue:
    """E-values of an odds ratio through :func:`or_to_rr` (as ``EValue::evalues.OR``)."""
    _check_interval(est, lo, hi)
    rr, rlo, rhi = (float(or_to_rr(v, rare)) for v in (est, lo, hi))
    return _evalues("odds ratio", est, lo, hi, rr, rlo, rhi,
                    f"E-value of the odds ratio, {'rare' if rare else 'common'} outcome "
                    f"({'OR' if rare else 'sqrt(OR)'} as risk ratio; VanderWeele & Ding 2017)")


def evalues_hr(est: float, lo: float = np.nan, hi: float = np.nan, *, rare: bool) -> EValue:
    """E-values of a hazard ratio through :func:`hr_to_rr` (as ``EValue::evalues.HR``)."""
    _check_interval(est, lo, hi)
    rr, rlo, rhi = (float(hr_to_rr(v, rare)) for v in (est, lo, hi))
    how = "HR as risk ratio" if rare else "RR ≈ (1 − 0.5^√HR)/(1 − 0.5^√(1/HR))"
    return _evalues("hazard ratio", est, lo, hi, rr, rlo, rhi,
                    f"E-value of the hazard ratio, {'rare' if rare else 'common'} outcome ({how}; "
                    "VanderWeele & Ding 2017)")


def evalues_md(d: float, se: float | None = None, lo: float | None = None,
               hi: float | None = None, *, alpha: float = 0.05) -> EValue:
    """E-values of a standardized mean difference ``d`` (difference in means ÷ outcome SD)
    through ``RR ≈ exp(0.91 d)``. The interval is ``(lo, hi)`` on the ``d`` scale, or
    ``d ± z se`` when ``se`` is given (EValue::evalues.MD uses ``exp(0.91 d ± 1.78 se)``)."""
    if se is not None:
        if se < 0:
            raise ValueError("standard error cannot be negative")
        z = stats.norm.ppf(1 - alpha / 2)
        lo, hi = d - z * se, d + z * se
    lo = np.nan if lo is None else lo
    hi = np.nan if hi is None else hi
    _check_interval(d, lo, hi)
    rr, rlo, rhi = (float(smd_to_rr(v)) for v in (d, lo, hi))
    return _evalues("standardized mean difference", d, lo, hi, rr, rlo, rhi,
                    "E-value of a standardized mean difference d through RR ≈ exp(0.91 d) "
                    "(VanderWeele 2017; VanderWeele & Ding 2017)")


def _check_interval(est, lo, hi):
    if np.isfinite(lo) and np.isfinite(hi) and lo > hi:
        raise ValueError(f"lower confidence limit {lo} exceeds the upper one {hi}")
    if (np.isfinite(lo) and est < lo) or (np.isfinite(hi) and est > hi):
        raise ValueError(f"point estimate {est} outside its interval [{lo}, {hi}]")
