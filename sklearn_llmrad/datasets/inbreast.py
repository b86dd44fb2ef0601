"""Loader for INbreast (Moreira et al., Academic Radiology 2012)."""

from __future__ import annotations

import plistlib
import re
from pathlib import Path
from xml.parsers.expat import ExpatError

import numpy as np
from sklearn.utils._param_validation import validate_params

from ..exceptions import DatasetFormatError
from ..roi import PolygonROI
from ._common import LOADER_CONSTRAINTS, Lesions, map_density, parse_age, read_table, reported_at, safe_join, where

__all__ = ["load_inbreast"]

_REQUIRED = ("Laterality", "View", "File Name", "ACR", "Bi-Rads")
_POINT = re.compile(r"\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)")
#: INbreast pixel size in mm: the MammoNovation detector's 70 um pixels
#: (Moreira et al. 2012, "Image acquisition"); the same for every image.
SPACING_MM = (0.07, 0.07)
_DICOM_NAME = re.compile(r"(?P<file>[^_]+)_(?P<patient>[^_]+)_MG_(?P<side>[LR])_(?P<view>[A-Z]+)_ANON\.dcm", re.I)

_DESCR = """\
INbreast
--------

410 full-field digital mammograms of 115 women (Centro Hospitalar de S. Joao,
Porto), with lesion contours drawn by a radiologist (Moreira et al.,
"INbreast: toward a full-field digital mammographic database", Acad Radiol
19(2):236-248, 2012). Labels are image-level BI-RADS assessments.

Conversion to the data contract
- One row per annotated ROI whose Name is in ``lesion_types`` (default masses
  and calcification clusters; single calcifications are thousands of
  one-point marks). Case id ``<File Name>_<k>``, k the ROI's position in the
  image's XML (1-based). ``image``: ``AllDICOMs/<File Name>_<patient>_MG_<L|R>_<view>_ANON.dcm``;
  ``mask``: a :class:`~sklearn_llmrad.roi.PolygonROI` from the ROI's Point_px
  list "(x, y)" (rows = y, cols = x).
- Target: a PROXY from the image's BI-RADS (INbreast.csv): 4a/4b/4c/5/6 -> 1,
  1/2/3 -> 0. It is the radiologist's assessment of the image (BI-RADS 6 means
  biopsy-proven cancer), not a per-lesion pathology: a benign-looking cluster
  in a BI-RADS 5 image is labelled 1. Report results accordingly.
- ``density``: ACR 1-4 -> "A"-"D". ``age``: the "Patient age" column when it
  holds a number (the public release anonymises it), else NaN. ``history``:
  not distributed (None).
- ``spacing``: 0.07 mm, the detector's pixel size (Moreira et al. 2012).
- Groups: the patient hash in the DICOM file name (the CSV's "Patient ID" is
  anonymised), so a woman's CC/MLO views and both breasts stay together.
- Excluded (with reasons): images without an XML (no annotation), ROIs of
  other types, contours of fewer than 3 points, images without a DICOM file.
"""


def _read_rois(file):
    try:
        plist = plistlib.loads(file.read_bytes())
    except (plistlib.InvalidFileException, ExpatError, ValueError) as exc:
        raise DatasetFormatError(f"{where(file)}: not an INbreast plist XML ({exc})") from exc
    images = plist.get("Images") if isinstance(plist, dict) else None
    if not isinstance(images, list):
        raise DatasetFormatError(f"{where(file)}: no 'Images' array in the plist")
    rois = []
    for image in images:
        image_rois = image.get("ROIs", []) if isinstance(image, dict) else []
        if not isinstance(image_rois, list):
            raise DatasetFormatError(f"{where(file)}: 'ROIs' is not an array")
        for roi in image_rois:
            if not isinstance(roi, dict) or not isinstance(roi.get("Point_px"), list):
                raise DatasetFormatError(f"{where(file)}: ROI {len(rois) + 1} has no Point_px list")
            points = []
            for text in roi["Point_px"]:
                match = _POINT.fullmatch(str(text).strip())
                point = None if match is None else (float(match.group(1)), float(match.group(2)))
                if point is None or not np.isfinite(point).all():
                    raise DatasetFormatError(
                        f"{where(file)}: ROI {len(rois) + 1}: point {text!r} is not '(x, y)' with finite coordinates"
                    )
                points.append(point)
            rois.append((str(roi.get("Name", "")).strip(), points))
    return rois


def _label(birads, context):
    text = birads.strip().lower()
    if text in ("1", "2", "3"):
        return 0
    if text in ("4", "4a", "4b", "4c", "5", "6"):
        return 1
    raise DatasetFormatError(f"{context}: Bi-Rads {birads!r} is not one of 1, 2, 3, 4a, 4b, 4c, 5, 6")


@validate_params(
    {
        **LOADER_CONSTRAINTS,
        "lesion_types": [tuple, list],
        "allow_outside_root": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_inbreast(root, *, lesion_types=("Mass", "Cluster"), allow_outside_root=False, labels=True, return_X_y=False):
    """Load INbreast lesions (contours) with a BI-RADS proxy label.

    Parameters
    ----------
    root : path-like
        Folder with ``INbreast.csv`` (';'-separated), ``AllDICOMs/`` and
        ``AllXML/``.
    lesion_types : tuple of str, default=("Mass", "Cluster")
        ROI names to keep (case-insensitive), e.g. add ``"Calcification"``,
        ``"Spiculated Region"``, ``"Distortion"`` or ``"Asymmetry"``.
    allow_outside_root, labels, return_X_y : bool
        Shared by the lesion loaders: see :mod:`sklearn_llmrad.datasets`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame``, ``target`` (BI-RADS proxy), ``groups`` (patient hash),
        ``DESCR``, ``feature_names``, ``target_names``, ``excluded``,
        ``metadata`` (ROI name, laterality, view, BI-RADS: not features).
    (frame, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    DatasetFormatError
        Missing file or column, malformed row or XML (file and line named), or
        no lesion found.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> load_inbreast(pathlib.Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: INbreast table ... not found
    """
    root = Path(root)
    file = root / "INbreast.csv"
    if not file.is_file():
        raise DatasetFormatError(f"INbreast table {str(file)!r} not found")
    table = read_table(file, _REQUIRED, sep=";")
    keep = {t.lower() for t in lesion_types}
    dicoms = {}
    dicom_dir = root / "AllDICOMs"
    if dicom_dir.is_dir():
        for path in dicom_dir.iterdir():
            match = _DICOM_NAME.fullmatch(path.name)
            if match:
                dicoms.setdefault(match.group("file"), []).append((path, match.group("patient")))

    lesions, seen = Lesions(), {}
    for index, record in enumerate(table.to_dict("records")):
        context = where(file, line=index + 2)
        record = {k: v.strip() for k, v in record.items()}
        name = record["File Name"]
        if not any(record.values()):
            continue  # trailing blank lines
        if not re.fullmatch(r"[0-9A-Za-z]+", name):
            raise DatasetFormatError(f"{context}: File Name {name!r} is not an INbreast file number")
        if name in seen:
            raise DatasetFormatError(f"{context}: File Name {name} already listed on line {seen[name]}")
        seen[name] = index + 2
        label = _label(record["Bi-Rads"], context)
        with reported_at(context):
            density = map_density(record["ACR"])
            age = parse_age(record.get("Patient age", ""))
        xml = safe_join(root, Path("AllXML", f"{name}.xml"), allow_outside_root=allow_outside_root, context=context)
        if not xml.is_file():
            lesions.exclude(name, "no annotation XML (image without marked lesions)")
            continue
        found = dicoms.get(name, [])
        if len(found) != 1:
            lesions.exclude(name, "no DICOM in AllDICOMs" if not found else f"{len(found)} DICOMs match")
            continue
        image, patient = found[0]
        for k, (roi_name, points) in enumerate(_read_rois(xml), start=1):
            case = f"{name}_{k}"
            if roi_name.lower() not in keep:
                lesions.exclude(case, f"ROI type {roi_name!r} not in lesion_types")
                continue
            if len(points) < 3:
                lesions.exclude(case, f"{roi_name} contour has {len(points)} point(s), fewer than 3")
                continue
            cols, rows_ = zip(*points)
            lesions.add(
                case,
                image=image,
                mask=PolygonROI(rows=tuple(rows_), cols=tuple(cols)),
                label=label,
                group=patient,
                age=age,
                density=density,
                spacing=SPACING_MM,
                file_name=name,
                roi_name=roi_name,
                laterality=record["Laterality"],
                view=record["View"],
                birads=record["Bi-Rads"],
            )
    descr = _DESCR + (
        f"\nThis copy ({root}, lesion_types={list(lesion_types)}): {lesions.loaded('lesions', 'with BI-RADS >= 4')}.\n"
    )
    nothing_found = (
        f"no INbreast lesion of types {list(lesion_types)} found under {str(root)!r} "
        f"({len(lesions.excluded)} excluded; first reason: {lesions.first_reason()})"
    )
    return lesions.bunch(descr=descr, nothing_found=nothing_found, return_X_y=return_X_y, labels=labels)
