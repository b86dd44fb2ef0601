"""Columns of a feature table chosen by name rules: the table baselines' selectors, as estimators.

A lesion benchmark's table holds the PyRadiomics features and the clinical columns
(:data:`~sklearn_llmrad._columns.CLINICAL`); a radMLBench study's table holds its
own features under its own names. :class:`FeatureColumnSelector` picks the
radiomics, clinical or shape/size columns by their names (:func:`is_size_feature`),
:class:`SafeFeatureNames` renames columns for libraries that refuse some characters
in a name (LightGBM: ``[]{}":,``), and :class:`SelectedColumnsClassifier` fits a
model on one kind of column, with no information (uniform probabilities) for a
table that has none. They are ordinary estimators whose rules are their
parameters, so a fitted pipeline of them is plain data in a model file
(:mod:`sklearn_llmrad.io`), unlike a Python function as a column selector.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._columns import CLINICAL

__all__ = ["COLUMN_KINDS", "FeatureColumnSelector", "SafeFeatureNames", "SelectedColumnsClassifier", "is_size_feature"]

#: What :class:`FeatureColumnSelector` can select.
COLUMN_KINDS = ("radiomics", "clinical", "size")

# words that say shape or size in a name outside the PyRadiomics grammar
_SIZE_WORDS = (
    "shape", "volum", "diameter", "size", "area", "perimeter", "spheric", "compact",
    "elongation", "flatness", "surf", "morpholog", "length", "axis",
)  # fmt: skip
# words of a texture matrix or an intensity statistic: "size zone", "run length", "large area emphasis"
_NOT_SIZE_WORDS = {
    "matrix", "zone", "run", "run-length", "emphasis", "non-uniformity", "nonuniformity", "intensity",
    "diagnostics", "co-occurrence", "dependence", "gray", "grey", "histogram", "glcm", "glrlm", "glszm",
    "gldm", "ngtdm", "gldzm", "ngldm",
}  # fmt: skip


def is_size_feature(name):
    """Whether a feature name says shape or size: PyRadiomics' shape classes, else the name's own words.

    Names are read by :mod:`~sklearn_llmrad.vocabulary`:
    :func:`~sklearn_llmrad.vocabulary.explain_feature` parses the PyRadiomics
    grammar (``MR_original_shape_Sphericity``, ``original_shape2D_Perimeter``).
    Other names (``APPROXIMATE_VOLUME_ML``, ``T1_E_Morphologic_EllipseDiameter_Axis-0``,
    ``totalsurfarea``) must say size or shape themselves, and their words as
    :func:`~sklearn_llmrad.vocabulary.clean_feature_name` spells them out must name
    no texture matrix or intensity statistic (``GLSZM_..._ZONE_SIZE`` becomes
    "... size zone matrix ..."). An abbreviation's expansion does not count as
    saying size: ``RCBV`` (relative cerebral blood volume) is a perfusion value,
    not the lesion's volume.

    Parameters
    ----------
    name : str
        A feature (column) name.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn_llmrad.columns import is_size_feature
    >>> is_size_feature("original_shape2D_MaximumDiameter"), is_size_feature("APPROXIMATE_VOLUME_ML")
    (True, True)
    >>> is_size_feature("GLSZM_IBSI_ZONE_SIZE_NONUNIFORMITY"), is_size_feature("original_firstorder_Mean")
    (False, False)
    """
    from .vocabulary import clean_feature_name, explain_feature

    name = str(name)
    parsed = explain_feature(name)
    if not parsed.generic:
        return str(parsed.feature_class).startswith("shape")
    words = clean_feature_name(name).lower().split()
    if _NOT_SIZE_WORDS.intersection(words) or "first" in words:
        return False
    return any(key in name.lower() for key in _SIZE_WORDS)


def _frame(estimator, X):
    if not hasattr(X, "columns"):
        raise TypeError(f"{type(estimator).__name__} reads column names: pass a DataFrame, got {type(X).__name__}")
    return X


def _selected(X, columns):
    """The columns of ``X`` of one kind (see :class:`FeatureColumnSelector`), in table order."""
    import pandas as pd

    if columns == "clinical":
        return [c for c in X.columns if c in CLINICAL]
    numeric = [c for c in X.columns if c not in CLINICAL and pd.api.types.is_numeric_dtype(X[c])]
    return numeric if columns == "radiomics" else [c for c in numeric if is_size_feature(c)]


class _ColumnsByName(TransformerMixin, BaseEstimator):
    """What the column transformers share: a DataFrame in, its names recorded, names out."""

    def fit(self, X, y=None):
        """Learn the columns of ``X``: which to keep, or their new names.

        Parameters
        ----------
        X : DataFrame
            The training table.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = _frame(self, X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self._fit_columns(X)
        return self

    def get_feature_names_out(self, input_features=None):
        """The names of the output columns.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        return np.asarray(self._names_out(), dtype=object)


class FeatureColumnSelector(_ColumnsByName):
    """Select the radiomics, clinical or shape/size columns of a feature table by their names.

    The columns are chosen on the training table (``fit``) and taken by name
    from every later table, so a column's position does not matter.

    Parameters
    ----------
    columns : {"radiomics", "clinical", "size"}, default="radiomics"
        ``"radiomics"``: the numeric columns that are not clinical (a lesion table's
        ``age``, ``density`` and ``history`` are left out, and so are text columns such
        as ``source``); ``"clinical"``: the clinical columns present; ``"size"``: the
        radiomics columns whose names say shape or size (:func:`is_size_feature`).

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        The training table's columns.
    n_features_in_ : int
        Their number.
    selected_features_ : list of str
        The columns selected, in table order (possibly none).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.columns import FeatureColumnSelector
    >>> X = pd.DataFrame({"original_shape2D_Perimeter": [1.0, 2.0], "original_glcm_Idmn": [0.1, 0.2],
    ...                   "age": [50.0, 61.0], "source": ["a.png", "b.png"]})
    >>> FeatureColumnSelector().fit(X).selected_features_
    ['original_shape2D_Perimeter', 'original_glcm_Idmn']
    >>> list(FeatureColumnSelector(columns="size").fit_transform(X).columns)
    ['original_shape2D_Perimeter']
    """

    _parameter_constraints: dict = {"columns": [StrOptions(set(COLUMN_KINDS))]}

    def __init__(self, *, columns="radiomics"):
        self.columns = columns

    def _fit_columns(self, X):
        self.selected_features_ = [str(c) for c in _selected(X, self.columns)]

    def _names_out(self):
        return self.selected_features_

    def transform(self, X):
        """The selected columns of ``X``, by name.

        Parameters
        ----------
        X : DataFrame
            A table with (at least) the selected columns.

        Returns
        -------
        DataFrame
        """
        check_is_fitted(self, "selected_features_")
        X = _frame(self, X)
        missing = [c for c in self.selected_features_ if c not in X.columns]
        if missing:
            raise ValueError(f"the table lacks {len(missing)} column(s) the selector was fitted with: {missing[:5]}")
        return X[self.selected_features_]


class SafeFeatureNames(_ColumnsByName):
    """Rename columns whose names hold characters a library refuses (LightGBM: its JSON characters).

    Each character of ``characters`` becomes ``replacement``; a name that then
    repeats an earlier one gets ``_<position>`` appended, so names stay unique.

    Parameters
    ----------
    characters : str, default='[]{}":,'
        The characters to replace (LightGBM refuses these in a feature name).
    replacement : str, default="_"
        What replaces each of them.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        The training table's columns.
    n_features_in_ : int
        Their number.
    feature_names_out_ : ndarray of str
        The new names, one per column.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.columns import SafeFeatureNames
    >>> X = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["MODE_MLO+BB:CMb", "a[1]", "a_1_"])
    >>> list(SafeFeatureNames().fit_transform(X).columns)
    ['MODE_MLO+BB_CMb', 'a_1_', 'a_1__2']
    """

    _parameter_constraints: dict = {"characters": [str], "replacement": [str]}

    def __init__(self, *, characters='[]{}":,', replacement="_"):
        self.characters = characters
        self.replacement = replacement

    def _fit_columns(self, X):
        table = str.maketrans(dict.fromkeys(self.characters, self.replacement))
        out = []
        for name in self.feature_names_in_:
            safe = name.translate(table)
            while safe in out:  # ``_<position>`` until unique (a suffixed name can equal an earlier column)
                safe = f"{safe}_{len(out)}"
            out.append(safe)
        self.feature_names_out_ = np.asarray(out, dtype=object)

    def _names_out(self):
        return self.feature_names_out_

    def transform(self, X):
        """``X`` with the new names (the same columns, in the training order).

        Parameters
        ----------
        X : DataFrame
            A table with the training columns.

        Returns
        -------
        DataFrame
        """
        check_is_fitted(self, "feature_names_out_")
        X = _frame(self, X)
        if [str(c) for c in X.columns] != list(self.feature_names_in_):
            raise ValueError("the table's columns differ from those SafeFeatureNames was fitted with")
        return X.set_axis(list(self.feature_names_out_), axis=1)


class SelectedColumnsClassifier(ClassifierMixin, BaseEstimator):
    """A classifier on one kind of column; uniform probabilities for a table that has none.

    The size-only baseline (logistic regression on the shape and size features, after
    Welch et al., Radiother Oncol 2019) must say "no information" on a study whose
    table has no shape or size column, not fail: it then predicts ``1 / n_classes``
    for every case (an AUC of 0.5), with a warning at ``fit``.

    Parameters
    ----------
    estimator : estimator
        A classifier with ``predict_proba``, fitted (a clone) on the selected columns.
    columns : {"radiomics", "clinical", "size"}, default="size"
        Which columns (see :class:`FeatureColumnSelector`).

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        The training table's columns.
    n_features_in_ : int
        Their number.
    selector_ : FeatureColumnSelector
        Fitted on the training table.
    selected_features_ : list of str
        The columns ``estimator_`` was fitted on (possibly none).
    estimator_ : estimator or None
        The fitted clone of ``estimator``; None when no column was selected.
    classes_ : ndarray
        The class labels.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_llmrad.columns import SelectedColumnsClassifier
    >>> y = np.array([0, 1, 0, 1, 0, 1])
    >>> X = pd.DataFrame({"original_shape2D_Perimeter": y + [0.1, 0.2, 0.0, 0.3, 0.2, 0.1],
    ...                   "original_glcm_Idmn": [0.5, 0.1, 0.3, 0.2, 0.4, 0.6]})
    >>> model = SelectedColumnsClassifier(LogisticRegression()).fit(X, y)
    >>> model.selected_features_, model.predict(X).tolist()
    (['original_shape2D_Perimeter'], [0, 1, 0, 1, 0, 1])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "columns": [StrOptions(set(COLUMN_KINDS))],
    }

    def __init__(self, estimator, *, columns="size"):
        self.estimator = estimator
        self.columns = columns

    def fit(self, X, y):
        """Fit a clone of ``estimator`` on the selected columns of ``X`` (nothing when there are none).

        Parameters
        ----------
        X : DataFrame
            The training table.
        y : array-like of shape (n_samples,)
            The labels.

        Returns
        -------
        self
        """
        self._validate_params()
        X = _frame(self, X)
        self.selector_ = FeatureColumnSelector(columns=self.columns).fit(X)
        self.feature_names_in_ = self.selector_.feature_names_in_
        self.n_features_in_ = self.selector_.n_features_in_
        self.selected_features_ = list(self.selector_.selected_features_)
        if self.selected_features_:
            self.estimator_ = clone(self.estimator).fit(self.selector_.transform(X), y)
        else:
            warnings.warn(
                f"no {self.columns} column in the table: {type(self).__name__} predicts "
                "1 / n_classes for every case (no information)",
                UserWarning,
                stacklevel=2,
            )
            self.estimator_ = None
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        """Class probabilities from the selected columns of ``X``.

        Parameters
        ----------
        X : DataFrame
            A table with the selected columns.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "classes_")
        if self.estimator_ is None:  # a constant: the same AUC (0.5) whatever the folds' prevalences
            return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))
        return self.estimator_.predict_proba(self.selector_.transform(_frame(self, X)))

    def predict(self, X):
        """The most probable class of each case (the arg-max of :meth:`predict_proba`).

        Parameters
        ----------
        X : DataFrame
            As for :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
