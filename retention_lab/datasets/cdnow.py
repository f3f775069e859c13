"""The CDNOW transaction data (Fader, Hardie & Lee 2005).

Every purchase of the 23,570 customers who first bought at CDNOW in Q1 1997, to 1998-06-30; the
1/10 sample holds 2,357 of them. The files ship inside the package (gzipped copies of
``data/cdnow/``, checked identical by the tests), so this works from an installed wheel too.
"""
from __future__ import annotations

import gzip
from importlib import resources

import pandas as pd

#: The end of the CDNOW observation window and the classic 39-week calibration end.
OBSERVATION_END = pd.Timestamp("1998-06-30")
CALIBRATION_END = pd.Timestamp("1997-09-30")


def load_cdnow(sample: bool = True) -> pd.DataFrame:
    """Load CDNOW transactions as ``customer_id, date, quantity, amount``.

    Parameters
    ----------
    sample : bool, default True
        The 1/10 sample (6,919 transactions, 2,357 customers, ids 1–2357 as in the published
        papers) or the full master file (69,659 transactions, 23,570 customers).
    """
    name = "CDNOW_sample.txt.gz" if sample else "CDNOW_master.txt.gz"
    with resources.files(__package__).joinpath("files", name).open("rb") as fh:
        with gzip.open(fh, "rt") as text:
            if sample:
                cols = ["master_id", "customer_id", "date", "quantity", "amount"]
                raw = pd.read_csv(text, sep=r"\s+", header=None, names=cols,
                                  dtype={"date": str})
            else:
                raw = pd.read_csv(text, sep=r"\s+", header=0,
                                  names=["customer_id", "date", "quantity", "amount"],
                                  dtype={"date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    out = raw[["customer_id", "date", "quantity", "amount"]].copy()
    out["customer_id"] = out["customer_id"].astype("int64")
    out["quantity"] = out["quantity"].astype("int64")
    out["amount"] = out["amount"].astype(float)
    return out
