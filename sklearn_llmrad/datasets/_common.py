"""Helpers shared by the dataset loaders: Bunch assembly, path safety,
density and age parsing.

Every loader returns the same shape of result (see ``docs/architecture.md``):
a ``frame`` with the contract columns only, so that no dataset-specific
descriptor (a radiologist's margin description, an assessment) can reach a
model by accident. Such descriptors live in a separate ``metadata`` frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .._columns import CLINICAL, IMAGE, MASK
from ..clinical import normalize_density
from ..clinical import parse_age as _parse_age
from ..exceptions import DatasetFormatError

FRAME_COLUMNS = (IMAGE, MASK, *CLINICAL)
TARGET_NAMES = np.array(["benign", "malignant"])


def where(file, line=None, row=None):
    """Return ``"file 'x', line n"`` for error messages.

    Examples
    --------
    >>> where("Info.txt", line=3)
    "file 'Info.txt', line 3"
    """
    text = f"file {str(file)!r}"
    if line is not None:
        text += f", line {line}"
    if row is not None:
        text += f", row {row}"
    return text


def map_density(value):
    """Map a BI-RADS density onto ``"A"``-``"D"`` (None when missing) with the
    package's one rule, :func:`sklearn_llmrad.clinical.normalize_density`.

    Raises ``ValueError`` for anything else (callers add file and row).

    Examples
    --------
    >>> [map_density(v) for v in (1, "4", "c", "DENSITY B", "fatty", None, float("nan"), "")]
    ['A', 'D', 'C', 'B', 'A', None, None, None]
    """
    return normalize_density(value)


def parse_age(value):
    """Parse an age in years with the package's one rule,
    :func:`sklearn_llmrad.clinical.parse_age`: missing or anonymised
    (``"removed"``) gives NaN; ages outside (0, 130) raise ``ValueError``.

    Examples
    --------
    >>> parse_age("053Y"), parse_age(61), parse_age("")
    (53.0, 61.0, nan)
    """
    return _parse_age(value)


def safe_join(root, relative, *, allow_outside_root=False, context=""):
    """Join ``relative`` (from a CSV or metadata file) onto ``root`` and refuse
    results that leave ``root`` (``..`` components, absolute paths elsewhere).

    The check is lexical: ``..`` is collapsed but symbolic links inside the
    root are trusted, since datasets are often symlinked onto data drives by
    their owner.

    Parameters
    ----------
    root : path-like
        The dataset root.
    relative : str or path-like
        The path as written in the dataset's file.
    allow_outside_root : bool, default=False
        Accept paths outside ``root``.
    context : str, default=""
        Where the path was read (file and row), for the error message.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> str(safe_join("/data/mias", "a/b.pgm"))
    '/data/mias/a/b.pgm'
    >>> safe_join("/data/mias", "../../etc/passwd", context="row 1")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: row 1: path '../../etc/passwd' ...
    """
    root_abs = os.path.normpath(os.path.abspath(os.fspath(root)))
    text = os.fspath(relative)
    joined = os.path.normpath(os.path.join(root_abs, os.path.expanduser(text)))
    if not allow_outside_root:
        inside = joined == root_abs or joined.startswith(root_abs.rstrip(os.sep) + os.sep)
        if not inside:
            prefix = f"{context}: " if context else ""
            raise DatasetFormatError(
                f"{prefix}path {text!r} resolves to {joined!r}, outside the dataset root "
                f"{root_abs!r}; pass allow_outside_root=True (llmrad: --allow-outside-root) if this is intended"
            )
    return Path(joined)


def make_bunch(
    *,
    frame,
    target,
    groups,
    descr,
    return_X_y=False,
    excluded=None,
    metadata=None,
    **extra,
):
    """Check a loader's output against the data contract and package it.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"image": ["a.pgm"], "mask": ["m.png"]}, index=["c1"])
    >>> b = make_bunch(frame=frame, target=[1], groups=["p1"], descr="demo")
    >>> list(b.frame.columns), b.target.tolist(), b.groups.tolist()
    (['image', 'mask', 'age', 'density', 'history'], [1], ['p1'])
    """
    frame = frame.copy()
    for column in CLINICAL:
        if column not in frame.columns:
            frame[column] = np.nan if column == "age" else None
    frame = frame[list(FRAME_COLUMNS)]
    # object dtype, not pandas' string dtype: later stages put arrays in these cells
    frame[IMAGE] = frame[IMAGE].astype(object)
    frame[MASK] = frame[MASK].astype(object)
    frame["age"] = frame["age"].astype("float64")
    for column in ("density", "history"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    if not frame.index.is_unique:
        duplicated = frame.index[frame.index.duplicated()].unique().tolist()
        raise DatasetFormatError(f"case ids are not unique: {duplicated[:5]}")
    target = np.asarray(target, dtype=np.int64).reshape(-1)
    groups = np.asarray(groups, dtype=object).reshape(-1)
    if not (len(target) == len(groups) == len(frame)):
        raise AssertionError("frame, target and groups differ in length")
    if not set(np.unique(target)) <= {0, 1}:
        raise AssertionError("target must be 0/1")
    if metadata is not None:
        metadata = metadata.loc[frame.index]
    if return_X_y:
        return frame, target
    return Bunch(
        frame=frame,
        target=target,
        groups=groups,
        DESCR=descr,
        feature_names=list(FRAME_COLUMNS),
        target_names=TARGET_NAMES.copy(),
        excluded=list(excluded or []),
        metadata=metadata,
        **extra,
    )


def _by_case(records):
    table = pd.DataFrame(records).set_index("case")
    table.index.name = None
    return table


def bunch_from_records(
    rows,
    meta,
    *,
    target,
    groups,
    descr,
    nothing_found,
    excluded,
    return_X_y=False,
    **extra,
):
    """Package a loader's per-lesion records as a Bunch, or raise if there are none.

    The common tail of the public-dataset loaders: refuse an empty result with
    the loader's own explanation, index ``frame`` and ``metadata`` by case id,
    and check both with :func:`make_bunch`.

    Parameters
    ----------
    rows : list of dict
        One dict per lesion with a ``"case"`` key and the contract columns
        (``image``, ``mask``, clinical columns).
    meta : list of dict
        One dict per lesion with a ``"case"`` key and dataset descriptors.
    target, groups : array-like of shape (n_lesions,)
        Labels (0/1) and patient ids, in the order of ``rows``.
    descr : str
        The dataset description (``DESCR``).
    nothing_found : str
        The message of the :class:`~sklearn_llmrad.exceptions.DatasetFormatError`
        raised when ``rows`` is empty (say where was looked and why lesions
        were excluded).
    excluded : list of (case, reason)
        Entries left out, with the reason.
    return_X_y : bool, default=False
        Return ``(frame, target)`` instead of a Bunch.
    **extra : dict
        Further Bunch attributes.

    Returns
    -------
    Bunch or (DataFrame, ndarray)
        See :func:`make_bunch`.

    Raises
    ------
    DatasetFormatError
        When ``rows`` is empty, or the case ids are not unique.

    Examples
    --------
    >>> rows = [{"case": "c1", "image": "a.pgm", "mask": "m.png", "age": 50.0}]
    >>> meta = [{"case": "c1", "view": "CC"}]
    >>> b = bunch_from_records(rows, meta, target=[0], groups=["p1"], descr="demo",
    ...                        nothing_found="no lesion", excluded=[])
    >>> b.frame.index.tolist(), b.metadata.loc["c1", "view"]
    (['c1'], 'CC')
    >>> bunch_from_records([], [], target=[], groups=[], descr="demo",
    ...                    nothing_found="no lesion under '/data'", excluded=[])
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: no lesion under '/data'
    """
    if not rows:
        raise DatasetFormatError(nothing_found)
    return make_bunch(
        frame=_by_case(rows),
        target=target,
        groups=groups,
        descr=descr,
        return_X_y=return_X_y,
        excluded=excluded,
        metadata=_by_case(meta),
        **extra,
    )
