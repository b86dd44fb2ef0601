"""The container of encoded lesions: scaled feature values, feature-name and clinical embeddings.

:class:`SemanticFeatures` is what :class:`~sklearn_llmrad.encoding.BioBERTEncoder`
returns and :class:`~sklearn_llmrad.models.LLMRadiomicsClassifier` reads. It
behaves as a 2-D array of the values for number-only estimators, indexes by
rows (lesions) for cross-validation, and shares the per-feature embeddings
between all of its row selections.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd

from .vocabulary import placeholder_names

__all__ = ["SemanticFeatures"]


class SemanticFeatures:
    """Scaled feature values with their name embeddings and clinical embeddings.

    The per-feature name embeddings are the same for every lesion and are
    stored once: row indexing returns a new container that shares
    ``feature_embeddings`` (the same array object) with this one.

    Parameters
    ----------
    values : array-like of shape (n_samples, n_features)
        Scaled feature values; stored as float32.
    feature_embeddings : array-like of shape (n_features, embedding_dim)
        Embedding of each feature's description; stored as float32 (not
        copied when already float32).
    clinical_embeddings : array-like of shape (n_samples, n_tokens, embedding_dim) \
            or (n_samples, embedding_dim)
        Embeddings of each lesion's clinical statements (see
        the encoder's :data:`~sklearn_llmrad.encoding.CLINICAL_TOKENS` for the encoder's layout, ``n_tokens=4``); a
        2-D array is treated as one token per lesion.
    clinical_mask : array-like of bool, shape (n_samples, n_tokens), default=None
        True where a token is present; all True when None.
    feature_names : array-like of str, shape (n_features,), default=None
        Defaults to ``x0, x1, ...``.
    descriptions : array-like of str, shape (n_features,), default=None
        The texts whose embeddings are ``feature_embeddings``.
    clinical_text : array-like of str, shape (n_samples,), default=None
        Each lesion's clinical sentence.
    index : array-like of shape (n_samples,), default=None
        Case ids (the input DataFrame's index), so that explanations and
        errors downstream name lesions; defaults to ``0 .. n_samples - 1``.
    array_output : {"values", "values+clinical"}, default="values"
        What ``np.asarray`` returns: the values, or the values followed by
        the mean of the present clinical-token embeddings (for number-only
        estimators such as :class:`~sklearn.svm.SVC` on language-model
        features).

    Attributes
    ----------
    shape : tuple
        The shape of ``np.asarray(self)``: ``(n_samples, n_features)``, or
        ``(n_samples, n_features + embedding_dim)`` with
        ``array_output="values+clinical"``.
    n_features, n_tokens, embedding_dim : int

    Examples
    --------
    >>> import numpy as np
    >>> sf = SemanticFeatures(np.zeros((5, 3)), np.ones((3, 8)), np.ones((5, 8)))
    >>> sf
    SemanticFeatures(n_samples=5, n_features=3, embedding_dim=8, n_tokens=1, array_output='values')
    >>> sub = sf[np.array([0, 2])]
    >>> len(sub), sub.feature_embeddings is sf.feature_embeddings
    (2, True)
    >>> np.asarray(sf).shape
    (5, 3)
    """

    def __init__(
        self,
        values,
        feature_embeddings,
        clinical_embeddings,
        clinical_mask=None,
        feature_names=None,
        descriptions=None,
        clinical_text=None,
        *,
        index=None,
        array_output="values",
    ):
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"values must be 2-D (n_samples, n_features), got shape {values.shape}")
        n, k = values.shape
        feature_embeddings = np.asarray(feature_embeddings, dtype=np.float32)
        if feature_embeddings.ndim != 2 or feature_embeddings.shape[0] != k:
            raise ValueError(f"feature_embeddings must have shape ({k}, embedding_dim), got {feature_embeddings.shape}")
        dim = feature_embeddings.shape[1]
        clinical_embeddings = np.asarray(clinical_embeddings, dtype=np.float32)
        if clinical_embeddings.ndim == 2:
            clinical_embeddings = clinical_embeddings[:, None, :]
        if clinical_embeddings.ndim != 3 or clinical_embeddings.shape[0] != n or clinical_embeddings.shape[2] != dim:
            raise ValueError(
                f"clinical_embeddings must have shape ({n}, n_tokens, {dim}) or ({n}, {dim}), "
                f"got {clinical_embeddings.shape}"
            )
        t = clinical_embeddings.shape[1]
        if clinical_mask is None:
            clinical_mask = np.ones((n, t), dtype=bool)
        else:
            clinical_mask = np.asarray(clinical_mask, dtype=bool)
            if clinical_mask.ndim == 1 and t == 1:
                clinical_mask = clinical_mask[:, None]
            if clinical_mask.shape != (n, t):
                raise ValueError(f"clinical_mask must have shape ({n}, {t}), got {clinical_mask.shape}")
        if feature_names is None:
            feature_names = np.array(placeholder_names(k), dtype=object)
        feature_names = _as_str_array(feature_names, k, "feature_names")
        if descriptions is not None:
            descriptions = _as_str_array(descriptions, k, "descriptions")
        if clinical_text is not None:
            clinical_text = _as_str_array(clinical_text, n, "clinical_text")
        if array_output not in ("values", "values+clinical"):
            raise ValueError(f"array_output must be 'values' or 'values+clinical', got {array_output!r}")
        index = pd.RangeIndex(n) if index is None else pd.Index(index)
        if len(index) != n:
            raise ValueError(f"index must have {n} entries, got {len(index)}")
        self.index = index
        self.values = values
        self.feature_embeddings = feature_embeddings
        self.clinical_embeddings = clinical_embeddings
        self.clinical_mask = clinical_mask
        self.feature_names = feature_names
        self.descriptions = descriptions
        self.clinical_text = clinical_text
        self.array_output = array_output

    # -- array-like protocol ----------------------------------------------------
    @property
    def shape(self):
        """The shape of ``np.asarray(self)``, which scikit-learn compares with what it was fitted on."""
        n, k = self.values.shape
        if self.array_output == "values+clinical":
            return (n, k + self.embedding_dim)
        return (n, k)

    @property
    def n_features(self):
        """Number of radiomics features (columns of ``values``)."""
        return self.values.shape[1]

    @property
    def dtype(self):
        """The values' dtype (float32)."""
        return self.values.dtype

    @property
    def ndim(self):
        """2: a table of lesions by features."""
        return 2

    @property
    def n_tokens(self):
        """Clinical tokens per lesion."""
        return self.clinical_embeddings.shape[1]

    @property
    def embedding_dim(self):
        """Width of the language model's embeddings."""
        return self.feature_embeddings.shape[1]

    def __len__(self):
        return self.values.shape[0]

    def __getitem__(self, key):
        """Select rows (lesions) with an int, slice, bool mask or int array.

        An int gives a one-row container (like ``DataFrame.iloc[[i]]``), so
        every result is a :class:`SemanticFeatures`. ``sf[rows, ...]`` and
        ``sf[rows, :]`` are accepted too (scikit-learn's ``_safe_indexing``
        indexes that way).
        """
        if isinstance(key, tuple):
            rest = key[1:]
            if not all(r is Ellipsis or (isinstance(r, slice) and r == slice(None)) for r in rest):
                raise IndexError("SemanticFeatures supports row indexing only, e.g. sf[rows] or sf[rows, ...]")
            key = key[0]
        n = len(self)
        if isinstance(key, Integral) and not isinstance(key, bool):
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for {n} lesions")
            i %= n
            rows = slice(i, i + 1)
        elif isinstance(key, slice):
            rows = key
        else:
            rows = np.asarray(key)
            if rows.dtype == bool:
                if rows.shape != (n,):
                    raise IndexError(f"boolean index of shape {rows.shape} does not match {n} lesions")
            elif rows.size == 0:
                rows = rows.astype(np.intp)
            elif not np.issubdtype(rows.dtype, np.integer):
                raise IndexError(f"rows must be selected by int, slice, bool mask or int array, got {rows.dtype}")
            if rows.ndim != 1:
                raise IndexError(f"row index must be 1-D, got shape {rows.shape}")
        return self._take(rows)

    def _take(self, rows):
        texts = None if self.clinical_text is None else self.clinical_text[rows]
        return self._like(self.values[rows], self.clinical_embeddings[rows], self.clinical_mask[rows], texts, rows)

    def _like(self, values, clinical_embeddings, clinical_mask, clinical_text, index_rows=None, index=None):
        """A container of other lesions with this one's features (``feature_embeddings`` shared, never copied)."""
        return type(self)(
            values,
            self.feature_embeddings,
            clinical_embeddings,
            clinical_mask,
            self.feature_names,
            self.descriptions,
            clinical_text,
            index=self.index[index_rows] if index is None else index,
            array_output=self.array_output,
        )

    def mean_clinical_embedding(self):
        """Mean of each lesion's present clinical-token embeddings.

        Returns
        -------
        ndarray of shape (n_samples, embedding_dim)
            Zero for a lesion without any clinical token.
        """
        mask = self.clinical_mask[:, :, None].astype(np.float32)
        total = (self.clinical_embeddings * mask).sum(axis=1)
        return total / np.maximum(mask.sum(axis=1), 1.0)

    def __array__(self, dtype=None, copy=None):
        if self.array_output == "values":
            out = self.values
            needs_copy = dtype is not None and np.dtype(dtype) != out.dtype
            if copy is False and needs_copy:
                raise ValueError(f"cannot convert SemanticFeatures to {dtype} without a copy")
            if needs_copy:
                return out.astype(dtype)
            return out.copy() if copy else out
        if copy is False:
            raise ValueError("array_output='values+clinical' always builds a new array (copy=False impossible)")
        out = np.hstack([self.values, self.mean_clinical_embedding()])
        return out if dtype is None else out.astype(dtype, copy=False)

    def to_numpy(self, dtype=None):
        """``np.asarray(self, dtype)``: the matrix given to number-only estimators.

        Parameters
        ----------
        dtype : data-type, default=None
            Of the returned array; None keeps float32.

        Returns
        -------
        ndarray of shape ``self.shape``
        """
        return np.asarray(self, dtype=dtype)

    def to_dict(self, *, include_feature_embeddings=False):
        """The per-lesion arrays as a dict (row-aligned, e.g. for skorch).

        Parameters
        ----------
        include_feature_embeddings : bool, default=False
            Also return the shared ``feature_embeddings`` (not row-aligned:
            do not let a row slicer index it).

        Returns
        -------
        dict
            ``values``, ``clinical_embeddings``, ``clinical_mask`` (and
            ``feature_embeddings``).
        """
        out = {
            "values": self.values,
            "clinical_embeddings": self.clinical_embeddings,
            "clinical_mask": self.clinical_mask,
        }
        if include_feature_embeddings:
            out["feature_embeddings"] = self.feature_embeddings
        return out

    @classmethod
    def concat(cls, parts):
        """Stack the rows of several containers that share their features.

        Parameters
        ----------
        parts : sequence of SemanticFeatures
            Same feature names and equal feature embeddings.

        Returns
        -------
        SemanticFeatures
            Shares the first part's ``feature_embeddings``.
        """
        parts = list(parts)
        if not parts:
            raise ValueError("concat needs at least one SemanticFeatures")
        first = parts[0]
        for p in parts[1:]:
            if not np.array_equal(p.feature_names, first.feature_names):
                raise ValueError("cannot concatenate SemanticFeatures with different feature names")
            if p.feature_embeddings is not first.feature_embeddings and not np.array_equal(
                p.feature_embeddings, first.feature_embeddings
            ):
                raise ValueError("cannot concatenate SemanticFeatures with different feature embeddings")
            if p.n_tokens != first.n_tokens:
                raise ValueError("cannot concatenate SemanticFeatures with different numbers of clinical tokens")
        texts = None
        if all(p.clinical_text is not None for p in parts):
            texts = np.concatenate([p.clinical_text for p in parts])
        return first._like(
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.clinical_embeddings for p in parts]),
            np.concatenate([p.clinical_mask for p in parts]),
            texts,
            index=pd.Index(np.concatenate([np.asarray(p.index, dtype=object) for p in parts])),
        )

    def __repr__(self):
        n, k = self.values.shape
        return (
            f"SemanticFeatures(n_samples={n}, n_features={k}, embedding_dim={self.embedding_dim}, "
            f"n_tokens={self.n_tokens}, array_output={self.array_output!r})"
        )


def _as_str_array(values, length, name):
    if isinstance(values, np.ndarray) and values.dtype == object and values.shape == (length,):
        return values  # already converted (row slicing passes these through, shared)
    arr = np.asarray([str(v) for v in values], dtype=object)
    if arr.shape != (length,):
        raise ValueError(f"{name} must have length {length}, got {arr.shape[0]}")
    return arr
