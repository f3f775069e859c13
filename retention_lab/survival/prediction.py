"""Churn risk per customer: the probability of lapsing within a horizon given covariates,
current age and — for customers we know — how long they have been inactive; its validation on
a holdout split, and the at-risk list for outreach.

The lapse age ``T`` is the age at the last purchase (:func:`retention_lab.features.churn_table`).
For a customer of age ``a`` known only to be active at ``a`` (``T ≥ a``), the Cox model
(lifelines ``CoxPHFitter``) gives ``P_cox = P(T ≤ a + h | T ≥ a, x) = 1 − exp(−[H0(a + h) −
H0(a−)] exp(xᵀβ))`` from lifelines' Breslow ``baseline_cumulative_hazard_`` and
``predict_partial_hazard`` (the same as ``predict_survival_function(..., conditional_after=a)``
except that a lapse dated exactly at age ``a`` counts — it matters at age 0, where one-purchase
customers lapse — and that the Breslow steps are not interpolated). The baseline is flat after
the last observed lapse, so horizons reaching past the training follow-up predict no further
lapses there; such rows are flagged ``extrapolated``.

**What is known about a current customer** is more than ``T ≥ a``: their last purchase was at
age ``t_x = a − g`` (``g`` = days since the last purchase), so ``T ≥ t_x``, and they have not
bought since. Either that purchase was their last (``T = t_x``: lapsed, not yet confirmed) or
they will buy again (``T > a``). The churn probability conditions on both facts::

    P(T ≤ a + h | T ≥ t_x, no purchase in (t_x, a], x) = (1 − R) + R · P_cox(a, h, x),

where ``R = P(the customer buys again | x repeat purchases, t_x, a)`` comes from a Pareto/NBD
model (Schmittlein, Morrison & Colombo 1987) fitted by :class:`retention_lab.clv.
ParetoNBDFitter` on the same customers' repeat-purchase counts, last-purchase ages and ages at
``observation_end`` (days): ``R = P(alive at a) · E[λ/(λ+μ) | alive]`` (P(alive): Fader &
Hardie 2005 note, eq. 24; the second factor — an active customer's next event is a purchase,
not the dropout — in closed form, see ``_purchase_before_dropout``). Pareto/NBD allows a lapse
after any purchase, including the first (one-purchase customers), unlike BG/NBD. Two customers
who differ only in their silence get different probabilities: the longer the silence, the
smaller ``R`` and the higher the churn probability. Without the purchase history (a table
without ``n_purchases``/``first_purchase``/``last_purchase``) only ``T ≥ a`` is used.

Validation (Harrell et al. 1996; Austin, Harrell & van Klaveren 2020): Harrell's concordance
index on the holdout customers with a 95 % interval (U-statistic SE or bootstrap), and
calibration at the horizon — holdout customers grouped by predicted risk, mean predicted risk
beside the Kaplan–Meier
observed risk ``1 − Ŝ(h)`` (censoring-aware) with its band; the integrated calibration index
(ICI) is their weighted mean absolute gap.

At-risk list: customers not (yet) confirmed lapsed, scored at ``as_of`` with a **health score**
``100 × (1 − P(lapse within horizon))`` and the **30-day inactivity trigger** (no purchase in
the last 30 days); a customer is listed when the score is below ``health_threshold`` or the
trigger fired.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines.utils import concordance_index
from scipy.special import hyp2f1

from ..errors import DataError
from ..units import days_per, z_value
from ._base import SurvivalResult, check_survival_frame
from .descriptive import RetentionCurves, km_at
from .regression import ChurnCoxModel

__all__ = ["ChurnRiskModel", "holdout_evaluation", "HoldoutResult", "at_risk_list",
           "at_risk_summary", "concordance_se"]


HISTORY_COLUMNS = ("first_purchase", "last_purchase", "n_purchases")


def _purchase_before_dropout(model, x, T) -> np.ndarray:
    """E[λ/(λ+μ) | alive at T, x] for a fitted Pareto/NBD model: the chance that an active
    customer's next event is a purchase rather than the dropout. With λ ~ Gamma(r+x, α+T) and
    μ ~ Gamma(s, β+T) independent, λ/(λ+μ) = B/(B + c(1−B)) with B ~ Beta(r+x, s) and
    c = (α+T)/(β+T), whose mean is ``k/(k+s) · 2F1(1, s; k+s+1; 1−c)`` (k = r+x; Pfaff's
    transformation gives ``1/c · k/(k+s) · 2F1(1, k+1; k+s+1; 1−1/c)`` for c > 2)."""
    p = model.params_
    r, alpha, s, beta = (float(p[k]) for k in ("r", "alpha", "s", "beta"))
    k = r + np.asarray(x, float)
    c = (alpha + np.asarray(T, float)) / (beta + np.asarray(T, float))
    small = c <= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = k / (k + s) * hyp2f1(1.0, s, k + s + 1.0, np.where(small, 1.0 - c, 0.0))
        b = k / (k + s) / c * hyp2f1(1.0, k + 1.0, k + s + 1.0, np.where(small, 0.0, 1.0 - 1.0 / c))
    return np.clip(np.where(small, a, b), 0.0, 1.0)


def purchase_summary(table: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """BTYD summary in days of a churn table's customers at ``as_of`` (default the table's
    ``observation_end``): ``frequency`` (repeat purchase days), ``recency`` (age at the last
    purchase), ``T`` (age at ``as_of``)."""
    as_of = pd.Timestamp(as_of if as_of is not None else table.attrs["observation_end"])
    as_of = as_of.normalize()
    first = pd.to_datetime(table["first_purchase"])
    return pd.DataFrame({
        "frequency": pd.to_numeric(table["n_purchases"]).astype(float) - 1.0,
        "recency": (pd.to_datetime(table["last_purchase"]) - first).dt.days.astype(float),
        "T": (as_of - first).dt.days.astype(float)}, index=table.index)


class ChurnRiskModel:
    """Cox model used as a risk score (no PH fallback: prediction uses the fitted model), and —
    when the churn table carries the purchase history (``first_purchase``, ``last_purchase``,
    ``n_purchases`` and ``attrs["observation_end"]``, as :func:`~retention_lab.features.
    churn_table` makes it) — a Pareto/NBD model for the probability that a customer who has
    been silent since their last purchase is still active (see the module docstring).

    Attributes: ``cox_`` (:class:`ChurnCoxModel`), ``fitter_`` (lifelines CoxPHFitter),
    ``activity_`` (fitted :class:`retention_lab.clv.ParetoNBDFitter` or None),
    ``max_followup_``, ``covariates``.
    """

    def __init__(self, penalizer: float = 0.0, alpha: float = 0.05):
        self.penalizer, self.alpha = penalizer, alpha

    def fit(self, table: pd.DataFrame, covariates, *, duration_col: str = "duration",
            event_col: str = "churned", reference: dict | None = None,
            purchase_history: bool | str = "auto") -> "ChurnRiskModel":
        """``purchase_history``: fit the Pareto/NBD activity model ("auto": when the table has
        the history columns; False: never — predictions then condition on age only)."""
        self.cox_ = ChurnCoxModel(penalizer=self.penalizer, alpha=self.alpha, fallback=None).fit(
            table, covariates, duration_col=duration_col, event_col=event_col,
            reference=reference, check_ph=False)
        self.fitter_, self.covariates = self.cox_.fitter_, list(covariates)
        self.summary = self.cox_.summary
        self.max_followup_ = float(pd.to_numeric(table[duration_col]).max())
        self.unit_ = table.attrs.get("unit", "D")
        has = all(c in table.columns for c in HISTORY_COLUMNS) and \
            "observation_end" in table.attrs
        if purchase_history is True and not has:
            raise DataError(f"churn table: purchase_history=True needs columns "
                            f"{list(HISTORY_COLUMNS)} and attrs['observation_end']; rule "
                            f"'required columns present'", table="churn table",
                            column=",".join(HISTORY_COLUMNS), rule="required columns present",
                            n_rows=len(table))
        self.activity_ = None
        if purchase_history and has:
            from ..clv import ParetoNBDFitter  # sibling layer, only for the BTYD lapse model
            self.activity_ = ParetoNBDFitter().fit(purchase_summary(table))
        return self

    def probability_returning(self, n_purchases, days_since_last_purchase,
                              age_days) -> np.ndarray:
        """Pareto/NBD P(the customer buys again | ``n_purchases`` purchase days, the last
        ``days_since_last_purchase`` ago, age ``age_days``) = P(alive) · E[λ/(λ+μ) | alive]
        (module docstring); 1 where no activity model was fitted."""
        age_days = np.asarray(age_days, float)
        if self.activity_ is None:
            return np.ones(age_days.shape)
        x = np.asarray(n_purchases, float) - 1.0
        recency = age_days - np.asarray(days_since_last_purchase, float)
        alive = np.asarray(self.activity_.probability_alive(x, recency, age_days), float)
        return alive * _purchase_before_dropout(self.activity_, x, age_days)

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The covariate columns of the fitted model for new rows (training coding; a level
        unseen in training is a DataError)."""
        cols = {}
        for cov, meta in self.cox_.info_.items():
            if cov not in frame.columns:
                raise DataError(f"customers: missing covariate column {cov!r}; rule 'required "
                                f"columns present'", table="customers", column=cov,
                                rule="required columns present", n_rows=len(frame))
            if meta["reference"] is None:
                cols[cov] = frame[cov].astype(float).to_numpy()
                continue
            s = frame[cov].astype(str)
            known = {meta["reference"], *[c.split("=", 1)[1] for c in meta["columns"]]}
            bad = ~s.isin(known)
            if bad.any():
                raise DataError.for_rule("customers", cov, f"level seen when the model was fitted"
                                         f" ({sorted(known)})", bad, frame)
            for c in meta["columns"]:
                cols[c] = (s == c.split("=", 1)[1]).astype(float).to_numpy()
        return pd.DataFrame(cols, index=frame.index)

    def predict_churn_probability(self, frame: pd.DataFrame, horizon: float, age=None, *,
                                  days_since_last_purchase=None,
                                  n_purchases=None) -> pd.Series:
        """P(lapse within ``horizon`` | what is known, covariates) per row.

        ``age``: array/Series of current ages in the model's unit, or a column name; default 0
        (a new customer). Without ``days_since_last_purchase`` the customer is taken to be
        known active at ``age`` (``T ≥ age``: e.g. they bought today). With it (days, array or
        column name) and ``n_purchases`` (purchase days so far; default the frame's
        ``n_purchases`` column), the probability also counts the chance that the last purchase
        was the lapse: ``(1 − R) + R · P_cox`` (module docstring)."""
        X = self.design(frame)
        col = lambda v: frame[v].to_numpy(float) if isinstance(v, str) else \
            np.asarray(v, dtype=float)  # noqa: E731
        a = np.zeros(len(X)) if age is None else col(age)
        # H(t | x) = H0(t) · partial hazard (lifelines' centred parametrisation); conditioning on
        # being active at age a uses H0(a−), so a lapse dated exactly at age a (e.g. age 0: a
        # one-purchase customer) counts as within the horizon.
        h0 = self.fitter_.baseline_cumulative_hazard_
        times, cum = h0.index.to_numpy(float), h0.iloc[:, 0].to_numpy(float)
        cum0 = np.concatenate([[0.0], cum])
        at = lambda t, side: cum0[np.searchsorted(times, t, side=side)]  # noqa: E731
        dh = at(a + float(horizon), "right") - at(a, "left")
        ph = np.asarray(self.fitter_.predict_partial_hazard(X), dtype=float).ravel()
        p = 1.0 - np.exp(-dh * ph)
        if days_since_last_purchase is not None:
            n = col("n_purchases" if n_purchases is None else n_purchases)
            back = self.probability_returning(n, col(days_since_last_purchase),
                                              a * days_per(self.unit_))
            p = (1.0 - back) + back * p
        return pd.Series(np.clip(p, 0.0, 1.0), index=frame.index, name="churn_probability")

    def risk_score(self, frame: pd.DataFrame) -> pd.Series:
        """The linear predictor ``exp(xᵀβ)`` (relative hazard)."""
        X = self.design(frame)
        return pd.Series(np.exp(X.to_numpy() @ self.fitter_.params_[X.columns].to_numpy()),
                         index=frame.index, name="relative_hazard")


def concordance_se(t: np.ndarray, risk: np.ndarray, e: np.ndarray, chunk: int = 512):
    """Harrell's C and its standard error from the U-statistic (Hájek) projection:
    ``Var Ĉ ≈ Σ_k D_k² / B²`` with ``D_k = Σ_{pairs ∋ k} (concordant − Ĉ · comparable)`` and
    ``B`` the number of comparable pairs (a pair is comparable when the shorter duration is a
    lapse, or a lapse tied with a censored duration; prediction ties count ½) — O(n²) in
    chunks. Ĉ equals lifelines' ``concordance_index(t, −risk, e)`` (tested)."""
    t, r, e = (np.asarray(x, dtype=float) for x in (t, risk, e))
    n = len(t)
    conc, comp = np.zeros(n), np.zeros(n)
    for s0 in range(0, n, chunk):
        sl = slice(s0, min(n, s0 + chunk))
        # i in the chunk is the earlier lapse, j any customer with a longer duration
        b = (e[sl, None] == 1) & ((t[sl, None] < t[None, :]) |
                                  ((t[sl, None] == t[None, :]) & (e[None, :] == 0)))
        a = b * ((r[sl, None] > r[None, :]) + 0.5 * (r[sl, None] == r[None, :]))
        conc[sl] += a.sum(axis=1)
        comp[sl] += b.sum(axis=1)
        conc += a.sum(axis=0)
        comp += b.sum(axis=0)
    B = comp.sum() / 2
    c = conc.sum() / 2 / B
    d = conc - c * comp
    return float(c), float(np.sqrt((d ** 2).sum()) / B)


class HoldoutResult(SurvivalResult):
    """``c_index``, ``c_index_ci``, ``calibration`` (DataFrame per risk group), ``ici``,
    ``model`` (fitted on the training part), ``summary``."""


def holdout_evaluation(table: pd.DataFrame, covariates, horizon: float, *,
                       test_size: float = 0.3, seed: int = 0, n_bins: int = 10,
                       n_boot: int = 0, duration_col: str = "duration",
                       event_col: str = "churned", penalizer: float = 0.0,
                       alpha: float = 0.05) -> HoldoutResult:
    """Fit :class:`ChurnRiskModel` on a random ``1 − test_size`` of customers; report the
    holdout concordance (95 % CI from the U-statistic SE, or a bootstrap of ``n_boot``
    resamples when ``n_boot > 0`` — lifelines' C costs ~0.1 s per 6,000 customers) and the
    calibration of P(lapse by ``horizon``)."""
    df = check_survival_frame(table, duration_col, event_col, extra=list(covariates))
    rng = np.random.default_rng(seed)
    test = np.zeros(len(df), bool)
    test[rng.choice(len(df), int(round(test_size * len(df))), replace=False)] = True
    train, hold = df.loc[~test], df.loc[test]
    train.attrs.update(table.attrs)
    model = ChurnRiskModel(penalizer=penalizer).fit(train, covariates,
                                                    duration_col=duration_col,
                                                    event_col=event_col,
                                                    purchase_history=False)
    risk = model.risk_score(hold).to_numpy()
    t, e = hold[duration_col].to_numpy(float), hold[event_col].to_numpy(int)
    c = float(concordance_index(t, -risk, e))
    if n_boot:
        boots = np.empty(n_boot)
        for b in range(n_boot):
            i = rng.integers(0, len(t), len(t))
            boots[b] = concordance_index(t[i], -risk[i], e[i])
        c_ci = tuple(np.quantile(boots, [alpha / 2, 1 - alpha / 2]).tolist())
        c_how = f"bootstrap {n_boot}, percentile 95 % CI"
    else:
        _, se = concordance_se(t, risk, e)
        z = z_value(alpha)
        c_ci = (c - z * se, c + z * se)
        c_how = "U-statistic SE, Wald 95 % CI"

    pred = model.predict_churn_probability(hold, horizon).to_numpy()
    bins = pd.qcut(pd.Series(pred, index=hold.index).rank(method="first"), n_bins,
                   labels=False)
    rows = []
    for k in range(n_bins):
        part = hold.loc[bins.to_numpy() == k]
        km = RetentionCurves().fit(part, duration_col=duration_col, event_col=event_col)
        r = km_at(next(iter(km.fitters_.values())), float(horizon))
        rows.append(dict(risk_group=k + 1, n=len(part), predicted=float(pred[bins == k].mean()),
                         observed=1 - r["estimate"], observed_lower=1 - r["upper"],
                         observed_upper=1 - r["lower"]))
    cal = pd.DataFrame(rows).set_index("risk_group")
    ok = cal["observed"].notna()
    ici = float(np.average((cal["predicted"] - cal["observed"]).abs()[ok], weights=cal["n"][ok]))
    method = (f"Cox model fitted on {len(train):,} customers, evaluated on {len(hold):,} holdout "
              f"customers: Harrell's C ({c_how}); calibration of "
              f"P(lapse by {horizon:g}) by {n_bins} risk groups vs Kaplan–Meier")
    summary = pd.DataFrame([
        dict(metric="concordance index", estimate=c, **{"lower 95%": c_ci[0],
                                                        "upper 95%": c_ci[1]}, method=method),
        dict(metric="integrated calibration index", estimate=ici,
             **{"lower 95%": np.nan, "upper 95%": np.nan},
             method="weighted mean |predicted − KM observed| over risk groups")
    ]).set_index("metric")
    unit = {"D": "day", "W": "week", "M": "month"}.get(table.attrs.get("unit", "D"), "period")
    quality = ("no better than chance" if c_ci[0] <= 0.5 else
               "weak" if c < 0.6 else "moderate" if c < 0.7 else "good")
    interp = (f"On holdout customers the model ranks who lapses first with concordance {c:.3f} "
              f"(95 % CI {c_ci[0]:.3f}–{c_ci[1]:.3f}; 0.5 = chance): {quality} discrimination. "
              f"Predicted and observed {horizon:g}-{unit} lapse risks differ by "
              f"{100 * ici:.1f} points on average across risk groups.")
    out = HoldoutResult(summary=summary, method=method, interpretation=interp, value=c,
                        ci=c_ci, n=len(hold))
    out.c_index, out.c_index_ci, out.calibration, out.ici, out.model = c, c_ci, cal, ici, model
    out.horizon = float(horizon)
    return out


def at_risk_list(table: pd.DataFrame, model: ChurnRiskModel, horizon: float = 90, *,
                 as_of=None, inactivity_trigger_days: int = 30,
                 health_threshold: float = 50.0, only_at_risk: bool = True) -> pd.DataFrame:
    """Score the customers of a churn table (with the model's covariates) who are not confirmed
    lapsed: ``age``, ``days_since_last_purchase``, ``probability_returning`` (Pareto/NBD chance
    of another purchase, 1 if the model has no activity model), ``churn_probability`` (lapse within ``horizon`` given their
    age, covariates and — when the model has an activity model and the table
    ``n_purchases`` — their silence since the last purchase; see the module docstring),
    ``health_score`` (0–100), ``inactive_trigger``, ``high_risk``, ``reason``,
    ``extrapolated``, ``rank`` (1 = most at risk). Customer ids stay in the index: reports
    should show counts and aggregates (:func:`at_risk_summary`), not the list."""
    need = ["first_purchase", "last_purchase", "churned"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise DataError(f"churn table: missing column(s) {missing}; rule 'required columns "
                        f"present'", table="churn table", column=",".join(missing),
                        rule="required columns present", n_rows=len(table))
    as_of = pd.Timestamp(as_of if as_of is not None else table.attrs.get(
        "observation_end", table["last_purchase"].max())).normalize()
    active = table.loc[table["churned"] == 0].copy()
    unit = days_per(table.attrs.get("unit", "D"))
    age_days = (as_of - active["first_purchase"]).dt.days.astype(float)
    active["age"] = age_days / unit
    active["days_since_last_purchase"] = (as_of - active["last_purchase"]).dt.days
    active["days_since_last_purchase"] = active["days_since_last_purchase"].clip(lower=0)
    history = getattr(model, "activity_", None) is not None and "n_purchases" in active.columns
    active["probability_returning"] = model.probability_returning(
        active["n_purchases"], active["days_since_last_purchase"], age_days) if history else 1.0
    active["churn_probability"] = model.predict_churn_probability(
        active, horizon, active["age"].to_numpy(),
        days_since_last_purchase=active["days_since_last_purchase"] if history else None)
    active["health_score"] = 100 * (1 - active["churn_probability"])
    active["inactive_trigger"] = active["days_since_last_purchase"] >= inactivity_trigger_days
    active["high_risk"] = active["health_score"] < health_threshold
    active["reason"] = np.select(
        [active["inactive_trigger"] & active["high_risk"], active["inactive_trigger"],
         active["high_risk"]],
        ["both", f"no purchase in {inactivity_trigger_days} days",
         f"health score < {health_threshold:g}"], default="")
    active["extrapolated"] = active["age"] + horizon > model.max_followup_
    active = active.sort_values(["churn_probability", "days_since_last_purchase"],
                                ascending=[False, False])
    active["rank"] = np.arange(1, len(active) + 1)
    cols = ["rank", "age", "days_since_last_purchase", "probability_returning",
            "churn_probability",
            "health_score",
            "inactive_trigger", "high_risk", "reason", "extrapolated", *model.covariates]
    out = active[cols]
    if only_at_risk:
        out = out.loc[out["reason"] != ""]
    out.attrs.update(as_of=as_of, horizon=horizon, n_scored=len(active),
                     conditioned_on_inactivity=bool(history),
                     inactivity_trigger_days=inactivity_trigger_days,
                     health_threshold=health_threshold)
    return out


def at_risk_summary(at_risk: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Counts and mean health score of an at-risk list per reason (and ``by``): no ids."""
    keys = ["reason"] + ([by] if by else [])
    g = at_risk.groupby(keys, observed=True)
    return pd.DataFrame({"customers": g.size(),
                         "mean_health_score": g["health_score"].mean(),
                         "mean_churn_probability": g["churn_probability"].mean(),
                         "mean_days_since_last_purchase": g["days_since_last_purchase"].mean()})
