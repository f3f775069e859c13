"""The bundled CDNOW data and the published BTYD summary of its 1/10 sample.

Fader, Hardie & Lee (2005, "Counting your customers the easy way", Marketing Science 24(2)):
2,357 customers, 39-week calibration to 1997-09-30 in fractional weeks (days / 7), 1,411 of them
with no repeat purchase. The other numbers were cross-checked against lifetimes 0.11.3
(``summary_data_from_transaction_data`` / ``calibration_and_holdout_data`` with ``freq="D",
freq_multiplier=7``), which agrees with ours to 1e-13 on every customer.
"""
from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import features

DATA = Path(__file__).resolve().parents[2] / "data" / "cdnow"


@pytest.mark.parametrize("name", ["CDNOW_sample.txt", "CDNOW_master.txt"])
def test_packaged_files_are_the_bundled_data(name):
    packaged = resources.files("retention_lab.datasets").joinpath("files", name + ".gz")
    assert gzip.decompress(packaged.read_bytes()) == (DATA / name).read_bytes()


def test_load_cdnow_sample(cdnow_sample):
    assert list(cdnow_sample.columns) == ["customer_id", "date", "quantity", "amount"]
    assert len(cdnow_sample) == 6919
    assert cdnow_sample["customer_id"].nunique() == 2357
    assert (cdnow_sample["customer_id"].min(), cdnow_sample["customer_id"].max()) == (1, 2357)
    assert cdnow_sample["date"].min() == pd.Timestamp("1997-01-01")
    assert cdnow_sample["date"].max() == pd.Timestamp("1998-06-30")
    assert cdnow_sample["date"].dtype == "datetime64[ns]"
    # the loader against a plain parse of the text file (master id, id, YYYYMMDD, CDs, dollars)
    raw = [line.split() for line in (DATA / "CDNOW_sample.txt").read_text().splitlines()]
    assert cdnow_sample["amount"].tolist() == [float(r[4]) for r in raw]
    assert cdnow_sample["quantity"].tolist() == [int(r[3]) for r in raw]
    assert cdnow_sample["date"].dt.strftime("%Y%m%d").tolist() == [r[2] for r in raw]
    assert cdnow_sample["customer_id"].tolist() == [int(r[1]) for r in raw]
    first = cdnow_sample.groupby("customer_id")["date"].min()
    assert first.max() == pd.Timestamp("1997-03-25")  # acquired in Q1 1997


def test_load_cdnow_master(cdnow_master):
    assert len(cdnow_master) == 69_659
    assert cdnow_master["customer_id"].nunique() == 23_570
    assert cdnow_master["date"].max() == pd.Timestamp("1998-06-30")


@pytest.fixture(scope="module")
def weekly(cdnow_sample) -> pd.DataFrame:
    return features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="D",
                                freq_multiplier=7)


def test_cdnow_weekly_summary(weekly, cdnow_sample):
    assert len(weekly) == 2357
    assert weekly["frequency"].sum() == 2457
    assert (weekly["frequency"] == 0).sum() == 1411
    assert weekly.loc[1, "frequency"] == 2
    assert weekly.loc[1, "recency"] == pytest.approx(30.43, abs=0.005)
    assert weekly.loc[1, "T"] == pytest.approx(38.86, abs=0.005)
    assert weekly["T"].min() == 27.0
    assert weekly["T"].max() == pytest.approx(38.86, abs=0.005)
    after = int((cdnow_sample["date"] > "1997-09-30").sum())
    assert after == 1959
    assert rl.quality(weekly).table["n_rows"].tolist() == [after]  # counted, not lost


def test_cdnow_calibration_holdout(cdnow_sample, weekly):
    cal = features.calibration_holdout(cdnow_sample, calibration_end="1997-09-30",
                                       observation_end="1998-06-30", freq="D", freq_multiplier=7)
    pd.testing.assert_frame_equal(cal[list(weekly.columns)], weekly, check_like=True)
    assert cal["frequency_holdout"].sum() == 1882
    assert (cal["duration_holdout"] == 39.0).all()
    assert cal.loc[1, ["frequency_holdout", "monetary_value_holdout"]].tolist() == [1.0, 26.48]
    assert len(rl.quality(cal)) == 0  # every customer was acquired by the calibration end


def test_cdnow_true_weeks_and_months(cdnow_sample):
    weeks = features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="W")
    assert weeks["frequency"].sum() == 2216  # repeat purchase *weeks*
    assert (weeks["T"].min(), weeks["T"].max()) == (27.0, 39.0)
    months = features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="M")
    assert months["frequency"].sum() == 1625
    assert (months["T"].min(), months["T"].max()) == (6.0, 8.0)
    assert months.loc[1, ["frequency", "recency", "T"]].tolist() == [1.0, 7.0, 8.0]


def test_cdnow_churn_table(cdnow_sample):
    ct = features.churn_table(cdnow_sample, inactivity_days=90, observation_end="1998-06-30")
    assert len(ct) == 2357  # all acquired long before the cutoff (1998-04-01)
    assert pd.Timestamp(ct.attrs["cutoff"]) == pd.Timestamp("1998-04-01")
    censored = ct["churned"] == 0
    assert (ct.loc[censored, "followup_end"] == pd.Timestamp("1998-04-01")).all()
    assert (ct.loc[censored, "last_purchase"] > pd.Timestamp("1998-04-01")).all()
    assert (ct.loc[~censored, "followup_end"] == ct.loc[~censored, "last_purchase"]).all()
    # cross-check the event count directly from the dates
    last = cdnow_sample.groupby("customer_id")["date"].max()
    assert int(ct["churned"].sum()) == int((last <= "1998-04-01").sum())
    assert rl.io.load_data("cdnow").customers["customer_id"].nunique() == 2357
