"""Explain any model the package builds, lesion by lesion, with the probability it predicts.

:func:`explain` walks a fitted model -- a pipeline of
:mod:`sklearn_llmrad.pipelines`, an
:class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier`, or one of the
final estimators -- exactly as its ``predict_proba`` does, so each lesion's
``probability`` is the model's own, and attributes it to the features of the
estimator that produced it:

=================  ============================================================
estimator          contribution of feature ``j``
=================  ============================================================
``linear``         coefficient x standardised value (log-odds), from
                   :meth:`~sklearn_llmrad.models.linear.SemanticPriorLogisticRegression.decision_contributions`
``network``        gradient x input of the log-odds, from
                   :meth:`~sklearn_llmrad.models.LLMRadiomicsClassifier.feature_contributions`
``average``        the mean of its candidates' contributions, each weighted as
                   the average weights its probability (equally)
``svc``            occlusion: the calibrated probability minus the probability
                   with feature ``j`` set to its training median (every other
                   feature kept); a model-agnostic local sensitivity, not a
                   decomposition (the terms need not sum to anything)
=================  ============================================================

A feature that was constant in the training data (its training range no wider
than ``1e-6`` of its median, or ``1e-12``) gets contribution 0 and is never a
driver: the model could not learn from it, and scaling a value by a range of
floating-point noise only makes it look extreme.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .models.choice import InnerCVChoiceClassifier
from .models.linear import SemanticPriorLogisticRegression
from .models.svm import CalibratedSVC
from .selection import TopKSelector
from .vocabulary import describe_feature, placeholder_names

__all__ = ["estimator_kind", "explain"]

#: A training range at most this fraction of the median (or 1e-12) is "constant".
_CONSTANT_RTOL, _CONSTANT_ATOL = 1e-6, 1e-12
_UNITS = {"linear": "log-odds", "network": "log-odds", "average": "log-odds", "svc": "probability"}


class _Leaf:
    """What one final estimator says about the lesions: arrays of shape (n, n_features)."""

    def __init__(self, kind, probability, names, raw, percentile, contribution):
        self.kind, self.probability, self.names = kind, probability, list(names)
        self.raw, self.percentile, self.contribution = raw, percentile, contribution


def _positive(estimator, X, positive):
    proba = estimator.predict_proba(X)
    return proba[:, list(estimator.classes_).index(positive)]


def _affine_stages(steps):
    """``name -> (center, scale)`` that turn the final estimator's input back into raw values."""
    inverse = {}
    for step in steps:
        center = getattr(step, "center_", getattr(step, "mean_", None))
        scale = getattr(step, "scale_", None)
        names = getattr(step, "features_", getattr(step, "feature_names_in_", None))
        if center is None or scale is None or names is None:
            continue  # an imputer: the same values
        for name, c, s in zip(names, np.ravel(center), np.ravel(scale)):
            c0, s0 = inverse.get(str(name), (0.0, 1.0))
            inverse[str(name)] = (c0 + s0 * float(c), s0 * float(s))
    return inverse


def _percentiles(values, quantiles):
    """Percentile (0-100) of each value among its column's stored training quantiles (mid-rank)."""
    m = len(quantiles) - 1
    out = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        q = quantiles[:, j]
        if np.isnan(q).any():
            continue
        lo, hi = np.searchsorted(q, values[:, j], "left"), np.searchsorted(q, values[:, j], "right")
        out[:, j] = np.clip((lo + hi) / 2.0 - 0.5, 0, m) * 100.0 / m
    out[np.isnan(values)] = np.nan
    return out


def _constant(quantiles, names, inverse):
    """Features whose raw training range is floating-point noise (or that were all missing)."""
    center = np.array([inverse.get(n, (0.0, 1.0))[0] for n in names])
    scale = np.array([inverse.get(n, (0.0, 1.0))[1] for n in names])
    raw = quantiles * scale + center
    with np.errstate(invalid="ignore"):
        span = np.nanmax(raw, axis=0) - np.nanmin(raw, axis=0) if raw.size else np.zeros(len(names))
        median = np.abs(raw[len(raw) // 2])
        return ~(span > np.maximum(_CONSTANT_RTOL * median, _CONSTANT_ATOL))


def _occlusion(svc, X, positive, quantiles):
    """Probability minus the probability with each column set to its training median."""
    base = _positive(svc, X, positive)
    named = hasattr(X, "iloc")
    frame = X.copy() if named else pd.DataFrame(np.array(X, dtype=np.float64))
    median = quantiles[len(quantiles) // 2]
    out = np.zeros((len(base), quantiles.shape[1]))
    for j in range(quantiles.shape[1]):
        column = frame.iloc[:, j].copy()
        frame.iloc[:, j] = median[j]
        out[:, j] = base - _positive(svc, frame if named else frame.to_numpy(), positive)
        frame.iloc[:, j] = column
    return base, out


def _leaf_kind(estimator):
    """``"linear"``, ``"svc"`` or ``"network"`` for a final estimator explain() knows, else None."""
    if isinstance(estimator, SemanticPriorLogisticRegression):
        return "linear"
    if isinstance(estimator, CalibratedSVC):
        return "svc"
    if hasattr(estimator, "feature_contributions") and hasattr(estimator, "validate_X"):
        return "network"
    return None


def estimator_kind(model):
    """Which estimator produces a fitted model's probabilities, read without predicting anything.

    The ``estimator`` column :func:`explain` would give, for callers that need
    the name but not the attributions (e.g. ``llmrad predict`` without ``--explain``).

    Parameters
    ----------
    model : fitted estimator or Pipeline
        A model the package builds.

    Returns
    -------
    str or None
        ``"linear"``, ``"network"``, ``"average"`` or ``"svc"``; None for a
        model :func:`explain` does not know (e.g. the CNNs).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
    >>> X, y = np.arange(20.0).reshape(10, 2), [0, 1] * 5
    >>> estimator_kind(SemanticPriorLogisticRegression(random_state=0).fit(X, y))
    'linear'
    """
    if isinstance(model, Pipeline):
        return estimator_kind(model.steps[-1][1])
    if isinstance(model, InnerCVChoiceClassifier):
        chosen = model.chosen_estimators()
        return "average" if len(chosen) > 1 else estimator_kind(chosen[0])  # as explain's walk
    return _leaf_kind(model)


def _leaf(estimator, X, positive, raw_frame, inverse, encoder_names):
    """Explain a final estimator on its own input ``X``."""
    names = getattr(estimator, "feature_names_in_", None)
    kind = _leaf_kind(estimator)
    if kind == "linear":
        probability = _positive(estimator, X, positive)
        values = np.asarray(X, dtype=np.float64)
        contribution = estimator.decision_contributions(X)
    elif kind == "svc":
        values = np.asarray(X, dtype=np.float64)
        probability, contribution = _occlusion(estimator, X, positive, estimator.training_quantiles_)
        if names is None and encoder_names is not None and len(encoder_names) == values.shape[1]:
            names = encoder_names
    elif kind == "network":
        probability = _positive(estimator, X, positive)
        values = np.asarray(estimator.validate_X(X, reset=False)["values"], dtype=np.float64)
        contribution = estimator.feature_contributions(X)
    else:
        raise TypeError(
            f"explain() knows the package's models (linear, network, SVC, their pipelines and the "
            f"inner-CV choice), not {type(estimator).__name__}"
        )
    n_features = values.shape[1]
    names = [str(n) for n in names] if names is not None else placeholder_names(n_features)
    quantiles = getattr(estimator, "training_quantiles_", None)
    if quantiles is None:  # a model file from before the quantiles were stored
        percentile, constant = np.full(values.shape, np.nan), np.zeros(n_features, dtype=bool)
    else:
        percentile, constant = _percentiles(values, quantiles), _constant(quantiles, names, inverse)
    raw = np.full(values.shape, np.nan)
    if raw_frame is not None:
        for j, name in enumerate(names):
            if name in raw_frame.columns:
                raw[:, j] = pd.to_numeric(raw_frame[name], errors="coerce").to_numpy(dtype=np.float64)
    contribution = np.where(constant, 0.0, np.nan_to_num(contribution))
    return _Leaf(kind, probability, names, raw, percentile, contribution)


def _walk(model, X, positive, raw_frame=None):
    """``(probability, estimator name, leaves with weights)`` of ``model`` on ``X``, as ``predict_proba``."""
    if isinstance(model, Pipeline):
        scaling, topk_seen = [], False
        for _, step in model.steps[:-1]:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            X = step.transform(X)
            if isinstance(step, TopKSelector):
                raw_frame, scaling, topk_seen = (X if hasattr(X, "columns") else None), [], True
            elif topk_seen:
                scaling.append(step)
        inverse = _affine_stages(scaling)
        encoder_names = next((s.features_ for s in scaling if hasattr(s, "features_")), None)
        final = model.steps[-1][1]
        if isinstance(final, (Pipeline, InnerCVChoiceClassifier)):
            return _walk(final, X, positive, raw_frame)
        leaf = _leaf(final, X, positive, raw_frame, inverse, encoder_names)
        return leaf.probability, leaf.kind, [(leaf, 1.0)]
    if isinstance(model, InnerCVChoiceClassifier):
        parts = [_walk(candidate, X, positive, raw_frame) for candidate in model.chosen_estimators()]
        probability = np.mean([p for p, _, _ in parts], axis=0)
        kind = "average" if len(parts) > 1 else parts[0][1]
        leaves = [(leaf, w / len(parts)) for _, _, part in parts for leaf, w in part]
        return probability, kind, leaves
    if raw_frame is None and hasattr(X, "columns"):  # the model alone: its input is the lesions' table
        raw_frame = X
    leaf = _leaf(model, X, positive, raw_frame, {}, None)
    return leaf.probability, leaf.kind, [(leaf, 1.0)]


def _drivers(leaves, i, top_n):
    """The lesion's ``top_n`` (feature, raw value, percentile, contribution), largest |contribution| first."""
    merged = {}
    for leaf, weight in leaves:
        for j, name in enumerate(leaf.names):
            raw, pct, total = merged.get(name, (np.nan, np.nan, 0.0))
            raw = raw if np.isfinite(raw) else float(leaf.raw[i, j])
            pct = pct if np.isfinite(pct) else float(leaf.percentile[i, j])
            merged[name] = (raw, pct, total + weight * float(leaf.contribution[i, j]))
    ranked = sorted(((n, *v) for n, v in merged.items() if v[2] != 0.0), key=lambda d: -abs(d[3]))
    return ranked[:top_n]


def _sentence(probability, kind, drivers, label):
    how = {
        "linear": "the linear model (coefficient x standardised value)",
        "network": "the fusion network (gradient x input)",
        "average": "the average of the linear model and the network (their attributions averaged)",
        "svc": "the SVC (occlusion: change of probability when the feature is set to its training median)",
    }[kind]
    parts = []
    for name, raw, pct, contribution in drivers:
        what = describe_feature(name).split(":", 1)[0].strip()
        level = "" if not np.isfinite(pct) else ("high " if pct >= 50 else "low ")
        where = f", percentile {pct:.0f}" if np.isfinite(pct) else ""
        value = f"{raw:.4g}" if np.isfinite(raw) else "n/a"
        parts.append(f"{level}{what} ({value}{where}; {contribution:+.3f} {_UNITS[kind]})")
    drivers_text = "; ".join(parts) if parts else "none (no feature moved the prediction)"
    return f"Probability of {label} {probability:.3f}, by {how}. Main drivers: {drivers_text}."


def explain(model, X, *, top_n=5):
    """Per-lesion probability, the estimator that produced it, its main drivers and a rationale.

    Works on every model the package builds: the pipelines of
    :mod:`sklearn_llmrad.pipelines` (whole, or their learned part
    ``pipeline[2:]``), the inner-CV choice, the fusion network, the linear
    model and the calibrated SVC. See the module documentation for what a
    contribution is for each estimator.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        A binary classifier the package builds.
    X : DataFrame or array-like
        What ``model.predict_proba`` takes.
    top_n : int, default=5
        Drivers per lesion.

    Returns
    -------
    DataFrame
        One row per lesion (index: ``X``'s index when it has one), columns

        - ``probability``: ``model.predict_proba(X)[:, 1]``;
        - ``estimator``: ``"linear"``, ``"network"``, ``"average"`` or
          ``"svc"`` (for the inner-CV choice, what its ``choice_`` picked);
        - ``drivers``: list of ``(feature, raw value, training percentile,
          contribution)``, largest ``|contribution|`` first; the raw value is
          the selected feature before any scaling, the percentile (0-100, from
          101 training quantiles) where the lesion lies among the training
          lesions (NaN for a model file saved without them);
        - ``text``: a rationale quoting the probability and the estimator.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import sklearn_llmrad
    >>> from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["original_firstorder_Mean", "original_shape2D_Elongation"])
    >>> X["original_shape2D_Elongation"] = 1.0
    >>> model = SemanticPriorLogisticRegression(random_state=0).fit(X, X["original_firstorder_Mean"] > 0)
    >>> table = sklearn_llmrad.explain(model, X.iloc[:2])
    >>> bool(np.allclose(table["probability"], model.predict_proba(X.iloc[:2])[:, 1]))
    True
    >>> table["estimator"].tolist(), [d[0] for d in table["drivers"].iloc[0]]
    (['linear', 'linear'], ['original_firstorder_Mean'])
    """
    if not (isinstance(top_n, Integral) and top_n >= 1):
        raise ValueError(f"top_n must be a positive integer, got {top_n!r}")
    classes = list(model.classes_)
    if len(classes) != 2:
        raise ValueError(f"explain() is defined for binary classifiers; the model has classes {classes}")
    positive = classes[1]
    probability, kind, leaves = _walk(model, X, positive)
    label = "malignancy" if positive in (1, True) or str(positive).lower() in {"1", "malignant"} else str(positive)
    drivers = [_drivers(leaves, i, int(top_n)) for i in range(len(probability))]
    index = getattr(X, "index", None)
    index = index if index is not None and not callable(index) and len(index) == len(probability) else None
    return pd.DataFrame(
        {
            "probability": probability,
            "estimator": kind,
            "drivers": drivers,
            "text": [_sentence(p, kind, d, label) for p, d in zip(probability, drivers)],
        },
        index=index,
    )
