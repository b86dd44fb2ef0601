"""Loader for CBIS-DDSM (Curated Breast Imaging Subset of DDSM, TCIA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

from ..exceptions import DatasetFormatError
from ._common import LOADER_CONSTRAINTS, Lesions, map_density, read_table, reported_at, safe_join, where

__all__ = ["load_cbis_ddsm"]

_PATHOLOGY = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
_IMAGE_COL, _CROP_COL, _ROI_COL = "image file path", "cropped image file path", "ROI mask file path"
_REQUIRED = (
    "patient_id",
    "left or right breast",
    "image view",
    "abnormality id",
    "pathology",
    _IMAGE_COL,
    _CROP_COL,
    _ROI_COL,
)
#: Radiologist descriptors: kept in ``metadata`` for subgroup analyses, never in
#: ``frame`` (they encode the radiologist's suspicion). ``assessment`` (BI-RADS)
#: and ``pathology`` are not kept at all.
_DESCRIPTORS = ("abnormality type", "mass shape", "mass margins", "calc type", "calc distribution", "subtlety")
_SUBFOLDERS = ("", "CBIS-DDSM")  # the NBIA retriever puts cases under CBIS-DDSM/

_DESCR = """\
CBIS-DDSM (Curated Breast Imaging Subset of DDSM)
-------------------------------------------------

Digitised screen-film mammograms from DDSM, re-curated and distributed by The
Cancer Imaging Archive (Lee et al., Sci Data 2017, doi:10.1038/sdata.2017.177):
full mammograms, ROI masks and lesion crops as DICOM, described by four CSVs
``{mass,calc}_case_description_{train,test}_set.csv``.

Conversion to the data contract
- One row per abnormality. Case id: the ROI folder name, e.g.
  ``Mass-Training_P_00001_LEFT_CC_1``. ``image`` is the full mammogram DICOM,
  ``mask`` the ROI mask DICOM (same grid as the mammogram).
- Target: pathology MALIGNANT -> 1, BENIGN and BENIGN_WITHOUT_CALLBACK -> 0.
- ``spacing``: None here; the image stages read it from each mammogram DICOM's
  header (Pixel Spacing, Imager Pixel Spacing or Nominal Scanned Pixel
  Spacing) and warn, naming the cases, where the header has none.
- ``density``: breast density 1-4 -> "A"-"D" (0 or blank -> None). The calc
  CSVs spell the column "breast density", the mass CSVs "breast_density".
- No age or history is distributed: ``age`` NaN, ``history`` None.
- Groups: ``patient_id`` (CC and MLO views and all lesions of a woman, mass and
  calcification files alike, share a group).
- ``assessment`` (BI-RADS) and ``pathology`` never appear as columns.
  Radiologist descriptors (mass shape/margins, calc type/distribution,
  subtlety) are kept in ``metadata`` for subgroup analyses only: they encode a
  radiologist's suspicion, so never use them as features.

Finding the files
- The CSV paths (``<case>/<study UID>/<series UID>/000000.dcm``) rarely match a
  download made with the NBIA Data Retriever
  (``CBIS-DDSM/<case>/<date>-DDSM-<n>/<series name>/1-1.dcm``). Each path is
  tried as written (under ``root`` and ``root/CBIS-DDSM``); otherwise the DICOMs
  below the case folder (the path's first component) are used.
- ROI masks and crops share a case folder and, in parts of the download, a
  series folder with names (1-1.dcm / 1-2.dcm) that do not say which is which,
  and the CSV swaps 000000/000001 for some cases. Each candidate is therefore
  classified by its DICOM SeriesDescription ("ROI mask images" /
  "cropped images"); when that is absent, by content: a mask is binary and has
  the full mammogram's size, a crop has grey levels.
- Abnormalities whose mammogram or mask cannot be found are listed in
  ``excluded`` with the reason (a partial download loads what is there).
"""


class _Finder:
    """Resolves CSV paths to files on disk; caches directory scans and headers."""

    def __init__(self, root, allow_outside_root):
        self.root = Path(root)
        self.allow_outside_root = allow_outside_root
        self._scans = {}
        self._kinds = {}
        self._shapes = {}

    def exact(self, relative, context):
        for sub in _SUBFOLDERS:
            # the path must stay inside root itself, not only inside root/CBIS-DDSM
            safe_join(self.root, relative, allow_outside_root=self.allow_outside_root, context=context)
            candidate = safe_join(self.root / sub, relative, allow_outside_root=True)
            if candidate.is_file():
                return candidate
        return None

    def below_case_folder(self, relative, context):
        folder = Path(relative).parts[0] if Path(relative).parts else ""
        if folder in ("", ".", "..") or Path(relative).is_absolute():
            return []
        if folder not in self._scans:
            found = []
            for sub in _SUBFOLDERS:
                directory = safe_join(
                    self.root, Path(sub, folder), allow_outside_root=self.allow_outside_root, context=context
                )
                if directory.is_dir():
                    found.extend(sorted(p for p in directory.rglob("*.dcm") if p.is_file()))
            self._scans[folder] = found
        return self._scans[folder]

    def kind(self, path, full_shape=None):
        """'full', 'mask', 'crop' or None (unknown), from the DICOM header or content."""
        key = (path, full_shape)
        if key in self._kinds:
            return self._kinds[key]
        import pydicom

        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # unreadable files are reported by the image reader later
            self._kinds[key] = None
            return None
        description = str(header.get("SeriesDescription", "")).lower()
        if "roi mask" in description:
            kind = "mask"
        elif "crop" in description:
            kind = "crop"
        elif "full mammogram" in description:
            kind = "full"
        else:
            kind = self._kind_from_content(path, header, full_shape)
        self._kinds[key] = kind
        return kind

    @staticmethod
    def _kind_from_content(path, header, full_shape):
        shape = (int(header.get("Rows", 0)), int(header.get("Columns", 0)))
        if full_shape is not None and shape != tuple(full_shape):
            return "crop"  # masks are drawn on the full mammogram's grid
        import pydicom

        try:
            pixels = pydicom.dcmread(path).pixel_array
        except Exception:
            return None
        return "mask" if np.unique(pixels).size <= 2 else ("crop" if full_shape is not None else "full")

    def shape(self, path):
        """(rows, columns) from the header, or None if unreadable (the image
        reader reports that file when the pixels are needed)."""
        if path not in self._shapes:
            import pydicom

            try:
                header = pydicom.dcmread(path, stop_before_pixels=True)
                self._shapes[path] = (int(header.Rows), int(header.Columns))
            except Exception:
                self._shapes[path] = None
        return self._shapes[path]


def _resolve_image(finder, relative, context):
    exact = finder.exact(relative, context)
    if exact is not None:
        return exact, None
    candidates = finder.below_case_folder(relative, context)
    if not candidates:
        return None, f"full mammogram not found: neither {relative!r} nor DICOMs under its case folder"
    if len(candidates) == 1:
        return candidates[0], None
    full = [c for c in candidates if finder.kind(c) == "full"]
    if len(full) == 1:
        return full[0], None
    return None, f"{len(candidates)} DICOMs under the case folder of {relative!r}; cannot tell which is the mammogram"


def _resolve_mask(finder, roi_relative, crop_relative, image, context):
    candidates = []
    for relative in (roi_relative, crop_relative):
        exact = finder.exact(relative, context)
        if exact is not None:
            candidates.append(exact)
        candidates.extend(finder.below_case_folder(relative, context))
    candidates = list(dict.fromkeys(c for c in candidates if c != image))
    if not candidates:
        return None, f"ROI mask not found: neither {roi_relative!r} nor DICOMs under its case folder"
    full_shape = finder.shape(image)
    masks = [c for c in candidates if finder.kind(c, full_shape) == "mask"]
    if len(masks) == 1:
        return masks[0], None
    exact = finder.exact(roi_relative, context)
    if len(masks) > 1 and exact in masks:
        return exact, None
    if not masks:
        return None, f"no ROI mask among {len(candidates)} DICOM(s) for {roi_relative!r}"
    return None, f"{len(masks)} candidate ROI masks for {roi_relative!r}; ambiguous"


@validate_params(
    {
        **LOADER_CONSTRAINTS,
        "abnormality": [StrOptions({"mass", "calc", "both"})],
        "split": [StrOptions({"train", "test", "both"})],
        "allow_outside_root": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_cbis_ddsm(root, *, abnormality="mass", split="both", allow_outside_root=False, labels=True, return_X_y=False):
    """Load CBIS-DDSM from a TCIA download.

    Parameters
    ----------
    root : path-like
        Folder holding the case description CSVs and the DICOM folders (directly
        or under ``CBIS-DDSM/``, as the NBIA Data Retriever writes them).
    abnormality : {"mass", "calc", "both"}, default="mass"
        Which case description files to read.
    split : {"train", "test", "both"}, default="both"
        The official training / test split.
    allow_outside_root, labels, return_X_y : bool
        Shared by the lesion loaders: see :mod:`sklearn_llmrad.datasets`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame``, ``target``, ``groups`` (patient_id), ``DESCR``,
        ``feature_names``, ``target_names``, ``excluded`` (``(case, reason)``),
        ``metadata`` (split, laterality, view, abnormality id/type, crop path,
        radiologist descriptors: not features).
    (frame, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    DatasetFormatError
        A CSV is missing or lacks a column, a row has an unknown pathology or
        density (file and line named), a path leaves ``root``, or no
        mammogram at all is found.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> load_cbis_ddsm(root)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: CBIS-DDSM case description file ... not found ...
    """
    root = Path(root)
    kinds = ("mass", "calc") if abnormality == "both" else (abnormality,)
    splits = ("train", "test") if split == "both" else (split,)
    finder = _Finder(root, allow_outside_root)
    lesions, seen = Lesions(), {}
    for kind in kinds:
        for part in splits:
            file = root / f"{kind}_case_description_{part}_set.csv"
            if not file.is_file():
                raise DatasetFormatError(
                    f"CBIS-DDSM case description file {str(file)!r} not found (download the "
                    "CSVs from the TCIA CBIS-DDSM page into root)"
                )
            table = read_table(file, (*_REQUIRED, "breast_density"), aliases={"breast density": "breast_density"})
            for index, record in enumerate(table.to_dict("records")):
                context = where(file, line=index + 2)
                paths = {c: record[c].strip().replace("\\", "/") for c in (_IMAGE_COL, _ROI_COL, _CROP_COL)}
                pathology = record["pathology"].strip().upper()
                if pathology not in _PATHOLOGY:
                    raise DatasetFormatError(
                        f"{context}: pathology {record['pathology']!r} is not MALIGNANT, BENIGN or "
                        "BENIGN_WITHOUT_CALLBACK"
                    )
                density = record["breast_density"].strip()
                with reported_at(context):
                    density = None if density in ("0", "") else map_density(density)
                if not paths[_IMAGE_COL] or not paths[_ROI_COL]:
                    raise DatasetFormatError(f"{context}: empty image or ROI mask file path")
                # CBIS names the ROI folder "<image folder>_<abnormality id>"
                image_folder = Path(paths[_IMAGE_COL]).parts[0]
                if Path(paths[_IMAGE_COL]).is_absolute() or image_folder in ("..", "."):
                    image_folder = "_".join(
                        (kind, part, record["patient_id"], record["left or right breast"], record["image view"])
                    ).replace(" ", "")
                case = f"{image_folder}_{record['abnormality id'].strip()}"
                fingerprint = tuple(sorted(record.items()))
                if case in seen:
                    first_context, first_fingerprint = seen[case]
                    if fingerprint != first_fingerprint:
                        raise DatasetFormatError(
                            f"{context}: abnormality {case!r} already listed, differently, at {first_context}"
                        )
                    lesions.exclude(case, f"{context} repeats {first_context} verbatim")
                    continue
                seen[case] = (context, fingerprint)
                image, reason = _resolve_image(finder, paths[_IMAGE_COL], context)
                mask = None
                if image is not None:
                    mask, reason = _resolve_mask(finder, paths[_ROI_COL], paths[_CROP_COL], image, context)
                if image is None or mask is None:
                    lesions.exclude(case, reason)
                    continue
                crop = [
                    c
                    for c in finder.below_case_folder(paths[_CROP_COL], context)
                    if c != mask and finder.kind(c, finder.shape(image)) == "crop"
                ]
                lesions.add(
                    case,
                    image=image,
                    mask=str(mask),
                    label=_PATHOLOGY[pathology],
                    group=record["patient_id"].strip(),
                    density=density,
                    split=part,
                    patient_id=record["patient_id"].strip(),
                    laterality=record["left or right breast"].strip(),
                    view=record["image view"].strip(),
                    abnormality_id=record["abnormality id"].strip(),
                    crop=str(crop[0]) if len(crop) == 1 else None,
                    **{d.replace(" ", "_"): record.get(d, None) for d in _DESCRIPTORS},
                )
    descr = (
        _DESCR + f"\nThis copy ({root}, abnormality={abnormality}, split={split}): {lesions.loaded('abnormalities')}.\n"
    )
    nothing_found = (
        f"no CBIS-DDSM mammogram found under {str(root)!r} for abnormality={abnormality!r}, "
        f"split={split!r} ({len(lesions.excluded)} abnormalities listed; first reason: "
        f"{lesions.first_reason('none listed')})"
    )
    return lesions.bunch(descr=descr, nothing_found=nothing_found, return_X_y=return_X_y, labels=labels)
