"""The event study's class-sum cells and influence functions (issue 22) against a brute-force
per-customer computation of the Callaway & Sant'Anna group-time ATTs, their standard errors and
the event-time aggregates' influence functions (with the estimated weights), on unbalanced long
panels: few classes (entry months only, the product-per-class branch) and missing rows at random
(about one class per customer, the other branch)."""
import warnings

import numpy as np
import pandas as pd
import pytest

from retention_lab.impact.core.event_study import event_study


def _panel(seed, holes):
    rng = np.random.default_rng(seed)
    n, T = (400 if holes else 2500), 14   # 2500: few classes per customer (block branch)
    entry = rng.integers(0, 6, n)
    cohort = np.where(rng.random(n) < 0.55, rng.integers(2, 16, n), -1)   # 14, 15: after panel
    rows = []
    for i in range(n):
        for t in range(entry[i], T):
            if holes and rng.random() < 0.15:
                continue
            y = rng.poisson(1.0 + 0.3 * (cohort[i] >= 0 and t >= cohort[i]) + 0.05 * t)
            rows.append((i, t, float(y), cohort[i] if cohort[i] >= 0 else np.nan))
    return pd.DataFrame(rows, columns=["customer_id", "period", "purchases", "cohort"])


def _brute(panel, e_min, e_max, control, base_period):
    ids = pd.unique(panel["customer_id"])
    N = len(ids)
    start, stop = int(panel["period"].min()), int(panel["period"].max())
    T = stop - start + 1
    y = np.full((N, T), np.nan)
    pos = {c: i for i, c in enumerate(ids)}
    for c, t, v in panel[["customer_id", "period", "purchases"]].itertuples(index=False):
        y[pos[c], int(t) - start] = v
    coh = panel.groupby("customer_id", sort=False)["cohort"].first().reindex(ids).to_numpy()
    G = np.where(np.isnan(coh), np.inf, coh - start)
    G[G >= T] = np.inf
    cells = []
    for g in sorted(set(G[np.isfinite(G) & (G >= 1)].astype(int))):
        for t in range(max(0, g + e_min), min(T, g + e_max + 1)):
            b = g - 1 if (t >= g or base_period == "universal") else t - 1
            if b < 0 or b == t:
                continue
            d = y[:, t] - y[:, b]
            ok = ~np.isnan(d)
            tr = ok & (G == g)
            co = ok & ((G == np.inf) if control == "never_treated" else
                       ((G > max(t, b)) & (G != g)))
            if tr.sum() == 0 or co.sum() == 0:
                continue
            mt, mc = d[tr].mean(), d[co].mean()
            psi = np.zeros(N)
            psi[tr] = N / tr.sum() * (d[tr] - mt)
            psi[co] = -N / co.sum() * (d[co] - mc)
            se = np.sqrt(((d[tr] - mt) ** 2).sum() / tr.sum() ** 2
                         + ((d[co] - mc) ** 2).sum() / co.sum() ** 2)
            cells.append(dict(g=g, e=t - g, att=mt - mc, se=se, psi=psi, pg=(G == g).mean()))
    out = {}
    for e in sorted({c["e"] for c in cells}):
        cs = [c for c in cells if c["e"] == e]
        pg = np.array([c["pg"] for c in cs])
        att = np.array([c["att"] for c in cs])
        w = pg / pg.sum()
        inf = sum(wk * c["psi"] for wk, c in zip(w, cs))
        for k, c in enumerate(cs):   # the estimated weights (did::wif), customer by customer
            dk = (G == c["g"]) - pg[k]
            inf = inf + dk * (att[k] / pg.sum() - (pg @ att) / pg.sum() ** 2)
        out[e] = (float(w @ att), inf)
    return cells, out


@pytest.mark.parametrize("seed,holes,control,base", [
    (0, False, "not_yet_treated", "varying"), (1, True, "not_yet_treated", "varying"),
    (2, False, "never_treated", "universal"), (3, True, "never_treated", "varying")])
def test_cells_and_influence_equal_the_brute_force(seed, holes, control, base):
    panel = _panel(seed, holes)
    res = event_study(panel, months_before=4, months_after=5, control=control, base_period=base)
    cells, agg = _brute(panel, -4, 5, control, base)
    gt = res.group_time
    assert len(gt) == len(cells)
    np.testing.assert_allclose(gt["att"], [c["att"] for c in cells], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(gt["se"], [c["se"] for c in cells], rtol=1e-10)
    est = res.estimates.set_index("event_time")
    assert list(est.index) == sorted(agg)
    for j, e in enumerate(est.index):
        want, inf = agg[e]
        assert est.loc[e, "estimate"] == pytest.approx(want, rel=1e-11, abs=1e-13)
        np.testing.assert_allclose(res.influence[:, j], inf, rtol=0,
                                   atol=1e-11 * np.abs(inf).max())
        assert est.loc[e, "se"] == pytest.approx(np.sqrt((inf ** 2).sum()) / len(inf), rel=1e-10)


@pytest.mark.parametrize("case", ["naive", "tz", "us"])
def test_days_and_months_are_pandas_calendar_fields(case):
    """The panel's day and month numbers (_days_and_months: months from a table over the days'
    range) against pandas' calendar fields: days since 1970-01-01 of the normalised date and
    year * 12 + month − 1, over month ends, leap days and dates before 1970."""
    from retention_lab.impact.core.event_panel import _days_and_months
    rng = np.random.default_rng(2)
    base = pd.Timestamp("1968-02-27")
    s = pd.Series(base + pd.to_timedelta(rng.integers(0, 25_000, 2000), "D")
                  + pd.to_timedelta(rng.integers(0, 86_400, 2000), "s"))
    if case == "tz":           # tz-aware: the fallback (pandas' fields), as before
        s = s.dt.tz_localize("UTC")
    elif case == "us":
        s = s.astype("datetime64[us]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # numpy on tz-aware values (as before this change)
        days, months = _days_and_months(s)
    naive = s.dt.tz_localize(None) if case == "tz" else s
    want_days = ((naive.dt.normalize() - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1))
    np.testing.assert_array_equal(days, want_days.to_numpy().astype(np.int64))
    np.testing.assert_array_equal(months, (s.dt.year * 12 + s.dt.month - 1).to_numpy())
