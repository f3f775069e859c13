"""matplotlib figures. Every function returns a Figure (or takes/returns Axes) and never calls
``plt.show()``; one module per area. The public figure names are listed here, once."""
from .clv import (
    plot_calibration_purchases_vs_holdout_purchases,
    plot_clv_distribution,
    plot_cumulative_transactions,
    plot_frequency_recency_matrix,
    plot_period_transactions,
    plot_probability_alive_matrix,
    plot_retention_projection,
)
from .event_study import plot_event_study
from .impact import (
    plot_balance,
    plot_effect_summary,
    plot_metric_levels,
    plot_propensity_overlap,
    plot_retention_curves,
    plot_segment_forest,
)
from .metrics import cohort_heatmap, nps_bar, segment_bar
from .monitor import plot_confidence_sequences, plot_plan_vs_actual
from .survival import (
    plot_churn_calibration,
    plot_hazard_ratios,
    plot_ph_diagnostics,
    plot_retention_by_group,
)
from .targeting import plot_policy_values, plot_qini

__all__ = [
    # business metrics
    "cohort_heatmap", "segment_bar", "nps_bar",
    # customer lifetime value
    "plot_calibration_purchases_vs_holdout_purchases", "plot_cumulative_transactions",
    "plot_frequency_recency_matrix", "plot_probability_alive_matrix", "plot_period_transactions",
    "plot_clv_distribution", "plot_retention_projection",
    # churn (survival)
    "plot_retention_by_group", "plot_hazard_ratios", "plot_ph_diagnostics",
    "plot_churn_calibration",
    # loyalty-programme impact
    "plot_effect_summary", "plot_segment_forest", "plot_balance", "plot_propensity_overlap",
    "plot_retention_curves", "plot_metric_levels", "plot_event_study",
    # running holdout, targeting
    "plot_confidence_sequences", "plot_plan_vs_actual", "plot_qini", "plot_policy_values",
]
