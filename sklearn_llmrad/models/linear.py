"""A logistic regression that trusts the features a semantic prior expects to matter.

:class:`SemanticPriorLogisticRegression` standardises the features (statistics
of the training data), multiplies column ``j`` by ``w_j ** gamma`` -- ``w_j``
the weight a :class:`~sklearn_llmrad.prior.SemanticPrior` gives the feature's
name -- and fits an L2 logistic regression. Scaling a column by ``s`` divides
its effective L2 penalty by ``s**2``: features the prior trusts are shrunk
less (the penalty-factor view of LLM-Lasso, Zhang et al. 2025,
arXiv:2502.10648). ``gamma`` and ``C`` are chosen by stratified inner CV on the
training data only; ``gamma = 0`` (the plain model) is always a candidate, so
the prior is used only as far as the data support it.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..inner_cv import choose_candidate, stratified_folds
from ..metrics import rank_auc_scorer
from ..prior import prior_feature_weights
from ..scaling import training_quantiles

__all__ = ["SemanticPriorLogisticRegression"]

DEFAULT_CS = (0.001, 0.01, 0.1, 1.0, 10.0)


def _standardise(X, center=None, scale=None):
    if center is None:
        center = np.nanmedian(X, axis=0)
        center = np.where(np.isfinite(center), center, 0.0)
        filled = np.where(np.isnan(X), center, X)
        mean = filled.mean(axis=0)
        scale = filled.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        return (filled - mean) / scale, (center, mean, scale)
    median, mean, std = center
    return (np.where(np.isnan(X), median, X) - mean) / std, None


class SemanticPriorLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2 logistic regression on standardised features scaled by ``w_j ** gamma``.

    Parameters
    ----------
    prior : SemanticPrior, str, path-like or None, default=None
        The prior (or a directory saved by :meth:`SemanticPrior.save`). None:
        plain standardised L2 logistic regression with ``C`` chosen by inner CV.
    gamma : "auto" or float, default="auto"
        Trust in the prior. ``"auto"``: chosen with ``C`` among ``gammas`` by
        inner CV on the training data.
    gammas : tuple of float, default=(0, 2, 4, 8)
        Candidates for ``gamma="auto"``.
    Cs : tuple of float, default=(0.001, 0.01, 0.1, 1, 10)
        Candidate inverse L2 strengths, chosen by inner CV.
    cv : int or CV splitter, default=3
        Inner cross-validation (stratified, shuffled with ``random_state`` when an int;
        reduced to the rarer class's count, at least 2, on small training sets).
    scoring : str, default="roc_auc"
        Inner-CV criterion.
    max_iter : int, default=2000
        Iterations of the lbfgs solver.
    random_state : int or None, default=None
        Seeds the inner folds.

    Attributes
    ----------
    gamma_, C_ : float
        The chosen trust and inverse penalty.
    feature_weights_ : ndarray of shape (n_features,)
        ``w_j`` of the prior (ones without prior).
    coef_ : ndarray of shape (1, n_features)
        Coefficients on the standardised features (``w_j ** gamma`` folded in).
    intercept_ : ndarray of shape (1,)
    n_iter_ : ndarray of shape (1,)
        Solver iterations of the final fit.
    classes_ : ndarray
    cv_results_ : dict of str -> ndarray
        One entry per (gamma, C) candidate, as in ``GridSearchCV``: ``"gamma"``,
        ``"C"`` and ``"mean_test_score"`` (empty when there was nothing to choose).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    training_quantiles_ : ndarray of shape (101, n_features)
        The 0th, 1st, ..., 100th percentiles of each training column (NaN
        ignored): where a lesion's value lies in the training data
        (:func:`sklearn_llmrad.explain`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    >>> y = (X["a"] + 0.5 * rng.normal(size=80) > 0).astype(int)
    >>> clf = SemanticPriorLogisticRegression(random_state=0).fit(X, y)
    >>> clf.gamma_, clf.predict_proba(X).shape
    (0.0, (80, 2))
    """

    _parameter_constraints: dict = {
        # None, a fitted SemanticPrior or a saved prior folder (loaded and checked in fit)
        "prior": [None, HasMethods(["feature_weights"]), str, os.PathLike],
        "gamma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "gammas": [tuple, list],
        "Cs": [tuple, list],
        "cv": ["cv_object"],
        "scoring": [str, callable],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        prior=None,
        gamma="auto",
        gammas=(0.0, 2.0, 4.0, 8.0),
        Cs=DEFAULT_CS,
        cv=3,
        scoring="roc_auc",
        max_iter=2000,
        random_state=None,
    ):
        self.prior = prior
        self.gamma = gamma
        self.gammas = gammas
        self.Cs = Cs
        self.cv = cv
        self.scoring = scoring
        self.max_iter = max_iter
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Choose ``gamma`` and ``C`` by inner CV, then fit on all of ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
            Columns named by feature (needed with a prior); NaN allowed
            (imputed by the training median).
        y : array-like of shape (n_samples,)
            Binary labels.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported by {type(self).__name__}; y has {len(self.classes_)} classes."
            )
        names = getattr(self, "feature_names_in_", None)
        self.feature_weights_ = prior_feature_weights(self.prior, names, X.shape[1])
        has_prior = self.prior is not None
        if self.gamma == "auto":
            gammas = sorted({float(g) for g in self.gammas}) if has_prior else [0.0]
        else:
            gammas = [float(self.gamma)]
        Cs = [float(c) for c in self.Cs]
        if not Cs:
            raise ValueError("Cs must hold at least one value")
        candidates = [(g, c) for g in gammas for c in Cs]
        best, means = candidates[0], {}
        if len(candidates) > 1:
            folds = stratified_folds(
                self.cv,
                y,
                random_state=self.random_state,
                X=X,
                purpose=f"{type(self).__name__} chooses gamma and C (fix gamma and give one C to fit without it)",
            )
            # "roc_auc": the same AUC, without the sklearn scorer's per-call overhead
            scorer = rank_auc_scorer if self.scoring == "roc_auc" else get_scorer(self.scoring)

            def score_fold(train, test):
                Z_train, stats = _standardise(X[train])
                Z_test, _ = _standardise(X[test], stats)
                scores = {}
                for g in gammas:
                    factor = self.feature_weights_**g
                    # one C path per gamma, warm-started from the previous (smaller) C
                    lr = LogisticRegression(max_iter=self.max_iter, warm_start=True)
                    for c in sorted(Cs):
                        lr.set_params(C=c).fit(Z_train * factor, y[train])
                        scores.setdefault((g, c), []).append(scorer(lr, Z_test * factor, y[test]))
                return scores

            # best score; ties go to the smaller gamma (less trust), then the stronger penalty
            best, means = choose_candidate(folds, score_fold, candidates, prefer=lambda k: (-k[0], -k[1]))
        self.cv_results_ = {
            "gamma": np.array([g for g, _ in means]),
            "C": np.array([c for _, c in means]),
            "mean_test_score": np.array(list(means.values())),
        }
        self.gamma_, self.C_ = float(best[0]), float(best[1])
        self.training_quantiles_ = training_quantiles(X)
        Z, self._stats = _standardise(X)
        self._factor = self.feature_weights_**self.gamma_
        self._lr_ = LogisticRegression(C=self.C_, max_iter=self.max_iter).fit(Z * self._factor, y)
        self.coef_ = self._lr_.coef_ * self._factor
        self.intercept_ = self._lr_.intercept_
        self.n_iter_ = self._lr_.n_iter_
        return self

    def _transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        Z, _ = _standardise(X, self._stats)
        return Z * self._factor

    def decision_function(self, X):
        """Signed distance to the decision boundary (log-odds of ``classes_[1]``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The features ``fit`` saw (same columns); NaN allowed (imputed by
            the training median).

        Returns
        -------
        ndarray of shape (n_samples,)
            Positive values favour ``classes_[1]``.
        """
        Z = self._transform(X)  # checks the fit first
        return self._lr_.decision_function(Z)

    def decision_contributions(self, X):
        """Each feature's term of :meth:`decision_function`: coefficient x standardised value.

        The standardised value is the one the model reads (training median for
        a missing value, then the training mean and standard deviation), so
        each row plus ``intercept_`` sums to the decision function.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            As for :meth:`decision_function`.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            Log-odds of ``classes_[1]`` contributed by each feature.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
        >>> clf = SemanticPriorLogisticRegression(random_state=0).fit(X, X["a"] > 0)
        >>> terms = clf.decision_contributions(X)
        >>> bool(np.allclose(terms.sum(axis=1) + clf.intercept_, clf.decision_function(X)))
        True
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        Z, _ = _standardise(X, self._stats)
        return Z * self.coef_[0]

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The features to score, as for :meth:`decision_function`.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``.
        """
        Z = self._transform(X)  # checks the fit first
        return self._lr_.predict_proba(Z)

    def predict(self, X):
        """Predicted class labels: ``classes_[1]`` where the decision function is positive.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The features to classify, as for :meth:`decision_function`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        Z = self._transform(X)  # checks the fit first
        return self._lr_.predict(Z)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags
