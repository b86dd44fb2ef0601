"""Tests for CLAHEPreprocessor."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import (
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
)

from sklearn_llmrad.exceptions import ImageReadError, MaskError
from sklearn_llmrad.preprocessing import CLAHEPreprocessor
from sklearn_llmrad.roi import BoxROI, CircleROI, PolygonROI


def write_dicom(path, pixels, *, photometric="MONOCHROME2", bits_stored=12):
    """Write a small uncompressed grayscale DICOM (uint16) with pydicom."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    ds.PixelData = np.asarray(pixels, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def phantom(seed=0, shape=(96, 112), dtype=np.uint16, top=4095):
    """A dark background, a textured 'breast' and a bright lesion."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.1 * top, 0.02 * top, size=shape)
    tissue = (shape[0], shape[1] - shape[1] // 4)
    image[:, shape[1] // 4 :] += 0.3 * top + rng.normal(0, 0.05 * top, size=tissue)
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    image += 0.3 * top * np.exp(-((rr - 48) ** 2 + (cc - 60) ** 2) / 200.0)
    return np.clip(image, 0, top).astype(dtype)


def lesion_mask(shape=(96, 112), value=1):
    mask = np.zeros(shape, dtype=np.uint8)
    mask[40:57, 50:71] = value
    return mask


def frame(n=3, **columns):
    images = [phantom(i) for i in range(n)]
    masks = [lesion_mask() for _ in range(n)]
    data = {
        "age": [61.0, np.nan, 45.0][:n],
        "image": images,
        "density": ["C", None, "A"][:n],
        "mask": masks,
        "history": ["mother had breast cancer", "", None][:n],
        "extra": [1, 2, 3][:n],
    }
    data.update(columns)
    return pd.DataFrame(data, index=[f"case_{i}" for i in range(n)])


# ------------------------------------------------------------------ output
def test_output_structure_and_passthrough():
    X = frame()
    with pytest.warns(UserWarning, match="pixel spacing unknown for 'case_0', 'case_1', 'case_2'"):
        out = CLAHEPreprocessor().fit_transform(X)
    assert list(out.columns) == ["age", "image", "density", "mask", "source", "spacing", "history", "extra"]
    assert out["spacing"].isna().all()  # unknown: not resampled
    legacy = CLAHEPreprocessor(resample_to=None).fit_transform(X)
    assert list(legacy.columns) == ["age", "image", "density", "mask", "source", "history", "extra"]
    assert out.index.equals(X.index)
    for col in ("age", "density", "history", "extra"):
        pd.testing.assert_series_equal(out[col], X[col])
    assert (out["source"] == "<array>").all()
    for image, mask, full_mask in zip(out["image"], out["mask"], X["mask"]):
        assert image.dtype == np.float32 and image.ndim == 2
        assert mask.dtype == np.uint8 and mask.shape == image.shape
        assert set(np.unique(mask)) == {0, 1}
        assert mask.sum() == full_mask.sum()  # the crop holds the whole lesion
    # the input is not modified
    assert X["image"].iloc[0].dtype == np.uint16 and X["mask"].iloc[0].shape == (96, 112)


def test_roi_zscore_and_crop_geometry():
    out = CLAHEPreprocessor(margin=5, min_size=1, normalize="roi").transform(frame(1))
    image, mask = out["image"].iloc[0], out["mask"].iloc[0]
    assert image.shape == (17 + 10, 21 + 10)
    roi = image[mask == 1].astype(np.float64)
    assert abs(roi.mean()) < 1e-5 and abs(roi.std() - 1) < 1e-4
    assert mask[:5].sum() == 0 and mask[5:-5, 5:-5].all()


def test_fractional_margin_and_min_size():
    X = frame(1)
    image = CLAHEPreprocessor(margin=0.5, min_size=1).transform(X)["image"].iloc[0]
    assert image.shape == (17 + 2 * 9, 21 + 2 * 11)  # ceil(0.5 * 17), ceil(0.5 * 21)
    tiny = np.zeros((96, 112), dtype=np.uint8)
    tiny[10:12, 10:12] = 1
    out = CLAHEPreprocessor(margin=0, min_size=32).transform(X.assign(mask=[tiny]))
    assert out["image"].iloc[0].shape == (32, 32) and out["mask"].iloc[0].sum() == 4


def test_crop_clipped_at_image_border():
    corner = np.zeros((96, 112), dtype=np.uint8)
    corner[90:, 100:] = 1
    out = CLAHEPreprocessor(margin=10, min_size=1).transform(frame(1).assign(mask=[corner]))
    image, mask = out["image"].iloc[0], out["mask"].iloc[0]
    assert image.shape == (16, 22) and mask.sum() == corner.sum() and mask[-1, -1] == 1


@pytest.mark.parametrize(
    "roi",
    [
        CircleROI(row=48, col=60, radius=9),
        BoxROI(row_min=40, col_min=50, row_max=56, col_max=70),
        PolygonROI(rows=(40, 40, 56), cols=(50, 70, 60)),
    ],
)
def test_geometric_rois(roi):
    out = CLAHEPreprocessor(normalize="roi").transform(frame(1).assign(mask=[roi]))
    image, mask = out["image"].iloc[0], out["mask"].iloc[0]
    assert mask.sum() == roi.rasterize((96, 112)).sum()
    roi_values = image[mask == 1].astype(np.float64)
    assert abs(roi_values.mean()) < 1e-5 and abs(roi_values.std() - 1) < 1e-4


@pytest.mark.parametrize("normalize", ["image", "breast", None])  # "roi": tests above
def test_normalize_options(normalize):
    out = CLAHEPreprocessor(normalize=normalize, margin=30).transform(frame(1))
    image = out["image"].iloc[0].astype(np.float64)
    if normalize == "image":
        assert abs(image.mean()) < 1e-5 and abs(image.std() - 1) < 1e-4
    elif normalize is None:
        assert 0 <= image.min() and image.max() <= 1
    else:
        # the crop includes dark background (columns < 28): the breast
        # statistics exclude it, so the whole crop is not standardised...
        assert abs(image.mean()) > 0.05
        # ...but the tissue on the right of the crop is close to it.
        assert abs(image[:, -20:].mean()) < 1.0


def test_clahe_changes_contrast_and_can_be_disabled():
    X = frame(1)
    plain = CLAHEPreprocessor(clip_limit=None, normalize=None, margin=4, min_size=1).transform(X)
    enhanced = CLAHEPreprocessor(clip_limit=0.03, normalize=None, margin=4, min_size=1).transform(X)
    image = X["image"].iloc[0].astype(np.float64)
    expected = (image[36:61, 46:75] - image.min()) / (image.max() - image.min())
    np.testing.assert_allclose(plain["image"].iloc[0], expected, rtol=1e-6, atol=1e-6)
    assert not np.allclose(plain["image"].iloc[0], enhanced["image"].iloc[0], atol=1e-3)
    assert enhanced["image"].iloc[0].std() > plain["image"].iloc[0].std()


def test_bit_depth_and_float_invariance():
    """8-bit, 16-bit and float copies of one image give the same crop."""
    base = phantom(3, dtype=np.uint8, top=255)
    variants = [base, base.astype(np.uint16) * 257, base.astype(np.float64) / 255.0]
    outs = [
        CLAHEPreprocessor().transform(pd.DataFrame({"image": [v], "mask": [lesion_mask()]}))["image"].iloc[0]
        for v in variants
    ]
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], atol=1e-4)


def test_monochrome1_dicom_equals_inverted_array(tmp_path):
    stored = 4095 - phantom(4)  # a MONOCHROME1 file stores dense tissue dark
    path = write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", bits_stored=12)
    X_file = pd.DataFrame({"image": [str(path)], "mask": [lesion_mask()]}, index=["m1"])
    X_array = pd.DataFrame({"image": [phantom(4)], "mask": [lesion_mask()]}, index=["m1"])
    out_file = CLAHEPreprocessor().transform(X_file)
    out_array = CLAHEPreprocessor().transform(X_array)
    np.testing.assert_allclose(out_file["image"].iloc[0], out_array["image"].iloc[0], atol=1e-5)
    assert out_file["source"].iloc[0] == str(path)


def test_real_mias_pgm_with_circle(mias_root):
    # mdb023: malignant circumscribed mass at x=538, y=681 (origin bottom-left), radius 29
    X = pd.DataFrame(
        {
            "image": [mias_root / "mdb023.pgm"],
            "mask": [CircleROI(row=1024 - 681, col=538, radius=29)],
            "density": ["B"],
        },
        index=["mdb023_1"],
    )
    out = CLAHEPreprocessor().transform(X)
    image, mask = out.loc["mdb023_1", "image"], out.loc["mdb023_1", "mask"]
    assert image.shape == (59 + 2 * 6, 59 + 2 * 6)  # diameter + ceil(0.1 * 59) on each side
    assert mask.sum() == CircleROI(29, 29, 29).rasterize((59, 59)).sum()
    assert np.isfinite(image).all()
    assert out.loc["mdb023_1", "source"] == str(mias_root / "mdb023.pgm")


def test_png_paths_and_shared_image(tmp_path):
    image = phantom(5, dtype=np.uint8, top=255)
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "img.png"))
    mask_a = lesion_mask(value=255)
    mask_b = np.zeros_like(mask_a)
    mask_b[5:15, 5:20] = 255
    sitk.WriteImage(sitk.GetImageFromArray(mask_a), str(tmp_path / "a.png"))
    X = pd.DataFrame(
        {"image": [str(tmp_path / "img.png")] * 2, "mask": [str(tmp_path / "a.png"), mask_b]},
        index=["a", "b"],
    )
    out = CLAHEPreprocessor().transform(X)
    assert out.loc["a", "mask"].sum() == (mask_a > 0).sum()
    assert out.loc["b", "mask"].sum() == (mask_b > 0).sum()
    assert (out["source"] == str(tmp_path / "img.png")).all()


def test_rows_are_independent():
    X = frame(3)
    full = CLAHEPreprocessor().transform(X)
    for i in range(3):
        single = CLAHEPreprocessor().transform(X.iloc[[i]])
        np.testing.assert_array_equal(single["image"].iloc[0], full["image"].iloc[i])
        np.testing.assert_array_equal(single["mask"].iloc[0], full["mask"].iloc[i])


def test_n_jobs_gives_same_result():
    import joblib

    X = frame(3)
    serial = CLAHEPreprocessor().transform(X)
    # threads keep the test fast on a small machine; the code path is the same
    with joblib.parallel_config(backend="threading"):
        parallel = CLAHEPreprocessor(n_jobs=2).transform(X)
        for a, b in zip(serial["image"], parallel["image"]):
            np.testing.assert_array_equal(a, b)
        X.at["case_2", "mask"] = np.zeros((96, 112), dtype=np.uint8)
        with pytest.raises(MaskError, match="empty") as exc:
            CLAHEPreprocessor(n_jobs=2).transform(X)
    assert exc.value.case == "case_2"


def test_second_pass_keeps_source(tmp_path):
    path = write_dicom(tmp_path / "x.dcm", phantom(6))
    out = CLAHEPreprocessor().transform(pd.DataFrame({"image": [path], "mask": [lesion_mask()]}))
    again = CLAHEPreprocessor(min_size=1).transform(out)
    assert again["source"].iloc[0] == str(path)
    assert list(again.columns) == ["image", "mask", "source", "spacing"]


# ------------------------------------------------------------------ labels
def test_auto_label_accepts_255_and_rejects_multilabel():
    out = CLAHEPreprocessor().transform(frame(1).assign(mask=[lesion_mask(value=255)]))
    assert set(np.unique(out["mask"].iloc[0])) == {0, 1}
    multi = lesion_mask()
    multi[10:20, 10:20] = 2
    X = frame(1).assign(mask=[multi])
    with pytest.raises(MaskError, match=r"several foreground labels \{0, 1, 2\}") as exc:
        CLAHEPreprocessor().transform(X)
    assert exc.value.case == "case_0"
    out = CLAHEPreprocessor(label=2, margin=0, min_size=1).transform(X)
    assert out["mask"].iloc[0].shape == (10, 10) and out["mask"].iloc[0].all()


def test_label_1_on_255_mask_suggests_255():
    X = frame(1).assign(mask=[lesion_mask(value=255)])
    with pytest.raises(MaskError) as exc:
        CLAHEPreprocessor(label=1).transform(X)
    message = str(exc.value)
    assert "{0, 255}" in message and "label=255" in message and "'auto'" in message
    assert exc.value.case == "case_0"


def test_mask_errors_name_case_and_file(tmp_path):
    image_path = write_dicom(tmp_path / "img.dcm", phantom(7))
    empty = np.zeros((96, 112), dtype=np.uint8)
    one = empty.copy()
    one[10, 10] = 1
    line = empty.copy()
    line[10, 10:30] = 1
    cases = {
        "empty": (empty, "empty"),
        "one_pixel": (one, "too small for texture.*1 pixel"),
        "line": (line, "too small"),
        "shape": (np.ones((96, 111), dtype=np.uint8), "does not match image shape"),
        "missing": (None, "no mask"),
    }
    for case, (mask, reason) in cases.items():
        X = pd.DataFrame({"image": [image_path], "mask": [mask]}, index=[case])
        with pytest.raises(MaskError, match=reason) as exc:
            CLAHEPreprocessor().transform(X)
        assert exc.value.case == case and exc.value.file == str(image_path)
    with pytest.raises(MaskError, match="too small"):
        CLAHEPreprocessor(min_roi_pixels=400).transform(frame(1))


def test_bad_row_among_good_is_named():
    X = frame(3)
    X.at["case_1", "image"] = np.full((96, 112), np.nan)
    with pytest.raises(ImageReadError, match="NaN") as exc:
        CLAHEPreprocessor().transform(X)
    assert exc.value.case == "case_1"


def test_missing_image_file_named(tmp_path):
    X = pd.DataFrame({"image": [str(tmp_path / "gone.dcm")], "mask": [lesion_mask()]}, index=["p1"])
    with pytest.raises(ImageReadError, match="not found") as exc:
        CLAHEPreprocessor().transform(X)
    assert exc.value.case == "p1" and exc.value.file.endswith("gone.dcm")


def test_constant_roi_warns():
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[10:20, 10:20] = 1
    X = pd.DataFrame({"image": [np.full((40, 40), 7, dtype=np.uint8)], "mask": [mask]})
    with pytest.warns(UserWarning, match="constant"):
        out = CLAHEPreprocessor().transform(X)
    assert np.isfinite(out["image"].iloc[0]).all()


# ----------------------------------------------------------- input checks
def test_input_validation():
    X = frame(1)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['image'\].*'mask', 'history'"):
        CLAHEPreprocessor().fit(X.drop(columns="image"))
    with pytest.raises(TypeError, match="DataFrame"):
        CLAHEPreprocessor().transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no rows"):
        CLAHEPreprocessor().transform(X.iloc[:0])


@pytest.mark.parametrize(
    "params",
    [
        {"normalize": "zscore"},
        {"label": 0},
        {"label": "max"},
        {"clip_limit": 2.0},
        {"margin": -1},
        {"min_size": 0},
        {"tile_grid": "big"},
    ],
)
def test_invalid_params(params):
    with pytest.raises(InvalidParameterError):
        CLAHEPreprocessor(**params).fit(frame(1))


@pytest.mark.parametrize("grid", [(8,), (0, 4), (2.5, 2)])
def test_invalid_tile_grid(grid):
    with pytest.raises(ValueError, match="tile_grid"):
        CLAHEPreprocessor(tile_grid=grid).fit(frame(1))


def test_tile_grid_int_equals_pair():
    X = frame(1)
    a = CLAHEPreprocessor(tile_grid=4).transform(X)["image"].iloc[0]
    b = CLAHEPreprocessor(tile_grid=(4, 4)).transform(X)["image"].iloc[0]
    c = CLAHEPreprocessor(tile_grid=(2, 6)).transform(X)["image"].iloc[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ----------------------------------------------------------- sklearn API
@pytest.mark.parametrize(
    "check",
    [
        check_parameters_default_constructible,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_estimator_repr,
        check_estimator_cloneable,
        check_estimator_tags_renamed,
        check_valid_tag_types,
        check_mixin_order,
    ],
)
def test_sklearn_estimator_checks(check):
    # parametrize_with_checks skips estimators whose input is not a 2-D
    # numeric array; the checks that apply are run here explicitly.
    check("CLAHEPreprocessor", CLAHEPreprocessor())


def test_clone_params_repr_pickle():
    est = CLAHEPreprocessor(margin=3, normalize="breast", label=255)
    assert clone(est).get_params() == est.get_params()
    assert est.set_params(margin=0.2).margin == 0.2
    assert repr(est) == "CLAHEPreprocessor(label=255, margin=0.2, normalize='breast')"
    X = frame(2).assign(mask=[lesion_mask(value=255)] * 2)
    est.fit(X)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.get_params() == est.get_params()
    np.testing.assert_array_equal(restored.feature_names_in_, est.feature_names_in_)
    for a, b in zip(restored.transform(X)["image"], est.transform(X)["image"]):
        np.testing.assert_array_equal(a, b)


def test_fit_attributes_and_feature_names():
    X = frame(1)
    est = CLAHEPreprocessor()
    with pytest.raises(NotFittedError):
        est.get_feature_names_out()
    est.fit(X)
    assert est.n_features_in_ == 6
    assert list(est.feature_names_in_) == list(X.columns)
    expected = ["age", "image", "density", "mask", "source", "spacing", "history", "extra"]
    assert list(est.get_feature_names_out()) == expected
    assert list(est.transform(X).columns) == expected
    legacy = CLAHEPreprocessor(resample_to=None)
    assert list(legacy.get_feature_names_out(["mask", "image", "source"])) == ["mask", "source", "image"]
    assert list(legacy.get_feature_names_out(["mask", "spacing", "image"])) == ["mask", "source", "spacing", "image"]
    with pytest.raises(ValueError, match="feature names"):
        est.transform(X.drop(columns="extra"))


def test_tags_and_stateless_use():
    est = CLAHEPreprocessor()
    tags = get_tags(est)
    assert tags.requires_fit is False and tags.input_tags.two_d_array is False
    out = est.transform(frame(1))  # no fit needed
    assert not hasattr(est, "n_features_in_") and len(out) == 1


def test_in_pipeline_with_pandas_output():
    pipe = Pipeline([("pre", CLAHEPreprocessor())]).set_output(transform="pandas")
    out = pipe.fit_transform(frame(2))
    assert isinstance(out, pd.DataFrame) and list(out.index) == ["case_0", "case_1"]
    with pytest.raises(ValueError, match="pandas DataFrame only"):
        CLAHEPreprocessor().set_output(transform="polars")
    known = frame(1)
    known["spacing"] = [(0.1, 0.1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a known spacing is not warned about
        CLAHEPreprocessor().fit_transform(known)
        CLAHEPreprocessor(resample_to=None).fit_transform(frame(1))
