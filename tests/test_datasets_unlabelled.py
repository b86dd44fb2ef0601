"""Every image loader builds the same lesion frame with and without labels."""

import logging

import numpy as np
import pandas as pd
import pytest
from skimage.io import imsave

from sklearn_llmrad.datasets import load_csv, load_mias, make_synthetic_mammograms

LABELLED = "image,mask,label,age,density,history,patient,spacing"
ROWS = [
    ("img/c0.png", "img/c0_mask.png", "1", "61", "3", "family history", "P1", "0.07"),
    ("img/c1.png", "img/c1_mask.png", "0", "", "B", "", "P1", ""),
]


@pytest.fixture
def study(tmp_path):
    (tmp_path / "img").mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        imsave(tmp_path / "img" / f"c{k}.png", rng.integers(0, 4000, (64, 64)).astype(np.uint16), check_contrast=False)
        mask = np.zeros((64, 64), np.uint8)
        mask[20:40, 20:40] = 1
        imsave(tmp_path / "img" / f"c{k}_mask.png", mask, check_contrast=False)
    return tmp_path


def _write(root, name, columns):
    header = LABELLED.split(",")
    keep = [header.index(c) for c in columns]
    lines = [",".join(columns)] + [",".join(row[i] for i in keep) for row in ROWS]
    (root / name).write_text("\n".join(lines) + "\n")
    return root / name


def test_csv_without_label_column_loads_for_prediction(study, caplog):
    labelled = load_csv(_write(study, "train.csv", LABELLED.split(",")))
    columns = [c for c in LABELLED.split(",") if c != "label"]
    with caplog.at_level(logging.INFO, logger="sklearn_llmrad.datasets.csv"):
        unlabelled = load_csv(_write(study, "new.csv", columns))
    assert unlabelled.target is None
    assert labelled.target.tolist() == [1, 0]
    pd.testing.assert_frame_equal(unlabelled.frame, labelled.frame)
    assert unlabelled.groups.tolist() == labelled.groups.tolist()
    assert "no label column" in caplog.text and "new.csv" in caplog.text
    assert "no labels" in unlabelled.DESCR
    X, y = load_csv(study / "new.csv", return_X_y=True)
    assert y is None and X.shape == (2, 6)


def test_csv_without_clinical_columns_fills_them_as_for_training(study):
    """A prediction CSV with only image and mask gets the same columns (age NaN, density/history None)."""
    minimal = load_csv(_write(study, "minimal.csv", ["image", "mask"]))
    assert list(minimal.frame.columns) == ["image", "mask", "spacing", "age", "density", "history"]
    assert minimal.frame["age"].isna().all() and minimal.frame["history"].isna().all()
    assert minimal.frame["density"].tolist() == [None, None]


def test_csv_bad_label_is_still_an_error(study):
    from sklearn_llmrad.exceptions import DatasetFormatError

    (study / "bad.csv").write_text("image,mask,label\nimg/c0.png,img/c0_mask.png,maybe\n")
    with pytest.raises(DatasetFormatError, match="label 'maybe' is not 0 or 1"):
        load_csv(study / "bad.csv")


def _same_frames(a, b):
    assert list(a.columns) == list(b.columns) and a.index.equals(b.index)
    for column in a.columns:
        for left, right in zip(a[column], b[column]):
            if isinstance(left, np.ndarray):
                np.testing.assert_array_equal(left, right)
            else:
                assert left == right or (left != left and right != right), (column, left, right)


def test_synthetic_without_labels():
    labelled = make_synthetic_mammograms(6, image_size=64, random_state=0)
    unlabelled = make_synthetic_mammograms(6, image_size=64, random_state=0, labels=False)
    assert unlabelled.target is None and len(labelled.target) == 6
    _same_frames(labelled.frame, unlabelled.frame)
    X, y = make_synthetic_mammograms(6, image_size=64, random_state=0, labels=False, return_X_y=True)
    assert y is None and len(X) == 6


def test_mias_without_labels(mias_root):
    labelled = load_mias(mias_root)
    unlabelled = load_mias(mias_root, labels=False)
    assert unlabelled.target is None and set(labelled.target) <= {0, 1}
    _same_frames(labelled.frame, unlabelled.frame)
    assert unlabelled.groups.tolist() == labelled.groups.tolist()
