"""Checks and vectorised kernels of binary metrics, shared by :mod:`~sklearn_llmrad.metrics` and
:mod:`~sklearn_llmrad.significance`.

Kernels take a boolean "is positive" array and validated values of the same shape,
1-D (one data set) or 2-D (one bootstrap replicate per row), and reduce the last
axis. They skip input validation: the bootstrap evaluates them on thousands of
replicates at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d


def positive_mask(y_true, pos_label, *, require_both=True):
    """Validate binary labels and return the boolean "is positive" vector."""
    y_true = column_or_1d(y_true)
    if len(y_true) == 0:
        raise ValueError("y_true is empty.")
    if pd.isna(y_true).any():
        raise ValueError("y_true contains missing values.")
    labels = np.unique(y_true)
    if len(labels) > 2:
        raise ValueError(f"y_true must be binary; got {len(labels)} classes {labels[:5]}.")
    is_pos = y_true == pos_label
    if not is_pos.any() and not np.isin(labels, [0, False]).all():
        raise ValueError(f"pos_label={pos_label!r} is not among the labels {list(labels)}; pass pos_label.")
    if require_both and len(labels) < 2:
        raise ValueError(
            f"y_true contains a single class ({labels[0]!r}); this metric needs positive and negative cases."
        )
    return np.asarray(is_pos, dtype=bool)


def checked_scores(y_score, name, *, probability=False):
    y_score = column_or_1d(y_score)
    try:
        y_score = y_score.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric.") from exc
    if not np.isfinite(y_score).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    if probability and (y_score.min() < 0 or y_score.max() > 1):
        raise ValueError(
            f"{name} must be probabilities in [0, 1]; got values in [{y_score.min():.4g}, {y_score.max():.4g}]."
        )
    return y_score


def predicted_positives(y_pred, pos_label):
    y_pred = column_or_1d(y_pred)
    if type_of_target(y_pred) == "continuous":
        raise ValueError(
            "y_pred must hold predicted labels, not scores or probabilities; threshold them first (e.g. y_prob >= 0.5)."
        )
    return np.asarray(y_pred == pos_label, dtype=bool)


def k_auc(pos, score):
    # Mann-Whitney form of the AUC with midranks (ties count one half).
    m = pos.sum(axis=-1)
    n = pos.shape[-1] - m
    ranks = rankdata(score, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(pos, ranks, 0.0).sum(axis=-1) - m * (m + 1) / 2.0) / (m * n)


def counts(pos, pred):
    tp = np.count_nonzero(pos & pred, axis=-1)
    fn = np.count_nonzero(pos & ~pred, axis=-1)
    fp = np.count_nonzero(~pos & pred, axis=-1)
    tn = pos.shape[-1] - tp - fn - fp
    return tp, fn, fp, tn


def ratio(num, den):
    # NaN where undefined (e.g. no positives in a non-stratified replicate)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def k_sensitivity(pos, pred):
    tp, fn, _, _ = counts(pos, pred)
    return ratio(tp, tp + fn)


def k_specificity(pos, pred):
    _, _, fp, tn = counts(pos, pred)
    return ratio(tn, tn + fp)


def k_fnr(pos, pred):
    tp, fn, _, _ = counts(pos, pred)
    return ratio(fn, tp + fn)


def k_f1(pos, pred):
    tp, fn, fp, _ = counts(pos, pred)
    return ratio(2 * tp, 2 * tp + fp + fn)


def k_accuracy(pos, pred):
    return np.count_nonzero(pos == pred, axis=-1) / pos.shape[-1]


def k_brier(pos, prob):
    return np.mean((prob - pos) ** 2, axis=-1)


#: name -> (kernel, needs "scores" or "labels")
KERNELS = {
    "roc_auc": (k_auc, "scores"),
    "auc": (k_auc, "scores"),
    "brier": (k_brier, "scores"),
    "sensitivity": (k_sensitivity, "labels"),
    "specificity": (k_specificity, "labels"),
    "fnr": (k_fnr, "labels"),
    "f1": (k_f1, "labels"),
    "accuracy": (k_accuracy, "labels"),
}
