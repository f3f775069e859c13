"""The estimators every design shares: means with influence functions, outcomes, propensity and
balance, rate ratios, survival, CLV, surveys, power, ROI, heterogeneity, E-values and
sensitivity, the event study, and the checks that refuse a degenerate design."""
