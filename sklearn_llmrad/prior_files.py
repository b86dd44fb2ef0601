"""A saved :class:`~sklearn_llmrad.prior.SemanticPrior`: in the model files' format, read back as untrusted data.

A prior is saved as a folder holding one file, ``prior.llmrad``: an archive of the
model files' format (:mod:`sklearn_llmrad._archive`: the same zip container and
bounds, strict-JSON ``manifest.json``, data codec and safetensors member). The
manifest holds the format tag ``sklearn-llmrad-prior`` and its version, and exactly
the prior's fields (language model and revision, studies used, name-cleaning
version, hyper-parameters, names); the tensors (ridge weights, name vectors) are in
``prior.safetensors``, referenced from the manifest. ``SemanticPrior.load`` also
takes the ``prior.llmrad`` file itself.

Reading treats the file as untrusted data: the archive's member names and sizes
are checked before anything is read; the archive holds exactly those two members;
the manifest's exact names, exact value types (no class, function or object is
built: the data codec refuses them) and bounds; the tensors' exact names, dtypes
(float32, the intercept float64), shapes and finiteness. Anything else raises
:class:`PriorFileError` naming the folder, the file and the problem; nothing is
unpickled, imported, executed or written, and no path is taken from the file.

**Legacy folders**, written before priors were archives (``prior.json`` +
``prior.safetensors``; one without the ``vocabulary`` field has learned on cleaned
names), are still read, by the legacy reader at the end of this module, with the
same checks.
"""

from __future__ import annotations

import os
import re
import stat
import warnings

import numpy as np

from ._archive import (
    MANIFEST,
    DataDecoder,
    DataEncoder,
    ModelFileError,
    UnsafeModelError,
    loads_strict,
    read_tensors,
    write_archive,
)
from ._archive import open_archive as open_any_archive
from .vocabulary import NAME_CLEANING_VERSION

__all__ = [
    "NAME_VECTORS",
    "NO_LANGUAGE_MODEL",
    "PRIOR_FILE",
    "PRIOR_FORMAT",
    "PRIOR_FORMAT_VERSION",
    "RANDOM_VECTOR_DIM",
    "VOCABULARIES",
    "PriorFileError",
    "FILE_STATE_ATTRIBUTES",
    "check_prior_data",
    "language_model_for_prior",
    "prior_data",
    "prior_data_from_file_state",
    "read_prior_folder",
    "write_prior_folder",
]

#: The file of a saved prior, in its folder: an archive of the model files' format.
PRIOR_FILE = "prior.llmrad"
#: Format tag of a saved prior's manifest.
PRIOR_FORMAT = "sklearn-llmrad-prior"
#: Version of that format this package writes (and the versions it reads: this one).
PRIOR_FORMAT_VERSION = 1
#: Width of the random name vectors of the ``name_vectors="random"`` control.
RANDOM_VECTOR_DIM = 384

#: What a prior's vectors are: language-model embeddings, the hash-seeded random control,
#: language-model predictions permuted among a study's features (control), or a lookup of
#: each key's mean informativeness (no language model; 1-d "vectors").
NAME_VECTORS = ("language_model", "random", "permuted", "lookup")

#: What a prior learns on: cleaned names, harmonised (filter, class, feature) identities
#: (the cleaned name where unmapped), or (filter, class) families only. A folder saved
#: before the field existed has learned on cleaned names.
VOCABULARIES = ("cleaned", "identity", "family")

#: The ``name_vectors`` that need no language model (a saved prior records none).
NO_LANGUAGE_MODEL = ("random", "lookup")
_TENSORS = "prior.safetensors"
_TENSOR_NAMES = {"coef", "intercept", "name_embeddings"}
# the exact dtype of each tensor in a prior.llmrad (legacy folders may hold F16/BF16/F64 too)
_TENSOR_DTYPES = {"coef": np.dtype("<f4"), "intercept": np.dtype("<f8"), "name_embeddings": np.dtype("<f4")}


class PriorFileError(ValueError):
    """A saved prior folder is missing, malformed, or holds invalid or unsafe data.

    Raised by :meth:`~sklearn_llmrad.prior.SemanticPrior.load` (and so by every ``prior=`` given as a
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
        The file in it (``prior.llmrad``; ``prior.json`` or ``prior.safetensors`` in a legacy folder).

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


# Bounds on what a saved prior may hold. A prior of the 32 radMLBench studies
# has ~14,000 names (a ~1 MiB manifest); these leave ample room for genuine priors.
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
# the prior's fields, the same in a prior.llmrad's manifest and a legacy prior.json
_FIELDS = set(
    "language_model revision name_vectors vocabulary name_cleaning_version studies alpha alpha_param cv_spearman "
    "embedding_dim names".split()
)
# the exact type of each field's value in a prior.llmrad (cv_spearman: {float alpha: float score})
_FIELD_TYPES = {
    "language_model": (str, type(None)),
    "revision": (str, type(None)),
    "name_vectors": (str,),
    "vocabulary": (str,),
    "name_cleaning_version": (str,),
    "studies": (list,),
    "alpha": (float,),
    "alpha_param": (str, float),
    "cv_spearman": (dict, type(None)),
    "embedding_dim": (int,),
    "names": (list,),
}
_MISSING = f"not a saved semantic prior: {{}} (needs {PRIOR_FILE}, or the legacy prior.json and {_TENSORS})"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value):
    text = repr(value)
    kind = "float" if isinstance(value, _NaN) else type(value).__name__
    return f"{kind} {text[:60] + '...' if len(text) > 60 else text}"


def _checked_file(directory, name, max_bytes, holds):
    """(path, size, fail) of a file of a prior folder: present, regular, at most ``max_bytes``."""

    def fail(reason):
        return PriorFileError(reason, directory=directory, file=name)

    path = directory / name
    if not directory.is_dir():
        raise _MissingPriorFileError(_MISSING.format("the folder does not exist"), directory=directory)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _MissingPriorFileError(_MISSING.format(f"{name} is missing"), directory=directory, file=name) from None
    except OSError as exc:
        raise fail(f"cannot be read ({exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise fail("is not a regular file")
    if st.st_size > max_bytes:
        raise fail(f"is {st.st_size} bytes, more than the {max_bytes} a prior's {holds} may have")
    return path, st.st_size, fail


def _difference(expected, found):
    """``missing [...], unexpected [...]``: what ``found`` lacks of ``expected`` and holds besides."""
    return f"missing {sorted(expected - found)}, unexpected {sorted(found - expected)}"


def _check_fields(meta, fail):
    """The prior's fields hold together: names, kinds, bounds (both formats; ``meta`` has every field)."""
    if meta["name_cleaning_version"] != NAME_CLEANING_VERSION:
        raise fail(
            f"names were cleaned with version {meta['name_cleaning_version']!r}, this package cleans "
            f"with version {NAME_CLEANING_VERSION!r}; pretrain the prior again."
        )

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

    if meta["name_vectors"] not in NAME_VECTORS:
        raise bad("name_vectors", " or ".join(map(repr, NAME_VECTORS)))
    if meta["vocabulary"] not in VOCABULARIES:
        raise bad("vocabulary", " or ".join(map(repr, VOCABULARIES)))
    if meta["name_vectors"] in NO_LANGUAGE_MODEL:
        if meta["language_model"] is not None or meta["revision"] is not None:
            raise fail(f"a prior of {meta['name_vectors']} name vectors records no language model or revision (null)")
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
    if meta["name_vectors"] == "lookup" and dim != 1:
        raise fail(f"a lookup prior's vectors are 1-d, but 'embedding_dim' is {dim}")
    alpha = meta["alpha"]
    if not _is_number(alpha) or not 0 < alpha < float("inf"):
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
            # a NaN score: too few studies for the CV (null in a legacy prior.json)
            if score is not None and not (_is_number(score) and (score != score or -1 <= score <= 1)):
                raise fail(
                    f"'cv_spearman'[{key!r}] must be a Spearman correlation in [-1, 1] or null, got {_describe(score)}"
                )
            alphas.append(a)
        if float(alpha) not in alphas:
            raise fail(f"'alpha' {alpha!r} is not one of the alphas in 'cv_spearman' {sorted(alphas)}")
    elif _is_number(alpha_param) and 0 < alpha_param < float("inf"):
        if cv is not None:
            raise fail("'cv_spearman' must be null when 'alpha_param' is a number")
        if float(alpha_param) != float(alpha):
            raise fail(f"'alpha' {alpha!r} differs from the fixed 'alpha_param' {alpha_param!r}")
    else:
        raise bad("alpha_param", "'auto' or a finite number > 0")


def _check_tensor_values(tensors, meta, fail):
    """Shapes that match the fields, finite values, unit-norm name vectors (a lookup's within [-1, 1])."""
    n_names, dim = len(meta["names"]), meta["embedding_dim"]
    expected = {"coef": [dim], "intercept": [1], "name_embeddings": [n_names, dim]}
    for name in sorted(_TENSOR_NAMES):
        arr = tensors[name]
        if list(arr.shape) != expected[name]:
            raise fail(
                f"tensor {name!r} has shape {list(arr.shape)}, expected {expected[name]} "
                f"({n_names} names and embedding_dim {dim})"
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            kinds = sorted({"NaN" if np.isnan(v) else "inf" for v in arr[bad].ravel()[:100]})
            raise fail(f"tensor {name!r} holds {int(bad.sum())} non-finite values ({', '.join(kinds)})")
    norms = np.linalg.norm(tensors["name_embeddings"].astype(np.float64), axis=1)
    # a lookup's 1-d "vector" is an informativeness (in [0, 1]) less the mean: within [-1, 1]
    lookup = meta["name_vectors"] == "lookup"
    off = norms > 1 + 1e-6 if lookup else np.abs(norms - 1) > 2e-2
    if off.any():
        i = int(np.argmax(off))
        raise fail(
            f"tensor 'name_embeddings' row {i} ({meta['names'][i]!r}) has norm {norms[i]:.4g}; "
            + ("a lookup's values lie in [-1, 1]" if lookup else "name vectors are unit-norm")
        )


def _read_prior_archive(directory, name):
    """The checked fields and tensors of ``directory/name``, a prior.llmrad archive."""
    path, _, fail = _checked_file(directory, name, _MAX_JSON_BYTES + _MAX_TENSOR_BYTES, "archive")
    try:
        zf, manifest = open_any_archive(path, kind="saved semantic prior")
    except (ModelFileError, UnsafeModelError) as exc:
        raise fail(str(exc)) from exc
    with zf:
        if manifest.get("format") != PRIOR_FORMAT:
            raise fail(f"not a semantic prior of format {PRIOR_FORMAT!r} (format is {manifest.get('format')!r:.80})")
        version = manifest.get("format_version")
        if type(version) is not int or version != PRIOR_FORMAT_VERSION:
            advice = "upgrade sklearn-llmrad" if type(version) is int and version > PRIOR_FORMAT_VERSION else "refit it"
            raise fail(
                f"has format version {version!r:.40}; this sklearn-llmrad reads {PRIOR_FORMAT_VERSION}: {advice}"
            )
        members = sorted(zf.namelist())
        if members != sorted({MANIFEST, _TENSORS}):
            raise fail(f"holds the members {members}; a saved prior holds exactly {sorted({MANIFEST, _TENSORS})}")
        keys, names = set(manifest) - {"format", "format_version"}, _FIELDS | _TENSOR_NAMES
        if keys != names:
            raise fail(f"{MANIFEST}: names differ from a saved prior's: {_difference(names, keys)}")
        for key in sorted(_TENSOR_NAMES):
            if manifest[key] != {"$type": "tensor", "key": key, "origin": "numpy"}:
                raise fail(f"{MANIFEST}: {key!r} must refer to the tensor {key!r}, got {manifest[key]!r:.80}")
        # data only: no class, function, object or tensor reference among the fields
        decoder = DataDecoder({}, where=f"{MANIFEST}")
        try:
            meta = {key: decoder.decode(manifest[key]) for key in sorted(_FIELDS)}
            tensors = read_tensors(zf, _TENSORS, framework="np")
        except (ModelFileError, UnsafeModelError) as exc:
            raise fail(str(exc)) from exc
    check_prior_data(meta, tensors, fail=fail, files=(MANIFEST, _TENSORS))
    return meta, tensors


def check_prior_data(meta, tensors, *, fail=ValueError, files=None):
    """Check a prior's fields and tensors as a ``prior.llmrad`` holds them: exact types, bounds, shapes, values.

    The one set of checks for a prior read from a file: a saved prior's archive and
    a prior inside a model file (:meth:`~sklearn_llmrad.prior.SemanticPrior.from_file_state`).

    Parameters
    ----------
    meta : dict
        Exactly the prior's fields (language model and revision, name vectors,
        vocabulary, name-cleaning version, studies, alpha, alpha parameter,
        ``cv_spearman``, embedding width, names).
    tensors : dict of str -> ndarray
        Exactly ``coef`` and ``name_embeddings`` (float32) and ``intercept`` (float64).
    fail : callable, default=ValueError
        Makes the exception to raise from a message.
    files : (str, str), default=None
        The files the fields and the tensors were read from, named in the
        messages about their types (a saved prior's manifest and tensors).

    Raises
    ------
    Exception
        ``fail(reason)`` for the first problem found.

    Examples
    --------
    >>> meta = {"language_model": None, "revision": None, "name_vectors": "random", "vocabulary": "cleaned",
    ...         "name_cleaning_version": "1", "studies": ["a"], "alpha": 1.0, "alpha_param": 1.0,
    ...         "cv_spearman": None, "embedding_dim": 384, "names": ["volume"]}
    >>> tensors = {"coef": np.zeros(384, np.float32), "intercept": np.zeros(1),
    ...            "name_embeddings": np.eye(1, 384, dtype=np.float32)}
    >>> check_prior_data(meta, tensors)
    >>> check_prior_data({**meta, "alpha": -1.0}, tensors)
    Traceback (most recent call last):
    ...
    ValueError: 'alpha' must be a finite number > 0, got float -1.0
    """
    in_fields, in_tensors = (f"{f}: " for f in files) if files else ("", "")
    if set(meta) != _FIELDS:
        raise fail(f"fields differ from a saved prior's: {_difference(_FIELDS, set(meta))}")
    for key, types in _FIELD_TYPES.items():
        if type(meta[key]) not in types:
            raise fail(
                f"{in_fields}{key!r} must be of type {' or '.join(t.__name__ for t in types)}, "
                f"got {_describe(meta[key])}"
            )
    if meta["cv_spearman"] is not None and not all(
        type(k) is float and type(v) is float for k, v in meta["cv_spearman"].items()
    ):
        raise fail(f"{in_fields}'cv_spearman' must map float alphas to float scores")
    _check_fields(meta, fail)
    if type(tensors) is not dict or set(tensors) != _TENSOR_NAMES:
        found = sorted(map(str, tensors)) if isinstance(tensors, dict) else type(tensors).__name__
        raise fail(f"{in_tensors}expected tensors {sorted(_TENSOR_NAMES)}, found {found}")
    for key, dtype in _TENSOR_DTYPES.items():
        if not isinstance(tensors[key], np.ndarray) or tensors[key].dtype != dtype:
            got = tensors[key].dtype if isinstance(tensors[key], np.ndarray) else type(tensors[key]).__name__
            raise fail(f"{in_tensors}tensor {key!r} has dtype {got}, a saved prior's is {dtype}")
    _check_tensor_values(tensors, meta, fail)


def _float_scores(cv):
    return None if cv is None else {float(k): float(v) for k, v in cv.items()}


def prior_data(prior, name_table):
    """The fields and tensors of a fitted prior, as a saved prior and a model file hold them.

    Parameters
    ----------
    prior : SemanticPrior
        Fitted.
    name_table : dict of str -> ndarray
        Its name vectors by name, in the order they are stored.

    Returns
    -------
    meta, tensors
        As :func:`read_prior_folder` returns them.

    Raises
    ------
    ValueError
        The prior's coefficients are not finite.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> prior = SimpleNamespace(language_model_=None, revision_=None, name_vectors="random", vocabulary="cleaned",
    ...                         studies_=["a"], alpha_=1.0, alpha=1.0, cv_spearman_=None, embedding_dim_=384,
    ...                         coef_=np.zeros(384, np.float32), intercept_=0.0)
    >>> meta, tensors = prior_data(prior, {"volume": np.eye(1, 384, dtype=np.float32)[0]})
    >>> meta["names"], tensors["name_embeddings"].shape
    (['volume'], (1, 384))
    """
    names = list(name_table)
    if not (np.isfinite(prior.coef_).all() and np.isfinite(prior.intercept_)):
        raise ValueError("the prior's coefficients are not finite; it cannot be saved")
    tensors = {
        "coef": np.asarray(prior.coef_, dtype=_TENSOR_DTYPES["coef"]),
        "intercept": np.asarray([prior.intercept_], dtype=_TENSOR_DTYPES["intercept"]),
        "name_embeddings": np.stack([name_table[n] for n in names]).astype(_TENSOR_DTYPES["name_embeddings"]),
    }
    meta = {
        "language_model": prior.language_model_,
        "revision": prior.revision_,
        "name_vectors": prior.name_vectors,
        "vocabulary": prior.vocabulary,
        "name_cleaning_version": NAME_CLEANING_VERSION,
        "studies": list(prior.studies_),
        "alpha": float(prior.alpha_),
        "alpha_param": prior.alpha if isinstance(prior.alpha, str) else float(prior.alpha),
        # a NaN score: too few studies for the CV
        "cv_spearman": _float_scores(prior.cv_spearman_),
        "embedding_dim": int(prior.embedding_dim_),
        "names": names,
    }
    return meta, tensors


#: The fitted attributes a model file holds of a prior (``SemanticPrior.get_file_state``): the
#: fields a saved prior holds beside its parameters, and its tensors, each with a trailing ``_``.
FILE_STATE_ATTRIBUTES = tuple(
    f"{k}_" for k in sorted(_FIELDS - {"name_vectors", "vocabulary", "alpha_param"}) + sorted(_TENSOR_NAMES)
)


def prior_data_from_file_state(attributes, *, name_vectors, vocabulary, alpha):
    """The checked fields and tensors of a prior inside a model file (its parameters and fitted attributes).

    Parameters
    ----------
    attributes : dict
        Exactly :data:`FILE_STATE_ATTRIBUTES`, as a model file decoded them.
    name_vectors, vocabulary, alpha
        The prior's parameters of these names (the fields ``name_vectors``,
        ``vocabulary`` and ``alpha_param``).

    Returns
    -------
    meta, tensors
        As :func:`read_prior_folder` returns them, after :func:`check_prior_data`.

    Raises
    ------
    ValueError
        For any problem, naming the field or tensor.

    Examples
    --------
    >>> prior_data_from_file_state({}, name_vectors="random", vocabulary="cleaned", alpha=1.0)
    Traceback (most recent call last):
    ...
    ValueError: a SemanticPrior's fitted state in a model file: attributes differ from a prior's: missing [...
    """

    def fail(reason):
        return ValueError(f"a SemanticPrior's fitted state in a model file: {reason}")

    if type(attributes) is not dict or set(attributes) != set(FILE_STATE_ATTRIBUTES):
        keys = set(map(str, attributes)) if isinstance(attributes, dict) else set()
        raise fail(f"attributes differ from a prior's: {_difference(set(FILE_STATE_ATTRIBUTES), keys)}")
    meta = {k.removesuffix("_"): v for k, v in attributes.items() if k.removesuffix("_") in _FIELDS}
    tensors = {k.removesuffix("_"): v for k, v in attributes.items() if k.removesuffix("_") in _TENSOR_NAMES}
    alpha_param = alpha if isinstance(alpha, str) or not _is_number(alpha) else float(alpha)
    meta.update(name_vectors=name_vectors, vocabulary=vocabulary, alpha_param=alpha_param)
    check_prior_data(meta, tensors, fail=fail)
    return meta, tensors


def language_model_for_prior(recorded, given, directory, *, default):
    """The language model a loaded prior embeds unseen names with: the caller's, or a recorded hub id.

    Parameters
    ----------
    recorded : str or None
        The language model the saved prior records.
    given : str, path-like or None
        The caller's choice, taken as it is.
    directory : str or path-like
        The prior's folder, named in the warning.
    default : str
        The model for a prior that records none, or records a folder.

    Returns
    -------
    str

    Warns
    -----
    UserWarning
        The prior records a folder of the machine that saved it, never followed.

    Examples
    --------
    >>> language_model_for_prior("org/model", None, "p", default="x")
    'org/model'
    >>> language_model_for_prior(None, None, "p", default="x")
    'x'
    """
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


def read_prior_folder(directory):
    """The fields and tensors of a saved prior, every check of the module's docstring passed.

    Parameters
    ----------
    directory : pathlib.Path
        The prior folder (holding ``prior.llmrad``, or a legacy folder's
        ``prior.json`` and ``prior.safetensors``), or the ``prior.llmrad`` file.

    Returns
    -------
    meta : dict
        The checked fields; ``cv_spearman`` maps float alphas to float scores
        (NaN: too few studies for the CV) or is None.
    tensors : dict of str -> ndarray
        ``coef`` and ``name_embeddings`` (float32), ``intercept`` (float64).

    Raises
    ------
    PriorFileError
        For any problem; the message names the folder, the file and what is
        wrong (also a :class:`FileNotFoundError` for a missing folder or file).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     try:
    ...         read_prior_folder(Path(folder))
    ...     except PriorFileError as err:
    ...         print(err.file, isinstance(err, FileNotFoundError))
    prior.llmrad True
    """
    if directory.is_file():
        return _read_prior_archive(directory.parent, directory.name)
    if not (directory / PRIOR_FILE).exists() and any((directory / n).exists() for n in (_LEGACY_JSON, _TENSORS)):
        return _read_legacy_folder(directory)
    return _read_prior_archive(directory, PRIOR_FILE)


def write_prior_folder(directory, meta, tensors):
    """Write a saved prior: ``directory/prior.llmrad``, an archive of the model files' format.

    Parameters
    ----------
    directory : pathlib.Path
        Created if needed; a prior saved there before is replaced atomically
        (:mod:`sklearn_llmrad._files`), the files of a legacy folder removed.
    meta : dict
        The fields, exactly those :func:`read_prior_folder` returns.
    tensors : dict of str -> ndarray
        ``coef``, ``intercept`` and ``name_embeddings``.

    Returns
    -------
    pathlib.Path
        ``directory``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> meta = {"language_model": None, "revision": None, "name_vectors": "random", "vocabulary": "cleaned",
    ...         "name_cleaning_version": "1", "studies": ["a"], "alpha": 1.0, "alpha_param": 1.0,
    ...         "cv_spearman": None, "embedding_dim": 384, "names": ["volume"]}
    >>> tensors = {"coef": np.zeros(384, np.float32), "intercept": np.zeros(1),
    ...            "name_embeddings": np.eye(1, 384, dtype=np.float32)}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     meta_back, tensors_back = read_prior_folder(write_prior_folder(Path(folder), meta, tensors))
    >>> meta_back["names"], tensors_back["name_embeddings"].shape
    (['volume'], (1, 384))
    """
    from safetensors.numpy import save

    if set(meta) != _FIELDS or set(tensors) != _TENSOR_NAMES:
        raise ValueError(
            f"a prior has the fields {sorted(_FIELDS)} and tensors {sorted(_TENSOR_NAMES)}, "
            f"got {sorted(meta)} and {sorted(tensors)}"
        )
    encoder = DataEncoder()
    manifest = {"format": PRIOR_FORMAT, "format_version": PRIOR_FORMAT_VERSION}
    manifest.update({key: encoder.encode(meta[key], key) for key in sorted(_FIELDS)})
    for key in sorted(_TENSOR_NAMES):
        manifest[key] = encoder.encode(np.asarray(tensors[key], dtype=_TENSOR_DTYPES[key]), key)
    directory.mkdir(parents=True, exist_ok=True)
    write_archive(directory / PRIOR_FILE, manifest, {_TENSORS: save(encoder.tensors)})
    for legacy in (_LEGACY_JSON, _TENSORS):  # a legacy prior saved here before: now replaced
        (directory / legacy).unlink(missing_ok=True)
    return directory


# ---------------------------------------------------------------------------
# LEGACY: prior folders written before priors were archives (prior.json + prior.safetensors).
# Read only, with the same checks on the fields and tensors; never written.
# ---------------------------------------------------------------------------

_LEGACY_JSON = "prior.json"
_LEGACY_FORMAT = "sklearn_llmrad.semantic-prior.v1"
# safetensors dtype -> little-endian numpy dtype it is read as (BF16: decoded by hand)
_FLOAT_DTYPES = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8"}
_DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}


class _NaN(float):
    """A ``NaN`` constant read from a legacy prior.json (allowed only as a cv_spearman value)."""


def _json_constant(name):
    if name == "NaN":
        return _NaN("nan")
    raise ValueError(f"non-finite number {name} is not allowed")


def _read_legacy_json(directory):
    """The validated fields of a legacy prior.json (exact keys, types and bounds), ``cv_spearman`` as floats."""
    path, _, fail = _checked_file(directory, _LEGACY_JSON, _MAX_JSON_BYTES, "metadata")
    with open(path, "rb") as fh:
        raw = fh.read(_MAX_JSON_BYTES + 1)
    if len(raw) > _MAX_JSON_BYTES:
        raise fail(f"is more than the {_MAX_JSON_BYTES} bytes a prior's metadata may have")
    try:
        meta = loads_strict(raw.decode("utf-8"), constant=_json_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise fail(f"not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise fail(f"must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != _LEGACY_FORMAT:
        raise fail(f"not a semantic prior of format {_LEGACY_FORMAT!r} (format is {meta.get('format')!r})")
    meta.pop("format")
    meta.setdefault("vocabulary", "cleaned")  # absent in folders saved before it existed
    if set(meta) != _FIELDS:
        raise fail(f"keys differ from a saved prior's: {_difference(_FIELDS, set(meta))}")
    _check_fields(meta, fail)
    cv = meta["cv_spearman"]
    if cv is not None:  # NaN scores were written as null (or, by older code, NaN)
        meta["cv_spearman"] = {float(k): float("nan") if v is None else float(v) for k, v in cv.items()}
    return meta


def _read_legacy_tensors(directory, meta):
    """The validated tensors of a legacy prior.safetensors: exact names, float dtypes, shapes, finite values."""
    path, size, fail = _checked_file(directory, _TENSORS, _MAX_TENSOR_BYTES, "tensors")
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
            header = loads_strict(header_bytes.decode("utf-8"))
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
                    f"({n_names} names and embedding_dim {dim} in {_LEGACY_JSON})"
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
        out[name] = arr.reshape(shape).astype(_TENSOR_DTYPES[name])
    _check_tensor_values(out, meta, fail)
    return out


def _read_legacy_folder(directory):
    meta = _read_legacy_json(directory)
    return meta, _read_legacy_tensors(directory, meta)
