"""Wall time of the survival fits on the simulated loyalty study (a short run: two sizes).

Prints one row per (customers, step): seconds and rows handed to lifelines after collapsing.
"""
from __future__ import annotations

import time

import retention_lab as rl


def main(sizes=(5_000, 20_000)) -> None:
    rows = []
    for n in sizes:
        data = rl.datasets.simulate_loyalty_experiment(n_customers=n, design="self_selected",
                                                       seed=1)
        churn = rl.survival.churn_frame(data, 90, columns=["acquisition_channel", "region"])
        steps = {
            "Kaplan–Meier by channel": lambda: rl.survival.RetentionCurves().fit(
                churn, "acquisition_channel"),
            "Cox + PH check (+ fallback)": lambda: rl.survival.ChurnCoxModel().fit(
                churn, ["acquisition_channel", "region"]),
            "enrolment_effect (no covariates)": lambda: rl.survival.enrolment_effect(data, 90),
            "enrolment_effect (+ channel)": lambda: rl.survival.enrolment_effect(
                data, 90, covariates=["acquisition_channel"]),
            "parametric AIC choice": lambda: rl.survival.ParametricRetention().fit(churn),
            "holdout C + calibration": lambda: rl.survival.holdout_evaluation(
                churn, ["acquisition_channel", "region"], 90),
        }
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            rows.append((n, name, time.perf_counter() - t0))
    print(f"{'customers':>10}  {'step':<36} {'seconds':>8}")
    for n, name, sec in rows:
        print(f"{n:>10,}  {name:<36} {sec:>8.2f}")


if __name__ == "__main__":
    main()
