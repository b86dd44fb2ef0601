"""Loader for the original DDSM (Digital Database for Screening Mammography,
Heath et al., 2001), from its distribution folder ``cases/``.

The case files (``.ics``), the abnormality outlines (``.OVERLAY``, chain codes)
and the optical-density calibrations are read by the functions of
``datasets/_ddsm_files.py``, re-exported here: :func:`read_ics`,
:func:`read_overlay`, :func:`chain_code_outline` and :func:`optical_density`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from sklearn.utils._param_validation import StrOptions, validate_params

from ..exceptions import DatasetFormatError
from ..imageio import ljpeg_frame_header
from ..roi import PolygonROI
from ._common import LOADER_CONSTRAINTS, Lesions, where
from ._ddsm_files import (
    calibration_name,
    chain_code_outline,
    corners,
    optical_density,
    overlay_blocks,
    read_ics,
    read_overlay,
    view_spacing,
)

__all__ = ["chain_code_outline", "load_ddsm", "optical_density", "read_ics", "read_overlay"]

CATEGORIES = ("normals", "benigns", "benign_without_callbacks", "cancers")
ABNORMALITY_TYPES = ("mass", "calcification", "other")
_PATHOLOGY = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
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
- ``spacing``: the view's RESOLUTION in the ``.ics`` (um per pixel; DBA 42,
  Howtek 43.5, Lumisys 50), else the nominal pitch of the case's DIGITIZER,
  else unknown (None; the image stages then warn, naming the rows).
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


class _Collector(Lesions):
    """The lesions, exclusions, problems and on_error policy of one load."""

    def __init__(self, on_error):
        super().__init__()
        self.on_error = on_error
        self.problems = []
        self.seen = {}  # case name -> folder

    def bad(self, ident, reason):
        if self.on_error == "raise":
            raise DatasetFormatError(f"DDSM {ident}: {reason} (on_error='exclude' skips it)")
        self.exclude(ident, reason)


@validate_params(
    {
        **LOADER_CONSTRAINTS,
        "abnormality": [str, tuple, list],
        "on_error": [StrOptions({"raise", "exclude"})],
    },
    prefer_skip_nested_validation=True,
)
def load_ddsm(root, *, abnormality=("mass", "calcification"), on_error="exclude", labels=True, return_X_y=False):
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
    labels, return_X_y : bool
        Shared by the lesion loaders: see :mod:`sklearn_llmrad.datasets`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame`` (image, mask, age, density, history), ``target`` (0 benign,
        1 malignant), ``groups`` (case = patient), ``DESCR``,
        ``feature_names``, ``target_names``, ``excluded`` (``(id, reason)``),
        ``metadata`` (see ``DESCR``; not features).
    (frame, target) : tuple
        With ``return_X_y=True``.

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
        f"\nThis copy ({root}, abnormality={kinds}): {len(folders)} case folders, {len(out)} "
        f"abnormality views loaded ({out.n_positive} malignant), {n_filtered} of other "
        f"types skipped, {len(out.excluded)} entries excluded.\n"
    )
    nothing_found = (
        f"no DDSM abnormality of type {kinds} loaded from {len(folders)} case folder(s) under "
        f"{str(cases_dir)!r} ({len(out.excluded)} excluded"
        + (f"; first: {out.excluded[0][0]}: {out.excluded[0][1]})" if out.excluded else ")")
    )
    return out.bunch(descr=descr, nothing_found=nothing_found, return_X_y=return_X_y, labels=labels)


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
            out.exclude(stem, "normal case: no abnormality")
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
            "od_calibration": calibration_name(info["digitizer"], institution),
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
        total, blocks = overlay_blocks(overlay)
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
        out.exclude(case_id, reason)
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
    mask, *cores = (PolygonROI(*(tuple(v.tolist()) for v in corners(*outline))) for _, outline in outlines)
    info = case["info"]
    described = {}
    for d in block["descriptions"]:
        for key, value in d.items():
            if key != "kind":
                described.setdefault(key, value)
    out.add(
        case_id,
        image=image,
        mask=mask,
        label=_PATHOLOGY[block["pathology"]],
        group=case["stem"],
        age=info["age"],
        density=info["density"],
        spacing=view_spacing(dims["resolution"], info["digitizer"]),
        **case["meta"],
        view=view,
        laterality=view.split("_")[0],
        abnormality_id=k,
        lesion_types="+".join(d["kind"] for d in block["descriptions"]),
        shape=described.get("shape"),
        margins=described.get("margins"),
        calc_type=described.get("calc_type"),
        calc_distribution=described.get("calc_distribution"),
        other_detail=described.get("detail"),
        assessment=block["assessment"],
        subtlety=block["subtlety"],
        pathology=block["pathology"],
        benign_without_callback=block["pathology"] == "BENIGN_WITHOUT_CALLBACK",
        n_outlines=len(outlines),
        cores=tuple(cores),
        rows=rows,
        cols=cols,
        bits_per_pixel=dims["bits"],
        file_bits=file_bits,
        resolution_um=dims["resolution"],
        image_source=source,
        overlay=str(overlay),
    )
