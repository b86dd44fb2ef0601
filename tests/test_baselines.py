"""The stronger baselines of both benchmarks (issue 22): gradient boosting, extra-trees, elastic net, size only."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_llmrad.benchmark import (
    BenchmarkSettings,
    ModelRegistry,
    default_models,
    run_benchmark,
    run_fold,
    run_transfer_benchmark,
    study_models,
)
from sklearn_llmrad.datasets import make_synthetic_mammograms

BASELINES = ["lightgbm", "extra-trees", "elastic-net", "size-lr"]
SIZE = ["original_shape2D_MaximumDiameter", "original_shape2D_Perimeter", "original_shape2D_PixelSurface"]
OTHER = ["original_firstorder_Mean", "wavelet-LH_glcm_Contrast", "original_glszm_LargeAreaEmphasis"]


def _table(n=60, seed=0):
    """A lesion-like table: shape and texture features (some missing), a clinical and a text column."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    X = pd.DataFrame(rng.normal(size=(n, len(SIZE) + len(OTHER))), columns=SIZE + OTHER)
    X[SIZE[0]] += 1.5 * y  # the size column carries the signal
    X[OTHER[0]] += 1.0 * y
    X.iloc[::7, 1] = np.nan
    X["age"] = rng.integers(40, 80, size=n).astype(float)
    X["source"] = "<array>"
    X.index = [f"case{i}" for i in range(n)]
    return X, y


def _build(name, mode="lesions"):
    spec = ModelRegistry(mode=mode).resolve([name])[0]
    return spec, spec.build(BenchmarkSettings(random_state=0).factory_kwargs())


def test_baselines_are_models_of_both_modes_after_the_others():
    for models in (default_models(), study_models()):
        assert list(models)[-4:] == BASELINES
        assert all(models[name].input == "features" and models[name].prior is None for name in BASELINES)


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_fits_predicts_and_keeps_the_feature_names(name):
    X, y = _table()
    _, model = _build(name)
    proba = model.fit(X, y).predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.all((proba >= 0) & (proba <= 1)) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.feature_names_in_) == list(X.columns)
    fitted = model.estimator_ if name == "size-lr" else model
    # the numeric radiomics columns reach the model by name (no clinical or text column)
    expected = SIZE if name == "size-lr" else SIZE + OTHER
    assert list(fitted[-1].feature_names_in_) == expected
    assert np.mean((proba[:, 1] > 0.5) == y) > 0.6  # it learned the signal on its training data


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_is_fitted_on_the_training_part_only(name):
    """Changing the test rows (features and labels) changes nothing predicted for the training rows."""
    X, y = _table()
    spec, _ = _build(name, mode="studies")
    split = {"train": np.arange(40), "test": np.arange(40, 60)}
    settings = BenchmarkSettings(random_state=0).factory_kwargs()
    before, _ = run_fold(spec, settings, X, y, split, fold=0, parts=["train", "test"])
    X2, y2 = X.copy(), y.copy()
    numeric = SIZE + OTHER
    X2.loc[X2.index[40:], numeric] = 100.0 * np.random.default_rng(1).normal(size=(20, len(numeric)))
    y2[40:] = 1 - y2[40:]
    after, _ = run_fold(spec, settings, X2, y2, split, fold=0, parts=["train", "test"])
    train = before["part"] == "train"
    np.testing.assert_array_equal(after.loc[train, "y_prob"], before.loc[train, "y_prob"])
    assert not np.array_equal(after.loc[~train, "y_prob"], before.loc[~train, "y_prob"])  # the test rows did change


def test_size_only_model_reads_only_shape_and_size_columns():
    X, y = _table()
    _, model = _build("size-lr")
    model.fit(X, y)
    assert model.size_features_ == SIZE
    scrambled = X.copy()
    scrambled[OTHER] = np.random.default_rng(2).permutation(scrambled[OTHER].to_numpy())
    np.testing.assert_array_equal(model.predict_proba(scrambled), model.predict_proba(X))
    changed = X.copy()
    changed[SIZE[0]] = -changed[SIZE[0]]
    assert not np.array_equal(model.predict_proba(changed), model.predict_proba(X))


def test_size_columns_of_studies_are_found_by_the_names_meaning():
    names = {
        "APPROXIMATE_VOLUME_ML": True,
        "T2_original_shape_Sphericity": True,
        "T1_E_Morphologic_EllipseDiameter_Axis-0": True,
        "MajorAxisLength": True,
        "core_on_MNI_Total_Surface_Area": True,
        "GLSZM_IBSI_ZONE_SIZE_NONUNIFORMITY": False,  # a texture zone size, not the lesion's
        "original_glszm_LargeAreaEmphasis": False,
        "RunLengthNonuniformity_AllDirection_offset1": False,
        "original_firstorder_Energy": False,
        "diagnostics_Mask-original_VoxelNum": False,
        "RCBV.Angular.Second.Moment_Avg_1": False,  # rCBV: relative cerebral blood *volume*, a perfusion value
        "ClusterShade": False,
    }
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)
    X = pd.DataFrame(rng.normal(size=(40, len(names))), columns=list(names))
    _, model = _build("size-lr", mode="studies")
    model.fit(X, y)
    assert model.size_features_ == [name for name, size in names.items() if size]


def test_size_only_model_without_a_size_column_says_so_and_predicts_no_information():
    X, y = _table()
    _, model = _build("size-lr")
    with pytest.warns(UserWarning, match="no shape or size column"):
        model.fit(X[OTHER], y)
    assert np.all(model.predict_proba(X[OTHER]) == 0.5)


def test_baselines_run_in_the_study_mode():
    X, y = _table(40)
    Z, w = _table(40, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence of the tiny elastic net
        result = run_transfer_benchmark(
            {"A": (X[SIZE + OTHER], y), "B": (Z[SIZE + OTHER], w)},
            models=BASELINES,
            cv=2,
            n_bootstraps=20,
            log=lambda line: None,
        )
    assert list(result.per_study["status"]) == ["ok"] * 8
    assert result.aucs.notna().all().all()


def test_baselines_run_in_the_lesion_benchmark_on_the_radiomics_table():
    data = make_synthetic_mammograms(24, image_size=96, random_state=3)
    result = run_benchmark(
        data.frame,
        data.target,
        data.groups,
        models=BASELINES,
        cv=2,
        n_bootstraps=20,
        extractor_params={"image_types": ["Original"], "progress": False},
        log=lambda line: None,
    )
    table = result.table.set_index("name")
    assert list(table.loc[BASELINES, "status"]) == ["ok"] * 4
    for name in BASELINES:
        assert sorted(result.predictions[name]["case"]) == sorted(str(i) for i in data.frame.index)


def test_lightgbm_takes_names_with_json_characters():
    # a radMLBench table (Fusco2022) has "MODE_MLO+BB:CMb"; LightGBM refuses ":" in a name
    X, y = _table()
    X = X.rename(columns={OTHER[0]: "MODE_MLO+BB:CMb", OTHER[1]: "a[1]"})
    _, model = _build("lightgbm", mode="studies")
    assert model.fit(X, y).predict_proba(X).shape == (len(X), 2)
    assert list(model[-1].feature_names_in_) == SIZE + ["MODE_MLO+BB_CMb", "a_1_", OTHER[2]]


def test_elastic_net_takes_a_small_training_set():
    # a small lesion benchmark's training fold: 2 malignant lesions leave room for 2 inner folds only
    X, _ = _table()
    y = np.array([0] * 7 + [1] * 2)
    _, model = _build("elastic-net")
    assert model.fit(X.iloc[:9], y).predict_proba(X.iloc[:9]).shape == (9, 2)
    with pytest.raises(ValueError, match="elastic net chooses C"):
        model.fit(X.iloc[:9], np.array([0] * 8 + [1]))
