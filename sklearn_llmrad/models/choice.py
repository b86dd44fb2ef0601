"""Let inner cross-validation decide between a simple and a complex classifier.

On small radiomics studies a well-regularised linear model is hard to beat and a
network only sometimes adds to it: :class:`InnerCVChoiceClassifier` (e.g. of the
prior-weighted logistic regression and the fusion network, simplest first) falls
back to the simple one whenever the complex one does not earn its place.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context, clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .._progress import progress_bar, without_progress
from ..inner_cv import choose_candidate, same_params, stratified_folds
from ..metrics import rank_auc_score

__all__ = ["InnerCVChoiceClassifier"]

#: Name of the "average of all candidates" option in ``cv_scores_`` and ``choice_``.
AVERAGE = "average"

# The fitted attributes a model file holds, beside one node per refitted candidate.
_FILE_ATTRIBUTES = ("choice_", "cv_scores_", "classes_", "n_features_in_", "feature_names_in_")


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _for_inner_fits(estimator, early_stopping):
    """A clone of a candidate for its inner fits: no progress bars, early stopping if asked.

    Every ``progress`` parameter (at any depth) is turned off
    (:func:`~sklearn_llmrad._progress.without_progress`), and with
    ``early_stopping`` any boolean parameter named ``early_stopping`` is turned on
    (not skorch's ``callbacks__early_stopping``, a callback).
    """
    inner = without_progress(clone(estimator))
    if early_stopping:
        params = inner.get_params(deep=True)
        switches = [k for k, v in params.items() if k.rsplit("__", 1)[-1] == "early_stopping" and isinstance(v, bool)]
        inner.set_params(**dict.fromkeys(switches, True))
    return inner


def _same_step(a, b):
    """Whether two unfitted steps fit to the same state: same class, same parameters (values compared by ==)."""
    return type(a) is type(b) and same_params(a.get_params(deep=False), b.get_params(deep=False))


class _SharedFit:
    """Clones of the candidates fitted on one training set; pipelines whose first step is the same share it.

    The shared first step (e.g. the Top-K selection of two candidates that both
    start with it, or that differ only in the columns it passes through: see
    ``fitted_as``) is fitted once, and its output on a test set computed once;
    each candidate then fits and predicts with the rest of its steps only. The
    numbers are those of fitting each candidate on its own.
    """

    def __init__(self, candidates, X, y, *, where=None):
        self.fitted, self._heads, self._rest = {}, [], {}
        for name, estimator in candidates:
            try:
                self.fitted[name] = self._fit(name, estimator, X, y)
            except ValueError as exc:  # e.g. too few samples for the candidate's own inner CV
                if where is None:
                    raise
                raise ValueError(f"candidate {name!r} failed on {where}: {exc}") from exc

    def _fit(self, name, estimator, X, y):
        estimator = clone(estimator)
        first = estimator.steps[0][1] if isinstance(estimator, Pipeline) and len(estimator.steps) > 1 else None
        if first is None or estimator.memory is not None or not hasattr(first, "fit_transform"):
            return estimator.fit(X, y)
        head = next((h for h in self._heads if _same_step(h[0], first)), None)
        if head is None:
            head = self._stand_in(first, X)
        if head is None:
            fitted_step = clone(first)
            head = (first, fitted_step, fitted_step.fit_transform(X, y), {})
            self._heads.append(head)
        rest = estimator[1:]
        rest.fit(head[2], y)  # fits the pipeline's own step objects in place
        estimator.steps = [(estimator.steps[0][0], head[1]), *rest.steps]
        self._rest[name] = (head, rest)
        return estimator

    def _stand_in(self, first, X):
        """A shared step fitted already that stands in for a fit of ``first`` (its ``fitted_as``), or None.

        E.g. the Top-K selection of a candidate that drops the clinical columns
        and that of one that passes them through: one fit, two outputs.
        """
        for _, fitted_step, _, _ in self._heads:
            twin = fitted_step.fitted_as(first) if hasattr(fitted_step, "fitted_as") else None
            if twin is not None:
                head = (first, twin, twin.transform(X), {})
                self._heads.append(head)
                return head
        return None

    def positive_proba(self, name, X, positive_class, key):
        """The candidate's probability of ``positive_class`` on ``X`` (shared step output kept under ``key``)."""
        if name in self._rest:
            head, rest = self._rest[name]
            if key not in head[3]:
                head[3][key] = head[1].transform(X)
            estimator, proba = rest, rest.predict_proba(head[3][key])
        else:
            estimator = self.fitted[name]
            proba = estimator.predict_proba(X)
        return proba[:, list(estimator.classes_).index(positive_class)]


class InnerCVChoiceClassifier(ClassifierMixin, _BaseComposition):
    """Pick, by inner cross-validated AUC, one of several classifiers or their average.

    Each candidate is fitted on the inner training folds and scored on the inner
    test folds; the mean of the candidates' probabilities is scored on the same
    folds. The option with the highest mean fold AUC wins (ties: the earlier
    candidate, then the average). The winner (every candidate, for the average)
    is then refitted on all training data; with ``refit="all"`` every candidate
    is, so each can be inspected (e.g. the network's ``explain``) whatever the
    choice. Predictions come from the winner only. Only the data passed to
    :meth:`fit` is used, so an outer cross-validation stays honest.

    Work the candidates share is done once per fold: candidates that are
    pipelines starting with the same step (same class and parameters, e.g. one
    Top-K selection) fit that step once and transform each test fold once. A
    fitted first step with a ``fitted_as(estimator)`` method (e.g.
    :meth:`~sklearn_llmrad.selection.TopKSelector.fitted_as`) may also stand in
    for another candidate's first step that would fit to the same state (a
    Top-K selection that drops the clinical columns the other passes through).
    During the inner fits, candidates draw no progress bars of their own
    (parameters named ``progress`` are off) and, with ``inner_early_stopping``,
    networks stop early (parameters named ``early_stopping`` are on): an inner
    fit only scores a candidate. The refit on all data uses the candidates'
    own settings.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        Binary classifiers with ``predict_proba``, simplest first.
    cv : int or cross-validation generator, default=3
        Inner folds. An integer gives a shuffled
        :class:`~sklearn.model_selection.StratifiedKFold` seeded by ``random_state``,
        with fewer folds (at least 2) when the rarer class has fewer samples.
    average : bool, default=True
        Also consider the mean of all candidates' probabilities.
    random_state : int, RandomState instance or None, default=None
        Seeds the inner folds (the candidates keep their own seeds).
    refit : {"chosen", "all"}, default="chosen"
        Which candidates are refitted on all training data: those the choice
        uses (the winner, or every candidate for the average) or all of them.
    inner_early_stopping : bool, default=True
        Turn on every ``early_stopping`` parameter of the candidates for their
        inner fits (False: the inner fits use the candidates' settings as given).
    progress : bool, default=True
        Show a bar over the inner folds (``progress_bar``, removed when done).

    Attributes
    ----------
    choice_ : str
        The winning candidate's name, or ``"average"``.
    cv_scores_ : dict of str -> float
        Mean inner-fold AUC of every option.
    estimators_ : dict of str -> estimator
        The candidates refitted on all training data (see ``refit``).
    classes_ : ndarray of shape (2,)

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from sklearn_llmrad.models.choice import InnerCVChoiceClassifier
    >>> X, y = make_classification(120, n_features=5, random_state=0)
    >>> clf = InnerCVChoiceClassifier(
    ...     [("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=1))],
    ...     random_state=0).fit(X, y)
    >>> clf.choice_ in {"lr", "tree", "average"}, sorted(clf.cv_scores_)
    (True, ['average', 'lr', 'tree'])
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        "estimators": [list],
        "cv": [Interval(Integral, 2, None, closed="left"), "cv_object"],
        "average": ["boolean"],
        "random_state": ["random_state"],
        "refit": [StrOptions({"chosen", "all"})],
        "inner_early_stopping": ["boolean"],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        estimators,
        *,
        cv=3,
        average=True,
        random_state=None,
        refit="chosen",
        inner_early_stopping=True,
        progress=True,
    ):
        self.estimators = estimators
        self.cv = cv
        self.average = average
        self.random_state = random_state
        self.refit = refit
        self.inner_early_stopping = inner_early_stopping
        self.progress = progress

    def get_params(self, deep=True):
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        # whole candidates are replaced first, so that nested values reach the new ones
        return self._set_params("estimators", **params)

    def _check_estimators(self):
        try:
            names = [name for name, est in self.estimators if hasattr(est, "get_params")]
        except (TypeError, ValueError):
            names = None
        if names is None or len(names) != len(self.estimators):
            raise TypeError(f"estimators must be a list of (name, estimator) pairs, got {self.estimators!r}")
        if not names:
            raise ValueError("estimators is empty; give at least one (name, estimator) pair")
        reserved = {AVERAGE, *self._parameter_constraints}
        if len(set(names)) != len(names) or reserved & set(names) or any("__" in n for n in names):
            raise ValueError(
                f"estimator names must be unique, without '__', and none of {sorted(reserved)}; got {names}"
            )
        for name, est in self.estimators:
            if not hasattr(est, "predict_proba"):
                raise TypeError(f"estimator {name!r} ({type(est).__name__}) has no predict_proba")
        return names

    def _options(self, names):
        """What the choice may pick: the candidates, and their average when it is on and there are two or more."""
        return names + ([AVERAGE] if self.average and len(names) > 1 else [])

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Score every option by inner CV, then refit the chosen candidates (or all) on all of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary labels.

        Returns
        -------
        self : InnerCVChoiceClassifier
        """
        names = self._check_estimators()
        if hasattr(X, "iloc"):  # DataFrames go to the candidates as they are (column names)
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
            validate_data(self, X, skip_check_array=True, reset=True)
            y = column_or_1d(y, warn=True)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        else:
            X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=None, reset=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind != "binary" or len(np.unique(y)) != 2:
            raise ValueError(
                "Only binary classification is supported. InnerCVChoiceClassifier got "
                f"{len(np.unique(y))} class(es) ({kind!r})"
            )
        self.classes_ = np.unique(y)
        positive = y == self.classes_[1]
        folds = stratified_folds(
            self.cv, y, random_state=self.random_state, purpose=f"{type(self).__name__} chooses among its candidates"
        )
        options = self._options(names)
        inner = [(name, _for_inner_fits(est, self.inner_early_stopping)) for name, est in self.estimators]

        def score_fold(train, test):
            if len(np.unique(positive[test])) < 2:
                raise ValueError(
                    "an inner test fold holds a single class; use fewer inner folds (cv) "
                    f"for {len(y)} samples with {int(positive.sum())} positives"
                )
            where = (
                f"an inner training fold of {len(train)} samples "
                f"({int(positive[train].sum())} positives) of the {len(y)} given"
            )
            fitted = _SharedFit(inner, _take(X, train), y[train], where=where)
            X_test = _take(X, test)
            probas = [fitted.positive_proba(name, X_test, self.classes_[1], "test") for name in names]
            scores = {name: rank_auc_score(positive[test], p) for name, p in zip(names, probas, strict=True)}
            if AVERAGE in options:
                scores[AVERAGE] = rank_auc_score(positive[test], np.mean(probas, axis=0))
            bar.update()
            return scores

        # ties: the first option (candidates in order, then the average), compared exactly
        with progress_bar(total=len(folds), desc="inner CV", unit="fold", enabled=self.progress, leave=False) as bar:
            self.choice_, self.cv_scores_ = choose_candidate(folds, score_fold, options, decimals=None)
        used = names if self.refit == "all" or self.choice_ == AVERAGE else [self.choice_]
        self.estimators_ = _SharedFit([c for c in self.estimators if c[0] in used], X, y).fitted
        return self

    def chosen_estimators(self):
        """The refitted candidates the choice predicts with: the one it chose, or all of them for ``"average"``.

        Returns
        -------
        list of estimator
            Their probabilities, averaged, are :meth:`predict_proba`'s.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn_llmrad.models.choice import InnerCVChoiceClassifier
        >>> X, y = make_classification(60, n_features=4, random_state=0)
        >>> clf = InnerCVChoiceClassifier([("lr", LogisticRegression())], average=False).fit(X, y)
        >>> clf.chosen_estimators() == [clf.estimators_["lr"]]
        True
        """
        check_is_fitted(self, "estimators_")
        if self.choice_ == AVERAGE:
            return list(self.estimators_.values())
        return [self.estimators_[self.choice_]]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _check_X(self, X):
        check_is_fitted(self, "estimators_")
        if hasattr(X, "iloc"):
            validate_data(self, X, skip_check_array=True, reset=False)
            return X
        return validate_data(self, X, ensure_all_finite="allow-nan", dtype=None, reset=False)

    def _positive_proba(self, estimator, X):
        proba = estimator.predict_proba(X)
        return proba[:, list(estimator.classes_).index(self.classes_[1])]

    # ------------------------------------------------------------ persistence
    @classmethod
    def is_file_attribute(cls, name):
        """Whether a model file may set ``name``: the choice, its scores and what ``fit`` saw of ``X``.

        Parameters
        ----------
        name : str
            A fitted attribute's name.

        Returns
        -------
        bool
        """
        return name in _FILE_ATTRIBUTES

    def get_file_state(self):
        """What a model file holds of this fitted choice (see :mod:`sklearn_llmrad.io`).

        Returns
        -------
        dict
            ``params``, ``attributes`` and the refitted ``estimators`` (whose
            unfitted clones are the candidates of the loaded choice: with
            ``refit="chosen"``, those it uses).

        Raises
        ------
        TypeError
            ``cv`` is a splitter or ``random_state`` a generator: a file stores
            only a number of folds and an integer seed.
        """
        check_is_fitted(self, "estimators_")
        if not isinstance(self.cv, Integral) or not isinstance(self.random_state, (Integral, type(None))):
            raise TypeError(
                f"cannot save {type(self).__name__} with cv={self.cv!r}, random_state={self.random_state!r}: "
                "only an integer number of folds and an integer (or None) seed are stored"
            )
        params = {
            "cv": self.cv,
            "average": bool(self.average),
            "random_state": self.random_state,
            "refit": self.refit,
            "inner_early_stopping": bool(self.inner_early_stopping),
            "progress": bool(self.progress),
        }
        attributes = {k: getattr(self, k) for k in _FILE_ATTRIBUTES if hasattr(self, k)}
        return {"params": params, "attributes": attributes, "estimators": dict(self.estimators_)}

    @classmethod
    def from_file_state(cls, state):
        """The fitted choice a :meth:`get_file_state` dict describes (ValueError when it does not hold together).

        Parameters
        ----------
        state : dict

        Returns
        -------
        InnerCVChoiceClassifier
        """
        params, fitted = dict(state["params"]), state.get("estimators", {})
        params.setdefault("refit", "all")  # files written before ``refit`` hold every candidate refitted
        if not fitted or AVERAGE in fitted:
            raise ValueError(f"{cls.__name__}: candidate names must be unique and not 'average', got {list(fitted)}")
        est = cls([(name, clone(estimator)) for name, estimator in fitted.items()], **params)
        for key, value in state.get("attributes", {}).items():
            setattr(est, key, value)
        choices = set(est._options(list(fitted)))
        choice = getattr(est, "choice_", None)
        if not isinstance(choice, str) or choice not in choices:
            raise ValueError(f"{cls.__name__}: the choice {choice!r:.40} is not among its options {sorted(choices)}")
        est.estimators_ = dict(fitted)
        return est

    def predict_proba(self, X):
        """Class probabilities of the chosen option, shape (n_samples, 2).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The features ``fit`` saw (same columns).

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities of ``classes_[0]`` and ``classes_[1]``; with the
            average chosen, the mean of the candidates' probabilities.
        """
        X = self._check_X(X)
        p = np.mean([self._positive_proba(est, X) for est in self.chosen_estimators()], axis=0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """The class of highest probability.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            As in :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``: ``classes_[1]`` where its probability is
            at least 0.5.
        """
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] >= 0.5).astype(int)]
