"""Repeat buyers whose repeat purchases sum to zero: excluded from the CLV analysis and counted
(the Gamma-Gamma model needs a positive mean spend; notebook 03 on CDNOW's master file)."""
from __future__ import annotations

import pandas as pd

import retention_lab as rl
from retention_lab.features.spend import RULE_POSITIVE_SPEND


def test_a_zero_spend_repeat_buyer_is_excluded_and_counted():
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "b", "c", "d", "d"],
        "date": pd.to_datetime(["2024-01-01", "2024-02-01",              # a: repeat spend 0
                                "2024-01-05", "2024-03-01", "2024-03-01",  # b: 0 + 0 same day
                                "2024-01-09",                            # c: one purchase
                                "2024-01-02", "2024-04-02"]),            # d: repeat spend 5
        "amount": [10.0, 0.0, 7.0, 0.0, 0.0, 0.0, 3.0, 5.0]})
    kept, quality = rl.features.exclude_nonpositive_spend(tx, "2024-06-30")
    assert sorted(kept["customer_id"].unique()) == ["c", "d"]   # c has no repeat purchase
    [entry] = quality.entries
    assert entry["rule"] == RULE_POSITIVE_SPEND and entry["n_rows"] == 2
    assert entry["action"] == "excluded" and "5 transactions" in entry["note"]


def test_cdnow_master_file_has_one_such_customer_and_then_fits():
    data = rl.io.load_data("cdnow_full", observation_end="1998-06-30")
    n_before = len(data.quality.entries)
    kept, quality = rl.features.exclude_nonpositive_spend(data.transactions, "1998-06-30",
                                                          quality=data.quality)
    dropped = set(data.transactions["customer_id"]) - set(kept["customer_id"])
    assert {str(c) for c in dropped} == {"10244"}
    assert len(data.transactions) - len(kept) == 2          # 15.96 on 1997-02-07, 0.00 on 03-07
    assert len(quality.entries) == n_before + 1
    summary = rl.features.rfm_summary(kept, "1998-06-30", freq="D", freq_multiplier=7)
    rl.clv.GammaGammaFitter().fit(summary)                   # refused before the exclusion


def test_cdnow_sample_is_untouched():
    data = rl.io.load_data("cdnow", observation_end="1998-06-30")
    kept, quality = rl.features.exclude_nonpositive_spend(data.transactions, "1998-06-30")
    assert len(kept) == len(data.transactions) and quality.entries == []
