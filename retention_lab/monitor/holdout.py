"""``monitor_holdout``: the weekly look at a running holdout — always-valid intervals for purchases,
spend and retention, the sequential SRM check, the pre-registered decision and the plan against
the actuals. Numbers only, keyed by metric ids; :mod:`retention_lab.report.monitor` words them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import ids
from ..errors import DataError
from ..units import DAYS_PER_YEAR, Z95
from .decision import StoppingRule, decide
from .plan import history_stats, plan_holdout, share_stats, value_of_knowing, window_outcomes
from .sequential import itt_sequence, sequential_srm
from .survival import km_sequence, lapse_times

__all__ = ["MonitorResult", "monitor_holdout"]

SEQUENCE_METRICS = (ids.PURCHASES, ids.SPEND, ids.RETENTION)


@dataclass
class MonitorResult:
    """``sequences`` {metric: DataFrame per look day with ``date``, ``n``, ``estimate``,
    ``lower``, ``upper``, ``naive_lower``, ``naive_upper``}; ``srm`` (per day); ``decision``
    (dict, :func:`retention_lab.monitor.decision.decide`); ``plan`` (per metric);
    ``actual`` (dict: customers entered, completed, weeks run, enrolment rate); ``truth`` of a
    simulation ({} for real data)."""

    sequences: dict
    srm: pd.DataFrame
    decision: dict
    plan: pd.DataFrame
    actual: dict
    rule: StoppingRule
    start: pd.Timestamp
    as_of: pd.Timestamp
    settings: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"MonitorResult(decision={self.decision['decision']!r}, "
                f"as_of={self.as_of.date()})")

    def latest(self) -> pd.DataFrame:
        """The last look of each metric: ``metric``, ``n``, ``estimate``, ``lower``, ``upper``,
        ``naive_lower``, ``naive_upper``, ``baseline``."""
        rows = []
        for m, seq in self.sequences.items():
            ok = seq.loc[np.isfinite(seq["estimate"])]
            if not len(ok):
                continue
            r = ok.iloc[-1]
            base = self.actual["control_mean"].get(m, np.nan)
            rows.append(dict(metric=m, n=int(r["n"]), estimate=r["estimate"], lower=r["lower"],
                             upper=r["upper"], naive_lower=r["naive_lower"],
                             naive_upper=r["naive_upper"], baseline=base))
        return pd.DataFrame(rows)

    def value_of_knowing(self, margin: float, metric: str = "spend") -> dict:
        """What knowing the programme's effect on ``metric`` (money per customer in the window)
        is worth, on a year of customers entering at the plan's rate: the expected value of
        perfect information (:func:`.plan.value_of_knowing`) of the keep-or-drop decision given
        the latest estimate and its fixed-horizon SE, × margin × windows a year × customers a
        year. Returns ``estimate``, ``se``, ``per_unit`` and ``value``."""
        last = self.latest().set_index("metric").loc[metric]
        se = (last["naive_upper"] - last["naive_lower"]) / (2 * Z95)
        rate = float(self.plan.set_index("metric").loc[metric, "enrol_per_week"])
        window = float(self.settings.get("window_days", 28))
        per_unit = margin * DAYS_PER_YEAR / window * rate * DAYS_PER_YEAR / 7
        return dict(estimate=float(last["estimate"]), se=float(se), per_unit=per_unit,
                    value=value_of_knowing(last["estimate"], se, per_unit=per_unit))

    def record(self, currency: str | None = None) -> dict:
        """Write the headline numbers to ``metrics.json``: money in ``currency`` (default: the
        run's); see :func:`retention_lab.report.monitor.record_monitor`."""
        # display layer: imported on use, estimation never depends on it
        from ..report.monitor import record_monitor
        return record_monitor(self, currency=currency)


def _days(dates, start) -> np.ndarray:
    return ((pd.to_datetime(dates).dt.normalize() - start).dt.days).to_numpy()


def _entry_days(cust: pd.DataFrame, start: pd.Timestamp) -> np.ndarray:
    """Each customer's entry day counted from ``start``, after checking the customers table."""
    for col in ("customer_id", "arm", "entered_at"):
        if col not in cust.columns:
            raise DataError(f"customers: missing column {col!r}", table="customers", column=col,
                            rule="required")
    bad = ~cust["arm"].isin(["control", "treatment"])
    if bad.any():
        raise DataError.for_rule("customers", "arm", "control or treatment", bad, cust)
    e = _days(cust["entered_at"], start)
    if (e < 0).any():
        raise DataError.for_rule("customers", "entered_at", "on or after the start", e < 0)
    return e


def _projection(e: np.ndarray, today: int, window_days: int):
    """``(day_for_n, entry_rate)``: the day by which ``n`` customers will have completed their
    window — customers already entered complete on their own day; later ones enter at the rate
    of the last 28 days and complete ``window_days`` later — and that entry rate per day."""
    known_on = np.sort(e + window_days - 1)
    recent_days = min(28, today + 1)
    entry_rate = float((e > today - recent_days).sum()) / recent_days

    def day_for_n(n_needed):
        k = int(np.ceil(n_needed))
        if k <= len(known_on):
            return float(max(known_on[k - 1], today))
        if entry_rate <= 0:
            return np.inf
        return float(today + (k - len(known_on)) / entry_rate + window_days - 1)

    return day_for_n, entry_rate


def monitor_holdout(data, *, rule: StoppingRule | None = None, window_days: int = 28,
                    pre_days: int = 90, horizon_days: int = 28, inactivity_days: int = 30,
                    enrol_per_week: float | None = None, plan_weeks: float | None = None,
                    min_fit: int = 50) -> MonitorResult:
    """Monitor a holdout (:class:`retention_lab.datasets.holdout.HoldoutData` or any object with
    ``customers`` (``customer_id``, ``arm``, ``entered_at``), ``transactions``, ``start``,
    ``as_of`` and ``holdout_share``).

    Purchases and spend: each customer's outcome in the ``window_days`` after entry, known once
    the window has passed, adjusted for the same metrics in the ``pre_days`` before entry
    (predictable regression adjustment). Retention: KM at ``horizon_days`` with lapses defined
    by ``inactivity_days``. The plan (``plan_holdout``) uses the history of the customers who
    entered in the first 14 days (pre-entry data only: fixed once day 14 has passed) and
    ``enrol_per_week`` (default: the first 14 days' rate); its fixed-horizon size tunes the
    boundaries.
    """
    rule = rule or StoppingRule()
    cust = data.customers
    start, as_of = pd.Timestamp(data.start).normalize(), pd.Timestamp(data.as_of).normalize()
    h = float(data.holdout_share)
    p = 1 - h
    e = _entry_days(cust, start)
    today = int((as_of - start).days)
    treated = (cust["arm"] == "treatment").to_numpy()

    # the plan, from pre-entry history of the first two weeks' entrants
    first = cust.loc[e < 14]
    if len(first) < 10:
        first = cust
    hist = history_stats(first, data.transactions, window_days=window_days, pre_days=pre_days)
    rate = enrol_per_week if enrol_per_week else len(first) / 2.0
    plan = plan_holdout(hist, holdout_share=h, rel_mde=rule.min_effect_rel, enrol_per_week=rate,
                        window_days=window_days, power=rule.power, alpha=rule.alpha)
    plan = plan.set_index("metric")

    y = window_outcomes(cust, data.transactions, start_col="entered_at", offset_days=0,
                        days=window_days)
    x = window_outcomes(cust, data.transactions, start_col="entered_at", offset_days=-pre_days,
                        days=pre_days)
    done = e + window_days - 1 <= today
    batch = (e + window_days - 1)[done]
    sequences, sds = {}, {}
    dates = lambda d: start + pd.to_timedelta(d, unit="D")  # noqa: E731
    for metric in (ids.PURCHASES, ids.SPEND):
        seq = itt_sequence(y[metric].to_numpy(float)[done], treated[done], batch, p_treat=p,
                           x=x[["purchases", "spend"]].to_numpy(float)[done], alpha=rule.alpha,
                           t_opt=plan.loc[metric, "n_fixed"], min_fit=min_fit)
        seq = seq.rename(columns={"batch": "day"})
        seq = seq.loc[seq["n"] > 0].reset_index(drop=True)
        seq.insert(1, "date", dates(seq["day"]))
        sequences[metric] = seq
        sds[metric] = float(seq["sd"].iloc[-1]) if len(seq) else np.nan

    lapse = lapse_times(cust.set_index("customer_id")["entered_at"], data.transactions,
                        inactivity_days=inactivity_days, as_of=as_of)
    looks = np.arange(0, today + 1)
    n_plan = float(plan["n_fixed"].max())
    info_opt = n_plan * p * h / 0.25   # worst-case Bernoulli variance: fixed in advance
    km = km_sequence(e, lapse.to_numpy(), treated, looks, horizon=horizon_days,
                     inactivity_days=inactivity_days, alpha=rule.alpha, info_opt=info_opt)
    km = km.rename(columns={"look": "day"})
    km.insert(1, "date", dates(km["day"]))
    sequences[ids.RETENTION] = km.loc[np.isfinite(km["estimate"])].reset_index(drop=True)
    # retention's plan: a share at the control arm's current KM level (after the boundary's
    # tuning above, which stays fixed by the purchases/spend plan); followed for horizon_days
    p0 = km["control"].dropna()
    if len(p0) and 0 < float(p0.iloc[-1]) < 1:
        ret = plan_holdout({ids.RETENTION: share_stats(float(p0.iloc[-1]))}, holdout_share=h,
                           rel_mde=rule.min_effect_rel, enrol_per_week=rate,
                           window_days=horizon_days, power=rule.power, alpha=rule.alpha,
                           treatment_variance="binary").set_index("metric")
        plan = pd.concat([plan, ret])

    n_in = np.bincount(e, minlength=today + 1)[:today + 1]
    n_tr = np.bincount(e[treated], minlength=today + 1)[:today + 1]
    srm = sequential_srm(np.cumsum(n_tr), np.cumsum(n_in), p_treat=p, alpha=rule.srm_alpha)
    srm.insert(0, "date", dates(np.arange(today + 1)))

    prim = sequences[rule.primary]
    last = prim.iloc[-1] if len(prim) else pd.Series(
        dict(estimate=np.nan, lower=-np.inf, upper=np.inf))
    day_for_n, entry_rate = _projection(e, today, window_days)
    decision = decide(last, rule=rule, baseline=plan.loc[rule.primary, "baseline"]
                      if rule.primary in plan.index else np.nan,
                      srm_mismatch=bool(srm["mismatch"].iloc[-1]), n_now=int(done.sum()),
                      sigma_phi=sds.get(rule.primary, np.nan),
                      rho2=float(plan.loc[rule.primary, "rho2"]) if rule.primary in plan.index
                      else np.nan, day_now=today, day_for_n=day_for_n)
    ctrl = ~treated & done
    actual = dict(entered=int(len(cust)), completed=int(done.sum()),
                  entered_control=int((~treated).sum()), weeks_run=(today + 1) / 7,
                  enrol_per_week=float(len(cust) / max((today + 1) / 7, 1e-9)),
                  entering_per_day=entry_rate,
                  control_mean={ids.PURCHASES: float(y["purchases"].to_numpy()[ctrl].mean())
                                if ctrl.any() else np.nan,
                                ids.SPEND: float(y["spend"].to_numpy()[ctrl].mean())
                                if ctrl.any() else np.nan,
                                ids.RETENTION: float(km["control"].dropna().iloc[-1])
                                if km["control"].notna().any() else np.nan},
                  srm_p_value=float(srm["p_value"].iloc[-1]),
                  srm_share=float(srm["share"].iloc[-1]))
    settings = dict(window_days=window_days, pre_days=pre_days, horizon_days=horizon_days,
                    inactivity_days=inactivity_days, holdout_share=h, plan_weeks=plan_weeks,
                    history=hist)
    return MonitorResult(sequences=sequences, srm=srm, decision=decision,
                         plan=plan.reset_index(), actual=actual, rule=rule, start=start,
                         as_of=as_of, settings=settings, truth=getattr(data, "truth", {}) or {})
