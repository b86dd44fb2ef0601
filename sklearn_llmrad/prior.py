"""A semantic prior on radiomics features, learned across studies through their names.

A network trained on ~100 lesions of one study cannot learn what a feature's
*name* means. What names do carry is knowledge that transfers between
studies: the same kinds of features (shape size, intensity spread, texture
heterogeneity, ...) tend to be informative again and again. A
:class:`SemanticPrior` learns that from public studies (e.g. the radMLBench
tables, :func:`~sklearn_llmrad.datasets.radmlbench.load_radmlbench`):

1. every feature name is cleaned into words (:func:`clean_feature_name`:
   abbreviations expanded, modality/sequence prefixes kept as words) and
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
showing that a gain comes from what the names mean.

A prior is saved as a directory: ``prior.safetensors`` (ridge weights, cached
name embeddings) and ``prior.json`` (language model and revision, studies used,
name-cleaning version, hyper-parameters). Loading treats the folder as
untrusted data: it reads only these two files, checks the JSON's exact keys,
types and sizes and the tensors' exact names, floating dtypes, shapes and
finiteness, and raises :class:`PriorFileError` (naming the folder, the file and
the problem) otherwise; nothing is unpickled, imported or executed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from collections.abc import Mapping
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .descriptions import FEATURE_DESCRIPTIONS

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

#: Version of :func:`clean_feature_name`, recorded in saved priors (a prior
#: applied with another cleaning would embed names differently).
NAME_CLEANING_VERSION = "1"
#: Width of the random name vectors of the ``name_vectors="random"`` control.
RANDOM_VECTOR_DIM = 384
_FORMAT = "sklearn_llmrad.semantic-prior.v1"
_JSON = "prior.json"
_TENSORS = "prior.safetensors"
_TENSOR_NAMES = {"coef", "intercept", "name_embeddings"}
_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)

# ---------------------------------------------------------------------------
# Name cleaning
# ---------------------------------------------------------------------------

_CLASS_WORDS = {
    "glcm": "GLCM gray level co-occurrence matrix",
    "glrlm": "GLRLM gray level run length matrix",
    "glszm": "GLSZM gray level size zone matrix",
    "gldm": "GLDM gray level dependence matrix",
    "ngtdm": "NGTDM neighbouring gray tone difference matrix",
    "gldzm": "GLDZM gray level distance zone matrix",
    "ngldm": "NGLDM neighbouring gray level dependence matrix",
    "firstorder": "first order intensity statistics",
    "shape": "shape",
    "shape2d": "2D shape",
    "fos": "first order statistics",
    "fd": "fractal dimension",
}
_CLASS_TABLES = {
    "firstorder": "firstorder",
    "shape": "shape",
    "shape2d": "shape2D",
    "glcm": "glcm",
    "glrlm": "glrlm",
    "glszm": "glszm",
    "gldm": "gldm",
    "ngtdm": "ngtdm",
}
# Modality and sequence prefixes: kept, as words a language model knows.
_MODALITY_WORDS = {
    "t1": "T1 weighted MRI",
    "t2": "T2 weighted MRI",
    "t1gd": "contrast enhanced T1 weighted MRI",
    "t1c": "contrast enhanced T1 weighted MRI",
    "t1ce": "contrast enhanced T1 weighted MRI",
    "flair": "FLAIR MRI",
    "adc": "ADC apparent diffusion coefficient",
    "dwi": "diffusion weighted MRI",
    "dce": "dynamic contrast enhanced MRI",
    "ct": "CT",
    "pet": "PET",
    "mr": "MRI",
    "mri": "MRI",
    "hu": "Hounsfield units",
    "suv": "standardized uptake value",
    "rcbv": "relative cerebral blood volume",
    "md": "mean diffusivity",
    "fa": "fractional anisotropy",
    "gtv": "gross tumour volume",
    "cc": "craniocaudal view",
    "mlo": "mediolateral oblique view",
}
# Feature abbreviations of PyRadiomics, IBSI and older software.
_ABBREVIATIONS = {
    "idmn": "normalized inverse difference moment",
    "idm": "inverse difference moment",
    "idn": "normalized inverse difference",
    "id": "inverse difference",
    "imc1": "informational measure of correlation 1",
    "imc2": "informational measure of correlation 2",
    "mcc": "maximal correlation coefficient",
    "asm": "angular second moment",
    "log": "Laplacian of Gaussian",
    "lbp": "local binary pattern",
    "sre": "short run emphasis",
    "lre": "long run emphasis",
    "lrge": "long run high gray level emphasis",
    "gln": "gray level non uniformity",
    "glnu": "gray level non uniformity",
    "glnn": "normalized gray level non uniformity",
    "rln": "run length non uniformity",
    "rlnu": "run length non uniformity",
    "rp": "run percentage",
    "rv": "run variance",
    "lglre": "low gray level run emphasis",
    "hglre": "high gray level run emphasis",
    "srlgle": "short run low gray level emphasis",
    "srhgle": "short run high gray level emphasis",
    "lrlgle": "long run low gray level emphasis",
    "lrhgle": "long run high gray level emphasis",
    "sae": "small area emphasis",
    "lae": "large area emphasis",
    "sze": "small zone emphasis",
    "lze": "large zone emphasis",
    "szn": "size zone non uniformity",
    "zsn": "zone size non uniformity",
    "zsnu": "zone size non uniformity",
    "zsv": "zone size variance",
    "zp": "zone percentage",
    "szlge": "small zone low gray level emphasis",
    "szhge": "small zone high gray level emphasis",
    "lzlge": "large zone low gray level emphasis",
    "lzhge": "large zone high gray level emphasis",
    "lglze": "low gray level zone emphasis",
    "hglze": "high gray level zone emphasis",
    "glv": "gray level variance",
    "sde": "small dependence emphasis",
    "lde": "large dependence emphasis",
    "dn": "dependence non uniformity",
    "imin": "minimum intensity",
    "imax": "maximum intensity",
    "qcod": "quartile coefficient of dispersion",
    "sd": "standard deviation",
    "std": "standard deviation",
    "var": "variance",
    "avg": "average",
    "homogenerity": "homogeneity",
    "ibsi": "",
    "3dv": "3D volume",
    "3df": "3D",
    "2df": "2D",
    "roi": "region of interest",
    "gl": "gray level",
    "squareroot": "square root",
}
_CLASS_PREFIX_RE = re.compile(r"^(GLCM|GLRLM|GLSZM|GLDM|NGTDM|GLDZM|NGLDM)([A-Za-z].*)$")
_LOG_RE = re.compile(r"log-sigma-(\d+)(?:-(\d+))?-mm-([23])D", re.IGNORECASE)
_WAVELET_RE = re.compile(r"wavelet(\d?)[-_.]([LH]{1,3})(?![A-Za-z])")
_SPLIT_RE = re.compile(r"(?:[_\s,;:()/\-\[\]]|\.(?!\d)|(?<!\d)\.)+")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_FEATURE_LABELS = {}
for _table in FEATURE_DESCRIPTIONS.values():
    for _feature, (_label, _meaning) in _table.items():
        _FEATURE_LABELS.setdefault(_feature.lower(), _label)


def _expand_token(token, table):
    low = token.lower()
    if table is not None and token in FEATURE_DESCRIPTIONS[table]:
        return FEATURE_DESCRIPTIONS[table][token][0], None
    if low in _CLASS_WORDS:
        return _CLASS_WORDS[low], _CLASS_TABLES.get(low)
    if low in _MODALITY_WORDS:
        return _MODALITY_WORDS[low], None
    if low in _ABBREVIATIONS:
        return _ABBREVIATIONS[low], None
    if low in _FEATURE_LABELS:
        return _FEATURE_LABELS[low], None
    m = _CLASS_PREFIX_RE.match(token)
    if m:
        head, _ = _expand_token(m.group(1), None)
        rest, _ = _expand_token(m.group(2), _CLASS_TABLES.get(m.group(1).lower()))
        return f"{head} {rest}", None
    words = _CAMEL_RE.sub(" ", token).split()
    if len(words) > 1:
        return " ".join(_expand_token(w, None)[0] for w in words), None
    return token, None


def clean_feature_name(name):
    """Turn a radiomics feature name into words a language model understands.

    Separators become spaces, camel case is split, PyRadiomics features get
    their labels from :data:`~sklearn_llmrad.descriptions.FEATURE_DESCRIPTIONS`,
    feature classes and common abbreviations (GLCM, GLRLM, GLSZM, GLDM, NGTDM,
    Idmn, LRE, ...) are expanded, filters are spelled out (wavelet sub-bands,
    Laplacian-of-Gaussian sigma) and modality/sequence prefixes are kept as
    words (``T2`` -> "T2 weighted MRI").

    Parameters
    ----------
    name : str

    Returns
    -------
    str

    Examples
    --------
    >>> clean_feature_name("T2_wavelet-LLH_glcm_Idmn")
    'T2 weighted MRI wavelet LLH GLCM gray level co-occurrence matrix normalized inverse difference moment'
    >>> clean_feature_name("log-sigma-3-0-mm-3D_firstorder_Kurtosis")
    'Laplacian of Gaussian sigma 3.0 mm 3D first order intensity statistics intensity kurtosis'
    >>> clean_feature_name("FLAIR_edema_GLCMcontrast_2")
    'FLAIR MRI edema GLCM gray level co-occurrence matrix co-occurrence contrast 2'
    """
    text = str(name)
    text = _LOG_RE.sub(
        lambda m: f" log sigma {m.group(1)}{'.' + m.group(2) if m.group(2) else ''} mm {m.group(3)}D ", text
    )
    text = _WAVELET_RE.sub(lambda m: f" wavelet{' level ' + m.group(1) if m.group(1) else ''} {m.group(2)} ", text)
    out = []
    table = None
    for token in _SPLIT_RE.split(text):
        if not token:
            continue
        if re.fullmatch(r"\d+(\.\d+)?D?", token):
            out.append(token)
            continue
        words, new_table = _expand_token(token, table)
        table = new_table if new_table is not None else table
        if words:
            out.append(words)
    return " ".join(" ".join(out).split()) or "unnamed feature"


# ---------------------------------------------------------------------------
# Targets: informativeness per study
# ---------------------------------------------------------------------------


def univariate_informativeness(X, y):
    """Within-study rank of ``|AUC - 0.5|`` per feature, scaled to [0, 1].

    The AUC of each feature alone (Mann-Whitney), missing values imputed by the
    column median; constant or all-missing columns get NaN.

    Parameters
    ----------
    X : DataFrame or array of shape (n_samples, n_features)
    y : array-like of 0/1

    Returns
    -------
    informativeness : ndarray of shape (n_features,)
        0 for the least, 1 for the most informative feature of the study.
    auc : ndarray of shape (n_features,)
        The univariate AUCs.

    Examples
    --------
    >>> X = np.array([[0, 5], [1, 3], [2, 4], [3, 5.]])
    >>> info, auc = univariate_informativeness(X, [0, 0, 1, 1])
    >>> info.tolist(), auc.tolist()
    ([1.0, 0.0], [1.0, 0.625])
    """
    F = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("univariate informativeness needs both classes in y")
    with np.errstate(all="ignore"):
        med = np.nanmedian(np.where(np.isfinite(F), F, np.nan), axis=0)
    F = np.where(np.isfinite(F), F, med)
    ranks = rankdata(F, axis=0)
    auc = (ranks[y == 1].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    usable = np.isfinite(F).all(axis=0) & (np.nanmax(F, axis=0) > np.nanmin(F, axis=0))
    auc = np.where(usable, auc, np.nan)
    info = np.full(F.shape[1], np.nan)
    dev = np.abs(auc[usable] - 0.5)
    if dev.size == 1:
        info[usable] = 0.5
    elif dev.size > 1:
        info[usable] = (rankdata(dev) - 1) / (dev.size - 1)
    return info, auc


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


def _ridge(E, t, w, alpha):
    """Weighted ridge with an unpenalised intercept; returns (coef, intercept).

    Minimises ``sum_i w_i (t_i - b - e_i . coef)^2 + alpha / n * |coef|^2`` with
    ``w`` normalised to sum 1, in the primal or (fewer rows than dimensions)
    the dual form.
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


# ---------------------------------------------------------------------------
# Saved prior folders: untrusted data
# ---------------------------------------------------------------------------


class PriorFileError(ValueError):
    """A saved prior folder is missing, malformed, or holds invalid or unsafe data.

    Raised by :meth:`SemanticPrior.load` (and so by every ``prior=`` given as a
    folder) before anything from the folder is used. The message names the
    folder, the file and what is wrong. For a missing folder or file the error
    is also a :class:`FileNotFoundError`.

    Parameters
    ----------
    reason : str
        What is wrong.
    directory : str or path-like
        The prior folder.
    file : str, default=None
        The file in it (``prior.json`` or ``prior.safetensors``).

    Examples
    --------
    >>> err = PriorFileError("tensor 'coef' holds NaN", directory="p", file="prior.safetensors")
    >>> str(err)
    "semantic prior folder 'p', file 'prior.safetensors': tensor 'coef' holds NaN"
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, reason, *, directory, file=None):
        self.reason = reason
        self.directory = os.fspath(directory)
        self.file = file
        where = f"semantic prior folder {self.directory!r}" + ("" if file is None else f", file {file!r}")
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep the fields across processes (joblib)
        return (_rebuild_prior_error, (type(self), self.reason, self.directory, self.file))


class _MissingPriorFileError(PriorFileError, FileNotFoundError):
    """A prior folder or one of its two files does not exist."""


def _rebuild_prior_error(cls, reason, directory, file):
    return cls(reason, directory=directory, file=file)


# Bounds on what a prior folder may hold. A prior of the 32 radMLBench studies
# has ~14,000 names (a ~1 MiB JSON); these leave ample room for genuine priors.
_MAX_JSON_BYTES = 16 * 2**20
_MAX_HEADER_BYTES = 2**20
_MAX_TENSOR_BYTES = 2 * 2**30
_MAX_NAMES = 500_000
_MAX_NAME_CHARS = 2048
_MAX_STUDIES = 10_000
_MAX_STUDY_CHARS = 512
_MAX_EMBEDDING_DIM = 16_384
_MAX_MODEL_CHARS = 4096
_MAX_CV_ALPHAS = 100
_REVISION_RE = re.compile(r"^[\w.\-/]{1,256}$")
_META_KEYS = {
    "format",
    "language_model",
    "revision",
    "name_vectors",
    "name_cleaning_version",
    "studies",
    "alpha",
    "alpha_param",
    "cv_spearman",
    "embedding_dim",
    "names",
}
# safetensors dtype -> little-endian numpy dtype it is read as (BF16: decoded by hand)
_FLOAT_DTYPES = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8"}
_DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}


class _NaN(float):
    """A ``NaN`` constant read from JSON (allowed only as a legacy cv_spearman value)."""


def _json_constant(name):
    if name == "NaN":
        return _NaN("nan")
    raise ValueError(f"non-finite number {name} is not allowed")


def _json_object(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_regular_file(directory, name):
    path = directory / name
    if not directory.is_dir():
        raise _MissingPriorFileError(
            f"not a saved semantic prior: the folder does not exist (needs {_JSON} and {_TENSORS})",
            directory=directory,
        )
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _MissingPriorFileError(
            f"not a saved semantic prior: {name} is missing (needs {_JSON} and {_TENSORS})",
            directory=directory,
            file=name,
        ) from None
    except OSError as exc:
        raise PriorFileError(f"cannot be read ({exc})", directory=directory, file=name) from exc
    if not stat.S_ISREG(st.st_mode):
        raise PriorFileError("is not a regular file", directory=directory, file=name)
    return path, st.st_size


def _read_prior_json(directory):
    """The validated metadata of a prior folder (exact keys, types and bounds)."""
    path, size = _check_regular_file(directory, _JSON)

    def fail(reason):
        return PriorFileError(reason, directory=directory, file=_JSON)

    if size > _MAX_JSON_BYTES:
        raise fail(f"is {size} bytes, more than the {_MAX_JSON_BYTES} a prior's metadata may have")
    with open(path, "rb") as fh:
        raw = fh.read(_MAX_JSON_BYTES + 1)
    if len(raw) > _MAX_JSON_BYTES:
        raise fail(f"is more than the {_MAX_JSON_BYTES} bytes a prior's metadata may have")
    try:
        meta = json.loads(raw.decode("utf-8"), parse_constant=_json_constant, object_pairs_hook=_json_object)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise fail(f"not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise fail(f"must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != _FORMAT:
        raise fail(f"not a semantic prior of format {_FORMAT!r} (format is {meta.get('format')!r})")
    if meta.get("name_cleaning_version") != NAME_CLEANING_VERSION:
        raise fail(
            f"names were cleaned with version {meta.get('name_cleaning_version')!r}, this package cleans "
            f"with version {NAME_CLEANING_VERSION!r}; pretrain the prior again."
        )
    if set(meta) != _META_KEYS:
        missing, extra = sorted(_META_KEYS - set(meta)), sorted(set(meta) - _META_KEYS)
        raise fail(f"keys differ from a saved prior's: missing {missing}, unexpected {extra}")

    def bad(key, what):
        return fail(f"{key!r} must be {what}, got {_describe(meta[key])}")

    def str_list(key, max_len, max_chars):
        value = meta[key]
        if not isinstance(value, list) or not value:
            raise bad(key, "a non-empty list of strings")
        if len(value) > max_len:
            raise fail(f"{key!r} has {len(value)} entries, more than the {max_len} allowed")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item or len(item) > max_chars:
                raise fail(
                    f"{key!r}[{i}] must be a non-empty string of at most {max_chars} characters, got {_describe(item)}"
                )
        if len(set(value)) != len(value):
            raise fail(f"{key!r} has duplicate entries")

    if meta["name_vectors"] not in ("language_model", "random"):
        raise bad("name_vectors", "'language_model' or 'random'")
    if meta["name_vectors"] == "random":
        if meta["language_model"] is not None or meta["revision"] is not None:
            raise fail("a prior of random name vectors records no language model or revision (null)")
    else:
        model = meta["language_model"]
        if (
            not isinstance(model, str)
            or not model.strip()
            or len(model) > _MAX_MODEL_CHARS
            or any(ord(c) < 32 or ord(c) == 127 for c in model)
        ):
            raise bad("language_model", f"a hub id or folder name (at most {_MAX_MODEL_CHARS} printable characters)")
        revision = meta["revision"]
        if revision is not None and not (isinstance(revision, str) and _REVISION_RE.match(revision)):
            raise bad("revision", "null or a hub revision (letters, digits, '_', '.', '-', '/')")
    str_list("studies", _MAX_STUDIES, _MAX_STUDY_CHARS)
    str_list("names", _MAX_NAMES, _MAX_NAME_CHARS)
    dim = meta["embedding_dim"]
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= _MAX_EMBEDDING_DIM:
        raise bad("embedding_dim", f"an integer in [1, {_MAX_EMBEDDING_DIM}]")
    if meta["name_vectors"] == "random" and dim != RANDOM_VECTOR_DIM:
        raise fail(f"random name vectors are {RANDOM_VECTOR_DIM}-d, but 'embedding_dim' is {dim}")
    alpha = meta["alpha"]
    if not _is_number(alpha) or isinstance(alpha, _NaN) or not 0 < alpha < float("inf"):
        raise bad("alpha", "a finite number > 0")
    alpha_param = meta["alpha_param"]
    cv = meta["cv_spearman"]
    if alpha_param == "auto":
        if not isinstance(cv, dict) or not 0 < len(cv) <= _MAX_CV_ALPHAS:
            raise bad("cv_spearman", f"an object {{alpha: score}} of 1 to {_MAX_CV_ALPHAS} entries (alpha 'auto')")
        alphas = []
        for key, score in cv.items():
            try:
                a = float(key)
            except ValueError:
                a = float("nan")
            if not 0 < a < float("inf"):
                raise fail(f"'cv_spearman' key {key!r} must be a finite alpha > 0")
            if score is not None and not (_is_number(score) and (isinstance(score, _NaN) or -1 <= score <= 1)):
                raise fail(
                    f"'cv_spearman'[{key!r}] must be a Spearman correlation in [-1, 1] or null, got {_describe(score)}"
                )
            alphas.append(a)
        if float(alpha) not in alphas:
            raise fail(f"'alpha' {alpha!r} is not one of the alphas in 'cv_spearman' {sorted(alphas)}")
    elif _is_number(alpha_param) and not isinstance(alpha_param, _NaN) and 0 < alpha_param < float("inf"):
        if cv is not None:
            raise fail("'cv_spearman' must be null when 'alpha_param' is a number")
        if float(alpha_param) != float(alpha):
            raise fail(f"'alpha' {alpha!r} differs from the fixed 'alpha_param' {alpha_param!r}")
    else:
        raise bad("alpha_param", "'auto' or a finite number > 0")
    return meta


def _describe(value):
    text = repr(value)
    kind = "float" if isinstance(value, _NaN) else type(value).__name__
    return f"{kind} {text[:60] + '...' if len(text) > 60 else text}"


def _read_prior_tensors(directory, meta):
    """The validated tensors of a prior folder: exact names, float dtypes, shapes, finite values."""
    path, size = _check_regular_file(directory, _TENSORS)

    def fail(reason):
        return PriorFileError(reason, directory=directory, file=_TENSORS)

    if size > _MAX_TENSOR_BYTES:
        raise fail(f"is {size} bytes, more than the {_MAX_TENSOR_BYTES} a prior's tensors may have")
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head.startswith(b"PK\x03\x04"):
            raise fail("is a zip archive (a torch.save file?), not safetensors; refused, never unpickled")
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise fail("is a pickle (a torch.save or pickle.dump file?), not safetensors; refused, never unpickled")
        if len(head) < 8:
            raise fail("is truncated: shorter than a safetensors header")
        n = int.from_bytes(head, "little")
        if n > _MAX_HEADER_BYTES or 8 + n > size:
            raise fail(f"not a safetensors file (header length {n} is implausible for a {size}-byte file)")
        header_bytes = fh.read(n)
        try:
            header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_json_object)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise fail(f"not a safetensors file (header is not valid JSON: {exc})") from None
        if not isinstance(header, dict):
            raise fail("not a safetensors file (header is not a JSON object)")
        header.pop("__metadata__", None)  # free-form strings, never used
        if set(header) != _TENSOR_NAMES:
            raise fail(f"expected tensors {sorted(_TENSOR_NAMES)}, found {sorted(header)}")
        n_names, dim = len(meta["names"]), meta["embedding_dim"]
        expected = {"coef": [dim], "intercept": [1], "name_embeddings": [n_names, dim]}
        spans = []
        for name in sorted(_TENSOR_NAMES):
            info = header[name]
            if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
                raise fail(f"tensor {name!r}: malformed header entry")
            dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
            if dtype not in _FLOAT_DTYPES:
                raise fail(
                    f"tensor {name!r} has dtype {dtype!r}, not a floating dtype (allowed: {sorted(_FLOAT_DTYPES)})"
                )
            if shape != expected[name] or not all(type(d) is int for d in shape):
                raise fail(
                    f"tensor {name!r} has shape {shape}, expected {expected[name]} "
                    f"({n_names} names and embedding_dim {dim} in {_JSON})"
                )
            if not (
                isinstance(offsets, list)
                and len(offsets) == 2
                and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1]
                and offsets[1] - offsets[0] == int(np.prod(shape)) * _DTYPE_BYTES[dtype]
            ):
                raise fail(f"tensor {name!r}: data offsets {offsets} do not match its dtype and shape")
            spans.append((offsets[0], offsets[1], name, dtype, shape))
        spans.sort()
        end = 0
        for begin, stop, name, _, _ in spans:
            if begin != end:
                raise fail(f"tensor {name!r}: data overlaps another tensor or leaves a gap")
            end = stop
        if 8 + n + end != size:
            raise fail(f"is {size} bytes, but its header describes {8 + n + end}")
        data = fh.read(end)
    if len(data) != end:
        raise fail("is truncated")
    out = {}
    for begin, stop, name, dtype, shape in spans:
        arr = np.frombuffer(data, dtype=_FLOAT_DTYPES[dtype], count=(stop - begin) // _DTYPE_BYTES[dtype], offset=begin)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        arr = arr.reshape(shape).astype(np.float64 if name == "intercept" else np.float32)
        bad = ~np.isfinite(arr)
        if bad.any():
            kinds = sorted({"NaN" if np.isnan(v) else "inf" for v in arr[bad].ravel()[:100]})
            raise fail(f"tensor {name!r} holds {int(bad.sum())} non-finite values ({', '.join(kinds)})")
        out[name] = arr
    norms = np.linalg.norm(out["name_embeddings"].astype(np.float64), axis=1)
    off = np.abs(norms - 1) > 2e-2
    if off.any():
        i = int(np.argmax(off))
        raise fail(
            f"tensor 'name_embeddings' row {i} ({meta['names'][i]!r}) has norm {norms[i]:.4g}; "
            "name vectors are unit-norm"
        )
    return out


def _language_model_for(recorded, given, directory):
    """The language model a loaded prior embeds unseen names with: the caller's, or a recorded hub id."""
    default = "dmis-lab/biobert-base-cased-v1.2"
    if given is not None:
        return os.fspath(given)
    if recorded is None:
        return default
    parts = recorded.split("/")
    hub_id = (
        len(parts) <= 2
        and all(p and not p.startswith((".", "~")) for p in parts)
        and not os.path.isabs(recorded)
        and not os.path.exists(recorded)  # an id that is also a folder here would be read as that folder
    )
    if hub_id:
        return recorded
    warnings.warn(
        f"semantic prior folder {os.fspath(directory)!r} records the language model {recorded!r}, a folder of "
        f"the machine that saved it, which is never followed; unseen names will be embedded with {default!r}: "
        "pass SemanticPrior.load(..., language_model=PATH) to name the model",
        UserWarning,
        stacklevel=3,
    )
    return default


class SemanticPrior(BaseEstimator):
    """Expected informativeness of radiomics features from their names, learned across studies.

    Parameters
    ----------
    language_model : str or path-like, default="dmis-lab/biobert-base-cased-v1.2"
        Language model embedding the cleaned names (hub id or local directory,
        loaded by :class:`~sklearn_llmrad.encoding.BioBERTEncoder`).
    revision : str, default=None
        Hub revision; None uses the encoder's default (the pinned BioBERT revision).
    name_vectors : {"language_model", "random"}, default="language_model"
        ``"random"``: hash-seeded random vectors per cleaned name, the control.
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
        "name_vectors": [StrOptions({"language_model", "random"})],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "cache_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        *,
        language_model="dmis-lab/biobert-base-cased-v1.2",
        revision=None,
        name_vectors="language_model",
        alpha="auto",
        device="cpu",
        random_state=None,
        cache_dir=None,
    ):
        self.language_model = language_model
        self.revision = revision
        self.name_vectors = name_vectors
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
                model=os.fspath(self.language_model),
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
            cleaned = [clean_feature_name(f) for f, k in zip(features, keep, strict=True) if k]
            rows_name += cleaned
            rows_t.append(info[keep])
            rows_w.append(np.full(keep.sum(), 1.0 / keep.sum()))  # each study weighs the same
            rows_g.append(np.full(keep.sum(), g))
        if not rows_name:
            raise ValueError("no study has a usable (non-constant) feature")
        t = np.concatenate(rows_t)
        w = np.concatenate(rows_w)
        groups = np.concatenate(rows_g)
        E = self._embed_cleaned(rows_name).astype(np.float64)
        # the training names are stored with the prior; names seen later are not
        self._name_table = {n: self._extra_names.pop(n) for n in dict.fromkeys(rows_name)}
        self.cv_spearman_ = None
        if self.alpha == "auto":
            self.cv_spearman_ = self._cv_alpha(E, t, w, groups)
            self.alpha_ = float(max(self.cv_spearman_, key=lambda a: (self.cv_spearman_[a], a)))
        else:
            self.alpha_ = float(self.alpha)
        coef, intercept = _ridge(E, t, w, self.alpha_)
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = float(intercept)
        self.studies_ = [s[0] for s in parsed]
        self.n_studies_ = len(self.studies_)
        self.n_names_ = len(self._name_table)
        self.embedding_dim_ = int(E.shape[1])
        self.language_model_ = None if self.name_vectors == "random" else os.fspath(self.language_model)
        self.revision_ = None if self.name_vectors == "random" else self._resolved_revision()
        return self

    def _resolved_revision(self):
        from .encoding import resolve_revision

        return resolve_revision(os.fspath(self.language_model), self.revision)

    @staticmethod
    def _cv_alpha(E, t, w, groups):
        unique = np.unique(groups)
        if len(unique) < 3:
            return {1.0: float("nan")}
        folds = np.array_split(unique, min(5, len(unique)))
        scores = {}
        for alpha in _ALPHAS:
            rhos = []
            for held in folds:
                test = np.isin(groups, held)
                coef, b = _ridge(E[~test], t[~test], w[~test], alpha)
                pred = E[test] @ coef + b
                for g in held:
                    m = groups[test] == g
                    if m.sum() > 2:
                        rhos.append(spearmanr(pred[m], t[test][m]).statistic)
            scores[alpha] = float(np.nanmean(rhos))
        return scores

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
        E = self._embed_cleaned([clean_feature_name(n) for n in names])
        if E.shape[1] != self.coef_.shape[0]:
            raise ValueError(
                f"the language model gives {E.shape[1]}-d embeddings but the prior was fitted on "
                f"{self.coef_.shape[0]}-d ones ({self.language_model_!r}); use the recorded model."
            )
        return E.astype(np.float64) @ self.coef_.astype(np.float64) + self.intercept_

    def embed_names(self, feature_names):
        """Unit-norm name vectors the prior uses (cleaned names, embedded or random).

        Parameters
        ----------
        feature_names : sequence of str

        Returns
        -------
        ndarray of shape (n_names, embedding_dim), float32
        """
        return self._embed_cleaned([clean_feature_name(str(n)) for n in feature_names])

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
        """Save to ``directory`` (``prior.safetensors`` + ``prior.json``).

        Parameters
        ----------
        directory : str or path-like
            Created if needed; ``~`` is expanded. Existing files of a saved
            prior are overwritten.

        Returns
        -------
        pathlib.Path
            The directory, for :meth:`load`.
        """
        from safetensors.numpy import save_file

        check_is_fitted(self, "coef_")
        directory = Path(os.path.expanduser(os.fspath(directory)))
        directory.mkdir(parents=True, exist_ok=True)
        names = list(self._name_table)
        if not (np.isfinite(self.coef_).all() and np.isfinite(self.intercept_)):
            raise ValueError("the prior's coefficients are not finite; it cannot be saved")
        tensors = {
            "coef": np.ascontiguousarray(self.coef_, dtype=np.float32),
            "intercept": np.asarray([self.intercept_], dtype=np.float64),
            "name_embeddings": np.ascontiguousarray(np.stack([self._name_table[n] for n in names]), dtype=np.float32),
        }
        save_file(tensors, str(directory / _TENSORS))
        meta = {
            "format": _FORMAT,
            "language_model": self.language_model_,
            "revision": self.revision_,
            "name_vectors": self.name_vectors,
            "name_cleaning_version": NAME_CLEANING_VERSION,
            "studies": list(self.studies_),
            "alpha": self.alpha_,
            "alpha_param": self.alpha if isinstance(self.alpha, str) else float(self.alpha),
            # a NaN score (too few studies for the CV) is written as null: strict JSON
            "cv_spearman": None
            if self.cv_spearman_ is None
            else {str(float(k)): (float(v) if np.isfinite(v) else None) for k, v in self.cv_spearman_.items()},
            "embedding_dim": self.embedding_dim_,
            "names": names,
        }
        (directory / _JSON).write_text(json.dumps(meta, indent=1, allow_nan=False), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory, *, device="cpu", cache_dir=None, language_model=None):
        """Load a prior saved by :meth:`save`, treating the folder as untrusted data.

        Only ``prior.json`` and ``prior.safetensors`` are read (other files in
        the folder are ignored); nothing is unpickled, imported or executed.
        Before anything is used, the JSON must have exactly the keys and types
        :meth:`save` writes, within size bounds, and the safetensors file must
        hold exactly the tensors ``coef``, ``intercept`` and
        ``name_embeddings``, of a floating dtype (F16, BF16, F32, F64), with
        shapes consistent with the JSON and every value finite. The recorded
        language model is only a name (hub id or local directory): it is
        loaded lazily, for unseen names only, by
        :class:`~sklearn_llmrad.encoding.BioBERTEncoder` (safetensors weights,
        ``trust_remote_code=False``).

        Parameters
        ----------
        directory : str or path-like
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
        meta = _read_prior_json(directory)
        tensors = _read_prior_tensors(directory, meta)
        names = meta["names"]
        prior = cls(
            language_model=_language_model_for(meta["language_model"], language_model, directory),
            revision=meta["revision"],
            name_vectors=meta["name_vectors"],
            alpha=meta["alpha_param"],
            device=device,
            cache_dir=cache_dir,
        )
        emb = tensors["name_embeddings"]
        prior._name_table = dict(zip(names, emb, strict=True))
        prior.coef_ = tensors["coef"]
        prior.intercept_ = float(tensors["intercept"][0])
        prior.alpha_ = float(meta["alpha"])
        cv = meta["cv_spearman"]
        prior.cv_spearman_ = (
            None if cv is None else {float(k): (float("nan") if v is None else float(v)) for k, v in cv.items()}
        )
        prior.studies_ = list(meta["studies"])
        prior.n_studies_ = len(prior.studies_)
        prior.n_names_ = len(names)
        prior.embedding_dim_ = int(meta["embedding_dim"])
        prior.language_model_ = meta["language_model"]
        prior.revision_ = meta["revision"]
        return prior

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
    if feature_names is None:
        raise ValueError(
            "a semantic prior weighs features by their names: pass X as a DataFrame whose columns "
            "are the feature names."
        )
    return np.asarray(prior.feature_weights(list(feature_names)), dtype=float)


def pretrain_prior(
    tables,
    *,
    include=None,
    exclude=None,
    language_model="dmis-lab/biobert-base-cased-v1.2",
    revision=None,
    name_vectors="language_model",
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
    language_model, revision, name_vectors, alpha
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
