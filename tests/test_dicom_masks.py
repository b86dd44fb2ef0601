"""DICOM-SEG and RTSTRUCT masks, built in tmp_path with pydicom and highdicom."""

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sklearn_llmrad import CLAHEPreprocessor
from sklearn_llmrad.dicom_masks import RTSTRUCT_STORAGE, dicom_mask_kind
from sklearn_llmrad.exceptions import MaskError
from sklearn_llmrad.imageio import read_mask

ROWS, COLS = 48, 40
MG_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image Storage - For Presentation


def _image(path, *, geometry=False, seed=0):
    """A small MG image file; with ``geometry``, Image Plane attributes (as a CT/MR slice has)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MG_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MG_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "MG"
    ds.PatientID, ds.PatientName, ds.StudyDate, ds.StudyTime = "P1", "Test^Patient", "20240101", "120000"
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "1", ""
    ds.SeriesNumber, ds.InstanceNumber, ds.PatientSex, ds.PatientBirthDate = 1, 1, "F", ""
    ds.Manufacturer = "test"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.ImageLaterality, ds.ViewPosition = "L", "CC"
    if geometry:
        ds.ImagePositionPatient = [10.0, 20.0, 5.0]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [0.1, 0.1]
    pixels = np.random.default_rng(seed).integers(0, 4096, (ROWS, COLS), dtype=np.uint16)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


def _lesion():
    mask = np.zeros((ROWS, COLS), dtype=bool)
    mask[10:30, 8:24] = True
    return mask


def _seg(path, source, masks):
    """A binary SEG of ``source`` with one segment per mask (shape (rows, cols))."""
    algorithm = hd.AlgorithmIdentificationSequence(
        name="test", version="1", family=hd.sr.CodedConcept("123109", "DCM", "Manual Processing")
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=k,
            segment_label=f"lesion {k}",
            segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Abnormal Structure"),
            segmented_property_type=hd.sr.CodedConcept("4147007", "SCT", "Mass"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            algorithm_identification=algorithm,
        )
        for k in range(1, len(masks) + 1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[source],
        pixel_array=np.stack(masks, axis=-1)[None].astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=2,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(path)
    return path


def _rtstruct(path, source, corners_mm, *, reference=True):
    """An RTSTRUCT with one closed planar contour through ``corners_mm`` (x, y) at the image's z."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTSTRUCT_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.Modality = RTSTRUCT_STORAGE, "RTSTRUCT"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    roi = Dataset()
    roi.ReferencedROINumber = 1
    contour = Dataset()
    if reference:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
        contour.ContourImageSequence = [item]
    contour.ContourGeometricType = "CLOSED_PLANAR"
    z = float(source.get("ImagePositionPatient", [0, 0, 0])[2])
    contour.ContourData = [v for x, y in corners_mm for v in (x, y, z)]
    contour.NumberOfContourPoints = len(corners_mm)
    roi.ContourSequence = [contour]
    ds.ROIContourSequence = [roi]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_seg_mask_matches_its_image(tmp_path):
    source = _image(tmp_path / "img.dcm")
    seg = _seg(tmp_path / "seg.dcm", source, [_lesion()])
    assert dicom_mask_kind(seg) == "SEG"
    mask = read_mask(seg, (ROWS, COLS), case="c1", image_file=tmp_path / "img.dcm")
    np.testing.assert_array_equal(mask, _lesion().astype(np.uint8))
    # through the image stage, as a loader's paths
    X = pd.DataFrame({"image": [str(tmp_path / "img.dcm")], "mask": [str(seg)]}, index=["c1"])
    out = CLAHEPreprocessor(resample_to=None, min_size=1, margin=0).fit_transform(X)
    assert out.loc["c1", "mask"].sum() == _lesion().sum()


def test_seg_with_two_segments_is_a_label_map(tmp_path):
    source = _image(tmp_path / "img.dcm")
    second = np.zeros((ROWS, COLS), dtype=bool)
    second[35:45, 30:38] = True
    seg = _seg(tmp_path / "seg.dcm", source, [_lesion(), second])
    mask = read_mask(seg, (ROWS, COLS), image_file=tmp_path / "img.dcm")
    assert set(np.unique(mask)) == {0, 1, 2} and (mask == 2).sum() == second.sum()


def test_seg_of_another_image_is_refused(tmp_path):
    source = _image(tmp_path / "img.dcm")
    other = _image(tmp_path / "other.dcm", seed=1)
    seg = _seg(tmp_path / "seg.dcm", other, [_lesion()])
    with pytest.raises(MaskError, match="SOP Instance UID mismatch") as info:
        read_mask(seg, (ROWS, COLS), case="c2", image_file=tmp_path / "img.dcm")
    assert info.value.case == "c2" and info.value.file == str(seg)
    assert source.SOPInstanceUID not in str(info.value)  # no identifiers in messages
    with pytest.raises(MaskError, match="given as an array"):
        read_mask(seg, (ROWS, COLS), case="c2")


def test_rtstruct_contour_is_placed_with_the_image_geometry(tmp_path):
    source = _image(tmp_path / "img.dcm", geometry=True)
    # the image's pixel (row r, col c) sits at x = 10 + 0.1 c, y = 20 + 0.1 r
    corners = [(10.8, 21.0), (12.3, 21.0), (12.3, 22.9), (10.8, 22.9)]  # cols 8-23, rows 10-29
    rt = _rtstruct(tmp_path / "rt.dcm", source, corners)
    assert dicom_mask_kind(rt) == "RTSTRUCT"
    mask = read_mask(rt, (ROWS, COLS), image_file=tmp_path / "img.dcm")
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 29, 8, 23)
    unreferenced = _rtstruct(tmp_path / "rt2.dcm", source, corners, reference=False)  # in the plane: kept
    np.testing.assert_array_equal(read_mask(unreferenced, (ROWS, COLS), image_file=tmp_path / "img.dcm"), mask)


def test_rtstruct_mismatch_and_missing_geometry(tmp_path):
    source = _image(tmp_path / "img.dcm", geometry=True)
    other = _image(tmp_path / "other.dcm", geometry=True, seed=1)
    rt = _rtstruct(tmp_path / "rt.dcm", other, [(10.8, 21.0), (12.3, 21.0), (12.3, 22.9)])
    with pytest.raises(MaskError, match="no contour .* lies on this image"):
        read_mask(rt, (ROWS, COLS), case="c3", image_file=tmp_path / "img.dcm")
    flat = _image(tmp_path / "flat.dcm")  # a projection image: no Image Plane attributes
    rt = _rtstruct(tmp_path / "rt3.dcm", flat, [(1, 1), (2, 1), (2, 2)])
    with pytest.raises(MaskError, match="no Image Position"):
        read_mask(rt, (ROWS, COLS), case="c3", image_file=tmp_path / "flat.dcm")
    assert source.SOPInstanceUID  # (the source exists; only the other image is referenced)


def test_multi_frame_and_wrong_size_masks_are_refused(tmp_path):
    source = _image(tmp_path / "img.dcm")
    seg = _seg(tmp_path / "seg.dcm", source, [_lesion()])
    with pytest.raises(MaskError, match="frame is 48 x 40, the image 50 x 40") as info:
        read_mask(seg, (50, COLS), case="c4", image_file=tmp_path / "img.dcm")
    assert info.value.case == "c4" and info.value.file == str(seg)
    # a plain DICOM mask holding several frames (a volume) is not a 2-D mask
    volume = pydicom.dcmread(tmp_path / "img.dcm")
    volume.NumberOfFrames = 2
    volume.PixelData = np.zeros((2, ROWS, COLS), np.uint16).tobytes()
    volume.save_as(tmp_path / "volume.dcm")
    with pytest.raises(MaskError, match="2 frames; a single 2-D image is expected") as info:
        read_mask(tmp_path / "volume.dcm", (ROWS, COLS), case="c5")
    assert info.value.case == "c5" and info.value.file == str(tmp_path / "volume.dcm")
