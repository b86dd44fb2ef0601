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
from ._deprecation import renamed_parameter
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
from .language_model import (
    BIOBERT_MODEL,
    BIOBERT_REVISION,
    download_hint,
    embed,
    load_language_model,
    model_source,
    offline,
    resolve_device,
    resolve_revision,
)
from .scaling import apply_scaling, fit_scaling
from .semantic_features import SemanticFeatures
from .vocabulary import placeholder_names

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
    language_model : str or os.PathLike, default="dmis-lab/biobert-base-cased-v1.2"
        Hugging Face hub id or local directory (``config.json``, tokenizer
        files and ``model.safetensors``), :data:`BIOBERT_MODEL` by default.
        Never replaced by another model: if it cannot be loaded,
        :class:`~sklearn_llmrad.exceptions.ModelNotFoundError`. Its former name
        ``model`` is deprecated (a FutureWarning; the attribute ``model`` reads it).
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
        ``"auto"``: True when ``language_model`` is a local directory or
        ``HF_HUB_OFFLINE`` is set, else try the hub.
    random_state : int, RandomState instance or None, default=None
        Inference is deterministic (dropout off); when set, torch's CPU
        generator is seeded inside a forked RNG state during encoding, for
        models with stochastic layers. The global RNG is left untouched.
    **deprecated
        ``model``: the former name of ``language_model`` (a FutureWarning).

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
    >>> enc = BioBERTEncoder(language_model="path/to/biobert-base-cased-v1.2", cache_dir="embeddings")
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
    model_id_parameters = ("language_model",)

    #: Parameters renamed since model files were first written (old -> new): a
    #: file's old spelling is the new parameter's value (``sklearn_llmrad.io``).
    renamed_parameters = {"model": "language_model"}

    #: Attributes a saved model file never holds (``sklearn_llmrad.io``): the
    #: in-memory embedding cache has an entry per training lesion's clinical
    #: sentence, keyed by a hash of the text, and is rebuilt on demand; the
    #: digest of a local model directory describes files on this machine only.
    transient_attributes = ("_embedding_memory", "_cache_stats", "_model_digest")

    _parameter_constraints: dict = {
        "language_model": [str, os.PathLike],
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
        language_model=BIOBERT_MODEL,
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
        **deprecated,
    ):
        model = deprecated.pop("model", None)
        if deprecated:
            raise TypeError(f"BioBERTEncoder got unexpected keyword arguments {sorted(deprecated)}")
        self.language_model = renamed_parameter(
            model, language_model, old="model", new="language_model", default=BIOBERT_MODEL
        )
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
    @property
    def model(self):
        """Deprecated: the ``language_model`` parameter's former name."""
        warnings.warn("BioBERTEncoder.model is deprecated; use language_model", FutureWarning, stacklevel=2)
        return self.language_model

    def set_params(self, **params):
        """Set parameters; ``model`` is the deprecated spelling of ``language_model``.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : BioBERTEncoder
            This encoder.
        """
        if "model" in params:
            new = params.get("language_model")
            params["language_model"] = renamed_parameter(params.pop("model"), new, old="model", new="language_model")
        return super().set_params(**params)

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
    def _model_identity(self):
        """JSON-able identity of the model setup (part of every cache key)."""
        source, is_local = model_source(self.language_model)
        identity = {
            "revision": resolve_revision(self.language_model, self.revision),
            "pooling": self.pooling,
            "max_length": int(self.max_length),
        }
        if is_local:
            if not (Path(source) / "config.json").is_file():
                raise ModelNotFoundError(
                    f"{source!r} is not a transformers model directory (no config.json). " + download_hint(source)
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
        source, is_local = model_source(self.language_model)
        revision = resolve_revision(self.language_model, self.revision)
        key = (source, revision, str(resolve_device(self.device)), offline(self.local_files_only, is_local))
        if getattr(self, "_lm", None) is None or getattr(self, "_lm_key", None) != key:
            self._lm = load_language_model(
                self.language_model, revision=revision, device=self.device, local_files_only=self.local_files_only
            )
            self._lm_key = key
        return self._lm

    def _embed(self, texts):
        """Embed distinct ``texts`` with the language model; (len(texts), D) float32."""
        tokenizer, model, device = self._language_model()
        seed = None if self.random_state is None else int(check_random_state(self.random_state).randint(2**31 - 1))
        settings = {"batch_size": self.batch_size, "max_length": self.max_length, "pooling": self.pooling}
        return embed(tokenizer, model, device, texts, seed=seed, **settings)

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
            X = pd.DataFrame(array, columns=placeholder_names(array.shape[1]))
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
