"""The folder of a saved :class:`~sklearn_llmrad.prior.SemanticPrior`: written, and read back as untrusted data.

A prior is saved as a directory: ``prior.safetensors`` (ridge weights, cached
name embeddings) and ``prior.json`` (language model and revision, studies used,
name-cleaning version, hyper-parameters). Reading treats the folder as untrusted
data: it reads only these two files, checks the JSON's exact keys, types and
sizes and the tensors' exact names, floating dtypes, shapes and finiteness, and
raises :class:`PriorFileError` (naming the folder, the file and the problem)
otherwise; nothing is unpickled, imported or executed.
"""

from __future__ import annotations

import json
import os
import re
import stat

import numpy as np

from ._files import atomic_write_bytes, atomic_write_text
from .vocabulary import NAME_CLEANING_VERSION

__all__ = [
    "NAME_VECTORS",
    "PRIOR_FORMAT",
    "RANDOM_VECTOR_DIM",
    "VOCABULARIES",
    "PriorFileError",
    "read_prior_folder",
    "write_prior_folder",
]

#: Format tag of ``prior.json``.
PRIOR_FORMAT = "sklearn_llmrad.semantic-prior.v1"
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

# name vectors that need no language model (the folder records none)
_NO_MODEL = ("random", "lookup")
_JSON = "prior.json"
_TENSORS = "prior.safetensors"
_TENSOR_NAMES = {"coef", "intercept", "name_embeddings"}


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
_META_KEYS = set(
    "format language_model revision name_vectors name_cleaning_version studies alpha alpha_param cv_spearman "
    "embedding_dim names".split()
)
_OPTIONAL_KEYS = {"vocabulary"}  # absent in folders saved before it existed: "cleaned"
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


def _checked_file(directory, name, max_bytes, holds):
    """(path, size, fail) of a file of a prior folder: present, regular, at most ``max_bytes``."""

    def fail(reason):
        return PriorFileError(reason, directory=directory, file=name)

    path = directory / name
    if not directory.is_dir():
        raise _MissingPriorFileError(
            f"not a saved semantic prior: the folder does not exist (needs {_JSON} and {_TENSORS})", directory=directory
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
        raise fail(f"cannot be read ({exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise fail("is not a regular file")
    if st.st_size > max_bytes:
        raise fail(f"is {st.st_size} bytes, more than the {max_bytes} a prior's {holds} may have")
    return path, st.st_size, fail


def _read_prior_json(directory):
    """The validated metadata of a prior folder (exact keys, types and bounds)."""
    path, _, fail = _checked_file(directory, _JSON, _MAX_JSON_BYTES, "metadata")
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
    if meta.get("format") != PRIOR_FORMAT:
        raise fail(f"not a semantic prior of format {PRIOR_FORMAT!r} (format is {meta.get('format')!r})")
    if meta.get("name_cleaning_version") != NAME_CLEANING_VERSION:
        raise fail(
            f"names were cleaned with version {meta.get('name_cleaning_version')!r}, this package cleans "
            f"with version {NAME_CLEANING_VERSION!r}; pretrain the prior again."
        )
    if not _META_KEYS <= set(meta) <= _META_KEYS | _OPTIONAL_KEYS:
        missing, extra = sorted(_META_KEYS - set(meta)), sorted(set(meta) - _META_KEYS - _OPTIONAL_KEYS)
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

    if meta["name_vectors"] not in NAME_VECTORS:
        raise bad("name_vectors", " or ".join(map(repr, NAME_VECTORS)))
    if meta.setdefault("vocabulary", "cleaned") not in VOCABULARIES:
        raise bad("vocabulary", " or ".join(map(repr, VOCABULARIES)))
    if meta["name_vectors"] in _NO_MODEL:
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
    # a lookup's 1-d "vector" is an informativeness (in [0, 1]) less the mean: within [-1, 1]
    lookup = meta["name_vectors"] == "lookup"
    off = norms > 1 + 1e-6 if lookup else np.abs(norms - 1) > 2e-2
    if off.any():
        i = int(np.argmax(off))
        raise fail(
            f"tensor 'name_embeddings' row {i} ({meta['names'][i]!r}) has norm {norms[i]:.4g}; "
            + ("a lookup's values lie in [-1, 1]" if lookup else "name vectors are unit-norm")
        )
    return out


def read_prior_folder(directory):
    """The metadata and tensors of a saved prior folder, every check of the module's docstring passed.

    Tensors may be F16, BF16, F32 or F64; name vectors must be unit-norm.

    Parameters
    ----------
    directory : pathlib.Path
        The prior folder.

    Returns
    -------
    meta : dict
        The checked ``prior.json``.
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
    prior.json True
    """
    meta = _read_prior_json(directory)
    return meta, _read_prior_tensors(directory, meta)


def write_prior_folder(directory, meta, tensors):
    """Write a prior folder: ``prior.safetensors`` (the tensors), then ``prior.json`` (the metadata).

    Parameters
    ----------
    directory : pathlib.Path
        Created if needed; the two files of a prior saved there before are
        replaced, each atomically (:mod:`sklearn_llmrad._files`).
    meta : dict
        The metadata, with exactly the keys :func:`read_prior_folder` checks
        (``format`` is set here).
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
    >>> meta = {"language_model": None, "revision": None, "name_vectors": "random",
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

    meta = {"format": PRIOR_FORMAT, **meta}
    if not _META_KEYS <= set(meta) <= _META_KEYS | _OPTIONAL_KEYS:
        raise ValueError(f"a prior's metadata has the keys {sorted(_META_KEYS | _OPTIONAL_KEYS)}, got {sorted(meta)}")
    # each file appears complete or not at all (a killed save leaves the old file or none)
    atomic_write_bytes(directory / _TENSORS, save(tensors))
    atomic_write_text(directory / _JSON, json.dumps(meta, indent=1, allow_nan=False))
    return directory
