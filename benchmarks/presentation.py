"""What the report's presentation costs beside the analysis it presents.

Builds the default impact report's analysis (20,000 simulated customers, randomized), then times
everything notebook 04 adds on top of it: the verdict card, every table of the formatting layer
(``rl.report.recording``) rendered to HTML, and every figure rendered to PNG as the inline backend does.
Prints the seconds of each part and its ratio to the analysis, measured in the same process.

    .venv/bin/python benchmarks/presentation.py [n_customers]
"""
from __future__ import annotations

import io
import sys
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import retention_lab as rl  # noqa: E402
from retention_lab.report import figures as plots  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(n_customers: int = 20_000) -> None:
    warnings.filterwarnings("ignore")
    rl.report.recording.set_currency("USD")
    data = rl.datasets.simulate_loyalty_experiment(n_customers=n_customers, design="randomized",
                                                   seed=1)
    report, t_analysis = timed(lambda: rl.impact.analyze(data, design="randomized", seed=1))

    def tables():
        r = report
        parts = [rl.report.tables.verdict_card(r),
                 *(rl.report.tables.effects_table(r.effects, m) for m in
                   (["purchases", "purchase rate"], ["spend", "aov"],
                    ["retention", "rmst", "lapse hazard ratio"], ["clv"], ["nps", "csat"])),
                 rl.report.tables.roi_table(r.roi), rl.report.tables.effects_table(r.segments),
                 rl.report.tables.context_table(r.context),
                 rl.report.tables.retention_value_table(r.retention_value),
                 rl.report.tables.power_table(r.power), rl.report.tables.checks_table(r.checks),
                 rl.report.tables.data_summary(data), rl.report.tables.quality_table(data.quality)]
        return [p._repr_html_() for p in parts]

    def figures():
        figs = [plots.plot_effect_summary(report.effects, "ITT"),
                plots.plot_metric_levels(report.effects, "purchases"),
                plots.plot_metric_levels(report.effects, "spend"),
                plots.plot_retention_curves(report.curves, horizon=365),
                plots.plot_segment_forest(report.segments, "purchases", "ITT"),
                plots.plot_balance(report.balance)]
        for f in figs:
            f.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        return figs

    _, t_tables = timed(tables)
    _, t_figures = timed(figures)
    print(f"analysis (rl.impact.analyze, n={n_customers:,}): {t_analysis:6.2f} s  (baseline 1.00)")
    print(f"verdict card + 16 tables as HTML:              {t_tables:6.2f} s  "
          f"(ratio {t_tables / t_analysis:.3f})")
    print(f"6 figures rendered to PNG:                     {t_figures:6.2f} s  "
          f"(ratio {t_figures / t_analysis:.3f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
