"""Patient-grouped, stratified folds of a benchmark (or one 7:2:1-style holdout)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, StratifiedKFold

from ..labels import check_training_folds

__all__ = ["make_splits", "plan_folds"]


def make_splits(y, groups, *, cv=5, holdout=None, random_state=0):
    """Patient-grouped, stratified train/test splits.

    Parameters
    ----------
    y : array-like of shape (n,)
    groups : array-like of shape (n,) or None
        Patient ids: all lesions of a patient land on the same side. None: one row
        per patient (a study's table), shuffled :class:`~sklearn.model_selection.StratifiedKFold`.
    cv : int, default=5
        Number of folds of a :class:`~sklearn.model_selection.StratifiedGroupKFold`.
    holdout : tuple of three numbers, default=None
        ``(train, validation, test)`` proportions, e.g. ``(7, 2, 1)``; replaces ``cv``.
        Models are fitted on the training part; the table reports the test part,
        and validation predictions are stored beside it.
    random_state : int, default=0

    Returns
    -------
    list of dict with keys "train", "test" (and "validation" for a holdout)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.benchmark import make_splits
    >>> y = np.array([0, 1] * 10); groups = np.repeat(np.arange(10), 2)
    >>> splits = make_splits(y, groups, cv=5)
    >>> len(splits), sorted(np.concatenate([s["test"] for s in splits]).tolist()) == list(range(20))
    (5, True)
    """
    y = np.asarray(y)
    idx = np.arange(len(y))
    if groups is None and holdout is None:
        splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
        return [{"train": train, "test": test} for train, test in splitter.split(idx, y)]
    groups = idx if groups is None else np.asarray(groups)
    if holdout is None:
        splitter = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=random_state)
        return [{"train": train, "test": test} for train, test in splitter.split(idx, y, groups)]
    train_w, val_w, test_w = (float(v) for v in holdout)
    total = train_w + val_w + test_w
    outer = GroupShuffleSplit(n_splits=1, test_size=test_w / total, random_state=random_state)
    rest, test = next(outer.split(idx, y, groups))
    inner = GroupShuffleSplit(n_splits=1, test_size=val_w / (train_w + val_w), random_state=random_state)
    train_r, val_r = next(inner.split(rest, y[rest], groups[rest]))
    return [{"train": rest[train_r], "validation": rest[val_r], "test": test}]


def plan_folds(y, groups, *, cv=5, holdout=None, random_state=0):
    """:func:`make_splits`, refused unless every training part holds both classes.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels (0/1).
    groups : array-like of shape (n,)
        Patient ids: all lesions of a patient land on the same side.
    cv : int, default=5
        Number of folds.
    holdout : tuple of three numbers, default=None
        ``(train, validation, test)`` proportions; replaces ``cv``.
    random_state : int, default=0
        Seed of the split.

    Returns
    -------
    list of dict
        One dict per fold with keys ``"train"``, ``"test"`` (and
        ``"validation"`` for a holdout), see :func:`make_splits`.

    Raises
    ------
    ValueError
        Too few patients for ``cv`` folds, or a training part with one class.

    Examples
    --------
    >>> import numpy as np
    >>> len(plan_folds(np.array([0, 1] * 6), np.arange(12), cv=3))
    3
    """
    groups = np.asarray(groups)
    if holdout is None and len(np.unique(groups)) < cv:
        raise ValueError(f"{len(np.unique(groups))} patients cannot be split into cv={cv} folds; use fewer folds")
    try:
        splits = make_splits(y, groups, cv=cv, holdout=holdout, random_state=random_state)
    except ValueError as exc:
        raise ValueError(f"cannot split these lesions into folds: {exc}") from exc
    check_training_folds(y, splits)
    return splits
