"""The currency is an argument of the display layer (issue 21), the run's default only when none
is passed; the old ``rl.reporting.<table>`` names and every figure name keep resolving.

Oracles: the ISO code written into ``metrics.json`` and the currency symbol printed in a table
are fixed strings (``"EUR per customer"``, ``€``), never the output of the function under test.
"""
from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

import retention_lab as rl
from retention_lab.report import figures as plots, recording, tables
from retention_lab.report.figures._base import money_unit


@pytest.fixture(autouse=True)
def _clean():
    recording.set_currency(None)
    recording.clear()
    yield
    recording.set_currency(None)
    recording.clear()


def test_record_takes_the_currency_as_an_argument(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    monkeypatch.setenv(recording.ENV_VAR, str(path))
    recording.set_currency("USD")  # the run's default ...
    recording.record("clv_mean", 60.0, unit="currency per customer", currency="EUR")
    recording.record("spend_itt", 20.3, (5.7, 34.8), currency="EUR")   # inferred unit
    recording.record("aov_itt", 1.0)                                   # ... used when none given

    class Result:
        value, ci, n, method, unit = 12.0, (10.0, 14.0), 50, "mean", "currency per order"
    recording.record_result("aov_members", Result(), currency="GBP")
    saved = json.loads(path.read_text())
    assert {k: v["unit"] for k, v in saved.items()} == {
        "clv_mean": "EUR per customer", "spend_itt": "EUR per customer",
        "aov_itt": "USD per order", "aov_members": "GBP per order"}
    assert "currency" not in saved["clv_mean"]   # an argument, not an extra field of the entry


def test_without_any_currency_the_unit_says_currency():
    assert recording.record("spend_itt", 1.0)["unit"] == "currency per customer"


def test_tables_and_figures_show_the_currency_they_are_given():
    recording.set_currency("USD")
    t = tables.key_values({"spend": 1234.5}, {"spend": "money"}, currency="EUR")
    assert t.rows[0][1].startswith("€") and "$" not in t.rows[0][1]
    t = tables.key_values({"spend": 1234.5}, {"spend": "money"})     # the run's default
    assert t.rows[0][1].startswith("$")
    assert money_unit("EUR") == "EUR" and money_unit() == "USD"
    recording.set_currency(None)
    assert money_unit() == "money"


def test_old_table_names_under_recording_warn_and_resolve():
    for name in sorted(recording.TABLE_NAMES):
        with pytest.warns(DeprecationWarning, match=f"report.tables.{name}"):
            assert getattr(recording, name) is getattr(tables, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert rl.reporting.effects_table is tables.effects_table
    with pytest.raises(AttributeError):
        _ = recording.no_such_table


def test_every_public_figure_name_is_listed_once_and_reachable():
    assert len(plots.__all__) == len(set(plots.__all__)) == 25
    for name in plots.__all__:
        assert callable(getattr(plots, name))
        # the one listing matches the area modules' own lists
        area = getattr(plots, name).__module__.rsplit(".", 1)[1]
        assert name in getattr(plots, area).__all__


def test_tables_lists_its_public_names():
    assert all(hasattr(tables, n) for n in tables.__all__)
    frame = pd.DataFrame({"metric": ["spend"], "value": [3.5], "ci_low": [1.0], "ci_high": [6.0]})
    t = tables.metrics_table(frame, currency="EUR")
    assert t.rows[0][:2] == ["Spend per customer", "€3.50"]
