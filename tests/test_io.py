"""Tests for image and mask reading (sklearn_llmrad.imageio)."""

import logging
import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from sklearn_llmrad.exceptions import ImageReadError, LesionError, MaskError
from sklearn_llmrad.imageio import read_image, read_image_info, read_mask
from sklearn_llmrad.roi import BoxROI, CircleROI, PolygonROI

PHI = {"PatientName": "Doe^Jane", "PatientID": "PID-0042-XYZ", "PatientBirthDate": "19570312"}


def write_dicom(
    path, pixels, *, photometric="MONOCHROME2", bits_stored=None, slope=None, intercept=None, rle=False, preamble=True
):
    """Write a small single-frame grayscale DICOM with pydicom."""
    pixels = np.asarray(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # digital mammography
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    for key, value in PHI.items():
        setattr(ds, key, value)
    ds.StudyDate = "20190101"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
    ds.PixelData = pixels.tobytes()
    if rle:
        ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=preamble)
    return path


# --------------------------------------------------------------------- DICOM
def test_real_ddsm_rle_dicom(ddsm_dicoms):
    path = ddsm_dicoms[6]  # the smallest of the eight
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert header.file_meta.TransferSyntaxUID == RLELossless
    image, info = read_image_info(path, case="ddsm")
    assert image.shape == (header.Rows, header.Columns)
    assert image.dtype == np.uint16
    assert info.format == "dicom" and info.bits_stored == 16 and not info.inverted
    assert 0 <= image.min() < image.max() <= 2**16 - 1
    # Breast tissue is brighter than the film background: the median of the
    # image (mostly background) is below its 99th percentile by far.
    assert np.percentile(image, 99) > np.median(image) + 10_000


def test_dicom_detected_by_content_not_extension(tmp_path):
    pixels = np.arange(48, dtype=np.uint16).reshape(6, 8)
    for name in ("scan", "scan.dicom", "scan.bin"):
        write_dicom(tmp_path / name, pixels)
        np.testing.assert_array_equal(read_image(tmp_path / name), pixels)


def test_dicom_without_preamble_with_dcm_suffix(tmp_path):
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = write_dicom(tmp_path / "raw.dcm", pixels, preamble=False)
    assert open(path, "rb").read(132)[128:132] != b"DICM"
    np.testing.assert_array_equal(read_image(path), pixels)


@pytest.mark.parametrize("rle", [False, True])
def test_monochrome1_is_inverted(tmp_path, rle):
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 4096, size=(16, 20)).astype(np.uint16)
    path = write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", bits_stored=12, rle=rle)
    image, info = read_image_info(path)
    assert info.inverted and info.photometric == "MONOCHROME1" and info.bits_stored == 12
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, 4095 - stored.astype(np.int64))
    # dense tissue (low stored values in MONOCHROME1) becomes bright
    assert image[stored == stored.min()].min() == image.max()


def test_dicom_rescale_integral_and_fractional(tmp_path):
    stored = np.array([[0, 10], [100, 4095]], dtype=np.uint16)
    image = read_image(write_dicom(tmp_path / "a.dcm", stored, bits_stored=12, slope=2, intercept=-1024))
    assert np.issubdtype(image.dtype, np.signedinteger)
    np.testing.assert_array_equal(image, stored.astype(np.int64) * 2 - 1024)
    image = read_image(write_dicom(tmp_path / "b.dcm", stored, bits_stored=12, slope=0.5, intercept=1.5))
    assert image.dtype == np.float32
    np.testing.assert_allclose(image, stored * 0.5 + 1.5)


def test_dicom_truncated_and_corrupt(tmp_path):
    path = write_dicom(tmp_path / "ok.dcm", np.ones((64, 64), dtype=np.uint16))
    data = path.read_bytes()
    (tmp_path / "trunc.dcm").write_bytes(data[: len(data) - 3000])
    (tmp_path / "head.dcm").write_bytes(data[:200])
    (tmp_path / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 3)
    for name in ("trunc.dcm", "head.dcm", "garbage.dcm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ImageReadError) as exc:
                read_image(tmp_path / name, case="case_7")
        assert exc.value.case == "case_7"
        assert exc.value.file == str(tmp_path / name)
        assert "case_7" in str(exc.value) and name in str(exc.value)


def test_no_patient_data_in_errors_warnings_or_logs(tmp_path, caplog):
    ds_path = write_dicom(tmp_path / "phi.dcm", np.ones((32, 32), dtype=np.uint16))
    ds = pydicom.dcmread(ds_path)
    ds.Rows = 64  # pixel data now too short for the header: a decode error
    ds.save_as(tmp_path / "bad.dcm")
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageReadError) as exc:
            read_image(tmp_path / "bad.dcm", case="c")
        read_image(ds_path, case="c")
    texts = [str(exc.value)] + [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert "corrupt" in str(exc.value)
    secrets = list(PHI.values()) + ["Doe", "Jane", "20190101"]
    assert not [t for t in texts for s in secrets if s in t]
    assert exc.value.__cause__ is None and exc.value.__context__ is None  # no chained pydicom error


def test_dicom_without_decoder_says_what_to_install(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")  # the error path cannot occur
    path = write_dicom(tmp_path / "jls.dcm", np.zeros((4, 4), dtype=np.uint16), bits_stored=12)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(40)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="no decoder installed for 'JPEG-LS Lossless.*pylibjpeg"):
        read_image(path, case="v1")


# ----------------------------------------------------------------------- PGM
def test_real_mias_pgm(mias_root):
    for name in ("mdb001.pgm", "mdb023.pgm"):
        path = mias_root / name
        image = read_image(path)
        assert image.shape == (1024, 1024) and image.dtype == np.uint8
        raw = path.read_bytes()
        manual = np.frombuffer(raw[-1024 * 1024 :], dtype=np.uint8).reshape(1024, 1024)
        np.testing.assert_array_equal(image, manual)
        assert image.max() > 100  # a mammogram, not an empty frame


def test_pgm_16bit_big_endian_with_comments(tmp_path):
    pixels = np.array([[0, 1, 256], [4095, 1000, 2]], dtype=np.uint16)
    header = b"P5\n# written by a scanner\n3\t2 # trailing comment\n4095\n"
    (tmp_path / "a.pgm").write_bytes(header + pixels.astype(">u2").tobytes())
    image, info = read_image_info(tmp_path / "a.pgm")
    assert image.dtype == np.uint16 and info.bits_stored == 12
    np.testing.assert_array_equal(image, pixels)


def test_pgm_crlf_header_and_no_extension(tmp_path):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    (tmp_path / "img").write_bytes(b"P5\r\n4 3\r\n255\r\n" + pixels.tobytes())
    np.testing.assert_array_equal(read_image(tmp_path / "img"), pixels)


def test_pgm_plain_p2(tmp_path):
    text = "P2\n# plain\n3  2\n\n300\n 0 1 2\r\n300\t7   9\n"
    (tmp_path / "p2.pgm").write_text(text)
    image = read_image(tmp_path / "p2.pgm")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, [[0, 1, 2], [300, 7, 9]])


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"P5\n4 4\n255\n" + bytes(10), "truncated"),
        (b"P5\n4 4\n", "truncated"),
        (b"P5\nfour 4\n255\n" + bytes(16), "corrupt"),
        (b"P5\n2 2\n100\n" + bytes([0, 1, 2, 200]), "above maxval"),
        (b"P2\n2 2\n255\n1 2 3\n", "truncated"),
        (b"P6\n2 2\n255\n" + bytes(12), "unsupported"),
        (b"P5\n0 4\n255\n", "empty"),
    ],
)
def test_pgm_bad_files(tmp_path, content, reason):
    (tmp_path / "bad.pgm").write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as exc:
        read_image(tmp_path / "bad.pgm", case="mdb999")
    assert exc.value.case == "mdb999" and exc.value.file.endswith("bad.pgm")


# ------------------------------------------------------------ SimpleITK formats
@pytest.mark.parametrize(
    "name, dtype",
    [
        ("a.png", np.uint8),
        ("a.png", np.uint16),
        ("a.tif", np.uint16),
        ("a.nrrd", np.float32),
        ("a.bmp", np.uint8),
        ("a.mha", np.int16),
    ],
)
def test_sitk_formats_round_trip(tmp_path, name, dtype):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 200, size=(9, 13)).astype(dtype)
    sitk.WriteImage(sitk.GetImageFromArray(pixels), str(tmp_path / name))
    image = read_image(tmp_path / name)
    assert image.dtype == dtype
    np.testing.assert_array_equal(image, pixels)


def test_nifti_single_slice_volume_is_squeezed(tmp_path):
    pixels = np.arange(30, dtype=np.float32).reshape(1, 5, 6)
    sitk.WriteImage(sitk.GetImageFromArray(pixels), str(tmp_path / "a.nii.gz"))
    image = read_image(tmp_path / "a.nii.gz")
    np.testing.assert_array_equal(image, pixels[0])


def test_rgb_png_grey_accepted_colour_rejected(tmp_path):
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5)
    rgb = np.stack([grey] * 3, axis=-1)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "g.png"))
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), grey)
    rgb[..., 0] = 255
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "c.png"))
    with pytest.raises(ImageReadError, match="colour"):
        read_image(tmp_path / "c.png")


def test_corrupt_png_and_unknown_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    (tmp_path / "notes.xyz").write_text("hello")
    for name in ("bad.png", "notes.xyz"):
        with pytest.raises(ImageReadError, match="unreadable") as exc:
            read_image(tmp_path / name, case=3)
        assert exc.value.case == 3 and name in exc.value.file


# -------------------------------------------------------------- arrays, paths
def test_array_returned_as_is():
    pixels = np.zeros((3, 4), dtype=np.uint16)
    assert read_image(pixels) is pixels
    assert read_image(pixels[None]).shape == (3, 4)
    assert read_image(pixels[:, :, None]).shape == (3, 4)


@pytest.mark.parametrize(
    "array, reason",
    [
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, np.inf]]), "NaN or infinite"),
        (np.zeros((2, 3, 4)), "not 2-D"),
        (np.zeros(5), "not 2-D"),
        (np.zeros((0, 4)), "empty"),
        (np.array([["a", "b"]]), "non-numeric"),
        (np.zeros((2, 2), dtype=bool), "non-numeric"),
        (np.zeros((2, 2), dtype=complex), "non-numeric"),
    ],
)
def test_bad_arrays(array, reason):
    with pytest.raises(ImageReadError, match=reason) as exc:
        read_image(array, case="row_1")
    assert exc.value.case == "row_1"
    assert isinstance(exc.value, LesionError) and isinstance(exc.value, ValueError)


def test_missing_file_and_bad_source(tmp_path):
    with pytest.raises(ImageReadError, match="not found") as exc:
        read_image(tmp_path / "nope.dcm", case="c9")
    assert exc.value.file == str(tmp_path / "nope.dcm") and exc.value.case == "c9"
    with pytest.raises(ImageReadError, match="not a file"):
        read_image(tmp_path)
    with pytest.raises(ImageReadError, match="path or a 2-D array"):
        read_image(42)
    for missing in (None, float("nan"), pd.NA):
        with pytest.raises(ImageReadError, match="missing"):
            read_image(missing, case="c")


# --------------------------------------------------------------------- masks
def test_mask_from_rois():
    shape = (20, 30)
    for roi, expected in [
        (CircleROI(row=10, col=10, radius=3), CircleROI(10, 10, 3).rasterize(shape)),
        (BoxROI(row_min=2, col_min=3, row_max=5, col_max=9), None),
        (PolygonROI(rows=(2, 2, 10, 10), cols=(2, 12, 12, 2)), None),
    ]:
        mask = read_mask(roi, shape)
        assert mask.shape == shape and mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 1}
        if expected is not None:
            np.testing.assert_array_equal(mask, expected)
    assert read_mask(BoxROI(2, 3, 5, 9), shape).sum() == 4 * 7


def test_mask_array_values_kept():
    mask = np.zeros((4, 4), dtype=np.int64)
    mask[1:3, 1:3] = 255
    out = read_mask(mask, (4, 4))
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 255}
    labels = np.zeros((4, 4), dtype=np.int32)
    labels[0, 0], labels[3, 3] = 2, 1000
    out = read_mask(labels, (4, 4))
    assert out.dtype == np.uint16 and set(np.unique(out)) == {0, 2, 1000}
    assert read_mask(mask.astype(bool), (4, 4)).max() == 1
    assert read_mask(mask.astype(np.float32) / 255, (4, 4)).dtype == np.uint8


@pytest.mark.parametrize(
    "mask, reason",
    [
        (np.full((4, 4), 0.5), "fractional"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.full((4, 4), -1), "negative"),
        (np.ones((4, 5)), "does not match image shape"),
        (np.ones((2, 4, 4)), "not 2-D"),
    ],
)
def test_mask_bad_arrays(mask, reason):
    with pytest.raises(MaskError, match=reason) as exc:
        read_mask(mask, (4, 4), case="k", image_file="img.dcm")
    assert exc.value.case == "k" and exc.value.file == "img.dcm"


def test_mask_files(tmp_path):
    mask = np.zeros((10, 12), dtype=np.uint8)
    mask[2:5, 3:8] = 255
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(tmp_path / "m.png"))
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", (10, 12)), mask)
    # DICOM masks keep their stored labels: no MONOCHROME1 inversion
    write_dicom(tmp_path / "m.dcm", mask, photometric="MONOCHROME1", bits_stored=8)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.dcm", (10, 12)), mask)
    with pytest.raises(MaskError, match="does not match") as exc:
        read_mask(tmp_path / "m.png", (10, 13), case="x")
    assert exc.value.file == str(tmp_path / "m.png")
    with pytest.raises(MaskError, match="not found"):
        read_mask(tmp_path / "missing.png", (10, 12), case="x")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(MaskError, match="unreadable"):
        read_mask(tmp_path / "bad.png", (10, 12), case="x")
