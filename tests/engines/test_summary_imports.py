"""What a first transaction summary imports (issue 22, item 4: first-call cost).

The summaries need neither scipy.special (0.1-0.4 s to import: it pulls numpy.f2py and
numpy.testing through its array-API layer) nor scipy.optimize; ``retention_lab.units`` writes
its 95 % normal quantile out instead of computing it at import. Checked in new processes, and
the constant against scipy's own ``ndtri`` (the oracle), bit for bit.
"""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
from scipy.special import ndtri

from retention_lab import units


def test_z95_is_scipys_quantile_bit_for_bit():
    assert units.Z95 == float(ndtri(0.975)) == units.z_value(0.05)
    assert units.z_value(0.10) == float(ndtri(0.95))


def test_a_summary_imports_no_scipy_subpackage(tmp_path):
    """``rfm_summary`` of a Parquet file (DuckDB and the one-pass kernel) and of a frame
    (pandas) in a new process: scipy.special, scipy.optimize and scipy.stats are not loaded
    (numba itself imports the bare ``scipy`` package and ``scipy.linalg.cython_blas``), and the
    numbers are right."""
    tx = pd.DataFrame({"customer_id": [1, 1, 2, 1],
                       "date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02",
                                               "2024-01-03"]),
                       "amount": [10.0, 5.0, 7.0, 2.0]})
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    code = (f"import sys, pandas as pd; import retention_lab.features as f; "
            f"HEAVY = [['scipy', p] for p in ('special', 'optimize', 'stats')]; "
            f"a = f.rfm_summary({str(path)!r}, '2024-01-10', engine='duckdb'); "
            f"b = f.rfm_summary(pd.read_parquet({str(path)!r}), '2024-01-10'); "
            f"print(sorted(m for m in sys.modules if m.split('.')[:2] in HEAVY), "
            f"a.loc[1, 'frequency'], a.loc[1, 'monetary_value'], a.loc[1, 'T'], "
            f"b.loc[1, 'monetary_value'], a.attrs['engine'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    # customer 1: purchases on Jan 1 and Jan 3 (7.0 on the 3rd): one repeat, spend 7, T 9 days
    assert out == ["[]", "1.0", "7.0", "9.0", "7.0", "duckdb"]
