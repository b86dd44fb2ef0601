"""Evaluation of binary (benign/malignant) predictions.

- scorers: :func:`sensitivity_score`, :func:`specificity_score`,
  :func:`false_negative_rate` and :data:`SCORING` for ``cross_validate``;
- uncertainty: :func:`bootstrap_ci` (stratified percentile or BCa bootstrap),
  :func:`delong_ci` and :func:`delong_test` (paired test of two AUCs, from
  :mod:`~sklearn_llmrad.significance`, beside the Friedman and Wilcoxon tests over studies);
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
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import brier_score_loss, make_scorer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ._binary import (
    KERNELS,
    checked_scores,
    k_accuracy,
    k_auc,
    k_brier,
    k_f1,
    k_fnr,
    k_sensitivity,
    k_specificity,
    positive_mask,
    predicted_positives,
)
from .significance import DeLongResult, delong_ci, delong_test

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


def _undefined(name, what):
    # stacklevel: _undefined <- _label_rate <- the metric <- validate_params' wrapper <- the caller
    warnings.warn(f"{name} is undefined: y_true has no {what}; returning NaN.", UndefinedMetricWarning, stacklevel=5)
    return np.nan


def _label_rate(kernel, name, undefined_unless, y_true, y_pred, pos_label):
    """A rate over predicted labels; NaN (warned) when ``y_true`` lacks a class it needs."""
    check_consistent_length(y_true, y_pred)
    pos = positive_mask(y_true, pos_label, require_both=False)
    if undefined_unless == "positives" and not pos.any():
        return _undefined(name, "positives")
    if undefined_unless == "negatives" and pos.all():
        return _undefined(name, "negatives")
    return float(kernel(pos, predicted_positives(y_pred, pos_label)))


# ----------------------------------------------------------------- scorers
#: ``validate_params`` constraints of what every metric here takes: the labels and the positive class.
_LABELS = {"y_true": ["array-like"], "pos_label": [Real, str, bool]}
#: ... and every bootstrapped one: the threshold for label metrics, the level and the seed.
_BOOTSTRAP = {
    **_LABELS,
    "threshold": [Interval(Real, 0, 1, closed="both")],
    "confidence": [Interval(Real, 0, 1, closed="neither")],
    "random_state": ["random_state"],
}

_LABEL_METRIC_DOC = """{summary}

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
        NaN, with an ``UndefinedMetricWarning``, when ``y_true`` has no {needs}.

    Examples
    --------
    >>> {example}
    """


def _label_metric(name, kernel, label, needs, summary, example):
    """A public metric over predicted labels: ``name(y_true, y_pred, *, pos_label=1)``."""

    def metric(y_true, y_pred, *, pos_label=1):
        return _label_rate(kernel, label, needs, y_true, y_pred, pos_label)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = _LABEL_METRIC_DOC.format(summary=summary, needs=needs, example=example)
    return validate_params({**_LABELS, "y_pred": ["array-like"]}, prefer_skip_nested_validation=True)(metric)


sensitivity_score = _label_metric(
    "sensitivity_score",
    k_sensitivity,
    "sensitivity",
    "positives",
    "Sensitivity (recall, true-positive rate): TP / (TP + FN).",
    "sensitivity_score([1, 1, 1, 0], [1, 1, 0, 0])\n    0.666...",
)
specificity_score = _label_metric(
    "specificity_score",
    k_specificity,
    "specificity",
    "negatives",
    "Specificity (true-negative rate): TN / (TN + FP).",
    "specificity_score([0, 0, 0, 0, 1], [0, 0, 0, 1, 1])\n    0.75",
)
false_negative_rate = _label_metric(
    "false_negative_rate",
    k_fnr,
    "false-negative rate",
    "positives",
    "False-negative rate (missed cancers): FN / (TP + FN) = 1 - sensitivity.",
    "false_negative_rate([1, 1, 1, 1, 0], [1, 1, 1, 0, 0])\n    0.25",
)

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
@validate_params({**_LABELS, "y_score": ["array-like"]}, prefer_skip_nested_validation=True)
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
    pos = positive_mask(y_true, pos_label)
    score = checked_scores(y_score, "y_score")
    check_consistent_length(pos, score)
    return float(k_auc(pos, score))


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


#: The labels and probabilities the metrics over probabilities take, documented once.
_PROBABILITY_PARAMETERS = """y_true : array-like of shape (n_samples,)
        True binary labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of the positive class, in [0, 1]."""


def _probability_doc(fn):
    """Put :data:`_PROBABILITY_PARAMETERS` where ``fn``'s docstring says ``%(y_true, y_prob)s``."""
    fn.__doc__ = fn.__doc__.replace("%(y_true, y_prob)s", _PROBABILITY_PARAMETERS)
    return fn


@_probability_doc
def brier_score(y_true, y_prob, *, pos_label=1):
    """Brier score: mean squared difference between probability and outcome.

    A thin wrapper of :func:`sklearn.metrics.brier_score_loss` with this
    module's input checks (probabilities in [0, 1]).

    Parameters
    ----------
    %(y_true, y_prob)s
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
    pos = positive_mask(y_true, pos_label, require_both=False)
    prob = checked_scores(y_prob, "y_prob", probability=True)
    return float(brier_score_loss(pos.astype(int), prob, pos_label=1))


def _bin_ids(prob, n_bins, strategy):
    # Same bin edges and assignment as sklearn.calibration.calibration_curve,
    # so that the table matches a reliability diagram drawn by scikit-learn.
    if strategy == "quantile":
        edges = np.percentile(prob, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    return edges, np.searchsorted(edges[1:-1], prob)


def _binned_metric(fn):
    """``validate_params`` and the shared parameter docs of the metrics over probability bins."""
    fn.__doc__ = fn.__doc__.replace("%(binned_parameters)s", _BINNED_PARAMETERS.strip())
    _probability_doc(fn)
    checks = {
        **_LABELS,
        "y_prob": ["array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
    }
    return validate_params(checks, prefer_skip_nested_validation=True)(fn)


_BINNED_PARAMETERS = """
    Parameters
    ----------
    %(y_true, y_prob)s
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        How bin edges are chosen.
    pos_label : int, str or bool, default=1
        The positive class.
"""


@_binned_metric
def calibration_table(y_true, y_prob, *, n_bins=10, strategy="uniform", pos_label=1):
    """Per-bin mean predicted probability and observed frequency.

    The rows of a reliability diagram. Bins follow
    :func:`sklearn.calibration.calibration_curve`: ``"uniform"`` splits
    [0, 1] into ``n_bins`` equal intervals, ``"quantile"`` puts (about) the
    same number of cases in each; a value on an inner edge goes to the lower
    bin.

    %(binned_parameters)s

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
    pos = positive_mask(y_true, pos_label, require_both=False)
    prob = checked_scores(y_prob, "y_prob", probability=True)
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


@_binned_metric
def expected_calibration_error(y_true, y_prob, *, n_bins=10, strategy="uniform", pos_label=1):
    """Expected calibration error: count-weighted mean |observed - predicted| over bins.

    ECE = sum_b (n_b / n) |observed_b - mean_predicted_b| (Naeini, Cooper &
    Hauskrecht 2015, AAAI), with the bins of :func:`calibration_table`.

    %(binned_parameters)s

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
    kernel, kind = KERNELS[metric]
    if kind == "labels":
        v = np.asarray(values)
        if v.dtype == bool or np.isin(v, [0, 1]).all():
            return kernel, v.astype(bool)
        return kernel, checked_scores(v, "y_score", probability=False) >= threshold
    probability = metric == "brier"
    return kernel, checked_scores(values, "y_score", probability=probability)


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
        **_BOOTSTRAP,
        "y_score_or_pred": ["array-like"],
        "metric": [StrOptions(set(KERNELS)), callable],
        "n_bootstraps": [Interval(Integral, 1, None, closed="left")],
        "stratified": ["boolean"],
        "method": [StrOptions({"percentile", "bca"})],
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
    pos = positive_mask(y_arr, pos_label, require_both=stratified or not callable(metric))
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


# ----------------------------------------------------------------- summary
@validate_params(
    {
        **_BOOTSTRAP,
        "y_prob": ["array-like"],
        "n_bootstraps": [Interval(Integral, 0, None, closed="left")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
@_probability_doc
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
    %(y_true, y_prob)s
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
    pos = positive_mask(y_true, pos_label)
    prob = checked_scores(y_prob, "y_prob", probability=True)
    pred = prob >= threshold
    kernels = {
        "auc": (k_auc, prob),
        "sensitivity": (k_sensitivity, pred),
        "specificity": (k_specificity, pred),
        "f1": (k_f1, pred),
        "accuracy": (k_accuracy, pred),
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
    row["fnr"] = float(k_fnr(pos, pred))
    row["brier"] = float(k_brier(pos, prob))
    row["ece"] = expected_calibration_error(pos.astype(int), prob, n_bins=n_bins)
    row["n"] = int(pos.size)
    row["n_positive"] = int(pos.sum())
    row["threshold"] = float(threshold)
    return row
