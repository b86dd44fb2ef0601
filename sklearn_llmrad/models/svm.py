"""An SVC with Platt-scaled probabilities, tunable as ``svc__C``.

The radiomics baseline needs probabilities (AUC confidence intervals,
calibration, DeLong). ``SVC(probability=True)`` is deprecated in
scikit-learn 1.9 in favour of ``CalibratedClassifierCV(SVC(), ensemble=False)``,
which would move the SVC's parameters one level down (``svc__estimator__C``).
This estimator keeps the SVC's parameters at the top and does the same thing:
Platt scaling (sigmoid) fitted on internal cross-validated decision values, then
one SVC refitted on all training data (Platt 1999; Lin, Lin & Weng 2007).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..scaling import training_quantiles

__all__ = ["CalibratedSVC"]


class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """Support vector classifier with Platt-scaled probabilities.

    Parameters
    ----------
    C : float, default=1.0
        Regularisation (as :class:`~sklearn.svm.SVC`).
    kernel : {"rbf", "linear", "poly", "sigmoid"}, default="rbf"
    gamma : {"scale", "auto"} or float, default="scale"
    class_weight : "balanced", dict or None, default="balanced"
    cv : int, default=5
        Internal folds whose held-out decision values fit the sigmoid.
    random_state : int, RandomState instance or None, default=None
        Seeds the internal folds' shuffling.

    Attributes
    ----------
    calibrated_ : CalibratedClassifierCV
        The fitted calibrated model (``ensemble=False``: one SVC on all data).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    training_quantiles_ : ndarray of shape (101, n_features_in_)
        The 0th, 1st, ..., 100th percentiles of each training column: the
        training median (row 50) is the reference of
        :func:`sklearn_llmrad.explain`'s occlusion.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_llmrad.models.svm import CalibratedSVC
    >>> X, y = make_classification(60, random_state=0)
    >>> clf = CalibratedSVC(C=0.5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "kernel": [StrOptions({"rbf", "linear", "poly", "sigmoid"})],
        "gamma": [StrOptions({"scale", "auto"}), Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, C=1.0, *, kernel="rbf", gamma="scale", class_weight="balanced", cv=5, random_state=None):
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the SVC and its sigmoid calibration on ``X``, ``y``."""
        from sklearn.model_selection import StratifiedKFold
        from sklearn.utils.multiclass import check_classification_targets

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        svc = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, class_weight=self.class_weight)
        smallest = int(np.min(np.unique(y, return_counts=True)[1]))
        folds = StratifiedKFold(n_splits=max(2, min(self.cv, smallest)), shuffle=True, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False).fit(X, y)
        self.classes_ = self.calibrated_.classes_
        self.training_quantiles_ = training_quantiles(X)
        return self

    def predict_proba(self, X):
        """Platt-scaled class probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.calibrated_.predict_proba(X)

    def decision_function(self, X):
        """Signed distance to the SVC's separating surface."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.calibrated_.calibrated_classifiers_[0].estimator.decision_function(X)

    def predict(self, X):
        """The class of highest calibrated probability."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
