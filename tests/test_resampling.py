"""Physical units: spacing parsing, resampling to one grid, and the stages that use them."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_llmrad import CLAHEPreprocessor, RadiomicsExtractor
from sklearn_llmrad.io import load, save
from sklearn_llmrad.resampling import DEFAULT_SPACING_MM, as_spacing, resample_roi, same_spacing

SMALL = dict(image_types=["Original", "LoG"], feature_classes=["firstorder", "shape2D"], progress=False)


def _disc(n, spacing, radius_mm=2.0, seed=0):
    """A smooth textured disc of ``radius_mm`` rendered on an n x n grid of ``spacing`` mm."""
    yy, xx = (np.mgrid[:n, :n] + 0.5) * spacing - n * spacing / 2
    r = np.hypot(yy, xx)
    image = 100 + 50 * (r < radius_mm) + 10 * np.sin(xx / 0.7) * np.cos(yy / 0.9)
    return image, (r < radius_mm).astype(np.uint8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.05, (0.05, 0.05)), ((0.1, 0.2), (0.1, 0.2)), ("0.07\\0.08", (0.07, 0.08)), ("", None), (None, None)],
)
def test_as_spacing(value, expected):
    assert as_spacing(value) == expected


@pytest.mark.parametrize("bad", [-1, (0.1, 0.1, 0.1), "abc", (np.inf, 1), True])
def test_as_spacing_refuses(bad):
    with pytest.raises(ValueError, match="positive finite"):
        as_spacing(bad)


def test_resample_roi_grid_and_area():
    image, mask = _disc(160, 0.05)
    out, out_mask = resample_roi(image, mask, 0.05, 0.1)
    assert out.shape == out_mask.shape == (80, 80)
    # area in mm^2 is kept (within the boundary pixels)
    assert abs(out_mask.sum() * 0.01 - mask.sum() * 0.0025) < 0.05 * mask.sum() * 0.0025
    # anti-aliased down-sampling equals area averaging inside smooth regions
    blocks = image.reshape(80, 2, 80, 2).mean(axis=(1, 3))
    inner = (slice(20, 60), slice(20, 60))
    assert np.abs(out[inner] - blocks[inner]).max() < 5.0
    up, up_mask = resample_roi(out, out_mask, (0.1, 0.1), (0.05, 0.05), interpolator="linear")
    assert up.shape == (160, 160) and set(np.unique(up_mask)) <= {0, 1}
    same, same_mask = resample_roi(image, mask, 0.05, 0.05)
    np.testing.assert_allclose(same, image)
    np.testing.assert_array_equal(same_mask, mask)
    with pytest.raises(ValueError, match="interpolator"):
        resample_roi(image, mask, 0.05, 0.1, interpolator="cubic")
    assert same_spacing((0.1, 0.1), (DEFAULT_SPACING_MM,) * 2)


def test_extractor_features_in_mm_whatever_the_pixel_size():
    """The same disc at 0.05 mm and 0.2 mm: with resampling, shape is the same in mm."""
    fine = _disc(160, 0.05)
    coarse = _disc(40, 0.2)
    X = pd.DataFrame(
        {"image": [fine[0], coarse[0]], "mask": [fine[1], coarse[1]], "spacing": [(0.05, 0.05), (0.2, 0.2)]},
        index=["fine", "coarse"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known spacings: no warning
        mm = RadiomicsExtractor(**SMALL, log_sigma=(0.5,)).fit_transform(X)
    area = mm["original_shape2D_PixelSurface"]
    assert abs(area["fine"] - np.pi * 4) < 0.5 and abs(area["coarse"] - np.pi * 4) < 0.8
    assert "spacing" not in mm.columns
    px = RadiomicsExtractor(**SMALL, log_sigma=(0.5,), resample_to=None).fit_transform(X)
    # without resampling, the old pixel units: 16 times more pixels in the fine rendering
    ratio = px["original_shape2D_PixelSurface"]["fine"] / px["original_shape2D_PixelSurface"]["coarse"]
    assert 14 < ratio < 18


def test_extractor_unknown_spacing_is_warned_and_kept_in_pixels():
    image, mask = _disc(48, 0.1)
    X = pd.DataFrame({"image": [image, image], "mask": [mask, mask], "spacing": [None, (0.1, 0.1)]}, index=["a", "b"])
    with pytest.warns(UserWarning, match=r"pixel spacing unknown for .a. .*: not resampled to \(0.1, 0.1\) mm"):
        out = RadiomicsExtractor(**SMALL, log_sigma=(1.0,)).fit_transform(X)
    # 'a' keeps pixel units (1 mm per pixel assumed), 'b' is in mm
    surface = out["original_shape2D_PixelSurface"]
    assert surface["a"] == pytest.approx(100 * surface["b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stated pixel_spacing is a known spacing
        given = RadiomicsExtractor(**SMALL, log_sigma=(1.0,), pixel_spacing=0.1).fit_transform(X)
    np.testing.assert_allclose(given.loc["a"], given.loc["b"])
    with pytest.raises(ValueError, match="case 'a': spacing"):
        RadiomicsExtractor(**SMALL).fit_transform(X.assign(spacing=["x", None]))


def test_extractor_cache_key_includes_spacing(tmp_path):
    image, mask = _disc(64, 0.1)
    X = pd.DataFrame({"image": [image], "mask": [mask], "spacing": [(0.1, 0.1)]}, index=["a"])
    ext = RadiomicsExtractor(**SMALL, log_sigma=(0.5,), cache_dir=tmp_path)
    first = ext.fit_transform(X)
    other = ext.fit_transform(X.assign(spacing=[(0.05, 0.05)]))  # same pixels, other spacing: recomputed
    assert other.loc["a", "original_shape2D_PixelSurface"] == pytest.approx(
        first.loc["a", "original_shape2D_PixelSurface"] / 4, rel=0.1
    )
    pd.testing.assert_frame_equal(ext.fit_transform(X), first)


def test_params_may_not_resample_on_their_own():
    ext = RadiomicsExtractor(params={"setting": {"resampledPixelSpacing": [0.1, 0.1]}}, progress=False)
    with pytest.raises(ValueError, match="resample_to"):
        ext.fit_transform(pd.DataFrame({"image": [np.zeros((8, 8))], "mask": [np.ones((8, 8), np.uint8)]}))


def test_clahe_resamples_crops_and_reports_their_spacing():
    fine = _disc(320, 0.05, radius_mm=3.0)
    coarse = _disc(80, 0.2, radius_mm=3.0)
    X = pd.DataFrame(
        {"image": [fine[0], coarse[0]], "mask": [fine[1], coarse[1]], "spacing": [(0.05, 0.05), (0.2, 0.2)]},
        index=["fine", "coarse"],
    )
    out = CLAHEPreprocessor().fit_transform(X)
    assert list(out["spacing"]) == [(0.1, 0.1), (0.1, 0.1)]
    shapes = [crop.shape for crop in out["image"]]
    assert abs(shapes[0][0] - shapes[1][0]) <= 2  # the same crop in mm, so in target pixels
    areas = [m.sum() * 0.01 for m in out["mask"]]
    assert all(abs(a - np.pi * 9) < 1.5 for a in areas)
    # the extractor sees the target spacing and does not resample again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RadiomicsExtractor(**SMALL, log_sigma=(0.5,)).fit_transform(out)
    legacy = CLAHEPreprocessor(resample_to=None).fit_transform(X)
    assert list(legacy["spacing"]) == [(0.05, 0.05), (0.2, 0.2)]
    assert legacy["image"].iloc[0].shape[0] > 3 * legacy["image"].iloc[1].shape[0]


def test_clahe_min_size_counts_target_pixels():
    image, mask = _disc(400, 0.05, radius_mm=0.3)
    X = pd.DataFrame({"image": [image], "mask": [mask], "spacing": [(0.05, 0.05)]})
    out = CLAHEPreprocessor(min_size=32, resample_to=0.1).fit_transform(X)
    assert out["image"].iloc[0].shape == (32, 32)  # 3.2 mm
    assert CLAHEPreprocessor(min_size=32, resample_to=None).fit_transform(X)["image"].iloc[0].shape == (32, 32)


@pytest.mark.parametrize("estimator", [CLAHEPreprocessor(), RadiomicsExtractor(progress=False)])
def test_model_file_without_resample_to_means_none(tmp_path, estimator):
    """A model file written before resample_to existed loads with resample_to=None (pixels, as it was)."""
    assert estimator.resample_to == DEFAULT_SPACING_MM
    old = estimator.__class__(**estimator.get_params())
    del old.__dict__["resample_to"]  # what such a file's state holds
    old.__dict__.pop("min_tile_mm", None)
    loaded = load(save(old, tmp_path / "old.llmrad"))
    assert loaded.resample_to is None and loaded.get_params()["resample_to"] is None
    if isinstance(loaded, CLAHEPreprocessor):
        assert loaded.min_tile_mm == 0.0
    tuple_target = load(save(estimator.set_params(resample_to=(0.1, 0.05)), tmp_path / "tuple.llmrad"))
    assert tuple(tuple_target.resample_to) == (0.1, 0.05)
    estimator.set_params(resample_to=DEFAULT_SPACING_MM)
    again = load(save(estimator, tmp_path / "new.llmrad"))
    assert again.resample_to == DEFAULT_SPACING_MM


def _dicom(path, **attributes):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 4, 3, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.PixelData = np.arange(12, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("attributes", "spacing", "source"),
    [
        ({"PixelSpacing": [0.07, 0.08], "ImagerPixelSpacing": [0.1, 0.1]}, (0.07, 0.08), "PixelSpacing"),
        (
            {"ImagerPixelSpacing": [0.1, 0.1], "EstimatedRadiographicMagnificationFactor": 1.25},
            (0.08, 0.08),
            "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor",
        ),
        ({"ImagerPixelSpacing": [0.085, 0.085]}, (0.085, 0.085), "ImagerPixelSpacing"),
        ({"NominalScannedPixelSpacing": [0.05, 0.05]}, (0.05, 0.05), "NominalScannedPixelSpacing"),
        ({"PixelSpacing": [0, 0.1]}, None, None),  # invalid: unknown, not a zero spacing
        ({}, None, None),
    ],
)
def test_dicom_spacing_rules(tmp_path, attributes, spacing, source):
    from sklearn_llmrad.imageio import read_image_info

    _, info = read_image_info(_dicom(tmp_path / "x.dcm", **attributes))
    assert info.spacing == (pytest.approx(spacing) if spacing else None)
    assert info.spacing_source == source


def test_header_spacing_is_row_column_and_png_has_none(tmp_path):
    import SimpleITK as sitk

    from sklearn_llmrad.imageio import read_image_info

    image = sitk.GetImageFromArray(np.zeros((6, 5), np.uint16))
    image.SetSpacing((0.1, 0.05))  # x (columns), y (rows)
    sitk.WriteImage(image, str(tmp_path / "x.nrrd"))
    sitk.WriteImage(image, str(tmp_path / "x.nii.gz"))
    sitk.WriteImage(image, str(tmp_path / "x.png"))
    assert read_image_info(tmp_path / "x.nrrd")[1].spacing == pytest.approx((0.05, 0.1))
    assert read_image_info(tmp_path / "x.nii.gz")[1].spacing == pytest.approx((0.05, 0.1))
    assert read_image_info(tmp_path / "x.png")[1].spacing is None  # a print resolution, not a detector's


def test_clahe_takes_the_spacing_of_the_image_file(tmp_path):
    from sklearn_llmrad.roi import CircleROI

    path = _dicom(tmp_path / "x.dcm", ImagerPixelSpacing=[0.05, 0.05])
    X = pd.DataFrame({"image": [str(path)], "mask": [CircleROI(row=2, col=1, radius=1)]}, index=["c1"])
    out = CLAHEPreprocessor(min_size=1, min_roi_pixels=2, resample_to=0.025, clip_limit=None).fit_transform(X)
    assert out.loc["c1", "spacing"] == (0.025, 0.025) and out.loc["c1", "image"].shape[0] >= 6
