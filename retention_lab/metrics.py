"""Business metrics of customer retention, each with a 95 % interval and the method behind it.

Every function returns a :class:`MetricResult` (``value``, ``ci``, ``n``, ``method``,
``details``) that prints as one line and renders as a small table in a notebook.

Proportions use the Wilson score interval (Wilson 1927, JASA 22:209; recommended over the Wald
interval by Brown, Cai & DasGupta 2001, Statistical Science 16:101). NPS uses the multinomial
variance of the difference of two shares. CLTV uses the delta method or a customer-level
bootstrap (Efron & Tibshirani 1993, ch. 13, percentile interval).
"""
from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import DataError
from .features import churn_table
from .schema import validate_transactions
from .units import DAYS_PER_UNIT as DAYS_PER_UNIT, days_per, unit_code, z_value  # re-exported

__all__ = [
    "MetricResult", "wilson_interval", "retention_rate", "churn_rate", "CustomerCounts",
    "customer_counts", "retention_rate_from_transactions", "nps", "csat",
    "repeat_purchase_rate", "simple_cltv", "simple_cltv_from_transactions",
]

#: Days per time unit for frequencies and lifespans: :data:`retention_lab.units.DAYS_PER_UNIT`
#: (codes ``D W M Y`` or the names ``day week month year``; a month is the mean Gregorian month,
#: 30.436875 days, a year 365.2425 days).
__all__.append("DAYS_PER_UNIT")


@dataclass(frozen=True)
class MetricResult:
    """One business metric: its value, ``1 − alpha`` interval, sample size and method.

    ``details`` holds the ingredients (counts, shares, standard errors) for readers who want
    them; ``to_dict()`` gives a flat, JSON-friendly record.
    """

    name: str
    value: float
    ci: tuple[float, float]
    n: int
    method: str
    details: dict = field(default_factory=dict)
    unit: str = ""
    alpha: float = 0.05

    @property
    def lower(self) -> float:
        return self.ci[0]

    @property
    def upper(self) -> float:
        return self.ci[1]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci_low"], out["ci_high"] = (float(x) for x in out.pop("ci"))
        out["value"] = float(out["value"])
        out["details"] = {k: (v.item() if isinstance(v, np.generic) else v)
                          for k, v in out["details"].items()}
        return out

    def _formatted(self) -> tuple[str, str]:
        level = f"{100 * (1 - self.alpha):g}%"
        unit = f" {self.unit}" if self.unit else ""
        if any(math.isnan(x) for x in self.ci):
            return f"{self.value:.4g}{unit}", f"{level} CI not available"
        return f"{self.value:.4g}{unit}", f"{level} CI {self.ci[0]:.4g} to {self.ci[1]:.4g}"

    def __repr__(self) -> str:
        value, ci = self._formatted()
        return f"{self.name} = {value} ({ci}), n = {self.n:,} [{self.method}]"

    def _repr_html_(self) -> str:
        value, ci = self._formatted()
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(_fmt(v))}</td></tr>" for k, v in self.details.items())
        return (f"<div><b>{html.escape(self.name)}</b> = {html.escape(value)} "
                f"({html.escape(ci)}), n = {self.n:,}<br><small>{html.escape(self.method)}"
                f"</small><table>{rows}</table></div>")


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return str(v)


_z = z_value  # two-sided normal critical value (retention_lab.units)


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``."""
    if n <= 0:
        raise ValueError(f"n must be positive, not {n}")
    z = _z(alpha)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _count(metric: str, name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not float(value).is_integer():
        raise DataError(f"{metric}: {name} = {value!r} is not a whole number; rule "
                        f"'{name} is a count'", table="counts", column=name,
                        rule=f"{name} is a count")
    value = int(value)
    if value < 0:
        raise DataError(f"{metric}: {name} = {value} is negative; rule '{name} >= 0'",
                        table="counts", column=name, rule=f"{name} >= 0")
    return value


def _proportion(name: str, successes: int, n: int, alpha: float, details: dict,
                unit: str = "") -> MetricResult:
    return MetricResult(name, successes / n, wilson_interval(successes, n, alpha), n,
                        "Wilson score interval", details, unit, alpha)


# --------------------------------------------------------------------------- retention / churn


def _starting_customers(metric: str, customers_start) -> int:
    """``S`` of a rate over the starting customers: a whole number, and not zero."""
    s = _count(metric, "customers_start", customers_start)
    if s == 0:
        raise DataError(f"{metric}: customers_start = 0; rule 'customers_start > 0' (the rate is "
                        "undefined without starting customers)", table="counts",
                        column="customers_start", rule="customers_start > 0")
    return s


def retention_rate(customers_start: int, customers_end: int, new_customers: int,
                   alpha: float = 0.05) -> MetricResult:
    """Customer retention rate, the seed formula ``(E − N) / S`` (a fraction).

    ``S`` customers at the start of the period, ``E`` at the end, ``N`` new during the period.
    ``E − N`` are the starting customers still there at the end, so the rate is a binomial
    proportion of the ``S`` starting customers; the interval is Wilson's.
    """
    m = "retention_rate"
    s = _starting_customers(m, customers_start)
    e = _count(m, "customers_end", customers_end)
    new = _count(m, "new_customers", new_customers)
    kept = e - new
    rule = "0 <= customers_end - new_customers <= customers_start"
    if kept < 0:
        raise DataError(f"{m}: customers_end - new_customers = {e} - {new} = {kept} is negative "
                        f"(more new customers than customers at the end); rule '{rule}'",
                        table="counts", column="new_customers", rule=rule)
    if kept > s:
        raise DataError(f"{m}: customers_end - new_customers = {e} - {new} = {kept} exceeds "
                        f"customers_start = {s} (more customers retained than there were); "
                        f"rule '{rule}'", table="counts", column="customers_end", rule=rule)
    return _proportion(m, kept, s, alpha, dict(customers_start=s, customers_end=e,
                                              new_customers=new, retained=kept))


def churn_rate(customers_start: int, customers_lost: int, alpha: float = 0.05) -> MetricResult:
    """Churn rate ``lost / S``: the share of the ``S`` starting customers lost in the period."""
    m = "churn_rate"
    s = _starting_customers(m, customers_start)
    lost = _count(m, "customers_lost", customers_lost)
    if lost > s:
        raise DataError(f"{m}: customers_lost = {lost} exceeds customers_start = {s}; rule "
                        "'customers_lost <= customers_start'", table="counts",
                        column="customers_lost", rule="customers_lost <= customers_start")
    return _proportion(m, lost, s, alpha, dict(customers_start=s, customers_lost=lost))


class CustomerCounts(NamedTuple):
    """The seed formula's counts from transactions (see :func:`customer_counts`)."""

    customers_start: int
    customers_end: int
    new_customers: int
    first_time: int
    reactivated: int


def _purchase_days(tx: pd.DataFrame, validate: bool) -> pd.DataFrame:
    if validate:
        tx, _ = validate_transactions(tx)
    return pd.DataFrame({"customer_id": tx["customer_id"].to_numpy(),
                         "day": pd.DatetimeIndex(tx["date"]).normalize()})


def _active_at(days: pd.DataFrame, at: pd.Timestamp, inactivity_days: int) -> set:
    """Customers with a purchase on a day in ``(at − inactivity_days, at]``."""
    lo = at - pd.Timedelta(days=inactivity_days)
    mask = (days["day"] > lo) & (days["day"] <= at)
    return set(days.loc[mask, "customer_id"].unique())


def customer_counts(tx: pd.DataFrame, period_start, period_end, inactivity_days: int = 90, *,
                    validate: bool = True) -> CustomerCounts:
    """Count ``S``, ``E`` and ``N`` of the seed formula from transactions.

    A customer *is a customer* on day ``d`` if they purchased on a day in the trailing window
    ``(d − inactivity_days, d]`` — the same rule that confirms a lapse in
    :func:`retention_lab.features.churn_table`. ``S`` counts customers on ``period_start``,
    ``E`` on ``period_end``, and ``N`` those counted in ``E`` but not in ``S``: first-time buyers
    (``first_time``) plus lapsed customers who came back (``reactivated``). So ``E − N`` is the
    number of starting customers still customers at the end, and ``(E − N) / S`` is the share
    of starting customers retained.
    """
    start, end = pd.Timestamp(period_start).normalize(), pd.Timestamp(period_end).normalize()
    if end <= start:
        raise ValueError(f"period_end ({end.date()}) must be after period_start ({start.date()})")
    if inactivity_days <= 0:
        raise ValueError(f"inactivity_days must be positive, not {inactivity_days}")
    days = _purchase_days(tx, validate)
    at_start = _active_at(days, start, inactivity_days)
    at_end = _active_at(days, end, inactivity_days)
    new = at_end - at_start
    first = days.groupby("customer_id")["day"].min()
    first_time = int((first.loc[list(new)] > start).sum())
    return CustomerCounts(len(at_start), len(at_end), len(new), first_time,
                          len(new) - first_time)


def retention_rate_from_transactions(tx: pd.DataFrame, period_start, period_end,
                                     inactivity_days: int = 90, alpha: float = 0.05, *,
                                     validate: bool = True) -> MetricResult:
    """:func:`retention_rate` on the counts of :func:`customer_counts`."""
    c = customer_counts(tx, period_start, period_end, inactivity_days, validate=validate)
    r = retention_rate(c.customers_start, c.customers_end, c.new_customers, alpha)
    details = dict(r.details, first_time=c.first_time, reactivated=c.reactivated,
                   inactivity_days=int(inactivity_days),
                   period=f"{pd.Timestamp(period_start).date()} to "
                          f"{pd.Timestamp(period_end).date()}")
    return MetricResult(r.name, r.value, r.ci, r.n, r.method, details, r.unit, r.alpha)


# --------------------------------------------------------------------------- surveys


def _scores(scores, column: str, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """Validated whole-number scores on ``lo..hi`` (nulls = skipped questions, dropped)."""
    if isinstance(scores, pd.DataFrame):
        if column not in scores.columns:
            raise DataError(f"surveys: missing required column(s) '{column}'; rule 'required "
                            "columns present'", table="surveys", column=column,
                            rule="required columns present")
        scores = scores[column]
    if not isinstance(scores, pd.Series):  # lists may mix numbers, None and text
        scores = scores if isinstance(scores, np.ndarray) else np.asarray(scores, dtype=object)
    s = pd.Series(scores)
    frame = s.rename(column).to_frame()
    values = pd.to_numeric(s, errors="coerce")
    bad = (values.isna() & s.notna()) | (values.notna() & (
        (values < lo) | (values > hi) | (values != np.round(values))))
    if bad.any():
        raise DataError.for_rule("surveys", column,
                                 f"{column} is a whole number from {lo} to {hi}",
                                 bad.reset_index(drop=True), frame.reset_index(drop=True))
    valid = values.dropna().to_numpy(dtype=int)
    if len(valid) == 0:
        raise DataError(f"surveys.{column}: no responses; rule 'at least one response'",
                        table="surveys", column=column, rule="at least one response", n_rows=0)
    return valid, int(values.isna().sum())


def nps(scores, alpha: float = 0.05) -> MetricResult:
    """Net Promoter Score (Reichheld 2003, HBR 81(12)) on the −100…100 scale.

    Promoters answer 9–10, passives 7–8, detractors 0–6; ``NPS = 100 (p_P − p_D)``. The
    interval is Wald's on the multinomial variance
    ``Var(p_P − p_D) = (p_P + p_D − (p_P − p_D)²) / n``, clipped to the scale.
    ``scores``: a Series / array of 0–10 integers, or a surveys frame with an ``nps`` column;
    nulls (skipped questions) are dropped and counted in ``details``.
    """
    x, n_missing = _scores(scores, "nps", 0, 10)
    n = len(x)
    promoters, detractors = int((x >= 9).sum()), int((x <= 6).sum())
    passives = n - promoters - detractors
    p_p, p_d = promoters / n, detractors / n
    diff = p_p - p_d
    se = 100 * math.sqrt(max(p_p + p_d - diff * diff, 0.0) / n)
    z = _z(alpha)
    value = 100 * diff
    ci = (max(-100.0, value - z * se), min(100.0, value + z * se))
    details = dict(promoters=promoters, passives=passives, detractors=detractors,
                   share_promoters=p_p, share_passives=passives / n, share_detractors=p_d,
                   se=se, n_missing=n_missing)
    return MetricResult("nps", value, ci, n, "Wald interval, multinomial variance of "
                        "p_promoter - p_detractor", details, "points", alpha)


def csat(scores, alpha: float = 0.05) -> MetricResult:
    """Customer satisfaction: the share of 4–5 answers on the 1–5 scale (Wilson interval).

    ``scores``: a Series / array of 1–5 integers, or a surveys frame with a ``csat`` column.
    """
    x, n_missing = _scores(scores, "csat", 1, 5)
    satisfied = int((x >= 4).sum())
    counts = {f"score_{k}": int((x == k).sum()) for k in range(1, 6)}
    return _proportion("csat", satisfied, len(x), alpha,
                       dict(satisfied=satisfied, mean_score=float(x.mean()), **counts,
                            n_missing=n_missing))


# --------------------------------------------------------------------------- purchases


def repeat_purchase_rate(data: pd.DataFrame, observation_end=None, alpha: float = 0.05, *,
                         validate: bool = True) -> MetricResult:
    """The share of customers with purchases on at least two different days (Wilson interval).

    ``data``: transactions (``customer_id, date, amount``) or a BTYD summary from
    :func:`retention_lab.features.rfm_summary` (a repeat customer has ``frequency >= 1``; with a
    weekly or monthly summary that means purchases in two periods).
    """
    if "frequency" in data.columns and "date" not in data.columns:
        repeat, n, source = int((data["frequency"] >= 1).sum()), len(data), "BTYD summary"
    else:
        days = _purchase_days(data, validate)
        if observation_end is not None:
            days = days.loc[days["day"] <= pd.Timestamp(observation_end).normalize()]
        n_days = days.groupby("customer_id")["day"].nunique()
        repeat, n, source = int((n_days >= 2).sum()), len(n_days), "transactions"
    if n == 0:
        raise DataError("repeat_purchase_rate: no customers; rule 'at least one customer'",
                        table="transactions", column="customer_id",
                        rule="at least one customer", n_rows=0)
    return _proportion("repeat_purchase_rate", repeat, n, alpha,
                       dict(repeat_customers=repeat, customers=n, source=source))


def simple_cltv(average_purchase_value: float, purchase_frequency: float, lifespan: float, *,
                se: tuple[float, float, float] | None = None, alpha: float = 0.05,
                n: int = 0, unit: str = "") -> MetricResult:
    """The textbook customer lifetime value ``CLTV = average purchase value × purchase frequency
    × lifespan`` (frequency and lifespan in the same time unit; no discounting, no margin).

    With ``se = (se_value, se_frequency, se_lifespan)`` the interval is the delta method's,
    treating the three estimates as independent:
    ``Var(CLTV) ≈ (f L)² σ_v² + (v L)² σ_f² + (v f)² σ_L²``, normal interval.
    """
    v, f, life = (float(average_purchase_value), float(purchase_frequency), float(lifespan))
    for name, x in (("average_purchase_value", v), ("purchase_frequency", f),
                    ("lifespan", life)):
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"simple_cltv: {name} must be a finite non-negative number, not {x}")
    value = v * f * life
    details = dict(average_purchase_value=v, purchase_frequency=f, lifespan=life)
    if se is None:
        return MetricResult("simple_cltv", value, (math.nan, math.nan), n,
                            "plug-in product (no standard errors given)", details, unit, alpha)
    s_v, s_f, s_l = (float(x) for x in se)
    var = (f * life * s_v) ** 2 + (v * life * s_f) ** 2 + (v * f * s_l) ** 2
    sd = math.sqrt(var)
    z = _z(alpha)
    details.update(se=sd, se_average_purchase_value=s_v, se_purchase_frequency=s_f,
                   se_lifespan=s_l)
    return MetricResult("simple_cltv", value, (value - z * sd, value + z * sd), n,
                        "delta method (independent components), normal interval", details,
                        unit, alpha)


def simple_cltv_from_transactions(tx: pd.DataFrame, inactivity_days: int = 90,
                                  observation_end=None, *, time_unit: str = "year",
                                  n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                                  validate: bool = True) -> MetricResult:
    """Simple CLTV with its three components estimated from transactions.

    Built on :func:`retention_lab.features.churn_table` (lapse = ``inactivity_days`` without a
    purchase; each customer observed from the first purchase to the lapse or to the
    confirmation cutoff):

    * average purchase value ``v`` = revenue / purchases (transaction rows) in those windows;
    * purchase frequency ``f`` = purchases per ``time_unit`` of observed customer life;
    * lifespan ``L`` = observed customer life / confirmed lapses — the maximum-likelihood mean
      of an exponential lifetime under right censoring (``1 / churn hazard``).

    So ``v f L`` = revenue / lapses. The interval is the percentile interval of a
    customer-level bootstrap (``n_boot`` resamples of customers, fixed ``seed``), which keeps
    each customer's purchases, spend and life together.
    """
    per_unit = days_per(unit_code(time_unit))  # ValueError naming the units for anything else
    if validate:
        tx, _ = validate_transactions(tx)
    table = churn_table(tx, inactivity_days, observation_end, validate=False)
    ids = tx["customer_id"].to_numpy()
    end_of = table["followup_end"].reindex(ids).to_numpy()
    inside = tx["date"].dt.normalize().to_numpy() <= end_of  # NaT (excluded) compares False
    per = (tx.loc[inside].groupby("customer_id")["amount"].agg(["sum", "size"])
           .reindex(table.index, fill_value=0))
    revenue = per["sum"].to_numpy(dtype=float)
    purchases = per["size"].to_numpy(dtype=float)
    life = (table["followup_end"] - table["first_purchase"]).dt.days.to_numpy(dtype=float) \
        / per_unit
    events = table["churned"].to_numpy(dtype=float)
    n = len(table)
    if events.sum() == 0:
        raise DataError("simple_cltv_from_transactions: no confirmed lapse, so the lifespan "
                        "cannot be estimated; rule 'at least one churned customer'",
                        table="transactions", column="date",
                        rule="at least one churned customer", n_rows=0)

    def components(rev, pur, lif, ev):
        return rev / pur, pur / lif, lif / ev

    v, f, life_mean = (float(x) for x in components(revenue.sum(), purchases.sum(), life.sum(),
                                                    events.sum()))
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, 3))
    cols = np.column_stack([revenue, purchases, life, events])
    for b in range(n_boot):
        # resample counts per customer, then weighted sums (5x faster than fancy indexing)
        sums = np.bincount(rng.integers(0, n, n), minlength=n) @ cols
        with np.errstate(divide="ignore", invalid="ignore"):
            boot[b] = components(*sums)
    # A resample without a lapse has an infinite lifespan (and CLTV); it stays in the
    # percentile interval, which may then be unbounded above — honest for tiny samples.
    with np.errstate(invalid="ignore"):
        cltv_boot = boot.prod(axis=1)
    no_lapse = int(np.isinf(boot[:, 2]).sum())
    cltv_boot = cltv_boot[~np.isnan(cltv_boot)]
    lo, hi = np.quantile(cltv_boot, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    finite = np.isfinite(boot).all(axis=1)
    se_parts = [float(x) for x in boot[finite].std(axis=0, ddof=1)]
    details = dict(average_purchase_value=v, purchase_frequency=f, lifespan=life_mean,
                   se_average_purchase_value=se_parts[0], se_purchase_frequency=se_parts[1],
                   se_lifespan=se_parts[2],
                   se=float(np.std(cltv_boot[np.isfinite(cltv_boot)], ddof=1)),
                   resamples_without_lapse=no_lapse,
                   customers=n, purchases=int(purchases.sum()), lapses=int(events.sum()),
                   time_unit=time_unit, inactivity_days=int(inactivity_days),
                   n_boot=n_boot, seed=seed)
    return MetricResult("simple_cltv", v * f * life_mean, (float(lo), float(hi)), n,
                        f"customer-level bootstrap, percentile interval ({n_boot} resamples)",
                        details, "", alpha)
