"""How informative each feature of one study is on its own: the target a semantic prior learns.

:func:`univariate_informativeness` ranks a study's features by ``|AUC - 0.5|`` of each
feature alone, so that studies of any size and outcome give targets on one scale
(0: the least, 1: the most informative feature of the study).
:class:`~sklearn_llmrad.prior.SemanticPrior` learns to predict these ranks from
feature names across studies.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["univariate_informativeness"]


def univariate_informativeness(X, y):
    """Within-study rank of ``|AUC - 0.5|`` per feature, scaled to [0, 1].

    The AUC of each feature alone (Mann-Whitney), missing values imputed by the
    column median; constant or all-missing columns get NaN.

    Parameters
    ----------
    X : DataFrame or array of shape (n_samples, n_features)
    y : array-like of 0/1

    Returns
    -------
    informativeness : ndarray of shape (n_features,)
        0 for the least, 1 for the most informative feature of the study.
    auc : ndarray of shape (n_features,)
        The univariate AUCs.

    Examples
    --------
    >>> X = np.array([[0, 5], [1, 3], [2, 4], [3, 5.]])
    >>> info, auc = univariate_informativeness(X, [0, 0, 1, 1])
    >>> info.tolist(), auc.tolist()
    ([1.0, 0.0], [1.0, 0.625])
    """
    F = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("univariate informativeness needs both classes in y")
    with np.errstate(all="ignore"):
        med = np.nanmedian(np.where(np.isfinite(F), F, np.nan), axis=0)
    F = np.where(np.isfinite(F), F, med)
    ranks = rankdata(F, axis=0)
    auc = (ranks[y == 1].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    usable = np.isfinite(F).all(axis=0) & (np.nanmax(F, axis=0) > np.nanmin(F, axis=0))
    auc = np.where(usable, auc, np.nan)
    info = np.full(F.shape[1], np.nan)
    dev = np.abs(auc[usable] - 0.5)
    if dev.size == 1:
        info[usable] = 0.5
    elif dev.size > 1:
        info[usable] = (rankdata(dev) - 1) / (dev.size - 1)
    return info, auc
