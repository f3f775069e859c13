"""Event study of loyalty enrolment: the effect by month since enrolment, with placebo months.

The estimator (Callaway & Sant'Anna 2021, *J. Econometrics* 225(2), 200–230)
----------------------------------------------------------------------------
Customers form a customer × calendar-month panel; a customer's *cohort* ``g`` is their enrolment
month (never-members have none). For every cohort ``g`` and month ``t`` the group-time effect

    ATT(g, t) = E[Y_t − Y_b | G = g] − E[Y_t − Y_b | C_{g,t}]                          (CS eq. 2.6)

is a 2 × 2 difference in differences against the comparison group ``C_{g,t}``:

* ``control="not_yet_treated"`` (default): customers not enrolled by month ``max(t, b)``
  (never-members included), other than cohort ``g`` itself;
* ``control="never_treated"``: customers with no enrolment in the panel (members who enrol
  after its last month count as never enrolled within it, as in ``did`` and ``differences``).

The base month ``b`` is ``g − 1`` for ``t >= g`` (no anticipation). For placebo months
``t < g``, ``base_period="varying"`` (CS's and ``did``'s default) uses ``b = t − 1`` (month-on-
month placebo changes) and ``"universal"`` uses ``b = g − 1`` (then event time −1 is the
reference, 0 by construction, and is not reported). No covariates: the unconditional DiD.

The effects are aggregated by event time ``e = t − g`` (CS eq. 3.8, "dynamic" aggregation):
``θ(e) = Σ_g w_g ATT(g, g + e)`` with ``w_g`` the share of cohort ``g`` among the cohorts
observed at ``e``; the overall effect is the mean of ``θ(e)`` over ``e = 0 … months_after``.

Unbalanced panel
----------------
Customers enter the panel in their acquisition month (``signup_date``, else their first
purchase) and stay until the last complete month of the observation window (a customer who stops
buying is still observed, with zeros). Every 2 × 2 comparison uses the customers observed in both
of its months (``b`` and ``t``), so it is a balanced comparison; a customer acquired after ``b``
simply does not enter it. (R ``did`` and the Python ``differences`` package treat an unbalanced
panel as repeated cross-sections instead; on a balanced panel the two coincide and
``tests/impact/test_event_study.py`` checks it against ``differences`` to 1e-6.) Members enrolled in
their acquisition month have no pre-enrolment month and enter no comparison as treated; the
month of observation end is dropped when it is incomplete. Both are counted in ``.sample``.

Inference
---------
Standard errors come from the influence functions of the ATT(g, t) (one value per customer,
so they are clustered by customer: every comparison a customer enters is accounted for jointly),
including the estimation of the cohort weights (CS Appendix; ``did``'s ``wif``):
``se = sqrt(Σ_i ψ_i²) / N``. Intervals are pointwise normal intervals at level ``alpha``.

Pre-trends
----------
The placebo months are tested jointly with a Wald test ``W = θ_pre' V⁻ θ_pre ~ χ²(df)`` on the
event-time estimates of ``e = −months_before … −1`` (−2 with the universal base), ``V`` from the
same influence functions. ``status`` is ``"fail"`` when ``p < pretrend_alpha`` (default
:data:`PRETREND_ALPHA` = 0.05): the not-yet-enrolled customers did not evolve like the members
before enrolment, so parallel trends — the assumption that makes ``θ(e)`` causal — is doubtful.

Enrolment at a purchase
-----------------------
When members join *at a purchase*, the enrolment month contains that purchase by construction
and members are selected on recent activity; event time 0 and the months just before it then
reflect the selection rule as well as the programme. The pre-trend test is there to show it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ... import formatting as fmt
from ...clv.covariates_tv_data import _distinct_rows
from ...errors import DataError
from ...units import z_value
from .event_panel import (  # noqa: F401
    _NEVER,
    OUTCOMES,
    _month,
    _Panel,
    _panel_from_data,
    _panel_from_frame,
    _period,
    event_panel,
)

#: Pre-trend test threshold: ``status = "fail"`` when the joint placebo p-value is below it.
PRETREND_ALPHA = 0.05
CONTROLS = ("not_yet_treated", "never_treated")


@dataclass
class EventStudyResult:
    """Event-time effects with their placebo (pre-enrolment) months.

    Attributes
    ----------
    estimates : DataFrame
        One row per event time: ``event_time`` (months since the enrolment month), ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``p_value``, ``n`` (member-observations: members
        entering the comparisons at that event time), ``n_cohorts``, ``period`` ("pre"/"post").
    pretrend : dict
        ``statistic``, ``df``, ``p_value``, ``threshold``, ``status`` ("pass"/"fail"/"not
        tested") and a one-line ``detail``.
    overall : dict
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value``, ``months``: the mean effect
        over event times 0 … months_after.
    group_time : DataFrame
        The ATT(g, t): ``cohort``, ``period``, ``event_time``, ``base``, ``att``, ``se``,
        ``n_treated``, ``n_control`` (periods as calendar months where the panel had them).
    sample : dict
        Customers, members, cohorts, months, and what was left out.
    method, outcome, alpha, control, base_period
    influence : ndarray
        (customers × event times) influence functions of ``estimates`` (customers in the
        panel's order): ``V = ψ'ψ / N²`` is the customer-clustered covariance.
    """

    estimates: pd.DataFrame
    pretrend: dict
    overall: dict
    group_time: pd.DataFrame
    sample: dict
    method: str
    outcome: str
    alpha: float
    control: str
    base_period: str
    influence: np.ndarray = field(default=None, repr=False)

    def plot(self, ax=None, truth=None):
        """The event-study figure (:func:`retention_lab.report.figures.plot_event_study`); the Axes."""
        # display layer: imported on use, estimation never depends on it
        from ...report.figures.event_study import plot_event_study
        return plot_event_study(self, ax=ax, truth=truth)

    def as_check(self) -> dict:
        """The pre-trend test as a report check row (``check``, ``status``, ``value`` = p-value,
        ``detail``)."""
        p = self.pretrend
        return {"check": "pre-trends (event study, placebo months)", "status": p["status"],
                "value": p["p_value"], "detail": p["detail"]}

    def summary_text(self) -> str:
        """The event study in sentences
        (:func:`retention_lab.report.impact.event_study_summary`)."""
        # display layer: imported on use, estimation never depends on it
        from ...report.impact import event_study_summary
        return event_study_summary(self)


# --- the estimator -----------------------------------------------------------------------

class _Cells:
    """The ATT(g, t) of one panel, with what is needed to rebuild their influence functions.

    Customers are grouped into *classes* of equal cohort and equal observed months (a data
    panel has at most cohorts × acquisition months of them): in a 2 x 2 comparison of months
    ``(t, b)`` a class is wholly treated, wholly comparison or out, and a customer's difference
    ``ΔY_i = Y_it − Y_ib`` enters only through the class sums ``Σ Y_t``, ``Σ Y_t Y_b`` (computed
    once per class and month pair). A cell then costs O(classes) instead of O(customers)
    (issue 22: 570 cells × 200k customers were most of the event study). The influence function
    of a cell (CS 2021, proof of Theorem 2; ``did``'s ``att.inf.func`` rescaled to the whole
    sample) is ``ψ_i = N/n_T (ΔY_i − ȳ_T)`` for its treated customers, ``−N/n_C (ΔY_i − ȳ_C)``
    for its comparison customers and 0 for everyone else: linear in the customer's row, with
    coefficients that depend on the class only (:meth:`influence`)."""

    def __init__(self, p: _Panel, control: str, base_period: str, e_min: int, e_max: int):
        N, T = p.y.shape
        self.N, self.T = N, T
        G = np.where(p.cohort >= T, _NEVER, p.cohort)  # enrolled after the panel: never in it
        obs = ~np.isnan(p.y)
        bits = np.packbits(obs, axis=1)
        bits = np.pad(bits, ((0, 0), (0, -bits.shape[1] % 8))).view(np.int64)
        first, cls = _distinct_rows(np.column_stack([G, bits]))
        self.perm = np.argsort(cls, kind="stable")          # customers by class
        self.cls = cls
        self.count = np.bincount(cls, minlength=len(first))
        self.starts = np.r_[0, np.cumsum(self.count)[:-1]]
        self.Gc, self.obs_c = G[first], obs[first]
        self.Y = p.y[self.perm]                             # zero where not observed
        np.nan_to_num(self.Y, copy=False)   # (in place: one customers × months copy, not two)
        self.sums = np.add.reduceat(self.Y, self.starts, axis=0) if N else np.zeros((0, T))
        cohorts = np.unique(G[(G != _NEVER) & (G >= 1) & (G < T)])
        specs = []
        for g in cohorts:
            g = int(g)
            for t in range(max(0, g + e_min), min(T, g + e_max + 1)):
                b = g - 1 if (t >= g or base_period == "universal") else t - 1
                if b >= 0 and b != t:
                    specs.append((g, t, b))
        pairs = sorted({(t, b) for _, t, b in specs})
        cross = self._cross(pairs)
        pos = {pr: j for j, pr in enumerate(pairs)}
        rows, self.sets = [], []
        for g, t, b in specs:
            valid = self.obs_c[:, t] & self.obs_c[:, b]
            treated = valid & (self.Gc == g)
            if control == "not_yet_treated":
                comp = valid & (self.Gc > max(t, b)) & (self.Gc != g)
            else:
                comp = valid & (self.Gc == _NEVER)
            d1 = self.sums[:, t] - self.sums[:, b]
            d2 = self.sums_sq[:, t] + self.sums_sq[:, b] - 2.0 * cross[:, pos[(t, b)]]
            n_t, n_c = int(self.count[treated].sum()), int(self.count[comp].sum())
            if n_t == 0 or n_c == 0:
                continue
            m_t, m_c = d1[treated].sum() / n_t, d1[comp].sum() / n_c
            ss_t = max(d2[treated].sum() - n_t * m_t * m_t, 0.0)
            ss_c = max(d2[comp].sum() - n_c * m_c * m_c, 0.0)
            rows.append({"g": g, "t": t, "b": b, "event_time": t - g,
                         "att": float(m_t - m_c),
                         "se": float(np.sqrt(ss_t / n_t ** 2 + ss_c / n_c ** 2)),
                         "n_treated": n_t, "n_control": n_c,
                         "pg": int(np.count_nonzero(G == g)) / N, "m_t": m_t, "m_c": m_c})
            self.sets.append((treated, comp))
        self.table = pd.DataFrame(rows)

    def _cross(self, pairs, chunk: int = 32) -> np.ndarray:
        """Class sums of ``Y_t Y_b`` for each month pair (columns in the order of ``pairs``),
        and of ``Y_t²`` (``self.sums_sq``): with few classes from each class block's Gram
        matrix ``Y'Y`` (one BLAS product), else pair by pair."""
        Y, starts, T = self.Y, self.starts, self.T
        tb = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        if len(starts) * 20 <= len(Y):
            gram = np.empty((len(starts), T, T))
            for c, (lo, n) in enumerate(zip(starts, self.count)):
                gram[c] = Y[lo:lo + n].T @ Y[lo:lo + n]
            self.sums_sq = gram[:, np.arange(T), np.arange(T)]
            return gram[:, tb[:, 0], tb[:, 1]]
        self.sums_sq = np.add.reduceat(Y * Y, starts, axis=0) if len(Y) else self.sums
        out = np.zeros((len(starts), len(tb)))
        for lo in range(0, len(tb), chunk):
            part = tb[lo:lo + chunk]
            if len(Y):
                out[:, lo:lo + len(part)] = np.add.reduceat(Y[:, part[:, 0]] * Y[:, part[:, 1]],
                                                            starts, axis=0)
        return out

    def influence(self, groups, add=None) -> np.ndarray:
        """``(customers × len(groups))``: column ``j`` is ``Σ_k w_k ψ_k`` over the cells and
        weights ``groups[j] = (cells, weights)``, customers in the panel's order; plus
        ``add[class, j]`` when given (added last, in each class block: no customers × groups
        temporaries).

        ``ψ_k`` of a customer is ``Σ_t A[class, t] Y_t + B[class]``: the coefficients are
        accumulated per class and month, then applied class block by class block."""
        n_cls, E = len(self.count), len(groups)
        A = np.zeros((n_cls, self.T, E))
        B = np.zeros((n_cls, E))
        tab = {c: self.table[c].to_numpy() for c in ("t", "b", "n_treated", "n_control",
                                                     "m_t", "m_c")}
        for j, (idx, weights) in enumerate(groups):
            for k, w in zip(idx, weights):
                t, b = int(tab["t"][k]), int(tab["b"][k])
                treated, comp = self.sets[k]
                for mask, c, m in ((treated, w * self.N / tab["n_treated"][k], tab["m_t"][k]),
                                   (comp, -w * self.N / tab["n_control"][k], tab["m_c"][k])):
                    A[mask, t, j] += c
                    A[mask, b, j] -= c
                    B[mask, j] -= c * m
        out = np.empty((self.N, E))
        if n_cls * 20 <= self.N:     # few classes: one small product per class block
            for c, (lo, n) in enumerate(zip(self.starts, self.count)):
                out[lo:lo + n] = self.Y[lo:lo + n] @ A[c] + B[c]
                if add is not None:
                    out[lo:lo + n] += add[c]
        else:
            cs = self.cls[self.perm]
            for j in range(E):
                out[:, j] = np.einsum("nt,nt->n", self.Y, A[cs, :, j]) + B[cs, j]
                if add is not None:
                    out[:, j] += add[cs, j]
        res = np.empty_like(out)
        res[self.perm] = out
        return res


def _aggregate(cells: _Cells, groups):
    """θ = Σ w_k ATT_k over the cells of each group (an array of rows of ``cells.table``) with
    w ∝ cohort share, and their influence functions (customers × groups) including the
    estimated weights (CS 2021, Appendix; ``did::wif``)."""
    ests, parts = [], []
    # the weights' influence is a function of the cohort, so of the class: per class, then
    # looked up per customer once (issue 22: a pass over every customer per event time)
    wif = np.zeros((len(cells.count), len(groups)))
    G = np.where(cells.Gc >= cells.T, _NEVER, cells.Gc)
    for j, idx in enumerate(groups):
        sub = cells.table.iloc[idx]
        pg = sub["pg"].to_numpy()
        att = sub["att"].to_numpy()
        w = pg / pg.sum()
        parts.append((idx, w))
        ests.append(float(w @ att))
        # weights' influence: (1[G = g_k] − pg_k) / Σpg − Σ_j (1[G = g_j] − pg_j) · pg_k / (Σpg)²
        # (a function of the cohort only: evaluated per cohort, then looked up)
        gs = sub["g"].to_numpy()
        codes = np.searchsorted(gs, G)
        hit = (codes < len(gs)) & (gs[np.minimum(codes, len(gs) - 1)] == G)
        on_att = np.where(hit, att[np.minimum(codes, len(gs) - 1)], 0.0)
        wif[:, j] = ((on_att - pg @ att) / pg.sum()
                     - (hit.astype(float) - pg.sum()) * (pg @ att) / pg.sum() ** 2)
    return np.array(ests), cells.influence(parts, add=wif)


def event_study(data, *, outcome: str = "purchases", months_before: int = 6,
                months_after: int = 12, alpha: float = 0.05,
                control: str = "not_yet_treated", base_period: str = "varying",
                pretrend_alpha: float = PRETREND_ALPHA) -> EventStudyResult:
    """Effect of enrolment by month since enrolment (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    data : ExperimentData or DataFrame
        A study (``customers.enrolled_at``; the panel is :func:`event_panel`), or a long panel
        with ``customer_id``, ``period`` (integers or monthly Periods), the ``outcome`` column
        and ``cohort`` (null for never-members); a missing row means "not observed".
    outcome : {"purchases", "spend", "active"}
    months_before, months_after : int
        Event times −months_before … months_after are estimated; the months before enrolment
        are placebo tests.
    alpha : float
        Level of the pointwise intervals (``z`` from :func:`retention_lab.units.z_value`).
    control : {"not_yet_treated", "never_treated"}
    base_period : {"varying", "universal"}
    pretrend_alpha : float
        The pre-trend test fails when its p-value is below this (default 0.05).

    Returns
    -------
    EventStudyResult (see the module docstring for the model, the unbalanced-panel rule and the
    clustered influence-function standard errors).
    """
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, not {control!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', not {base_period!r}")
    if months_before < 0 or months_after < 0:
        raise ValueError("months_before and months_after must be >= 0")
    z = z_value(alpha)
    if isinstance(data, pd.DataFrame):
        p = _panel_from_frame(data, outcome)
    else:
        p = _panel_from_data(data, outcome)
    N, T = p.y.shape
    cells = _Cells(p, control, base_period, -int(months_before), int(months_after))
    gt = cells.table
    if gt.empty:
        raise DataError("customers: no cohort has both members and comparison customers "
                        "observed around its enrolment month; rule 'an event study needs "
                        "members enrolled after their acquisition month and customers not "
                        "yet enrolled'", table="customers", column="enrolled_at",
                        rule="estimable cohorts", n_rows=int(p.sample.get("members", 0)))
    events = sorted(gt.groupby("event_time").indices.items())
    ests, inf = _aggregate(cells, [idx for _, idx in events])
    rows = []
    for j, (e, idx) in enumerate(events):
        est = float(ests[j])
        se = float(np.sqrt(np.sum(inf[:, j] * inf[:, j])) / N)
        rows.append({"event_time": int(e), "estimate": est, "se": se,
                     "ci_low": est - z * se, "ci_high": est + z * se,
                     "p_value": float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else np.nan,
                     "n": int(gt["n_treated"].iloc[idx].sum()),
                     "n_cohorts": int(len(idx)), "period": "pre" if e < 0 else "post"})
    est = pd.DataFrame(rows)

    pretrend = _pretrend(est, inf, N, pretrend_alpha)
    post = (est["event_time"] >= 0).to_numpy()
    overall = {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "p_value": np.nan, "months": [int(e) for e in est.loc[post, "event_time"]]}
    if post.any():
        o_inf = inf[:, post].mean(axis=1)
        o_est = float(est.loc[post, "estimate"].mean())
        o_se = float(np.sqrt(np.sum(o_inf * o_inf)) / N)
        overall.update(estimate=o_est, se=o_se, ci_low=o_est - z * o_se,
                       ci_high=o_est + z * o_se,
                       p_value=float(2 * stats.norm.sf(abs(o_est) / o_se)) if o_se else np.nan)

    def label(v):
        v = p.months[0] + np.asarray(v)
        return _period(v) if p.calendar else v

    group_time = pd.DataFrame({"cohort": label(gt["g"]), "period": label(gt["t"]),
                               "event_time": gt["event_time"], "base": label(gt["b"]),
                               "att": gt["att"], "se": gt["se"],
                               "n_treated": gt["n_treated"], "n_control": gt["n_control"]})
    comparison = {"not_yet_treated": "customers not yet enrolled (never-members included)",
                  "never_treated": "never-members"}[control]
    method = (f"Callaway & Sant'Anna (2021) group-time ATT by enrolment month, aggregated by "
              f"months since enrolment; comparison: {comparison}; {base_period} base period; "
              f"unconditional DiD on {OUTCOMES.get(outcome, outcome)}; customers enter the panel in their "
              f"acquisition month and each 2x2 comparison uses customers observed in both of "
              f"its months; standard errors from influence functions clustered by customer; "
              f"joint Wald pre-trend test on the placebo months (fails at p < "
              f"{pretrend_alpha:g}).")
    return EventStudyResult(estimates=est, pretrend=pretrend, overall=overall,
                            group_time=group_time, sample=p.sample, method=method,
                            outcome=outcome, alpha=alpha, control=control,
                            base_period=base_period, influence=inf)


def _pretrend(est: pd.DataFrame, inf: np.ndarray, N: int, threshold: float) -> dict:
    pre = (est["event_time"] < 0).to_numpy()
    if not pre.any():
        return {"statistic": np.nan, "df": 0, "p_value": np.nan, "threshold": threshold,
                "status": "not tested", "detail": "no placebo month before enrolment could be "
                                                  "estimated"}
    theta = est.loc[pre, "estimate"].to_numpy()
    V = inf[:, pre].T @ inf[:, pre] / N ** 2
    df = int(np.linalg.matrix_rank(V))
    if df == 0:
        return {"statistic": np.nan, "df": 0, "p_value": np.nan, "threshold": threshold,
                "status": "not tested", "detail": "the placebo estimates have no variance"}
    W = float(theta @ np.linalg.pinv(V) @ theta)
    pval = float(stats.chi2.sf(W, df))
    status = "fail" if pval < threshold else "pass"
    worst = est.loc[pre].iloc[int(np.argmax(np.abs(theta / est.loc[pre, "se"].to_numpy())))]
    verdict = ("members' behaviour already differed from the comparison customers' before "
               "enrolment: parallel trends is doubtful" if status == "fail" else
               "no evidence that members and comparison customers trended differently before "
               "enrolment")
    detail = (f"joint Wald χ²({df}) = {W:.2f}, {fmt.p_text(pval)} over {int(pre.sum())} "
              f"placebo months (largest at month {fmt.number(worst['event_time'])}: "
              f"{fmt.number(worst['estimate'], signed=True)} ± {fmt.number(worst['se'], 2)}); "
              f"{verdict}.")
    return {"statistic": W, "df": df, "p_value": pval, "threshold": threshold,
            "status": status, "detail": detail}
