"""``simulate_targeting_campaign``: a randomized retention offer with known per-customer effects.

The generative model (time in months; the pre-period summary in weeks, BTYD conventions)
-----------------------------------------------------------------------------------------
* **Customers before the campaign.** Acquisition channel (``app`` / ``web`` / ``store``), age
  ``T`` ~ U(26, 156) weeks, a weekly purchase rate ``λ ~ Gamma(1.5, 0.08)`` × channel factor and a
  mean order value ``m ~ Gamma(3, m̄/3)`` × channel factor. The pre-period summary holds
  ``frequency`` ~ Poisson(λT) repeat purchases, ``recency`` (age at the last one: ``T·U^{1/x}``)
  and ``monetary_value`` (mean of the ``x`` order values). Everybody is a current customer, but
  35 % went quiet at a uniform time of their history (purchase rate × 0.1 from then on), which
  the BTYD models see as a possible dropout.
* **Lapse.** A customer closes their account (a recorded lapse) at an exponential time with
  monthly hazard ``h₀ = 0.02 · exp(0.7·z_gap − 0.3·z_rate + 0.6·quiet + channel)``, where
  ``z_gap`` is the standardized log time since the last purchase and ``z_rate`` the standardized
  log purchase rate: churn risk is visible in the data (and in BG/NBD's P(alive)).
* **The offer** is sent to each customer with the known probability ``treat_share`` (the
  campaign's randomization). It multiplies the hazard by ``exp(−b)`` and the purchase rate by
  ``1 + 0.15·s``, with responsiveness ``s ∈ [0, 1]`` rising with order value and the app channel;
  ``b = effect_size·s·(1 − 0.8·Φ((log h₀ − q₇₀)/0.3))``: the riskiest ~30 % of customers are
  **largely unresponsive** (Ascarza 2018), so ranking by churn risk is not ranking by effect.
  ``effect="none"`` sets ``b = 0`` and no spend lift (no effect for anyone).
* **Outcomes after assignment.** While alive, Poisson purchases at rate ``λ`` (×4.345 per month)
  with Gamma(4) order values of mean ``m``: ``clv_12m`` = their value discounted at
  ``discount_rate`` a month over 12 months (realised discounted spend: the money outcome),
  ``spend_3m`` = undiscounted spend in the first 3 months. Both windows are observed for everyone
  (follow-up ≥ 12 months). The lapse is observed up to a follow-up ``F ~ U(12, f_max)``
  (staggered sends, one data cut): ``duration = min(lapse, F)``, ``lapsed`` = lapse observed;
  retention to ``horizon`` (18 months) is censored for customers still active at ``F`` <
  ``horizon`` (``f_max`` is set so that about ``censoring`` of customers are; 0 = none).

The truth (``truth``, per customer, from the latent λ, m, h₀ and b)
------------------------------------------------------------------
``tau_clv = E[clv₁ − clv₀]`` = ``m(λ₁I₁ − λ₀I₀)`` with ``I_a = (1 − e^{−(h_a+δ)12})/(h_a+δ)``,
``δ = log(1 + discount_rate)``; ``tau_retention = e^{−h₁H} − e^{−h₀H}``;
``tau_spend = m(λ₁J₁ − λ₀J₀)``, ``J_a = (1 − e^{−3h_a})/h_a``; plus ``mu0_*`` (the untreated
means) and ``responsiveness`` ``s``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

CHANNELS = np.array(["app", "web", "store"])
WEEKS_PER_MONTH = 4.345


@dataclass
class TargetingCampaign:
    """A simulated randomized campaign: ``customers`` (one row per customer, index
    ``customer_id``: covariates, the pre-period BTYD summary, ``treated``, ``propensity`` and
    the outcomes), ``truth`` (per-customer true effects) and ``params``."""

    customers: pd.DataFrame
    truth: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def censored_share(self) -> float:
        """Share of customers whose retention at the horizon is unknown (censored before it)."""
        c = self.customers
        h = self.params["horizon"]
        return float(((c["lapsed"] == 0) & (c["duration"] < h)).mean())


def _followup_max(censoring: float, horizon: float) -> float:
    # F ~ U(12, f_max): share censored = P(F < H)·P(alive at F | F < H) ≈ P(F < H)·0.67 for this
    # lapse model (0.67 measured on 100k customers; censoring=0.3 gives 0.300 there)
    if censoring <= 0:
        return 12.0
    return float(12 + (horizon - 12) / min(0.999, censoring / 0.67))


def simulate_targeting_campaign(n_customers: int = 20_000, *, seed: int = 1,
                                effect: str = "heterogeneous", effect_size: float = 0.9,
                                treat_share: float = 0.5, censoring: float = 0.3,
                                horizon: float = 18.0, discount_rate: float = 0.01,
                                mean_order_value: float = 40.0) -> TargetingCampaign:
    """Simulate a randomized retention offer (see the module docstring for the model).

    ``effect``: ``"heterogeneous"`` (default) or ``"none"``. ``censoring``: the target share of
    customers censored before ``horizon`` months (0 = follow everyone to the horizon).
    """
    if effect not in ("heterogeneous", "none"):
        raise ValueError("effect must be 'heterogeneous' or 'none'")
    if not 0 < treat_share < 1:
        raise ValueError("treat_share must be in (0, 1)")
    n = int(n_customers)
    rng = np.random.default_rng(seed)
    ch = rng.choice(3, size=n, p=[0.35, 0.40, 0.25])
    T = rng.uniform(26, 156, n)
    lam = rng.gamma(1.5, 0.08, n) * np.array([1.3, 1.0, 0.8])[ch]          # per week
    m = rng.gamma(3.0, mean_order_value / 3.0, n) * np.array([0.9, 1.0, 1.25])[ch]
    # some customers went quiet before the campaign (rate × 0.1 from a uniform time on)
    dormant = rng.uniform(size=n) < 0.35
    td = np.where(dormant, T * rng.uniform(size=n), T)
    k1 = rng.poisson(lam * td)
    k2 = rng.poisson(0.1 * lam * (T - td))
    x = (k1 + k2).astype(float)
    u = rng.uniform(size=n)
    recency = np.where(k2 > 0, td + (T - td) * u ** (1.0 / np.maximum(k2, 1)),
                       np.where(k1 > 0, td * u ** (1.0 / np.maximum(k1, 1)), 0.0))
    # mean of x Gamma(4, m/4) order values = Gamma(4x, m/(4x))
    mv = np.where(x > 0, rng.gamma(np.maximum(4 * x, 1e-9), m / np.maximum(4 * x, 1)), 0.0)
    gap = np.log1p(T - recency)
    rate = np.log((x + 0.5) / T)
    z_gap = (gap - gap.mean()) / gap.std()
    z_rate = (rate - rate.mean()) / rate.std()
    h0 = 0.02 * np.exp(0.7 * z_gap - 0.3 * z_rate + 0.6 * dormant
                       + np.array([-0.1, 0.0, 0.15])[ch])
    s = expit(1.4 * np.log(m / mean_order_value) + 1.2 * (ch == 0) - 0.3)
    if effect == "none":
        b = np.zeros(n)
        lift = np.zeros(n)
    else:
        q70 = np.quantile(np.log(h0), 0.7)
        b = effect_size * s * (1 - 0.8 * norm.cdf((np.log(h0) - q70) / 0.3))
        lift = 0.15 * s
    a = rng.binomial(1, treat_share, n)
    h1 = h0 * np.exp(-b)
    lam_m0 = lam * WEEKS_PER_MONTH
    lam_m1 = lam_m0 * (1 + lift)
    h_obs = np.where(a == 1, h1, h0)
    lam_obs = np.where(a == 1, lam_m1, lam_m0)
    life = rng.exponential(1 / h_obs)
    # purchases in the 12 months after assignment while alive
    alive12 = np.minimum(life, 12.0)
    k = rng.poisson(lam_obs * alive12)
    owner = np.repeat(np.arange(n), k)
    t = rng.uniform(size=owner.size) * alive12[owner]
    amt = rng.gamma(4.0, m[owner] / 4.0)
    delta = np.log1p(discount_rate)
    clv = np.bincount(owner, weights=amt * np.exp(-delta * t), minlength=n)
    spend3 = np.bincount(owner, weights=amt * (t < 3), minlength=n)
    if censoring > 0:
        f = rng.uniform(12.0, _followup_max(censoring, horizon), n)
    else:
        f = np.full(n, horizon + 1e-9)
    duration = np.minimum(life, f)
    lapsed = (life <= f).astype(int)

    def i12(h):
        return (1 - np.exp(-(h + delta) * 12)) / (h + delta)

    def j3(h):
        return (1 - np.exp(-3 * h)) / h

    ids = pd.Index([f"C{i:07d}" for i in range(n)], name="customer_id")
    customers = pd.DataFrame({
        "channel": pd.Categorical(CHANNELS[ch], categories=list(CHANNELS)),
        "frequency": x, "recency": recency, "T": T, "monetary_value": mv,
        "treated": a, "propensity": treat_share,
        "clv_12m": clv, "spend_3m": spend3, "duration": duration, "lapsed": lapsed,
    }, index=ids)
    mu0_clv = m * lam_m0 * i12(h0)
    truth = pd.DataFrame({
        "tau_clv": m * (lam_m1 * i12(h1) - lam_m0 * i12(h0)),
        "tau_retention": np.exp(-h1 * horizon) - np.exp(-h0 * horizon),
        "tau_spend": m * (lam_m1 * j3(h1) - lam_m0 * j3(h0)),
        "mu0_clv": mu0_clv, "mu0_retention": np.exp(-h0 * horizon),
        "mu0_spend": m * lam_m0 * j3(h0),
        "hazard": h0, "responsiveness": s, "retained_uncensored": (life > horizon).astype(int),
    }, index=ids)
    params = dict(n_customers=n, seed=seed, effect=effect, effect_size=effect_size,
                  treat_share=treat_share, censoring=censoring, horizon=horizon,
                  discount_rate=discount_rate, summary_unit="W", mean_order_value=mean_order_value)
    return TargetingCampaign(customers, truth, params)
