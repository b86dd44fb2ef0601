"""Inner cross-validation on the training data: the folds, the mean scores and the pick.

Several estimators choose a hyper-parameter on the data given to ``fit`` only, so
that an outer evaluation stays honest: ``gamma`` and ``C`` of
:class:`~sklearn_llmrad.models.linear.SemanticPriorLogisticRegression`, the prior's
``gamma`` in :class:`~sklearn_llmrad.TopKSelector`, the ridge penalty of a
:class:`~sklearn_llmrad.prior.SemanticPrior` (leave-studies-out) and the option of
:class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier`.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.model_selection import StratifiedKFold, check_cv

__all__ = ["StratifiedInnerFolds", "choose_candidate", "group_folds", "same_params", "stratified_folds"]


def stratified_folds(cv, y, *, random_state=None, X=None, purpose=None):
    """Inner folds: a shuffled stratified K-fold, with fewer folds on small training sets.

    Parameters
    ----------
    cv : int, CV splitter or iterable of (train, test)
        An int gives a :class:`~sklearn.model_selection.StratifiedKFold`, shuffled
        and seeded by ``random_state``, of at most as many folds as the rarer class
        has samples (never fewer than 2); anything else goes through
        :func:`~sklearn.model_selection.check_cv` and is used as given.
    y : array-like of shape (n_samples,)
        The labels the folds are stratified on.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffle of an int ``cv``.
    X : array-like of shape (n_samples, n_features), default=None
        Passed to the splitter (a splitter of the caller's may use it); None
        passes a placeholder of ``n_samples`` rows.
    purpose : str or None, default=None
        What the inner CV chooses, named when an int ``cv`` meets a class of
        fewer than 2 samples (a :class:`ValueError`). None: no folds (an empty
        list) in that case, for callers that then keep their default.

    Returns
    -------
    list of (ndarray, ndarray)
        The (train, test) indices of each fold.

    Raises
    ------
    ValueError
        When ``cv`` is an int, a class has fewer than 2 samples and ``purpose``
        is given.

    Examples
    --------
    >>> y = [0, 0, 0, 0, 0, 1, 1]
    >>> len(stratified_folds(3, y, random_state=0))  # the rarer class has 2 samples
    2
    >>> stratified_folds(3, [0, 0, 0, 1]) == []
    True
    >>> stratified_folds(3, [0, 0, 0, 1], purpose="the model chooses C")
    Traceback (most recent call last):
    ...
    ValueError: the model chooses C by inner CV, which needs at least 2 samples of each class; ...
    """
    y = np.asarray(y)
    if isinstance(cv, Integral):
        fewest = int(np.unique(y, return_counts=True)[1].min()) if len(y) else 0
        if fewest < 2:
            if purpose is None:
                return []
            raise ValueError(
                f"{purpose} by inner CV, which needs at least 2 samples of each class; got {len(y)} samples, "
                f"the rarer class {fewest} time(s)"
            )
        cv = StratifiedKFold(min(cv, fewest), shuffle=True, random_state=random_state)
    else:
        cv = check_cv(cv, y, classifier=True)
    return list(cv.split(np.zeros((len(y), 1)) if X is None else X, y))


class StratifiedInnerFolds:
    """:func:`stratified_folds` as a CV splitter, for estimators that take ``cv=`` (made at ``split`` time).

    Shuffled, stratified and seeded, with fewer folds when the training part's rarer
    class has fewer than ``n_splits`` samples, and a clear error below 2 of a class.
    Its parameters are plain data, so a fitted estimator holding it can be stored in
    a model file (:mod:`sklearn_llmrad.io`).

    Parameters
    ----------
    n_splits : int, default=3
        Folds, at most; at least 2.
    random_state : int or None, default=None
        Seeds the shuffle.
    purpose : str or None, default=None
        What the inner CV chooses, named in the error on a class of fewer than 2
        samples (see :func:`stratified_folds`).

    Examples
    --------
    >>> from sklearn_llmrad.inner_cv import StratifiedInnerFolds
    >>> folds = StratifiedInnerFolds(3, random_state=0)
    >>> len(list(folds.split(None, [0, 0, 0, 0, 0, 1, 1])))  # the rarer class has 2 samples
    2
    >>> folds
    StratifiedInnerFolds(n_splits=3, random_state=0, purpose=None)
    """

    def __init__(self, n_splits=3, *, random_state=None, purpose=None):
        if not isinstance(n_splits, Integral) or isinstance(n_splits, bool) or n_splits < 2:
            raise ValueError(f"n_splits must be an int of at least 2, got {n_splits!r}")
        self.n_splits = n_splits
        self.random_state = random_state
        self.purpose = purpose

    def __repr__(self):
        return (
            f"{type(self).__name__}(n_splits={self.n_splits}, random_state={self.random_state}, "
            f"purpose={self.purpose!r})"
        )

    def split(self, X, y, groups=None):
        """The (train, test) indices of each fold.

        Parameters
        ----------
        X : ignored
        y : array-like of shape (n_samples,)
            The labels the folds are stratified on.
        groups : ignored

        Returns
        -------
        iterator of (ndarray, ndarray)
        """
        purpose = "the inner CV chooses" if self.purpose is None else self.purpose
        return iter(stratified_folds(self.n_splits, y, random_state=self.random_state, purpose=purpose))

    def get_n_splits(self, X=None, y=None, groups=None):
        """``n_splits`` (fewer folds are made on a small training part).

        Parameters
        ----------
        X, y, groups : ignored

        Returns
        -------
        int
        """
        return self.n_splits


def group_folds(groups, n_splits):
    """Leave-groups-out folds: the sorted distinct groups cut into ``n_splits`` consecutive blocks.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        The group (e.g. the study) of each sample.
    n_splits : int
        Number of folds, at most the number of groups.

    Returns
    -------
    list of (ndarray, ndarray)
        The (train, test) indices of each fold; each group is tested once.

    Examples
    --------
    >>> [test.tolist() for _, test in group_folds(["a", "a", "b", "c", "c"], 2)]
    [[0, 1, 2], [3, 4]]
    """
    groups = np.asarray(groups)
    unique = np.unique(groups)
    folds = []
    for held in np.array_split(unique, min(n_splits, len(unique))):
        test = np.isin(groups, held)
        folds.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def choose_candidate(folds, score_fold, candidates, *, prefer=None, decimals=12, ignore_nan=False):
    """Each candidate's mean score over the folds, and the best: ties to the preferred, then the first.

    Parameters
    ----------
    folds : iterable of (train, test)
        The inner folds, e.g. from :func:`stratified_folds`.
    score_fold : callable
        ``score_fold(train, test)`` returns ``{candidate: score}`` for one fold;
        a score may be a sequence (e.g. one per held-out group), all of whose
        values count. Candidates that share work (a standardisation, a
        warm-started path) are scored in one call.
    candidates : sequence
        The candidates, in the order of the means and of the last tie-break.
    prefer : callable, default=None
        ``prefer(candidate)`` returns a tuple, larger for the candidate to keep
        among equal scores (e.g. ``(-gamma,)``: the least trust in a prior).
    decimals : int or None, default=12
        Means are equal when they agree to this many decimals (float noise is
        no reason to pick a more complex candidate); None compares them exactly.
    ignore_nan : bool, default=False
        Average with :func:`numpy.nanmean` (NaN scores left out).

    Returns
    -------
    best : object
        The chosen candidate.
    means : dict
        ``{candidate: mean score}`` in the order of ``candidates``.

    Examples
    --------
    >>> folds = [([1, 2], [0]), ([0, 2], [1]), ([0, 1], [2])]
    >>> def score_fold(train, test):  # gammas 0 and 2 score the same
    ...     return {0.0: 0.7, 2.0: 0.7 + 1e-15, 4.0: [0.5, 0.6]}
    >>> choose_candidate(folds, score_fold, [0.0, 2.0, 4.0], prefer=lambda gamma: (-gamma,))
    (0.0, {0.0: 0.7, 2.0: 0.7..., 4.0: 0.55})
    >>> choose_candidate(folds, score_fold, [0.0, 2.0, 4.0], decimals=None)[0]
    2.0
    """
    scores = {candidate: [] for candidate in candidates}
    for train, test in folds:
        for candidate, score in score_fold(train, test).items():
            scores[candidate].extend(np.atleast_1d(score))
    mean = np.nanmean if ignore_nan else np.mean
    means = {candidate: float(mean(values)) for candidate, values in scores.items()}

    def key(candidate):
        score = means[candidate] if decimals is None else round(means[candidate], decimals)
        return (score, *(prefer(candidate) if prefer is not None else ()))

    return max(means, key=key), means


def same_params(a, b):
    """Whether two parameter dicts are the same: the same names, each value the same object or ``==``.

    Used to fit a step once for candidates that would fit it to the same state. A
    value whose ``==`` is not a truth value (an array) counts as different.

    Parameters
    ----------
    a, b : dict
        ``get_params(deep=False)`` of two estimators.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn_llmrad.inner_cv import same_params
    >>> same_params({"k": 10, "score": "anova"}, {"k": 10, "score": "anova"}), same_params({"k": 10}, {"k": 5})
    (True, False)
    """
    try:
        return a.keys() == b.keys() and all(a[k] is b[k] or bool(a[k] == b[k]) for k in a)
    except (TypeError, ValueError):  # values whose == is not a truth value (arrays)
        return False
