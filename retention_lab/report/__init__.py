"""The display layer: everything that turns estimates into something a person reads.

- :mod:`.figures` — matplotlib figures (each returns a Figure/Axes, never calls ``plt.show()``);
- :mod:`.tables` — tables for people, the verdict card, key values, paragraphs;
- :mod:`.recording` — headline numbers recorded into a run's ``metrics.json``.

Estimation (``survival``, ``clv``, ``metrics``, ``impact``, ``targeting``, ``monitor``) never
imports this package; lifelines-style ``plot()`` / ``print_summary()`` methods on fitted objects
import it when called.
"""
from __future__ import annotations

import importlib

from . import recording, tables

__all__ = ["figures", "recording", "tables"]


def __getattr__(name: str):
    # matplotlib costs ~0.5 s: the figures are imported when first used, not with the tables.
    if name == "figures":
        return importlib.import_module(".figures", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
