"""Tables and the verdict card, made for people: the one place their public names are listed.

Each concern has its module; this one re-exports their public names, so that
``from retention_lab.report.tables import effects_table`` (and the old
``rl.presentation.<name>``) keep working:

- :mod:`.table_base` — :class:`Table`, :func:`table`, :func:`key_values`, metric labels and
  display kinds: the rules every table follows (no index, no scientific notation, intervals as
  ``[a, b]``, methods as footnotes);
- :mod:`.summary_tables` — the data a report analysed, metrics with intervals, a Cox model's
  hazard ratios, the numbers recorded for ``metrics.json``;
- :mod:`.impact_tables` — an impact study's effects, checks, ROI, power, context and
  sensitivity tables;
- :mod:`.verdict_card` — the verdict card and the ROI sentence;
- :mod:`.paragraphs` — plain sentences as wrapped paragraphs.

Every function that shows money takes ``currency=``; without it, the run's default
(:func:`retention_lab.report.recording.set_currency`).
"""
from __future__ import annotations

from .impact_tables import (
    RETENTION_VALUE_FORMATS,
    RETENTION_VALUE_LABELS,
    ROI_FORMATS,
    ROI_LABELS,
    checks_table,
    context_table,
    effect_text,
    effects_table,
    power_table,
    retention_value_table,
    roi_table,
    sensitivity_table,
)
from .paragraphs import Paragraphs, paragraphs
from .summary_tables import (
    UNIT_KINDS,
    data_summary,
    hazard_ratio_table,
    metrics_table,
    quality_table,
    recorded_table,
    unit_kind,
    wide_estimates,
)
from .table_base import (
    CI_LABEL,
    CI_PAIRS,
    COUNT_COLUMNS,
    ESTIMATE_COLUMNS,
    METRIC_KINDS,
    METRIC_LABELS,
    MISSING_NOTE,
    P_COLUMNS,
    SHORT_LABELS,
    SHORT_TEXT,
    Table,
    key_values,
    kind_of_metric,
    metric_label,
    table,
)
from .verdict_card import (
    CLAIM_COLOURS,
    CLAIM_LABELS,
    EVIDENCE_LABELS,
    HEADLINE_METRICS,
    VerdictCard,
    claim_label,
    roi_sentence,
    verdict_card,
)

__all__ = [
    # the rules every table follows
    "Table", "table", "key_values", "metric_label", "kind_of_metric",
    "CI_LABEL", "CI_PAIRS", "COUNT_COLUMNS", "ESTIMATE_COLUMNS", "METRIC_KINDS", "METRIC_LABELS",
    "MISSING_NOTE", "P_COLUMNS", "SHORT_LABELS", "SHORT_TEXT",
    # data, models, recorded numbers
    "data_summary", "quality_table", "metrics_table", "wide_estimates", "hazard_ratio_table",
    "recorded_table", "unit_kind", "UNIT_KINDS",
    # an impact study
    "effects_table", "effect_text", "checks_table", "roi_table", "retention_value_table",
    "power_table", "context_table", "sensitivity_table", "ROI_FORMATS", "ROI_LABELS",
    "RETENTION_VALUE_FORMATS", "RETENTION_VALUE_LABELS",
    # the verdict card
    "VerdictCard", "verdict_card", "roi_sentence", "claim_label", "HEADLINE_METRICS",
    "CLAIM_LABELS", "CLAIM_COLOURS", "EVIDENCE_LABELS",
    # sentences
    "Paragraphs", "paragraphs",
]
