"""The impact report's method notes: the assumptions each analysis rests on, in plain language
(randomized: ITT and Wald/IV; one launch date: doubly robust ATT against eligible non-members;
rolling enrolment: sequential trial emulation)."""
from __future__ import annotations


def assumptions(res) -> list:
    """The method notes of an :class:`~retention_lab.impact.result.ImpactResult`."""
    return _assumptions(res.design, res.settings)


def _rolling_assumptions(s: dict) -> list:
    """Method notes of the rolling-enrolment analysis (:mod:`.rolling`): every window starts at
    the customer's own index date, not at the launch."""
    h = s["horizon"]
    return [
        "Estimand — effect on members (ATT) at enrolment: how members' behaviour in the "
        f"{h} days after their own enrolment differs from what the same members would have done "
        "without the programme.",
        "Rolling enrolment, analysed as a sequence of emulated trials (one per month): each "
        "member is compared, at their enrolment purchase, with customers not yet enrolled who "
        "bought in the same month, using the history both had at that moment (purchases and "
        "spend so far, tenure, days since the previous purchase, mean time between purchases, "
        "customer attributes). Members who enrolled too late for a complete window are left "
        "out and counted.",
        "Doubly robust: propensity (odds) weights from that history plus an outcome regression "
        "on it; right if either model is right. Standard errors are clustered by customer, "
        "because a customer can be a comparison in several trials: a delete-one-customer "
        "jackknife (NPS and CSAT: the sandwich, their surveyed rows per trial being few).",
        "Comparison customers who enrol later count up to and including their enrolment "
        "purchase (made as a non-member); the rest of their window is completed with their "
        "expected untreated purchases from a BG/NBD model of pre-enrolment histories "
        "(g-computation), whose uncertainty the intervals carry.",
        "This rests on no unmeasured confounding given that history: a trait that drives both "
        "joining and buying, and that the history does not reveal, biases the effect. The "
        "identification checks fail when members have too little history before enrolment or "
        "overlap is poor; then the report makes no causal claim.",
        "The event study (by month since enrolment) compares members with not-yet-enrolled "
        "customers without adjusting for history; enrolment at checkout selects on recent "
        "activity, so its placebo months often differ. It is shown as a diagnostic and does "
        "not carry the headline.",
        f"Retention = a purchase in the {s['retention_days']} days after the window.",
        f"Every interval is a {1 - s['alpha']:.0%} interval; p-values are two-sided.",
        "CLV comes from one BG/NBD with membership as a time-varying covariate: each member "
        "projected with membership on and switched off. The interval is for these members' "
        "expected CLV difference (parameter uncertainty and customer sampling).",
        "ROI counts rewards, a cost per enrolment and fixed costs within the horizon, against "
        "the margin on incremental spend.",
    ]


def _assumptions(design: str, s: dict) -> list:
    if s.get("analysis") == "rolling":
        return _rolling_assumptions(s)
    h = s["horizon"]
    common = [
        f"Outcomes are measured in the {h} days from the launch ({s['launch'].date()}); "
        f"retention = bought again after day {h}, up to the observation end "
        f"({s['observation_end'].date()}).",
        f"Every interval is a {1 - s['alpha']:.0%} interval; p-values are two-sided.",
        "ROI counts rewards (a share of members' spend), a cost per enrolment and fixed costs "
        "within the horizon, against the margin on incremental spend; it ignores effects beyond "
        "the horizon (see CLV).",
        "CLV comes from BG/NBD + Gamma-Gamma models fitted to each group's whole history; these "
        "assume stationary behaviour, so they understate a change that began at enrolment.",
    ]
    if design == "randomized":
        return [
            "Estimand 1 — intention to treat (ITT): the effect of inviting a customer, "
            "averaged over everyone invited, whether they joined or not. It rests only on the "
            "randomization (checked: sample ratio and covariate balance).",
            "Estimand 2 — effect on members: the effect of the programme on customers who join "
            "when invited (compliers), by the Wald/IV estimator ITT ÷ take-up. It assumes the "
            "invitation changes behaviour only through joining (exclusion restriction) and "
            "that nobody joins only because they were not invited (monotonicity).",
            "CUPED: each effect is adjusted for pre-launch orders, spend, tenure, recency and "
            "customer attributes; this narrows intervals without changing what is estimated.",
            "The hazard ratio is an average over time; when the proportional-hazards check "
            "fails, rely on retention at the horizon and RMST.",
        ] + common
    return [
        "Estimand — effect on members (ATT): how members' behaviour differs from what the same "
        "members would have done without the programme.",
        "Members chose to join, so they are compared only with customers who also bought after "
        "the launch (who had the same chance to join — this removes the immortal-time bias of "
        "counting members' guaranteed pre-enrolment activity), weighted by inverse-probability "
        "(propensity) weights built from pre-launch behaviour and customer attributes, plus a "
        "regression on the same attributes that mops up remaining differences (doubly robust: "
        "right if either the propensity or the outcome model is right).",
        "This rests on three assumptions that the data cannot fully prove: no unmeasured "
        "confounding (given pre-launch behaviour and attributes, who joined is as good as "
        "random), overlap (every kind of member has comparable non-members — checked, extreme "
        "scores trimmed) and a correct propensity model (checked with the weighted balance "
        "table).",
        "The time-varying Cox model counts a member's time before enrolment as non-member time, "
        "which removes immortal-time bias from the hazard ratio; it does not remove "
        "self-selection on unmeasured traits.",
        "Difference-in-differences compares the change from pre-launch purchase rates; it "
        "assumes weighted members and non-members would have changed alike without the "
        "programme (parallel trends).",
        "The naive members-vs-non-members comparison is shown only to show its bias.",
        "Sensitivity to unmeasured confounding: the E-value of each effect on members is the "
        "risk-ratio association an unmeasured trait would need with both joining and the outcome, "
        "beyond the measured covariates, to explain the effect away (VanderWeele & Ding 2017); it "
        "is set beside the strongest measured covariate's associations given the other "
        "covariates, and the shift of the estimate when that covariate is left out "
        "(benchmarking as in Cinelli & Hazlett 2020). It bounds the worst case; it does not "
        "estimate the bias, and benchmarks cannot show that no stronger confounder is missing.",
    ] + common
