"""Loader for the mini-MIAS database (Suckling et al., 1994)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sklearn.utils._param_validation import validate_params

from ..exceptions import DatasetFormatError
from ..roi import CircleROI
from ._common import LOADER_CONSTRAINTS, Lesions, where

__all__ = ["load_mias"]

_IMAGE_SIZE = 1024  # every mini-MIAS image is 1024 x 1024 (Info.txt, note 2)
#: mini-MIAS pixel size in mm: the original MIAS films were digitised at 50 um
#: and reduced to 200 um for the mini database (Suckling et al., 1994; the
#: database's README).
SPACING_MM = (0.2, 0.2)

#: MIAS background tissue -> BI-RADS density letter. MIAS has three classes,
#: BI-RADS four. "Fatty" is BI-RADS A (almost entirely fatty) and
#: "fatty-glandular" is B (scattered fibroglandular densities). "Dense-glandular"
#: covers both C (heterogeneously dense) and D (extremely dense); we map it to C,
#: the more frequent of the two in screening populations (roughly 40 % vs 10 %,
#: BI-RADS Atlas 5th ed.), so that "D" keeps its meaning of "extremely dense".
#: The original letter is kept in ``metadata["tissue"]``.
TISSUE_TO_DENSITY = {"F": "A", "G": "B", "D": "C"}

_CLASSES = {"CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM"}
_REF = re.compile(r"mdb\d{3}")

_DESCR = """\
mini-MIAS (Mammographic Image Analysis Society MiniMammographic Database)
------------------------------------------------------------------------

322 digitised screen-film mammograms (UK National Breast Screening Programme),
reduced to 200 micron pixels and padded to 1024 x 1024, 8-bit PGM. Truth data:
one line per abnormality in ``Info.txt`` with class, severity (B/M) and a circle
(centre x, y; radius) enclosing it.

Conversion to the data contract
- One row per lesion; several lesions on one image get ids ``mdbNNN_1``,
  ``mdbNNN_2``... in the order of Info.txt. ``image`` is the PGM path,
  ``mask`` a :class:`~sklearn_llmrad.roi.CircleROI` in pixel (row, col) with
  row = 1024 - y, since Info.txt puts the origin at the bottom-left corner.
- Target: severity B -> 0, M -> 1.
- Not lesions for classification (listed in ``excluded`` with the reason):
  normal images (NORM, no severity) and abnormalities without coordinates
  (calcifications "widely distributed", ``*NOTE 3*``; mdb059).
- Density: background tissue F -> "A", G -> "B", D -> "C" (dense-glandular
  covers BI-RADS C and D; C is the more frequent). ``metadata["tissue"]`` keeps
  the MIAS letter.
- Spacing: 0.2 mm (the 50 um scans reduced to 200 um pixels).
- No age or history is published: ``age`` is NaN, ``history`` None.
- Groups: Info.txt lists the films in left/right pairs of one woman (mdb001 and
  mdb002 ...), so patient = (number + 1) // 2.
- ``metadata`` holds the abnormality class (CIRC, SPIC, ...), a radiologist's
  descriptor strongly tied to the label: do not use it as a feature.

Reference: J Suckling et al. (1994) "The Mammographic Image Analysis Society
Digital Mammogram Database", Excerpta Medica, International Congress Series
1069, pp. 375-378. Licence: free for scientific research, see Licence.txt.
"""


def _parse_info(path):
    """Yield ``(line_number, fields)`` for every data line of Info.txt."""
    # The header is free text; data lines start with a reference number.
    text = path.read_bytes().decode("latin-1")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or not fields[0].lower().startswith("mdb"):
            continue
        if not _REF.fullmatch(fields[0]):
            raise DatasetFormatError(f"{where(path, line=number)}: reference {fields[0]!r} is not of the form mdbNNN")
        yield number, fields


@validate_params(
    LOADER_CONSTRAINTS,
    prefer_skip_nested_validation=True,
)
def load_mias(root, *, labels=True, return_X_y=False):
    r"""Load the mini-MIAS database from its original distribution folder.

    Parameters
    ----------
    root : path-like
        Folder holding ``Info.txt`` and the ``mdbNNN.pgm`` images. Images listed
        in Info.txt but absent from the folder are skipped (a partial copy loads
        what is there) and counted in ``excluded`` and ``DESCR``.
    labels, return_X_y : bool
        Shared by the lesion loaders: see :mod:`sklearn_llmrad.datasets`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame`` (DataFrame indexed by lesion id with columns image, mask, age,
        density, history), ``target`` (0 benign, 1 malignant), ``groups``
        (patient ids), ``DESCR``, ``feature_names``, ``target_names``,
        ``excluded`` (list of ``(case, reason)``), ``metadata`` (DataFrame:
        reference, abnormality class, MIAS tissue, x, y, radius; not features),
        ``n_missing_images``.
    (frame, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    DatasetFormatError
        If Info.txt is missing, a data line is malformed (the message gives the
        line number), or no listed image is present.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "Info.txt").write_text("mdb001 G CIRC B 535 425 197\nmdb002 G NORM\n")
    >>> _ = (root / "mdb001.pgm").write_bytes(b"P5 1 1 255\n\x00")  # existence is enough
    >>> data = load_mias(root)
    >>> data.frame.loc["mdb001_1", "mask"]
    CircleROI(row=599.0, col=535.0, radius=197.0)
    >>> data.target.tolist(), data.groups.tolist()
    ([0], ['mias_patient_001'])
    >>> data.excluded
    [('mdb002', 'image listed in Info.txt but not present on disk')]
    """
    root = Path(root)
    info = root / "Info.txt"
    if not info.is_file():
        raise DatasetFormatError(f"mini-MIAS index {str(info)!r} not found")

    lesions = Lesions()
    lines = list(_parse_info(info))
    n_lines = Counter(fields[0] for _, fields in lines)
    per_image = {}
    listed, missing = set(), set()
    for number, fields in lines:
        ref = fields[0]
        context = where(info, line=number)
        if len(fields) < 3:
            raise DatasetFormatError(f"{context}: expected at least 3 fields, got {len(fields)}")
        tissue, klass = fields[1].upper(), fields[2].upper()
        if tissue not in TISSUE_TO_DENSITY:
            raise DatasetFormatError(f"{context}: background tissue {fields[1]!r} is not F, G or D")
        if klass not in _CLASSES:
            raise DatasetFormatError(f"{context}: abnormality class {fields[2]!r} is unknown")
        listed.add(ref)
        per_image[ref] = per_image.get(ref, 0) + 1
        case = f"{ref}_{per_image[ref]}"
        # an image-level exclusion is named by the image when it has one line
        excluded_id = ref if n_lines[ref] == 1 else case
        image = root / f"{ref}.pgm"
        if not image.is_file():
            missing.add(ref)
            continue
        if klass == "NORM":
            if len(fields) != 3:
                raise DatasetFormatError(f"{context}: a NORM line has no severity or coordinates")
            lesions.exclude(excluded_id, "normal image (NORM): no lesion")
            continue
        severity = fields[3].upper() if len(fields) > 3 else None
        if severity not in ("B", "M"):
            raise DatasetFormatError(f"{context}: severity {fields[3] if len(fields) > 3 else None!r} is not B or M")
        coords = fields[4:]
        if len(coords) != 3 or not all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in coords):
            if len(coords) == 0 or "".join(coords).upper().startswith("*NOTE"):
                lesions.exclude(
                    excluded_id,
                    f"{klass} {severity} without centre/radius (Info.txt note 3: "
                    "widely distributed calcifications or no location given)",
                )
                continue
            raise DatasetFormatError(f"{context}: expected 'x y radius' after the severity, got {' '.join(coords)!r}")
        x, y, radius = (float(c) for c in coords)
        if not (0 <= x < _IMAGE_SIZE and 0 < y <= _IMAGE_SIZE and radius > 0):
            raise DatasetFormatError(
                f"{context}: centre ({x:g}, {y:g}) / radius {radius:g} outside the 1024 x 1024 image"
            )
        lesions.add(
            case,
            image=image,
            mask=CircleROI(row=_IMAGE_SIZE - y, col=x, radius=radius),
            label=int(severity == "M"),
            group=f"mias_patient_{(int(ref[3:]) + 1) // 2:03d}",
            density=TISSUE_TO_DENSITY[tissue],
            spacing=SPACING_MM,
            reference=ref,
            abnormality_class=klass,
            tissue=tissue,
            x=x,
            y=y,
            radius=radius,
        )

    nothing_found = (
        f"no lesion with coordinates found: {len(listed)} images listed in {str(info)!r}, "
        f"{len(listed) - len(missing)} present in {str(root)!r}"
    )
    n_excluded = len(lesions.excluded)
    for ref in sorted(missing):
        lesions.exclude(ref, "image listed in Info.txt but not present on disk")
    descr = _DESCR + (
        f"\nThis copy ({root}): {len(listed)} images listed, {len(missing)} missing on disk, "
        f"{len(lesions)} lesions loaded ({lesions.n_positive} malignant), "
        f"{n_excluded} entries excluded.\n"
    )
    return lesions.bunch(
        descr=descr, nothing_found=nothing_found, return_X_y=return_X_y, labels=labels, n_missing_images=len(missing)
    )
