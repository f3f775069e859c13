"""``MonitorResult.record``: the monitor's headline numbers reach ``metrics.json`` through the
display layer (imported on use), in the currency the caller passes."""
from __future__ import annotations

import json

import retention_lab as rl
from retention_lab.report import recording


def test_record_writes_the_latest_always_valid_estimates_in_the_given_currency(tmp_path,
                                                                                monkeypatch):
    path = tmp_path / "metrics.json"
    monkeypatch.setenv(recording.ENV_VAR, str(path))
    recording.clear()
    data = rl.datasets.simulate_holdout(1500, enrol_weeks=3, follow_weeks=5, seed=3)
    res = rl.monitor.monitor_holdout(data)
    out = res.record(currency="EUR")
    saved = json.loads(path.read_text())
    recording.clear()
    latest = res.latest().set_index("metric")
    # five weeks of follow-up: no customer reached the retention horizon yet
    assert sorted(latest.index) == ["purchases", "spend"]
    assert saved["spend_itt_always_valid"]["unit"] == "EUR per customer"
    assert saved["purchases_itt_always_valid"]["unit"] == "purchases per customer"
    for metric in latest.index:
        entry = saved[f"{metric}_itt_always_valid"]
        assert entry["value"] == float(latest.loc[metric, "estimate"])
        assert (entry["ci_low"], entry["ci_high"]) == (float(latest.loc[metric, "lower"]),
                                                       float(latest.loc[metric, "upper"]))
        assert entry["n"] == int(latest.loc[metric, "n"])
    assert saved["decision"]["decision"] == res.decision["decision"]
    assert saved["customers_completed"]["value"] == res.actual["completed"]
    assert set(out) == {"purchases", "spend", "decision", "weeks_run",
                        "customers_completed"}
