"""Cox proportional-hazards regression of customer lapse on covariates, with the
proportional-hazards (PH) check in plain words and a fallback when the check fails.

Model (Cox 1972): ``h(t | x) = h0(t) exp(xᵀβ)`` with ``t`` the customer's age; ``exp(β_j)`` is
the hazard ratio (HR) of lapsing. Fitted by lifelines' ``CoxPHFitter`` (Efron ties). The PH
check is the Grambsch & Therneau (1994) test of scaled Schoenfeld residuals against rank-
transformed time (lifelines ``proportional_hazard_test``). When a covariate fails it:

* a categorical covariate becomes a stratum (its own baseline hazard; no HR for it);
* a numeric covariate gets a time interaction: separate HRs before and after the median lapse
  age (a step-function ``β(t)``), fitted with ``CoxTimeVaryingFitter`` on episodes split there.

Categorical covariates enter as indicators against their most frequent level. Identical
*censored* rows are collapsed into integer case weights; every lapse keeps its own row, because
lifelines' Efron correction counts tied lapses by rows (merging ``d`` tied lapses into one
weighted row would correct them as one: Gehan's 6-MP data, log-HR −1.542 instead of R
``coxph``'s −1.572). The partial likelihood, its derivatives and the Schoenfeld residuals are
then those of the per-customer table, so the PH test (which counts lapses by rows too) is the
per-customer test.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index

from ..errors import ConvergenceWarning, DataError, SeparationWarning
from ._base import (
    SurvivalResult,
    check_survival_frame,
    collapse,
    design_matrix,
    p_words,
    positive_durations,
)

__all__ = ["ChurnCoxModel", "split_at", "cox_summary", "separated_columns", "require_events"]

COX_METHOD = "Cox proportional hazards (lifelines CoxPHFitter, Efron ties), Wald 95 % CI"


def cox_summary(fitter, method: str, names: dict | None = None) -> pd.DataFrame:
    """lifelines' summary in house form: coef, se, lower/upper 95 % (log-HR), hazard_ratio and
    its interval, p_value, method."""
    s = fitter.summary
    lo, hi = [c for c in s.columns if c.startswith("coef lower")][0], \
        [c for c in s.columns if c.startswith("coef upper")][0]
    out = pd.DataFrame({"coef": s["coef"], "se": s["se(coef)"], "lower 95%": s[lo],
                        "upper 95%": s[hi], "hazard_ratio": np.exp(s["coef"]),
                        "hr_lower": np.exp(s[lo]), "hr_upper": np.exp(s[hi]), "z": s["z"],
                        "p_value": s["p"]})
    out.index = [str(i) for i in out.index]
    out.index.name = "covariate"
    out["method"] = method
    return out


def require_events(events, weights=None, *, table: str = "churn table",
                   column: str = "churned", model: str = "a Cox model") -> None:
    """A Cox model needs at least one lapse: without one the partial likelihood is empty (no
    coefficient is defined and lifelines fails with ``ZeroDivisionError``); so do parametric
    lifetime models (the scale runs to ∞) and the log-rank test (0/0). Raises a
    :class:`~retention_lab.DataError` naming the column, the rule and the row count."""
    events = np.asarray(events, float)
    w = np.ones_like(events) if weights is None else np.asarray(weights, float)
    if not np.any((events == 1) & (w > 0)):
        raise DataError(f"{table}.{column}: none of the {len(events):,} rows has {column} = 1; "
                        f"{model} needs at least one lapse — rule 'at least one row with "
                        f"{column} = 1'", table=table, column=column,
                        rule=f"at least one row with {column} = 1", n_rows=len(events))


def separated_columns(X: pd.DataFrame, duration, event, weights=None, strata=None) -> dict:
    """Covariate columns that separate the lapses: the Cox partial likelihood rises
    monotonically as the coefficient goes to +∞ (every lapsing customer has the largest value
    of the column in their risk set) or to −∞ (the smallest), so the maximum-likelihood
    coefficient is infinite (Bryson & Johnson 1981, "The incidence of monotone likelihood in
    the Cox model", *Technometrics* 23(4); Heinze & Schemper 2001). A column constant in every
    risk set is not separated (it is not identified at all). Risk sets are taken within strata.

    Returns ``{column: +1 or −1}`` (the direction of the infinite coefficient). Checks one
    column at a time (suffix maxima / minima over the rows sorted by duration); a separation by
    a combination of columns shows up as a fit that does not converge instead.
    """
    d = np.asarray(duration, float)
    ev = np.asarray(event, float) == 1
    w = np.ones(len(d)) if weights is None else np.asarray(weights, float)
    keep = w > 0
    groups = (np.zeros(len(d), int) if strata is None or len(strata) == 0
              else pd.factorize(pd.MultiIndex.from_frame(pd.DataFrame(strata)))[0])
    out = {}
    for col in X.columns:
        x = X[col].to_numpy(float)
        all_max = all_min = True
        varies = False
        for g in np.unique(groups[ev & keep]):
            rows = np.flatnonzero((groups == g) & keep)
            order = rows[np.argsort(d[rows], kind="stable")]
            ds, xs = d[order], x[order]
            smax = np.maximum.accumulate(xs[::-1])[::-1]     # max over rows with d >= ds[k]
            smin = np.minimum.accumulate(xs[::-1])[::-1]
            e = order[ev[order]]
            k = np.searchsorted(ds, d[e], side="left")
            varies |= bool(np.any(smax[k] > smin[k]))
            all_max &= bool(np.all(x[e] >= smax[k]))
            all_min &= bool(np.all(x[e] <= smin[k]))
        if varies and (all_max or all_min):
            out[str(col)] = 1 if all_max else -1
    return out


def split_at(frame: pd.DataFrame, cut: float, duration_col: str, event_col: str,
             min_duration: float = 0.5) -> pd.DataFrame:
    """Episodes ``(start, stop]`` of each row split at age ``cut``; adds ``late`` = 1 after it.
    The event stays on the last episode."""
    d, _ = positive_durations(frame[duration_col], min_duration)
    base = frame.drop(columns=[duration_col]).assign(start=0.0, stop=d)
    long = base["stop"] > cut
    early = base.copy()
    early.loc[long, "stop"] = cut
    early.loc[long, event_col] = 0
    early["late"] = 0.0
    late = base.loc[long].copy()
    late["start"], late["late"] = cut, 1.0
    return pd.concat([early, late], ignore_index=True)


class ChurnCoxModel:
    """Cox PH model of the lapse hazard.

    Parameters
    ----------
    penalizer : float
        lifelines' L2 penalizer (0 = plain maximum partial likelihood). If the plain fit does
        not converge (e.g. a covariate level in which nobody lapses), the model is refitted with
        ``penalizer=0.01`` and a note says so.
    ph_alpha : float
        A covariate fails the PH check when the Schoenfeld test has p below this (0.01, as
        lifelines' ``check_assumptions``: with tens of thousands of customers trivial departures
        are "significant").
    fallback : {"auto", None}
        Refit without the failing assumption ("auto") or only report it (None).

    Attributes (after ``fit``)
    --------------------------
    fitter_ : lifelines.CoxPHFitter
    summary : DataFrame (coef, se, lower 95%, upper 95%, hazard_ratio, hr_lower, hr_upper,
        z, p_value, method) — one row per covariate column.
    ph_test_ : DataFrame (test_statistic, p_value, fails) per covariate column.
    ph_interpretation : str
    fallback_ : None or a ``SurvivalResult`` of the refit.
    """

    def __init__(self, penalizer: float = 0.0, alpha: float = 0.05, ph_alpha: float = 0.01,
                 fallback: str | None = "auto"):
        self.penalizer, self.alpha, self.ph_alpha, self.fallback = penalizer, alpha, ph_alpha, \
            fallback

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, table: pd.DataFrame, covariates, *, duration_col: str = "duration",
            event_col: str = "churned", strata=None, weights_col: str | None = None,
            reference: dict | None = None, check_ph: bool = True,
            collapse_rows: bool = True) -> "ChurnCoxModel":
        """Fit on a churn table. ``covariates``: column names (categorical ones become
        indicators against the most frequent level or ``reference[col]``). ``collapse_rows``
        merges identical censored rows into case weights, which leaves the Efron partial
        likelihood and the PH test exactly as on the per-customer rows (lapses are never
        merged); ``collapse_rows=False`` passes the rows to lifelines as they are."""
        strata = [strata] if isinstance(strata, str) else list(strata or [])
        covariates = [c for c in covariates if c not in strata]
        df = check_survival_frame(table, duration_col, event_col, weights_col, strata)
        X, self.info_ = design_matrix(df, covariates, reference=reference)
        self.covariates, self.strata = covariates, strata
        self.duration_col, self.event_col = duration_col, event_col
        self.weights_col = weights_col
        frame = pd.concat([X, df[[duration_col, event_col, *strata]]], axis=1)
        if weights_col:
            frame[weights_col] = df[weights_col]
        if collapse_rows:
            self.frame_ = collapse(frame, list(frame.columns.drop(weights_col, errors="ignore")),
                                   weights_col, censored_only=event_col)
        else:
            self.frame_ = frame.rename(columns={weights_col: "weight"}) if weights_col else \
                frame.assign(weight=1.0)
        self.notes = []
        require_events(df[event_col], df[weights_col] if weights_col else None,
                       column=event_col)
        self.separation_ = separated_columns(
            self.frame_[list(X.columns)], self.frame_[duration_col], self.frame_[event_col],
            self.frame_["weight"], self.frame_[strata] if strata else None)
        self.fitter_ = self._fit(self.frame_, strata)
        self.method = COX_METHOD + (f"; strata: {', '.join(strata)}" if strata else "") + \
            (f"; L2 penalizer {self.fitter_.penalizer}" if self.fitter_.penalizer else "")
        self.summary = cox_summary(self.fitter_, self.method)
        self.penalized_summary_ = None
        if self.fitter_.penalizer and not self.penalizer:
            self._label_penalized()
        self.n_, self.n_events_ = int(round(self.frame_["weight"].sum())), \
            int(round((self.frame_["weight"] * self.frame_[event_col]).sum()))
        # lifelines' own concordance_index_ would ignore the case weights of collapsed rows
        lp = X[self.summary.index].to_numpy(float) @ self.fitter_.params_[self.summary.index]
        self.concordance_index_ = float(concordance_index(df[duration_col], -lp, df[event_col])) \
            if not strata and len(self.summary) else float("nan")
        self.ph_test_, self.ph_interpretation, self.fallback_ = None, "", None
        if check_ph and len(self.summary):
            self._check_ph(df, X)
        return self

    def _label_penalized(self) -> None:
        """The plain fit had no finite maximum: the penalised refit (kept in ``fitter_`` so that
        predictions work) is a stand-in, not an estimate. ``penalized_summary_`` keeps its
        numbers, labelled; in ``summary`` a separated column gets its true maximum-likelihood
        value (coefficient ±inf, hazard ratio inf or 0) with no se, interval or p-value, and the
        other columns are labelled as penalised estimates."""
        pen = self.fitter_.penalizer
        label = (f"L2-penalised Cox (penalizer {pen:g}) refitted because the plain fit had no "
                 f"finite maximum: a shrunken stand-in, not a maximum-likelihood estimate")
        self.penalized_summary_ = self.summary.assign(method=label)
        s = self.summary
        s["method"] = label
        for col, sign in self.separation_.items():
            if col not in s.index:
                continue
            s.loc[col, ["se", "lower 95%", "upper 95%", "hr_lower", "hr_upper", "z",
                        "p_value"]] = np.nan
            s.loc[col, "coef"] = sign * np.inf
            s.loc[col, "hazard_ratio"] = np.inf if sign > 0 else 0.0
            s.loc[col, "method"] = (
                f"separation: every lapsing customer has the {'largest' if sign > 0 else 'smallest'}"
                f" {col} in their risk set, so the maximum-likelihood hazard ratio is "
                f"{'infinite' if sign > 0 else 'zero'} and no finite estimate or interval exists "
                f"(the penalised value {float(self.penalized_summary_.loc[col, 'hazard_ratio']):.3g}"
                f" in penalized_summary_ is not an estimate)")
        s.attrs["separation"] = dict(self.separation_)
        if self.separation_:
            warnings.warn(f"ChurnCoxModel: {', '.join(self.separation_)} separate(s) the lapses "
                          f"(monotone partial likelihood): the hazard ratio has no finite "
                          f"estimate; summary reports it as {'/'.join(sorted({'inf' if v > 0 else '0' for v in self.separation_.values()}))} "
                          f"with no interval, the penalised refit is in penalized_summary_",
                          SeparationWarning, stacklevel=3)
        else:
            warnings.warn("ChurnCoxModel: the plain fit did not converge; the reported numbers "
                          f"come from an L2-penalised refit (penalizer {pen:g}) and are labelled "
                          "so in summary['method']", ConvergenceWarning, stacklevel=3)

    def _fit(self, frame, strata, penalizer=None):
        pen = self.penalizer if penalizer is None else penalizer
        sep = [c for c in getattr(self, "separation_", {}) if c in frame.columns]
        if not pen and sep:
            self.notes.append(f"separation: {', '.join(sep)} separate(s) the lapses (the plain "
                              f"fit has no finite maximum); refitted with L2 penalizer 0.01 to "
                              f"keep a usable model — its value for {', '.join(sep)} is not an "
                              f"estimate")
            return self._fit(frame, strata, penalizer=0.01)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cph = CoxPHFitter(penalizer=pen, alpha=self.alpha).fit(
                    frame, self.duration_col, self.event_col, weights_col="weight",
                    strata=strata or None)
            except ConvergenceError as err:
                if pen:
                    raise
                self.notes.append(f"plain fit did not converge ({str(err).splitlines()[0]}); "
                                  f"refitted with L2 penalizer 0.01")
                return self._fit(frame, strata, penalizer=0.01)
        trouble = [str(w.message).strip().splitlines()[0] for w in caught
                   if "onvergence" in type(w.message).__name__ or "converge" in str(w.message)]
        if trouble and not pen:
            empty = self._levels_without_events(frame)
            self.notes.append(f"plain fit is unstable ({trouble[0]}"
                              + (f"; no lapses among {', '.join(empty)}" if empty else "")
                              + "): refitted with L2 penalizer 0.01")
            return self._fit(frame, strata, penalizer=0.01)
        self.notes.extend(trouble)
        return cph

    def _levels_without_events(self, frame) -> list:
        out = []
        for cov, meta in self.info_.items():
            if meta["reference"] is None:
                continue
            masks = {col: frame[col] == 1 for col in meta["columns"]}
            masks[f"{cov}={meta['reference']}"] = (frame[meta["columns"]] == 0).all(axis=1)
            for col, on in masks.items():
                events = (frame.loc[on, self.event_col] * frame.loc[on, "weight"]).sum()
                if on.any() and events == 0:
                    out.append(col)
        return out

    # -- the proportional-hazards check --------------------------------------------------------
    def _check_ph(self, df, X):
        res = proportional_hazard_test(self.fitter_, self.frame_, time_transform="rank")
        t = res.summary.rename(columns={"p": "p_value"})[["test_statistic", "p_value"]]
        t.index = [i[0] if isinstance(i, tuple) else str(i) for i in t.index]
        t["fails"] = t["p_value"] < self.ph_alpha
        self.ph_test_ = t
        failing = {cov for cov, meta in self.info_.items()
                   for col in meta["columns"] if col in t.index and t.loc[col, "fails"]}
        lines = []
        for cov, meta in self.info_.items():
            p = float(t.loc[[c for c in meta["columns"] if c in t.index], "p_value"].min())
            if cov in failing:
                lines.append(f"The effect of {cov} on the lapse hazard changes with customer age "
                             f"(Schoenfeld test {p_words(p)}): its hazard ratio is an average "
                             f"over ages and should not be read as constant.")
            else:
                lines.append(f"The effect of {cov} looks constant over customer age (Schoenfeld"
                             f" test {p_words(p)}): the proportional-hazards assumption holds.")
        if failing and self.fallback == "auto":
            self.fallback_ = self._refit(df, X, sorted(failing))
            lines.append(self.fallback_.interpretation)
        self.ph_interpretation = "\n".join(lines)

    def _refit(self, df, X, failing) -> SurvivalResult:
        cat = [c for c in failing if self.info_[c]["reference"] is not None]
        num = [c for c in failing if self.info_[c]["reference"] is None]
        strata = self.strata + cat
        keep = [col for cov, m in self.info_.items() if cov not in cat for col in m["columns"]]
        base = pd.concat([X[keep], df[[self.duration_col, self.event_col, *strata]]], axis=1)
        if self.weights_col:
            base[self.weights_col] = df[self.weights_col]
        frame = collapse(base, [*keep, self.duration_col, self.event_col, *strata],
                         self.weights_col, censored_only=self.event_col)
        if not num:
            cph = self._fit(frame, strata)
            method = COX_METHOD + f"; stratified by {', '.join(strata)} (PH fallback)"
            summ = cox_summary(cph, method)
            text = (f"Fallback: refitted stratified by {', '.join(cat)} — each level keeps its own"
                    f" baseline retention curve, so no hazard ratio is reported for it.")
            out = SurvivalResult(summary=summ, method=method, interpretation=text)
            out.fitter_ = cph
            return out
        events = frame.loc[frame[self.event_col] == 1, self.duration_col]
        cut = float(np.median(np.repeat(events.to_numpy(),
                                        frame.loc[events.index, "weight"].astype(int))))
        long = split_at(frame, cut, self.duration_col, self.event_col)
        for cov in num:
            long[f"{cov} (age > {cut:g})"] = long[cov] * long["late"]
            long[cov] = long[cov] * (1 - long["late"])
            long = long.rename(columns={cov: f"{cov} (age ≤ {cut:g})"})
        long = long.drop(columns="late")
        ctv = CoxTimeVaryingFitter(penalizer=self.penalizer, alpha=self.alpha).fit(
            long, event_col=self.event_col, start_col="start", stop_col="stop",
            weights_col="weight", strata=strata or None)
        method = (f"Cox with time interaction: separate hazard ratios before and after age {cut:g}"
                  f" (the median lapse age) for {', '.join(num)} (lifelines CoxTimeVaryingFitter)"
                  + (f"; stratified by {', '.join(strata)}" if strata else "") + " (PH fallback)")
        summ = cox_summary(ctv, method)
        text = (f"Fallback: {', '.join(num)} now has one hazard ratio up to age {cut:g} and "
                f"another after it" + (f"; stratified by {', '.join(cat)}" if cat else "") + ".")
        out = SurvivalResult(summary=summ, method=method, interpretation=text)
        out.fitter_, out.cut_ = ctv, cut
        return out

    # -- reporting ---------------------------------------------------------------------------
    def hazard_ratios(self) -> pd.DataFrame:
        """hazard_ratio, hr_lower, hr_upper, p_value, method per covariate column."""
        return self.summary[["hazard_ratio", "hr_lower", "hr_upper", "p_value", "method"]]

    @property
    def interpretation(self) -> str:
        lines = []
        for col, r in self.summary.iterrows():
            cov = next((c for c, m in self.info_.items() if col in m["columns"]), col)
            ref = self.info_.get(cov, {}).get("reference")
            if col in getattr(self, "separation_", {}):
                lines.append(f"{col} separates the lapses (every lapsing customer has the "
                             f"{'largest' if self.separation_[col] > 0 else 'smallest'} value "
                             f"among those still at risk): its hazard ratio cannot be estimated "
                             f"from these data.")
                continue
            who = (f"Customers with {col} lapse at {r['hazard_ratio']:.2f}× the hazard of "
                   f"{cov}={ref}" if ref is not None else
                   f"Each unit of {col} multiplies the lapse hazard by {r['hazard_ratio']:.2f}")
            lines.append(f"{who} (95 % CI {r['hr_lower']:.2f}–{r['hr_upper']:.2f}, "
                         f"{p_words(r['p_value'])}).")
        return "\n".join(lines)

    def print_summary(self) -> None:
        print(self.method)
        with pd.option_context("display.width", 140, "display.max_columns", 20):
            print(self.summary.drop(columns="method"))
        print(self.interpretation)
        if self.ph_interpretation:
            print(self.ph_interpretation)
        for n in self.notes:
            print("note:", n)

    def plot(self, ax=None):
        """The hazard ratios (:func:`retention_lab.report.figures.plot_hazard_ratios`)."""
        # display layer: imported on use, estimation never depends on it
        from ..report.figures.survival import plot_hazard_ratios
        return plot_hazard_ratios(self, ax=ax)
