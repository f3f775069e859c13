"""The error raised for input that breaks the data contract, and the data-quality ledger.

Two ways a rule can be enforced (DESIGN.md, "Data contract"):

* **error** — the input cannot be analysed as it is: :class:`DataError`, whose message names the
  table, the column, the rule and how many rows broke it, with a few example rows;
* **exclusion** — a documented policy removes or changes rows (returns netted or excluded,
  transactions after the observation end, …): the rows are counted in a :class:`DataQuality`
  ledger that the caller gets back and every report shows. No row disappears uncounted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


class DataError(ValueError):
    """Input data breaks a rule of the data contract.

    Attributes
    ----------
    table, column, rule : str
        Where and which rule.
    n_rows : int
        How many rows break it.
    examples : pandas.DataFrame or None
        A few offending rows (at most five).
    """

    def __init__(self, message: str, *, table: str | None = None, column: str | None = None,
                 rule: str | None = None, n_rows: int | None = None,
                 examples: pd.DataFrame | None = None):
        self.table, self.column, self.rule = table, column, rule
        self.n_rows, self.examples = n_rows, examples
        full = message
        if examples is not None and len(examples):
            full += "\nExamples:\n" + examples.head(5).to_string()
        super().__init__(full)

    @classmethod
    def for_rule(cls, table: str, column: str, rule: str, bad: pd.Series | int,
                 frame: pd.DataFrame | None = None, total: int | None = None) -> "DataError":
        """Build the standard message: ``table.column: N of M rows break the rule '…'``."""
        if isinstance(bad, pd.Series):
            n = int(bad.sum())
            examples = frame.loc[bad.to_numpy()].head(5) if frame is not None else None
            total = len(bad) if total is None else total
        else:
            n, examples = int(bad), None
        of = f" of {total:,}" if total is not None else ""
        msg = f"{table}.{column}: {n:,}{of} rows break the rule '{rule}'"
        return cls(msg, table=table, column=column, rule=rule, n_rows=n, examples=examples)


class RetentionLabWarning(UserWarning):
    """Base class of the warnings retention_lab emits: a report can collect them (filter on this
    class) and show them next to the numbers they qualify."""


class ConvergenceWarning(RetentionLabWarning, RuntimeWarning):
    """A fit finished but is doubtful (optimiser stopped early, singular information matrix, …)."""


class BoundaryWarning(ConvergenceWarning):
    """An estimate ran to the boundary of the parameter space (a parameter to 0 or ∞, a
    coefficient to ±∞): the data do not identify it; its standard error and p-value are not
    ordinary inference. Fitted models flag such parameters (``summary['at_boundary']``)."""


class SeparationWarning(BoundaryWarning):
    """A covariate separates the events (e.g. lapses only in one group): the maximum-likelihood
    coefficient is infinite; any finite number shown for it is a penalised estimate."""


class DuplicateRowsWarning(UserWarning):
    """Exact duplicate transaction rows were kept (``duplicates="keep"``, the default of the
    readers): they are counted in the ledger; pass ``duplicates="drop"`` if they were loaded
    twice, or ``"error"`` to refuse them."""


@dataclass
class DataQuality:
    """A ledger of every row a documented policy excluded or changed.

    ``table`` gives one row per (table, rule) with the column, the count, the action and a
    note — the data-quality table that reports show.

    Summary tables keep the ledger in ``attrs["quality"]`` as :meth:`to_records` (JSON values,
    so the table saves to Parquet and Feather with it); :func:`quality` /
    :meth:`from_attrs` give the ledger back, also after a round trip through a file.
    """

    entries: list[dict] = field(default_factory=list)

    def record(self, table: str, column: str, rule: str, n_rows: int, action: str = "excluded",
               note: str = "") -> None:
        if n_rows:
            self.entries.append(dict(table=table, column=column, rule=rule, n_rows=int(n_rows),
                                     action=action, note=note))

    def to_records(self) -> list[dict]:
        """The entries as a list of plain dicts (JSON values)."""
        return [dict(e, n_rows=int(e["n_rows"])) for e in self.entries]

    @classmethod
    def from_records(cls, records) -> "DataQuality":
        """The ledger from :meth:`to_records` output (or a ``table`` DataFrame)."""
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        return cls([dict(r, n_rows=int(r["n_rows"])) for r in (records or [])])

    @classmethod
    def from_attrs(cls, obj) -> "DataQuality":
        """The ledger a summary table carries (``obj.attrs["quality"]``, or ``obj`` an attrs
        dict); an empty ledger when it carries none."""
        attrs = obj if isinstance(obj, dict) else getattr(obj, "attrs", {})
        value = attrs.get("quality")
        if isinstance(value, cls):
            return value
        return cls.from_records(value)

    def extend(self, other: "DataQuality") -> "DataQuality":
        self.entries.extend(other.entries)
        return self

    @property
    def table(self) -> pd.DataFrame:
        cols = ["table", "column", "rule", "n_rows", "action", "note"]
        return pd.DataFrame(self.entries, columns=cols)

    def n_excluded(self, table: str | None = None) -> int:
        return int(sum(e["n_rows"] for e in self.entries
                       if e["action"] == "excluded" and (table is None or e["table"] == table)))

    def __bool__(self) -> bool:  # an empty ledger is still a ledger
        return True

    def __len__(self) -> int:
        return len(self.entries)

    def _repr_html_(self) -> str:
        if not self.entries:
            return "<p>Data quality: every row passed every rule; nothing was excluded.</p>"
        return self.table.to_html(index=False)

    def __repr__(self) -> str:
        if not self.entries:
            return "DataQuality(no exclusions)"
        return "DataQuality\n" + self.table.to_string(index=False)


def quality(obj) -> DataQuality:
    """The data-quality ledger of a summary table (``rl.quality(summary)``): every row a
    documented policy excluded or changed while it was built — also for a table read back from
    Parquet or Feather. See :meth:`DataQuality.from_attrs`."""
    return DataQuality.from_attrs(obj)
