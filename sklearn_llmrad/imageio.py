"""Reading mammograms and lesion masks into 2-D numpy arrays.

One entry point per column of the data contract: :func:`read_image` for the
``image`` column and :func:`read_mask` for the ``mask`` column. Both accept a
path or an in-memory array (and :func:`read_mask` a geometric ROI), and raise
:class:`~sklearn_llmrad.exceptions.ImageReadError` /
:class:`~sklearn_llmrad.exceptions.MaskError` naming the case and the file.

Formats
-------
* DICOM (``.dcm``, ``.dicom``, or any name: detected by the ``DICM`` marker at
  byte 128) through pydicom, including RLE Lossless (decoded by pydicom
  itself; JPEG-compressed files need ``pylibjpeg`` or ``gdcm`` installed).
  The Modality LUT / Rescale Slope and Intercept are applied, and
  MONOCHROME1 images (where 0 is white) are inverted so that dense tissue is
  bright, as in MONOCHROME2.
* PGM, binary (P5, 8- or 16-bit big-endian) and plain (P2), with a small
  parser of our own: SimpleITK does not read PGM, and mini-MIAS ships PGM.
* PNG, TIFF, JPEG, BMP, NIfTI, NRRD, MetaImage through SimpleITK.
* Lossless JPEG ``.LJPEG`` (the original DDSM files) through ``imagecodecs``
  (optional extra ``ddsm``).

Pixel spacing
-------------
:func:`read_image_info` returns the pixel size ``(row_mm, col_mm)`` a file
states, or None:

* DICOM, following PS3.3 sec. 10.7.1.1 (Basic Pixel Spacing Calibration
  Macro): *Pixel Spacing* (0028,0030) is the distance in the patient and is
  used when present. Otherwise *Imager Pixel Spacing* (0018,1164), the
  distance at the detector's front plane, which a projection image (DX, MG)
  always has: the breast lies between source and detector, so the detector
  sees it magnified by *Estimated Radiographic Magnification Factor*
  (0018,1114, source-image distance over source-object distance); when that
  attribute is present the imager spacing is divided by it (the rule the IHE
  Mammography Image profile asks displays to follow for measurements), else
  the imager spacing is used as is (contact mammography: factor ~1.0-1.1).
  Digitised films (secondary capture) may state *Nominal Scanned Pixel
  Spacing* (0018,2010), the last resort. ``ImageInfo.spacing_source`` says
  which rule gave the value.
* NIfTI, NRRD, MetaImage, Analyze: the header's spacing (SimpleITK orders it
  x, y = column, row; it is returned as row, column).
* PNG, TIFF, JPEG, BMP, PGM, LJPEG: None. Their resolution fields, when
  present, are a print resolution (dots per inch), not a detector's pixel
  size; the dataset loaders state the spacing of such files.

Privacy: DICOM headers hold patient data. Nothing from a DICOM header other
than pixel-module attributes is ever put in a message; pydicom's own messages
are scrubbed of the header's identifying values before they are shown.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .dicom_masks import dicom_mask_kind, read_dicom_mask
from .exceptions import ImageReadError, MaskError
from .resampling import dicom_spacing
from .roi import rasterize_roi

__all__ = ["read_image", "read_image_info", "read_mask", "ImageInfo", "ljpeg_frame_header"]

_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
_PGM_SUFFIXES = (".pgm", ".pnm")
# formats whose header states a physical pixel size (not a print resolution)
_SPACING_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".hdr", ".img", ".gipl", ".vtk")
_SITK_SUFFIXES = frozenset(
    ".png .tif .tiff .jpg .jpeg .bmp .nii .gz .nrrd .nhdr .mha .mhd .hdr .img .vtk .gipl".split()
)

# Attributes whose values identify a patient, a visit or a site (PS3.15 Annex E
# basic profile, the ones that pydicom messages could plausibly echo).
_PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "IssuerOfPatientID",
    "AccessionNumber",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StationName",
    "DeviceSerialNumber",
)


@dataclass
class ImageInfo:
    """What :func:`read_image_info` learnt about an image besides its pixels.

    Attributes
    ----------
    format : str
        ``"dicom"``, ``"pgm"``, ``"sitk"`` (any SimpleITK format) or ``"array"``.
    bits_stored : int or None
        DICOM *Bits Stored*, or the bits needed for a PGM's maxval.
    photometric : str or None
        DICOM *Photometric Interpretation* as found in the file (the returned
        pixels are always MONOCHROME2-like: high = dense).
    inverted : bool
        Whether the pixels were inverted (MONOCHROME1).
    spacing : tuple of float or None
        Pixel spacing (row, column) in mm when the file states it (see the
        module notes for the rules).
    spacing_source : str or None
        Which header field gave ``spacing``: ``"PixelSpacing"``,
        ``"ImagerPixelSpacing"``, ``"ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"``,
        ``"NominalScannedPixelSpacing"`` or ``"header"`` (NIfTI, NRRD...).
    """

    format: str
    bits_stored: int | None = None
    photometric: str | None = None
    inverted: bool = False
    spacing: tuple | None = field(default=None)
    spacing_source: str | None = None


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #
def read_image(source, *, case=None):
    """Read a mammogram as a 2-D array.

    Parameters
    ----------
    source : str, os.PathLike or ndarray
        A file path (DICOM, PGM, PNG, TIFF, JPEG, BMP, NIfTI, NRRD, MHA) or
        an array. A 2-D array is validated and returned as is (no copy); a
        3-D array with one singleton axis is squeezed.
    case : object, default=None
        The case identifier, used in error messages.

    Returns
    -------
    image : ndarray of shape (rows, columns)
        Native numeric dtype (uint8, uint16, a signed integer type after a
        DICOM rescale with integral slope and intercept, float32 for a
        fractional rescale, or whatever float type the file holds). High
        values are dense tissue.

    Raises
    ------
    ImageReadError
        Missing, unreadable, corrupt or truncated file; an image that is not
        2-D, is empty, holds NaN/inf, or is not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> read_image(np.arange(6, dtype=np.uint8).reshape(1, 2, 3)).shape
    (2, 3)
    >>> read_image(np.full((2, 2), np.nan), case="c1")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.ImageReadError: case 'c1': image has NaN or infinite pixels
    """
    return read_image_info(source, case=case)[0]


def read_image_info(source, *, case=None):
    """Like :func:`read_image`, also returning an :class:`ImageInfo`.

    Parameters
    ----------
    source : str, os.PathLike or ndarray
        A file path or an array, as for :func:`read_image`.
    case : object, default=None
        The case identifier, used in error messages.

    Returns
    -------
    image : ndarray of shape (rows, columns)
        The image, exactly as :func:`read_image` returns it.
    info : ImageInfo
        How it was read: format, bits stored, photometric interpretation,
        whether it was inverted, pixel spacing.

    Raises
    ------
    ImageReadError
        As :func:`read_image`.

    Examples
    --------
    >>> import numpy as np
    >>> image, info = read_image_info(np.zeros((4, 4), dtype=np.uint16))
    >>> info.format, image.dtype.name
    ('array', 'uint16')
    """
    if isinstance(source, np.ndarray):
        return _validate_image(source, case=case, file=None), ImageInfo(format="array")
    path = _as_path(source, case=case, error=ImageReadError, what="image")
    image, info = _read_file(path, case=case, error=ImageReadError, raw=False)
    return _validate_image(image, case=case, file=path), info


def read_mask(source, shape, *, case=None, image_file=None):
    """Read a lesion mask onto an image grid of ``shape``.

    Label values are returned as stored (0/1, 0/255, or a label map); which
    value is the lesion is decided by the preprocessor.

    Parameters
    ----------
    source : str, os.PathLike, ndarray or geometric ROI
        A mask file (any format :func:`read_image` reads; DICOM masks are read
        without rescale or MONOCHROME1 inversion so the stored labels are
        kept; a DICOM Segmentation or RT Structure Set is matched to the image
        in ``image_file`` by :mod:`sklearn_llmrad.dicom_masks`), a 2-D
        integer/bool array, or a
        :class:`~sklearn_llmrad.roi.CircleROI` /
        :class:`~sklearn_llmrad.roi.BoxROI` /
        :class:`~sklearn_llmrad.roi.PolygonROI`, which is rasterised on
        ``shape``.
    shape : tuple of int
        The shape of the image the mask belongs to.
    case : object, default=None
        The case identifier, used in error messages.
    image_file : str or os.PathLike, default=None
        The image's file, named in errors when the mask has no file itself.

    Returns
    -------
    mask : ndarray of shape ``shape``
        uint8 when the labels fit in 0..255, else the original unsigned
        integer type.

    Raises
    ------
    MaskError
        Missing or unreadable file, shape different from ``shape``, negative,
        fractional or NaN values.

    Examples
    --------
    >>> from sklearn_llmrad.roi import CircleROI
    >>> read_mask(CircleROI(row=2, col=2, radius=1), (5, 5)).sum().item()
    5
    >>> read_mask(np.ones((3, 3), dtype=bool), (4, 4), case="c2")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.MaskError: case 'c2': mask shape (3, 3) does not match image shape (4, 4)
    """
    shape = tuple(int(s) for s in shape)
    if hasattr(source, "rasterize"):
        return np.ascontiguousarray(rasterize_roi(source, shape), dtype=np.uint8)
    if isinstance(source, np.ndarray):
        file = image_file
        mask = source
    else:
        file = _as_path(source, case=case, error=MaskError, what="mask")
        kind = dicom_mask_kind(file) if _sniff_safe(file) == "dicom" else None
        if kind is not None:
            image_path = os.fspath(image_file) if isinstance(image_file, (str, os.PathLike)) else None
            return read_dicom_mask(file, image_path, shape, case=case, kind=kind)
        mask, _ = _read_file(file, case=case, error=MaskError, raw=True)
    mask = _squeeze(mask, case=case, file=file, error=MaskError, what="mask")
    if mask.shape != shape:
        raise MaskError(
            f"mask shape {mask.shape} does not match image shape {shape}",
            case=case,
            file=file,
        )
    return _mask_values(mask, case=case, file=file)


# --------------------------------------------------------------------------- #
# dispatch
# --------------------------------------------------------------------------- #
def _as_path(source, *, case, error, what):
    if (
        source is None
        or (isinstance(source, float) and np.isnan(source))
        or type(source).__name__ in ("NAType", "NaTType")  # pandas missing values
    ):
        raise error(f"no {what} given (missing value)", case=case)
    if not isinstance(source, (str, os.PathLike)):
        raise error(f"{what} must be a path or a 2-D array, got {type(source).__name__}", case=case)
    path = os.fspath(source)
    if not os.path.exists(path):
        raise error(f"{what} file not found", case=case, file=path)
    if not os.path.isfile(path):
        raise error(f"{what} path is not a file", case=case, file=path)
    return path


def _sniff(path):
    with open(path, "rb") as fh:
        head = fh.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        return "dicom"
    if head[:2] in (b"P5", b"P2") and (len(head) < 3 or head[2:3].isspace() or head[2:3] == b"#"):
        return "pgm"
    lower = path.lower()
    if lower.endswith(_DICOM_SUFFIXES):
        return "dicom"  # DICOM without the 128-byte preamble (old ACR-NEMA style)
    if lower.endswith(_PGM_SUFFIXES):
        return "pgm"
    return "sitk"


def _sniff_safe(path):
    try:
        return _sniff(path)
    except OSError:
        return None  # reported by the reader


def _read_file(path, *, case, error, raw):
    try:
        kind = _sniff(path)
    except OSError as exc:
        raise error(f"cannot open file ({exc.strerror})", case=case, file=path) from None
    if kind == "dicom":
        # force=True reads DICOM without the 128-byte preamble (named .dcm)
        return _read_dicom(path, case=case, error=error, raw=raw, force=True)
    if kind == "pgm":
        return _read_pgm(path, case=case, error=error)
    if path.lower().endswith(".ljpeg"):
        return _read_ljpeg(path, case=case, error=error)
    try:
        return _read_sitk(path, case=case, error=error)
    except error:
        if os.path.splitext(path)[1].lower() in _SITK_SUFFIXES:
            raise
        # Last chance for a DICOM file with neither preamble nor a DICOM name.
        try:
            return _read_dicom(path, case=case, error=error, raw=raw, force=True, quiet=True)
        except error:
            pass
        raise


# --------------------------------------------------------------------------- #
# DICOM
# --------------------------------------------------------------------------- #
def _scrub(message, ds):
    """Remove identifying header values from a (pydicom) message.

    The values are taken from the raw, still-undecoded elements: decoding a
    patient element would run pydicom's value validation, whose warnings (and
    log records) quote the value.
    """
    if ds is None:
        return message
    for keyword in _PHI_KEYWORDS:
        try:
            elem = ds.get_item(keyword)
        except Exception:  # a malformed element must not stop the scrubbing
            continue
        if elem is None or elem.value is None:
            continue
        value = elem.value
        if isinstance(value, bytes):
            texts = value.decode("latin-1", "replace").split("\\")
        elif isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            texts = [str(v) for v in value]
        else:
            texts = [str(value)]
        for text in texts:
            text = text.strip(" \x00")
            if len(text) >= 2:
                for variant in (text, text.replace("^", " ").strip(), repr(text)):
                    message = message.replace(variant, "<redacted>")
    return message


def _short(message, limit=200):
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _read_dicom(path, *, case, error, raw, force=False, quiet=False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    ds = None
    failure = None
    # Warnings are recorded and re-emitted after scrubbing; re-emitting inside
    # the recording context would append to the list being iterated.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=force)
            arr = _dicom_pixels(ds, force=force, case=case, error=error, path=path)
            info = _dicom_info(ds)
            if not raw:
                arr = _dicom_values(arr, ds, info)
        except error as exc:
            failure = exc
        except InvalidDicomError:
            failure = error("not a valid DICOM file", case=case, file=path)
        except Exception as exc:  # pydicom raises many types for corrupt data
            failure = _dicom_failure(exc, ds, case=case, error=error, path=path)
    # If the header could not be parsed there is nothing to scrub with: its
    # warnings are dropped rather than risk quoting patient data.
    if not quiet and ds is not None:
        for w in caught:
            warnings.warn(f"{path}: {_short(_scrub(str(w.message), ds))}", w.category, stacklevel=3)
    if failure is not None:
        raise failure  # raised outside the except: no chained pydicom message
    return arr, info


def _dicom_failure(exc, ds, *, case, error, path):
    if "missing dependencies" in str(exc):
        syntax = ds.file_meta.get("TransferSyntaxUID") if ds is not None else None
        name = getattr(syntax, "name", "compressed")
        return error(
            f"no decoder installed for {name!r} DICOM pixel data; install one of: "
            "pylibjpeg with pylibjpeg-libjpeg / pylibjpeg-openjpeg, pyjpegls, "
            "python-gdcm (see pydicom's pixel data handler docs)",
            case=case,
            file=path,
        )
    # Without a parsed header the message cannot be scrubbed: keep the type only.
    reason = f": {_short(_scrub(str(exc), ds))}" if ds is not None else ""
    return error(f"unreadable or corrupt DICOM ({type(exc).__name__}{reason})", case=case, file=path)


def _dicom_info(ds):
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    bits_stored = ds.get("BitsStored")
    bits_stored = None if bits_stored is None else int(bits_stored)
    spacing, source = dicom_spacing(ds)
    return ImageInfo(
        format="dicom", bits_stored=bits_stored, photometric=photometric, spacing=spacing, spacing_source=source
    )


def _dicom_values(arr, ds, info):
    """Stored values to MONOCHROME2-like modality values."""
    arr, lo, hi = _modality(arr, ds, info.bits_stored)
    if info.photometric == "MONOCHROME1":
        # Invert about the nominal value range (not the observed one), so the
        # same stored value always maps to the same output value.
        arr = _invert(arr, lo, hi)
        info.inverted = True
    return arr


def _dicom_pixels(ds, *, force, case, error, path):
    import pydicom

    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise error("DICOM file has no pixel data (truncated or not an image)", case=case, file=path)
    if force and "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise error(
            f"DICOM image has {samples} samples per pixel; a grayscale mammogram is expected",
            case=case,
            file=path,
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise error(f"DICOM image has {frames} frames; a single 2-D image is expected", case=case, file=path)
    return ds.pixel_array


def _stored_range(arr, ds, bits_stored):
    bits = bits_stored or arr.dtype.itemsize * 8
    if np.issubdtype(arr.dtype, np.floating):
        return float(np.min(arr)), float(np.max(arr))
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _modality(arr, ds, bits_stored):
    """Apply the Modality LUT or rescale; return the array and its nominal range."""
    from pydicom.pixels import apply_modality_lut

    lo, hi = _stored_range(arr, ds, bits_stored)
    if ds.get("ModalityLUTSequence"):
        out = apply_modality_lut(arr, ds)
        return out, 0, int(np.iinfo(out.dtype).max)
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    slope = 1.0 if slope is None else float(slope)
    intercept = 0.0 if intercept is None else float(intercept)
    if slope == 1.0 and intercept == 0.0:
        return arr, lo, hi
    lo, hi = sorted((lo * slope + intercept, hi * slope + intercept))
    if slope.is_integer() and intercept.is_integer() and not np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.int64) * int(slope) + int(intercept)
        dtype = np.result_type(np.min_scalar_type(int(lo)), np.min_scalar_type(int(hi)))
        return out.astype(dtype), int(lo), int(hi)
    # float32 holds every 16-bit stored value exactly
    out = arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    return out, lo, hi


def _invert(arr, lo, hi):
    if np.issubdtype(arr.dtype, np.floating):
        return (lo + hi) - arr
    out = (int(lo) + int(hi)) - arr.astype(np.int64)
    info = np.iinfo(arr.dtype)
    # stored values above Bits Stored (junk high bits) can leave the dtype's range
    return out.astype(arr.dtype) if info.min <= out.min() and out.max() <= info.max else out


# --------------------------------------------------------------------------- #
# PGM (Netpbm, grayscale)
# --------------------------------------------------------------------------- #
_TOKEN = re.compile(rb"#[^\r\n]*|[^\s#]+")


def _pgm_header(data, *, case, error, path):
    """Parse magic, width, height, maxval; return them and the raster offset.

    Netpbm allows comments (``#`` to end of line) and any whitespace between
    header fields; exactly one whitespace byte separates maxval from a P5
    raster.
    """
    tokens = []
    pos = 0
    for match in _TOKEN.finditer(data[:4096]):
        if match.group().startswith(b"#"):
            continue
        tokens.append(match.group())
        pos = match.end()
        if len(tokens) == 4:
            break
    if len(tokens) < 4:
        raise error("truncated PGM header", case=case, file=path)
    magic = tokens[0]
    try:
        width, height, maxval = (int(t) for t in tokens[1:4])
    except ValueError:
        raise error("corrupt PGM header (non-integer width/height/maxval)", case=case, file=path) from None
    if width <= 0 or height <= 0:
        raise error(f"PGM image is empty ({width} x {height})", case=case, file=path)
    if not 0 < maxval < 65536:
        raise error(f"PGM maxval {maxval} outside 1..65535", case=case, file=path)
    if pos >= len(data) or not data[pos : pos + 1].isspace():
        if magic == b"P5":
            raise error("truncated PGM: no pixel data after the header", case=case, file=path)
    return magic, width, height, maxval, pos + 1


def _read_pgm(path, *, case, error):
    with open(path, "rb") as fh:
        data = fh.read()
    magic, width, height, maxval, offset = _pgm_header(data, case=case, error=error, path=path)
    n = width * height
    if magic == b"P5":
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")  # 16-bit PGM is big-endian
        need = n * dtype.itemsize
        have = len(data) - offset
        if have == need + 1 and data[offset - 1 : offset + 1] == b"\r\n":
            offset, have = offset + 1, have - 1  # header written with CRLF line ends
        if have < need:
            raise error(
                f"truncated PGM: {have} bytes of pixel data, {need} expected for {width} x {height} at maxval {maxval}",
                case=case,
                file=path,
            )
        # Bytes after the raster may be further images (Netpbm allows it): the
        # first one is read.
        image = np.frombuffer(data, dtype=dtype, count=n, offset=offset).reshape(height, width)
        image = image.astype(np.uint8 if maxval < 256 else np.uint16)
    elif magic == b"P2":
        tokens = [t for t in _TOKEN.findall(data[offset - 1 :]) if not t.startswith(b"#")]
        if len(tokens) < n:
            raise error(f"truncated plain PGM: {len(tokens)} of {n} pixel values", case=case, file=path)
        try:
            values = np.array([int(t) for t in tokens[:n]], dtype=np.int64)
        except ValueError:
            raise error("corrupt plain PGM: non-integer pixel value", case=case, file=path) from None
        if values.min() < 0:
            raise error("corrupt plain PGM: negative pixel value", case=case, file=path)
        image = values.reshape(height, width).astype(np.uint8 if maxval < 256 else np.uint16)
    else:
        raise error(
            f"unsupported Netpbm type {magic[:2].decode('ascii', 'replace')!r}; only grayscale PGM (P5, P2) is read",
            case=case,
            file=path,
        )
    if int(image.max()) > maxval:
        raise error(f"corrupt PGM: pixel value {int(image.max())} above maxval {maxval}", case=case, file=path)
    return image, ImageInfo(format="pgm", bits_stored=int(maxval).bit_length())


# --------------------------------------------------------------------------- #
# lossless JPEG (.LJPEG, the original DDSM files)
# --------------------------------------------------------------------------- #
def ljpeg_frame_header(data):
    """Read ``(precision, rows, columns)`` from a JPEG stream's frame header.

    The frame header (SOFn) is read without decoding the pixels; bytes before
    the start-of-image marker are skipped.

    Parameters
    ----------
    data : bytes
        The file's content (the header is near the start: a few kB suffice).

    Returns
    -------
    precision, rows, columns : int

    Raises
    ------
    ValueError
        No start-of-image marker, a corrupt marker structure, or no frame header.

    Examples
    --------
    >>> ljpeg_frame_header(bytes.fromhex("ffd8 ffc3 000b 0c 003c 0028 01 011100"))
    (12, 60, 40)
    """
    i = data.find(b"\xff\xd8")
    if i < 0:
        raise ValueError("no JPEG start-of-image marker")
    i += 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"corrupt JPEG marker structure at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                break
            return data[i + 4], int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    raise ValueError("no JPEG frame header (SOF) found")


def _read_ljpeg(path, *, case, error):
    """Decode a DDSM ``.LJPEG`` (lossless JPEG, SOF3) with imagecodecs."""
    advice = (
        "or provide the 16-bit PNG/TIFF conversion of this file next to it (same name, .png or .tif instead of .LJPEG)"
    )
    try:
        import imagecodecs
    except ImportError:
        raise error(
            f"reading lossless JPEG needs the imagecodecs package (pip install 'sklearn-llmrad[ddsm]'), {advice}",
            case=case,
            file=path,
        ) from None
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        precision, rows, cols = ljpeg_frame_header(data)
    except ValueError as exc:
        raise error(f"not a readable lossless JPEG ({exc}); {advice}", case=case, file=path) from None
    failures = []
    for decode in (imagecodecs.ljpeg_decode, imagecodecs.jpegsof3_decode):
        try:
            image = np.asarray(decode(data[data.find(b"\xff\xd8") :]))
        except Exception as exc:  # each codec raises its own error type
            failures.append(f"{decode.__name__}: {_short(str(exc) or type(exc).__name__, 80)}")
            continue
        if image.shape != (rows, cols):
            failures.append(f"{decode.__name__}: decoded {image.shape}, header says {(rows, cols)}")
            continue
        if image.size and int(image.max()) >= 2**precision:
            # a lossless decode cannot exceed the stated precision: the decoder misread the stream
            failures.append(f"{decode.__name__}: values up to {int(image.max())} in a {precision}-bit image")
            continue
        return image, ImageInfo(format="ljpeg", bits_stored=int(precision))
    raise error(f"cannot decode lossless JPEG ({'; '.join(failures)}); {advice}", case=case, file=path)


# --------------------------------------------------------------------------- #
# SimpleITK formats
# --------------------------------------------------------------------------- #
def _read_sitk(path, *, case, error):
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(path)
    except RuntimeError as exc:
        # SimpleITK's messages are multi-line C++ traces: keep the gist.
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        gist = lines[-1] if lines else type(exc).__name__
        raise error(f"unreadable or unsupported image file ({_short(gist)})", case=case, file=path) from None
    arr = sitk.GetArrayFromImage(img)
    components = img.GetNumberOfComponentsPerPixel()
    if components > 1:
        # arr is (..., components). Grayscale saved as RGB(A) is common for
        # PNG/JPEG exports: accept it when the colour channels agree.
        colour = arr[..., :3] if components in (3, 4) else arr
        if (
            components in (3, 4)
            and np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])
        ):
            arr = np.ascontiguousarray(colour[..., 0])
        elif components == 2:  # gray + alpha
            arr = np.ascontiguousarray(arr[..., 0])
        else:
            raise error(
                f"colour image ({components} channels that differ); a grayscale mammogram is expected",
                case=case,
                file=path,
            )
    spacing = None
    if path.lower().endswith(_SPACING_SUFFIXES):
        # SimpleITK orders (x=column, y=row[, z]); ours is (row, column)
        spacing = tuple(float(s) for s in reversed(img.GetSpacing()))[-2:]
    return arr, ImageInfo(format="sitk", spacing=spacing, spacing_source=None if spacing is None else "header")


# --------------------------------------------------------------------------- #
# validation
# --------------------------------------------------------------------------- #
def _squeeze(arr, *, case, file, error, what):
    arr = np.asarray(arr)
    if arr.ndim == 3 and 1 in arr.shape:
        arr = arr.squeeze(axis=arr.shape.index(1))
    if arr.ndim != 2:
        raise error(f"{what} is not 2-D (shape {arr.shape})", case=case, file=file)
    if arr.size == 0:
        raise error(f"{what} is empty (shape {arr.shape})", case=case, file=file)
    if arr.dtype == bool and what == "mask":
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise error(f"{what} has non-numeric dtype {arr.dtype}", case=case, file=file)
    return arr


def _validate_image(arr, *, case, file):
    arr = _squeeze(arr, case=case, file=file, error=ImageReadError, what="image")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ImageReadError("image has NaN or infinite pixels", case=case, file=file)
    return arr


def _mask_values(mask, *, case, file):
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    if np.issubdtype(mask.dtype, np.floating):
        if not np.isfinite(mask).all():
            raise MaskError("mask has NaN or infinite values", case=case, file=file)
        if not np.array_equal(mask, np.round(mask)):
            raise MaskError(
                "mask has fractional values (a probability map?); threshold it to integer labels first",
                case=case,
                file=file,
            )
    lo, hi = mask.min(), mask.max()
    if lo < 0:
        raise MaskError(f"mask has negative values (min {lo})", case=case, file=file)
    if hi <= 255:
        return mask.astype(np.uint8, copy=False)
    return mask.astype(np.min_scalar_type(int(hi)), copy=False)
