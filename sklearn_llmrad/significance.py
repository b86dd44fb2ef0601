"""Tests of differences between models.

- :func:`summarize_studies`: mean ranks, a Friedman test and pairwise Wilcoxon
  signed-rank tests over studies (Demšar 2006, JMLR 7:1-30);
- :func:`delong_test` and :func:`delong_ci`: DeLong's paired test of two AUCs on
  the same cases and the interval of one (documented, and imported, from
  :mod:`~sklearn_llmrad.metrics`).
"""

from __future__ import annotations

from numbers import Real
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from scipy.stats import friedmanchisquare, rankdata, wilcoxon
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_consistent_length

from ._binary import checked_scores, positive_mask

__all__ = ["summarize_studies"]


def summarize_studies(aucs):
    """Mean AUC, mean rank, Friedman and pairwise Wilcoxon tests over studies.

    Follows Demšar (2006): models are ranked within each study (1 = best AUC, ties
    share the average rank) and ranks averaged over the studies where every model
    has a result; each pair of models is compared with a two-sided Wilcoxon
    signed-rank test of their per-study AUC differences (zero differences split
    between the two signs, ``zero_method="zsplit"``).

    Parameters
    ----------
    aucs : DataFrame
        One row per study, one column per model; NaN where a model has no result.

    Returns
    -------
    summary : DataFrame
        Per model: ``mean_auc`` (over its studies), ``mean_auc_complete`` (over the
        studies where every model has a result), ``median_auc``, ``mean_rank`` and
        ``n_studies``, best mean rank first.
    pairs : DataFrame
        Per ordered pair ``(model, versus)``: ``n_studies``, ``wins``, ``ties``,
        ``losses``, ``mean_diff`` (model minus versus), ``statistic``, ``p_value``.
    friedman_p : float
        Friedman test p-value over the complete studies (NaN if fewer than three
        models or two studies).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.significance import summarize_studies
    >>> aucs = pd.DataFrame({"a": [0.8, 0.7, 0.9], "b": [0.6, 0.7, 0.5]})
    >>> summary, pairs, _ = summarize_studies(aucs)
    >>> float(summary.loc["a", "mean_rank"]), float(summary.loc["b", "mean_rank"])
    (1.1666666666666667, 1.8333333333333333)
    >>> pairs.set_index(["model", "versus"]).loc[("a", "b"), ["wins", "ties", "losses"]].tolist()
    [2, 1, 0]
    """
    aucs = aucs.astype(float)
    complete = aucs.dropna(axis=0, how="any")
    ranks = complete.rank(axis=1, ascending=False, method="average")
    summary = pd.DataFrame(
        {
            "mean_auc": aucs.mean(axis=0),
            "mean_auc_complete": complete.mean(axis=0) if len(complete) else np.nan,
            "median_auc": aucs.median(axis=0),
            "mean_rank": ranks.mean(axis=0) if len(complete) else np.nan,
            "n_studies": aucs.notna().sum(axis=0).astype(int),
        }
    )
    summary = summary.sort_values(["mean_rank", "mean_auc"], ascending=[True, False])
    rows = []
    for a, b in ((a, b) for a in aucs.columns for b in aucs.columns if a != b):
        d = (aucs[a] - aucs[b]).dropna().to_numpy()
        row = {
            "model": a,
            "versus": b,
            "n_studies": len(d),
            "wins": int((d > 0).sum()),
            "ties": int((d == 0).sum()),
            "losses": int((d < 0).sum()),
            "mean_diff": float(d.mean()) if len(d) else np.nan,
            "statistic": np.nan,
            "p_value": np.nan,
        }
        if len(d) and np.all(d == 0):
            row["p_value"] = 1.0
        elif len(d) >= 2:
            test = wilcoxon(d, zero_method="zsplit", alternative="two-sided")
            row["statistic"], row["p_value"] = float(test.statistic), float(test.pvalue)
        rows.append(row)
    pairs = pd.DataFrame(
        rows, columns=["model", "versus", "n_studies", "wins", "ties", "losses", "mean_diff", "statistic", "p_value"]
    )
    friedman_p = np.nan
    if complete.shape[1] >= 3 and complete.shape[0] >= 2:
        friedman_p = float(friedmanchisquare(*complete.to_numpy().T).pvalue)
    return summary, pairs, friedman_p


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
    from .metrics import ConfidenceInterval

    check_consistent_length(y_true, y_score)
    pos = positive_mask(y_true, pos_label)
    score = checked_scores(y_score, "y_score")
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
    pos = positive_mask(y_true, pos_label)
    scores = np.vstack([checked_scores(score_a, "score_a"), checked_scores(score_b, "score_b")])
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
