"""Acceptance (issue 20): malformed inputs that the other tests do not use, through
``read_experiment``, ``load_data`` and ``analyze``. Every case ends in one of three ways:

* ``error`` — a :class:`retention_lab.DataError` whose ``column`` (a column or a parameter) or
  message (a path) names what to fix;
* ``exact`` — the read gives the values written, which the test knows by construction;
* ``counted`` — the change is in the data-quality ledger.

No other exception type is accepted, and every effect ``analyze`` returns is finite.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import DataError, io

FAST = dict(clv=False, survival=False, sensitivity=False, event_study=False)


def _tx(n=12):
    rng = np.random.default_rng(7)
    return pd.DataFrame({"customer_id": rng.choice(["001", "002", "010", "1"], n),
                         "date": pd.date_range("2025-01-01", periods=n, freq="5D")
                         .strftime("%Y-%m-%d"),
                         "amount": np.round(rng.uniform(1, 900, n), 2)})


def _write(tmp_path, name, text: str, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _csv(frame, **kw) -> str:
    return frame.to_csv(index=False, **kw)


@pytest.fixture(scope="module")
def study():
    return rl.datasets.simulate_loyalty_experiment(n_customers=1500, seed=9)


def _cases(tmp_path, study):
    """(name, callable, expected outcome, what the error must name or a check of the result)."""
    tx = _tx()
    total = tx["amount"].sum()
    doubled = pd.concat([tx, tx.iloc[:3]], ignore_index=True)
    us = tx.assign(amount=[f"{v:,.2f}" for v in tx["amount"] * 10])
    eu = tx.assign(amount=[f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
                           for v in tx["amount"] * 10])
    far = tx.copy()
    far.loc[4, "date"] = "9999-01-01"          # beyond pandas' datetime range
    far2 = tx.copy()
    far2.loc[4, "date"] = "2225-07-01"
    cust_num = pd.DataFrame({"customer_id": [1, 2, 10]})
    one_arm = study.customers.assign(arm="control")
    one_per = study.customers.assign(code=np.arange(len(study.customers)) % 45)
    not_db = _write(tmp_path, "fake.duckdb", "not a database")
    return [
        ("tab-separated, no sep", lambda: io.read_experiment(
            _write(tmp_path, "t.csv", _csv(tx, sep="\t"))), "error", "sep='\\t'"),
        ("pipe-separated, sep given", lambda: io.read_experiment(
            _write(tmp_path, "p.csv", _csv(tx, sep="|")), sep="|"), "exact",
         lambda d: d.transactions["amount"].sum() == pytest.approx(total)),
        ("comma thousands", lambda: io.read_experiment(
            _write(tmp_path, "us.csv", _csv(us))), "error", "amount"),
        ("comma thousands, thousands=','", lambda: io.read_experiment(
            _write(tmp_path, "us2.csv", _csv(us)), thousands=","), "exact",
         lambda d: d.transactions["amount"].sum() == pytest.approx(10 * total)),
        ("German numbers in a DataFrame", lambda: io.read_experiment(eu), "error", "amount"),
        ("German numbers, decimal and thousands", lambda: io.read_experiment(
            eu, decimal=",", thousands="."), "exact",
         lambda d: d.transactions["amount"].sum() == pytest.approx(10 * total)),
        ("currency symbol", lambda: io.read_experiment(
            tx.assign(amount="$" + tx["amount"].astype(str))), "error", "amount"),
        ("yes/no amounts", lambda: io.read_experiment(
            tx.assign(amount=np.where(tx["amount"] > 400, "yes", "no"))), "error", "amount"),
        ("repeated customer_id column", lambda: io.read_experiment(
            tx, customers=_write(tmp_path, "c.csv", "customer_id,customer_id\n001,1\n")),
         "error", "customer_id"),
        ("utf-16 without encoding", lambda: io.read_experiment(
            _write(tmp_path, "u.csv", _csv(tx), "utf-16")), "error", "encoding="),
        ("utf-16 with encoding", lambda: io.read_experiment(
            _write(tmp_path, "u2.csv", _csv(tx), "utf-16"), encoding="utf-16"), "exact",
         lambda d: d.transactions["amount"].sum() == pytest.approx(total)),
        ("rows loaded twice", lambda: io.read_experiment(
            _write(tmp_path, "d.csv", _csv(doubled))), "counted",
         lambda d: d.quality.table["n_rows"].sum() == 3),
        ("ids with leading zeros", lambda: io.read_experiment(
            _write(tmp_path, "z.csv", _csv(tx))), "exact",
         lambda d: sorted(d.customers["customer_id"]) == sorted(set(tx["customer_id"]))),
        ("numeric customer ids against zero-padded ones", lambda: io.read_experiment(
            _write(tmp_path, "z2.csv", _csv(tx)), customers=cust_num), "error", "customer_id"),
        ("a year-9999 typo", lambda: io.read_experiment(far), "error", "date"),
        ("a 2225 typo", lambda: io.read_experiment(far2), "error", "date"),
        ("the typo excluded by observation_end", lambda: io.read_experiment(
            far2, observation_end="2025-12-31"), "counted",
         lambda d: d.quality.n_excluded() == 1),
        ("month 13 launch", lambda: io.read_experiment(tx, launch_date="2025-13-01"),
         "error", "launch_date"),
        ("a list as observation_end", lambda: io.load_data(
            tx, observation_end=["2025-01-01"]), "error", "observation_end"),
        ("a text file named .duckdb", lambda: io.load_data(f"duckdb://{not_db}::tx"),
         "error", str(not_db)),
        ("a relative glob matching nothing", lambda: io.load_data("no_such_dir/*.parquet"),
         "error", "no_such_dir/*.parquet"),
        ("local times mixed with UTC times", lambda: io.read_experiment(
            tx.assign(date=np.where(np.arange(len(tx)) % 2, tx["date"] + "T08:00:00Z",
                                    tx["date"] + " 09:15"))), "error", "date"),
        ("days mixed with offset times (days read as UTC midnight)", lambda: io.read_experiment(
            tx.assign(date=np.where(np.arange(len(tx)) % 2, tx["date"] + "T08:00:00+02:00",
                                    tx["date"]))), "exact",
         lambda d: d.transactions["date"].dt.hour.tolist() == [0, 6] * (len(tx) // 2)),
        ("every customer in control", lambda: rl.impact.analyze(
            dataclasses.replace(study, customers=one_arm), **FAST), "error", "arm"),
        ("segment with 45 tiny levels", lambda: rl.impact.analyze(
            dataclasses.replace(study, customers=one_per), segment_column="code", **FAST),
         "exact", lambda r: r.segments.empty and "no level of 'code'" in
         r.segments.attrs["reason"]),
        ("a launch after the data", lambda: rl.impact.analyze(dataclasses.replace(
            study, launch_date=study.observation_end + pd.Timedelta(days=30)), **FAST),
         "error", None),
    ]


def test_malformed_inputs(tmp_path, study, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcomes = {}
    for name, call, expected, check in _cases(tmp_path, study):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = call()
            except DataError as exc:
                outcomes[name] = "error"
                assert expected == "error", f"{name}: unexpected DataError {exc}"
                if check is not None:
                    named = {exc.column or "", str(exc).splitlines()[0]}
                    assert any(check in n for n in named), f"{name}: {exc} does not name {check}"
                continue
        outcomes[name] = expected
        assert expected != "error", f"{name}: read without a DataError"
        assert check(result), name
        effects = getattr(result, "effects", None)
        if effects is not None:
            num = effects[["control", "treatment", "abs_diff", "ci_low", "ci_high"]]
            assert np.isfinite(num.to_numpy(float)).all(), name
    assert len(outcomes) == len(_cases(tmp_path, study))
