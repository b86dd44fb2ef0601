"""Provenance of extracted features, in the columns PyRadiomics writes its diagnostics to.

A feature table is only as reproducible as what it records about how it was
made. PyRadiomics writes ``diagnostics_*`` columns beside its features
(library versions, settings, image hash, mask bounding box, spacing);
:func:`lesion_provenance` writes the same kind of columns for every lesion of
a frame in the data contract (``image``, ``mask``, ``spacing``):

``diagnostics_Versions_<library>``
    sklearn_llmrad, PyRadiomics, Numpy, SimpleITK, PyWavelet and Python.
``diagnostics_Configuration_SettingsHash``
    SHA-256 of the extraction settings (:func:`settings_hash`).
``diagnostics_Image-original_SHA256``
    SHA-256 of the image file's bytes (:func:`file_sha256`), or of the raw
    pixel bytes of an image held in memory.
``diagnostics_Image-original_Size``
    ``(x, y)``: columns and rows of the image, PyRadiomics' order.
``diagnostics_Image-original_Spacing``
    ``(x, y)`` pixel size in mm of the image (its ``spacing`` column, else the
    file's header; empty when unknown).
``diagnostics_Image-interpolated_Spacing``
    ``(x, y)`` pixel size in mm the features were computed at, as
    :class:`~sklearn_llmrad.RadiomicsExtractor` decides it: ``resample_to``
    for a lesion of known spacing, else ``pixel_spacing``, else ``(1.0, 1.0)``
    (pixel units).
``diagnostics_Mask-original_BoundingBox``
    ``(x, y, size_x, size_y)``: the lesion's box in the original image's
    pixels (column, row, width, height), as PyRadiomics writes it.
``diagnostics_Error``
    Empty, or why this lesion could not be read (with ``on_error="nan"``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform

import numpy as np
import pandas as pd

from ._columns import IMAGE, MASK, SPACING
from .exceptions import LesionError
from .imageio import read_image_info, read_mask
from .lesions import select_roi
from .resampling import as_spacing

__all__ = ["library_versions", "settings_hash", "file_sha256", "lesion_provenance"]

PREFIX = "diagnostics_"


def library_versions():
    """The versions of the libraries that shape the features, as ``diagnostics_Versions_*`` columns.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> versions = library_versions()
    >>> sorted(versions)[:2]
    ['diagnostics_Versions_Numpy', 'diagnostics_Versions_PyRadiomics']
    """
    import pywt
    import radiomics
    import SimpleITK as sitk

    from . import __version__

    versions = {
        "sklearn_llmrad": __version__,
        "PyRadiomics": radiomics.__version__,
        "Numpy": np.__version__,
        "SimpleITK": sitk.Version_VersionString(),
        "PyWavelet": pywt.__version__,
        "Python": platform.python_version(),
    }
    return {f"{PREFIX}Versions_{name}": str(value) for name, value in versions.items()}


def settings_hash(settings):
    """SHA-256 (hex) of ``settings`` written as canonical JSON (sorted keys).

    Parameters
    ----------
    settings : dict
        The extraction settings; values JSON cannot write are written as ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> settings_hash({"a": 1, "b": [2, 3]}) == settings_hash({"b": [2, 3], "a": 1})
    True
    >>> len(settings_hash({}))
    64
    """
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path):
    """SHA-256 (hex) of a file's bytes, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str

    Examples
    --------
    >>> import hashlib, pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.pgm"
    >>> _ = f.write_bytes(b"P5 1 1 255 x")
    >>> file_sha256(f) == hashlib.sha256(b"P5 1 1 255 x").hexdigest()
    True
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _xy(spacing):
    """``(row, col)`` -> PyRadiomics' ``(x, y)`` text, or ``""`` when unknown."""
    return "" if spacing is None else str((float(spacing[1]), float(spacing[0])))


def _one(case, image, mask, spacing, label, grid):
    """The per-lesion columns of one case; raises a LesionError naming it."""
    source = os.fspath(image) if isinstance(image, str | os.PathLike) else None
    pixels, info = read_image_info(image, case=case)
    spacing = as_spacing(spacing) or info.spacing
    checksum = file_sha256(source) if source else hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
    roi = select_roi(read_mask(mask, pixels.shape, case=case, image_file=source), label=label, case=case, file=source)
    rows, cols = np.nonzero(roi)
    if rows.size == 0:
        raise LesionError("the mask holds no lesion pixel", case=case, file=source)
    box = (int(cols.min()), int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1)
    return {
        f"{PREFIX}Image-original_SHA256": checksum,
        f"{PREFIX}Image-original_Size": str((pixels.shape[1], pixels.shape[0])),
        f"{PREFIX}Image-original_Spacing": _xy(spacing),
        f"{PREFIX}Image-interpolated_Spacing": _xy(grid[0] if spacing is not None else grid[1]),
        f"{PREFIX}Mask-original_BoundingBox": str(box),
    }


def lesion_provenance(X, *, settings, resample_to=None, pixel_spacing=None, label="auto", on_error="raise"):
    """The ``diagnostics_*`` columns of every lesion of ``X`` (see the module notes).

    Parameters
    ----------
    X : pandas.DataFrame
        Lesions in the data contract: ``image`` (path or 2-D array), ``mask``
        (path, array or ROI) and optionally ``spacing``; indexed by case id.
    settings : dict
        The extraction settings, hashed by :func:`settings_hash`.
    resample_to, pixel_spacing : float, (float, float) or None, default=None
        The extractor's: the pixel size in mm lesions of known spacing are
        resampled to, and the one assumed for the others (None: pixel units).
    label : "auto" or int, default="auto"
        The mask value of the lesion (see :func:`~sklearn_llmrad.lesions.select_roi`).
    on_error : {"raise", "nan"}, default="raise"
        On a lesion that cannot be read: raise its
        :class:`~sklearn_llmrad.exceptions.LesionError` (naming the case), or
        leave its image columns empty and write the error in ``diagnostics_Error``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``X``, one column per diagnostic, all strings.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> mask = np.zeros((16, 16), np.uint8); mask[4:8, 2:12] = 1
    >>> X = pd.DataFrame({"image": [np.ones((16, 16))], "mask": [mask], "spacing": [(0.1, 0.2)]}, index=["c1"])
    >>> p = lesion_provenance(X, settings={"bin_count": 32}, resample_to=0.1)
    >>> p.loc["c1", "diagnostics_Mask-original_BoundingBox"], p.loc["c1", "diagnostics_Image-original_Spacing"]
    ('(2, 4, 10, 4)', '(0.2, 0.1)')
    >>> p.loc["c1", "diagnostics_Image-interpolated_Spacing"]
    '(0.1, 0.1)'
    """
    if on_error not in ("raise", "nan"):
        raise ValueError(f"on_error must be 'raise' or 'nan', got {on_error!r}")
    shared = {**library_versions(), f"{PREFIX}Configuration_SettingsHash": settings_hash(settings)}
    assumed = as_spacing(pixel_spacing) or (1.0, 1.0)
    grid = (as_spacing(resample_to) or assumed, assumed)  # (known spacing, unknown spacing)
    spacings = X[SPACING] if SPACING in X.columns else [None] * len(X)
    rows = []
    for case, image, mask, spacing in zip(X.index, X[IMAGE], X[MASK], spacings, strict=True):
        try:
            row = {**_one(case, image, mask, spacing, label, grid), f"{PREFIX}Error": ""}
        except LesionError as exc:
            if on_error == "raise":
                raise
            row = {f"{PREFIX}Error": str(exc)}
        rows.append({**shared, **row})
    columns = [
        *shared,
        f"{PREFIX}Image-original_SHA256",
        f"{PREFIX}Image-original_Size",
        f"{PREFIX}Image-original_Spacing",
        f"{PREFIX}Image-interpolated_Spacing",
        f"{PREFIX}Mask-original_BoundingBox",
        f"{PREFIX}Error",
    ]
    return pd.DataFrame(rows, index=X.index, columns=columns).fillna("")
