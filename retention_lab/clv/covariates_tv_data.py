"""The data of the time-varying Pareto/NBD and BG/NBD (:mod:`.covariates_tv`): the customer ×
period membership panel (:func:`membership_covariates`) and :class:`DynamicData`, the arrays the
likelihood reads (exact purchase days, merged covariate segments), with its compaction of
customers sharing a history (issue 22). Moved from :mod:`.covariates_tv` (issue 21); the model,
its conventions and references are in that module's docstring.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from ..features.periods import customer_periods
from ..periods import day_numbers, day_period, period_first_day, period_index
from ..units import DAYS_PER_UNIT
from .covariates import _select, design_matrix
from .covariates_tv_keys import (  # noqa: F401  (_row_ids, _distinct_rows re-exported)
    _distinct_rows,
    _grouped_codes,
    _isin,
    _row_ids,
    _stable_order,
)

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
def daily_periods(transactions: pd.DataFrame) -> pd.DataFrame:
    """The transactions reduced to one row per customer and purchase day
    (:func:`retention_lab.features.periods.customer_periods` with ``"D"``), marked so that
    :class:`DynamicData` (and so the fitters' ``fit``) take it in place of the transactions
    without reducing them again — one reduction shared by the fit, the members' histories and
    their spend (issue 22). A subset of its rows by customer is the reduction of that
    customer subset's transactions; :func:`mark_daily` marks such a subset."""
    if "amount" not in transactions.columns:
        transactions = transactions.assign(amount=0.0)
    fast = _daily_numpy(transactions)
    return mark_daily(fast if fast is not None else customer_periods(transactions, "D"))


def _daily_numpy(tx: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`customer_periods` (``"D"``) of clean transactions by one sort of integer keys
    (customer code, day), without the engine's round trip and validation (a second pass over
    validated data: seconds at millions of rows); ``None`` — the engine decides — when a row
    could need its rules (a missing or negative amount, a missing date, a missing id, dates
    with a time zone)."""
    if not len(tx) or tx["customer_id"].isna().any():
        return None
    amt = tx["amount"].to_numpy(float)
    dates = pd.to_datetime(tx["date"])
    if np.isnan(amt).any() or (amt < 0).any() or dates.isna().any() or dates.dt.tz is not None:
        return None      # (a time zone: the engine decides which day a timestamp falls on)
    dv = dates.to_numpy()
    # the day number (period_index "D": the floor of the nanoseconds by a day)
    day = day_numbers(dv) if dv.dtype == "datetime64[ns]" else period_index(dates, "D")
    d0 = int(day.min())
    span = int(day.max()) - d0 + 1
    cid = tx["customer_id"].to_numpy()
    # (keys formed in place: each temporary is a pass over millions of rows, issue 22)
    if cid.dtype.kind == "i" and (int(cid.max()) - int(cid.min()) + 1) * span < 2 ** 62:
        # integer ids: the id itself orders the customers as their sorted codes would
        key = cid.astype(np.int64)
        key -= int(cid.min())
        ids = cid
    else:
        codes, uniq = pd.factorize(tx["customer_id"], sort=True)
        key = codes.astype(np.int64)
        ids = None
    key *= span
    key += day
    key -= d0
    order, ks = _stable_order(key, overwrite=True)
    at = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    # each purchase day's customer and day from its key (customer · span + day − d0), read in
    # order: not gathered from the rows by the sorting permutation (random reads of millions
    # of rows, ~1 s each at a million customers, issue 22); the same integers
    kd = ks[at]
    cpos, day_u = np.divmod(kd, span)
    day_u += d0
    # copy=False: fresh arrays, no consolidation copy of the int64 columns (0.4 s at 3.3M rows)
    return pd.DataFrame({"customer_id": (cpos + int(cid.min())).astype(cid.dtype, copy=False)
                         if ids is not None else np.asarray(uniq)[cpos],
                         "period": day_u,
                         "amount": np.add.reduceat(amt[order], at),
                         "n": np.diff(np.r_[at, len(ks)]).astype(np.int64)}, copy=False)


def mark_daily(cp: pd.DataFrame) -> pd.DataFrame:
    """``cp`` (rows of :func:`daily_periods`' table, in its order) marked as a daily table."""
    cp.attrs["customer_periods"] = "D"
    return cp


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
        ids, pos, cpos, day, first, d0, mult = self._purchase_days(transactions, end, events)
        ppos_i, kp, sd, D = self._covariate_rows(covariates, D, ids, pos, d0, fill)
        age0, age1, X, Z = self._runs(ppos_i, sd, D, ti, li, ids, cpos, day, first, d0, mult, kt)
        self._segments(ppos_i, age0, age1, X, Z)
        self.kt, self.kl = kt, kl
        self.n = len(ids)
        self.w = np.ones(self.n)      # customers per row (compact(): rows shared by many)

    def _purchase_days(self, transactions, end, events):
        """The customers (purchasing by their end) and their purchase days: sets ``ids, d0, dend,
        k0, kend, x, tx, T, unit``; returns the arrays the covariate rows are matched to."""
        f = self.freq
        # customers and their purchase days: exact event times at the data's resolution (a
        # day), whatever the period of the covariates; ages in units of ``freq``
        if transactions.attrs.get("customer_periods") == "D":   # already reduced (daily_periods)
            cp = transactions
        else:
            if "amount" not in transactions.columns:   # only purchase days are used here
                transactions = transactions.assign(amount=0.0)
            cp = customer_periods(transactions, "D")
        unit = float(DAYS_PER_UNIT[f])
        self.unit = unit
        # the rows' arrays, filtered without copying the frame (none when every row is kept)
        cid, day = cp["customer_id"].to_numpy(), cp["period"].to_numpy()
        n_ord = cp["n"].to_numpy(np.int64) if events == "orders" else None
        if np.ndim(end) == 0:
            end_d = int(period_index([pd.Timestamp(end)], "D")[0])
            keep = day <= end_d
        else:  # a cut-off per customer (Series indexed by customer_id)
            endd = pd.Series(period_index(pd.to_datetime(end.to_numpy()), "D"), index=end.index)
            keep = _isin(cid, endd.index)
            codes, heads = _grouped_codes(cid[keep])
            keep[keep] = day[keep] <= endd.reindex(heads).to_numpy()[codes]
        if not keep.all():
            cid, day = cid[keep], day[keep]
            n_ord = n_ord[keep] if n_ord is not None else None
        # each row's customer position (ids in order of first appearance, as pd.unique)
        cpos, ids = _grouped_codes(cid)
        endd = pd.Series(end_d, index=ids) if np.ndim(end) == 0 else endd.reindex(ids)
        if len(ids) == 0:
            raise DataError("transactions: no customer purchased by the observation end",
                            table="transactions", column="date", rule="non-empty", n_rows=0)
        pos = pd.Series(np.arange(len(ids)), index=ids)
        first = np.flatnonzero(np.r_[True, cpos[1:] != cpos[:-1]])
        d0 = day[first]
        # events per purchase day: every transaction (``"orders"``) or one (``"days"``: None,
        # no array of ones); the first purchase day counts once either way (its other orders
        # fall in the part of the day before age 0, which the model does not expose)
        mult = n_ord.copy() if n_ord is not None else None
        if mult is not None:
            mult[first] = 1
            n_days = np.add.reduceat(mult, first) if len(first) else np.zeros(0, np.int64)
        else:
            n_days = np.diff(np.r_[first, len(cpos)]).astype(np.int64)
        last = day[np.r_[first[1:], len(cpos)] - 1]
        self.ids = pd.Index(ids, name="customer_id")
        self.d0, self.dend = d0, endd.to_numpy()
        self.k0 = day_period(d0, f)
        self.kend = day_period(self.dend, f)
        self.x = (n_days - 1).astype(float)
        self.tx = (last - d0) / unit
        self.T = (self.dend - d0) / unit
        return ids, pos, cpos, day, first, d0, mult

    def _covariate_rows(self, covariates, D, ids, pos, d0, fill):
        """Each customer's covariate rows up to their end, sorted by customer and period, checked
        for duplicates and gaps; ``(ppos_i, kp, sd, D)``: customer position, period, first day
        (not before the first purchase), design row."""
        f = self.freq
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
        return ppos_i, kp, sd, D

    def _runs(self, ppos_i, sd, D, ti, li, ids, cpos, day, first, d0, mult, kt):
        """The runs of days each covariate row holds, as ages; sets ``S``, ``buy_*``, ``last_X,
        last_Z``; returns ``(age0, age1, X, Z)`` per row."""
        unit = self.unit
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
        cr = cpos[rep]                                   # (each repeat purchase's customer)
        mr = mult[rep] if mult is not None else None     # (None: one event per day)
        key = cr * span + (day[rep] - d0[cr])
        at = np.searchsorted(flat, key, side="right") - 1
        S = np.zeros((len(ids), kt))
        for j in range(kt):      # (bincount adds in row order, as np.add.at did)
            S[:, j] = np.bincount(cr, weights=X[at, j] * mr if mr is not None else X[at, j],
                                  minlength=len(ids))
        self.S = S
        # each repeat purchase: customer, the life design row in force just after it (the next
        # day's: a dropout decision follows the purchase), whether it is the last one — the
        # row at ``at`` or the next one when it starts the next day (a customer's rows start
        # on distinct days, and ``span`` keeps the next customer's rows above key + 1)
        nxt = np.minimum(at + 1, len(flat) - 1)
        at_next = at + ((at + 1 < len(flat)) & (flat[nxt] == key + 1))
        # (orders on one day: one row each, ties at the day's end)
        self.buy_c = np.repeat(cr, mr) if mr is not None else cr
        self.buy_Z = np.repeat(Z[at_next], mr, axis=0) if mr is not None else Z[at_next]
        self.buy_last = np.r_[self.buy_c[1:] != self.buy_c[:-1], True] if rep.any() \
            else np.zeros(0, bool)
        self._purchase_runs()
        lastrow = np.r_[np.flatnonzero(np.diff(ppos_i)), len(ppos_i) - 1]
        self.last_X, self.last_Z = X[lastrow], Z[lastrow]
        return age0, age1, X, Z

    def _purchase_runs(self):
        """The purchases as runs (``run_c, run_Z, run_n, run_last``): a customer's consecutive
        purchases with equal dropout design rows, ``run_n`` purchases each — the sufficient
        statistics of the BG/NBD's purchase sums (``Σ_j c_j = Σ_runs n · c``, the last
        purchase's ``c`` the last run's): a few rows per customer instead of one per purchase
        (issue 22)."""
        bc = self.buy_c
        zb = np.ascontiguousarray(self.buy_Z, dtype=np.float64).view(np.int64)
        # a new run where the customer or the row's bits change (equal bits: equal ids)
        new = np.r_[True, (bc[1:] != bc[:-1]) | np.any(zb[1:] != zb[:-1], axis=1)] \
            if len(bc) else np.zeros(0, bool)
        at = np.flatnonzero(new)
        self.run_c, self.run_Z = bc[at], self.buy_Z[at]
        self.run_n = np.diff(np.r_[at, len(bc)]).astype(float)
        self.run_last = np.r_[self.run_c[1:] != self.run_c[:-1], True] if len(at) \
            else np.zeros(0, bool)

    def _segments(self, ppos_i, age0, age1, X, Z):
        """Sets the merged segments (``seg_*``) and their pieces in ``[t_x, T]`` (``dead_*``)."""
        unit = self.unit
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
        if purchases and len(self.run_c):
            # the purchase runs of _purchase_runs (ids of their design rows: any numbering of
            # equal rows gives the same distinct customers)
            run_c, run_z = self.run_c, _row_ids(bits(self.run_Z))
            run_len = self.run_n.astype(np.int64)
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
            first, inv = _distinct_rows(np.column_stack(cols))
            inverse[cust] = n_rows + inv
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
        for k in ("_scan", "_pclass", "_bgfixed"):      # the likelihoods' caches, per data
            out.__dict__.pop(k, None)
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
        for k in ("buy_c", "buy_Z", "buy_last"):   # (the likelihoods read the runs)
            out.__dict__.pop(k, None)
        rk = newpos[self.run_c] >= 0
        out.run_c = newpos[self.run_c[rk]]
        out.run_Z, out.run_n, out.run_last = self.run_Z[rk], self.run_n[rk], self.run_last[rk]
        out.n = len(keep)
        out.w = np.asarray(w, float)
        return out

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"frequency": self.x, "recency": self.tx, "T": self.T},
                            index=self.ids)
