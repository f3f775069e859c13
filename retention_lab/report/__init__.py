"""The display layer: everything that turns estimates into something a person reads.

- :mod:`.figures` — matplotlib figures (each returns a Figure/Axes, never calls ``plt.show()``);
- :mod:`.tables` — tables for people, the verdict card, key values, paragraphs: the public names
  of :mod:`.table_base` (the rules every table follows), :mod:`.summary_tables`,
  :mod:`.impact_tables`, :mod:`.verdict_card` and :mod:`.paragraphs`;
- :mod:`.recording` — headline numbers recorded into a run's ``metrics.json``, money in the
  ``currency=`` passed (else the run's default, :func:`.recording.set_currency`);
- :mod:`.impact` — the words, HTML, method notes and ``metrics.json`` entries of an impact result
  (:class:`retention_lab.impact.ImpactResult`), as functions of the result;
- :mod:`.monitor`, :mod:`.targeting` — the words, tables and recording of a holdout monitor and
  of a targeting study.

Imports inside the layer run one way: ``recording`` ← ``table_base`` ← the other tables ←
``tables`` ← ``monitor`` / ``targeting``; ``figures`` use ``recording`` for the currency only.

Estimation (``survival``, ``clv``, ``metrics``, ``impact``, ``targeting``, ``monitor``) never
imports this package; lifelines-style ``plot()`` / ``print_summary()`` methods on fitted objects
import it when called.
"""
from __future__ import annotations

import importlib

from . import recording, tables

__all__ = ["figures", "impact", "monitor", "recording", "tables", "targeting"]
#: imported when first used: figures cost matplotlib (~0.5 s), the others their estimation package
_LAZY = ("figures", "impact", "monitor", "targeting")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
