"""The benchmark's output folder: fold files written atomically, read back only when intact
and computed under the same fingerprint.

Each result file ``foldN.csv`` has a sidecar ``foldN.json`` holding the SHA-256 of
the CSV's bytes and the :func:`fingerprint` it was computed under. Both are
written to a temporary name and renamed into place
(:func:`sklearn_llmrad._files.atomic_write_bytes`), the CSV first, so a killed
run leaves either a complete pair or a fold that is recomputed (and a
temporary ``.llmrad-tmp-...`` file that
:func:`sklearn_llmrad._files.remove_stale_temporaries` deletes; no other file of
the folder is ever deleted). On reading, a
fold is reused only if its sidecar exists, the hash matches (a truncated or
edited CSV does not), its fingerprint equals the current one (otherwise the
differing parts are named) and the frame passes the caller's check.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write_bytes, digest, digest_bytes

__all__ = [
    "FoldUnusable",
    "data_fingerprint",
    "describe",
    "fingerprint",
    "language_model_digest",
    "lesion_sources_digest",
    "read_fold",
    "read_json",
    "settings_digest",
    "table_digest",
    "write_fold",
]

#: Human names of the fingerprint parts, for "... changed" messages.
PART_NAMES = {
    "model": "model settings",
    "image_stages": "image preprocessing/extraction settings",
    "images": "image or mask files",
    "language_model": "language model",
    "versions": "package versions",
    "prior": "study prior",
    "table": "study table",
    "folds": "folds",
}


class FoldUnusable(Exception):
    """A stored fold cannot be reused; ``str(exc)`` says why."""

    def __init__(self, reason, *, changed=()):
        super().__init__(reason)
        self.changed = tuple(changed)


def write_fold(path, frame, fingerprint_parts, *, notes=None):
    """Write ``frame`` as ``path`` (CSV) and its sidecar ``path.with_suffix('.json')``.

    ``notes`` (JSON data: the fold's time, its inner-CV choice) are kept in the sidecar
    and come back as ``read_fold(...).attrs["notes"]``.
    """
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        sidecar.unlink()  # never leave an old sidecar beside a new CSV
    data = frame.to_csv(index=False).encode()
    atomic_write_bytes(path, data)
    record = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": len(frame),
        "fingerprint": fingerprint_parts,
        "notes": notes or {},
    }
    atomic_write_bytes(sidecar, json.dumps(record, indent=1, sort_keys=True).encode())


def read_fold(path, fingerprint_parts, *, check=None, dtype=None):
    """Read a fold written by :func:`write_fold`, or raise :class:`FoldUnusable` saying why.

    Parameters
    ----------
    path : path-like
        The fold's CSV.
    fingerprint_parts : dict or None
        The current fingerprint; a stored fold computed under another is refused
        and ``FoldUnusable.changed`` lists the differing parts (None: not compared).
    check : callable, default=None
        ``check(frame)`` raising ``ValueError`` for a frame that does not fit.
    dtype : dict, default=None
        Passed to :func:`pandas.read_csv` (e.g. ``{"case": str}``).
    """
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.exists():
        raise FoldUnusable("not computed yet")
    if not sidecar.exists():
        raise FoldUnusable(f"{path.name} has no checksum file (written by an older version or interrupted)")
    try:
        record = json.loads(sidecar.read_text())
        digest, stored = record["sha256"], record["fingerprint"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FoldUnusable(f"{sidecar.name}, the checksum file of {path.name}, is damaged ({exc})") from exc
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise FoldUnusable(f"{path.name} is truncated or was modified (checksum mismatch)")
    current = stored if fingerprint_parts is None else fingerprint_parts
    changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    if changed:
        names = ", ".join(PART_NAMES.get(k, k) for k in changed)
        raise FoldUnusable(f"settings changed since the stored folds ({names})", changed=changed)
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=dtype)
        if check is not None:
            check(frame)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FoldUnusable(f"{path.name} does not hold this fold's predictions ({exc})") from exc
    frame.attrs["notes"] = record.get("notes") or {}
    return frame


def read_json(path):
    """The JSON data in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- fingerprints
def describe(value):
    """A stable, complete description of a parameter value (no truncated reprs), for :func:`digest`."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        return [type(value).__name__, {k: describe(v) for k, v in sorted(params.items())}]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def table_digest(X, y):
    """Digest of a feature table's column names, values and labels."""
    if all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes):  # radiomics tables: one pass over the values
        values = X.to_numpy(dtype=np.float64, na_value=np.nan).tobytes()
    else:  # column by column (slow on wide tables)
        values = pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes()
    names = json.dumps([str(c) for c in X.columns]).encode()
    return digest_bytes(names, values, np.asarray(y, dtype=np.int64).tobytes())


def data_fingerprint(cases, y, groups, splits):
    """Digests of the lesions (case ids), their labels, their patients and the folds.

    Examples
    --------
    >>> import numpy as np
    >>> a = data_fingerprint(["c1", "c2"], [0, 1], ["p1", "p2"], [{"train": np.array([0]), "test": np.array([1])}])
    >>> b = data_fingerprint(["c1", "c2"], [1, 0], ["p1", "p2"], [{"train": np.array([0]), "test": np.array([1])}])
    >>> [k for k in a if a[k] != b[k]]
    ['labels']
    """

    folds = [
        chunk
        for split in splits
        for part in sorted(split)
        for chunk in (part.encode(), np.asarray(split[part], dtype=np.int64).tobytes())
    ]
    return {
        "lesions": digest_bytes(json.dumps([str(i) for i in cases]).encode()),
        "labels": digest_bytes(np.asarray(y).astype(np.int64).tobytes()),
        "patients": digest_bytes(json.dumps([str(g) for g in groups]).encode()),
        "folds": digest_bytes(*folds),
    }


def _source_token(value):
    if isinstance(value, str | os.PathLike):
        try:
            stat = os.stat(value)
        except OSError:
            return ["missing", os.fspath(value)]
        return [os.fspath(value), stat.st_size, stat.st_mtime_ns]
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return [
            "array",
            str(array.dtype),
            list(array.shape),
            hashlib.sha256(array.tobytes()).hexdigest(),
        ]
    return ["object", repr(value)]


def lesion_sources_digest(X, columns=("image", "mask")):
    """Digest of the images and masks: path, size and modification time of files,
    content of in-memory arrays, ``repr`` of ROI objects.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"image": [np.zeros((2, 2))], "mask": [np.ones((2, 2))]})
    >>> a = lesion_sources_digest(X); X.at[0, "image"] = np.ones((2, 2))
    >>> a == lesion_sources_digest(X)
    False
    """
    h = hashlib.sha256()
    for column in columns:
        if column not in X.columns:
            continue
        for case, value in zip(X.index, X[column], strict=True):
            h.update(json.dumps([str(case), column, _source_token(value)], default=repr).encode())
    return h.hexdigest()[:16]


def language_model_digest(encoder):
    """The language model's identity: its name, plus size and time of its files for a local folder."""
    if encoder is None:
        return None
    path = Path(os.path.expanduser(str(encoder)))
    if not path.is_dir():
        return digest(["hub", str(encoder)])
    files = []
    for file in sorted(path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            files.append([str(file.relative_to(path)), stat.st_size, stat.st_mtime_ns])
    return digest(["dir", str(path.resolve()), files])


def settings_digest(build):
    """Digest of the parameters of the unfitted estimator ``build()`` returns (None when it fails)."""
    try:
        params = build().get_params(deep=True)
    except Exception:  # noqa: BLE001 -- the fit will fail and be reported; nothing to compare
        return None
    # where a cache lives and whether bars are drawn do not change results: a moved output folder resumes
    how = ("cache_dir", "progress", "callbacks__epoch_progress")
    return digest(sorted((key, repr(value)) for key, value in params.items() if not key.endswith(how)))


def fingerprint(**parts):
    """Digest each part; the dict stored beside every fold.

    Examples
    --------
    >>> fp = fingerprint(model={"k": 10}, versions={"numpy": "2.0"})
    >>> sorted(fp), fp == fingerprint(model={"k": 10}, versions={"numpy": "2.0"})
    (['model', 'versions'], True)
    """
    return {key: value if isinstance(value, str) or value is None else digest(value) for key, value in parts.items()}
