"""Robust scaling of radiomics features, shared by the encoder and the w/o-BioBERT ablation.

PyRadiomics features span many orders of magnitude (a GLRLM run-length
non-uniformity of 10^4 next to a correlation in [-1, 1]) and have heavy tails.
Each feature is centred on its training median and divided by its training
inter-quartile range (the standard deviation where the IQR is 0, else 1),
then clipped to ``±clip``; a missing value becomes the training median (0 after
scaling). :class:`~sklearn_llmrad.encoding.BioBERTEncoder` scales the values it
hands to the fusion network this way, and :class:`RobustFeatureScaler` does the
same for the "w/o BioBERT" ablation, so the ablation removes the language model
and nothing else.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["fit_scaling", "apply_scaling", "training_quantiles", "RobustFeatureScaler"]

#: Quantile levels kept of each training feature (0 %, 1 %, ..., 100 %).
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)


def training_quantiles(values):
    """The 101 quantiles (0 %, 1 %, ..., 100 %) of each training feature, NaNs ignored.

    A model keeps them so that an explanation can give a feature's training-set
    percentile and tell a feature that was constant in training.

    Parameters
    ----------
    values : array-like of shape (n_samples, n_features)
        Training values; an all-NaN column gets NaN quantiles.

    Returns
    -------
    ndarray of shape (101, n_features)

    Examples
    --------
    >>> training_quantiles([[0.0], [10.0]])[[0, 50, 100], 0]
    array([ 0.,  5., 10.])
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column has no quantiles
        return np.nanquantile(np.asarray(values, dtype=np.float64), QUANTILE_LEVELS, axis=0)


def fit_scaling(values, method="robust"):
    """Per-column centre and scale of ``values`` (NaN ignored).

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
    method : {"robust", "standard"} or None
        Median/IQR, mean/standard deviation, or no scaling (centre only).

    Returns
    -------
    center, scale : ndarray of shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> center, scale = fit_scaling(np.array([[1.0], [2.0], [3.0], [100.0]]))
    >>> float(center[0]), float(scale[0])
    (2.5, 25.5)
    """
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        if method == "standard":
            center = np.nanmean(values, axis=0)
            scale = np.nanstd(values, axis=0)
        else:
            center = np.nanmedian(values, axis=0)
            q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
            scale = np.where(q75 - q25 > 0, q75 - q25, np.nanstd(values, axis=0))
    center = np.where(np.isfinite(center), center, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    if method is None:
        scale = np.ones_like(scale)
    return center, scale


def apply_scaling(values, center, scale, *, clip=5.0, method="robust"):
    """Scale ``values`` with statistics from :func:`fit_scaling`; float32 out.

    Missing values become the training centre (0 after scaling).

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        The values to scale; NaN marks a missing value.
    center, scale : ndarray of shape (n_features,)
        The statistics :func:`fit_scaling` learnt on the training rows.
    clip : float or None, default=5.0
        Scaled values are clipped to ``[-clip, clip]``; None does not clip.
    method : {"robust", "standard"} or None, default="robust"
        The method the statistics were fitted with; None only imputes.

    Returns
    -------
    scaled : ndarray of shape (n_samples, n_features), dtype float32
        The scaled, clipped and imputed values.

    Examples
    --------
    >>> import numpy as np
    >>> apply_scaling(np.array([[np.nan, 1000.0]]), np.zeros(2), np.ones(2), clip=5.0).tolist()
    [[0.0, 5.0]]
    """
    values = np.asarray(values, dtype=np.float64)
    values = np.where(np.isnan(values), center, values)
    if method is None:
        return values.astype(np.float32)
    scaled = (values - center) / scale
    if clip is not None:
        np.clip(scaled, -clip, clip, out=scaled)
    return scaled.astype(np.float32)


class RobustFeatureScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Median/IQR scaling with clipping and median imputation, learned in ``fit``.

    Parameters
    ----------
    method : {"robust", "standard"}, default="robust"
    clip : float or None, default=5.0
        Scaled values are clipped to ``[-clip, clip]``.

    Attributes
    ----------
    center_, scale_ : ndarray of shape (n_features_in_,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.scaling import RobustFeatureScaler
    >>> X = np.array([[1.0], [2.0], [3.0], [4.0], [100.0], [np.nan]])
    >>> RobustFeatureScaler().fit_transform(X)[:, 0].tolist()  # median 3, IQR 2, clipped at 5
    [-1.0, -0.5, 0.0, 0.5, 5.0, 0.0]
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"robust", "standard"})],
        "clip": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, *, method="robust", clip=5.0):
        self.method = method
        self.clip = clip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each feature's centre and scale from the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training values; NaN marks a missing value.
        y : None
            Ignored.

        Returns
        -------
        self : RobustFeatureScaler
            The fitted scaler.
        """
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        self.center_, self.scale_ = fit_scaling(X, self.method)
        return self

    def transform(self, X):
        """Scale, clip and impute ``X``; float32 array.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values to scale; NaN marks a missing value.

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_features), dtype float32
            The scaled values, clipped to ``[-clip, clip]``, missing ones at 0.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        return apply_scaling(X, self.center_, self.scale_, clip=self.clip, method=self.method)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # float32 out, as the fusion network wants
        return tags
