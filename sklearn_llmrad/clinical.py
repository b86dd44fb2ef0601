"""The rules for a lesion's clinical fields (age, breast density), in one place.

Every dataset loader and the language-model encoder accept and refuse the same
values, with the same messages, by calling :func:`parse_age` and
:func:`normalize_density`. Before, a CSV could hold an age of 0 or 130 that the
loader accepted and the encoder refused an hour later, and a density such as
``"fatty"`` was accepted by the encoder but not by the loaders.

- **Age**: years, strictly between :data:`AGE_RANGE` ``(0, 130)``; a number,
  a numeric string, ``"62 years"``, or a DICOM AgeString ``nnnY/M/W/D``.
- **Density**: BI-RADS 5th edition breast composition ``"A"``-``"D"`` (ACR,
  2013), given as the letter (any case, optionally prefixed ``density``,
  ``BI-RADS``, ``ACR``), 1-4, or the category's phrase (``"almost entirely
  fatty"``/``"fatty"``, ``"scattered fibroglandular"``, ``"heterogeneously
  dense"``, ``"extremely dense"``).
- Missing: None, NaN, empty and missing-looking strings (``"unknown"``,
  ``"n/a"``, ``"removed"`` ...).
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np
import pandas as pd

from .exceptions import LesionError

__all__ = ["AGE_RANGE", "DENSITY_CATEGORIES", "is_missing", "is_missing_value", "normalize_density", "parse_age"]

#: Open interval of accepted ages in years.
AGE_RANGE = (0.0, 130.0)
#: BI-RADS breast composition categories.
DENSITY_CATEGORIES = ("A", "B", "C", "D")

_MISSING_STRINGS = {"", "nan", "none", "null", "na", "n/a", "<na>", "nat", "missing", "unknown", "?", "removed"}
_DENSITY_WORDS = {
    "almost entirely fatty": "A",
    "fatty": "A",
    "scattered fibroglandular": "B",
    "scattered areas of fibroglandular density": "B",
    "heterogeneously dense": "C",
    "extremely dense": "D",
}
_DENSITY_PREFIX_RE = re.compile(r"^(?:bi-?rads|acr|breast)?\s*(?:density|composition)?\s*[:=]?\s*", re.IGNORECASE)
_ACCEPTED_DENSITY = (
    "'A'-'D' (any case, optionally prefixed 'density'/'BI-RADS', e.g. 'DENSITY C'), "
    "1-4, or a BI-RADS phrase such as 'heterogeneously dense' or 'fatty'; missing as None/NaN"
)
_AGE_RE = re.compile(r"0*(\d+(?:\.\d*)?)\s*(y|yr|yrs|years?|m|w|d)?", re.IGNORECASE)
_AGE_UNIT = {"m": 12.0, "w": 52.1775, "d": 365.25}


def is_missing_value(value):
    """True for None and NaN-like scalars (NaN, ``pd.NA``, NaT); strings are never missing here.

    Missing-looking strings (``"unknown"``, ``""``) are judged per field (:func:`is_missing`,
    :func:`~sklearn_llmrad.descriptions.clinical_statements`), so this check leaves them alone.

    Parameters
    ----------
    value : object
        A clinical value as found in a DataFrame cell.

    Returns
    -------
    bool
        Whether ``value`` is a missing scalar.

    Examples
    --------
    >>> [is_missing_value(v) for v in (None, float("nan"), "unknown", 62)]
    [True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, str):
        return False  # missing-looking strings are handled per field
    try:
        result = pd.isna(value)  # NaN, pd.NA, pd.NaT, numpy NaT
    except (TypeError, ValueError):
        return False
    return isinstance(result, bool | np.bool_) and bool(result)


def is_missing(value):
    """True for None, NaN/NaT/pd.NA and missing-looking strings (``""``, ``"unknown"``, ...).

    Parameters
    ----------
    value : object
        Any scalar: a number, a string, None, NaN, NaT or ``pd.NA``.

    Returns
    -------
    bool
        Whether ``value`` counts as missing.

    Examples
    --------
    >>> [is_missing(v) for v in (None, float("nan"), " N/A ", "removed", 0, "62")]
    [True, True, True, True, False, False]
    """
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_STRINGS
    return is_missing_value(value)


def parse_age(value, *, case=None):
    """Age in years as a float (NaN when missing), or raise.

    Parameters
    ----------
    value : number, str or None
        ``62``, ``62.7``, ``"62"``, ``"62 years"``, DICOM ``"062Y"``/``"006M"``.
    case : object, default=None
        Case id named in the error.

    Returns
    -------
    float

    Raises
    ------
    LesionError
        (a ``ValueError``) for anything else, including ages outside the
        open interval :data:`AGE_RANGE` (0 and 130 are refused).

    Examples
    --------
    >>> parse_age("053Y"), parse_age(61), parse_age("")
    (53.0, 61.0, nan)
    >>> parse_age(0, case="c1")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.LesionError: case 'c1': age 0 is outside 0-130 years (both excluded)
    """
    if is_missing(value):
        return float("nan")
    age = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        age = float(value)
    elif isinstance(value, str):
        match = _AGE_RE.fullmatch(value.strip())
        if match is not None:
            age = float(match.group(1)) / _AGE_UNIT.get((match.group(2) or "y").lower()[0], 1.0)
    if age is None or not math.isfinite(age):
        raise LesionError(
            f"age {value!r} is not a number of years (such as 62, '62 years' or DICOM '062Y'); missing as None/NaN",
            case=case,
        )
    if not AGE_RANGE[0] < age < AGE_RANGE[1]:
        raise LesionError(
            f"age {value!r} is outside {AGE_RANGE[0]:g}-{AGE_RANGE[1]:g} years (both excluded)", case=case
        )
    return age


def normalize_density(density, *, case=None):
    """Map a breast-density value onto a BI-RADS letter ``"A"``-``"D"`` (None when missing).

    MIAS background-tissue codes (F fatty, G fatty-glandular, D dense-glandular)
    are *not* accepted: "D" would be ambiguous with BI-RADS D. The MIAS loader
    maps them onto A-D.

    Parameters
    ----------
    density : str, int, float or None
    case : object, default=None
        Case id named in the error.

    Returns
    -------
    str or None

    Raises
    ------
    LesionError
        (a ``ValueError``) for any other value, naming the case and the accepted values.

    Examples
    --------
    >>> [normalize_density(v) for v in ("c", 2, "DENSITY D", 4.0, "fatty", "BI-RADS density B", None)]
    ['C', 'B', 'D', 'D', 'A', 'B', None]
    """
    if is_missing(density):
        return None
    letter = None
    if isinstance(density, bool | np.bool_):
        letter = None
    elif isinstance(density, numbers.Real):
        if float(density) in (1.0, 2.0, 3.0, 4.0):
            letter = DENSITY_CATEGORIES[int(density) - 1]
    else:
        text = " ".join(str(density).split()).lower()
        letter = _DENSITY_WORDS.get(text)
        if letter is None:
            code = _DENSITY_PREFIX_RE.sub("", text).strip()
            if code in ("a", "b", "c", "d"):
                letter = code.upper()
            elif re.fullmatch(r"[1-4](?:\.0*)?", code):
                letter = DENSITY_CATEGORIES[int(float(code)) - 1]
            else:
                letter = _DENSITY_WORDS.get(code)
    if letter is None:
        raise LesionError(
            f"breast density {density!r} is not recognised; accepted values: {_ACCEPTED_DENSITY}. "
            "MIAS tissue codes F/G/D must be mapped to BI-RADS A-D first (the loaders do this).",
            case=case,
        )
    return letter
