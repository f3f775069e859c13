"""Summary tables on hand-derived customers: the BTYD summary and calibration–holdout split in
lifetimes' conventions (freq D / W / M), the churn table's censoring edges, the cohort matrix and
RFM segments.

The expected numbers below were derived by hand from the dates (2024-01-01 is a Monday; weeks
start on Monday, as pandas' ``W-SUN`` periods that lifetimes floors to). They agree with
``lifetimes.utils.summary_data_from_transaction_data`` / ``calibration_and_holdout_data``
(0.11.3) for ``freq="D"`` and ``"W"`` except where our documented conventions differ on purpose:

* a date-only ``observation_end`` includes its whole day, and nothing after it is used:
  lifetimes floors dates to periods *before* cutting at the (floored) end, so with ``freq="W"``
  it counts customer a's purchase two days *after* the end (same week) and lists customer e,
  whose only purchase is after the end; with a time of day on the calibration end it moves
  customer i's calibration-day purchase into the holdout and drops the customer;
* ``monetary_value_holdout`` is the mean spend per holdout purchase *period* (like the
  calibration ``monetary_value``); lifetimes averages raw transactions there (customer h: 15);
* months: ages are whole calendar months between month periods. lifetimes divides the days
  between month starts by numpy's mean month (30.44 days; Jan → Mar = 1.94) and fails on
  pandas ≥ 2 ("Unit M is not supported").
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import features

OBS_END = "2024-03-13"  # a Wednesday: its week started on Monday 2024-03-11

ROWS = [
    ("a", "2024-01-03 10:00", 10.0), ("a", "2024-01-03 15:00", 5.0),  # two orders, one day
    ("a", "2024-01-10", 20.0), ("a", "2024-02-20", 30.0),
    ("a", "2024-03-15", 99.0),                                         # after the end
    ("b", "2024-01-15", 8.0), ("b", "2024-01-21", 12.0),               # Mon + Sun: one week
    ("c", "2024-02-29", 40.0),                                         # one purchase
    ("d", "2024-03-13 18:30", 7.0),                                    # first purchase on the end
    ("e", "2024-03-14", 9.0),                                          # only after the end
    ("f", "2024-01-31", 3.0), ("f", "2024-02-01", 4.0),                # one week, two months
    ("g", "2024-01-07", 2.0), ("g", "2024-01-08", 6.0),                # Sun → Mon: two weeks
    ("h", "2024-01-20", 10.0), ("h", "2024-03-01 09:00", 10.0),
    ("h", "2024-03-01 17:00", 30.0), ("h", "2024-03-05", 5.0),
    ("i", "2024-02-15 14:00", 11.0), ("i", "2024-03-02", 6.0),         # on the calibration end
]


@pytest.fixture
def tx() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"], format="ISO8601")
    return frame


def table(summary: pd.DataFrame, columns) -> dict:
    return {cid: tuple(float(v) for v in row) for cid, row in
            zip(summary.index, summary[list(columns)].to_numpy())}


SUMMARY_COLS = ("frequency", "recency", "T", "monetary_value")

# customer: (frequency, recency, T, monetary_value)
EXPECTED_SUMMARY = {
    "D": {"a": (2, 48, 70, 25), "b": (1, 6, 58, 12), "c": (0, 0, 13, 0), "d": (0, 0, 0, 0),
          "f": (1, 1, 42, 4), "g": (1, 1, 66, 6), "h": (2, 45, 53, 22.5), "i": (1, 16, 27, 6)},
    "W": {"a": (2, 7, 10, 25), "b": (0, 0, 8, 0), "c": (0, 0, 2, 0), "d": (0, 0, 0, 0),
          "f": (0, 0, 6, 0), "g": (1, 1, 10, 6), "h": (2, 7, 8, 22.5), "i": (1, 2, 4, 6)},
    "M": {"a": (1, 1, 2, 30), "b": (0, 0, 2, 0), "c": (0, 0, 1, 0), "d": (0, 0, 0, 0),
          "f": (1, 1, 2, 4), "g": (0, 0, 2, 0), "h": (1, 2, 2, 45), "i": (1, 1, 1, 6)},
}


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_rfm_summary_hand_derived(tx, freq):
    summary = features.rfm_summary(tx, observation_end=OBS_END, freq=freq)
    assert table(summary, SUMMARY_COLS) == {
        k: tuple(float(x) for x in v) for k, v in EXPECTED_SUMMARY[freq].items()}
    # a's and e's purchases after the end are outside the window, and counted
    q = rl.quality(summary)
    assert q.table[["rule", "n_rows"]].to_dict("records") == [
        dict(rule="date <= observation_end (2024-03-13)", n_rows=2)]
    assert pd.Timestamp(summary.attrs["observation_end"]) == pd.Timestamp(OBS_END)


def test_rfm_summary_freq_multiplier_and_first_transaction(tx):
    weeks = features.rfm_summary(tx, observation_end=OBS_END, freq="D", freq_multiplier=7)
    days = features.rfm_summary(tx, observation_end=OBS_END, freq="D")
    pd.testing.assert_series_equal(weeks["T"], days["T"] / 7)
    assert weeks.loc["a", "recency"] == pytest.approx(48 / 7)
    incl = features.rfm_summary(tx, observation_end=OBS_END, freq="D",
                                include_first_transaction=True)
    # a: three purchase days (15, 20, 30) → frequency 3, mean 65 / 3
    assert incl.loc["a", "frequency"] == 3
    assert incl.loc["a", "monetary_value"] == pytest.approx(65 / 3)
    assert incl.loc["c", ["frequency", "monetary_value"]].tolist() == [1, 40]


def test_rfm_summary_default_end_is_last_transaction_day(tx):
    summary = features.rfm_summary(tx.loc[tx["date"] <= "2024-03-13 23:59"], freq="D")
    assert pd.Timestamp(summary.attrs["observation_end"]).normalize() == pd.Timestamp("2024-03-13")
    assert summary.loc["a", "T"] == 70


# customer: (frequency, recency, T, monetary_value, frequency_holdout, monetary_value_holdout)
EXPECTED_HOLDOUT = {
    "D": ({"a": (1, 7, 43, 20, 1, 30), "b": (1, 6, 31, 12, 0, 0), "f": (1, 1, 15, 4, 0, 0),
           "g": (1, 1, 39, 6, 0, 0), "h": (0, 0, 26, 0, 2, 22.5), "i": (0, 0, 0, 0, 1, 6)}, 27),
    "W": ({"a": (1, 1, 6, 20, 1, 30), "b": (0, 0, 4, 0, 0, 0), "f": (0, 0, 2, 0, 0, 0),
           "g": (1, 1, 6, 6, 0, 0), "h": (0, 0, 4, 0, 2, 22.5), "i": (0, 0, 0, 0, 1, 6)}, 4),
    "M": ({"a": (0, 0, 1, 0, 1, 30), "b": (0, 0, 1, 0, 0, 0), "f": (1, 1, 1, 4, 0, 0),
           "g": (0, 0, 1, 0, 0, 0), "h": (0, 0, 1, 0, 1, 45), "i": (0, 0, 0, 0, 1, 6)}, 1),
}


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_calibration_holdout_hand_derived(tx, freq):
    cal = features.calibration_holdout(tx, calibration_end="2024-02-15",
                                       observation_end=OBS_END, freq=freq)
    assert list(cal.columns) == ["frequency", "recency", "T", "monetary_value",
                                 "frequency_holdout", "monetary_value_holdout",
                                 "duration_holdout"]
    expected, duration = EXPECTED_HOLDOUT[freq]
    assert table(cal, cal.columns[:-1]) == {
        k: tuple(float(x) for x in v) for k, v in expected.items()}
    assert (cal["duration_holdout"] == duration).all()
    # 20 rows = 11 calibration + 5 holdout rows of calibration customers + 2 holdout rows of
    # new customers (c, d) + 2 after the observation end (a, e): all counted
    q = rl.quality(cal).table
    assert q["n_rows"].tolist() == [2, 2]
    assert q["rule"].tolist() == ["date <= observation_end (2024-03-13)",
                                  "customer acquired by calibration_end"]


def test_calibration_holdout_needs_end_after_calibration(tx):
    with pytest.raises(ValueError, match=r"observation_end \(2024-02-01\) must be after "
                                         r"calibration_end \(2024-02-15\)"):
        features.calibration_holdout(tx, calibration_end="2024-02-15",
                                     observation_end="2024-02-01")


def test_collapse_summary(tx):
    summary = features.rfm_summary(tx, observation_end=OBS_END, freq="M")
    collapsed = features.collapse_summary(summary)
    assert collapsed["weight"].sum() == len(summary) == 8
    # b and g share (0, 0, 2); a and f share (1, 1, 2)
    row = collapsed.set_index(["frequency", "recency", "T"])["weight"]
    assert (row[(0.0, 0.0, 2.0)], row[(1.0, 1.0, 2.0)]) == (2, 2)
    assert len(collapsed) == 6


# --------------------------------------------------------------------------- churn table

CHURN_ROWS = [
    ("censored", "2024-01-10"), ("censored", "2024-11-15"),    # last purchase < 90 d before end
    ("lapsed", "2024-01-10"), ("lapsed", "2024-06-01"),
    ("at_cutoff", "2024-03-01"), ("at_cutoff", "2024-10-02"),  # exactly 90 days before the end
    ("day_after", "2024-03-01"), ("day_after", "2024-10-03"),  # 89 days before the end
    ("too_new", "2024-10-05"),                                 # first purchase after the cutoff
    ("first_at_cutoff", "2024-10-02 23:00"),
    ("late", "2024-05-05"), ("late", "2025-01-02"),            # a purchase after the end
]


@pytest.fixture
def churn_tx() -> pd.DataFrame:
    frame = pd.DataFrame(CHURN_ROWS, columns=["customer_id", "date"])
    frame["date"] = pd.to_datetime(frame["date"], format="ISO8601")
    frame["amount"] = 1.0
    return frame


def test_churn_table_censoring_edges(churn_tx):
    """End 2024-12-31, 90 days → the confirmation cutoff is 2024-10-02."""
    ct = features.churn_table(churn_tx, inactivity_days=90, observation_end="2024-12-31")
    assert ct.attrs["cutoff"] == "2024-10-02"
    got = {c: (float(r.duration), int(r.churned), r.followup_end.date().isoformat())
           for c, r in ct.iterrows()}
    assert got == {
        # not yet lapsed at the end: censored at the cutoff, not at the last purchase
        "censored": (266.0, 0, "2024-10-02"),
        # lapse confirmed: the event is dated at the last purchase, not at the window's end
        "lapsed": (143.0, 1, "2024-06-01"),
        "at_cutoff": (215.0, 1, "2024-10-02"),
        "day_after": (215.0, 0, "2024-10-02"),
        "first_at_cutoff": (0.0, 1, "2024-10-02"),
        "late": (0.0, 1, "2024-05-05"),
    }
    assert ct.loc["censored", "n_purchases"] == 2 and ct.loc["late", "n_purchases"] == 1
    q = rl.quality(ct).table
    assert q[["rule", "n_rows"]].to_dict("records") == [
        dict(rule="date <= observation_end (2024-12-31)", n_rows=1),
        dict(rule="first purchase on or before the confirmation cutoff (2024-10-02)", n_rows=1),
    ]


def test_churn_table_units(churn_tx):
    days = features.churn_table(churn_tx, 90, "2024-12-31")
    weeks = features.churn_table(churn_tx, 90, "2024-12-31", unit="W")
    months = features.churn_table(churn_tx, 90, "2024-12-31", unit="M")
    np.testing.assert_allclose(weeks["duration"], days["duration"] / 7)
    np.testing.assert_allclose(months["duration"], days["duration"] / 30.436875)
    assert weeks.attrs["unit"] == "W"
    with pytest.raises(ValueError, match="inactivity_days must be positive, not 0"):
        features.churn_table(churn_tx, 0)


# --------------------------------------------------------------------------- cohorts


@pytest.fixture
def cohort_tx() -> pd.DataFrame:
    rows = [("u1", "2024-01-05"), ("u1", "2024-02-10"), ("u1", "2024-04-01"),
            ("u2", "2024-01-20"), ("u2", "2024-01-25"),
            ("u3", "2024-01-31"), ("u3", "2024-03-03"), ("u3", "2024-03-04"),
            ("u4", "2024-02-02"), ("u4", "2024-03-09"),
            ("u5", "2024-02-28"),
            ("u6", "2024-04-15"), ("u6", "2024-05-02")]
    frame = pd.DataFrame(rows, columns=["customer_id", "date"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["amount"] = 5.0
    return frame


def test_cohort_retention_hand_example(cohort_tx):
    m = features.cohort_retention(cohort_tx, freq="M", observation_end="2024-04-30")
    assert [str(p) for p in m.index] == ["2024-01", "2024-02", "2024-04"]
    assert list(m.columns) == [0, 1, 2, 3]
    expected = np.array([[1, 1 / 3, 1 / 3, 1 / 3],   # Jan: u1 in Feb, u3 in Mar, u1 in Apr
                         [1, 1 / 2, 0, np.nan],      # Feb: u4 in Mar, nobody in Apr, May unseen
                         [1, np.nan, np.nan, np.nan]])  # u6's May purchase is after the end
    np.testing.assert_allclose(m.to_numpy(), expected)
    assert m.attrs["cohort_size"] == {"2024-01": 3, "2024-02": 2, "2024-04": 1}
    counts = features.cohort_retention(cohort_tx, freq="M", observation_end="2024-04-30",
                                       counts=True)
    np.testing.assert_allclose(counts.to_numpy(), [[3, 1, 1, 1], [2, 1, 0, np.nan],
                                                    [1, np.nan, np.nan, np.nan]])
    str(m), m._repr_html_()  # prints (attrs hold no Series that breaks pandas' concat)


def test_cohort_retention_weekly(cohort_tx):
    m = features.cohort_retention(cohort_tx, freq="W", observation_end="2024-01-31")
    # weeks of Jan 1 (u1), Jan 15 (u2), Jan 29 (u3); u2 again in week 1 (Jan 25 → week of Jan 22)
    assert [str(p.start_time.date()) for p in m.index] == ["2024-01-01", "2024-01-15",
                                                          "2024-01-29"]
    assert m.loc[m.index[1], 1] == 1.0 and np.isnan(m.loc[m.index[2], 1])


# --------------------------------------------------------------------------- RFM scores


def test_rfm_scores_segments_hand_example():
    rows = [("p", "2024-06-29", 50.0),
            ("q", "2024-01-10", 100.0), ("q", "2024-02-10", 100.0), ("q", "2024-03-10", 100.0),
            ("q", "2024-04-10", 100.0), ("q", "2024-06-20", 50.0), ("q", "2024-06-20", 50.0),
            ("r", "2024-01-05", 75.0), ("r", "2024-02-05", 75.0), ("r", "2024-03-05", 75.0),
            ("r", "2024-05-01", 75.0),
            ("s", "2024-01-15", 100.0), ("s", "2024-02-15", 50.0), ("s", "2024-03-01", 50.0),
            ("t", "2023-12-15", 50.0), ("t", "2024-01-01", 50.0)]
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    tx["date"] = pd.to_datetime(tx["date"])
    scores = features.rfm_scores(tx, observation_end="2024-06-30")
    assert scores["recency_days"].to_dict() == {"p": 1, "q": 10, "r": 60, "s": 121, "t": 181}
    assert scores["n_purchases"].to_dict() == {"p": 1, "q": 5, "r": 4, "s": 3, "t": 2}
    assert scores["total_spend"].to_dict() == {"p": 50, "q": 500, "r": 300, "s": 200, "t": 100}
    assert scores["RFM"].to_dict() == {"p": "511", "q": "455", "r": "344", "s": "233",
                                       "t": "122"}
    assert scores["segment"].to_dict() == {"p": "New", "q": "Champions", "r": "Loyal",
                                           "s": "At risk", "t": "Hibernating"}


def test_rfm_scores_ties_share_the_lower_score():
    tx = pd.DataFrame({"customer_id": [1, 2, 3, 4, 4],
                       "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02",
                                               "2024-01-01", "2024-01-02"]),
                       "amount": [1.0, 1.0, 1.0, 1.0, 1.0]})
    scores = features.rfm_scores(tx, observation_end="2024-01-02", bins=4)
    # recency: 1, 2 bought a day ago (tied, worst) → 1; 3, 4 today → rank 3/4 → 3
    assert scores["R"].tolist() == [1, 1, 3, 3]
    assert scores["F"].tolist() == [1, 1, 1, 4]
    assert set(scores["segment"]) <= {name for name, _, _ in features.SEGMENT_RULES} | {"Others"}


def test_summaries_save_to_parquet_and_feather_with_their_ledger(tx, tmp_path):
    """Issue 15.8: attrs held a DataQuality object and Timestamps, so ``to_parquet`` raised
    TypeError (not JSON serialisable). Every summary table now keeps JSON values only; the
    tables, their attrs and the quality ledger (rl.quality) come back from both formats."""
    tables = {
        "rfm_summary": features.rfm_summary(tx, observation_end=OBS_END, freq="W"),
        "calibration_holdout": features.calibration_holdout(tx, "2024-02-15", OBS_END, freq="D"),
        "churn_table": features.churn_table(tx, 30, observation_end=OBS_END),
        "cohort_retention": features.cohort_retention(tx, "M", observation_end=OBS_END),
    }
    assert len(rl.quality(tables["rfm_summary"])) == 1  # purchases after the end: counted
    for name, table in tables.items():
        for fmt in ("parquet", "feather"):
            path = tmp_path / f"{name}.{fmt}"
            getattr(table, f"to_{fmt}")(path)
            back = getattr(pd, f"read_{fmt}")(path)
            pd.testing.assert_frame_equal(back, table, check_freq=False)
            assert back.attrs == table.attrs, (name, fmt)
            pd.testing.assert_frame_equal(rl.quality(back).table, rl.quality(table).table)
    ledger = rl.quality(tables["rfm_summary"]).table
    assert ledger[["column", "n_rows", "action"]].values.tolist() == [
        ["date", 2, "outside window"]]  # customer a's and e's purchases after 2024-03-13
    assert pd.Timestamp(tables["churn_table"].attrs["cutoff"]) == pd.Timestamp("2024-02-12")
    assert rl.DataQuality.from_attrs(tables["rfm_summary"].attrs).table.equals(ledger)
