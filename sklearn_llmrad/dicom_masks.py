"""Lesion masks as clinics store them: DICOM Segmentation (SEG) and RT Structure Set (RTSTRUCT).

:func:`~sklearn_llmrad.imageio.read_mask` sends a DICOM mask file of either
kind here; the result is a 2-D label map on the image's pixel grid.

* **SEG** is read with highdicom (``highdicom.seg.segread``). Its frames say
  which source image they segment (Derivation Image / Source Image
  Sequences): the frames of the image's SOP Instance UID are taken, each
  segment drawn with its Segment Number as the label (a binary SEG with one
  segment gives a 0/1 mask; several segments give a label map, from which
  ``label=`` picks one). A SEG that does not reference the image, or holds
  several frames of one segment for it (a volume, not a 2-D mask), or whose
  frames are not the image's size, is refused naming the case and the file.
* **RTSTRUCT** is read with pydicom. Contours are polygons in patient
  coordinates (mm); those that reference the image (Contour Image Sequence),
  or, without a reference, lie in its plane, are mapped to pixel positions
  with highdicom's ``ReferenceToPixelTransformer`` from the image's Image
  Position / Orientation (Patient) and Pixel Spacing, and rasterised (each ROI
  with its ROI Number as the label). An image without that geometry (most
  DX/MG projection images have none) cannot place contours: refused with the
  reason.
"""

from __future__ import annotations

import numpy as np

from .exceptions import MaskError
from .roi import PolygonROI, rasterize_roi

__all__ = ["RTSTRUCT_STORAGE", "SEGMENTATION_STORAGE", "dicom_mask_kind", "read_dicom_mask"]

#: SOP Class UIDs (PS3.4 Annex B.5)
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def dicom_mask_kind(path):
    """``"SEG"``, ``"RTSTRUCT"`` or None for another DICOM file (or an unreadable one).

    Parameters
    ----------
    path : str or os.PathLike
        A DICOM file (only its SOP Class UID is read).

    Returns
    -------
    str or None

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.dcm")
    >>> _ = open(path, "wb").write(b"not DICOM")
    >>> print(dicom_mask_kind(path))
    None
    """
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=["SOPClassUID", "Modality"])
    except Exception:  # not DICOM, truncated: the ordinary reader reports it
        return None
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == SEGMENTATION_STORAGE:
        return "SEG"
    if sop_class == RTSTRUCT_STORAGE:
        return "RTSTRUCT"
    return None


def read_dicom_mask(path, image_file, shape, *, case=None, kind=None):
    """Read a DICOM-SEG or RTSTRUCT mask onto the grid of the image it annotates.

    Parameters
    ----------
    path : str
        The SEG or RTSTRUCT file.
    image_file : str or None
        The image's DICOM file: its SOP Instance UID (and, for RTSTRUCT, its
        geometry) match the mask to it. None (an image given as an array) is
        refused.
    shape : tuple of int
        The image's (rows, columns).
    case : object, default=None
        Named in errors.
    kind : {"SEG", "RTSTRUCT"} or None, default=None
        What :func:`dicom_mask_kind` said of ``path``, when the caller has already
        asked (None: read it here).

    Returns
    -------
    ndarray of uint8 (or uint16 beyond 255 labels), shape ``shape``
        Label map: 0 background, segment / ROI numbers elsewhere.

    Raises
    ------
    MaskError
        Not matched to the image (no reference, another image, another size),
        a volume instead of a 2-D mask, or unreadable; naming case and file.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "seg.dcm")
    >>> _ = open(path, "wb").write(b"")
    >>> read_dicom_mask(path, None, (4, 4), case="c1")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.MaskError: case 'c1' (file '...seg.dcm'): a DICOM mask is matched to its image ...
    """
    import pydicom

    kind = dicom_mask_kind(path) if kind is None else kind
    if image_file is None:
        raise MaskError(
            f"a DICOM {kind or 'mask'} is matched to its image through the image's DICOM header; "
            "the image was given as an array, not a file",
            case=case,
            file=path,
        )
    try:
        image = pydicom.dcmread(image_file, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise MaskError(
            f"cannot read the image header {image_file!r} ({type(exc).__name__})", case=case, file=path
        ) from None
    uid = str(image.get("SOPInstanceUID", ""))
    if kind == "SEG":
        labels = _read_seg(path, uid, case=case)
    elif kind == "RTSTRUCT":
        labels = _read_rtstruct(path, image, uid, shape, case=case)
    else:
        raise MaskError("not a DICOM Segmentation or RT Structure Set", case=case, file=path)
    if labels.shape != tuple(shape):
        raise MaskError(
            f"DICOM {kind} frame is {labels.shape[0]} x {labels.shape[1]}, the image {shape[0]} x {shape[1]}",
            case=case,
            file=path,
        )
    return labels.astype(np.uint8 if labels.max(initial=0) <= 255 else np.uint16)


def _read_seg(path, uid, *, case):
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # highdicom raises many types for malformed files
        raise MaskError(f"unreadable DICOM Segmentation ({type(exc).__name__}: {exc})", case=case, file=path) from None
    referenced = {str(ref[-1]) for ref in seg.get_source_image_uids()}
    if uid not in referenced:
        raise MaskError(
            f"the DICOM Segmentation references {len(referenced)} other image(s), not this image "
            "(SOP Instance UID mismatch): mask and image do not belong together",
            case=case,
            file=path,
        )
    numbers = list(seg.segment_numbers)
    try:
        pixels = seg.get_pixels_by_source_instance(
            [uid], segment_numbers=numbers, combine_segments=False, rescale_fractional=True
        )
    except Exception as exc:
        raise MaskError(
            f"cannot take this image's frames from the DICOM Segmentation ({type(exc).__name__}: {exc}); "
            "a multi-frame (volume) segmentation of one image is not a 2-D mask",
            case=case,
            file=path,
        ) from None
    # (1 image, rows, columns, segments): each segment's pixels get its number
    pixels = np.asarray(pixels)
    if pixels.ndim != 4 or pixels.shape[0] != 1:
        raise MaskError(f"DICOM Segmentation frames of shape {pixels.shape} for one image", case=case, file=path)
    labels = np.zeros(pixels.shape[1:3], dtype=np.uint16)
    for k, number in enumerate(numbers):
        present = pixels[0, :, :, k] >= 0.5  # FRACTIONAL segments rescaled to [0, 1]
        overlap = present & (labels > 0)
        if overlap.any():
            raise MaskError(
                f"segments {int(labels[overlap][0])} and {number} overlap on {int(overlap.sum())} pixel(s); "
                "one label per pixel is expected",
                case=case,
                file=path,
            )
        labels[present] = number
    return labels


def _read_rtstruct(path, image, uid, shape, *, case):
    import highdicom as hd
    import pydicom

    try:
        rt = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise MaskError(f"unreadable RT Structure Set ({type(exc).__name__})", case=case, file=path) from None
    position, orientation = image.get("ImagePositionPatient"), image.get("ImageOrientationPatient")
    spacing = image.get("PixelSpacing")
    if position is None or orientation is None or spacing is None:
        raise MaskError(
            "RT Structure Set contours are in patient coordinates, and the image has no Image Position / "
            "Orientation (Patient) and Pixel Spacing to place them (projection images usually have none)",
            case=case,
            file=path,
        )
    to_pixels = hd.spatial.ReferenceToPixelTransformer(
        image_position=[float(v) for v in position],
        image_orientation=[float(v) for v in orientation],
        pixel_spacing=[float(v) for v in spacing],
        round_output=False,
    )
    labels = np.zeros(shape, dtype=np.uint16)
    found = 0
    for roi in rt.get("ROIContourSequence", []):
        number = int(roi.get("ReferencedROINumber", 1))
        for contour in roi.get("ContourSequence", []):
            refs = [str(r.get("ReferencedSOPInstanceUID", "")) for r in contour.get("ContourImageSequence", [])]
            points = np.asarray(contour.get("ContourData", []), dtype=np.float64).reshape(-1, 3)
            if len(points) < 3:
                continue
            pixels = to_pixels(points)  # (column, row, distance from the plane in mm)
            if (refs and uid not in refs) or (not refs and np.abs(pixels[:, 2]).max() > 0.5):
                continue
            polygon = PolygonROI(rows=tuple(pixels[:, 1].tolist()), cols=tuple(pixels[:, 0].tolist()))
            labels[rasterize_roi(polygon, shape) > 0] = number
            found += 1
    if not found:
        raise MaskError(
            "no contour of the RT Structure Set lies on this image (none references its SOP Instance UID "
            "or its plane): mask and image do not belong together",
            case=case,
            file=path,
        )
    return labels
