"""The donations data of Fader, Hardie & Shang (2010), the BG/BB model's published example.

Repeat-donation patterns of the 11,104 first-time supporters of a US nonprofit organisation
acquired in 1995, over 6 annual repeat-donation opportunities (1996–2001), as the 22
(frequency, recency) patterns printed in Fader, P. S., Hardie, B. G. S. & Shang, J. (2010),
"Customer-base analysis in a discrete-time noncontractual setting", *Marketing Science* 29(6),
1086–1108. The rows are reconstructed from that published table (identical to ``donations.csv``
of the MIT-licensed ``lifetimes`` package); see ``data/donations/README.md``.
"""
from __future__ import annotations

import gzip
from importlib import resources

import pandas as pd


def load_donations() -> pd.DataFrame:
    """The aggregated donations table: ``frequency, recency, n_periods, weights`` (22 rows).

    ``frequency`` is the number of years with a repeat donation (``x``), ``recency`` the year
    (1–6) of the last one (``t_x``, 0 without any), ``n_periods`` the opportunities observed
    (``n = 6``) and ``weights`` the number of donors with that pattern (11,104 in total). Fit it
    with :class:`retention_lab.clv.BetaGeoBetaBinomFitter`; ``attrs['unit']`` is ``"Y"``.
    """
    with resources.files(__package__).joinpath("files", "donations.csv.gz").open("rb") as fh:
        with gzip.open(fh, "rt") as text:
            out = pd.read_csv(text, dtype="int64")
    out.attrs["unit"] = "Y"
    out.attrs["source"] = "Fader, Hardie & Shang (2010), Marketing Science 29(6)"
    return out
