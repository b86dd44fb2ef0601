"""Pixel spacing and resampling to one grid: features in millimetres.

Films and detectors differ in pixel size (DDSM 42-50 um, INbreast 70 um,
mini-MIAS 200 um), so the same lesion covers different numbers of pixels and
gives different texture, LoG and shape values. IBSI (Zwanenburg et al.,
Radiology 2020, sec. "Interpolation") makes interpolation to a common grid a
standard step for this reason; :class:`~sklearn_llmrad.CLAHEPreprocessor` and
:class:`~sklearn_llmrad.RadiomicsExtractor` call :func:`resample_roi` with
their ``resample_to``.

Rules (what IBSI and PyRadiomics' ``resampledPixelSpacing`` do, and where we depart)
----------------------------------------------------------------------------------
* **Grid alignment.** The new grid covers the same physical extent as the old
  one: both start at the outer edge of the first pixel of the *whole image*
  (IBSI's "align grid origins"), and a crop starting at pixel ``start`` of the
  image is resampled on the points of that one image-wide grid that fall in
  it. So a crop resampled from 50 um to 200 um samples exactly the 4 x 4
  blocks a 200 um detector would have integrated, whichever crop it is.
  (PyRadiomics aligns the grid to the lesion's bounding box instead.)
* **Image.** Cubic B-spline interpolation (SimpleITK ``sitkBSpline``,
  PyRadiomics' default interpolator; IBSI allows linear or cubic).
* **Mask.** Linear interpolation of the 0/1 mask, then the pixels with a value
  of at least 0.5 are the lesion (IBSI's partial-volume rule; PyRadiomics uses
  nearest neighbour instead).
* **Anti-aliasing (departure).** PyRadiomics and IBSI interpolate without
  smoothing. Going from 50 um to 100 um pixels that way samples the finer
  image's noise instead of averaging it, and the same lesion scanned with
  larger detector pixels would look smoother. When the target is coarser than
  the input we therefore first apply a Gaussian whose variance is that of the
  extra detector aperture, ``sigma^2 = (target^2 - spacing^2) / 12`` per axis
  (the variance of a box of the target's width minus that of the input's
  box), so a resampled 50 um image matches a 100 um acquisition's area
  averaging to second order. Image and mask are both smoothed.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np

from ._columns import SPACING

__all__ = [
    "DEFAULT_SPACING_MM",
    "as_spacing",
    "spacing_column",
    "dicom_spacing",
    "grid_for",
    "resample_roi",
    "same_spacing",
    "warn_unknown_spacing",
]

#: Default target pixel size of :class:`~sklearn_llmrad.CLAHEPreprocessor` and
#: :class:`~sklearn_llmrad.RadiomicsExtractor`, in mm. 0.1 mm keeps the
#: detail of microcalcifications (0.1-1 mm) and of spiculated margins, lies
#: between the digitised films (DDSM/CBIS-DDSM 0.042-0.05 mm, INbreast 0.07
#: mm, VinDr-Mammo ~0.065-0.1 mm), which are down-sampled to it (fewer pixels:
#: faster extraction), and mini-MIAS (0.2 mm), up-sampled by 2 per axis. A
#: 0.2 mm grid would throw away half the resolution of every dataset but one.
DEFAULT_SPACING_MM = 0.1


def as_spacing(value, *, what="spacing"):
    """``(row_mm, col_mm)`` from a number, a pair or a missing value.

    Parameters
    ----------
    value : float, (float, float), str, None or NaN
        A pixel size in mm (the same for rows and columns), a ``(row, col)``
        pair, or text such as ``"0.05"``, ``"0.05 0.05"`` or ``"(0.05, 0.05)"``.
        ``None``, NaN and ``""`` mean unknown.
    what : str, default="spacing"
        How the value is called in the error.

    Returns
    -------
    tuple of float or None
        ``(row_mm, col_mm)``; ``None`` when unknown.

    Raises
    ------
    ValueError
        Not a number or a pair, or not positive and finite.

    Examples
    --------
    >>> as_spacing(0.05)
    (0.05, 0.05)
    >>> as_spacing("(0.07, 0.07)"), as_spacing(float("nan"))
    ((0.07, 0.07), None)
    >>> as_spacing((0, 1))
    Traceback (most recent call last):
    ...
    ValueError: spacing must be one or two positive finite numbers (mm), got (0, 1)
    """
    if value is None or (isinstance(value, Real) and not isinstance(value, bool) and math.isnan(value)):
        return None
    problem = ValueError(f"{what} must be one or two positive finite numbers (mm), got {value!r}")
    if isinstance(value, str):
        parts = value.strip().strip("()[]").replace(",", " ").replace("\\", " ").split()
        if not parts:
            return None
        value = parts
    if isinstance(value, Real) and not isinstance(value, bool):
        values = [value]
    elif isinstance(value, (tuple, list, np.ndarray)) and len(value) in (1, 2):
        values = list(value)
    else:
        raise problem
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise problem from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise problem
    return (values[0], values[-1])


def same_spacing(a, b, *, rtol=1e-6):
    """Whether two ``(row, col)`` spacings are equal within ``rtol``.

    Parameters
    ----------
    a, b : (float, float)
        Spacings in mm.
    rtol : float, default=1e-6
        Relative tolerance.

    Returns
    -------
    bool

    Examples
    --------
    >>> same_spacing((0.1, 0.1), (0.1, 0.1000000001)), same_spacing((0.1, 0.1), (0.2, 0.1))
    (True, False)
    """
    return all(math.isclose(x, y, rel_tol=rtol) for x, y in zip(a, b))


def _pair(ds, keyword):
    """A positive (row, col) pair from a header attribute, or None (absent or malformed)."""
    try:
        value = ds.get(keyword)
        if value is None or isinstance(value, (str, bytes)) or len(value) != 2:
            return None
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return pair if all(np.isfinite(v) and v > 0 for v in pair) else None


def spacing_column(X):
    """Each lesion's ``(row_mm, col_mm)`` from the ``spacing`` column of ``X`` (None where unknown).

    Parameters
    ----------
    X : DataFrame
        Lesions indexed by case id; without a ``spacing`` column every spacing is None.

    Returns
    -------
    list of (float, float) or None
        One entry per row of ``X``.

    Raises
    ------
    ValueError
        A value that is no spacing, naming its case.

    Examples
    --------
    >>> import pandas as pd
    >>> spacing_column(pd.DataFrame({"spacing": [0.2, None]}, index=["a", "b"]))
    [(0.2, 0.2), None]
    """
    if SPACING not in X.columns:
        return [None] * len(X)
    spacings = []
    for case, value in zip(X.index, X[SPACING]):
        try:
            spacings.append(as_spacing(value))
        except ValueError as exc:
            raise ValueError(f"case {case!r}: {exc}") from None
    return spacings


def dicom_spacing(ds):
    """The pixel size ``(row_mm, col_mm)`` in the patient a DICOM header states.

    *Pixel Spacing*, else *Imager Pixel Spacing* divided by the *Estimated
    Radiographic Magnification Factor* when present, else *Nominal Scanned
    Pixel Spacing* (PS3.3 sec. 10.7.1.1; see :mod:`sklearn_llmrad.imageio`).

    Parameters
    ----------
    ds : pydicom.Dataset

    Returns
    -------
    spacing : tuple of float or None
    source : str or None
        The attribute(s) it came from.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.ImagerPixelSpacing = [0.1, 0.1]
    >>> ds.EstimatedRadiographicMagnificationFactor = 1.25
    >>> dicom_spacing(ds)
    ((0.08, 0.08), 'ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor')
    >>> ds.PixelSpacing = [0.085, 0.085]
    >>> dicom_spacing(ds)
    ((0.085, 0.085), 'PixelSpacing')
    """
    spacing = _pair(ds, "PixelSpacing")
    if spacing is not None:
        return spacing, "PixelSpacing"
    spacing = _pair(ds, "ImagerPixelSpacing")
    if spacing is not None:
        try:
            factor = float(ds.get("EstimatedRadiographicMagnificationFactor") or 0)
        except (TypeError, ValueError):
            factor = 0.0
        if np.isfinite(factor) and factor > 0:
            return tuple(s / factor for s in spacing), "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
        return spacing, "ImagerPixelSpacing"
    spacing = _pair(ds, "NominalScannedPixelSpacing")
    return (spacing, "NominalScannedPixelSpacing") if spacing is not None else (None, None)


def grid_for(spacing, target, assumed, assumed_is_given=False):
    """How one lesion is put on the ``target`` grid: ``(resample_from, spacing, assumed)``.

    Parameters
    ----------
    spacing : (float, float) or None
        The lesion's spacing (None: unknown).
    target : (float, float) or None
        The grid to resample to (None: keep the pixels).
    assumed : (float, float)
        The spacing given to lesions whose spacing is unknown, and to every
        lesion without a target (the old, pixel-unit behaviour).
    assumed_is_given : bool, default=False
        Whether the user stated ``assumed`` (then an unknown spacing is not
        reported and is resampled from ``assumed``).

    Returns
    -------
    resample_from : (float, float) or None
        The spacing to resample from; None: no resampling.
    spacing : (float, float)
        The lesion's spacing after this step.
    assumed : bool
        Whether an unknown spacing was replaced by ``assumed`` unasked (to warn about).

    Examples
    --------
    >>> grid_for((0.05, 0.05), (0.1, 0.1), (1.0, 1.0))
    ((0.05, 0.05), (0.1, 0.1), False)
    >>> grid_for(None, (0.1, 0.1), (1.0, 1.0))
    (None, (1.0, 1.0), True)
    >>> grid_for((0.05, 0.05), None, (1.0, 1.0))
    (None, (1.0, 1.0), False)
    """
    if target is None:
        return None, assumed, False
    if spacing is None:
        if not assumed_is_given:
            return None, assumed, True
        spacing = assumed
    return (None if same_spacing(spacing, target) else spacing), target, False


def warn_unknown_spacing(cases, target, consequence, *, stacklevel=3):
    """Warn that ``cases`` have no known spacing and are not resampled to ``target``.

    Parameters
    ----------
    cases : list
        The case ids (the first ten are named).
    target : (float, float)
        The grid they were not put on.
    consequence : str
        What they get instead.
    stacklevel : int, default=3
        As for :func:`warnings.warn`.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unknown_spacing(["c1"], (0.1, 0.1), "kept in pixels")
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    pixel spacing unknown for 'c1' (no 'spacing' value, ...): not resampled to (0.1, 0.1) mm; kept in pixels
    """
    shown = ", ".join(repr(c) for c in cases[:10]) + (f", ... ({len(cases)} lesions)" if len(cases) > 10 else "")
    warnings.warn(
        f"pixel spacing unknown for {shown} (no 'spacing' value, none in the image file): "
        f"not resampled to {target} mm; {consequence}",
        UserWarning,
        stacklevel=stacklevel,
    )


def _to_sitk(array, spacing):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float64))
    image.SetSpacing((float(spacing[1]), float(spacing[0])))  # SimpleITK orders (x=column, y=row)
    return image


def _antialias(image, spacing, target):
    import SimpleITK as sitk

    sigma = [math.sqrt(max(t * t - s * s, 0.0) / 12.0) for s, t in zip(spacing, target)]
    if max(sigma) <= 0:
        return image
    # in physical units (mm), (x=column, y=row)
    return sitk.SmoothingRecursiveGaussian(image, [max(sigma[1], 1e-12), max(sigma[0], 1e-12)])


def resample_roi(image, mask, spacing, target, *, interpolator="bspline", start=(0, 0)):
    """Resample an image and its lesion mask from ``spacing`` to ``target``.

    Parameters
    ----------
    image : ndarray of shape (rows, cols)
        The image (any numeric dtype).
    mask : ndarray of shape (rows, cols) or None
        0/1 lesion mask, or None.
    spacing, target : float or (float, float)
        Input and output pixel size in mm, ``(row, col)``.
    interpolator : {"bspline", "linear"}, default="bspline"
        Image interpolation (the mask is always linear then thresholded at 0.5).
    start : (int, int), default=(0, 0)
        Row and column, in the whole image, of the first pixel of ``image``
        when it is a crop: the new grid is aligned to the whole image's.

    Returns
    -------
    image : ndarray of float64
        On the new grid (see the module notes for the alignment).
    mask : ndarray of uint8 or None

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(64, dtype=float).reshape(8, 8)
    >>> mask = np.zeros((8, 8), np.uint8); mask[2:6, 2:6] = 1
    >>> small, small_mask = resample_roi(image, mask, 0.05, 0.1)
    >>> small.shape, int(small_mask.sum())
    ((4, 4), 4)
    >>> resample_roi(image, None, (0.1, 0.1), 0.05)[0].shape
    (16, 16)
    """
    import SimpleITK as sitk

    spacing, target = as_spacing(spacing), as_spacing(target, what="target spacing")
    if spacing is None or target is None:
        raise ValueError("resample_roi needs a known spacing and target")
    image = np.asarray(image)
    first = [int(round(i * s / t)) for i, s, t in zip(start, spacing, target)]
    size = [
        max(1, int(round((i + n) * s / t)) - j) for i, n, s, t, j in zip(start, image.shape, spacing, target, first)
    ]
    # centre of the image-wide grid's point j, in the crop's frame (its first pixel's centre at 0):
    # half a target pixel inside the whole image's outer edge, then j target pixels on
    origin = [-s / 2.0 + t / 2.0 + j * t - i * s for i, s, t, j in zip(start, spacing, target, first)]
    resampler = sitk.ResampleImageFilter()
    resampler.SetOutputSpacing((target[1], target[0]))
    resampler.SetSize((size[1], size[0]))
    resampler.SetOutputOrigin((origin[1], origin[0]))
    resampler.SetOutputPixelType(sitk.sitkFloat64)
    resampler.SetDefaultPixelValue(0.0)

    def run(array, method):
        resampler.SetInterpolator(method)
        return sitk.GetArrayFromImage(resampler.Execute(_antialias(_to_sitk(array, spacing), spacing, target)))

    methods = {"bspline": sitk.sitkBSpline, "linear": sitk.sitkLinear}
    if interpolator not in methods:
        raise ValueError(f"interpolator must be one of {sorted(methods)}, got {interpolator!r}")
    out = run(image, methods[interpolator])
    if mask is None:
        return out, None
    out_mask = run(np.asarray(mask) > 0, sitk.sitkLinear) >= 0.5
    return out, out_mask.astype(np.uint8)
