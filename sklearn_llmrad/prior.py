"""A semantic prior on radiomics features, learned across studies through their names.

A network trained on ~100 lesions of one study cannot learn what a feature's
*name* means. What names do carry is knowledge that transfers between
studies: the same kinds of features (shape size, intensity spread, texture
heterogeneity, ...) tend to be informative again and again. A
:class:`SemanticPrior` learns that from public studies (e.g. the radMLBench
tables, :func:`~sklearn_llmrad.datasets.radmlbench.load_radmlbench`):

1. every feature name is mapped to its (filter, class, feature) identity
   (:func:`~sklearn_llmrad.harmonize_feature_names`, rules only; the default
   ``vocabulary="identity"``) or, where the rules cannot map it or with
   ``vocabulary="cleaned"``, cleaned into words (:func:`clean_feature_name`:
   abbreviations expanded, modality/sequence prefixes kept as words), and
   embedded by a language model (through
   :class:`~sklearn_llmrad.encoding.BioBERTEncoder`, with its disk cache);
2. per study, each feature's informativeness is the rank of
   ``|AUC - 0.5|`` of its univariate AUC within that study, scaled to [0, 1];
3. a ridge regression maps name embedding -> informativeness, fitted on all
   given studies (each study weighs the same, whatever its number of features;
   the ridge penalty is chosen by leave-studies-out CV over the given studies).

For a new study, :meth:`SemanticPrior.feature_weights` gives ``w_j`` (predicted
informativeness divided by its median) for any names, seen or not. Models use
them as ``w_j ** gamma`` with ``gamma`` chosen by inner CV (``gamma = 0`` is the
model without prior): :class:`~sklearn_llmrad.models.linear.SemanticPriorLogisticRegression`,
:class:`~sklearn_llmrad.TopKSelector` (``prior=``) and the fusion network's linear
path (``prior=``). This is the idea of LLM-Lasso (Zhang et al. 2025,
arXiv:2502.10648: penalty factors from a language model, trusted as far as an
internal CV says), with the factors learned from public studies instead of
asked of a chat model.

``name_vectors="random"`` replaces the embeddings by random vectors, one per
cleaned name, drawn from a generator seeded by a hash of the name: the control
showing that a gain comes from what the names mean. Two more controls:
``name_vectors="permuted"`` (the language model's predictions permuted among a
study's features: the same weights on the wrong features) and
``name_vectors="lookup"`` (each key's mean informativeness in the studies that
have it, no language model).

``vocabulary`` says what the prior learns on: ``"cleaned"`` names (as above),
``"identity"``: the (filter, class, feature) identity of each name from
:func:`~sklearn_llmrad.harmonize_feature_names` (rules only), written as words
(``wavelet-HLL_glcm_JointEnergy`` and ``Wavelet_HLL_GLCM_JointEnergy`` both
become "wavelet HLL GLCM ... joint energy"), the cleaned name where the rules
cannot map it; or ``"family"``: the (filter, class) only, one key for all
unmapped names (the family-only control).

A prior is saved as a directory holding ``prior.llmrad``, an archive of the model
files' format (:meth:`SemanticPrior.save`), and read back as untrusted data
(:meth:`SemanticPrior.load`, :mod:`sklearn_llmrad.prior_files`; legacy folders too).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .encoding import BIOBERT_MODEL, resolve_revision
from .harmonize import harmonize_feature_names
from .informativeness import univariate_informativeness
from .inner_cv import choose_candidate, group_folds
from .prior_files import (
    FILE_STATE_ATTRIBUTES,
    NAME_VECTORS,
    NO_LANGUAGE_MODEL,
    RANDOM_VECTOR_DIM,
    VOCABULARIES,
    PriorFileError,
    language_model_for_prior,
    prior_data,
    prior_data_from_file_state,
    read_prior_folder,
    write_prior_folder,
)
from .vocabulary import NAME_CLEANING_VERSION, clean_feature_name, is_placeholder_names

__all__ = [
    "NAME_CLEANING_VERSION",
    "RANDOM_VECTOR_DIM",
    "PriorFileError",
    "SemanticPrior",
    "as_prior",
    "clean_feature_name",
    "pretrain_prior",
    "prior_feature_weights",
    "univariate_informativeness",
]

_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _as_studies(studies):
    """Normalise the accepted inputs to a list of (name, feature names, X, y)."""
    if isinstance(studies, Mapping):
        items = list(studies.items())
    else:
        items = []
        for i, study in enumerate(studies):
            name = getattr(study, "name", None) or (study.get("name") if isinstance(study, Mapping) else None)
            if name is None:
                raise ValueError(f"study #{i} has no name; pass a mapping {{name: (X, y)}} or load_radmlbench bunches")
            items.append((str(name), (study["data"], study["target"])))
    out = []
    for name, pair in items:
        if not isinstance(pair, (tuple, list)):
            pair = (pair["data"], pair["target"])
        X, y = pair
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"study {name!r}: X must be a DataFrame with feature names, got {type(X).__name__}")
        out.append((str(name), [str(c) for c in X.columns], X, np.asarray(y)))
    if not out:
        raise ValueError("a semantic prior needs at least one study")
    names = [s[0] for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"study names must be unique, got {names}")
    return out


def _random_vectors(texts, dim=RANDOM_VECTOR_DIM):
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        out[i] = np.random.default_rng(seed).standard_normal(dim)
    return out


def _feature_keys(names, vocabulary):
    """The text a prior learns on for each name of one table (in table order: the harmoniser reads neighbours)."""
    if vocabulary == "cleaned":
        return [clean_feature_name(n) for n in names]
    mapping = harmonize_feature_names(names)
    keys = []
    for name, *parts, method in zip(
        names, mapping["filter"], mapping["feature_class"], mapping["feature"], mapping["method"], strict=True
    ):
        if method == "unmapped":
            keys.append(clean_feature_name(name) if vocabulary == "identity" else "unmapped feature")
        else:
            parts = parts if vocabulary == "identity" else parts[:2]
            keys.append(clean_feature_name("_".join(p for p in parts if p)))
    return keys


def _lookup_table(keys, t, groups):
    """Each key's mean informativeness (mean within a study, then over the studies that have it), and the mean."""
    frame = pd.DataFrame({"key": keys, "t": t, "g": groups})
    per_key = frame.groupby(["g", "key"], sort=False)["t"].mean().groupby(level="key", sort=False).mean()
    mean = float(per_key.mean())
    return {k: np.array([v - mean], dtype=np.float32) for k, v in per_key.items()}, mean


def _permutation(names):
    """A permutation of ``len(names)`` seeded by the names themselves (the same study, the same permutation)."""
    seed = int.from_bytes(hashlib.sha256("\x00".join(names).encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(seed).permutation(len(names))


def _ridge(E, t, w, alpha):
    """Weighted ridge with an unpenalised intercept; returns (coef, intercept).

    Minimises ``sum_i w_i (t_i - b - e_i . coef)^2 + alpha / n * |coef|^2`` with
    ``w`` normalised to sum 1, in the primal or (fewer rows than dimensions)
    the dual form. ``sklearn.linear_model.Ridge(alpha=alpha / n)`` with
    ``sample_weight=w`` finds the same minimiser to ~1e-12, not to the last bit:
    a 1-ulp change of the intercept reorders near-tied predictions downstream
    (inner-CV AUCs of the models that use the prior moved by ~1e-3), so the
    stored results keep this solver.
    """
    w = w / w.sum()
    mean_e = w @ E
    mean_t = float(w @ t)
    root = np.sqrt(w)[:, None]
    Es = (E - mean_e) * root
    ts = (t - mean_t) * root[:, 0]
    lam = alpha / len(t)
    if Es.shape[0] < Es.shape[1]:
        coef = Es.T @ np.linalg.solve(Es @ Es.T + lam * np.eye(Es.shape[0]), ts)
    else:
        coef = np.linalg.solve(Es.T @ Es + lam * np.eye(Es.shape[1]), Es.T @ ts)
    return coef, mean_t - float(mean_e @ coef)


class SemanticPrior(BaseEstimator):
    """Expected informativeness of radiomics features from their names, learned across studies.

    Parameters
    ----------
    language_model : str or path-like, default=BIOBERT_MODEL
        Language model embedding the cleaned names (hub id or local directory,
        loaded by :class:`~sklearn_llmrad.encoding.BioBERTEncoder`); the default
        is :data:`~sklearn_llmrad.encoding.BIOBERT_MODEL` (BioBERT v1.2).
    revision : str, default=None
        Hub revision; None uses the encoder's default (the pinned BioBERT revision).
    name_vectors : {"language_model", "random", "permuted", "lookup"}, default="language_model"
        ``"random"``: hash-seeded random vectors per key, the control;
        ``"permuted"``: the language model's predictions permuted among the
        names of each call (seeded by the names), a control; ``"lookup"``: each
        key's mean informativeness in the studies that have it (the mean for
        unseen keys), no language model.
    vocabulary : {"cleaned", "identity", "family"}, default="identity"
        What the prior learns on: cleaned names, harmonised (filter, class,
        feature) identities (the cleaned name where unmapped), or (filter,
        class) families. The default follows a rule fixed before measuring
        (docs/user_guide.md, "Identities or names"); a folder saved before
        the parameter existed loads as ``"cleaned"``.
    alpha : float or "auto", default="auto"
        Ridge penalty; ``"auto"`` picks it from (0.1, 1, 10, 100, 1000) by
        leave-studies-out CV (Spearman on the held-out studies) over the given
        studies only.
    device : str, default="cpu"
        Torch device of the language model.
    random_state : int or None, default=None
        Unused by the deterministic fit; kept for the estimator API.
    cache_dir : str or path-like, default=None
        Disk cache of name embeddings (the encoder's cache).

    Attributes
    ----------
    studies_ : list of str
        The studies the prior was fitted on; a study in this list must never be
        the one a model using the prior is evaluated on.
    language_model_, revision_ : str
    n_names_ : int
        Distinct cleaned names the ridge saw.
    alpha_ : float
    coef_ : ndarray of shape (embedding_dim,)
    intercept_ : float
    cv_spearman_ : dict or None
        Leave-studies-out Spearman per alpha (``alpha="auto"``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def study(n=60):
    ...     y = rng.integers(0, 2, n)
    ...     X = pd.DataFrame({"original_shape_VoxelVolume": y + rng.normal(size=n),
    ...                       "original_glcm_Idmn": rng.normal(size=n)})
    ...     return X, y
    >>> prior = SemanticPrior(name_vectors="random", alpha=1.0).fit({"a": study(), "b": study()})
    >>> prior.studies_
    ['a', 'b']
    >>> w = prior.feature_weights(["original_shape_VoxelVolume", "original_glcm_Idmn"])
    >>> bool(w[0] > w[1])
    True
    """

    #: Parameters that name a language model by its hub id (``org/model``): a
    #: model file may set them to an id, never to a folder (``sklearn_llmrad.io``).
    model_id_parameters = ("language_model",)

    _parameter_constraints: dict = {
        "language_model": [str, os.PathLike],
        "revision": [str, None],
        "name_vectors": [StrOptions(set(NAME_VECTORS))],
        "vocabulary": [StrOptions(set(VOCABULARIES))],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "cache_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        *,
        language_model=BIOBERT_MODEL,
        revision=None,
        name_vectors="language_model",
        vocabulary="identity",
        alpha="auto",
        device="cpu",
        random_state=None,
        cache_dir=None,
    ):
        self.language_model = language_model
        self.revision = revision
        self.name_vectors = name_vectors
        self.vocabulary = vocabulary
        self.alpha = alpha
        self.device = device
        self.random_state = random_state
        self.cache_dir = cache_dir

    # -- embeddings ----------------------------------------------------------
    def _encoder(self):
        from .encoding import BioBERTEncoder

        enc = getattr(self, "_encoder_instance", None)
        if enc is None:
            enc = BioBERTEncoder(
                language_model=os.fspath(self.language_model),
                revision=self.revision,
                device=self.device,
                cache_dir=self.cache_dir,
                batch_size=64,
                max_length=64,
            )
            self._encoder_instance = enc
        return enc

    def _raw_vectors(self, texts):
        if self.name_vectors == "random":
            return _random_vectors(texts)
        if self.name_vectors == "lookup":  # an unseen key: the mean (the intercept)
            return np.zeros((len(texts), 1), dtype=np.float32)
        return self._encoder().embed_texts(texts).astype(np.float32)

    def _embed_cleaned(self, cleaned):
        """Unit-norm vectors for cleaned names: stored training names, else computed (and kept in memory)."""
        known = getattr(self, "_name_table", {})
        extra = self.__dict__.setdefault("_extra_names", {})
        missing = [t for t in dict.fromkeys(cleaned) if t not in known and t not in extra]
        if missing:
            vecs = self._raw_vectors(missing)
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            extra.update(zip(missing, vecs.astype(np.float32)))
        return np.stack([known[t] if t in known else extra[t] for t in cleaned])

    # -- fit -----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, studies, y=None):
        """Learn name embedding -> informativeness from ``studies``.

        Parameters
        ----------
        studies : mapping {name: (X, y)} or sequence of Bunch
            ``X`` a DataFrame whose columns are feature names, ``y`` binary;
            or the bunches :func:`~sklearn_llmrad.datasets.radmlbench.load_radmlbench` returns.
        y : None
            Ignored.

        Returns
        -------
        self : SemanticPrior
        """
        self.__dict__.pop("coef_", None)
        # vectors of a previous fit stay available (not stored unless seen again)
        self.__dict__.setdefault("_extra_names", {}).update(self.__dict__.pop("_name_table", {}))
        parsed = _as_studies(studies)
        rows_name, rows_t, rows_w, rows_g = [], [], [], []
        for g, (_study, features, X, y_study) in enumerate(parsed):
            info, _ = univariate_informativeness(X, y_study)
            keep = np.isfinite(info)
            if not keep.any():
                continue
            keys = _feature_keys(features, self.vocabulary)
            rows_name += [key for key, k in zip(keys, keep, strict=True) if k]
            rows_t.append(info[keep])
            rows_w.append(np.full(keep.sum(), 1.0 / keep.sum()))  # each study weighs the same
            rows_g.append(np.full(keep.sum(), g))
        if not rows_name:
            raise ValueError("no study has a usable (non-constant) feature")
        t = np.concatenate(rows_t)
        w = np.concatenate(rows_w)
        groups = np.concatenate(rows_g)
        if self.name_vectors == "lookup":
            return self._fit_lookup(parsed, rows_name, t, groups)
        E = self._embed_cleaned(rows_name).astype(np.float64)
        # the training names are stored with the prior; names seen later are not
        self._name_table = {n: self._extra_names.pop(n) for n in dict.fromkeys(rows_name)}
        self.cv_spearman_ = None
        if self.alpha == "auto":
            alpha, self.cv_spearman_ = self._cv_alpha(E, t, w, groups)
            self.alpha_ = float(alpha)
        else:
            self.alpha_ = float(self.alpha)
        coef, intercept = _ridge(E, t, w, self.alpha_)
        return self._fitted(parsed, coef, intercept, E.shape[1])

    def _fit_lookup(self, parsed, keys, t, groups):
        """``name_vectors="lookup"``: 1-d vectors, each key's mean informativeness less the mean; no ridge."""
        self._name_table, mean = _lookup_table(keys, t, groups)
        self.alpha_ = 1.0 if self.alpha == "auto" else float(self.alpha)  # unused: recorded for the folder
        self.cv_spearman_ = {1.0: float("nan")} if self.alpha == "auto" else None
        return self._fitted(parsed, np.ones(1), mean, 1)

    def _fitted(self, parsed, coef, intercept, dim):
        self.coef_ = np.asarray(coef, dtype=np.float32)
        self.intercept_ = float(intercept)
        self.studies_ = [s[0] for s in parsed]
        self.n_studies_ = len(self.studies_)
        self.n_names_ = len(self._name_table)
        self.embedding_dim_ = int(dim)
        no_model = self.name_vectors in NO_LANGUAGE_MODEL
        self.language_model_ = None if no_model else os.fspath(self.language_model)
        self.revision_ = None if no_model else resolve_revision(self.language_model_, self.revision)
        return self

    @staticmethod
    def _cv_alpha(E, t, w, groups):
        """(best alpha, {alpha: leave-studies-out Spearman, the mean over held-out studies of > 2 names})."""
        if len(np.unique(groups)) < 3:
            return 1.0, {1.0: float("nan")}

        def score_fold(train, test):
            held = [groups[test] == g for g in np.unique(groups[test])]
            scores = {}
            for alpha in _ALPHAS:
                coef, b = _ridge(E[train], t[train], w[train], alpha)
                pred = E[test] @ coef + b
                scores[alpha] = [spearmanr(pred[m], t[test][m]).statistic for m in held if m.sum() > 2]
            return scores

        # ties go to the larger penalty
        return choose_candidate(
            group_folds(groups, 5), score_fold, _ALPHAS, prefer=lambda a: (a,), decimals=None, ignore_nan=True
        )

    # -- use -----------------------------------------------------------------
    def predict(self, feature_names):
        """Expected informativeness (0 least .. 1 most, on the training scale) of each name.

        Parameters
        ----------
        feature_names : sequence of str
            Any names: unseen ones are cleaned and embedded on the fly with the
            recorded language model (or the hash-seeded random vectors).

        Returns
        -------
        ndarray of shape (n_names,)
        """
        check_is_fitted(self, "coef_")
        names = [str(n) for n in feature_names]
        if not names:
            return np.zeros(0)
        E = self._embed_cleaned(_feature_keys(names, self.vocabulary))
        if E.shape[1] != self.coef_.shape[0]:
            raise ValueError(
                f"the language model gives {E.shape[1]}-d embeddings but the prior was fitted on "
                f"{self.coef_.shape[0]}-d ones ({self.language_model_!r}); use the recorded model."
            )
        pred = E.astype(np.float64) @ self.coef_.astype(np.float64) + self.intercept_
        return pred[_permutation(names)] if self.name_vectors == "permuted" else pred

    def embed_names(self, feature_names):
        """The name vectors the prior uses (of the names' keys: embedded, random or looked up).

        Parameters
        ----------
        feature_names : sequence of str
            The names of one table, in its order (the identity of a name may
            depend on its neighbours).

        Returns
        -------
        ndarray of shape (n_names, embedding_dim), float32
            Unit-norm, except the 1-d values of ``name_vectors="lookup"``.
        """
        return self._embed_cleaned(_feature_keys([str(n) for n in feature_names], self.vocabulary))

    def feature_weights(self, feature_names):
        """Positive weights ``w_j``: predicted informativeness divided by its median.

        Predictions are floored at 5% of their median first, so every weight
        stays positive (``w ** gamma`` is finite for any gamma).

        Parameters
        ----------
        feature_names : sequence of str

        Returns
        -------
        ndarray of shape (n_names,), median 1
        """
        pred = self.predict(feature_names)
        if pred.size == 0:
            return pred
        med = float(np.median(pred))
        med = med if med > 0 else float(np.max(np.abs(pred))) or 1.0
        pred = np.maximum(pred, 0.05 * med)
        return pred / np.median(pred)

    # -- persistence -----------------------------------------------------------
    def save(self, directory):
        """Save to ``directory/prior.llmrad``, an archive of the model files' format (:mod:`~.prior_files`).

        Parameters
        ----------
        directory : str or path-like
            Created if needed; ``~`` is expanded. A prior saved there before
            (also a legacy ``prior.json`` + ``prior.safetensors``) is replaced.

        Returns
        -------
        pathlib.Path
            The directory, for :meth:`load`.
        """
        check_is_fitted(self, "coef_")
        meta, tensors = prior_data(self, self._name_table)
        return write_prior_folder(Path(os.path.expanduser(os.fspath(directory))), meta, tensors)

    @classmethod
    def load(cls, directory, *, device="cpu", cache_dir=None, language_model=None):
        """Load a prior saved by :meth:`save` (or a legacy folder), read as untrusted data (:mod:`~.prior_files`).

        The recorded language model is only a name, loaded lazily for unseen names
        by :class:`~sklearn_llmrad.encoding.BioBERTEncoder` (safetensors weights,
        ``trust_remote_code=False``).

        Parameters
        ----------
        directory : str or path-like
            The folder :meth:`save` wrote, or its ``prior.llmrad`` file.
        device : str, default="cpu"
            Device for embedding unseen names.
        cache_dir : str or path-like, default=None
            Embedding cache for unseen names.
        language_model : str or path-like, default=None
            The language model that embeds unseen names (a local folder or a hub
            id). None: the recorded one when it is a hub id (``org/model``); a
            recorded *folder* is a path on the machine that saved the prior and
            is never followed: the default model is used, with a warning.

        Returns
        -------
        SemanticPrior
            Fitted (``check_is_fitted`` passes).

        Raises
        ------
        PriorFileError
            For any problem with the folder; the message names the folder, the
            file and what is wrong. A missing folder or file raises one that is
            also a :class:`FileNotFoundError`.
        """
        directory = Path(os.path.expanduser(os.fspath(directory)))
        meta, tensors = read_prior_folder(directory)
        prior = cls(
            language_model=language_model_for_prior(
                meta["language_model"], language_model, directory, default=BIOBERT_MODEL
            ),
            revision=meta["revision"],
            name_vectors=meta["name_vectors"],
            vocabulary=meta["vocabulary"],  # "cleaned" for a folder saved before the field existed
            alpha=meta["alpha_param"],
            device=device,
            cache_dir=cache_dir,
        )
        return prior._restore(meta, tensors)

    def _restore(self, meta, tensors):
        """This prior, fitted from checked fields and tensors."""
        names = meta["names"]
        self._name_table = dict(zip(names, tensors["name_embeddings"], strict=True))
        self.coef_, self.intercept_ = tensors["coef"], float(tensors["intercept"][0])
        self.alpha_, self.cv_spearman_ = float(meta["alpha"]), meta["cv_spearman"]
        self.studies_ = list(meta["studies"])
        self.n_studies_, self.n_names_ = len(self.studies_), len(names)
        self.embedding_dim_ = int(meta["embedding_dim"])
        self.language_model_, self.revision_ = meta["language_model"], meta["revision"]
        return self

    def get_file_state(self):
        """What a model file (:mod:`sklearn_llmrad.io`) holds of this prior: parameters and fitted state.

        Returns
        -------
        dict
            ``params`` (constructor parameters) and ``attributes`` (empty when
            not fitted): the fields and tensors of a saved prior beside them.
        """
        state = {"params": self.get_params(deep=False), "attributes": {}}
        if hasattr(self, "coef_"):
            meta, tensors = prior_data(self, self._name_table)
            data = {f"{k}_": v for k, v in {**meta, **tensors}.items()}
            state["attributes"] = {k: data[k] for k in FILE_STATE_ATTRIBUTES}
        return state

    @classmethod
    def from_file_state(cls, state):
        """The prior a model file describes, after the checks of a saved prior (:mod:`~.prior_files`).

        Parameters
        ----------
        state : dict
            As :meth:`get_file_state` returns it, the parameters checked.

        Returns
        -------
        SemanticPrior
            Fitted when ``state`` holds fitted attributes.

        Raises
        ------
        ValueError
            A field or tensor is missing, mistyped, out of bounds or inconsistent.
        """
        prior = cls(**state["params"])
        if not state.get("attributes"):
            return prior
        meta, tensors = prior_data_from_file_state(
            state["attributes"], name_vectors=prior.name_vectors, vocabulary=prior.vocabulary, alpha=prior.alpha
        )
        return prior._restore(meta, tensors)

    @classmethod
    def is_file_attribute(cls, name):
        """Whether a model file may set the fitted attribute ``name`` (one of :meth:`get_file_state`'s).

        Parameters
        ----------
        name : str
            A fitted attribute's name, such as ``coef_``.

        Returns
        -------
        bool
        """
        return name in FILE_STATE_ATTRIBUTES

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_encoder_instance", None)
        return state

    def __sklearn_clone__(self):
        # A fitted prior is a pretrained, read-only component of the models
        # that use it (like a frozen estimator): cloning a model for CV or
        # GridSearchCV shares it instead of returning an unfitted copy.
        if hasattr(self, "coef_"):
            return self
        return super().__sklearn_clone__()


def as_prior(prior):
    """``None``, a :class:`SemanticPrior` or a saved prior directory -> SemanticPrior or None.

    Parameters
    ----------
    prior : SemanticPrior, str, path-like or None
        A prior, or the directory :meth:`SemanticPrior.save` wrote (loaded on
        the CPU).

    Returns
    -------
    SemanticPrior or None
        ``prior`` itself when it is None or a :class:`SemanticPrior`.

    Raises
    ------
    TypeError
        For any other type.

    Examples
    --------
    >>> as_prior(None) is None
    True
    >>> as_prior(0.5)
    Traceback (most recent call last):
    ...
    TypeError: prior must be None, a SemanticPrior or a saved prior directory, got float
    """
    if prior is None or isinstance(prior, SemanticPrior):
        return prior
    if isinstance(prior, (str, os.PathLike)):
        return SemanticPrior.load(prior)
    raise TypeError(f"prior must be None, a SemanticPrior or a saved prior directory, got {type(prior).__name__}")


def prior_feature_weights(prior, feature_names, n_features):
    """Weights ``w_j`` of a prior for ``feature_names`` (ones without a prior).

    Parameters
    ----------
    prior : SemanticPrior, str, path-like or None
    feature_names : array of str or None
    n_features : int

    Returns
    -------
    ndarray of shape (n_features,)

    Examples
    --------
    >>> prior_feature_weights(None, None, 3)
    array([1., 1., 1.])
    """
    prior = as_prior(prior)
    if prior is None:
        return np.ones(n_features)
    names = None if feature_names is None else [str(n) for n in feature_names]
    if is_placeholder_names(names):
        raise ValueError(
            "a semantic prior weighs features by their names, and these features have "
            f"{'none' if names is None else 'only the placeholders x0, x1, ...'}: pass X as a DataFrame "
            "whose columns are the feature names."
        )
    return np.asarray(prior.feature_weights(names), dtype=float)


def pretrain_prior(
    tables,
    *,
    include=None,
    exclude=None,
    language_model=BIOBERT_MODEL,
    revision=None,
    name_vectors="language_model",
    vocabulary="identity",
    alpha="auto",
    out=None,
    device="cpu",
    cache_dir=None,
    log=None,
):
    """Fit a :class:`SemanticPrior` on the radMLBench tables of a directory.

    Parameters
    ----------
    tables : str or path-like
        Directory of radMLBench ``<study>.gz`` files.
    include, exclude : sequence of str, default=None
        Studies to use / leave out (e.g. the target study of an evaluation).
    language_model, revision, name_vectors, vocabulary, alpha
        See :class:`SemanticPrior`.
    out : str or path-like, default=None
        Save the prior to this directory.
    device, cache_dir
        See :class:`SemanticPrior`.
    log : callable, default=None
        Called with progress lines.

    Returns
    -------
    SemanticPrior

    Examples
    --------
    Three tiny tables in radMLBench's format (gzip CSV with ``ID``, ``Target`` and
    the features) under real study names, and random name vectors (no language
    model):

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> with tempfile.TemporaryDirectory() as tables:
    ...     for study in ("Ahn2021", "HNSCC", "Song2020"):
    ...         y = np.tile([0, 1], 10)
    ...         frame = pd.DataFrame({"ID": range(20), "Target": y,
    ...                               "original_shape_VoxelVolume": y + rng.normal(size=20),
    ...                               "original_glcm_Idmn": rng.normal(size=20)})
    ...         frame.to_csv(Path(tables) / f"{study}.gz", index=False)
    ...     prior = pretrain_prior(tables, exclude=["Song2020"], name_vectors="random", alpha=1.0)
    >>> prior.studies_
    ['Ahn2021', 'HNSCC']
    """
    from .datasets.radmlbench import list_radmlbench, load_radmlbench

    available = list_radmlbench(tables)
    if not available:
        raise FileNotFoundError(f"no radMLBench tables (<study>.gz) in {tables}")
    names = list(available) if include is None else [str(n) for n in include]
    unknown = sorted(set(names) - set(available)) + sorted(set(exclude or ()) - set(available))
    if unknown:
        raise ValueError(f"studies not found in {tables}: {unknown}")
    names = [n for n in names if n not in set(exclude or ())]
    if not names:
        raise ValueError("no study left after --include/--exclude")
    bunches = []
    for n in names:
        bunches.append(load_radmlbench(n, data_home=tables, download_if_missing=False))
        if log:
            log(f"loaded {n}: {bunches[-1].data.shape[0]} rows, {bunches[-1].data.shape[1]} features")
    prior = SemanticPrior(
        language_model=language_model,
        revision=revision,
        name_vectors=name_vectors,
        vocabulary=vocabulary,
        alpha=alpha,
        device=device,
        cache_dir=cache_dir,
    ).fit(bunches)
    if log:
        log(f"fitted on {prior.n_studies_} studies, {prior.n_names_} distinct names, alpha={prior.alpha_:g}")
    if out is not None:
        prior.save(out)
        if log:
            log(f"saved to {out}")
    return prior
