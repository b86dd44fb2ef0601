"""Tests of the synthetic mammography generator."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_llmrad.datasets import make_synthetic_mammograms

HISTORIES = {"family history of breast cancer", "prior benign biopsy", "no relevant history", None}


@pytest.fixture(scope="module")
def data():
    return make_synthetic_mammograms(200, random_state=0)


def test_deterministic_with_random_state():
    a = make_synthetic_mammograms(6, image_size=64, random_state=3)
    b = make_synthetic_mammograms(6, image_size=64, random_state=3)
    c = make_synthetic_mammograms(6, image_size=64, random_state=4)
    for x, y in zip(a.frame["image"], b.frame["image"]):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.frame["mask"], b.frame["mask"]):
        np.testing.assert_array_equal(x, y)
    assert a.frame.drop(columns=["image", "mask"]).equals(b.frame.drop(columns=["image", "mask"]))
    np.testing.assert_array_equal(a.target, b.target)
    assert not all(np.array_equal(x, y) for x, y in zip(a.frame["image"], c.frame["image"]))


def test_shapes_dtypes_and_masks(data):
    X = data.frame
    assert list(X.columns) == ["image", "mask", "spacing", "age", "density", "history"]
    assert X.index.is_unique and X.index[0] == "synthetic_0000"
    for image, mask in zip(X["image"], X["mask"]):
        assert image.shape == mask.shape == (256, 256)
        assert image.dtype == np.uint16 and image.max() <= 4095
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
        assert mask.sum() >= 30  # a lesion, not a speck
    # the breast is textured, not flat: a few hundred distinct grey levels
    assert len(np.unique(X["image"].iloc[0])) > 300


def test_class_balance_and_fraction():
    assert make_synthetic_mammograms(40, image_size=64, random_state=0).target.mean() == 0.5
    skewed = make_synthetic_mammograms(40, image_size=64, malignant_fraction=0.25, random_state=0)
    # 20 patients of 2 views: round(0.25 * 20) = 5 malignant patients
    assert skewed.target.sum() == 10


def test_groups_keep_a_patients_views_together(data):
    X, y, groups = data.frame, data.target, data.groups
    assert len(set(groups)) == 100
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        assert len(rows) == 2
        assert len(set(y[rows])) == 1
        first, second = X.iloc[rows[0]], X.iloc[rows[1]]
        assert (first["age"] == second["age"]) or (np.isnan(first["age"]) and np.isnan(second["age"]))
        assert first["density"] == second["density"] and first["history"] == second["history"]
        assert not np.array_equal(first["image"], second["image"])
    for train, test in StratifiedGroupKFold(n_splits=5).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_views_of_a_patient_are_correlated(data):
    # CC and MLO show the same lesion: its size agrees far better within a
    # patient than between patients.
    areas = np.array([m.sum() for m in data.frame["mask"]], dtype=float).reshape(-1, 2)
    assert np.corrcoef(areas[:, 0], areas[:, 1])[0, 1] > 0.6


def test_uneven_number_of_views():
    d = make_synthetic_mammograms(5, image_size=64, lesions_per_patient=2, random_state=0)
    assert len(d.frame) == 5 and len(set(d.groups)) == 3
    d = make_synthetic_mammograms(6, image_size=64, lesions_per_patient=3, random_state=0)
    assert len(set(d.groups)) == 2 and list(d.metadata["view"][:3]) == ["view1", "view2", "view3"]


def test_clinical_columns_weakly_related(data):
    X, y = data.frame, data.target
    assert X["age"].dtype == np.float64
    assert 0 < X["age"].isna().sum() < 40
    assert set(X["density"].dropna()) <= set("ABCD") and X["density"].isna().any()
    assert set(X["history"]) <= HISTORIES and X["history"].isna().any()
    assert X["history"].nunique() == 3
    per_patient = X.assign(y=y)[::2]
    assert per_patient.loc[per_patient.y == 1, "age"].mean() > per_patient.loc[per_patient.y == 0, "age"].mean() + 3
    family = per_patient["history"] == "family history of breast cancer"
    assert per_patient.loc[family, "y"].mean() > per_patient.loc[~family, "y"].mean()


def _features(frame):
    rows = []
    for image, mask in zip(frame["image"], frame["mask"]):
        inside = mask.astype(bool)
        boundary = inside & ~ndimage.binary_erosion(inside)
        rows.append([image[inside].mean(), boundary.sum() ** 2 / inside.sum()])
    return np.array(rows)


def test_background_brightness_follows_density(data):
    # dense breasts (more fibroglandular tissue) are brighter; air is black
    means = {}
    for image, density in zip(data.frame["image"], data.metadata["true_density"]):
        breast = image[image > 400]
        means.setdefault(density, []).append(breast.mean())
    by_density = [np.mean(means[d]) for d in "ABCD"]
    assert all(a < b for a, b in zip(by_density, by_density[1:]))
    assert data.frame["image"].iloc[0][0, :].min() < 100 or data.frame["image"].iloc[0][-1, :].min() < 100


def test_classes_separable_but_not_trivially(data):
    features = _features(data.frame)
    # malignant masses are denser: mean intensity inside the mask carries some
    # signal but is far from decisive (background density masks it)
    auc_mean = roc_auc_score(data.target, features[:, 0])
    assert 0.55 < auc_mean < 0.9
    # irregular/spiculated contours: compactness is the strongest single cue,
    # yet circumscribed carcinomas and irregular benign lesions keep it below 1
    auc_shape = roc_auc_score(data.target, features[:, 1])
    assert 0.65 < auc_shape < 0.97


def test_descr_says_synthetic_and_metadata_is_separate(data):
    assert "synthetic" in data.DESCR.lower() and "NOT real patient data" in data.DESCR
    assert "1/f^3" in data.DESCR
    assert "archetype" in data.metadata.columns and "archetype" not in data.frame.columns
    assert data.metadata.index.equals(data.frame.index)
    assert list(data.target_names) == ["benign", "malignant"]


def test_return_X_y():
    X, y = make_synthetic_mammograms(4, image_size=64, return_X_y=True, random_state=1)
    assert X.shape == (4, 6) and y.shape == (4,) and y.dtype.kind == "i"


@pytest.mark.parametrize(
    "params",
    [
        {"n_samples": 0},
        {"image_size": 16},
        {"malignant_fraction": 1.5},
        {"lesions_per_patient": 0},
        {"random_state": "seed"},
    ],
)
def test_invalid_parameters(params):
    with pytest.raises(InvalidParameterError):
        make_synthetic_mammograms(**{"n_samples": 4, **params})
