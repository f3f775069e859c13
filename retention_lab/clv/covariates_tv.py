"""Pareto/NBD with time-varying covariates (piecewise constant per calendar period).

Bachmann, P., Meierer, M. & Näf, J. (2021), "The role of time-varying contextual factors in
latent attrition models for customer base analysis", *Marketing Science* 40(4), 783–809
(CLVTools' ``pnbd()`` with dynamic covariates). Derived here from first principles; the
parameterization is CLVTools'.

Model. Customer ``i`` has ``λ_i ~ Gamma(r, α)``, ``μ_i ~ Gamma(s, β)``; while alive they buy as a
Poisson process with intensity ``λ_i a_i(t)`` and drop out with hazard ``μ_i c_i(t)``, where

    a_i(t) = exp(γ_trans′ x_i(t)),      c_i(t) = exp(γ_life′ z_i(t))

and the covariates ``x_i(t), z_i(t)`` are constant within each calendar period (e.g. week).
With constant covariates this is exactly the static model of :mod:`.covariates`
(``α_i = α exp(−γ′x)``), so positive coefficients raise the purchase / dropout rate and
``exp(γ)`` is the rate ratio.

Likelihood. With ``A(t) = ∫_0^t a``, ``C(t) = ∫_0^t c`` (age ``t`` since the first purchase),
``x`` repeat purchases at ``t_1 … t_x`` (the last at ``t_x``), observed to ``T``:

    L = Π_j a(t_j) · Γ(r+x)/Γ(r) · α^r β^s ·
        [ (α+A(T))^-(r+x) (β+C(T))^-s  +  s ∫_{t_x}^T (α+A(τ))^-(r+x) (β+C(τ))^-(s+1) c(τ) dτ ]

(the gamma mixtures of ``λ^x e^{−λA(T)} e^{−μC(T)}`` — alive at ``T`` — and of
``λ^x e^{−λA(τ)} μ c(τ) e^{−μC(τ)}`` — died at ``τ``). ``Π a(t_j)`` is the density of the
purchase times of an inhomogeneous Poisson process (CLVTools' ``A1sum``). On a period where
``a, c`` are constant, ``A(τ) = a (p + v)``, ``C(τ) = c (q + v)`` with ``v`` the time into the
period, and the piece of the integral is ``s a^-(r+x) c^-s ∫_0^h (p+v)^-(r+x) (q+v)^-(s+1) dv =
s a^-(r+x) c^-s [F(0) − F(h)] / (r+s+x)`` with the Pareto/NBD ``F`` of
:func:`.covariates.pnbd_log_F_rows` at the shifted ``α → p``, ``β → q``. Consecutive periods
with equal covariates are merged first, so the cost is one ``2F1`` pair per covariate change
between ``t_x`` and ``T`` per customer. The gradient is analytic (:func:`dynamic_loglik_grad`);
standard errors from central differences of it. Customers whose histories and covariate
paths are identical are evaluated once, weighted (:meth:`DynamicData.compact`, issue 22).

Events (``events=``). ``"orders"`` (default): every transaction after the first purchase day is
a purchase; several orders on one day are tied events at the day's end (the Poisson count of
the day, ``Π a(t_j)`` taking each one). ``"days"``: purchase *days* (several orders on one day
count once — the BTYD summary's convention, invariant to an order written as several lines).
The first purchase day counts once either way: its other orders fall in the part of the day
before age 0, which the model does not expose. Why orders by default (issue 19): members who
enrol at a purchase chosen on the gap since the previous one enrol more often on days with
two purchases, and the day collapse hides exactly the second one — a pre-switch purchase the
likelihood cannot see, carrying information on ``λ`` the selection used. On the enrolment
world of tests/test_clv_membership_calibration.py (null programme, 20,000 customers, 8
seeds) ``trans.member`` is +0.0055 (Monte Carlo SE 0.0010; SE of one fit 0.0055) with purchase
days and −0.0011 (0.0012) with orders; counting the orders of the enrolment day only
over-corrects (−0.0074: it adds the post-enrolment orders of that day while the other days
stay collapsed). Use ``"days"`` where a row may be a line of an order rather than an order.

Time: exact event times at the data's resolution (a day); ages are measured in
units of ``freq`` (7 days for ``"W"``) from the first purchase day, whatever the period of the
covariate table: the covariates are piecewise constant by calendar period of ``freq`` (Monday
weeks for ``"W"``), the purchase events are not merged into periods. Day ``d`` is the age
interval ``(d − d_0 − 1, d − d_0]`` (÷ days per unit): a purchase on day ``d`` sits at the right
end of its day and meets the covariates in force on day ``d``. The covariate path is
*predictable* (left-continuous, as in the counting-process likelihood of Andersen et al. 1993,
ch. III): a switch that takes effect on day ``d + 1`` acts after every purchase of day ``d``. For
membership that starts at a purchase this is the right side of the switch for the enrolment
purchase: it was made by a non-member, so it belongs to the pre-switch regime
(:func:`membership_covariates` switches membership on from the period after the enrolment;
with ``freq="D"`` that is the next day, the exact switch). Counting it after the switch would
hand the member regime a purchase it is guaranteed to have (the enrolment is conditioned on
it) — a spurious positive ``trans.member``. The same happens, more quietly, when purchases are
merged into periods: a period holding the enrolment is busier than others (enrolment follows
activity) and loses more purchases to the merge (29.7 % against 13.2 % in the weeks of issue
19), and a purchase placed at the start of its period while the period's exposure runs after
it moves one period of events from the non-member to the member regime; together these gave a
null programme ``trans.member`` ≈ +0.09–0.13 on weekly periods. With exact days both are gone
(tests/clv/test_membership_calibration.py). The dropout multiplier of a BG/NBD purchase is the
one in force just after it (the next day's).

Predictions under a future covariate path (constant from a customer's cut-off on: e.g.
membership on or off). Given the history up to age ``e`` and alive then, ``λ ~ Gamma(r+x,
α+A(e))`` and ``μ ~ Gamma(s, β+C(e))``, so

    E[X(e, e+t) | history] = P(alive at e) · (r+x)/(α+A(e)) · ∫_0^t a_f (B/(B+c_f v))^s dv
                           = P(alive at e) · (r+x)/(α+A(e)) · a_f B [1 − (B/(B+c_f t))^{s−1}] / (c_f (s−1)),

``B = β + C(e)`` (``a_f B/c_f · log(1 + c_f t/B)`` at ``s = 1``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import digamma, expit, gammaln, ndtr

from ..errors import DataError
from ..periods import day_period, period_first_day, period_index
from ..units import DAYS_PER_UNIT, Z95
from .base import (
    ConvergenceError,
    ConvergenceWarning,
    covariance_from_information,
    hessian_from_gradient,
)
from .covariates import LogShapeParamsMixin, _select, design_matrix, pnbd_log_F_rows

#: what a purchase event is (module docstring)
EVENTS = ("orders", "days")


# ---------------------------------------------------------------------------- periods
def period_start(index, freq: str = "W") -> pd.DatetimeIndex:
    """The first day of calendar periods numbered as :func:`retention_lab.periods.period_index`."""
    return pd.DatetimeIndex(period_first_day(index, freq).astype("datetime64[D]"))


def membership_covariates(customers: pd.DataFrame, start, end, freq: str = "W", *,
                          column: str = "member", from_next_period: bool = True,
                          compact: bool = False) -> pd.DataFrame:
    """The customer × period membership table from ``customers.enrolled_at``.

    One row per customer and calendar period from ``start`` to ``end`` (inclusive):
    ``customer_id, period`` (the period's first day) and ``member`` (1.0 from enrolment on,
    0.0 before and for customers never enrolled). With ``from_next_period=True`` (default)
    membership starts in the period *after* the enrolment period: enrolment happens at a
    purchase, and that purchase was made by a non-member — counting it as a member purchase
    would credit the programme with the purchase that triggered it. With ``freq="D"`` that is
    the exact switch (the day after the enrolment); with weeks, the rest of the enrolment week
    counts as a non-member's — its purchases *and* its exposure, so nothing is biased, only a
    few member days are lost (the fitters place every purchase on its exact day).

    ``compact=True``: only the rows where the value changes (one row at ``start`` per customer
    and one at the first member period), marked ``attrs["fill"] = "forward"`` — the same
    covariates in a table the size of the customers table, for large customer bases.
    """
    if "customer_id" not in customers.columns:
        raise DataError("customers: missing column 'customer_id'", table="customers",
                        column="customer_id", rule="required column")
    if "enrolled_at" not in customers.columns:
        raise DataError("customers: missing column 'enrolled_at' (enrolment date or null)",
                        table="customers", column="enrolled_at", rule="required column")
    k0, k1 = (int(period_index([pd.Timestamp(d)], freq)[0]) for d in (start, end))
    if k1 < k0:
        raise ValueError(f"end ({end}) is before start ({start})")
    ids = customers["customer_id"].to_numpy()
    enrol = pd.to_datetime(customers["enrolled_at"])
    ke = np.full(len(ids), np.iinfo(np.int64).max)
    has = enrol.notna().to_numpy()
    ke[has] = period_index(enrol[has], freq) + int(bool(from_next_period))
    if compact:
        on = has & (ke <= k1)
        k_on = np.clip(ke[on], k0, None)
        starts = pd.DataFrame({"customer_id": ids, "k": k0,
                               column: (has & (ke <= k0)).astype(float)})
        ons = pd.DataFrame({"customer_id": ids[on], "k": k_on, column: 1.0})
        ons = ons.loc[ons["k"] > k0]
        out = pd.concat([starts, ons], ignore_index=True).sort_values(["customer_id", "k"],
                                                                       kind="stable")
        out.insert(1, "period", period_start(out.pop("k").to_numpy(), freq))
        out = out.reset_index(drop=True)
        out.attrs.update(freq=str(freq).upper(), fill="forward")
        return out
    periods = np.arange(k0, k1 + 1)
    n, m = len(ids), len(periods)
    member = (periods[None, :] >= ke[:, None]).astype(float).ravel()
    out = pd.DataFrame({"customer_id": np.repeat(ids, m),
                        "period": np.tile(period_start(periods, freq), n),
                        column: member})
    out.attrs["freq"] = str(freq).upper()
    return out


# ---------------------------------------------------------------------------- data
class DynamicData:
    """What the likelihood needs, built once from transactions and a customer × period panel.

    Per customer (``ids``): ``x, tx, T`` in periods, the birth period ``k0``, the summed
    transaction covariates at the repeat-purchase periods ``S``; per merged segment
    (``seg_*``, sorted by customer and age): customer position, start age, length and the
    (trans, life) design rows; ``last_X``, ``last_Z``: each customer's covariates in their
    last observed period (the default future path).
    """

    def __init__(self, transactions: pd.DataFrame, covariates: pd.DataFrame, end, freq: str,
                 trans_cols=None, life_cols=None, levels=None, names=None, fill=None,
                 events: str = "orders"):
        if events not in EVENTS:
            raise ValueError(f"events must be one of {EVENTS}, not {events!r}")
        self.events = events
        from ..features.periods import customer_periods
        f = str(freq).upper()
        self.freq = f
        for c in ("customer_id", "period"):
            if c not in covariates.columns:
                raise DataError(f"covariates: missing column {c!r} (a customer × period table: "
                                f"customer_id, period, covariates…)", table="covariates",
                                column=c, rule="required column")
        cov_cols = [c for c in covariates.columns if c not in ("customer_id", "period")]
        if names is None:
            D, names, levels = design_matrix(covariates[cov_cols])
        else:
            D, _, _ = design_matrix(covariates[cov_cols], levels=dict(levels))
        self.names, self.levels, self.cov_cols = names, levels, cov_cols
        tnames = _select(names, trans_cols, "covariates_trans")
        lnames = _select(names, life_cols, "covariates_life")
        self.tnames, self.lnames = tnames, lnames
        ti = [names.index(n) for n in tnames]
        li = [names.index(n) for n in lnames]
        kt, kl = len(ti), len(li)
        # customers and their purchase days: exact event times at the data's resolution (a
        # day), whatever the period of the covariates; ages in units of ``freq``
        if "amount" not in transactions.columns:   # only purchase days are used here
            transactions = transactions.assign(amount=0.0)
        cp = customer_periods(transactions, "D")
        unit = float(DAYS_PER_UNIT[f])
        self.unit = unit
        if np.ndim(end) == 0:
            end_d = int(period_index([pd.Timestamp(end)], "D")[0])
            cp = cp.loc[cp["period"].to_numpy() <= end_d]
            ids = pd.unique(cp["customer_id"])
            endd = pd.Series(end_d, index=ids)
        else:  # a cut-off per customer (Series indexed by customer_id)
            endd = pd.Series(period_index(pd.to_datetime(end.to_numpy()), "D"), index=end.index)
            cp = cp.loc[cp["customer_id"].isin(endd.index)]
            cp = cp.loc[cp["period"].to_numpy() <= endd.reindex(cp["customer_id"]).to_numpy()]
            ids = pd.unique(cp["customer_id"])
            endd = endd.reindex(ids)
        if len(ids) == 0:
            raise DataError("transactions: no customer purchased by the observation end",
                            table="transactions", column="date", rule="non-empty", n_rows=0)
        pos = pd.Series(np.arange(len(ids)), index=ids)
        cpos = pos.reindex(cp["customer_id"]).to_numpy()
        day = cp["period"].to_numpy()
        first = np.flatnonzero(np.r_[True, cpos[1:] != cpos[:-1]])
        d0 = day[first]
        # events per purchase day: every transaction (``"orders"``) or one (``"days"``); the
        # first purchase day counts once either way (its other orders fall in the part of the
        # day before age 0, which the model does not expose)
        mult = cp["n"].to_numpy(np.int64) if events == "orders" else np.ones(len(cpos), np.int64)
        mult[first] = 1
        n_days = np.add.reduceat(mult, first) if len(first) else np.zeros(0, np.int64)
        last = day[np.r_[first[1:], len(cpos)] - 1]
        self.ids = pd.Index(ids, name="customer_id")
        self.d0, self.dend = d0, endd.to_numpy()
        self.k0 = day_period(d0, f)
        self.kend = day_period(self.dend, f)
        self.x = (n_days - 1).astype(float)
        self.tx = (last - d0) / unit
        self.T = (self.dend - d0) / unit
        # the covariate rows of each customer up to their end, sorted by customer and period;
        # a row of period k holds from the first day of k (not before the first purchase)
        kp = period_index(pd.to_datetime(covariates["period"]), f)
        ppos = pos.reindex(covariates["customer_id"]).to_numpy()
        ok = ~np.isnan(ppos)
        ppos_i = np.where(ok, ppos, 0).astype(np.int64)
        ok &= kp <= self.kend[ppos_i]
        if fill is None:
            ok &= kp >= self.k0[ppos_i]
        ppos_i, kp, D = ppos_i[ok], kp[ok], D[ok]
        order = np.lexsort((kp, ppos_i))
        ppos_i, kp, D = ppos_i[order], kp[order], D[order]
        dup = np.r_[False, (ppos_i[1:] == ppos_i[:-1]) & (kp[1:] == kp[:-1])]
        if dup.any():
            raise DataError(f"covariates: {int(dup.sum()):,} duplicate (customer_id, period) rows",
                            table="covariates", column="period",
                            rule="one row per customer and period", n_rows=int(dup.sum()))
        sd = period_first_day(kp, f)
        if fill is None:
            need = self.kend - self.k0 + 1          # periods k0 … kend
            short = np.bincount(ppos_i, minlength=len(ids)) < need
            rule = "a row for every period of a customer's life"
            what = "lack rows for some periods between their first purchase and the end"
        else:
            # forward fill: a row holds until the customer's next row; the row in force at the
            # first purchase is the last one starting at or before it
            nxt_same = np.r_[ppos_i[1:] == ppos_i[:-1], False]
            nxt_sd = np.r_[sd[1:], 0]
            superseded = nxt_same & (nxt_sd <= d0[ppos_i])
            ppos_i, kp, sd, D = (v[~superseded] for v in (ppos_i, kp, sd, D))
            first_row = np.r_[True, ppos_i[1:] != ppos_i[:-1]]
            short = np.ones(len(ids), bool)
            short[ppos_i[first_row]] = False   # every customer needs a row in force at d0
            rule = "a row dated at or before the first purchase period (forward fill)"
            what = "have no covariate row in force at their first purchase"
        if short.any():
            raise DataError(
                f"covariates: {int(short.sum()):,} of {len(ids):,} customers {what}; first: "
                f"{list(self.ids[short][:5])}", table="covariates", column="period", rule=rule,
                n_rows=int(short.sum()))
        sd = np.maximum(sd, d0[ppos_i])
        # runs of days: row j holds on days [sd_j, next row's first day or dend + 1). Day d is
        # the age interval (d − d0 − 1, d − d0] (÷ unit): a purchase on day d sits at its right
        # end and meets the covariates of day d; the covariates are predictable (left-
        # continuous), so a switch dated day d + 1 acts after every purchase of day d.
        same_next = np.r_[ppos_i[1:] == ppos_i[:-1], False]
        run_end = np.where(same_next, np.r_[sd[1:], 0], self.dend[ppos_i] + 1)
        base_d = d0[ppos_i]
        age0 = np.maximum(sd - base_d - 1, 0) / unit
        age1 = np.maximum(run_end - base_d - 1, 0) / unit
        X, Z = D[:, ti], D[:, li]
        # transaction covariates summed over the repeat purchases (the run holding their day)
        rep = np.ones(len(cpos), bool)
        rep[first] = False
        span = int((self.dend - d0).max()) + 3
        flat = ppos_i * span + (sd - base_d)
        key = cpos[rep] * span + (day[rep] - d0[cpos[rep]])
        at = np.searchsorted(flat, key, side="right") - 1
        S = np.zeros((len(ids), kt))
        np.add.at(S, cpos[rep], X[at] * mult[rep][:, None])
        self.S = S
        # each repeat purchase: customer, the life design row in force just after it (the next
        # day's: a dropout decision follows the purchase), whether it is the last one
        at_next = np.searchsorted(flat, key + 1, side="right") - 1
        # (orders on one day: one row each, ties at the day's end)
        self.buy_c = np.repeat(cpos[rep], mult[rep])
        self.buy_Z = np.repeat(Z[at_next], mult[rep], axis=0)
        self.buy_last = np.r_[self.buy_c[1:] != self.buy_c[:-1], True] if rep.any() \
            else np.zeros(0, bool)
        lastrow = np.r_[np.flatnonzero(np.diff(ppos_i)), len(ppos_i) - 1]
        self.last_X, self.last_Z = X[lastrow], Z[lastrow]
        # segments: the runs of positive length, consecutive equal covariates merged
        life = age1 > age0
        sp, sa, sb = ppos_i[life], age0[life], age1[life]
        sX, sZ = X[life], Z[life]
        W = np.column_stack([sX, sZ])
        new = np.r_[True, (sp[1:] != sp[:-1])]
        if W.shape[1]:
            new[1:] |= np.any(W[1:] != W[:-1], axis=1)
        starts = np.flatnonzero(new)
        self.seg_c = sp[starts]
        self.seg_u0 = sa[starts]
        # a merged segment's length from its ends (not a sum of pieces: a dense panel and its
        # table of changes give bit-identical segments)
        self.seg_h = sb[np.r_[starts[1:], len(sp)] - 1] - sa[starts] if len(starts) \
            else np.zeros(0)
        self.seg_X, self.seg_Z = sX[starts], sZ[starts]
        # the pieces of [t_x, T]: segment ∩ [t_x, T]
        u1 = self.seg_u0 + self.seg_h
        lo = np.maximum(self.seg_u0, self.tx[self.seg_c])
        hi = np.minimum(u1, self.T[self.seg_c])
        # a piece shorter than a millionth of a day is a rounding sliver of u0 + h against T
        # (7e-15 seen), not a day: its 1 − F(h)/F(0) is 0 and its gradient 0/0
        dead = hi - lo > 1e-6 / unit
        self.dead_seg = np.flatnonzero(dead)
        self.dead_lo, self.dead_h = lo[dead], (hi - lo)[dead]
        self.dead_c = self.seg_c[dead]
        self.dead_first = np.flatnonzero(np.r_[True, self.dead_c[1:] != self.dead_c[:-1]]) \
            if len(self.dead_c) else np.zeros(0, int)
        self.dead_cust = self.dead_c[self.dead_first]
        self.seg_first = np.flatnonzero(np.r_[True, self.seg_c[1:] != self.seg_c[:-1]])
        self.kt, self.kl = kt, kl
        self.n = len(ids)
        self.w = np.ones(self.n)      # customers per row (compact(): rows shared by many)

    def compact(self, purchases: bool = False):
        """``(rows, inverse)``: the distinct customers once each, ``rows.w`` the number of
        customers sharing each, ``inverse[i]`` the row of customer ``i``.

        Two customers share a row when everything the likelihood reads is bit-identical:
        ``x, t_x, T``, the summed purchase covariates ``S`` and the covariate path (merged
        segments: start age, length, design rows); with ``purchases`` (the BG/NBD) also the
        dropout design rows of their purchases, in order. The log-likelihood and gradient are
        then ``Σ_rows w · (row's term)`` — the same sums as over customers, in another order
        (issue 22: many customers share a history and a path, e.g. no repeat purchase and no
        enrolment since the same day). Everything else (predictions) stays per customer.
        """
        n = self.n
        bits = lambda a: np.ascontiguousarray(a, dtype=np.float64).view(np.int64)  # noqa: E731
        fixed = bits(np.column_stack([self.x, self.tx, self.T, self.S]))
        seg_rows = bits(np.column_stack([self.seg_u0, self.seg_h, self.seg_X, self.seg_Z]))
        seg_id = _row_ids(seg_rows)
        L = np.bincount(self.seg_c, minlength=n)
        seg_start = np.r_[0, np.cumsum(L)[:-1]]
        if purchases and len(self.buy_c):
            zid = _row_ids(bits(self.buy_Z))
            new = np.r_[True, (self.buy_c[1:] != self.buy_c[:-1]) | (zid[1:] != zid[:-1])]
            run_at = np.flatnonzero(new)
            run_c, run_z = self.buy_c[run_at], zid[run_at]
            run_len = np.diff(np.r_[run_at, len(zid)])
            R = np.bincount(run_c, minlength=n)
        else:
            run_c = run_z = run_len = np.zeros(0, np.int64)
            R = np.zeros(n, np.int64)
        run_start = np.r_[0, np.cumsum(R)[:-1]]
        inverse = np.empty(n, np.int64)
        reps, n_rows = [], 0
        shape = L.astype(np.int64) * (int(R.max()) + 1 if n else 1) + R
        order = np.argsort(shape, kind="stable")
        cuts = np.flatnonzero(np.r_[True, shape[order][1:] != shape[order][:-1], True])
        for g0, g1 in zip(cuts[:-1], cuts[1:]):
            cust = order[g0:g1]
            n_seg, n_run = int(L[cust[0]]), int(R[cust[0]])
            cols = [fixed[cust], seg_id[seg_start[cust][:, None] + np.arange(n_seg)]]
            if n_run:
                at = run_start[cust][:, None] + np.arange(n_run)
                cols += [run_z[at], run_len[at]]
            _, first, inv = np.unique(np.column_stack(cols), axis=0, return_index=True,
                                      return_inverse=True)
            inverse[cust] = n_rows + inv.ravel()
            reps.append(cust[first])
            n_rows += len(first)
        rep = np.concatenate(reps) if reps else np.zeros(0, np.int64)
        # rows in customer order (the representative's position), so blocks stay sorted
        by_pos = np.argsort(rep, kind="stable")
        rank = np.empty(n_rows, np.int64)
        rank[by_pos] = np.arange(n_rows)
        inverse = rank[inverse]
        rows = self._subset(rep[by_pos], np.bincount(inverse, minlength=n_rows).astype(float))
        return rows, inverse

    def _subset(self, keep, w):
        """A copy holding the customers at the sorted positions ``keep``, with weights ``w``."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.__dict__.pop("_scan", None)
        newpos = np.full(self.n, -1, np.int64)
        newpos[keep] = np.arange(len(keep))
        for k in ("d0", "dend", "k0", "kend", "x", "tx", "T", "S", "last_X", "last_Z"):
            setattr(out, k, getattr(self, k)[keep])
        out.ids = self.ids[keep]
        seg = newpos[self.seg_c] >= 0
        out.seg_c = newpos[self.seg_c[seg]]
        for k in ("seg_u0", "seg_h", "seg_X", "seg_Z"):
            setattr(out, k, getattr(self, k)[seg])
        out.seg_first = np.flatnonzero(np.r_[True, out.seg_c[1:] != out.seg_c[:-1]]) \
            if len(out.seg_c) else np.zeros(0, np.int64)
        seg_new = np.cumsum(seg) - 1
        dk = seg[self.dead_seg]
        out.dead_seg = seg_new[self.dead_seg[dk]]
        out.dead_lo, out.dead_h = self.dead_lo[dk], self.dead_h[dk]
        out.dead_c = newpos[self.dead_c[dk]]
        out.dead_first = np.flatnonzero(np.r_[True, out.dead_c[1:] != out.dead_c[:-1]]) \
            if len(out.dead_c) else np.zeros(0, np.int64)
        out.dead_cust = out.dead_c[out.dead_first]
        bk = newpos[self.buy_c] >= 0
        out.buy_c = newpos[self.buy_c[bk]]
        out.buy_Z, out.buy_last = self.buy_Z[bk], self.buy_last[bk]
        out.n = len(keep)
        out.w = np.asarray(w, float)
        return out

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"frequency": self.x, "recency": self.tx, "T": self.T},
                            index=self.ids)


def _row_ids(rows):
    """An integer id per row of a 2-D integer array, equal for equal rows."""
    if rows.shape[1] == 0:
        return np.zeros(len(rows), np.int64)
    return np.unique(rows, axis=0, return_inverse=True)[1].ravel()


def _cum_by_customer(values, d):
    """Cumulative sums of per-segment ``values`` within each customer's block of segments,
    excluding the current one — position by position (each customer's own running sum, so
    a row's value does not depend on the customers before it, as a global cumsum's rounding
    would)."""
    scan = d.__dict__.get("_scan")
    if scan is None:
        first = d.seg_first
        counts = np.diff(np.r_[first, len(d.seg_c)])
        order = np.argsort(-counts, kind="stable")
        n_longer = np.searchsorted(np.sort(counts), np.arange(1, counts.max(initial=1)),
                                   side="right")       # customers with ≤ j segments
        scan = [first[order[:len(counts) - k]] + j for j, k in enumerate(n_longer, start=1)]
        d._scan = scan
    out = np.zeros(len(values))
    for idx in scan:
        out[idx] = out[idx - 1] + values[idx - 1]
    return out


def _states(theta, d: DynamicData):
    """``(a_seg, c_seg, A(T), C(T))`` for parameters ``θ``."""
    kt = d.kt
    gt, gl = theta[4:4 + kt], theta[4 + kt:]
    a = np.exp(d.seg_X @ gt)
    c = np.exp(d.seg_Z @ gl)
    AT = np.bincount(d.seg_c, weights=a * d.seg_h, minlength=d.n)
    CT = np.bincount(d.seg_c, weights=c * d.seg_h, minlength=d.n)
    return a, c, AT, CT


def dynamic_loglik_terms(theta, d: DynamicData):
    """Per-customer ``(log L, log alive-term, log dead-term)`` (the last two share the factor
    ``Π a · Γ(r+x)/Γ(r) α^r β^s``, left out)."""
    r, alpha, s, beta = np.exp(theta[:4])
    kt = d.kt
    a, c, AT, CT = _states(theta, d)
    x = d.x
    m = r + x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alive = -m * np.log(alpha + AT) - s * np.log(beta + CT)
        dead = np.full(d.n, -np.inf)
        if len(d.dead_seg):
            k = d.dead_seg
            Astart = _cum_by_customer(a * d.seg_h, d)[k]
            Cstart = _cum_by_customer(c * d.seg_h, d)[k]
            ak, ck = a[k], c[k]
            off = d.dead_lo - d.seg_u0[k]
            p = (alpha + Astart + ak * off) / ak
            q = (beta + Cstart + ck * off) / ck
            xc = x[d.dead_c]
            n2 = len(k)
            lf = pnbd_log_F_rows(r, s, np.r_[xc, xc], np.r_[p, p], np.r_[q, q],
                                 np.r_[np.zeros(n2), d.dead_h])
            f0, fh = lf[:n2], lf[n2:]
            piece = (-(r + xc) * np.log(ak) - s * np.log(ck) + f0
                     + np.log(-np.expm1(np.minimum(fh - f0, 0.0))))
            mx = np.maximum.reduceat(piece, d.dead_first)
            tot = np.add.reduceat(np.exp(piece - np.repeat(mx, np.diff(np.r_[d.dead_first, n2]))),
                                  d.dead_first)
            dead[d.dead_cust] = np.log(s) - np.log(r + s + x[d.dead_cust]) + mx + np.log(tot)
        base = (d.S @ theta[4:4 + kt] + gammaln(m) - gammaln(r) + r * np.log(alpha)
                + s * np.log(beta))
        return base + np.logaddexp(alive, dead), alive, dead


def dynamic_loglik_grad(theta, d: DynamicData, rows: bool = False):
    """Total log-likelihood and its gradient in ``θ = (log r, log α, log s, log β, γ_trans,
    γ_life)``, analytically: the ``(r, p, s, q)`` derivatives of each piece's ``log F`` (the
    2F1 series of :func:`.covariates.pnbd_log_F_rows`) and the chain rule through
    ``p = (α + A(lo))/a``, ``q = (β + C(lo))/c`` with ``∂A(lo)/∂γ = Σ_{earlier} a h x + a·off·x``
    and ``∂a/∂γ = a x`` (the same for ``C``, ``c``, ``z``). Totals are weighted by ``d.w``.
    ``rows=True``: the per-row log-likelihoods and gradients (rows × parameters) instead —
    the per-customer scores of the sandwich."""
    r, alpha, s, beta = np.exp(theta[:4])
    kt, kl = d.kt, d.kl
    a, c, AT, CT = _states(theta, d)
    x = d.x
    m = r + x
    n = d.n
    ah, ch = a * d.seg_h, c * d.seg_h
    GAT = np.zeros((n, kt))
    GCT = np.zeros((n, kl))
    for j in range(kt):
        GAT[:, j] = np.bincount(d.seg_c, weights=ah * d.seg_X[:, j], minlength=n)
    for j in range(kl):
        GCT[:, j] = np.bincount(d.seg_c, weights=ch * d.seg_Z[:, j], minlength=n)
    K = 4 + kt + kl
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        la, lb = np.log(alpha + AT), np.log(beta + CT)
        alive = -m * la - s * lb
        g_alive = np.zeros((n, K))      # natural-scale derivatives for r, α, s, β; γ as is
        g_alive[:, 0] = -la
        g_alive[:, 1] = -m / (alpha + AT)
        g_alive[:, 2] = -lb
        g_alive[:, 3] = -s / (beta + CT)
        g_alive[:, 4:4 + kt] = -(m / (alpha + AT))[:, None] * GAT
        g_alive[:, 4 + kt:] = -(s / (beta + CT))[:, None] * GCT
        dead = np.full(n, -np.inf)
        g_dead = np.zeros((n, K))
        if len(d.dead_seg):
            k = d.dead_seg
            Astart = _cum_by_customer(ah, d)[k]
            Cstart = _cum_by_customer(ch, d)[k]
            ak, ck = a[k], c[k]
            off = d.dead_lo - d.seg_u0[k]
            p = (alpha + Astart + ak * off) / ak
            q = (beta + Cstart + ck * off) / ck
            Xk, Zk = d.seg_X[k], d.seg_Z[k]
            GA = np.column_stack([_cum_by_customer(ah * d.seg_X[:, j], d)[k]
                                  for j in range(kt)]) if kt else np.zeros((len(k), 0))
            GC = np.column_stack([_cum_by_customer(ch * d.seg_Z[:, j], d)[k]
                                  for j in range(kl)]) if kl else np.zeros((len(k), 0))
            GA = GA + (ak * off)[:, None] * Xk
            GC = GC + (ck * off)[:, None] * Zk
            xc = x[d.dead_c]
            n2 = len(k)
            lf = pnbd_log_F_rows(r, s, np.r_[xc, xc], np.r_[p, p], np.r_[q, q],
                                 np.r_[np.zeros(n2), d.dead_h], grad=True)
            f0, fh = lf[:, :n2], lf[:, n2:]
            diff = np.minimum(fh[0] - f0[0], 0.0)
            qh, one_m = np.exp(diff), -np.expm1(diff)
            with np.errstate(invalid="ignore"):
                dL = (f0[1:] - qh * fh[1:]) / one_m      # d log(F0 − Fh) / d(r, p, s, q)
            dL = np.where(one_m > 0, dL, 0.0)           # an empty piece: weight 0 below
            log_ak, log_ck = np.log(ak), np.log(ck)
            piece = -(r + xc) * log_ak - s * log_ck + f0[0] + np.log(one_m)
            gp = np.empty((n2, K))
            gp[:, 0] = -log_ak + dL[0]
            gp[:, 1] = dL[1] / ak
            gp[:, 2] = -log_ck + dL[2]
            gp[:, 3] = dL[3] / ck
            gp[:, 4:4 + kt] = (-(r + xc)[:, None] * Xk
                               + dL[1][:, None] * (GA / ak[:, None] - p[:, None] * Xk))
            gp[:, 4 + kt:] = (-s * Zk
                              + dL[3][:, None] * (GC / ck[:, None] - q[:, None] * Zk))
            first = d.dead_first
            counts = np.diff(np.r_[first, n2])
            mx = np.maximum.reduceat(piece, first)
            e = np.exp(piece - np.repeat(mx, counts))
            tot = np.add.reduceat(e, first)
            wk = e / np.repeat(tot, counts)
            cust = d.dead_cust
            dead[cust] = np.log(s) - np.log(r + s + x[cust]) + mx + np.log(tot)
            g_dead[cust] = np.add.reduceat(wk[:, None] * gp, first, axis=0)
            g_dead[cust, 0] -= 1.0 / (r + s + x[cust])
            g_dead[cust, 2] += 1.0 / s - 1.0 / (r + s + x[cust])
        M = np.logaddexp(alive, dead)
        w_dead = np.exp(dead - M)
        w_alive = 1.0 - w_dead
        ll = (d.S @ theta[4:4 + kt] + gammaln(m) - gammaln(r) + r * np.log(alpha)
              + s * np.log(beta) + M)
        wt = d.w                              # customers per row (1 unless compacted)
        fin = np.isfinite(dead)
        if rows:
            G = w_alive[:, None] * g_alive
            G[fin] += w_dead[fin, None] * g_dead[fin]
            G[:, 0] += digamma(m) - digamma(r) + np.log(alpha)
            G[:, 1] += r / alpha
            G[:, 2] += np.log(beta)
            G[:, 3] += s / beta
            G[:, 4:4 + kt] += d.S
            G[:, :4] *= (r, alpha, s, beta)
            return ll, G
        g = (wt * w_alive) @ g_alive + (wt * w_dead)[fin] @ g_dead[fin]
        W = wt.sum()
        g[0] += wt @ (digamma(m) - digamma(r) + np.log(alpha))
        g[1] += W * r / alpha
        g[2] += W * np.log(beta)
        g[3] += W * s / beta
        g[4:4 + kt] += wt @ d.S
        g[:4] *= (r, alpha, s, beta)          # to the log scale
        return float(wt @ ll), g


# ---------------------------------------------------------------------------- the fitter
class TimeVaryingParetoNBDFitter(LogShapeParamsMixin):
    """Pareto/NBD with time-varying covariates (Bachmann, Meierer & Näf 2021; CLVTools'
    ``pnbd`` with dynamic covariates). Parameters ``r, alpha, s, beta, trans.<col>,
    life.<col>``; see the module docstring for the model and its conventions.

    >>> panel = membership_covariates(customers, start, end, freq="W")
    >>> m = TimeVaryingParetoNBDFitter().fit(transactions, panel, observation_end=end)
    >>> m.expected_purchases(52, future={"member": 0})      # membership switched off
    """

    _model_name = "Pareto/NBD with time-varying covariates"
    _reference = "Bachmann, Meierer & Naef (2021), Marketing Science 40(4); CLVTools pnbd dyncov"
    _base_names = ("r", "alpha", "s", "beta")
    #: whether the likelihood reads each purchase's dropout design row (compaction key)
    _purchase_rows = False
    #: per-row analytic gradient (``fn(theta, d, rows=True) → (ll, G)``), or None
    _row_grad = staticmethod(dynamic_loglik_grad)
    #: start BFGS from the BHHH curvature (:meth:`_start_curvature`)
    _bhhh_start = True

    @staticmethod
    def _no_covariate_model():
        from .pareto_nbd import ParetoNBDFitter
        return ParetoNBDFitter()

    @staticmethod
    def _terms(theta, d):
        return dynamic_loglik_terms(theta, d)

    @staticmethod
    def _total_and_grad(theta, d):
        return dynamic_loglik_grad(theta, d)

    def fit(self, transactions: pd.DataFrame, covariates: pd.DataFrame, observation_end, *,
            freq: str = "W", covariates_trans=None, covariates_life=None, initial_params=None,
            fill=None, se: str = "robust", events: str = "orders", compact: bool = True):
        """Fit on ``transactions`` (``customer_id, date``) with a customer × period covariate
        table (``customer_id, period`` = any date in the period, covariate columns).

        ``fill=None`` (default): the table has a row for every period from each customer's
        first purchase to ``observation_end`` (a gap is a DataError). ``fill="forward"``: a row
        holds until the customer's next row (a table of changes, e.g.
        ``membership_covariates(..., compact=True)``); each customer needs a row dated at or
        before their first purchase period.

        ``events="orders"`` (default): every transaction after the first purchase day is a
        purchase event (same-day orders tied at the day's end); ``"days"``: purchase days (the
        BTYD summary's convention, invariant to orders written as several lines); see the
        module docstring for why orders are the default.

        ``se="robust"`` (default): the sandwich over customers, ``H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹`` with
        ``s_i`` customer ``i``'s score (White 1982; each customer's history is one independent
        term) — it keeps its coverage when the model is misspecified (e.g. a Pareto/NBD fitted
        to a BG/NBD world, or heterogeneity that is not gamma), where the model-based SE fell
        short of the spread across simulated worlds (issue 19); ``se="model"``: the inverse
        observed information. Both are kept (``variance_matrix_model_log_``,
        ``variance_matrix_robust_log_``).

        ``compact=True`` (default): the likelihood, its gradient and the per-customer scores
        are evaluated once per distinct row (:meth:`DynamicData.compact`; ``n_distinct_rows_``)
        and weighted by the customers sharing it — the same numbers as ``compact=False`` (one
        evaluation per customer) to rounding. Returns ``self``."""
        if se not in ("robust", "model"):
            raise ValueError(f"se must be 'robust' or 'model', not {se!r}")
        self.se_method_ = se
        fill = covariates.attrs.get("fill") if fill is None else fill
        d = DynamicData(transactions, covariates, observation_end, freq, covariates_trans,
                        covariates_life, fill=fill, events=events)
        self.fill_ = fill
        self.events_ = events
        self.data_ = d
        self.freq = d.freq
        from ..features.periods import DAYS_PER
        self.time_unit_ = DAYS_PER[d.freq]
        self.observation_end_ = pd.Timestamp(observation_end)
        self.covariates_trans_, self.covariates_life_ = d.tnames, d.lnames
        if initial_params is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                initial_params = self._no_covariate_model().fit(d.x, d.tx, d.T).params_.to_numpy()
        theta0 = np.r_[np.log(np.asarray(initial_params, float)), np.zeros(d.kt + d.kl)]
        n = d.n
        rows, inverse = d.compact(self._purchase_rows) if compact else (d, None)
        self.n_distinct_rows_ = rows.n

        def fun(t):
            v, g = self._total_and_grad(t, rows)
            if not np.isfinite(v) or not np.all(np.isfinite(g)):
                return np.inf, np.zeros_like(t)
            return -v / n, -g / n

        with np.errstate(all="ignore"):
            res = optimize.minimize(fun, theta0, jac=True, method="BFGS",
                                    options={"gtol": 1e-7, "maxiter": 500,
                                             "hess_inv0": self._start_curvature(theta0, rows)})
            if np.max(np.abs(res.jac)) > 1e-6:
                res2 = optimize.minimize(fun, res.x, jac=True, method="L-BFGS-B",
                                         options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 500})
                if res2.fun <= res.fun:
                    res = res2
        if not np.isfinite(res.fun):
            raise ConvergenceError(f"{type(self).__name__}: no finite maximum of the likelihood")
        gmax = float(np.max(np.abs(res.jac)))
        if gmax > 1e-5:
            warnings.warn(f"{type(self).__name__}: the optimiser stopped with gradient norm "
                          f"{gmax:.2g}; estimates may be inaccurate", ConvergenceWarning,
                          stacklevel=2)
        self._store(res.x, rows, inverse)
        return self

    def _start_curvature(self, theta0, d):
        """BFGS's first inverse Hessian: the inverse of the outer product of the per-row scores
        at the start (BHHH; Berndt, Hall, Hall & Hausman 1974) per customer, instead of the
        identity — the information's scale from the first step, so far fewer steps. None
        (the identity) when it is not finite and positive definite."""
        if not self._bhhh_start or self._row_grad is None:
            return None
        with np.errstate(all="ignore"):
            sc = self._row_grad(theta0, d, rows=True)[1]
            B = sc.T @ (d.w[:, None] * sc) / d.w.sum()
        if not np.all(np.isfinite(B)):
            return None
        try:
            Binv = np.linalg.inv(B)
            Binv = (Binv + Binv.T) / 2
            np.linalg.cholesky(Binv)           # scipy refuses one that is not
            return Binv
        except np.linalg.LinAlgError:
            return None

    def _store(self, theta, d, inverse=None):
        """Estimates, likelihood and (co)variances at ``θ`` from the rows ``d`` (weighted by
        ``d.w``; ``inverse``: each customer's row, None when ``d`` is one row a customer)."""
        names = (list(self._base_names) + [f"trans.{n}" for n in d.tnames]
                 + [f"life.{n}" for n in d.lnames])
        self._theta = theta
        pos = np.arange(len(theta)) < 4
        coef = np.where(pos, np.exp(theta), theta)
        self.params_ = pd.Series(coef, index=names, name="coef")
        self.log_likelihood_ = float(d.w @ self._terms(theta, d)[0])
        self.n_customers_ = float(d.w.sum())
        k = len(names)
        self.AIC_ = 2 * k - 2 * self.log_likelihood_
        H = hessian_from_gradient(lambda t: -self._total_and_grad(t, d)[1], theta)
        self.hessian_ = H
        cov_model = covariance_from_information(
            H, f"{type(self).__name__}: the information matrix is singular (a covariate that "
               "never changes or is collinear?); standard errors are NaN", stacklevel=4)
        # the sandwich over customers (each customer one cluster: their whole history is one
        # likelihood term): H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹, valid when the model is misspecified
        sc = self._score_rows(theta, d)
        self.scores_ = sc if inverse is None else sc[inverse]      # per customer
        cov_robust = cov_model @ (sc.T @ (d.w[:, None] * sc)) @ cov_model
        self.variance_matrix_model_log_ = pd.DataFrame(cov_model, index=names, columns=names)
        self.variance_matrix_robust_log_ = pd.DataFrame(cov_robust, index=names, columns=names)
        cov = cov_robust if getattr(self, "se_method_", "robust") == "robust" else cov_model
        self.variance_matrix_log_ = pd.DataFrame(cov, index=names, columns=names)
        se_t = np.sqrt(np.diag(cov))
        se = np.where(pos, coef * se_t, se_t)
        self.standard_errors_ = pd.Series(se, index=names, name="se")
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(pos, np.nan, 2 * ndtr(-np.abs(theta / se_t)))
        self.summary = pd.DataFrame({
            "coef": coef, "se": se,
            "lower 95%": np.where(pos, np.exp(theta - Z95 * se_t), theta - Z95 * se_t),
            "upper 95%": np.where(pos, np.exp(theta + Z95 * se_t), theta + Z95 * se_t),
            "p": p}, index=pd.Index(names, name="param"))
        se_note = ("robust (sandwich over customers: H^-1 (sum of per-customer score outer "
                   "products) H^-1)" if getattr(self, "se_method_", "robust") == "robust" else
                   "from the observed information (central differences)")
        self.summary.attrs["method"] = (
            "maximum likelihood, time-varying covariates (Bachmann, Meierer & Naef 2021), exact "
            f"purchase days; se {se_note}; 95% Wald intervals on the log "
            "scale for r, alpha, s, beta and on the natural scale for the coefficients")
        return self

    def _score_rows(self, theta, d, step: float = 1e-5) -> np.ndarray:
        """Per-row scores ``∂ log L_i / ∂θ`` (rows × parameters): the analytic per-row
        gradient where the model has one (Pareto/NBD), else central differences of the
        per-row log-likelihood."""
        if self._row_grad is not None:
            with np.errstate(all="ignore"):
                return self._row_grad(theta, d, rows=True)[1]
        k = len(theta)
        out = np.empty((d.n, k))
        with np.errstate(all="ignore"):
            for j in range(k):
                h = step * max(1.0, abs(theta[j]))
                e = np.zeros(k)
                e[j] = h
                out[:, j] = (self._terms(theta + e, d)[0] - self._terms(theta - e, d)[0]) / (2 * h)
        return out

    # -- parameter draws (CLV intervals) ---------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise RuntimeError("TimeVaryingParetoNBDFitter is not fitted: call fit() first")

    # -- predictions -----------------------------------------------------------------------
    def _data_at(self, transactions=None, covariates=None, cut=None) -> DynamicData:
        """The fitted data, or the same customers' histories up to per-customer cut-off dates."""
        if cut is None:
            return self.data_
        d = self.data_
        return DynamicData(transactions, covariates, cut, d.freq, d.tnames, d.lnames,
                           levels=d.levels, names=d.names, fill=self.fill_,
                           events=getattr(self, "events_", "days"))

    def _future(self, future, d: DynamicData):
        """Per-customer constant future (trans, life) design rows: the covariates given in
        ``future`` (a dict for everyone or a frame indexed by customer), every other one held
        at the customer's last observed value."""
        if future is None:
            return d.last_X, d.last_Z
        if isinstance(future, dict):
            future = pd.DataFrame({k: [v] * d.n for k, v in future.items()}, index=d.ids)
        future = future.reindex(d.ids)
        unknown = [c for c in future.columns if c not in d.cov_cols]
        if unknown:
            raise ValueError(f"future: {unknown} are not covariates of the model {d.cov_cols}")
        cols = [c for c in d.cov_cols if c in future.columns]
        D, names, _ = design_matrix(future[cols], levels={c: d.levels[c] for c in cols
                                                          if c in d.levels})
        X, Z = d.last_X.copy(), d.last_Z.copy()
        for j, n in enumerate(d.tnames):
            if n in names:
                X[:, j] = D[:, names.index(n)]
        for j, n in enumerate(d.lnames):
            if n in names:
                Z[:, j] = D[:, names.index(n)]
        return X, Z

    def _p_alive(self, theta, d):
        ll, alive, dead = self._terms(theta, d)
        with np.errstate(invalid="ignore"):
            return expit(alive - dead)

    def _cum_expected(self, theta, d, t, future=None):
        """E[X(e, e+t) | history to e] (``t``: array broadcasting against customers)."""
        r, alpha, s, beta = np.exp(theta[:4])
        kt = d.kt
        Xf, Zf = self._future(future, d)
        af = np.exp(Xf @ theta[4:4 + kt])
        cf = np.exp(Zf @ theta[4 + kt:])
        a, c, AT, CT = _states(theta, d)
        B = beta + CT
        t = np.asarray(t, float)
        if abs(s - 1) < 1e-8:
            integral = af * B / cf * np.log1p(cf * t / B)
        else:
            integral = (af * B / (cf * (s - 1))
                        * -np.expm1((s - 1) * (np.log(B) - np.log(B + cf * t))))
        return self._p_alive(theta, d) * (r + d.x) / (alpha + AT) * integral

    def probability_alive(self) -> pd.Series:
        """P(alive at the observation end | history) of each fitted customer."""
        self._check_fitted()
        return pd.Series(self._p_alive(self._theta, self.data_), index=self.data_.ids,
                         name="p_alive")

    def expected_purchases(self, t, future=None) -> pd.Series:
        """E[X(T, T+t) | history] of each fitted customer over the next ``t`` periods, with the
        covariates held at ``future`` (a dict ``{column: value}`` for everyone, or a DataFrame
        indexed by customer) from the observation end on; default: each customer's covariates
        of their last observed period."""
        self._check_fitted()
        return pd.Series(self._cum_expected(self._theta, self.data_, t, future),
                         index=self.data_.ids, name="expected_purchases")

    def customer_lifetime_value(self, spend_model, horizon: int = 12, freq: str = "M",
                                discount_rate: float = 0.01, margin: float = 1.0, *,
                                future=None, n_draws: int = 200, seed=0, summary=None):
        """CLV of each fitted customer under the future covariate path ``future`` (as
        :func:`retention_lab.clv.customer_lifetime_value`, parametric-bootstrap intervals).
        ``summary``: a BTYD summary with ``monetary_value`` for a Gamma-Gamma spend model
        (default: the fitted customers' ``frequency, recency, T`` — enough for a fixed spend)."""
        from .covariates import covariate_clv
        d = self.data_
        summ = d.summary() if summary is None else summary.reindex(d.ids)
        summ.attrs.update(freq=d.freq, freq_multiplier=1)
        return covariate_clv(self, spend_model, summ, horizon, freq, discount_rate, margin,
                             n_draws=n_draws, seed=seed,
                             expected_fn=lambda mod, tt: mod._cum_expected(mod._theta, d, tt,
                                                                           future))

    def print_summary(self, decimals: int = 3, file=None) -> None:
        self._check_fitted()
        print(f"<retention_lab.clv.TimeVaryingParetoNBDFitter: {self.n_customers_:,.0f} "
              f"customers, log-likelihood {self.log_likelihood_:.{decimals}f}>\n"
              f"{self.summary.round(decimals).to_string()}\n  {self.summary.attrs['method']}",
              file=file)

    def __repr__(self):
        if not hasattr(self, "params_"):
            return "<retention_lab.clv.TimeVaryingParetoNBDFitter: not fitted>"
        ps = ", ".join(f"{k}: {v:.3f}" for k, v in self.params_.items())
        return f"<retention_lab.clv.TimeVaryingParetoNBDFitter: {ps}>"
