"""The stronger baselines of both benchmarks (issue 22): gradient boosting, extra-trees, elastic net, size only."""

import io
import json
import warnings
import zipfile

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
from sklearn_llmrad.io import UnsafeModelError, load, save

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
    assert list(fitted[:-1].get_feature_names_out()) == expected
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
    assert model.selected_features_ == SIZE
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
    assert model.selected_features_ == [name for name, size in names.items() if size]


def test_size_only_model_without_a_size_column_says_so_and_predicts_no_information():
    X, y = _table()
    _, model = _build("size-lr")
    with pytest.warns(UserWarning, match="no size column"):
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


# -- model files: every baseline is data (column rules as parameters, trees checked on load) ----------


def _saved(name, tmp_path, X=None, y=None):
    if X is None:
        X, y = _table()
    _, model = _build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence of the tiny elastic net
        model.fit(X, y)
    save(model, tmp_path / f"{name}.llmrad")
    return model, tmp_path / f"{name}.llmrad"


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_round_trips_through_a_model_file(name, tmp_path):
    X, y = _table()
    X = X.rename(columns={OTHER[1]: "MODE_MLO+BB:CMb"})  # a name LightGBM refuses, renamed inside
    model, path = _saved(name, tmp_path, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reset or dropped on the way
        loaded = load(path)
    assert type(loaded) is type(model)
    new, _ = _table(30, seed=5)  # cases the model has not seen
    new = new.rename(columns={OTHER[1]: "MODE_MLO+BB:CMb"})
    for table in (X, new):
        np.testing.assert_allclose(loaded.predict_proba(table), model.predict_proba(table), rtol=0, atol=1e-12)
    assert list(loaded.feature_names_in_) == list(X.columns)


def test_size_only_model_without_a_size_column_round_trips(tmp_path):
    X, y = _table()
    model, path = _saved("size-lr", tmp_path, X[OTHER], y)
    loaded = load(path)
    assert loaded.estimator_ is None and loaded.selected_features_ == []
    np.testing.assert_array_equal(loaded.predict_proba(X[OTHER]), model.predict_proba(X[OTHER]))


def _skops_payloads(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite_payload(src, dst, step, edit_schema=None, payload=None):
    """``src`` with the skops payload of one step's node replaced: its schema edited, or the whole payload."""
    members = _skops_payloads(src)
    manifest = json.loads(members["manifest.json"])
    node = next(s["node"] for s in manifest["estimator"]["steps"] if s["name"] == step)
    if payload is None:
        inner = _skops_payloads(io.BytesIO(members[node["file"]]))
        schema = json.loads(inner["schema.json"])
        edit_schema(schema)
        inner["schema.json"] = json.dumps(schema).encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zout:
            for name, data in inner.items():
                zout.writestr(name, data)
        payload = buffer.getvalue()
    members[node["file"]] = payload
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    return dst


def _edit_model_text(edit):
    """A schema edit: LightGBM's model text, wherever the schema holds it, through ``edit``."""

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and item.startswith('"tree\\nversion='):  # skops: JSON in JSON
                    value[key] = json.dumps(edit(json.loads(item)))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    return walk


def _first_split_tree(text):
    """The index of the first tree with a split, and its ``key=value`` lines."""
    for block in text.split("Tree=")[1:]:
        lines = block.split("\n")
        if lines[1] != "num_leaves=1":
            return int(lines[0]), lines
    raise AssertionError("no tree splits")


def _with_tree_sizes(text):
    """``text`` with ``tree_sizes`` recomputed from its blocks (so that only the edit under test is wrong)."""
    head, _, rest = text.partition("\n\n")
    trees, end, tail = rest.partition("end of trees\n")
    sizes = [len(("Tree=" + block).encode()) for block in trees.split("Tree=")[1:]]
    head = "\n".join(f"tree_sizes={' '.join(map(str, sizes))}" if line.startswith("tree_sizes=") else line
                     for line in head.split("\n"))  # fmt: skip
    return head + "\n\n" + trees + end + tail


def _tree_line(key, value, *, keep_sizes=True):
    def edit(text):
        index, lines = _first_split_tree(text)
        old = next(line for line in lines if line.startswith(f"{key}="))
        head, _, rest = text.partition(f"Tree={index}\n")
        text = head + f"Tree={index}\n" + rest.replace(old, f"{key}={value(old.split('=', 1)[1])}", 1)
        return _with_tree_sizes(text) if keep_sizes else text

    return edit


def _first(new):
    return lambda values: " ".join([new, *values.split(" ")[1:]])


HOSTILE_MODEL_TEXT = {
    # a child pointing back at the root: a cycle that prediction would follow forever
    "cycle": (_tree_line("left_child", _first("0")), "binary tree"),
    # a split on a feature the model does not have: a read past LightGBM's feature array
    "feature": (_tree_line("split_feature", _first("9")), "feature it does not have"),
    # a categorical split (bit 0 of the decision type)
    "categorical": (_tree_line("decision_type", _first("3")), "not a numeric split"),
    # a tree block longer than declared: LightGBM would read the next tree from the wrong place
    "size": (_tree_line("shrinkage", lambda v: v + "0", keep_sizes=False), "declares a size"),
    # parameters naming a file on this machine
    "file": (lambda text: text.replace("[data: ]", "[data: /tmp/train.csv]"), "names a file"),
    "filename": (
        lambda text: text.replace("[forcedsplits_filename: ]", "[forcedsplits_filename: /etc/passwd]"),
        "names a file",
    ),
    # categories for pandas' columns, read with json by LightGBM's Python package
    "pandas": (lambda text: text.replace("pandas_categorical:[]", 'pandas_categorical:[["a"]]'), "pandas"),
    # a header key LightGBM would act on (linear trees)
    "header": (lambda text: text.replace("label_index=0\n", "label_index=0\nlinear_tree=1\n"), "header keys"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_MODEL_TEXT))
def test_lightgbm_model_text_outside_its_grammar_is_refused(attack, tmp_path):
    edit, why = HOSTILE_MODEL_TEXT[attack]
    _, path = _saved("lightgbm", tmp_path)
    # the unedited text passes through the same rewriting
    same = _rewrite_payload(path, tmp_path / "same.llmrad", "model", _edit_model_text(_with_tree_sizes))
    load(same)
    evil = _rewrite_payload(path, tmp_path / "evil.llmrad", "model", _edit_model_text(edit))
    assert _skops_payloads(evil) != _skops_payloads(same)  # the edit found its target
    with pytest.raises(UnsafeModelError, match=f"LightGBM model text .*{why}"):
        load(evil)


def test_a_lightgbm_booster_in_a_skops_payload_is_refused(tmp_path):
    # skops could rebuild LightGBM's Booster through its __setstate__ (LightGBM's parser on any text):
    # only the model text the loader checks may bring the trees back
    import skops.io as sio

    model, path = _saved("lightgbm", tmp_path)
    evil = _rewrite_payload(path, tmp_path / "evil.llmrad", "model", payload=sio.dumps(model[-1]))
    with pytest.raises(UnsafeModelError, match="lightgbm.basic.Booster"):
        load(evil)


def test_a_lightgbm_model_load_would_refuse_is_not_saved(tmp_path):
    from lightgbm import LGBMClassifier

    X, _ = _table()
    y = np.arange(len(X)) % 3  # three classes: not the binary grammar the loader accepts
    model = LGBMClassifier(n_estimators=3, verbose=-1).fit(X[SIZE + OTHER], y)
    with pytest.raises(TypeError, match="could not load: .*not a binary classifier"):
        save(model, tmp_path / "three.llmrad")
    assert not (tmp_path / "three.llmrad").exists()


@pytest.mark.parametrize("attack", ["cycle", "feature", "count"])
def test_extra_trees_whose_arrays_are_not_one_binary_tree_are_refused(attack, tmp_path):
    # scikit-learn follows a tree's child and feature indices without bounds checks when it predicts
    model, _ = _saved("extra-trees", tmp_path)
    tree = model[-1].estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    if attack == "cycle":
        nodes["left_child"][0] = 0
    elif attack == "feature":
        nodes["feature"][0] = 10**6
    else:  # more nodes declared than stored: reads past the node array
        state["node_count"] = len(nodes) + 10
    tree.__setstate__({**state, "nodes": nodes})
    save(model, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match="tree_"):
        load(tmp_path / "evil.llmrad")


@pytest.fixture(scope="module")
def fitted_by_cli(tmp_path_factory):
    """``llmrad fit --model NAME`` for each baseline, on 24 synthetic lesions (one radiomics cache)."""
    from sklearn_llmrad.cli import main

    folder = tmp_path_factory.mktemp("fit")
    argv = ["fit", "--dataset", "synthetic", "--n-samples", "24", "--image-types", "Original"]
    argv += ["--cache-dir", str(folder / "cache")]
    paths = {}
    for name in BASELINES:
        paths[name] = folder / f"{name}.llmrad"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main([*argv, "--model", name, "--out", str(paths[name])]) == 0
    return paths


@pytest.mark.parametrize("name", BASELINES)
def test_llmrad_fit_saves_each_baseline_with_its_image_stages(name, fitted_by_cli):
    loaded = load(fitted_by_cli[name])
    assert [step for step, _ in loaded.steps[:2]] == ["clahe", "radiomics"]
    final = loaded[-1].estimator_[-1] if name == "size-lr" else loaded[-1]
    expected = {
        "lightgbm": "LGBMClassifier",
        "extra-trees": "ExtraTreesClassifier",
        "elastic-net": "LogisticRegressionCV",
        "size-lr": "SemanticPriorLogisticRegression",  # the synthetic lesions have 2-D shape features
    }
    assert type(final).__name__ == expected[name]
    lesions = make_synthetic_mammograms(6, image_size=96, random_state=11)
    proba = loaded.predict_proba(lesions.frame)
    assert proba.shape == (6, 2) and np.allclose(proba.sum(axis=1), 1.0)


LIGHTGBM_PARAMETERS = {
    # LightGBM's C++ configuration reads or writes these files, or joins these machines, at its next fit
    "forcedsplits_filename": "/etc/passwd",
    "forcedbins_filename": "/etc/passwd",
    "output_model": "/tmp/stolen.txt",
    "input_model": "/tmp/model.txt",
    "machines": "127.0.0.1:12400",
    "num_machines": 2,
    # a name outside the constructor and the baseline's keyword
    "min_data_in_leaf": 3,
    # values: an objective LightGBM would split into more keys, a callable objective, a text for a number
    "objective": "binary machines=127.0.0.1:12400",
    "class_weight": print,
    "num_leaves": "31",
}


@pytest.mark.parametrize("name", sorted(LIGHTGBM_PARAMETERS))
def test_lightgbm_parameters_from_a_file_are_its_own_with_checked_values(name, tmp_path):
    model, path = _saved("lightgbm", tmp_path)
    load(path)  # the baseline itself, with its verbose=-1, loads
    model[-1].set_params(**{name: LIGHTGBM_PARAMETERS[name]})
    save(model, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match=f"LGBMClassifier\\({name}="):
        load(tmp_path / "evil.llmrad")


def test_lightgbm_attributes_naming_files_are_refused(tmp_path):
    # not among its parameters, so LightGBM ignores it; refused all the same, as the model text's rule does
    model, _ = _saved("lightgbm", tmp_path)
    model[-1].__dict__["forcedsplits_filename"] = "/etc/passwd"
    save(model, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match="names files or machines"):
        load(tmp_path / "evil.llmrad")
