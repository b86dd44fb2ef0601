"""Evaluation of binary (benign/malignant) predictions.

- scorers: :func:`sensitivity_score`, :func:`specificity_score`,
  :func:`false_negative_rate` and :data:`SCORING` for ``cross_validate``;
- uncertainty: :func:`bootstrap_ci` (stratified percentile or BCa bootstrap),
  :func:`delong_ci` and :func:`delong_test` (paired test of two AUCs);
- calibration: :func:`brier_score`, :func:`calibration_table`,
  :func:`expected_calibration_error`;
- :func:`summarize_predictions`: one row of the benchmark table.

Labels are binary; ``pos_label`` (default 1, malignant) is the positive class.
Scores are "higher means more likely positive".
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from scipy.stats import rankdata
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import brier_score_loss, make_scorer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "ConfidenceInterval",
    "DeLongResult",
    "sensitivity_score",
    "specificity_score",
    "false_negative_rate",
    "sensitivity_scorer",
    "specificity_scorer",
    "SCORING",
    "brier_score",
    "rank_auc_score",
    "rank_auc_scorer",
    "calibration_table",
    "expected_calibration_error",
    "bootstrap_ci",
    "delong_ci",
    "delong_test",
    "summarize_predictions",
]


class ConfidenceInterval(NamedTuple):
    """A point estimate with the bounds of its confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate on the whole sample.
    low, high : float
        The lower and upper bounds of the interval.
    """

    estimate: float
    low: float
    high: float


class DeLongResult(NamedTuple):
    """Result of :func:`delong_test`.

    Attributes
    ----------
    auc_a, auc_b : float
        The AUC of each of the two paired predictions.
    z : float
        The DeLong statistic of the difference ``auc_a - auc_b``.
    p_value : float
        Its two-sided p-value.
    covariance : ndarray of shape (2, 2)
        The covariance matrix of ``(auc_a, auc_b)``.
    """

    auc_a: float
    auc_b: float
    z: float
    p_value: float
    #: 2x2 covariance matrix of (auc_a, auc_b)
    covariance: np.ndarray


# --------------------------------------------------------------------- input
def _positives(y_true, pos_label, *, require_both=True):
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


def _scores(y_score, name, *, probability=False):
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


def _predicted_positives(y_pred, pos_label):
    y_pred = column_or_1d(y_pred)
    if type_of_target(y_pred) == "continuous":
        raise ValueError(
            "y_pred must hold predicted labels, not scores or probabilities; threshold them first (e.g. y_prob >= 0.5)."
        )
    return np.asarray(y_pred == pos_label, dtype=bool)


# ------------------------------------------------------------ fast kernels
# Kernels take a boolean "is positive" array and validated values of the same
# shape, 1-D (one data set) or 2-D (one bootstrap replicate per row), and
# reduce the last axis. They skip input validation: the bootstrap evaluates
# them on thousands of replicates at once.
def _k_auc(pos, score):
    # Mann-Whitney form of the AUC with midranks (ties count one half).
    m = pos.sum(axis=-1)
    n = pos.shape[-1] - m
    ranks = rankdata(score, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(pos, ranks, 0.0).sum(axis=-1) - m * (m + 1) / 2.0) / (m * n)


def _counts(pos, pred):
    tp = np.count_nonzero(pos & pred, axis=-1)
    fn = np.count_nonzero(pos & ~pred, axis=-1)
    fp = np.count_nonzero(~pos & pred, axis=-1)
    tn = pos.shape[-1] - tp - fn - fp
    return tp, fn, fp, tn


def _ratio(num, den):
    # NaN where undefined (e.g. no positives in a non-stratified replicate)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _k_sensitivity(pos, pred):
    tp, fn, _, _ = _counts(pos, pred)
    return _ratio(tp, tp + fn)


def _k_specificity(pos, pred):
    _, _, fp, tn = _counts(pos, pred)
    return _ratio(tn, tn + fp)


def _k_fnr(pos, pred):
    tp, fn, _, _ = _counts(pos, pred)
    return _ratio(fn, tp + fn)


def _k_f1(pos, pred):
    tp, fn, fp, _ = _counts(pos, pred)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _k_accuracy(pos, pred):
    return np.count_nonzero(pos == pred, axis=-1) / pos.shape[-1]


def _k_brier(pos, prob):
    return np.mean((prob - pos) ** 2, axis=-1)


#: name -> (kernel, needs "scores" or "labels")
_KERNELS = {
    "roc_auc": (_k_auc, "scores"),
    "auc": (_k_auc, "scores"),
    "brier": (_k_brier, "scores"),
    "sensitivity": (_k_sensitivity, "labels"),
    "specificity": (_k_specificity, "labels"),
    "fnr": (_k_fnr, "labels"),
    "f1": (_k_f1, "labels"),
    "accuracy": (_k_accuracy, "labels"),
}


def _undefined(name, what):
    # stacklevel: _undefined <- _label_rate <- the metric <- validate_params' wrapper <- the caller
    warnings.warn(f"{name} is undefined: y_true has no {what}; returning NaN.", UndefinedMetricWarning, stacklevel=5)
    return np.nan


def _label_rate(kernel, name, undefined_unless, y_true, y_pred, pos_label):
    """A rate over predicted labels; NaN (warned) when ``y_true`` lacks a class it needs."""
    check_consistent_length(y_true, y_pred)
    pos = _positives(y_true, pos_label, require_both=False)
    if undefined_unless == "positives" and not pos.any():
        return _undefined(name, "positives")
    if undefined_unless == "negatives" and pos.all():
        return _undefined(name, "negatives")
    return float(kernel(pos, _predicted_positives(y_pred, pos_label)))


# ----------------------------------------------------------------- scorers
_LABEL_METRIC_PARAMS = {"y_true": ["array-like"], "y_pred": ["array-like"], "pos_label": [Real, str, bool]}


@validate_params(_LABEL_METRIC_PARAMS, prefer_skip_nested_validation=True)
def sensitivity_score(y_true, y_pred, *, pos_label=1):
    """Sensitivity (recall, true-positive rate): TP / (TP + FN).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : int, str or bool, default=1
        The positive (malignant) class.

    Returns
    -------
    float
        NaN, with an ``UndefinedMetricWarning``, when ``y_true`` has no positives.

    Examples
    --------
    >>> sensitivity_score([1, 1, 1, 0], [1, 1, 0, 0])
    0.666...
    """
    return _label_rate(_k_sensitivity, "sensitivity", "positives", y_true, y_pred, pos_label)


@validate_params(_LABEL_METRIC_PARAMS, prefer_skip_nested_validation=True)
def specificity_score(y_true, y_pred, *, pos_label=1):
    """Specificity (true-negative rate): TN / (TN + FP).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : int, str or bool, default=1
        The positive (malignant) class; every other label is negative.

    Returns
    -------
    float
        NaN, with an ``UndefinedMetricWarning``, when ``y_true`` has no negatives.

    Examples
    --------
    >>> specificity_score([0, 0, 0, 0, 1], [0, 0, 0, 1, 1])
    0.75
    """
    return _label_rate(_k_specificity, "specificity", "negatives", y_true, y_pred, pos_label)


@validate_params(_LABEL_METRIC_PARAMS, prefer_skip_nested_validation=True)
def false_negative_rate(y_true, y_pred, *, pos_label=1):
    """False-negative rate (missed cancers): FN / (TP + FN) = 1 - sensitivity.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    pos_label : int, str or bool, default=1
        The positive (malignant) class.

    Returns
    -------
    float

    Examples
    --------
    >>> false_negative_rate([1, 1, 1, 1, 0], [1, 1, 1, 0, 0])
    0.25
    """
    return _label_rate(_k_fnr, "false-negative rate", "positives", y_true, y_pred, pos_label)


#: Scorers for ``cross_validate`` / ``GridSearchCV`` (label 1 is positive).
sensitivity_scorer = make_scorer(sensitivity_score)
specificity_scorer = make_scorer(specificity_score)

#: Ready ``scoring`` argument of :func:`sklearn.model_selection.cross_validate`.
SCORING = {
    "roc_auc": "roc_auc",
    "sensitivity": sensitivity_scorer,
    "specificity": specificity_scorer,
    "f1": "f1",
    "accuracy": "accuracy",
}


# ------------------------------------------------------------- calibration
@validate_params(
    {"y_true": ["array-like"], "y_prob": ["array-like"], "pos_label": [Real, str, bool]},
    prefer_skip_nested_validation=True,
)
def rank_auc_score(y_true, y_score, *, pos_label=1):
    """ROC AUC of binary labels, from ranks (the Mann-Whitney U statistic).

    Equal to :func:`sklearn.metrics.roc_auc_score` for binary labels (tied
    scores count one half), with a fraction of its overhead: model selection
    inside a fit (inner CV over ``gamma`` and ``C``, the choice between the
    network and its linear path) scores thousands of small folds.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels, both classes present.
    y_score : array-like of shape (n_samples,)
        Scores; higher means more likely ``pos_label``. Must be finite.
    pos_label : int, str or bool, default=1
        The positive class.

    Returns
    -------
    float
        The probability that a random positive scores above a random negative.

    Raises
    ------
    ValueError
        If ``y_true`` is not binary with both classes, or ``y_score`` is not finite
        or not of the same length.

    Examples
    --------
    >>> from sklearn_llmrad.metrics import rank_auc_score
    >>> rank_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> rank_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])  # the tie counts one half
    0.875
    """
    pos = _positives(y_true, pos_label)
    score = _scores(y_score, "y_score")
    check_consistent_length(pos, score)
    return float(_k_auc(pos, score))


def rank_auc_scorer(estimator, X, y_true):
    """Scorer form of :func:`rank_auc_score`: the AUC of ``estimator.decision_function(X)``.

    A plain ``scorer(estimator, X, y)`` callable for inner model selection,
    without :func:`sklearn.metrics.get_scorer`'s per-call overhead; the
    positive class is ``estimator.classes_[1]``.

    Parameters
    ----------
    estimator : fitted binary classifier
        Has ``decision_function`` and ``classes_``.
    X : array-like of shape (n_samples, n_features)
    y_true : array-like of shape (n_samples,)
        Labels, both classes present.

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_llmrad.metrics import rank_auc_scorer
    >>> X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    >>> rank_auc_scorer(LogisticRegression().fit(X, y), X, y)
    1.0
    """
    return rank_auc_score(y_true, estimator.decision_function(X), pos_label=estimator.classes_[1])


def brier_score(y_true, y_prob, *, pos_label=1):
    """Brier score: mean squared difference between probability and outcome.

    A thin wrapper of :func:`sklearn.metrics.brier_score_loss` with this
    module's input checks (probabilities in [0, 1]).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class.
    pos_label : int, str or bool, default=1
        The positive class.

    Returns
    -------
    float

    Examples
    --------
    >>> brier_score([0, 1], [0.0, 0.5])
    0.125
    """
    check_consistent_length(y_true, y_prob)
    pos = _positives(y_true, pos_label, require_both=False)
    prob = _scores(y_prob, "y_prob", probability=True)
    return float(brier_score_loss(pos.astype(int), prob, pos_label=1))


def _bin_ids(prob, n_bins, strategy):
    # Same bin edges and assignment as sklearn.calibration.calibration_curve,
    # so that the table matches a reliability diagram drawn by scikit-learn.
    if strategy == "quantile":
        edges = np.percentile(prob, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    return edges, np.searchsorted(edges[1:-1], prob)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
        "pos_label": [Real, str, bool],
    },
    prefer_skip_nested_validation=True,
)
def calibration_table(y_true, y_prob, *, n_bins=10, strategy="uniform", pos_label=1):
    """Per-bin mean predicted probability and observed frequency.

    The rows of a reliability diagram. Bins follow
    :func:`sklearn.calibration.calibration_curve`: ``"uniform"`` splits
    [0, 1] into ``n_bins`` equal intervals, ``"quantile"`` puts (about) the
    same number of cases in each; a value on an inner edge goes to the lower
    bin.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class, in [0, 1].
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        How bin edges are chosen.
    pos_label : int, str or bool, default=1
        The positive class.

    Returns
    -------
    DataFrame
        One row per bin, empty bins included, with columns ``lower``,
        ``upper``, ``count``, ``mean_predicted``, ``observed`` (fraction of
        positives) and ``gap`` (``observed - mean_predicted``); the means are
        NaN in empty bins.

    Examples
    --------
    >>> table = calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> table[["count", "observed"]].to_numpy().tolist()
    [[2.0, 0.0], [2.0, 1.0]]
    """
    check_consistent_length(y_true, y_prob)
    pos = _positives(y_true, pos_label, require_both=False)
    prob = _scores(y_prob, "y_prob", probability=True)
    edges, ids = _bin_ids(prob, n_bins, strategy)
    count = np.bincount(ids, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(ids, weights=prob, minlength=n_bins) / count
        observed = np.bincount(ids, weights=pos.astype(float), minlength=n_bins) / count
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "mean_predicted": mean_pred,
            "observed": observed,
            "gap": observed - mean_pred,
        }
    )


@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
        "pos_label": [Real, str, bool],
    },
    prefer_skip_nested_validation=True,
)
def expected_calibration_error(y_true, y_prob, *, n_bins=10, strategy="uniform", pos_label=1):
    """Expected calibration error: count-weighted mean |observed - predicted| over bins.

    ECE = sum_b (n_b / n) |observed_b - mean_predicted_b| (Naeini, Cooper &
    Hauskrecht 2015, AAAI), with the bins of :func:`calibration_table`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class, in [0, 1].
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        How bin edges are chosen.
    pos_label : int, str or bool, default=1
        The positive class.

    Returns
    -------
    float

    Examples
    --------
    >>> expected_calibration_error([0, 1], [0.25, 0.75], n_bins=2)
    0.25
    """
    table = calibration_table(y_true, y_prob, n_bins=n_bins, strategy=strategy, pos_label=pos_label)
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float((weights * filled["gap"].abs()).sum())


# --------------------------------------------------------------- bootstrap
def _resolve_metric(metric, values, threshold):
    """Return (kernel(pos, values_subset), values) for a name or a callable."""
    if callable(metric):
        return None, values
    kernel, kind = _KERNELS[metric]
    if kind == "labels":
        v = np.asarray(values)
        if v.dtype == bool or np.isin(v, [0, 1]).all():
            return kernel, v.astype(bool)
        return kernel, _scores(v, "y_score", probability=False) >= threshold
    probability = metric == "brier"
    return kernel, _scores(values, "y_score", probability=probability)


def _chunk_rows(n_samples):
    # replicates per block: bounds the index matrix to ~4M entries
    return int(max(1, min(256, 2**22 // max(n_samples, 1))))


def _bootstrap_indices(rng, pos, stratified, n_bootstraps):
    """Yield blocks of resampled indices, one replicate per row."""
    pos_idx = np.flatnonzero(pos)
    neg_idx = np.flatnonzero(~pos)
    step = _chunk_rows(pos.size)
    for start in range(0, n_bootstraps, step):
        rows = min(step, n_bootstraps - start)
        if not stratified:
            yield rng.randint(0, pos.size, size=(rows, pos.size))
            continue
        # Resample positives and negatives separately, so every replicate keeps
        # the observed prevalence and both classes (AUC stays defined).
        yield np.hstack(
            [
                pos_idx[rng.randint(0, pos_idx.size, size=(rows, pos_idx.size))],
                neg_idx[rng.randint(0, neg_idx.size, size=(rows, neg_idx.size))],
            ]
        )


def _leave_one_out_indices(n_samples):
    """Yield blocks of jackknife indices: row i holds every index but i."""
    base = np.arange(n_samples - 1)
    step = _chunk_rows(n_samples)
    for start in range(0, n_samples, step):
        left_out = np.arange(start, min(start + step, n_samples))
        yield base[None, :] + (base[None, :] >= left_out[:, None])


def _evaluate(fn, vectorised, y_true, values, idx):
    """The metric on each row of ``idx``; NaN where it is undefined."""
    with warnings.catch_warnings():
        # per-replicate warnings (e.g. UndefinedMetricWarning) are summarised
        # once by _warn_dropped instead
        warnings.simplefilter("ignore")
        if vectorised:
            return np.asarray(fn(y_true[idx], values[idx]), dtype=float)
        out = np.empty(len(idx))
        for r, row in enumerate(idx):
            try:
                out[r] = float(fn(y_true[row], values[row]))
            except ValueError:  # e.g. one class in a non-stratified replicate
                out[r] = np.nan
        return out


def _interval(boot, estimate, confidence, method, jackknife):
    """Percentile or BCa bounds from bootstrap replicates (NaNs dropped)."""
    finite = boot[np.isfinite(boot)]
    if finite.size == 0 or not np.isfinite(estimate):
        return np.nan, np.nan
    alpha = (1 - confidence) / 2
    quantiles = np.array([alpha, 1 - alpha])
    if method == "bca":
        # Efron (1987), JASA 82(397); Efron & Tibshirani (1993), ch. 14.
        # Ties with the estimate count one half: metrics on labels are discrete.
        below = (np.count_nonzero(finite < estimate) + 0.5 * np.count_nonzero(finite == estimate)) / finite.size
        jack = jackknife()
        jack = jack[np.isfinite(jack)]
        if 0 < below < 1 and jack.size > 1:
            z0 = ndtri(below)
            d = jack.mean() - jack
            denom = 6.0 * np.sum(d**2) ** 1.5
            accel = np.sum(d**3) / denom if denom > 0 else 0.0
            z = ndtri(quantiles)
            quantiles = ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        else:
            warnings.warn(
                "BCa interval is undefined here (all replicates on one side "
                "of the estimate); using the percentile interval.",
                RuntimeWarning,
                stacklevel=4,
            )
    low, high = np.quantile(finite, quantiles)
    return float(low), float(high)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score_or_pred": ["array-like"],
        "metric": [StrOptions(set(_KERNELS)), callable],
        "n_bootstraps": [Interval(Integral, 1, None, closed="left")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "stratified": ["boolean"],
        "method": [StrOptions({"percentile", "bca"})],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "pos_label": [Real, str, bool],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def bootstrap_ci(
    y_true,
    y_score_or_pred,
    metric,
    *,
    n_bootstraps=2000,
    confidence=0.95,
    stratified=True,
    method="percentile",
    threshold=0.5,
    pos_label=1,
    random_state=None,
):
    """Bootstrap confidence interval of a metric.

    Cases are resampled with replacement; with ``stratified=True`` positives
    and negatives are resampled separately (each replicate keeps the class
    counts). The interval is the percentile interval of the replicates or,
    with ``method="bca"``, the bias-corrected and accelerated interval
    (Efron 1987; acceleration from the jackknife). Replicates on which the
    metric is undefined (NaN, or a ``ValueError`` from a callable) are
    dropped with a warning.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_score_or_pred : array-like of shape (n_samples,)
        Scores (for ``"roc_auc"``, ``"brier"``), labels, or probabilities
        that label metrics threshold at ``threshold``.
    metric : str or callable
        ``"roc_auc"`` (alias ``"auc"``), ``"brier"``, ``"sensitivity"``,
        ``"specificity"``, ``"fnr"``, ``"f1"``, ``"accuracy"``, or a callable
        ``metric(y_true, y_score_or_pred)`` applied to each replicate as is.
    n_bootstraps : int, default=2000
        Number of replicates.
    confidence : float, default=0.95
        Confidence level.
    stratified : bool, default=True
        Resample each class separately.
    method : {"percentile", "bca"}, default="percentile"
        Interval construction.
    threshold : float, default=0.5
        Label metrics predict positive when the score is ``>= threshold``
        (unless ``y_score_or_pred`` already holds 0/1 labels).
    pos_label : int, str or bool, default=1
        The positive class.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    ConfidenceInterval
        ``(estimate, low, high)``; the estimate is the metric on all data.

    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1, 0, 1]
    >>> p = [0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.6, 0.3]
    >>> ci = bootstrap_ci(y, p, "roc_auc", n_bootstraps=200, random_state=0)
    >>> ci.low <= ci.estimate <= ci.high
    True
    """
    check_consistent_length(y_true, y_score_or_pred)
    y_arr = column_or_1d(y_true)
    pos = _positives(y_arr, pos_label, require_both=stratified or not callable(metric))
    kernel, values = _resolve_metric(metric, column_or_1d(y_score_or_pred), threshold)
    vectorised = kernel is not None
    fn, labels = (kernel, pos) if vectorised else (metric, y_arr)

    estimate = float(fn(labels, values))
    rng = check_random_state(random_state)
    boot = np.concatenate(
        [
            _evaluate(fn, vectorised, labels, values, idx)
            for idx in _bootstrap_indices(rng, pos, stratified, n_bootstraps)
        ]
    )
    _warn_dropped(boot)

    def jackknife():
        return np.concatenate(
            [_evaluate(fn, vectorised, labels, values, idx) for idx in _leave_one_out_indices(pos.size)]
        )

    low, high = _interval(boot, estimate, confidence, method, jackknife)
    return ConfidenceInterval(float(estimate), low, high)


def _warn_dropped(boot, name="the metric"):
    dropped = np.count_nonzero(~np.isfinite(boot))
    if dropped:
        warnings.warn(
            f"{name} was undefined on {dropped} of {boot.size} bootstrap "
            "replicates; they are left out of the interval.",
            RuntimeWarning,
            stacklevel=3,
        )


# ------------------------------------------------------------------ DeLong
def _delong(pos, scores):
    """AUCs and their covariance for score rows of ``scores`` (k, n).

    DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3):837-845, with the
    midrank algorithm of Sun & Xu (2014), IEEE Signal Process. Lett.
    21(11):1389-1393: the structural components follow from three rankings,
    V10_i = (T_Z(X_i) - T_X(X_i)) / n and V01_j = 1 - (T_Z(Y_j) - T_Y(Y_j)) / m,
    where T are midranks within the positives X (m), the negatives Y (n) and
    their union Z.
    """
    m = int(pos.sum())
    n = pos.size - m
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's variance needs at least 2 positive and 2 negative cases; got {m} and {n}.")
    X = scores[:, pos]
    Y = scores[:, ~pos]
    tx = rankdata(X, axis=1)
    ty = rankdata(Y, axis=1)
    tz = rankdata(np.concatenate([X, Y], axis=1), axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return auc, s10 / m + s01 / n


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "pos_label": [Real, str, bool],
    },
    prefer_skip_nested_validation=True,
)
def delong_ci(y_true, y_score, *, confidence=0.95, pos_label=1):
    """Confidence interval of one AUC from DeLong's variance.

    The normal interval ``auc +/- z * se``, clipped to [0, 1].

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_score : array-like of shape (n_samples,)
        Scores, higher for the positive class.
    confidence : float, default=0.95
        Confidence level.
    pos_label : int, str or bool, default=1
        The positive class.

    Returns
    -------
    ConfidenceInterval

    Examples
    --------
    >>> ci = delong_ci([0, 0, 1, 1], [0.1, 0.5, 0.4, 0.9])
    >>> ci.estimate
    0.75
    """
    check_consistent_length(y_true, y_score)
    pos = _positives(y_true, pos_label)
    score = _scores(y_score, "y_score")
    auc, cov = _delong(pos, score[None, :])
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    half = ndtri(0.5 + confidence / 2) * se
    auc = float(auc[0])
    return ConfidenceInterval(auc, max(0.0, auc - half), min(1.0, auc + half))


@validate_params(
    {
        "y_true": ["array-like"],
        "score_a": ["array-like"],
        "score_b": ["array-like"],
        "pos_label": [Real, str, bool],
    },
    prefer_skip_nested_validation=True,
)
def delong_test(y_true, score_a, score_b, *, pos_label=1):
    """DeLong's test of two correlated AUCs (two models, the same cases).

    z = (AUC_a - AUC_b) / sqrt(Var_a + Var_b - 2 Cov_ab), two-sided normal
    p-value (DeLong, DeLong & Clarke-Pearson 1988; fast midrank algorithm of
    Sun & Xu 2014).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    score_a, score_b : array-like of shape (n_samples,)
        Scores of the two models on the same cases.
    pos_label : int, str or bool, default=1
        The positive class.

    Returns
    -------
    DeLongResult
        ``(auc_a, auc_b, z, p_value, covariance)``. When the variance of the
        difference is zero, z is 0 (p = 1) for equal AUCs and +/-inf (p = 0)
        otherwise.

    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> res = delong_test(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    >>> res.p_value
    1.0
    """
    check_consistent_length(y_true, score_a, score_b)
    pos = _positives(y_true, pos_label)
    scores = np.vstack([_scores(score_a, "score_a"), _scores(score_b, "score_b")])
    auc, cov = _delong(pos, scores)
    diff = auc[0] - auc[1]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    # Round-off can leave a tiny variance for identical score vectors.
    if var <= 1e-15 * max(1.0, cov[0, 0] + cov[1, 1]):
        z = 0.0 if abs(diff) < 1e-12 else float(np.copysign(np.inf, diff))
    else:
        z = float(diff / np.sqrt(var))
    p_value = float(2 * ndtr(-abs(z)))
    return DeLongResult(float(auc[0]), float(auc[1]), z, p_value, cov)


# ----------------------------------------------------------------- summary
@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "n_bootstraps": [Interval(Integral, 0, None, closed="left")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "pos_label": [Real, str, bool],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def summarize_predictions(
    y_true,
    y_prob,
    *,
    threshold=0.5,
    n_bootstraps=2000,
    confidence=0.95,
    n_bins=10,
    pos_label=1,
    random_state=None,
):
    """All the numbers of one benchmark row, with stratified-bootstrap CIs.

    AUC, sensitivity, specificity, F1 and accuracy get percentile intervals
    from the same stratified bootstrap replicates (paired across metrics);
    FNR, Brier score and ECE (uniform bins) are point estimates.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True binary labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class, in [0, 1].
    threshold : float, default=0.5
        A case is predicted positive when ``y_prob >= threshold``.
    n_bootstraps : int, default=2000
        Replicates; 0 gives NaN bounds.
    confidence : float, default=0.95
        Confidence level.
    n_bins : int, default=10
        Bins of the ECE.
    pos_label : int, str or bool, default=1
        The positive class.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap.

    Returns
    -------
    dict
        Keys ``auc``, ``sensitivity``, ``specificity``, ``f1``, ``accuracy``,
        each with ``<key>_low`` and ``<key>_high``; then ``fnr``, ``brier``,
        ``ece``, ``n``, ``n_positive``, ``threshold``. Plain floats/ints
        (JSON-ready).

    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1, 0, 1]
    >>> p = [0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.6, 0.3]
    >>> row = summarize_predictions(y, p, n_bootstraps=100, random_state=0)
    >>> row["auc_low"] <= row["auc"] <= row["auc_high"], row["n_positive"]
    (True, 4)
    """
    check_consistent_length(y_true, y_prob)
    pos = _positives(y_true, pos_label)
    prob = _scores(y_prob, "y_prob", probability=True)
    pred = prob >= threshold
    kernels = {
        "auc": (_k_auc, prob),
        "sensitivity": (_k_sensitivity, pred),
        "specificity": (_k_specificity, pred),
        "f1": (_k_f1, pred),
        "accuracy": (_k_accuracy, pred),
    }
    rng = check_random_state(random_state)
    # the same replicates for every metric (a paired bootstrap)
    blocks = [
        np.column_stack([_evaluate(k, True, pos, v, idx) for k, v in kernels.values()])
        for idx in _bootstrap_indices(rng, pos, True, n_bootstraps)
    ]
    boot = np.vstack(blocks) if blocks else np.empty((0, len(kernels)))
    row = {}
    for j, (name, (kernel, values)) in enumerate(kernels.items()):
        estimate = float(kernel(pos, values))
        if n_bootstraps:
            _warn_dropped(boot[:, j], name)
            low, high = _interval(boot[:, j], estimate, confidence, "percentile", None)
        else:
            low = high = np.nan
        row.update({name: estimate, f"{name}_low": low, f"{name}_high": high})
    row["fnr"] = float(_k_fnr(pos, pred))
    row["brier"] = float(_k_brier(pos, prob))
    row["ece"] = expected_calibration_error(pos.astype(int), prob, n_bins=n_bins)
    row["n"] = int(pos.size)
    row["n_positive"] = int(pos.sum())
    row["threshold"] = float(threshold)
    return row
