"""One validator for a lesion's image and region of interest, shared by every stage.

CLAHE preprocessing, radiomics extraction and the CNN input stage all need the
same guarantees about one lesion: a 2-D numeric image without NaN, a mask of
the image's shape, a non-empty region of one label, large enough for texture
features. The checks and their messages live here, once; each raises a
:class:`~sklearn_llmrad.exceptions.LesionError` subclass naming the case and file.
"""

from __future__ import annotations

import numpy as np

from .exceptions import ImageReadError, MaskError

__all__ = ["check_image", "check_lesion", "check_roi_size", "select_roi"]


def _values(values, limit=10):
    values = np.asarray(values).ravel()
    shown = ", ".join(str(v.item()) for v in values[:limit])
    more = f", ... ({values.size} distinct values)" if values.size > limit else ""
    return "{" + shown + more + "}"


def check_image(image, *, case=None, file=None, what="image"):
    """Return ``image`` as a 2-D numeric array without NaN/infinite pixels, or raise.

    A singleton third axis (``(H, W, 1)``) is squeezed away.

    Parameters
    ----------
    image : array-like
    case, file : object, default=None
        Named in the error.
    what : str, default="image"
        How the array is called in the message (e.g. ``"ROI crop"``).

    Returns
    -------
    ndarray

    Raises
    ------
    ImageReadError

    Examples
    --------
    >>> import numpy as np
    >>> check_image(np.zeros((4, 4, 1))).shape
    (4, 4)
    >>> check_image(np.array([[0.0, np.nan]]), case="c1")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.ImageReadError: case 'c1': image holds 1 NaN/infinite pixel(s); fix or drop this lesion
    """
    if isinstance(image, np.ndarray) and image.ndim == 3 and 1 in image.shape:
        image = np.squeeze(image)
    if not isinstance(image, np.ndarray):
        raise ImageReadError(
            f"{what} must be a 2-D array or a path, got {type(image).__name__}",
            case=case,
            file=file,
        )
    if image.ndim != 2:
        raise ImageReadError(f"{what} must be 2-D, got shape {image.shape}", case=case, file=file)
    if image.size == 0:
        raise ImageReadError(f"{what} is empty (shape {image.shape})", case=case, file=file)
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool) or np.issubdtype(
        image.dtype, np.complexfloating
    ):
        raise ImageReadError(f"{what} has non-numeric dtype {image.dtype}", case=case, file=file)
    if np.issubdtype(image.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(image)))
        if bad:
            raise ImageReadError(
                f"{what} holds {bad} NaN/infinite pixel(s); fix or drop this lesion",
                case=case,
                file=file,
            )
    return image


def select_roi(mask, *, label="auto", shape=None, case=None, file=None):
    """Return the lesion's boolean region from ``mask``, or raise.

    Parameters
    ----------
    mask : ndarray
    label : "auto" or int, default="auto"
        ``"auto"``: the mask's foreground (non-zero) pixels must all hold one
        value, whatever it is (1, 255); an int selects that value.
    shape : tuple, default=None
        The image's shape, which the mask must have.
    case, file : object, default=None
        Named in the error.

    Returns
    -------
    ndarray of bool
        The lesion's pixels, of the mask's (2-D) shape.

    Raises
    ------
    MaskError
        Wrong shape, NaN values, empty mask, several labels with
        ``label="auto"``, or the requested label absent.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 4), np.uint8); m[1:3, 1:3] = 255
    >>> int(select_roi(m).sum())
    4
    >>> select_roi(m, label=1, case="c2")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.MaskError: case 'c2': label 1 is not present in the mask;
    the mask holds values {0, 255}; use label=255 or label='auto'
    """
    if isinstance(mask, np.ndarray) and mask.ndim == 3 and 1 in mask.shape:
        mask = np.squeeze(mask)
    if not isinstance(mask, np.ndarray):
        raise MaskError(
            f"mask must be a 2-D array, a path or an ROI, got {type(mask).__name__}",
            case=case,
            file=file,
        )
    if shape is not None and mask.shape != tuple(shape):
        raise MaskError(
            f"mask shape {mask.shape} does not match image shape {tuple(shape)}",
            case=case,
            file=file,
        )
    if mask.ndim != 2:
        raise MaskError(f"mask must be 2-D, got shape {mask.shape}", case=case, file=file)
    if np.issubdtype(mask.dtype, np.floating) and not np.isfinite(mask).all():
        raise MaskError("mask holds NaN or infinite values", case=case, file=file)
    nonzero = mask != 0
    # unique over the (small) foreground only: sorting a whole 4000 x 3000
    # DICOM-sized mask would cost more than CLAHE itself
    foreground = np.unique(mask[nonzero])
    if foreground.size == 0:
        raise MaskError("mask is empty (no non-zero pixel)", case=case, file=file)
    values = foreground if nonzero.all() else np.concatenate([[0], foreground])
    if label == "auto":
        if foreground.size > 1:
            hint = " (is this an image rather than a mask?)" if foreground.size > 10 else ""
            raise MaskError(
                f"mask holds several foreground labels {_values(values, 8)}{hint}; pass label=<int> "
                "to choose the lesion's value",
                case=case,
                file=file,
            )
        return mask == foreground[0]
    if label not in foreground:
        if foreground.size == 1:
            suggestion = f"label={foreground[0].item()} or label='auto'"
        else:
            suggestion = "one of them"
        raise MaskError(
            f"label {label} is not present in the mask; the mask holds values {_values(values)}; use {suggestion}",
            case=case,
            file=file,
        )
    return mask == label


def check_roi_size(roi, *, min_pixels=2, case=None, file=None):
    """Raise unless the region has ``min_pixels`` pixels spanning 2 rows and 2 columns.

    Texture matrices (GLCM, GLRLM, ...) of a single pixel or a line are degenerate.

    Parameters
    ----------
    roi : ndarray of bool
        The lesion's region, as returned by :func:`select_roi`.
    min_pixels : int, default=2
        The fewest pixels the region may hold.
    case, file : object, default=None
        Named in the error.

    Returns
    -------
    (rows, cols) : ndarrays
        Indices of the rows and columns the region touches (for cropping).

    Examples
    --------
    >>> import numpy as np
    >>> roi = np.zeros((5, 5), bool); roi[2, 1:4] = True
    >>> check_roi_size(roi, case="c3")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.MaskError: case 'c3': ROI is too small for texture features:
    3 pixel(s) spanning 1x3 pixels; at least 2 pixels spanning 2 rows and 2 columns are needed
    """
    rows = np.flatnonzero(roi.any(axis=1))
    cols = np.flatnonzero(roi.any(axis=0))
    n = int(np.count_nonzero(roi))
    height = int(rows[-1] - rows[0] + 1) if rows.size else 0
    width = int(cols[-1] - cols[0] + 1) if cols.size else 0
    if n < min_pixels or height < 2 or width < 2:
        single = " (a single pixel)" if n == 1 else ""
        raise MaskError(
            f"ROI is too small for texture features: {n} pixel(s){single} spanning {height}x{width} pixels; "
            f"at least {min_pixels} pixels spanning 2 rows and 2 columns are needed",
            case=case,
            file=file,
        )
    return rows, cols


def check_lesion(image, mask, *, label="auto", min_pixels=2, case=None, file=None):
    """All checks of one lesion: :func:`check_image`, :func:`select_roi`, :func:`check_roi_size`.

    Parameters
    ----------
    image : array-like
        The lesion's 2-D image.
    mask : ndarray
        The lesion's mask, of the image's shape.
    label : "auto" or int, default="auto"
        The mask value of the lesion; see :func:`select_roi`.
    min_pixels : int, default=2
        The fewest pixels the region may hold; see :func:`check_roi_size`.
    case, file : object, default=None
        Named in the error.

    Returns
    -------
    image : ndarray
    roi : ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((8, 8), np.uint8); mask[2:5, 2:5] = 1
    >>> image, roi = check_lesion(np.ones((8, 8)), mask, label=1)
    >>> int(roi.sum())
    9
    """
    image = check_image(image, case=case, file=file)
    roi = select_roi(mask, label=label, shape=image.shape, case=case, file=file)
    check_roi_size(roi, min_pixels=min_pixels, case=case, file=file)
    return image, roi
