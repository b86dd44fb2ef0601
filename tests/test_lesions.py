"""The one lesion validator: its checks, its messages, and that every stage uses it."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_llmrad import CLAHEPreprocessor, RadiomicsExtractor
from sklearn_llmrad.exceptions import ImageReadError, MaskError
from sklearn_llmrad.lesions import check_image, check_lesion, check_roi_size, select_roi
from sklearn_llmrad.models import ROIToTensor


def _mask(shape=(16, 16), value=1, box=(4, 10, 4, 10)):
    mask = np.zeros(shape, np.uint8)
    r0, r1, c0, c1 = box
    mask[r0:r1, c0:c1] = value
    return mask


BAD = {
    "empty": (
        np.ones((16, 16)),
        np.zeros((16, 16), np.uint8),
        MaskError,
        r"mask is empty",
    ),
    "one-pixel": (
        np.ones((16, 16)),
        _mask(box=(3, 4, 3, 4)),
        MaskError,
        r"too small.*1 pixel\(s\) \(a single pixel\)",
    ),
    "line": (
        np.ones((16, 16)),
        _mask(box=(3, 4, 2, 12)),
        MaskError,
        r"too small.*spanning 1x10 pixels",
    ),
    "shape": (
        np.ones((16, 16)),
        np.ones((16, 12), np.uint8),
        MaskError,
        r"mask shape \(16, 12\) does not match image shape \(16, 16\)",
    ),
    "nan-image": (
        np.where(_mask() > 0, np.nan, 1.0),
        _mask(),
        ImageReadError,
        r"36 NaN/infinite pixel",
    ),
    "3-d image": (
        np.ones((4, 16, 16)),
        _mask(),
        ImageReadError,
        r"must be 2-D, got shape \(4, 16, 16\)",
    ),
    "text image": (
        np.full((16, 16), "x"),
        _mask(),
        ImageReadError,
        r"non-numeric dtype",
    ),
    "nan-mask": (
        np.ones((16, 16)),
        np.where(_mask() > 0, np.nan, 0.0),
        MaskError,
        r"NaN or infinite",
    ),
}


@pytest.mark.parametrize("name", list(BAD))
def test_each_check_names_case_and_file(name):
    image, mask, error, message = BAD[name]
    with pytest.raises(error, match=message) as info:
        check_lesion(image, mask, label="auto", case="c9", file="/data/x.png")
    assert info.value.case == "c9" and info.value.file == "/data/x.png"
    assert str(info.value).startswith("case 'c9' (file '/data/x.png'): ")


def test_label_selection():
    labels = _mask(value=255)
    assert select_roi(labels).sum() == 36
    assert select_roi(labels, label=255).sum() == 36
    with pytest.raises(
        MaskError,
        match=r"label 1 is not present.*\{0, 255\}; use label=255 or label='auto'",
    ):
        select_roi(labels, label=1)
    labels[0, 0] = 2
    with pytest.raises(MaskError, match=r"several foreground labels \{0, 2, 255\}"):
        select_roi(labels)
    assert select_roi(labels, label=2).sum() == 1
    noisy = np.arange(256, dtype=np.uint8).reshape(16, 16)
    with pytest.raises(MaskError, match="is this an image rather than a mask"):
        select_roi(noisy)


def test_min_pixels_and_squeeze():
    roi = _mask(box=(2, 4, 2, 4)).astype(bool)
    rows, cols = check_roi_size(roi, min_pixels=4)
    assert rows.tolist() == [2, 3] and cols.tolist() == [2, 3]
    with pytest.raises(MaskError, match="at least 5 pixels"):
        check_roi_size(roi, min_pixels=5)
    assert check_image(np.ones((8, 8, 1))).shape == (8, 8)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 15), st.integers(0, 15), st.integers(1, 6), st.integers(1, 6))
def test_a_region_passes_iff_it_spans_two_rows_and_columns(r, c, h, w):
    mask = np.zeros((16, 16), np.uint8)
    mask[r : r + h, c : c + w] = 1
    height, width = min(h, 16 - r), min(w, 16 - c)
    if height >= 2 and width >= 2:
        assert check_lesion(np.ones((16, 16)), mask, min_pixels=2)[1].sum() == height * width
    else:
        with pytest.raises(MaskError, match="too small"):
            check_lesion(np.ones((16, 16)), mask, min_pixels=2)


@pytest.mark.parametrize("name", ["empty", "line", "one-pixel"])
def test_preprocessing_and_radiomics_give_the_same_reason(name):
    image, mask, _, _ = BAD[name]
    image = np.random.default_rng(0).integers(0, 255, (16, 16)).astype(np.uint8)
    X = pd.DataFrame({"image": [image], "mask": [mask]}, index=["c1"])
    with pytest.raises(MaskError) as clahe:
        CLAHEPreprocessor(min_roi_pixels=2, label=1).transform(X)
    with pytest.raises(MaskError) as radiomics:
        RadiomicsExtractor(image_types=["Original"], feature_classes=["firstorder"], progress=False).fit_transform(X)
    assert clahe.value.reason == radiomics.value.reason


@pytest.mark.parametrize(
    "image, mask, error, message",
    [
        (
            np.full((8, 8), np.nan, np.float32),
            None,
            ImageReadError,
            "ROI crop holds 64 NaN/infinite pixel(s); fix or drop this lesion",
        ),
        (np.ones((2, 8, 8), np.float32), None, ImageReadError, "ROI crop must be 2-D, got shape (2, 8, 8)"),
        (
            np.ones((8, 8), np.float32),
            np.ones((8, 6), np.uint8),
            MaskError,
            "mask shape (8, 6) does not match image shape (8, 8)",
        ),
        (np.ones((8, 8), np.float32), np.zeros((8, 8), np.uint8), MaskError, "mask is empty (no non-zero pixel)"),
    ],
)
def test_roi_to_tensor_uses_the_same_messages(image, mask, error, message):
    """The CNN input stage reports a bad crop or mask with the validator's words."""
    use_mask = "channel" if mask is not None else False
    X = pd.DataFrame({"image": [image], "mask": [mask], "source": ["/data/a.png"]}, index=["c7"])
    with pytest.raises(error) as info:
        ROIToTensor(size=8, use_mask=use_mask).transform(X)
    assert info.value.reason == message
    assert info.value.case == "c7" and info.value.file == "/data/a.png"
