"""Hostile model files: sklearn_llmrad.io.load must never run code from them.

Every crafted file below would create a marker file if anything in it were
executed; each test checks both the refusal and that the marker is absent.
A round trip of every built-in benchmark model (tiny sizes) checks that the
allow-list, derived from what the package defines, does not refuse our own
models.
"""

import importlib
import io
import json
import pkgutil
import struct
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

import sklearn_llmrad
from sklearn_llmrad.io import ModelFileError, ModelFileWarning, UnsafeModelError, load, own_registry, save

DANGEROUS = ("os", "subprocess", "shutil", "pickle", "importlib")
# what an attacker would reach through each imported module
TARGET = {
    "os": "os.system",
    "subprocess": "subprocess.Popen",
    "shutil": "shutil.rmtree",
    "pickle": "pickle.loads",
    "importlib": "importlib.import_module",
}


def _package_modules():
    names, stack = [], [("sklearn_llmrad", sklearn_llmrad.__path__)]
    while stack:
        package, path = stack.pop()
        for info in pkgutil.iter_modules(path, prefix=package + "."):
            names.append(info.name)
            if info.ispkg:
                stack.append((info.name, importlib.import_module(info.name).__path__))
    return sorted(names)


def _chained_names():
    """``<package module>.<imported module>.<function>`` for every module that imports one.

    Modules that import only a name (``from importlib import import_module``)
    give ``<package module>.import_module`` as well.
    """
    out = []
    for name in ["sklearn_llmrad"] + _package_modules():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, value in vars(module).items():
            mod = getattr(value, "__name__", None) if type(value).__name__ == "module" else None
            if mod in DANGEROUS:
                out.append(f"{name}.{attr}.{TARGET[mod].split('.', 1)[1]}")
            elif (
                callable(value)
                and getattr(value, "__module__", "")
                and (
                    getattr(value, "__module__", "").split(".")[0] in DANGEROUS
                    or getattr(value, "__module__", "") == "posix"
                )
            ):
                out.append(f"{name}.{attr}")
    return sorted(set(out))


CHAINED = _chained_names()


def test_chained_names_cover_the_modules_the_issue_names():
    # the package modules that import os (and io's importlib) are all covered
    assert "sklearn_llmrad.io.os.system" in CHAINED
    assert "sklearn_llmrad.io.importlib.import_module" in CHAINED
    assert "sklearn_llmrad.models.cnn.os.system" in CHAINED
    assert "sklearn_llmrad.radiomics.os.system" in CHAINED
    assert "sklearn_llmrad._lazy.import_module" in CHAINED  # lazy re-exports of every package
    assert len(CHAINED) >= 15


# --------------------------------------------------------------------------- a saved model
FEATURES = [
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    "original_firstorder_Energy",
    "original_glrlm_RunEntropy",
]


def _table(n=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[[0] * (n // 2), [1] * (n - n // 2)]
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))) + 0.7 * y[:, None], columns=FEATURES)
    X["age"] = rng.integers(40, 80, n).astype(float)
    X["density"] = rng.choice(list("ABCD"), n)
    X["history"] = rng.choice(["family history of breast cancer", "none"], n)
    return X, y


def _fitted_tail(**kwargs):
    """The w/o-BioBERT method's learned part, fitted on :func:`_table`; ``kwargs`` for the factory."""
    from sklearn_llmrad.pipelines import make_llmrad_pipeline

    X, y = _table()
    pipe = make_llmrad_pipeline(
        k=3,
        encoder=None,
        device="cpu",
        random_state=0,
        classifier_params={"max_epochs": 1, "hidden_size": 8, "n_heads": 2},
        **kwargs,
    )[2:].fit(X, y)
    return pipe, X


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The w/o-BioBERT pipeline (TopK -> RobustFeatureScaler -> fusion), saved."""
    pipe, _ = _fitted_tail(fallback=None)  # the flat pipeline whose manifest the tests below edit
    return save(pipe, tmp_path_factory.mktemp("saved") / "model.llmrad")


@pytest.fixture(scope="module")
def saved_choice(tmp_path_factory):
    """The default method's learned part (an inner-CV choice of network and linear path), saved."""
    pipe, X = _fitted_tail(refit="all")
    return save(pipe, tmp_path_factory.mktemp("saved") / "choice.llmrad"), pipe, X


def _choice_node(manifest):
    return manifest["estimator"]["steps"][0]["node"]


def test_saved_choice_round_trips(saved_choice):
    path, pipe, X = saved_choice
    loaded = load(path)
    assert loaded["choice"].choice_ == pipe["choice"].choice_
    assert loaded["choice"].cv_scores_ == pipe["choice"].cv_scores_
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("name", ["predict_proba", "__class__", "estimators", "_chosen"])
def test_choice_manifest_cannot_set_other_attributes(saved_choice, tmp_path, name):
    path, _, _ = saved_choice
    bad = tmp_path / "bad.llmrad"
    _rewrite(path, bad, manifest=lambda m: _choice_node(m)["attributes"].update({name: "x"}))
    with pytest.raises(UnsafeModelError, match="not a fitted attribute|holds only data"):
        load(bad)


def test_choice_manifest_refs_and_classes_are_refused(saved_choice, tmp_path):
    path, _, _ = saved_choice
    ref = {"$type": "ref", "name": "os.system"}
    bad = tmp_path / "ref.llmrad"
    _rewrite(path, bad, manifest=lambda m: _choice_node(m)["attributes"].update({"choice_": ref}))
    with pytest.raises(UnsafeModelError, match="os.system"):
        load(bad)
    bad = tmp_path / "class.llmrad"
    _rewrite(path, bad, manifest=lambda m: _choice_node(m).update({"class": "sklearn.pipeline.Pipeline"}))
    with pytest.raises(UnsafeModelError, match="not an InnerCVChoiceClassifier"):
        load(bad)
    bad = tmp_path / "choice.llmrad"
    _rewrite(path, bad, manifest=lambda m: _choice_node(m)["attributes"].update({"choice_": "svc"}))
    with pytest.raises(ModelFileError, match="'svc' is not among its options"):
        load(bad)


@pytest.mark.parametrize(
    "edit",
    [
        lambda node: node["attributes"].pop("choice_"),
        lambda node: node["attributes"].update({"choice_": ["linear"]}),
        lambda node: node.update({"params": [3]}),
        lambda node: node.update({"candidates": ["linear"]}),
        lambda node: node["candidates"].append(dict(node["candidates"][0])),
        lambda node: node["candidates"][0].update({"name": "average"}),
    ],
)
def test_malformed_choice_nodes_are_model_file_errors(saved_choice, tmp_path, edit):
    path, _, _ = saved_choice
    bad = tmp_path / "bad.llmrad"
    _rewrite(path, bad, manifest=lambda m: edit(_choice_node(m)))
    with pytest.raises(ModelFileError):
        load(bad)


def _rewrite(src, dst, *, manifest=None, replace=None, add=None):
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "manifest.json" and manifest is not None:
                m = json.loads(data)
                manifest(m)
                data = json.dumps(m).encode()
            zout.writestr(name, replace.get(name, data))
        for name, data in (add or {}).items():
            zout.writestr(zipfile.ZipInfo(name), data)
    return dst


def _net(m):
    return m["estimator"]["steps"][-1]["node"]


def _tampered(saved, tmp_path, edit):
    marker = tmp_path / "pwned"

    def tamper(m):
        edit(m, str(marker))

    return _rewrite(saved, tmp_path / "evil.llmrad", manifest=tamper), marker


# --------------------------------------------------------------------------- code execution
@pytest.mark.parametrize("name", CHAINED)
def test_ref_through_an_imported_module_is_refused(saved, tmp_path, name):
    # criterion=<function> with criterion__command: skorch would call it
    def edit(m, marker):
        _net(m)["params"]["criterion"] = {"$type": "ref", "name": name}
        _net(m)["params"]["criterion__command"] = f"touch {marker}"
        _net(m)["params"]["criterion__args"] = ["touch", marker]

    path, marker = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="allow-list"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", CHAINED)
def test_object_through_an_imported_module_is_refused(saved, tmp_path, name):
    def edit(m, marker):
        _net(m)["params"]["callbacks"] = [
            {"$type": "object", "class": name, "params": {"args": {"$type": "tuple", "items": ["touch", marker]}}}
        ]

    path, marker = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="allow-list"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["pipeline", "skorch", "skops"])
@pytest.mark.parametrize("name", CHAINED)
def test_class_field_through_an_imported_module_is_refused(saved, tmp_path, name, where):
    def edit(m, marker):
        node = {"pipeline": m["estimator"], "skorch": _net(m), "skops": m["estimator"]["steps"][0]["node"]}[where]
        node["class"] = name

    path, marker = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="allow-list"):
        load(path)
    assert not marker.exists()


def test_every_module_times_every_dangerous_target_is_refused(saved, tmp_path):
    # also modules that do not import them today: a later import must not open a hole
    marker = tmp_path / "pwned"
    for module in ["sklearn_llmrad"] + _package_modules():
        for target in TARGET.values():
            name = f"{module}.{target}"
            for value in (
                {"$type": "ref", "name": name},
                {"$type": "object", "class": name, "params": {"args": ["touch", str(marker)]}},
            ):

                def edit(m, value=value):
                    _net(m)["params"]["criterion"] = value
                    _net(m)["params"]["criterion__command"] = f"touch {marker}"

                path = _rewrite(saved, tmp_path / "evil.llmrad", manifest=edit)
                with pytest.raises(UnsafeModelError, match="allow-list"):
                    load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name", ["sklearn_llmrad.io.os.system", "sklearn_llmrad.cli.os.system", "sklearn_llmrad.models.import_module"]
)
def test_trusting_a_chained_name_still_does_not_resolve_it(saved, tmp_path, name):
    # even a user who passes the name as trusted gets only what is *defined* under it
    def edit(m, marker):
        _net(m)["params"]["criterion"] = {"$type": "ref", "name": name}
        _net(m)["params"]["criterion__command"] = f"touch {marker}"

    path, marker = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="exactly that name"):
        load(path, trusted=[name])
    assert not marker.exists()


@pytest.mark.parametrize(
    "name",
    [
        "sklearn_llmrad.io.save",  # our own, but writes files
        "sklearn_llmrad.io.load",
        "sklearn_llmrad.cli.main",
        "sklearn_llmrad.benchmark.run_benchmark",
        "sklearn_llmrad._testing.save_tiny_bert",
        "sklearn_llmrad.models.LLMRadiomicsClassifier",  # a lazy re-export, not its definition
        "sklearn_llmrad.radiomics.np.load",
    ],
)
def test_own_functions_and_re_exports_are_refused(saved, tmp_path, name):
    def edit(m, marker):
        _net(m)["params"]["criterion"] = {"$type": "ref", "name": name}

    path, _ = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="allow-list"):
        load(path)


def test_skops_function_through_an_imported_module_is_refused(saved, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "pwned"
    payload = sio.dumps(FunctionTransformer(func=print, kw_args={"command": f"touch {marker}"}))
    inner = zipfile.ZipFile(io.BytesIO(payload))
    schema = json.loads(inner.read("schema.json"))
    func = schema["content"]["content"]["func"]
    func["content"] = {"module_path": "sklearn_llmrad.io", "function": "os.system"}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for m in inner.namelist():
            z.writestr(m, json.dumps(schema) if m == "schema.json" else inner.read(m))

    def as_function_transformer(m):
        m["estimator"]["steps"][0]["node"]["class"] = "sklearn.preprocessing._function_transformer.FunctionTransformer"

    path = _rewrite(
        saved, tmp_path / "evil.llmrad", manifest=as_function_transformer, replace={"steps/0.skops": out.getvalue()}
    )
    with pytest.raises(UnsafeModelError, match="not trusted"):
        load(path)
    assert not marker.exists()


def test_registry_is_derived_from_the_package():
    registry = own_registry()
    # every public estimator class of the package is in it, under its defining name
    for module in ("sklearn_llmrad", "sklearn_llmrad.models"):
        mod = importlib.import_module(module)
        for attr in mod.__all__:
            value = getattr(mod, attr)
            if (
                isinstance(value, type)
                and issubclass(value, (torch.nn.Module,))
                or (isinstance(value, type) and hasattr(value, "get_params"))
            ):
                assert f"{value.__module__}.{value.__qualname__}" in registry, attr
    assert "sklearn_llmrad.scaling.RobustFeatureScaler" in registry
    assert "sklearn_llmrad.models.losses.CrossEntropyInfoNCELoss" in registry
    for name, cls in registry.items():
        assert f"{cls.__module__}.{cls.__qualname__}" == name
        assert not name.startswith(("sklearn_llmrad.io.", "sklearn_llmrad.cli.", "sklearn_llmrad.datasets."))


# --------------------------------------------------------------------------- archive limits
def _set_declared_size(path, member, size):
    """Rewrite the central-directory uncompressed size of ``member`` (the header lies)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]) == name:
            struct.pack_into("<I", data, pos + 24, size)
            break
        pos += 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("member,size", [("manifest.json", 64 * 2**20), ("steps/2.safetensors", 2**32 - 2)])
def test_member_declared_too_large_is_refused_before_reading(saved, tmp_path, member, size):
    path = _rewrite(saved, tmp_path / "big.llmrad")
    _set_declared_size(path, member, size)
    # were it read, the lying header would give a CRC/size error (ModelFileError)
    with pytest.raises(UnsafeModelError, match="more than the limit|decompression bomb"):
        load(path)


def test_zip_bomb_member_is_refused(saved, tmp_path):
    bomb = tmp_path / "bomb.llmrad"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "steps/2.safetensors":
                data = bytes(24 * 2**20)  # 24 MiB of zeros deflate to ~24 KiB
            zout.writestr(name, data)
    with pytest.raises(UnsafeModelError, match="decompression bomb"):
        load(bomb)


def test_zip_bomb_inside_a_skops_payload_is_refused(saved, tmp_path):
    with zipfile.ZipFile(saved) as zf:
        payload = zf.read("steps/0.skops")
    inner = zipfile.ZipFile(io.BytesIO(payload))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for m in inner.namelist():
            z.writestr(m, inner.read(m))
        z.writestr("bomb.npy", bytes(24 * 2**20))
    path = _rewrite(saved, tmp_path / "bomb.llmrad", replace={"steps/0.skops": out.getvalue()})
    with pytest.raises(UnsafeModelError, match="decompression bomb"):
        load(path)


def test_reads_are_capped_whatever_the_header_says(tmp_path):
    from sklearn_llmrad.io._archive import read_member  # noqa: PLC2701 - the reader load() uses

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m.json", b"x" * 100)
    with zipfile.ZipFile(path) as zf:
        assert read_member(zf, "m.json", 100) == b"x" * 100
        with pytest.raises(UnsafeModelError, match="more than 99 bytes"):
            read_member(zf, "m.json", 99)


@pytest.mark.parametrize(
    "name", ["../evil.json", "steps/../../evil.json", "/etc/evil.json", "C:/evil.json", "steps\\..\\evil.json"]
)
def test_traversal_and_absolute_member_names_are_refused(saved, tmp_path, name):
    path = _rewrite(saved, tmp_path / "evil.llmrad", add={name: b"{}"})
    with pytest.raises(UnsafeModelError, match="member named"):
        load(path)


def test_deeply_nested_manifest_is_a_clear_error(saved, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = _rewrite(saved, tmp_path / "deep.llmrad", replace={"manifest.json": deep.encode()})
    with pytest.raises(ModelFileError, match="corrupt"):
        load(path)


# --------------------------------------------------------------------------- every model
@pytest.fixture(scope="module")
def benchmark_data():
    X, y = _table(n=16)
    rng = np.random.default_rng(1)
    crops = pd.DataFrame(
        {
            "image": [rng.normal(size=(20, 24)).astype(np.float32) for _ in range(len(y))],
            "mask": [np.ones((20, 24), np.uint8) for _ in range(len(y))],
        }
    )
    return X, crops, y


def _default_model_names():
    from sklearn_llmrad.benchmark import default_models

    return list(default_models())


@pytest.mark.parametrize("name", _default_model_names())
def test_every_default_model_round_trips(name, benchmark_data, tiny_bert_dir, tmp_path):
    from sklearn_llmrad.benchmark import default_models

    torch.set_num_threads(1)
    X, crops, y = benchmark_data
    spec = default_models()[name]
    settings = {
        "k": 3,
        "language_model": str(tiny_bert_dir),
        "encoder_params": {"batch_size": 64},
        "classifier_params": {"max_epochs": 1, "hidden_size": 8, "n_heads": 2},
        "random_state": 0,
        "device": "cpu",
        "cnn_size": 16,
        "cnn_params": {"max_epochs": 1, "batch_size": 8, "augment": False},
    }
    model = spec.factory(**settings)
    X_in = crops if spec.input == "crops" else X
    model.fit(X_in, y)
    _assert_round_trip_and_refit(model, X_in, y, tmp_path / f"{name}.llmrad", tiny_bert_dir)


def test_a_model_that_holds_code_is_refused_by_load_and_by_fit(benchmark_data, tmp_path, capsys):
    # a column selector that is a Python function: a model file never brings it back, and llmrad fit
    # refuses a model that says it holds code (ModelSpec.saveable=False) up front
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from sklearn_llmrad.benchmark import DEFAULT_REGISTRY, ModelSpec
    from sklearn_llmrad.cli import main

    X, _, y = benchmark_data
    numeric = ColumnTransformer([("features", "passthrough", _numeric_columns)])
    model = make_pipeline(numeric, LogisticRegression()).fit(X, y)
    save(model, tmp_path / "code.llmrad")
    with pytest.raises(UnsafeModelError, match="refusing to load"):
        load(tmp_path / "code.llmrad")
    spec = ModelSpec("holds-code", "Holds code", lambda **_: model, "features", saveable=False)
    DEFAULT_REGISTRY.add(spec)
    try:
        out = tmp_path / "fit.llmrad"
        assert main(["fit", "--dataset", "synthetic", "--model", "holds-code", "--out", str(out)]) == 2
    finally:
        DEFAULT_REGISTRY.unregister("holds-code")
    assert "cannot be saved" in capsys.readouterr().err and not out.exists()


def _numeric_columns(X):
    return [c for c in X.columns if X[c].dtype.kind == "f"]


def _assert_round_trip_and_refit(model, X, y, path, language_model):
    """save -> load predicts identically, and the loaded model refits exactly like the original."""
    from sklearn.base import clone

    save(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loaded = load(path, language_model=language_model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    refit_original = clone(model).fit(X, y)
    refit_loaded = clone(loaded).fit(X, y)
    np.testing.assert_array_equal(refit_loaded.predict_proba(X), refit_original.predict_proba(X))


@pytest.fixture(scope="module")
def random_prior():
    from sklearn_llmrad.prior import SemanticPrior

    rng = np.random.default_rng(3)
    studies = {}
    for s in range(3):
        y = rng.integers(0, 2, 60)
        table = pd.DataFrame(rng.normal(size=(60, len(FEATURES))), columns=FEATURES)
        table[FEATURES[0]] += y
        studies[f"s{s}"] = (table, y)
    return SemanticPrior(name_vectors="random", alpha=1.0).fit(studies)


@pytest.mark.parametrize("fallback", ["linear", None])
def test_default_pipeline_with_a_prior_round_trips_and_refits(
    fallback, random_prior, benchmark_data, tiny_bert_dir, tmp_path
):
    # issue 19: the fusion network's prior came back unfitted, so clone(loaded).fit failed
    from sklearn_llmrad.pipelines import make_llmrad_pipeline

    torch.set_num_threads(1)
    X, _, y = benchmark_data
    kwargs = {} if fallback == "linear" else {"fallback": None}
    model = make_llmrad_pipeline(
        k=3,
        language_model=str(tiny_bert_dir),
        encoder_params={"batch_size": 64},
        classifier_params={"max_epochs": 1, "hidden_size": 8, "n_heads": 2, "prior_pooling": 1.0},
        prior=random_prior,
        random_state=0,
        device="cpu",
        **kwargs,
    )[2:]  # on the radiomics table: everything after CLAHE and PyRadiomics
    model.fit(X, y)
    _assert_round_trip_and_refit(model, X, y, tmp_path / "prior.llmrad", tiny_bert_dir)


# --------------------------------------------------------------------------- other crafted manifests
@pytest.mark.parametrize(
    "name", ["predict_proba", "__class__", "classes_", "history_", "forward", "get_loss", "__dict__"]
)
def test_manifest_cannot_set_methods_or_internals(saved, tmp_path, name):
    # e.g. predict_proba=<an allow-listed function> would hijack prediction
    def edit(m, marker):
        _net(m)["attributes"][name] = {"$type": "ref", "name": "builtins.print"}

    path, _ = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="not a fitted attribute|holds only data"):
        load(path)


def test_inline_array_with_a_huge_dtype_is_refused(saved, tmp_path):
    def edit(m, marker):
        _net(m)["attributes"]["feature_names_in_"] = {
            "$type": "ndarray",
            "dtype": "<U100000000",
            "shape": [4],
            "data": ["a", "b", "c", "d"],
        }

    path, _ = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="refusing to allocate"):
        load(path)


def test_manifest_missing_fields_or_weights_is_a_clear_error(saved, tmp_path):
    path, _ = _tampered(saved, tmp_path, lambda m, _: _net(m).pop("params"))
    with pytest.raises(ModelFileError, match="malformed manifest"):
        load(path)
    path, _ = _tampered(saved, tmp_path, lambda m, _: _net(m)["state_dicts"]["module"].append("evil"))
    with pytest.raises(ModelFileError, match="missing from the file"):
        load(path)


# --------------------------------------------------------------------------- issue 19: values, not only names
def _choice_net(m):
    """The fusion network inside the default method's inner-CV choice (its ``llmrad`` candidate)."""
    node = m["estimator"]["steps"][-1]["node"]
    (candidate,) = [c for c in node["candidates"] if c["name"] == "llmrad"]
    inner = candidate["node"]
    return inner["steps"][-1]["node"] if inner["kind"] == "pipeline" else inner


def _compile_attack(marker, *, rename_weights):
    command = f"sh -c 'touch {marker}' x"

    def edit(net):
        net["params"]["compile"] = True
        net["params"]["compile__options"] = {"$type": "dict", "items": [["cpp.cxx", command]]}
        net["params"]["compile__backend"] = "inductor"
        if rename_weights:  # what a compiled module's state dict looks like
            net["state_dicts"]["module"] = [f"_orig_mod.{k}" for k in net["state_dicts"]["module"]]

    return edit


@pytest.mark.parametrize("where", ["flat", "choice"])
def test_compile_options_from_a_file_are_never_used(saved, saved_choice, tmp_path, where):
    marker = tmp_path / "pwned"
    src, find = (saved, _net) if where == "flat" else (saved_choice[0], _choice_net)
    X, _ = _table()
    path = _rewrite(
        src, tmp_path / "evil.llmrad", manifest=lambda m: _compile_attack(marker, rename_weights=False)(find(m))
    )
    with pytest.warns(ModelFileWarning, match=r"compile=True.*compile__options"):
        loaded = load(path)
    net = loaded[-1] if where == "flat" else loaded[-1].estimators_["llmrad"][-1]
    assert net.compile is False
    assert not any(k.startswith("compile__") for k in net.get_params())
    loaded.predict_proba(X)
    assert not marker.exists()


def test_compiled_weight_names_do_not_fit_an_uncompiled_network(saved, tmp_path):
    marker = tmp_path / "pwned"
    path = _rewrite(
        saved, tmp_path / "evil.llmrad", manifest=lambda m: _compile_attack(marker, rename_weights=True)(_net(m))
    )
    _rename_tensors(path, "state.module.", "state.module._orig_mod.")
    with pytest.warns(ModelFileWarning, match="compile"), pytest.raises(ModelFileError, match="does not match"):
        load(path)
    assert not marker.exists()


def _rename_tensors(path, old, new):
    from safetensors.torch import load as st_load
    from safetensors.torch import save as st_save

    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    name = json.loads(members["manifest.json"])["estimator"]["steps"][-1]["node"]["tensors"]
    tensors = {k.replace(old, new, 1): v for k, v in st_load(members[name]).items()}
    members[name] = st_save(tensors)
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


def _memmap(target, mode):
    return {
        "$type": "object",
        "class": "numpy.memmap",
        "params": {"filename": str(target), "mode": mode, "shape": {"$type": "tuple", "items": [1]}},
    }


@pytest.mark.parametrize("mode", ["w+", "r"])
@pytest.mark.parametrize("place", ["params", "attributes"])
def test_numpy_memmap_in_a_manifest_never_opens_a_file(saved, tmp_path, mode, place):
    victim = tmp_path / "victim.txt"
    victim.write_text("secret\n")
    created = tmp_path / "created.bin"
    target = victim if mode == "r" else created

    def edit(m):
        _net(m)[place]["x_" if place == "attributes" else "module__extra"] = _memmap(target, mode)

    path = _rewrite(saved, tmp_path / "evil.llmrad", manifest=edit)
    with pytest.raises(UnsafeModelError, match="numpy.memmap"):
        load(path)
    assert victim.read_text() == "secret\n"
    assert not created.exists()


def test_numpy_memmap_in_a_skops_payload_is_refused(tmp_path):
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit([[0.0], [1.0]])
    created = tmp_path / "created.bin"
    path = save(scaler, tmp_path / "ok.llmrad")
    # a skops payload holding an ndarray subclass that opens a file when built
    scaler.extra_ = np.memmap(tmp_path / "while-saving.bin", mode="w+", shape=(1,))
    evil = save(scaler, tmp_path / "evil.llmrad")
    (tmp_path / "while-saving.bin").unlink()
    with pytest.raises(UnsafeModelError, match="numpy.memmap"):
        load(evil)
    assert not (tmp_path / "while-saving.bin").exists() and not created.exists()
    load(path)  # the genuine file still loads


def test_a_network_module_is_never_built_from_a_file(saved, tmp_path):
    # TorchvisionCNN(weights_file=...) as a value would torch.load a path the file chose
    weights = tmp_path / "weights.pt"
    torch.save({"x": torch.zeros(1)}, weights)

    def edit(m):
        _net(m)["params"]["module"] = {
            "$type": "object",
            "class": "sklearn_llmrad.models.cnn.TorchvisionCNN",
            "params": {"arch": "resnet50", "weights_file": str(weights)},
        }

    path = _rewrite(saved, tmp_path / "evil.llmrad", manifest=edit)
    with pytest.raises(UnsafeModelError, match="allow-list of objects built from a file"):
        load(path)


def _set_build_state(net, key, value):
    """Set one entry of a skorch node's JSON-encoded build state (a ``$type: dict``)."""
    for item in net["build_state"]["items"]:
        if item[0] == key:
            item[1] = value


@pytest.mark.parametrize(
    "edit",
    [
        lambda net: _set_build_state(net, "n_features", 10**12),
        lambda net: net["params"].update({"hidden_size": 2**24}),
        lambda net: net["params"].update({"module__n_features": 2**24}),
    ],
    ids=["n_features", "hidden_size", "routed"],
)
def test_sizes_are_checked_against_the_weights_before_allocating(saved, tmp_path, edit):
    import resource

    path = _rewrite(saved, tmp_path / "big.llmrad", manifest=lambda m: edit(_net(m)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises((ModelFileError, UnsafeModelError)):
        load(path)
    # a 2^24 x 2^24 float matrix would need 1 PiB; nothing near 1 GB was touched
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 2**20  # KiB


def test_cache_folders_and_pipeline_memory_are_never_taken_from_a_file(tmp_path, tiny_bert_dir):
    from sklearn.pipeline import Pipeline

    from sklearn_llmrad import BioBERTEncoder
    from sklearn_llmrad.models import LLMRadiomicsClassifier

    X, y = _table()
    pipe = Pipeline(
        [
            ("enc", BioBERTEncoder(language_model=str(tiny_bert_dir), device="cpu")),
            ("clf", LLMRadiomicsClassifier(max_epochs=1, hidden_size=8, n_heads=2, device="cpu", random_state=0)),
        ]
    ).fit(X[FEATURES + ["age", "density", "history"]], y)
    path = save(pipe, tmp_path / "m.llmrad")
    elsewhere = tmp_path / "attacker-chosen"

    def edit(m):
        m["estimator"]["params"]["memory"] = str(elsewhere / "memory")

    evil = _rewrite(path, tmp_path / "evil.llmrad", manifest=edit)
    # the encoder's cache folder inside its skops payload, set before saving, is not stored either
    with pytest.warns(ModelFileWarning, match="memory="):
        loaded = load(evil, language_model=tiny_bert_dir)
    assert loaded.memory is None and loaded[0].cache_dir is None
    pipe[0].set_params(cache_dir=str(elsewhere / "cache"))
    resaved = save(pipe, tmp_path / "with-cache.llmrad")
    assert load(resaved, language_model=tiny_bert_dir)[0].cache_dir is None
    loaded.predict_proba(X)
    assert not elsewhere.exists()


def test_a_skops_payload_with_a_cache_folder_is_reset_with_a_warning(tmp_path, tiny_bert_dir):
    import copy

    import skops.io as sio

    from sklearn_llmrad import BioBERTEncoder

    X, _ = _table()
    enc = BioBERTEncoder(language_model="org/model", device="cpu")
    path = tmp_path / "m.llmrad"
    scaler_like = copy.copy(enc)
    scaler_like.cache_dir = str(tmp_path / "attacker-chosen")
    # hand-made archive: the payload itself carries the path
    manifest = {
        "format": "sklearn-llmrad-model",
        "format_version": 2,
        "versions": {},
        "estimator": {"kind": "skops", "class": "sklearn_llmrad.encoding.BioBERTEncoder", "file": "steps/0.skops"},
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("steps/0.skops", sio.dumps(scaler_like))
    with pytest.warns(ModelFileWarning, match="cache_dir="):
        loaded = load(path)
    assert loaded.cache_dir is None and loaded.language_model == "org/model"


def test_two_manifests_in_one_archive_are_refused(saved, tmp_path):
    with zipfile.ZipFile(saved) as zin:
        members = [(n, zin.read(n)) for n in zin.namelist()]
    path = tmp_path / "dup.llmrad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "w") as zout:
            for n, data in members:
                zout.writestr(n, data)
            zout.writestr("manifest.json", b'{"format": "harmless"}')
    with pytest.raises(UnsafeModelError, match="two members named 'manifest.json'"):
        load(path)


def test_encrypted_members_and_bf16_weights_are_model_file_errors(saved, tmp_path):
    from safetensors.torch import save as st_save

    with zipfile.ZipFile(saved) as zin:
        members = [(zin.getinfo(n), zin.read(n)) for n in zin.namelist()]
    path = tmp_path / "encrypted.llmrad"
    data = bytearray(saved.read_bytes())
    # set the "encrypted" bit of every local and central header (zipfile cannot write one)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            data[start + offset] |= 0x1
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="encrypted"):
        load(path)
    # weights of another dtype than the network's
    name = _net(json.loads(dict((i.filename, d) for i, d in members)["manifest.json"]))["tensors"]
    from safetensors.torch import load as st_load

    tensors = {
        k: v.to(torch.bfloat16) if v.is_floating_point() else v
        for k, v in st_load(dict((i.filename, d) for i, d in members)[name]).items()
    }
    bf16 = _rewrite(saved, tmp_path / "bf16.llmrad", replace={name: st_save(tensors)})
    # bfloat16 weights are cast into the float32 network (a lossy but harmless file)
    proba = load(bf16).predict_proba(_table()[0])
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1)


@pytest.mark.parametrize("depth", [600, 900])
def test_deep_values_are_model_file_errors(saved, tmp_path, depth):
    value = "x"
    for _ in range(depth):
        value = [value]
    path = _rewrite(saved, tmp_path / "deep.llmrad", manifest=lambda m: _net(m)["params"].update({"lr": value}))
    with pytest.raises(ModelFileError):
        load(path)


@pytest.mark.parametrize(
    "name, value",
    [
        ("iterator_valid__num_workers", 10**6),
        ("iterator_valid__batch_sampler_x", 1),
        ("dataset__X", [1, 2]),
        ("train_split__cv", 5),
        ("optimizer__lr", "fast"),
        ("module__x", {"$type": "ref", "name": "builtins.print"}),
    ],
)
def test_routed_parameters_follow_a_schema(saved, tmp_path, name, value):
    path = _rewrite(saved, tmp_path / "evil.llmrad", manifest=lambda m: _net(m)["params"].update({name: value}))
    with pytest.raises(UnsafeModelError):
        load(path)


def test_routed_parameters_within_the_schema_load(saved, tmp_path):
    def edit(m):
        _net(m)["params"].update({"optimizer__weight_decay": 0.01, "iterator_valid__num_workers": 0})

    loaded = load(_rewrite(saved, tmp_path / "ok.llmrad", manifest=edit))
    assert loaded[-1].get_params()["optimizer__weight_decay"] == 0.01


# -- scikit-learn trees wherever a payload holds them, and of the width their estimators check -------------


def _two_columns(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] > 0).astype(int)


def _crafted_tree(tree, n_features, feature):
    """A copy of ``tree`` declaring ``n_features`` features, its root split on ``feature``."""
    from sklearn.tree._tree import Tree

    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["feature"][0] = feature
    out = Tree(n_features, np.array([2], dtype=np.intp), 1)
    out.__setstate__({**state, "nodes": nodes})
    return out


def test_a_tree_inside_a_calibrated_classifier_is_checked(tmp_path):
    # the calibrated tree sits in a _CalibratedClassifier (not an estimator): it is checked all the same
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.tree import DecisionTreeClassifier

    X, y = _two_columns()
    model = CalibratedClassifierCV(estimator=DecisionTreeClassifier(max_depth=3, random_state=0), cv=2).fit(X, y)
    back = load(save(model, tmp_path / "good.llmrad"))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    tree = model.calibrated_classifiers_[0].estimator.tree_
    model.calibrated_classifiers_[0].estimator.tree_ = _crafted_tree(tree, 2, 10**6)
    save(model, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match="DecisionTreeClassifier.tree_ has a split"):
        load(tmp_path / "evil.llmrad")


def test_a_tree_nested_deeper_than_eight_levels_is_checked(tmp_path):
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = _two_columns()
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    tree.tree_ = _crafted_tree(tree.tree_, 2, 10**6)
    scaler = StandardScaler().fit(X)
    nested = tree
    for _ in range(10):
        nested = [nested]
    scaler.extra_ = nested  # data with an allow-listed estimator inside, ten lists down
    save(scaler, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match="tree_ has a split"):
        load(tmp_path / "evil.llmrad")


@pytest.mark.parametrize("where", ["tree", "forest"])
def test_a_tree_wider_than_its_estimator_checks_is_refused(tmp_path, where):
    # without n_features_in_, scikit-learn skips its own width check; a forest hands its checked input on
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = _two_columns()
    if where == "tree":
        model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
        model.tree_ = _crafted_tree(model.tree_, 1000, 999)
        del model.n_features_in_
        words = "n_features_in_ is None"
    else:
        model = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X, y)
        sub = model.estimators_[0]
        sub.tree_ = _crafted_tree(sub.tree_, 1000, 999)
        sub.n_features_in_ = 1000
        words = "has 1000 features, its ensemble RandomForestClassifier 2"
    save(model, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match=words):
        load(tmp_path / "evil.llmrad")


def test_every_tree_the_payload_builds_must_have_been_checked():
    from sklearn.tree import DecisionTreeClassifier

    from sklearn_llmrad.io._trees import check_sklearn_trees  # noqa: PLC2701 - the check load() uses

    X, y = _two_columns()
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    assert check_sklearn_trees(model, where="demo", expected=1) is model
    with pytest.raises(UnsafeModelError, match="holds 2 scikit-learn trees, 1 of them"):
        check_sklearn_trees(model, where="demo", expected=2)
    nested = model
    for _ in range(40):
        nested = [nested]
    with pytest.raises(UnsafeModelError, match="levels deep"):
        check_sklearn_trees(nested, where="demo")


@pytest.mark.parametrize("kind", ["bagging", "adaboost", "rfe"])
def test_ensembles_of_trees_round_trip(tmp_path, kind):
    # their trees see the ensemble's input, a subset of its columns or a selection's: each checked by its width
    from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier
    from sklearn.feature_selection import RFE
    from sklearn.tree import DecisionTreeClassifier

    X, y = _two_columns()
    X = np.column_stack([X, X[:, ::-1] ** 2])
    tree = DecisionTreeClassifier(max_depth=2, random_state=0)
    model = {
        "bagging": lambda: BaggingClassifier(tree, n_estimators=3, max_features=2, random_state=0),
        "adaboost": lambda: AdaBoostClassifier(tree, n_estimators=3, random_state=0),
        "rfe": lambda: RFE(tree, n_features_to_select=2),
    }[kind]().fit(X, y)
    back = load(save(model, tmp_path / "m.llmrad"))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
