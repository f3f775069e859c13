"""The impact report: :class:`ImpactReport`, an :class:`~.result.ImpactResult` (the numbers)
with lifelines-style methods that hand the words — sentences, HTML, the headline table,
``metrics.json`` entries, the printed summary — to the display layer
(:mod:`retention_lab.report.impact`), as lifelines hands printing to its ``Printer``.
Estimation never imports the display layer: each method imports it when called.

The display constants that lived here (``LABELS``, ``UNITS``, ``POINTS``, ``RATIO_METRICS``,
``estimate_text``, ``_assumptions`` …) are still importable from this module; they are looked
up in :mod:`retention_lab.report.impact` on first use.
"""
from __future__ import annotations

from dataclasses import dataclass

from .result import EFFECT_COLUMNS, PRIMARY, ImpactResult  # noqa: F401

#: names of the display layer that this module used to define (imported on use)
_DISPLAY_NAMES = ("LABELS", "UNITS", "POINTS", "RATIO_METRICS", "ALERT_LINES", "estimate_text",
                  "_assumptions", "_rolling_assumptions", "_fmt", "_pts", "_pct", "_float",
                  "_join", "_currency", "_ci")


def _display():
    """The display module :mod:`retention_lab.report.impact`."""
    # display layer: imported on use, estimation never depends on it
    from ..report import impact as display
    return display


def __getattr__(name):
    if name in _DISPLAY_NAMES:
        return getattr(_display(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Assumptions:
    """``report.assumptions``: the list given to the constructor, else the display layer's
    method notes for this result (:func:`retention_lab.report.impact.assumptions`)."""

    def __get__(self, obj, owner=None):
        if obj is None:
            return None   # the dataclass field's default
        given = obj.__dict__.get("_assumptions")
        return list(given) if given is not None else _display().assumptions(obj)

    def __set__(self, obj, value):
        obj.__dict__["_assumptions"] = value


@dataclass
class ImpactReport(ImpactResult):
    """The result of :func:`~retention_lab.impact.analyze` (:class:`~.result.ImpactResult`:
    effects, checks, settings and the verdict, keyed by id) with the report's words as methods:
    each delegates to :mod:`retention_lab.report.impact`. ``assumptions``: the method notes
    (plain-language list)."""

    assumptions: list | None = _Assumptions()

    #: kinds of :meth:`summary_lines` shown in red
    ALERT_LINES = ("fail", "not_identified")

    def roi_verdict(self, currency: str | None = None) -> str:
        """Whether the programme paid for itself within the horizon
        (:func:`retention_lab.report.impact.roi_verdict`)."""
        return _display().roi_verdict(self, currency)

    def summary_sentence(self, currency: str | None = None) -> str:
        """One sentence answering "did the programme work?" for the verdict card
        (:func:`retention_lab.report.impact.summary_sentence`)."""
        return _display().summary_sentence(self, currency)

    def measured_sentence(self) -> str:
        """The suggestive verdict's sentence
        (:func:`retention_lab.report.impact.measured_sentence`)."""
        return _display().measured_sentence(self)

    def fragility_sentence(self) -> str:
        """How strong an unmeasured difference would have to be to explain the headline away
        (:func:`retention_lab.report.impact.fragility_sentence`)."""
        return _display().fragility_sentence(self)

    def holdout_sentence(self, currency: str | None = None) -> str:
        """The randomized holdout that would settle a suggestive verdict
        (:func:`retention_lab.report.impact.holdout_sentence`)."""
        return _display().holdout_sentence(self, currency)

    def summary_text(self, currency: str | None = None) -> str:
        """Plain sentences for an executive summary
        (:func:`retention_lab.report.impact.summary_text`)."""
        return _display().summary_text(self, currency)

    def summary_lines(self, currency: str | None = None) -> list[tuple[str, str]]:
        """``(kind, sentence)`` of the executive summary
        (:func:`retention_lab.report.impact.summary_lines`)."""
        return _display().summary_lines(self, currency)

    def sensitivity_sentence(self) -> str:
        """The summary's sentence on unmeasured confounding
        (:func:`retention_lab.report.impact.sensitivity_sentence`)."""
        return _display().sensitivity_sentence(self)

    def sensitivity_text(self, currency: str | None = None) -> str:
        """The sensitivity section's paragraph
        (:func:`retention_lab.report.impact.sensitivity_text`)."""
        return _display().sensitivity_text(self, currency)

    def event_study_text(self, currency: str | None = None) -> str:
        """The event study beside the headline purchases effect
        (:func:`retention_lab.report.impact.event_study_text`)."""
        return _display().event_study_text(self, currency)

    def context_text(self, currency: str | None = None) -> str:
        """Measured lifts beside the quoted ranges, and the value of a retention gain
        (:func:`retention_lab.report.impact.context_text`)."""
        return _display().context_text(self, currency)

    def summary_html(self, currency: str | None = None) -> str:
        """The executive summary as HTML (:func:`retention_lab.report.impact.summary_html`)."""
        return _display().summary_html(self, currency)

    def checks_html(self) -> str:
        """The checks table as HTML (:func:`retention_lab.report.impact.checks_html`)."""
        return _display().checks_html(self)

    def headline_table(self, digits: int = 3):
        """Headline effects as rounded strings
        (:func:`retention_lab.report.impact.headline_table`)."""
        return _display().headline_table(self, digits)

    def record(self, prefix: str = "") -> dict:
        """Record the headline numbers for ``metrics.json``
        (:func:`retention_lab.report.impact.record`)."""
        return _display().record(self, prefix)

    def print_summary(self, file=None) -> None:
        """Print the summary, the effects and the checks
        (:func:`retention_lab.report.impact.print_summary`)."""
        _display().print_summary(self, file)
