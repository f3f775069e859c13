"""Per-customer treatment effects (CATE) of an offer: a cross-fitted DR-learner, and the IPCW
pseudo-outcome that lets it learn effects on retention to a horizon under censoring.

DR-learner (Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous causal
effects", Electron. J. Statist. 17, Algorithm 1; cross-fitting as in Chernozhukov et al. 2018).
The customers are split into ``K`` folds. For each fold, the outcome models ``μ₀(x)``, ``μ₁(x)``
(and the propensity ``e(x)`` when it is not known) are fitted on the other folds and predict the
fold, which gives every customer the doubly robust (evaluation) scores

    Γ₁ = μ₁ + A(Y − μ₁)/e,   Γ₀ = μ₀ + (1 − A)(Y − μ₀)/(1 − e),   Γ = Γ₁ − Γ₀,

whose mean given ``X`` is the CATE ``τ(x)`` if either the outcome models or the propensity are
right (in a randomized campaign ``e`` is known, so ``Γ`` is unbiased whatever ``μ`` is). The
second stage regresses pseudo-outcomes ``Γ`` on ``X`` and is cross-fitted too: the CATE of a
customer in fold ``k`` (``cate_``) comes from a model trained on the other folds, whose
pseudo-outcomes come from nuisance models that never saw fold ``k`` either (for the rows of
fold ``m``, models trained without folds ``k`` and ``m``: ``K + K(K−1)/2`` nuisance fits per
arm). A rule built from ``cate_`` is then a function of the other folds only and is evaluated
honestly on fold ``k``'s scores (:mod:`retention_lab.targeting.policy`). (The simpler scheme —
second stage on the evaluation scores of the other folds, whose nuisances did see fold ``k`` —
lets fold ``k``'s outcomes into its own ranking; it is avoided by construction, not because a
test showed a difference.)

Why scikit-learn and not econml / causalml. The learner above is a page of code around two
regressions. econml 0.17 (``DRLearner``) and causalml 0.18 implement the same estimator, but
install much more than we use (econml brings shap and sparse and has historically capped the
scikit-learn version; causalml compiles its own trees and carries many learners), and neither
returns out-of-fold *second-stage* predictions paired with held-out scores, which the policy
value and the RATE test below need — we would wrap them in the same cross-fitting loop anyway.
``HistGradientBoostingRegressor`` (histogram gradient boosting,
scikit-learn ≥ 1.0) handles a million rows in seconds, needs no scaling and accepts missing
values. scikit-learn is the ``targeting`` extra (and part of ``dev``); without it this module
raises an ImportError that says how to install it. Any scikit-learn regressor can be passed as
``nuisance`` / ``final``.

Censoring (retention to a horizon ``H``). A customer's retention ``1{T > H}`` is known if they
lapsed before ``H`` or were followed past it; otherwise it is censored. The IPCW outcome
``Ỹ = 1{followed past H} / Ĝ_A(H−)`` (Robins & Rotnitzky 1992; for CATE, e.g. Cui et al.
2023, JRSS-B 85:179) has ``E[Ỹ | X, A] = P(T > H | X, A)`` when censoring is independent of the
lapse time given the arm, with ``Ĝ_A`` the Kaplan–Meier estimate of the censoring survival in
arm ``A``. Feeding ``Ỹ`` to the DR-learner gives retention effects in share points. The naive
alternative — dropping censored customers — under-counts the retained (they are exactly the
ones still active when follow-up ended) and is shown for contrast only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

INSTALL_HINT = ("retention_lab.targeting needs scikit-learn: pip install 'retention-lab[targeting]' "
                "(or 'scikit-learn>=1.3')")


def require_sklearn():
    """Import scikit-learn or raise an ImportError that says how to install it."""
    try:  # scikit-learn is an optional extra (retention-lab[targeting]): imported on use
        import sklearn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised with a patched import in tests
        raise ImportError(INSTALL_HINT) from exc
    return sklearn


def default_nuisance(seed: int = 0):
    """The outcome-model default: histogram gradient boosting, lightly regularised."""
    require_sklearn()
    from sklearn.ensemble import HistGradientBoostingRegressor  # optional extra: on use
    return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                         min_samples_leaf=40, l2_regularization=1.0,
                                         early_stopping=False, random_state=seed)


def default_final(seed: int = 0):
    """The second-stage default: shallow, slow boosting (pseudo-outcomes are very noisy)."""
    require_sklearn()
    from sklearn.ensemble import HistGradientBoostingRegressor  # optional extra: on use
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.03, max_depth=3,
                                         min_samples_leaf=200, l2_regularization=5.0,
                                         early_stopping=False, random_state=seed)


def design_matrix(frame: pd.DataFrame, columns=None) -> tuple[np.ndarray, list[str]]:
    """Numeric covariates as they are, categorical / text / boolean ones one-hot encoded
    (every level kept); missing numeric values stay NaN (the boosting models route them)."""
    frame = frame if columns is None else frame[list(columns)]
    parts, names = [], []
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or s.dtype == bool \
                or pd.api.types.is_string_dtype(s):
            d = pd.get_dummies(s.astype("category"), prefix=str(col), dtype=float)
            parts.append(d.to_numpy())
            names += list(d.columns)
        else:
            parts.append(pd.to_numeric(s, errors="coerce").to_numpy(float)[:, None])
            names.append(str(col))
    if not parts:
        raise DataError("targeting: no covariates to learn effects from", table="customers",
                        column="(covariates)", rule="at least one covariate")
    return np.hstack(parts), names


def make_folds(n: int, n_folds: int, seed) -> np.ndarray:
    """A random fold label 0..K−1 per row (sizes differ by at most one)."""
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    fold[rng.permutation(n)] = np.arange(n) % n_folds
    return fold


def censoring_survival(duration, event, at: float) -> float:
    """Kaplan–Meier estimate of the censoring survival ``G(at−) = P(C ≥ at)``: the "events" are
    the censorings (``event == 0``); a lapse and a censoring at the same time count the lapse
    first (the usual convention)."""
    d = np.asarray(duration, float)
    cens = np.asarray(event) == 0
    times = np.unique(d[cens & (d < at)])
    if times.size == 0:
        return 1.0
    order = np.sort(d)
    at_risk = d.size - np.searchsorted(order, times, side="left")
    n_cens = np.bincount(np.searchsorted(times, d[cens & (d < at)]), minlength=times.size)
    return float(np.prod(1.0 - n_cens / at_risk))


def retention_outcomes(duration, event, treated, horizon: float) -> dict:
    """Retention to ``horizon`` from (duration, lapse event): the IPCW outcome (arm-wise KM
    censoring weights, module docstring), the naive complete-case outcome (NaN where censored),
    which rows are censored, and the censoring survival of each arm."""
    d = np.asarray(duration, float)
    e = np.asarray(event).astype(int)
    a = np.asarray(treated).astype(int)
    beyond = d >= horizon
    censored = (~beyond) & (e == 0)
    g = {arm: censoring_survival(d[a == arm], e[a == arm], horizon) for arm in (0, 1)}
    weight = np.where(a == 1, 1 / g[1], 1 / g[0])
    ipcw = beyond * weight
    naive = np.where(censored, np.nan, beyond.astype(float))
    return dict(ipcw=ipcw, naive=naive, censored=censored, g=g, weight=weight)


class DRLearner:
    """Cross-fitted DR-learner of the CATE (see the module docstring).

    Parameters
    ----------
    n_folds : folds for cross-fitting the nuisance models and the second stage.
    nuisance, final : scikit-learn regressors (cloned per fit); defaults
        :func:`default_nuisance` and :func:`default_final`.
    propensity_clip : estimated propensities are clipped to [clip, 1 − clip].
    seed : folds and model seeds.
    n_threads : OpenMP threads of the boosting models (default 1: on a shared or busy machine
        more threads oversubscribe the cores and run far slower; raise it on a dedicated one).

    Fitted attributes
    -----------------
    cate_ : out-of-fold CATE per row (second stage trained on the other folds).
    scores_ : DR scores Γ = Γ₁ − Γ₀ (nuisances trained on the other folds).
    score1_, score0_ : Γ₁ and Γ₀. mu0_, mu1_, propensity_ : cross-fitted nuisance predictions.
    fold_ : fold of each row. final_models_ : the K second-stage models (for :meth:`predict`).
    ate_, ate_se_ : mean of Γ and its standard error.
    """

    def __init__(self, n_folds: int = 5, *, nuisance=None, final=None,
                 propensity_clip: float = 0.01, seed: int = 0, n_threads: int | None = 1):
        self.n_folds = n_folds
        self.nuisance = nuisance
        self.final = final
        self.propensity_clip = propensity_clip
        self.seed = seed
        self.n_threads = n_threads

    def _clone(self, model, default):
        from sklearn.base import clone  # optional extra (scikit-learn): imported on use
        return clone(model) if model is not None else default(self.seed)

    def fit(self, X, treated, y, propensity=None, *, folds=None) -> "DRLearner":
        require_sklearn()
        from threadpoolctl import threadpool_limits  # installed with scikit-learn (optional)
        with threadpool_limits(limits=self.n_threads):
            return self._fit(X, treated, y, propensity, folds)

    def _nuisance(self, X, a, y, train, test, known_e):
        """μ₀, μ₁ (and e, unless known) fitted on ``train`` rows, predicted on ``test`` rows."""
        out = []
        for arm in (0, 1):
            m = self._clone(self.nuisance, default_nuisance)
            rows = train & (a == arm)
            m.fit(X[rows], y[rows])
            out.append(m.predict(X[test]))
        if known_e is not None:
            e = known_e[test]
        else:
            # optional extra (scikit-learn): imported on use
            from sklearn.impute import SimpleImputer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
            pm = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
            pm.fit(X[train], a[train])
            e = np.clip(pm.predict_proba(X[test])[:, 1], self.propensity_clip,
                        1 - self.propensity_clip)
        mu0, mu1 = out
        yt, at = y[test], a[test]
        s1 = mu1 + at * (yt - mu1) / e
        s0 = mu0 + (1 - at) * (yt - mu0) / (1 - e)
        return mu0, mu1, e, s1, s0

    def _fit(self, X, treated, y, propensity, folds) -> "DRLearner":
        X = np.asarray(X, float)
        a = np.asarray(treated).astype(int)
        y = np.asarray(y, float)
        n = len(y)
        if X.shape[0] != n or a.shape[0] != n:
            raise ValueError("X, treated and y must have the same number of rows")
        if not np.isfinite(y).all():
            raise DataError.for_rule("customers", "outcome", "finite outcome",
                                     int((~np.isfinite(y)).sum()), total=n)
        for arm in (0, 1):
            if (a == arm).sum() < 2 * self.n_folds:
                raise DataError.for_rule("customers", "treated", f"at least {2 * self.n_folds} "
                                         f"customers in arm {arm}", int((a == arm).sum()), total=n)
        known_e = None
        if propensity is not None:
            known_e = np.broadcast_to(np.asarray(propensity, float), (n,)).copy()
            bad = ~((known_e > 0) & (known_e < 1))
            if bad.any():
                raise DataError.for_rule("customers", "propensity", "assignment probability "
                                         "strictly between 0 and 1", int(bad.sum()), total=n)
        fold = make_folds(n, self.n_folds, self.seed) if folds is None else np.asarray(folds)
        K = int(fold.max()) + 1
        mu0, mu1, e, s1, s0 = (np.empty(n) for _ in range(5))
        for k in range(K):  # evaluation scores: nuisances trained without fold k
            test = fold == k
            mu0[test], mu1[test], e[test], s1[test], s0[test] = self._nuisance(
                X, a, y, fold != k, test, known_e)
        scores = s1 - s0
        # second-stage pseudo-outcomes for the model of fold k: rows of fold m scored by
        # nuisances trained without folds k and m, so that the rule applied to fold k never
        # depends on fold k's outcomes (else its held-out value and the RATE test are optimistic)
        pseudo = {}
        for k in range(K):
            for m in range(k + 1, K):
                train = (fold != k) & (fold != m)
                for fit_for, rows in ((k, fold == m), (m, fold == k)):
                    *_, p1, p0 = self._nuisance(X, a, y, train, rows, known_e)
                    pseudo[fit_for, rows.nonzero()[0][0]] = (rows, p1 - p0)
        cate = np.empty(n)
        models = []
        for k in range(K):
            parts = [v for (kk, _), v in pseudo.items() if kk == k]
            rows = np.concatenate([r.nonzero()[0] for r, _ in parts])
            target = np.concatenate([t for _, t in parts])
            f = self._clone(self.final, default_final)
            f.fit(X[rows], target)
            cate[fold == k] = f.predict(X[fold == k])
            models.append(f)
        self.mu0_, self.mu1_, self.propensity_ = mu0, mu1, e
        self.score0_, self.score1_, self.scores_ = s0, s1, scores
        self.cate_, self.fold_, self.final_models_ = cate, fold, models
        self.ate_ = float(scores.mean())
        self.ate_se_ = float(scores.std(ddof=1) / np.sqrt(n))
        return self

    def predict(self, X) -> np.ndarray:
        """CATE of new customers: the mean of the K second-stage models."""
        from threadpoolctl import threadpool_limits  # installed with scikit-learn (optional)
        X = np.asarray(X, float)
        with threadpool_limits(limits=self.n_threads):
            return np.mean([m.predict(X) for m in self.final_models_], axis=0)
