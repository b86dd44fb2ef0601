"""Loader for VinDr-Mammo (Nguyen et al., Sci Data 2023; PhysioNet)."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import StrOptions, validate_params

from ..exceptions import DatasetFormatError
from ..roi import BoxROI
from ._common import LOADER_CONSTRAINTS, Lesions, map_density, parse_age, read_table, reported_at, safe_join, where

__all__ = ["load_vindr_mammo"]

_REQUIRED = (
    "study_id",
    "image_id",
    "laterality",
    "view_position",
    "breast_density",
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "split",
)
_PROXY = {"2": 0, "3": 0, "4": 1, "5": 1}

_DESCR = """\
VinDr-Mammo
-----------

5,000 four-view full-field digital mammography exams from two hospitals in
Vietnam (Nguyen et al., "VinDr-Mammo: A large-scale benchmark dataset for
computer-aided diagnosis in full-field digital mammography", Sci Data 10, 277,
2023; PhysioNet, doi:10.13026/br2v-7517). Findings are boxes with a BI-RADS
assessment, double-read by radiologists; there is NO biopsy-proven pathology.

Conversion to the data contract
- One row per finding box of ``finding_annotations.csv``; case id
  ``<image_id>_<k>`` (k = 1, 2... per image). ``image`` is
  ``images/<study_id>/<image_id>.dicom``, ``mask`` a
  :class:`~sklearn_llmrad.roi.BoxROI` (rows ymin-ymax, cols xmin-xmax).
- Target: a PROXY from the finding's BI-RADS: 4 or 5 (suspicious) -> 1,
  2 or 3 (benign / probably benign) -> 0. It measures radiologists' suspicion,
  not malignancy; report results accordingly. Findings with BI-RADS 1 or
  missing are excluded with the reason.
- Rows without a box ("No Finding") are not lesions: listed in ``excluded``.
- ``spacing``: None here; the image stages read it from each DICOM's header
  (Pixel Spacing, else Imager Pixel Spacing / magnification factor).
- ``density``: "DENSITY A".."DENSITY D" -> "A".."D". ``age``: from
  ``metadata.csv`` ("Patient's Age", e.g. "053Y") when present, else NaN.
  ``history``: not distributed (None).
- Groups: ``study_id``. VinDr-Mammo publishes no patient id; a study is one
  woman's four-view exam, so the views and findings of one exam stay together.
  (A woman with two exams would appear as two groups; the dataset has one exam
  per woman as far as its description tells.)
- ``metadata``: split, laterality, view, finding categories, finding BI-RADS
  (the proxy's source: never a feature), breast BI-RADS, image height/width.
"""


def _finding_categories(text, context):
    try:
        value = ast.literal_eval(text) if text.strip().startswith("[") else [text]
    except (ValueError, SyntaxError):
        raise DatasetFormatError(f"{context}: finding_categories {text!r} is not a list such as ['Mass']") from None
    return [str(v).strip() for v in value]


def _read_ages(root):
    file = root / "metadata.csv"
    if not file.is_file():
        return {}
    table = pd.read_csv(file, dtype=str, keep_default_na=False)
    id_column = next((c for c in ("SOP Instance UID", "image_id") if c in table.columns), None)
    if id_column is None or "Patient's Age" not in table.columns:
        raise DatasetFormatError(
            f"{where(file)}: expected columns 'SOP Instance UID' (or 'image_id') and \"Patient's Age\"; "
            f"found {list(table.columns)}"
        )
    ages = {}
    for index, (image_id, age) in enumerate(zip(table[id_column], table["Patient's Age"])):
        with reported_at(where(file, line=index + 2)):
            ages[image_id.strip()] = parse_age(age)
    return ages


def _number(value, name, context):
    try:
        number = float(value)
    except ValueError:
        raise DatasetFormatError(f"{context}: {name} {value!r} is not a number") from None
    return number


@validate_params(
    {
        **LOADER_CONSTRAINTS,
        "split": [StrOptions({"training", "test", "both"})],
        "allow_outside_root": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_vindr_mammo(root, *, split="both", allow_outside_root=False, labels=True, return_X_y=False):
    """Load the VinDr-Mammo findings as lesions with a BI-RADS proxy label.

    Parameters
    ----------
    root : path-like
        Folder with ``finding_annotations.csv``, optionally ``metadata.csv``,
        and ``images/<study_id>/<image_id>.dicom``.
    split : {"training", "test", "both"}, default="both"
        The official split (the CSV's ``split`` column).
    allow_outside_root, labels, return_X_y : bool
        Shared by the lesion loaders: see :mod:`sklearn_llmrad.datasets`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame``, ``target`` (BI-RADS proxy), ``groups`` (study_id),
        ``DESCR``, ``feature_names``, ``target_names``, ``excluded``,
        ``metadata``.
    (frame, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    DatasetFormatError
        Missing file or column, a malformed row (file and line named), a path
        leaving ``root``, or no image found at all.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> load_vindr_mammo(pathlib.Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: VinDr-Mammo annotation file ... not found
    """
    root = Path(root)
    file = root / "finding_annotations.csv"
    if not file.is_file():
        raise DatasetFormatError(f"VinDr-Mammo annotation file {str(file)!r} not found")
    table = read_table(file, _REQUIRED)
    ages = _read_ages(root)

    lesions, per_image = Lesions(), {}
    for index, record in enumerate(table.to_dict("records")):
        context = where(file, line=index + 2)
        # blank cells may be written empty or as "nan" depending on the exporter
        record = {k: ("" if v.strip().lower() == "nan" else v.strip()) for k, v in record.items()}
        if split != "both" and record["split"].lower() != split:
            continue
        study, image_id = record["study_id"], record["image_id"]
        if not study or not image_id:
            raise DatasetFormatError(f"{context}: empty study_id or image_id")
        per_image[image_id] = per_image.get(image_id, 0) + 1
        case = f"{image_id}_{per_image[image_id]}"
        categories = _finding_categories(record["finding_categories"], context)
        box = [record[c] for c in ("xmin", "ymin", "xmax", "ymax")]
        if all(b == "" for b in box):
            lesions.exclude(case, f"no box ({', '.join(categories) or 'no category'})")
            continue
        if any(b == "" for b in box):
            raise DatasetFormatError(f"{context}: incomplete box {box}")
        xmin, ymin, xmax, ymax = (_number(v, n, context) for v, n in zip(box, ("xmin", "ymin", "xmax", "ymax")))
        if not (xmax > xmin and ymax > ymin) or min(xmin, ymin) < 0 or any(map(math.isinf, (xmax, ymax))):
            raise DatasetFormatError(
                f"{context}: box xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g} is empty or negative"
            )
        match = re.fullmatch(r"(?:BI-?RADS\s*)?([0-6])", record["finding_birads"], flags=re.IGNORECASE)
        if not record["finding_birads"]:
            lesions.exclude(case, "finding without BI-RADS assessment")
            continue
        if match is None:
            raise DatasetFormatError(f"{context}: finding_birads {record['finding_birads']!r} is not 'BI-RADS n'")
        if match.group(1) not in _PROXY:
            lesions.exclude(case, f"finding BI-RADS {match.group(1)}: no benign/suspicious proxy")
            continue
        with reported_at(context):
            density = map_density(record["breast_density"])
        image = safe_join(
            root, Path("images", study, f"{image_id}.dicom"), allow_outside_root=allow_outside_root, context=context
        )
        if not image.is_file():
            lesions.exclude(case, f"image {str(image)!r} not found")
            continue
        lesions.add(
            case,
            image=image,
            mask=BoxROI(row_min=ymin, col_min=xmin, row_max=ymax, col_max=xmax),
            label=_PROXY[match.group(1)],
            group=study,
            age=ages.get(image_id, np.nan),
            density=density,
            split=record["split"],
            study_id=study,
            laterality=record["laterality"],
            view=record["view_position"],
            finding_categories=categories,
            finding_birads=match.group(1),
            breast_birads=record.get("breast_birads"),
            height=record.get("height"),
            width=record.get("width"),
        )
    descr = (
        _DESCR
        + f"\nThis copy ({root}, split={split}): {lesions.loaded('findings', 'with BI-RADS 4-5', 'rows excluded')}.\n"
    )
    nothing_found = (
        f"no usable finding with an image under {str(root)!r} ({len(lesions.excluded)} rows excluded; "
        f"first reason: {lesions.first_reason()})"
    )
    return lesions.bunch(descr=descr, nothing_found=nothing_found, return_X_y=return_X_y, labels=labels)
