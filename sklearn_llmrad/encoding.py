"""Language-model encoding of radiomics features and clinical data.

:class:`BioBERTEncoder` turns the output of
:class:`~sklearn_llmrad.TopKSelector` (numeric feature columns plus the
clinical columns) into :class:`SemanticFeatures`: the robustly scaled
feature values, one language-model embedding per feature *name* (of its
clinical-language description, see :mod:`sklearn_llmrad.descriptions`) shared
by all lesions, and per lesion the embeddings of its clinical statements.

The language model runs once per distinct text (feature description or
clinical statement), never per lesion; embeddings are cached in memory and,
with ``cache_dir``, on disk.
"""

from __future__ import annotations

import os
import re
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_is_fitted,
)

from ._columns import CLINICAL
from ._embedding_cache import EmbeddingCache, model_directory_digest
from ._output import FixedOutputMixin
from .descriptions import (
    NO_CLINICAL_INFORMATION,
    clinical_sentence,
    clinical_statements,
    describe_feature,
    explain_feature,
    is_missing_value,
    normalize_density,
)
from .exceptions import LesionError, ModelNotFoundError
from .scaling import apply_scaling, fit_scaling

__all__ = [
    "BIOBERT_MODEL",
    "BIOBERT_REVISION",
    "CLINICAL_TOKENS",
    "NO_CLINICAL_INFORMATION",
    "BioBERTEncoder",
    "SemanticFeatures",
    "clinical_sentence",
    "clinical_statements",
    "describe_feature",
    "explain_feature",
    "normalize_density",
    "resolve_revision",
]

#: Order of the clinical tokens in ``SemanticFeatures.clinical_embeddings``:
#: the whole sentence first (always present, so attention never sees an
#: all-masked row), then one token per field (absent when the field is missing).
CLINICAL_TOKENS = ("sentence", "age", "density", "history")


# ---------------------------------------------------------------------------
# SemanticFeatures
# ---------------------------------------------------------------------------


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
        :data:`CLINICAL_TOKENS` for the encoder's layout, ``n_tokens=4``); a
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
            feature_names = np.array([f"x{i}" for i in range(k)], dtype=object)
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
        # The shape of np.asarray(self): scikit-learn compares shape[1] with
        # the width of the matrix an estimator was fitted on.
        n, k = self.values.shape
        if self.array_output == "values+clinical":
            return (n, k + self.embedding_dim)
        return (n, k)

    @property
    def n_features(self):
        return self.values.shape[1]

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def ndim(self):
        return 2

    @property
    def n_tokens(self):
        return self.clinical_embeddings.shape[1]

    @property
    def embedding_dim(self):
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
        return SemanticFeatures(
            self.values[rows],
            self.feature_embeddings,  # shared, never copied per lesion
            self.clinical_embeddings[rows],
            self.clinical_mask[rows],
            self.feature_names,
            self.descriptions,
            None if self.clinical_text is None else self.clinical_text[rows],
            index=self.index[rows],
            array_output=self.array_output,
        )

    def mean_clinical_embedding(self):
        """Mean of each lesion's present clinical-token embeddings, (n_samples, embedding_dim)."""
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
        """``np.asarray(self, dtype)``: the matrix given to number-only estimators."""
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
        return cls(
            np.concatenate([p.values for p in parts]),
            first.feature_embeddings,
            np.concatenate([p.clinical_embeddings for p in parts]),
            np.concatenate([p.clinical_mask for p in parts]),
            first.feature_names,
            first.descriptions,
            texts,
            index=pd.Index(np.concatenate([np.asarray(p.index, dtype=object) for p in parts])),
            array_output=first.array_output,
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


# ---------------------------------------------------------------------------
# BioBERTEncoder
# ---------------------------------------------------------------------------

#: The published method's language model (hub id).
BIOBERT_MODEL = "dmis-lab/biobert-base-cased-v1.2"
#: Hub commit of :data:`BIOBERT_MODEL` that has ``model.safetensors``: the
#: repository's ``main`` ships only ``pytorch_model.bin`` (a pickle, which this
#: package never loads); this commit is the safetensors conversion (``refs/pr/6``).
BIOBERT_REVISION = "28c8d50abc6680732eca889059ff503505a74cd5"
_PINNED_REVISIONS = {BIOBERT_MODEL: BIOBERT_REVISION}


def resolve_revision(model, revision=None):
    """The hub revision actually loaded: ``revision``, else the pinned one for known models.

    Parameters
    ----------
    model : str or os.PathLike
        Hub id or local directory.
    revision : str or None
        An explicit revision always wins.

    Returns
    -------
    str or None

    Examples
    --------
    >>> resolve_revision("dmis-lab/biobert-base-cased-v1.2")
    '28c8d50abc6680732eca889059ff503505a74cd5'
    >>> resolve_revision("dmis-lab/biobert-base-cased-v1.2", "main")
    'main'
    >>> resolve_revision("some/other-model") is None
    True
    """
    if revision is not None:
        return revision
    return _PINNED_REVISIONS.get(os.fspath(model))


_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_TRUE_ENV = {"1", "true", "yes", "on"}


def _looks_like_path(model):
    if isinstance(model, os.PathLike):
        return True
    text = str(model)
    return (
        text.startswith((".", "~", os.sep, "/"))
        or (os.altsep is not None and os.altsep in text)
        or text.count("/") > 1
        or not _HUB_ID_RE.match(text)
    )


def _download_hint(model):
    hub = model if not _looks_like_path(model) else "dmis-lab/biobert-base-cased-v1.2"
    return (
        "To use a model without network access, download it once on a machine that has it, e.g. "
        f"`huggingface-cli download {hub} --local-dir DIR`, copy DIR over and pass model=DIR. "
        "Weights are loaded from model.safetensors only; if DIR has only pytorch_model.bin from a "
        "source you trust, convert it once with `AutoModel.from_pretrained(DIR, use_safetensors=False)"
        ".save_pretrained(DIR)`. No other model is substituted."
    )


class BioBERTEncoder(FixedOutputMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Embed feature names and clinical data with a biomedical language model.

    Input is a DataFrame of numeric feature columns plus, optionally, the
    clinical columns ``age``, ``density``, ``history`` (the output of
    :class:`~sklearn_llmrad.TopKSelector` with ``passthrough="clinical"``).
    :meth:`transform` returns a :class:`SemanticFeatures`:

    - ``values``: the features scaled with statistics learned in :meth:`fit`
      (median/IQR or mean/std), missing values imputed as the training
      centre (scaled value 0), then clipped to ``[-clip, clip]``;
    - ``feature_embeddings``: the embedding of each feature's description
      (:func:`~sklearn_llmrad.descriptions.describe_feature`), computed in
      :meth:`fit` and shared by all lesions;
    - ``clinical_embeddings`` ``(n, 4, D)`` with ``clinical_mask`` ``(n, 4)``:
      tokens in :data:`CLINICAL_TOKENS` order -- the whole clinical sentence
      (always present; "No clinical information available." when nothing is
      known), then the age, density and history statements (masked when
      missing, zero vectors).

    The language model is loaded on first use and runs once per distinct
    text, never per lesion; embeddings are cached in memory and, with
    ``cache_dir``, on disk, so refitting (grid search, another CV run) does no
    language-model work and does not even load the model. The model is not
    pickled.

    Parameters
    ----------
    model : str or os.PathLike, default="dmis-lab/biobert-base-cased-v1.2"
        Hugging Face hub id or local directory (``config.json``, tokenizer
        files and ``model.safetensors``). Never replaced by another model:
        if it cannot be loaded, :class:`~sklearn_llmrad.exceptions.ModelNotFoundError`.
    revision : str, default=None
        Hub revision (branch, tag or commit) to pin; part of the cache key.
        None loads, for the default BioBERT, the pinned commit
        :data:`BIOBERT_REVISION` (its safetensors copy; the hub's ``main`` has
        only a pickled ``pytorch_model.bin``), for other hub models ``main``.
        Ignored for a local directory.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    batch_size : int, default=32
        Texts per forward pass.
    pooling : {"mean", "cls"}, default="mean"
        Mean of the last hidden states over tokens, or the ``[CLS]`` state.
    max_length : int, default=64
        Token limit per text (longer texts are truncated, with a warning).
    cache_dir : str or os.PathLike, default=None
        Directory for the on-disk embedding cache; None keeps embeddings in
        memory only (per encoder instance).
    scaling : {"robust", "standard"} or None, default="robust"
        ``(x - median) / IQR`` or ``(x - mean) / std`` with training
        statistics; a zero IQR falls back to the standard deviation, a zero
        spread to 1. None: values unscaled (missing values still imputed by
        the training median).
    clip : float or None, default=5.0
        Bound on the absolute scaled value (outlying lesions of small datasets
        would otherwise dominate); None disables clipping.
    array_output : {"values", "values+clinical"}, default="values"
        What ``np.asarray(output)`` gives number-only estimators: the values,
        or the values followed by the mean clinical embedding.
    local_files_only : "auto" or bool, default="auto"
        ``"auto"``: True when ``model`` is a local directory or
        ``HF_HUB_OFFLINE`` is set, else try the hub.
    random_state : int, RandomState instance or None, default=None
        Inference is deterministic (dropout off); when set, torch's CPU
        generator is seeded inside a forked RNG state during encoding, for
        models with stochastic layers. The global RNG is left untouched.

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns (features and clinical).
    feature_names_in_ : ndarray of str
        Input column names (DataFrame input only).
    features_ : ndarray of str, shape (n_features,)
        The numeric feature columns, in order.
    clinical_columns_ : tuple of str
        The clinical columns present in the training data.
    descriptions_ : ndarray of str, shape (n_features,)
        Description of each feature, the text that is embedded.
    feature_embeddings_ : ndarray of shape (n_features, embedding_dim)
    embedding_dim_ : int
    center_, scale_ : ndarray of shape (n_features,)
        Training statistics used for scaling.

    See Also
    --------
    sklearn_llmrad.descriptions.describe_feature : the feature descriptions.
    sklearn_llmrad.descriptions.clinical_statements : the clinical statements.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"original_firstorder_Mean": [1.0, 2.0, 3.0],
    ...                   "age": [62, None, 48], "density": ["C", "b", None]})
    >>> enc = BioBERTEncoder(model="path/to/biobert-base-cased-v1.2", cache_dir="embeddings")
    >>> sf = enc.fit_transform(X)  # doctest: +SKIP
    >>> sf  # doctest: +SKIP
    SemanticFeatures(n_samples=3, n_features=1, embedding_dim=768, n_tokens=4, array_output='values')
    >>> sf.clinical_text[1]  # doctest: +SKIP
    'Scattered areas of fibroglandular density (BI-RADS density B).'

    What gets embedded needs no model:

    >>> describe_feature("original_firstorder_Mean")
    'mean intensity (first-order) of the lesion in the original image: average brightness,
    the overall density of the lesion'
    >>> clinical_sentence(62, "C", None)
    '62-year-old woman. Heterogeneously dense breasts (BI-RADS density C).'
    """

    #: Parameters that name a language model by its hub id (``org/model``): a
    #: model file may set them to an id, never to a folder (``sklearn_llmrad.io``).
    model_id_parameters = ("model",)

    #: Attributes a saved model file never holds (``sklearn_llmrad.io``): the
    #: in-memory embedding cache has an entry per training lesion's clinical
    #: sentence, keyed by a hash of the text, and is rebuilt on demand; the
    #: digest of a local model directory describes files on this machine only.
    transient_attributes = ("_embedding_memory", "_cache_stats", "_model_digest")

    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "revision": [str, None],
        "device": "no_validation",  # str or torch.device; checked when the model loads
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"mean", "cls"})],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "cache_dir": [str, os.PathLike, None],
        "scaling": [StrOptions({"robust", "standard"}), None],
        "clip": [Interval(Real, 0, None, closed="neither"), None],
        "array_output": [StrOptions({"values", "values+clinical"})],
        "local_files_only": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
    }
    _output_container = "a SemanticFeatures container"  # FixedOutputMixin

    def __init__(
        self,
        *,
        model="dmis-lab/biobert-base-cased-v1.2",
        revision=None,
        device="auto",
        batch_size=32,
        pooling="mean",
        max_length=64,
        cache_dir=None,
        scaling="robust",
        clip=5.0,
        array_output="values",
        local_files_only="auto",
        random_state=None,
    ):
        self.model = model
        self.revision = revision
        self.device = device
        self.batch_size = batch_size
        self.pooling = pooling
        self.max_length = max_length
        self.cache_dir = cache_dir
        self.scaling = scaling
        self.clip = clip
        self.array_output = array_output
        self.local_files_only = local_files_only
        self.random_state = random_state

    # -- sklearn plumbing -------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never unload the live estimator
        # The model and tokenizer are reloaded lazily after unpickling: they
        # are large and tied to a device. The embedding memory stays.
        state.pop("_lm", None)
        state.pop("_lm_key", None)
        state.pop("_model_digest", None)  # the files may differ where it is unpickled
        return state

    # -- model loading ----------------------------------------------------------
    def _model_source(self):
        """(source passed to from_pretrained, is_local)."""
        model = self.model
        path = Path(os.path.expanduser(os.fspath(model)))
        if path.is_dir():
            return str(path.resolve()), True
        if _looks_like_path(model):
            raise ModelNotFoundError(
                f"language model directory {os.fspath(model)!r} does not exist. " + _download_hint(model)
            )
        return str(model), False

    def _local_files_only(self, is_local):
        if self.local_files_only != "auto":
            return bool(self.local_files_only)
        return is_local or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE_ENV

    def _model_identity(self):
        """JSON-able identity of the model setup (part of every cache key)."""
        source, is_local = self._model_source()
        identity = {
            "revision": resolve_revision(self.model, self.revision),
            "pooling": self.pooling,
            "max_length": int(self.max_length),
        }
        if is_local:
            root = Path(source)
            config = root / "config.json"
            if not config.is_file():
                raise ModelNotFoundError(
                    f"{source!r} is not a transformers model directory (no config.json). " + _download_hint(source)
                )
            identity["path"] = source
            # Config, tokenizer files and weights: a changed tokenizer.json or
            # vocab.txt changes the embeddings as surely as new weights.
            identity["files_sha256"] = self._model_directory_digest(source)
        else:
            identity["hub_id"] = source
        return identity

    def _model_directory_digest(self, source):
        """:func:`~sklearn_llmrad._embedding_cache.model_directory_digest` of ``source``, once per encoder.

        Taken when the encoder first needs a cache key, then kept (for this
        ``source``) in ``_model_digest``: milliseconds for a BERT directory,
        but not to be repeated for every batch of texts. A clone, a copy
        unpickled or loaded from a saved model computes it afresh; a directory
        edited while one encoder uses it needs a new encoder.
        """
        cached = getattr(self, "_model_digest", None)
        if cached is None or cached[0] != source:
            cached = (source, model_directory_digest(source))
            self._model_digest = cached
        return cached[1]

    def _resolve_device(self):
        import torch

        if isinstance(self.device, str) and self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device must be 'auto', a torch device string or torch.device, got {self.device!r}"
            ) from exc

    def load_language_model(self):
        """Load the tokenizer and model (once; later calls reuse them).

        Raises :class:`~sklearn_llmrad.exceptions.ModelNotFoundError` when the model
        cannot be found (offline, or not in the local cache), so a caller can check
        that a model is usable before a long run.

        Returns
        -------
        tokenizer : transformers.PreTrainedTokenizerBase
            The model's tokenizer.
        model : transformers.PreTrainedModel
            The language model, in evaluation mode, on ``device``.
        device : torch.device
            Where the model runs.
        """
        return self._language_model()

    def _language_model(self):
        """Return (tokenizer, model, device), loading them on first use."""
        source, is_local = self._model_source()
        device = self._resolve_device()
        revision = resolve_revision(self.model, self.revision)
        key = (source, revision, str(device))
        lm = getattr(self, "_lm", None)
        if lm is not None and getattr(self, "_lm_key", None) == key:
            return lm
        import transformers

        local_only = self._local_files_only(is_local)
        kwargs = {"revision": revision, "local_files_only": local_only, "trust_remote_code": False}
        hf_logging = transformers.utils.logging
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar per fit clutters CV logs
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
            model = transformers.AutoModel.from_pretrained(source, use_safetensors=True, **kwargs)
        except (OSError, ValueError) as exc:
            where = f"local directory {source!r}" if is_local else f"hub model {source!r}"
            offline = " (offline: local_files_only=True)" if local_only else ""
            reason = " ".join(str(exc).split()).rstrip(".")
            raise ModelNotFoundError(
                f"could not load the language model from {where}{offline}: {reason}. " + _download_hint(self.model)
            ) from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        model.eval()
        model.to(device)
        self._lm = (tokenizer, model, device)
        self._lm_key = key
        return self._lm

    def _embed(self, texts):
        """Embed distinct ``texts`` with the language model; (len(texts), D) float32."""
        import torch

        tokenizer, model, device = self._language_model()
        lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
        too_long = [t for t, n in zip(texts, lengths, strict=True) if n > self.max_length]
        if too_long:
            # counts only: a text may be a patient's clinical history, which must not reach logs
            warnings.warn(
                f"{len(too_long)} text(s) exceed max_length={self.max_length} tokens and are truncated "
                f"(longest: {max(lengths)} tokens); long texts usually come from the 'history' column",
                UserWarning,
                stacklevel=3,
            )
        # Sorting by length keeps padding (wasted compute) small in each batch.
        order = np.argsort(lengths, kind="stable")
        out = None
        seed = None if self.random_state is None else int(check_random_state(self.random_state).randint(2**31 - 1))
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                batch = {name: tensor.to(device) for name, tensor in batch.items()}
                hidden = model(**batch).last_hidden_state
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                pooled = pooled.float().cpu().numpy()
                if out is None:
                    out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
                out[idx] = pooled
        return out

    def _cache(self):
        identity = self._model_identity()
        if not hasattr(self, "_embedding_memory"):
            self._embedding_memory = {}
            self._cache_stats = {}
        return EmbeddingCache(identity, self._embedding_memory, self.cache_dir, self._cache_stats)

    def embed_texts(self, texts):
        """Embed texts through the caches (each distinct text once).

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        ndarray of shape (len(texts), embedding_dim), float32
        """
        texts = [str(t) for t in texts]
        if not texts:
            raise ValueError("embed_texts needs at least one text")
        found = self._cache().lookup(texts, self._embed)
        return np.stack([found[t] for t in texts])

    def cache_info(self):
        """Counters of the embedding caches since this encoder was created.

        Returns
        -------
        dict
            ``computed`` (texts run through the language model),
            ``memory_hits``, ``disk_hits``.
        """
        stats = {"computed": 0, "memory_hits": 0, "disk_hits": 0}
        stats.update(getattr(self, "_cache_stats", {}))
        return stats

    # -- data handling ----------------------------------------------------------
    def _split_input(self, X):
        """Return (DataFrame, feature columns, clinical columns)."""
        if not isinstance(X, pd.DataFrame):
            array = np.asarray(X)
            if array.ndim != 2:
                raise ValueError(f"BioBERTEncoder expects a 2-D DataFrame, got an array of shape {array.shape}")
            X = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        clinical = [c for c in X.columns if c in CLINICAL]
        features = [c for c in X.columns if c not in CLINICAL]
        if not features:
            raise ValueError("BioBERTEncoder found no feature columns (only clinical columns) in X")
        return X, features, clinical

    @staticmethod
    def _feature_values(X, features):
        values = np.empty((len(X), len(features)), dtype=np.float64)
        for j, column in enumerate(features):
            col = X[column]
            try:
                values[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                for label, item in col.items():
                    try:
                        float(item)
                    except (TypeError, ValueError):
                        raise LesionError(
                            f"feature column {column!r} holds {item!r}, not a number; BioBERTEncoder takes "
                            f"numeric feature columns plus the clinical columns {CLINICAL}",
                            case=label,
                        ) from None
                raise
        # Infinite values (a degenerate PyRadiomics feature) are treated as
        # missing: they carry no usable magnitude.
        values[~np.isfinite(values)] = np.nan
        return values

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the scaling statistics and embed the feature descriptions.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            Numeric feature columns, optionally ``age``/``density``/``history``.
        y : ignored

        Returns
        -------
        self : BioBERTEncoder
        """
        _check_feature_names(self, X, reset=True)
        _check_n_features(self, X, reset=True)
        X, features, clinical = self._split_input(X)
        values = self._feature_values(X, features)
        center, scale = fit_scaling(values, self.scaling)
        self.features_ = np.asarray(features, dtype=object)
        self.clinical_columns_ = tuple(clinical)
        self.center_ = center
        self.scale_ = scale
        self.descriptions_ = np.asarray([describe_feature(f) for f in features], dtype=object)
        self.feature_embeddings_ = self.embed_texts(list(self.descriptions_))
        self.embedding_dim_ = int(self.feature_embeddings_.shape[1])
        return self

    def _scale(self, values):
        return apply_scaling(values, self.center_, self.scale_, clip=self.clip, method=self.scaling)

    def _clinical(self, X):
        n = len(X)
        columns = [X[c].tolist() if c in X.columns else [None] * n for c in CLINICAL]
        memo = {}  # lesions often share their clinical fields: parse each combination once
        rows = []
        for i, label in enumerate(X.index):
            fields = tuple(col[i] for col in columns)
            try:
                key = tuple(None if is_missing_value(v) else (type(v), v) for v in fields)
                hash(key)
            except TypeError:
                key = None
            statements = memo.get(key) if key is not None else None
            if statements is None:
                s = clinical_statements(*fields, case=label)
                statements = (s.sentence, s.age, s.density, s.history)
                if key is not None:
                    memo[key] = statements
            rows.append(statements)
        texts = list(dict.fromkeys(t for row in rows for t in row if t is not None))
        found = self._cache().lookup(texts, self._embed)
        position = {text: j for j, text in enumerate(texts)}
        index = np.array([[position[t] if t is not None else -1 for t in row] for row in rows], dtype=np.intp)
        index = index.reshape(n, len(CLINICAL_TOKENS))
        # Row -1 of the table is the zero vector of absent tokens.
        table = np.zeros((len(texts) + 1, self.embedding_dim_), dtype=np.float32)
        for j, text in enumerate(texts):
            table[j] = found[text]
        return table[index], index >= 0, np.asarray([row[0] for row in rows], dtype=object)

    def transform(self, X):
        """Scale the features and embed each lesion's clinical statements.

        Parameters
        ----------
        X : DataFrame
            The same feature columns, in the same order, as in :meth:`fit`;
            clinical columns may be absent (treated as missing).

        Returns
        -------
        SemanticFeatures
        """
        check_is_fitted(self, "feature_embeddings_")
        X, features, _ = self._split_input(X)
        if list(features) != list(self.features_):
            missing = [f for f in self.features_ if f not in features]
            extra = [f for f in features if f not in set(self.features_)]
            raise ValueError(
                "X has different feature columns than during fit"
                + (f"; missing: {missing[:5]}" if missing else "")
                + (f"; unexpected: {extra[:5]}" if extra else "")
                + ("; same columns in a different order" if not missing and not extra else "")
            )
        values = self._scale(self._feature_values(X, features))
        emb, mask, text = self._clinical(X)
        return SemanticFeatures(
            values,
            self.feature_embeddings_,
            emb,
            mask,
            feature_names=self.features_,
            descriptions=self.descriptions_,
            clinical_text=text,
            index=X.index,
            array_output=self.array_output,
        )

    def get_feature_names_out(self, input_features=None):
        """Names of the columns of ``np.asarray(transform(X))``.

        The feature columns, followed by ``clinical_embedding_<i>`` when
        ``array_output="values+clinical"``.

        Parameters
        ----------
        input_features : ignored
            Present for API compatibility.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "feature_embeddings_")
        names = list(self.features_)
        if self.array_output == "values+clinical":
            names += [f"clinical_embedding_{i}" for i in range(self.embedding_dim_)]
        return np.asarray(names, dtype=object)
