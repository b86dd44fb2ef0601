"""Loader for the original DDSM (Digital Database for Screening Mammography,
Heath et al., 2001), from its distribution folder ``cases/``.

The files, as described on the DDSM web site and read by its own software
(``overlay.c``, M. Heath, University of South Florida):

- one ``<name>.ics`` per case: ``PATIENT_AGE``, ``DENSITY`` (ACR 1-4),
  ``DIGITIZER`` and, per view, a line such as
  ``LEFT_CC LINES 4696 PIXELS_PER_LINE 3024 BITS_PER_PIXEL 12 RESOLUTION 50 OVERLAY``;
- per view ``<name>.<VIEW>.LJPEG`` (lossless JPEG) and, for views with an
  abnormality, ``<name>.<VIEW>.OVERLAY``: ``TOTAL_ABNORMALITIES n``, then per
  abnormality ``ABNORMALITY k``, one or two ``LESION_TYPE`` lines, ``ASSESSMENT``,
  ``SUBTLETY``, ``PATHOLOGY``, ``TOTAL_OUTLINES`` and the outlines: a
  ``BOUNDARY`` and zero or more ``CORE`` chain codes, each ``col row d d d ... #``
  with directions 0 = up (row - 1), 1 = up-right, 2 = right (col + 1),
  3 = down-right, 4 = down, 5 = down-left, 6 = left, 7 = up-left.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

from ..exceptions import DatasetFormatError
from ..imageio import ljpeg_frame_header
from ..roi import PolygonROI
from ._common import bunch_from_records, map_density, parse_age, where

__all__ = ["chain_code_outline", "load_ddsm", "optical_density", "read_ics", "read_overlay"]

CATEGORIES = ("normals", "benigns", "benign_without_callbacks", "cancers")
VIEWS = ("LEFT_CC", "LEFT_MLO", "RIGHT_CC", "RIGHT_MLO")
ABNORMALITY_TYPES = ("mass", "calcification", "other")
_PATHOLOGY = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
#: chain code direction -> (row step, column step); overlay.c, read_chaincode()
_STEPS = {
    "0": (-1, 0),
    "1": (-1, 1),
    "2": (0, 1),
    "3": (1, 1),
    "4": (1, 0),
    "5": (1, -1),
    "6": (0, -1),
    "7": (-1, -1),
}
#: conversions of ``<name>.<VIEW>.LJPEG`` accepted next to it, in this order
_CONVERSION_SUFFIXES = (".png", ".tif", ".tiff", ".LJPEG.png", ".LJPEG.tif", ".LJPEG.tiff")
#: first letter of a DDSM file name -> institution, as the DDSM calibration pages
#: assign them: A Massachusetts General Hospital (DBA or Howtek scanner), B and C
#: Wake Forest University School of Medicine (Lumisys), D Washington University
#: / ISMD (Howtek)
_INSTITUTIONS = {"A": "MGH", "B": "WFUSM", "C": "WFUSM", "D": "ISMD"}

_DESCR = """\
DDSM (Digital Database for Screening Mammography)
-------------------------------------------------

2,620 screening cases digitised from film at four institutions (Heath et al.,
Proc. 5th Int. Workshop on Digital Mammography, 2001, pp. 212-218), in four
categories: normals, benigns, benign_without_callbacks, cancers. Per case one
``.ics`` file (age, ACR density, digitiser, size of each view), four
lossless-JPEG views and, per view with abnormalities, an ``.OVERLAY`` file with
each abnormality's lesion type, BI-RADS assessment, subtlety, pathology and
outlines as chain codes.

Conversion to the data contract
- One row per abnormality per view (an abnormality seen on CC and MLO gives two
  rows). Row id ``<name>.<VIEW>_<k>``, e.g. ``A_1234_1.LEFT_CC_1``.
- ``image``: a 16-bit PNG/TIFF conversion next to the LJPEG when present
  (``<name>.<VIEW>.png``/``.tif``), else the ``.LJPEG`` itself, which the image
  reader decodes with ``imagecodecs`` (optional extra ``ddsm``). Rows and
  columns come from the ``.ics``; an image of another size is an error.
- ``mask``: a :class:`~sklearn_llmrad.roi.PolygonROI` traced from the BOUNDARY
  chain code (boundary pixels and interior), rasterised on demand. CORE
  outlines are kept in ``metadata["cores"]``.
- Target: PATHOLOGY MALIGNANT -> 1, BENIGN and BENIGN_WITHOUT_CALLBACK -> 0
  (``metadata["pathology"]`` keeps which). Other pathologies are excluded.
- ``age``: PATIENT_AGE; ``density``: DENSITY 1-4 -> "A"-"D" (unknown -> NaN /
  None with a warning naming the case). No ``history``.
- Groups: the case (one woman): both breasts, both views and all abnormalities
  of a case share a group.
- ``metadata``: category, volume, view, lesion types and descriptors, BI-RADS
  assessment, subtlety, pathology, digitiser, institution, optical-density
  calibration, image size and bits. Assessment and descriptors encode the
  radiologist's suspicion: never use them as features.
- Normal cases (no overlay) and abnormalities whose PATHOLOGY is none of the
  three above are listed in ``excluded`` (not an error).

Optical density: the grey levels of each digitiser map to optical density by
the calibrations published on the DDSM web site; see
:func:`sklearn_llmrad.datasets.ddsm.optical_density`. Images are loaded as grey
levels (not calibrated).
"""


# --------------------------------------------------------------------------- #
# chain codes
# --------------------------------------------------------------------------- #
def chain_code_outline(col, row, directions):
    """Walk a DDSM chain code from its start point.

    Parameters
    ----------
    col, row : int
        The start pixel as written in the overlay (column first).
    directions : str or sequence of str/int
        Directions 0-7: 0 up, 1 up-right, 2 right, 3 down-right, 4 down,
        5 down-left, 6 left, 7 up-left (``overlay.c``'s convention).

    Returns
    -------
    rows, cols : ndarray of int
        Every pixel of the outline, start included (length ``len(directions) + 1``).

    Raises
    ------
    ValueError
        A direction outside 0-7.

    Examples
    --------
    >>> rows, cols = chain_code_outline(10, 5, "2 2 4 4 6 6 0 0".split())
    >>> list(zip(rows.tolist(), cols.tolist()))[:4]
    [(5, 10), (5, 11), (5, 12), (6, 12)]
    >>> (rows[-1].item(), cols[-1].item())
    (5, 10)
    """
    steps = np.zeros((len(directions) + 1, 2), dtype=np.int64)
    steps[0] = (int(row), int(col))
    for i, d in enumerate(directions, start=1):
        try:
            steps[i] = _STEPS[str(d)]
        except KeyError:
            raise ValueError(f"chain code direction {d!r} (position {i}) is not 0-7") from None
    path = np.cumsum(steps, axis=0)
    return path[:, 0], path[:, 1]


def _corners(rows, cols):
    """Drop the points in the middle of straight runs (same polygon, fewer vertices)."""
    if len(rows) < 3:
        return rows, cols
    d_r, d_c = np.diff(rows), np.diff(cols)
    turn = (d_r[1:] != d_r[:-1]) | (d_c[1:] != d_c[:-1])
    keep = np.concatenate(([True], turn, [True]))
    return rows[keep], cols[keep]


# --------------------------------------------------------------------------- #
# .ics
# --------------------------------------------------------------------------- #
def read_ics(path):
    """Read a DDSM ``.ics`` case file.

    Unknown or missing values are returned as ``None`` / NaN and listed in
    ``problems`` (the loader turns them into warnings naming the case); only a
    file that cannot be read at all raises.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict
        ``filename``, ``age`` (float, NaN if unknown), ``density`` ("A"-"D" or
        None), ``density_raw``, ``digitizer`` (str or None), ``views``
        (``{view: {"rows", "cols", "bits", "resolution", "overlay"}}``, NaN
        where a value is missing), ``problems`` (list of str).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> ics = pathlib.Path(tempfile.mkdtemp()) / "A-0001-1.ics"
    >>> _ = ics.write_text("ics_version 1.0\\nfilename A-0001-1\\nPATIENT_AGE 57\\nDENSITY 3\\n"
    ...     "DIGITIZER DBA 21\\nLEFT_CC LINES 40 PIXELS_PER_LINE 30 BITS_PER_PIXEL 16 "
    ...     "RESOLUTION 42 OVERLAY\\n")
    >>> info = read_ics(ics)
    >>> info["age"], info["density"], info["digitizer"], info["views"]["LEFT_CC"]["rows"]
    (57.0, 'C', 'DBA 21', 40)
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise DatasetFormatError(f"{where(path)}: cannot read the .ics file ({exc.strerror})") from None
    info = {
        "filename": None,
        "age": math.nan,
        "density": None,
        "density_raw": None,
        "digitizer": None,
        "views": {},
        "problems": [],
    }
    problems = info["problems"]
    seen = set()
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        key = fields[0].upper()
        rest = " ".join(fields[1:])
        seen.add(key)
        if key == "FILENAME":
            info["filename"] = rest or None
        elif key == "PATIENT_AGE":
            try:
                info["age"] = parse_age(rest)
            except ValueError:
                problems.append(f"{where(path, line=number)}: PATIENT_AGE {rest!r} is not an age; age set to NaN")
            else:
                if math.isnan(info["age"]):
                    problems.append(f"{where(path, line=number)}: no PATIENT_AGE recorded ({rest!r}); age set to NaN")
        elif key == "DENSITY":
            info["density_raw"] = rest
            try:
                # 0 = not recorded (as in CBIS-DDSM's tables, derived from these files)
                info["density"] = None if rest.strip() == "0" else map_density(rest)
            except ValueError:
                problems.append(f"{where(path, line=number)}: DENSITY {rest!r} is not 1-4; density set to None")
            if info["density"] is None and rest.strip() in ("", "0"):
                problems.append(f"{where(path, line=number)}: no DENSITY recorded ({rest!r}); density set to None")
        elif key == "DIGITIZER":
            info["digitizer"] = rest.upper() or None
        elif key in VIEWS:
            info["views"][key] = _view_line(fields[1:], path, number, problems)
    for key, what in (
        ("PATIENT_AGE", "age set to NaN"),
        ("DENSITY", "density set to None"),
        ("DIGITIZER", "no optical-density calibration"),
    ):
        if key not in seen:
            problems.append(f"{where(path)}: no {key} line; {what}")
    return info


def _view_line(tokens, path, number, problems):
    view = {"rows": math.nan, "cols": math.nan, "bits": math.nan, "resolution": math.nan, "overlay": False}
    names = {"LINES": "rows", "PIXELS_PER_LINE": "cols", "BITS_PER_PIXEL": "bits", "RESOLUTION": "resolution"}
    i = 0
    while i < len(tokens):
        token = tokens[i].upper()
        if token in names and i + 1 < len(tokens):
            try:
                # RESOLUTION (microns) is fractional on the Howtek scanner (43.5)
                value = float(tokens[i + 1]) if token == "RESOLUTION" else int(tokens[i + 1])
                if not value > 0:
                    raise ValueError
                view[names[token]] = value
            except ValueError:
                problems.append(f"{where(path, line=number)}: {token} {tokens[i + 1]!r} is not a positive number")
            i += 2
            continue
        if token == "OVERLAY":
            view["overlay"] = True
        i += 1
    for token in ("LINES", "PIXELS_PER_LINE"):
        if isinstance(view[names[token]], float):
            problems.append(f"{where(path, line=number)}: no valid {token} for this view")
    return view


# --------------------------------------------------------------------------- #
# .OVERLAY
# --------------------------------------------------------------------------- #
_OUTLINE_KEYS = ("BOUNDARY", "CORE")


def _overlay_blocks(path):
    """Parse an overlay into ``(declared_total, [(k, abnormality dict or DatasetFormatError)])``.

    Errors inside one abnormality's block are returned for that abnormality,
    so that one bad outline does not drop the others.
    """
    path = Path(path)
    try:
        lines = path.read_bytes().decode("latin-1").splitlines()
    except OSError as exc:
        raise DatasetFormatError(f"{where(path)}: cannot read the overlay ({exc.strerror})") from None
    total, starts = None, []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        key = fields[0].upper()
        if key == "TOTAL_ABNORMALITIES":
            if len(fields) != 2 or not fields[1].isdigit():
                raise DatasetFormatError(
                    f"{where(path, line=number)}: TOTAL_ABNORMALITIES needs a count, got {line.strip()!r}"
                )
            total = int(fields[1])
        elif key == "ABNORMALITY":
            if len(fields) != 2 or not fields[1].isdigit():
                raise DatasetFormatError(
                    f"{where(path, line=number)}: ABNORMALITY needs a number, got {line.strip()!r}"
                )
            starts.append((int(fields[1]), number))
    if total is None:
        raise DatasetFormatError(f"{where(path)}: no TOTAL_ABNORMALITIES line (not a DDSM overlay?)")
    blocks = []
    for i, (k, first) in enumerate(starts):
        last = starts[i + 1][1] - 1 if i + 1 < len(starts) else len(lines)
        try:
            blocks.append((k, _abnormality(path, lines, first, last)))
        except DatasetFormatError as exc:
            blocks.append((k, exc))
    return total, blocks


def _abnormality(path, lines, first, last):
    """Parse lines ``first+1 .. last`` (1-based) after ``ABNORMALITY k``."""
    record = {
        "descriptions": [],
        "assessment": None,
        "subtlety": None,
        "pathology": None,
        "total_outlines": None,
        "boundary": None,
        "cores": [],
        "line": first,
    }
    number = first
    while number < last:
        number += 1
        fields = lines[number - 1].split()
        if not fields:
            continue
        key = fields[0].upper()
        context = where(path, line=number)
        if key == "LESION_TYPE":
            record["descriptions"].append(_description(fields[1:], context))
        elif key in ("ASSESSMENT", "SUBTLETY", "TOTAL_OUTLINES"):
            if len(fields) < 2 or not re.fullmatch(r"-?\d+", fields[1]):
                raise DatasetFormatError(f"{context}: {key} needs an integer, got {lines[number - 1].strip()!r}")
            record[key.lower()] = int(fields[1])
        elif key == "PATHOLOGY":
            record["pathology"] = fields[1].upper() if len(fields) > 1 else None
        elif key in _OUTLINE_KEYS:
            tokens, number = _chain_tokens(lines, fields[1:], number, last, path, key)
            outline = _outline(tokens, context, key)
            if key == "BOUNDARY":
                if record["boundary"] is not None:
                    raise DatasetFormatError(f"{context}: a second BOUNDARY in one abnormality")
                record["boundary"] = outline
            else:
                record["cores"].append(outline)
        else:
            raise DatasetFormatError(f"{context}: unexpected keyword {fields[0]!r}")
    context = where(path, line=first)
    if record["boundary"] is None:
        raise DatasetFormatError(f"{context}: abnormality without a BOUNDARY outline")
    if record["pathology"] is None:
        raise DatasetFormatError(f"{context}: abnormality without a PATHOLOGY")
    if not record["descriptions"]:
        raise DatasetFormatError(f"{context}: abnormality without a LESION_TYPE")
    return record


def _description(tokens, context):
    if not tokens:
        raise DatasetFormatError(f"{context}: empty LESION_TYPE")
    kind = tokens[0].upper()
    pairs = {"MASS": ("SHAPE", "MARGINS"), "CALCIFICATION": ("TYPE", "DISTRIBUTION")}
    names = {"SHAPE": "shape", "MARGINS": "margins", "TYPE": "calc_type", "DISTRIBUTION": "calc_distribution"}
    if kind == "OTHER":
        return {"kind": "other", "detail": " ".join(tokens[1:]) or None}
    if kind not in pairs:
        raise DatasetFormatError(f"{context}: LESION_TYPE {tokens[0]!r} is not MASS, CALCIFICATION or OTHER")
    first, second = pairs[kind]
    upper = [t.upper() for t in tokens]
    if first not in upper or second not in upper or upper.index(first) > upper.index(second):
        raise DatasetFormatError(f"{context}: a {kind} LESION_TYPE needs '{first} ... {second} ...'")
    i, j = upper.index(first), upper.index(second)
    return {
        "kind": kind.lower(),
        names[first]: " ".join(tokens[i + 1 : j]) or None,
        names[second]: " ".join(tokens[j + 1 :]) or None,
    }


def _chain_tokens(lines, inline, number, last, path, key):
    """Collect the tokens of one chain code up to ``#`` (it may follow the
    keyword on its line or start on the next one)."""
    tokens = list(inline)
    start_line = number
    while "#" not in "".join(tokens):
        if number >= last:
            raise DatasetFormatError(
                f"{where(path, line=start_line)}: {key} chain code is truncated (no closing '#' "
                "before the next abnormality or the end of the file)"
            )
        number += 1
        fields = lines[number - 1].split()
        if fields and fields[0].upper() in (*_OUTLINE_KEYS, "ABNORMALITY", "LESION_TYPE", "PATHOLOGY"):
            raise DatasetFormatError(
                f"{where(path, line=start_line)}: {key} chain code is truncated (no closing '#' "
                f"before {fields[0]!r} at line {number})"
            )
        tokens.extend(fields)
    text = " ".join(tokens)
    return text[: text.index("#")].split(), number


def _outline(tokens, context, key):
    if len(tokens) < 2 or not all(re.fullmatch(r"-?\d+", t) for t in tokens[:2]):
        raise DatasetFormatError(f"{context}: {key} chain code does not start with 'column row'")
    col, row = int(tokens[0]), int(tokens[1])
    try:
        rows, cols = chain_code_outline(col, row, tokens[2:])
    except ValueError as exc:
        raise DatasetFormatError(f"{context}: {key} {exc}") from None
    return rows, cols


def read_overlay(path):
    """Read a DDSM ``.OVERLAY`` file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of dict
        One dict per abnormality: ``number``, ``descriptions`` (list of
        ``{"kind": "mass", "shape", "margins"}`` / ``{"kind": "calcification",
        "calc_type", "calc_distribution"}`` / ``{"kind": "other", "detail"}``),
        ``assessment``, ``subtlety``, ``pathology``,
        ``total_outlines``, ``boundary`` and ``cores`` (``(rows, cols)`` pixel
        arrays of each outline).

    Raises
    ------
    DatasetFormatError
        Naming the file and line: truncated chain code, direction outside 0-7,
        missing BOUNDARY/PATHOLOGY/LESION_TYPE, unknown keyword, or fewer
        abnormalities than TOTAL_ABNORMALITIES.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "A_0001_1.LEFT_CC.OVERLAY"
    >>> _ = f.write_text("TOTAL_ABNORMALITIES 1\\nABNORMALITY 1\\n"
    ...     "LESION_TYPE MASS SHAPE OVAL MARGINS CIRCUMSCRIBED\\nASSESSMENT 3\\nSUBTLETY 4\\n"
    ...     "PATHOLOGY BENIGN\\nTOTAL_OUTLINES 1\\nBOUNDARY\\n3 2 2 4 6 0 #\\n")
    >>> a = read_overlay(f)[0]
    >>> a["pathology"], a["descriptions"][0]["shape"], a["boundary"][0].tolist()
    ('BENIGN', 'OVAL', [2, 2, 3, 3, 2])
    """
    total, blocks = _overlay_blocks(path)
    out = []
    for k, block in blocks:
        if isinstance(block, DatasetFormatError):
            raise block
        out.append({"number": k, **block})
    if len(out) != total:
        raise DatasetFormatError(f"{where(path)}: TOTAL_ABNORMALITIES {total} but {len(out)} abnormalities found")
    return out


# --------------------------------------------------------------------------- #
# optical density
# --------------------------------------------------------------------------- #
def _calibration_name(digitizer, institution):
    """Which published grey-level -> optical-density calibration applies, or None."""
    text = (digitizer or "").upper()
    if "DBA" in text:
        return "DBA-MGH"
    if "LUMISYS" in text:
        return "LUMISYS-WFUSM"
    if "HOWTEK" in text and institution in ("MGH", "ISMD"):
        return f"HOWTEK-{institution}"
    return None


def optical_density(pixels, *, calibration):
    """Map DDSM grey levels to optical density with a published calibration.

    The calibrations are those of the DDSM web site's "calibrate" pages
    (University of South Florida), fitted on step-wedge phantoms scanned on
    each digitiser:

    - ``"DBA-MGH"`` (DBA M2100 ImageClear, MGH):
      ``OD = (log10(GL) - 4.80662) / -1.07553``
    - ``"HOWTEK-MGH"`` (Howtek, MGH): ``OD = 3.789 - 0.00094568 GL``
    - ``"HOWTEK-ISMD"`` (Howtek, ISMD): ``OD = 3.96604095 - 0.00099055807 GL``
    - ``"LUMISYS-WFUSM"`` (Lumisys laser, Wake Forest):
      ``OD = (GL - 4096.99) / -1009.01``

    Institutions follow the first letter of the case name (A MGH, B/C WFUSM,
    D ISMD). The DBA formula reproduces the step-wedge table published with it
    (e.g. grey level 1217 -> OD 1.59) to within 0.035 OD from 0.04 to 2.5 and
    0.09 up to 3.13; the other three are linear fits as published.

    Parameters
    ----------
    pixels : array-like
        Grey levels as stored (not rescaled).
    calibration : {"DBA-MGH", "HOWTEK-MGH", "HOWTEK-ISMD", "LUMISYS-WFUSM"}
        See ``metadata["od_calibration"]`` of :func:`load_ddsm`.

    Returns
    -------
    ndarray of float32

    Examples
    --------
    >>> round(float(optical_density(1217, calibration="DBA-MGH")), 2)
    1.6
    >>> optical_density([0, 4000], calibration="HOWTEK-MGH").round(3).tolist()
    [3.789, 0.006]
    """
    gl = np.asarray(pixels, dtype=np.float64)
    if calibration == "DBA-MGH":
        od = (np.log10(np.maximum(gl, 1.0)) - 4.80662) / -1.07553
    elif calibration == "HOWTEK-MGH":
        od = 3.789 - 0.00094568 * gl
    elif calibration == "HOWTEK-ISMD":
        od = 3.96604095 - 0.00099055807 * gl
    elif calibration == "LUMISYS-WFUSM":
        od = (gl - 4096.99) / -1009.01
    else:
        raise ValueError(f"unknown calibration {calibration!r}; one of DBA-MGH, HOWTEK-MGH, HOWTEK-ISMD, LUMISYS-WFUSM")
    return od.astype(np.float32)


# --------------------------------------------------------------------------- #
# images
# --------------------------------------------------------------------------- #
def _image_size(path):
    """(rows, columns, bits or None) of a PNG/TIFF/LJPEG file without reading its pixels."""
    if str(path).upper().endswith(".LJPEG"):
        with open(path, "rb") as fh:
            precision, rows, cols = ljpeg_frame_header(fh.read(65536))
        return rows, cols, precision
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    size = reader.GetSize()
    if len(size) != 2:
        raise ValueError(f"a {len(size)}-D image, expected 2-D")
    match = re.match(r"(\d+)-bit", sitk.GetPixelIDValueAsString(reader.GetPixelID()))
    return int(size[1]), int(size[0]), int(match.group(1)) if match else None


def _find_image(folder, stem, view):
    """The image of one view: a PNG/TIFF conversion if present, else the LJPEG."""
    for suffix in _CONVERSION_SUFFIXES:
        candidate = folder / f"{stem}.{view}{suffix}"
        if candidate.is_file():
            return candidate, "conversion"
    ljpeg = folder / f"{stem}.{view}.LJPEG"
    if ljpeg.is_file():
        return ljpeg, "ljpeg"
    return None, None


def _gz_hint(folder):
    gz = sorted(p.name for p in folder.glob("*.gz"))
    return f" ({len(gz)} gzipped file(s) here, e.g. {gz[0]!r}: un-gzip them first)" if gz else ""


def _has_imagecodecs():
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- #
# the loader
# --------------------------------------------------------------------------- #
def _case_folders(root):
    cases = root / "cases" if (root / "cases").is_dir() else root
    found = []
    for category in CATEGORIES:
        base = cases / category
        if not base.is_dir():
            continue
        for volume in sorted(p for p in base.iterdir() if p.is_dir()):
            for case in sorted(p for p in volume.iterdir() if p.is_dir() and p.name.lower().startswith("case")):
                found.append((category, volume.name, case))
    return cases, found


def _check_abnormality(abnormality):
    kinds = (abnormality,) if isinstance(abnormality, str) else tuple(abnormality)
    bad = [k for k in kinds if k not in ABNORMALITY_TYPES]
    if not kinds or bad:
        raise ValueError(f"abnormality must be one or more of {ABNORMALITY_TYPES}, got {abnormality!r}")
    return kinds


class _Collector:
    """Rows, exclusions and the on_error policy of one load."""

    def __init__(self, on_error):
        self.on_error = on_error
        self.rows, self.target, self.groups, self.meta, self.excluded = [], [], [], [], []
        self.problems = []
        self.seen = {}  # case name -> folder

    def bad(self, ident, reason):
        if self.on_error == "raise":
            raise DatasetFormatError(f"DDSM {ident}: {reason} (on_error='exclude' skips it)")
        self.excluded.append((ident, reason))


@validate_params(
    {
        "root": [str, os.PathLike],
        "abnormality": [str, tuple, list],
        "on_error": [StrOptions({"raise", "exclude"})],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_ddsm(root, *, abnormality=("mass", "calcification"), on_error="exclude", return_X_y=False):
    """Load the original DDSM from its ``cases/`` folder.

    Parameters
    ----------
    root : path-like
        The folder holding ``cases/`` (or ``cases/`` itself), with
        ``{normals,benigns,benign_without_callbacks,cancers}/<volume>/case<NNNN>/``
        below it. A partial copy (some volumes) loads what is there.
    abnormality : str or tuple of str, default=("mass", "calcification")
        Which abnormalities to keep, among ``"mass"``, ``"calcification"`` and
        ``"other"``. An abnormality with two LESION_TYPEs is kept when either
        matches.
    on_error : {"exclude", "raise"}, default="exclude"
        What to do with bad input (truncated chain code, chain code leaving the
        image, overlay for a view the ``.ics`` lacks, image size disagreeing with
        the ``.ics``, missing image): list the abnormality (or view, or case) in
        ``excluded`` with the reason, naming the file and line, and warn once
        with the count and the first reason; or raise a
        :class:`~sklearn_llmrad.exceptions.DatasetFormatError` with that
        message at the first one. The full DDSM is a large set of 1990s files:
        a partial or imperfect copy loads what is sound by default, like the
        other loaders.
    return_X_y : bool, default=False
        Return ``(frame, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame`` (image, mask, age, density, history), ``target`` (0 benign,
        1 malignant), ``groups`` (case = patient), ``DESCR``,
        ``feature_names``, ``target_names``, ``excluded`` (``(id, reason)``),
        ``metadata`` (see ``DESCR``; not features).
    (frame, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    DatasetFormatError
        No case folder under ``root``, no abnormality loaded, or (with
        ``on_error="raise"``) any bad input listed above.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> load_ddsm(pathlib.Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: no DDSM case folder ...
    """
    kinds = _check_abnormality(abnormality)
    root = Path(root)
    cases_dir, folders = _case_folders(root)
    if not folders:
        raise DatasetFormatError(
            f"no DDSM case folder under {str(cases_dir)!r}: expected "
            f"{'/'.join(('{' + ','.join(CATEGORIES) + '}', '<volume>', 'case<NNNN>'))}/ folders"
        )
    out = _Collector(on_error)
    n_filtered = 0
    codecs = _has_imagecodecs()
    for category, volume, folder in folders:
        n_filtered += _load_case(out, category, volume, folder, kinds, codecs)
    if out.problems:
        shown = "; ".join(out.problems[:10])
        more = f" (and {len(out.problems) - 10} more)" if len(out.problems) > 10 else ""
        warnings.warn(
            f"DDSM values missing or inconsistent (unknown values set to NaN/None): {shown}{more}",
            UserWarning,
            stacklevel=2,
        )
    bad = [e for e in out.excluded if not e[1].startswith("normal case") and not e[1].endswith("no label")]
    if bad:
        warnings.warn(
            f"DDSM: {len(bad)} entries excluded for bad input (see .excluded); first: {bad[0][0]}: {bad[0][1]}",
            UserWarning,
            stacklevel=2,
        )
    descr = _DESCR + (
        f"\nThis copy ({root}, abnormality={kinds}): {len(folders)} case folders, {len(out.rows)} "
        f"abnormality views loaded ({int(np.sum(out.target))} malignant), {n_filtered} of other "
        f"types skipped, {len(out.excluded)} entries excluded.\n"
    )
    return bunch_from_records(
        out.rows,
        out.meta,
        target=out.target,
        groups=out.groups,
        descr=descr,
        excluded=out.excluded,
        return_X_y=return_X_y,
        nothing_found=(
            f"no DDSM abnormality of type {kinds} loaded from {len(folders)} case folder(s) under "
            f"{str(cases_dir)!r} ({len(out.excluded)} excluded"
            + (f"; first: {out.excluded[0][0]}: {out.excluded[0][1]})" if out.excluded else ")")
        ),
    )


def _load_case(out, category, volume, folder, kinds, codecs):
    """Add one case's abnormalities to ``out``; returns how many were of other types."""
    ics_files = sorted(folder.glob("*.ics"))
    if len(ics_files) != 1:
        out.bad(folder.name, f"{len(ics_files)} .ics files in {str(folder)!r} (expected one)")
        return 0
    try:
        info = read_ics(ics_files[0])
    except DatasetFormatError as exc:
        out.bad(folder.name, str(exc))
        return 0
    stem = (info["filename"] or ics_files[0].stem).replace("-", "_")
    if stem in out.seen:
        out.bad(stem, f"case {stem} appears twice: {str(out.seen[stem])!r} and {str(folder)!r}")
        return 0
    out.seen[stem] = folder
    out.problems.extend(f"case {stem}: {p}" for p in info["problems"])
    overlays = sorted(folder.glob("*.OVERLAY"))
    if not overlays:
        if category == "normals":
            out.excluded.append((stem, "normal case: no abnormality"))
        else:
            out.bad(stem, f"{category} case without any .OVERLAY file in {str(folder)!r}{_gz_hint(folder)}")
        return 0
    institution = _INSTITUTIONS.get(stem[:1].upper())
    case = {
        "stem": stem,
        "ics": ics_files[0],
        "info": info,
        "folder": folder,
        "meta": {
            "patient": stem,
            "category": category,
            "volume": volume,
            "digitizer": info["digitizer"],
            "institution": institution,
            "od_calibration": _calibration_name(info["digitizer"], institution),
        },
    }
    return sum(_load_view(out, case, overlay, kinds, codecs) for overlay in overlays)


def _view_image(out, case, base, view, codecs):
    """Resolve and size-check the image of one view; ``(path, source, bits)`` or None."""
    view_id, folder, ics = f"{case['stem']}.{view}", case["folder"], case["ics"]
    if view not in case["info"]["views"]:
        out.bad(
            view_id, f"{where(folder / (base + '.OVERLAY'))} refers to view {view}, which {str(ics)!r} does not list"
        )
        return None
    dims = case["info"]["views"][view]
    if any(isinstance(dims[k], float) for k in ("rows", "cols")):
        out.bad(view_id, f"{where(ics)}: no valid LINES / PIXELS_PER_LINE for {view}")
        return None
    image, source = _find_image(folder, base.rpartition(".")[0], view)
    if image is None:
        out.bad(
            view_id,
            f"no image for {view}: neither {base}.LJPEG nor a 16-bit PNG/TIFF conversion "
            f"({base}.png/.tif) in {str(folder)!r}{_gz_hint(folder)}",
        )
        return None
    if source == "ljpeg" and not codecs:
        out.bad(
            view_id,
            f"{image.name} is lossless JPEG and the imagecodecs package is not installed: "
            "install it (pip install 'sklearn-llmrad[ddsm]') or provide a 16-bit PNG/TIFF "
            f"conversion named {base}.png or .tif next to it",
        )
        return None
    try:
        rows, cols, bits = _image_size(image)
    except (ValueError, RuntimeError, OSError) as exc:
        advice = " (provide a 16-bit PNG/TIFF conversion next to it)" if source == "ljpeg" else ""
        out.bad(view_id, f"{where(image)}: cannot read the image size ({exc}){advice}")
        return None
    if (rows, cols) != (dims["rows"], dims["cols"]):
        out.bad(
            view_id,
            f"{where(image)} is {rows} x {cols} pixels but {ics.name} says "
            f"LINES {dims['rows']} x PIXELS_PER_LINE {dims['cols']}",
        )
        return None
    return image, source, bits


def _load_view(out, case, overlay, kinds, codecs):
    """Add the abnormalities of one overlay; returns how many were of other types."""
    base = overlay.name[: -len(".OVERLAY")]  # <name>.<VIEW>
    view = base.rpartition(".")[2].upper()
    view_id = f"{case['stem']}.{view}"
    found = _view_image(out, case, base, view, codecs)
    if found is None:
        return 0
    try:
        total, blocks = _overlay_blocks(overlay)
    except DatasetFormatError as exc:
        out.bad(view_id, str(exc))
        return 0
    numbers = [k for k, _ in blocks]
    repeated = sorted({k for k in numbers if numbers.count(k) > 1})
    if repeated:
        out.bad(view_id, f"{where(overlay)}: ABNORMALITY {repeated[0]} appears more than once")
        return 0
    for k in range(1, total + 1):
        if k not in numbers:
            out.bad(f"{view_id}_{k}", f"{where(overlay)}: TOTAL_ABNORMALITIES {total} but no ABNORMALITY {k}")
    n_filtered = 0
    for k, block in blocks:
        if isinstance(block, DatasetFormatError):
            out.bad(f"{view_id}_{k}", str(block))
        elif not any(d["kind"] in kinds for d in block["descriptions"]):
            n_filtered += 1
        else:
            _add_abnormality(out, case, overlay, view, k, block, found)
    return n_filtered


def _add_abnormality(out, case, overlay, view, k, block, found):
    image, source, file_bits = found
    case_id = f"{case['stem']}.{view}_{k}"
    context = where(overlay, line=block["line"])
    dims = case["info"]["views"][view]
    rows, cols = dims["rows"], dims["cols"]
    if block["pathology"] not in _PATHOLOGY:
        # not an error (e.g. an unproven finding), but there is no label to learn from
        reason = (
            f"{context}: PATHOLOGY {block['pathology']!r} is not MALIGNANT, BENIGN or BENIGN_WITHOUT_CALLBACK: no label"
        )
        out.excluded.append((case_id, reason))
        return
    outlines = [("BOUNDARY", block["boundary"])] + [("CORE", core) for core in block["cores"]]
    for name, (r, c) in outlines:
        if r.min() < 0 or c.min() < 0 or r.max() >= rows or c.max() >= cols:
            out.bad(
                case_id,
                f"{context}: {name} chain code leaves the {rows} x {cols} image "
                f"(rows {r.min()}..{r.max()}, columns {c.min()}..{c.max()})",
            )
            return
    if block["total_outlines"] is not None and block["total_outlines"] != len(outlines):
        out.problems.append(
            f"case {case['stem']}: {context}: TOTAL_OUTLINES {block['total_outlines']} "
            f"but {len(outlines)} outlines found (used those found)"
        )
    mask, *cores = (PolygonROI(*(tuple(v.tolist()) for v in _corners(*outline))) for _, outline in outlines)
    info = case["info"]
    out.rows.append(
        {
            "case": case_id,
            "image": str(image),
            "mask": mask,
            "age": info["age"],
            "density": info["density"],
            "history": None,
        }
    )
    out.target.append(_PATHOLOGY[block["pathology"]])
    out.groups.append(case["stem"])
    described = {}
    for d in block["descriptions"]:
        for key, value in d.items():
            if key != "kind":
                described.setdefault(key, value)
    out.meta.append(
        {
            "case": case_id,
            **case["meta"],
            "view": view,
            "laterality": view.split("_")[0],
            "abnormality_id": k,
            "lesion_types": "+".join(d["kind"] for d in block["descriptions"]),
            "shape": described.get("shape"),
            "margins": described.get("margins"),
            "calc_type": described.get("calc_type"),
            "calc_distribution": described.get("calc_distribution"),
            "other_detail": described.get("detail"),
            "assessment": block["assessment"],
            "subtlety": block["subtlety"],
            "pathology": block["pathology"],
            "benign_without_callback": block["pathology"] == "BENIGN_WITHOUT_CALLBACK",
            "n_outlines": len(outlines),
            "cores": tuple(cores),
            "rows": rows,
            "cols": cols,
            "bits_per_pixel": dims["bits"],
            "file_bits": file_bits,
            "resolution_um": dims["resolution"],
            "image_source": source,
            "overlay": str(overlay),
        }
    )
