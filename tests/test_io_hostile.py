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
from sklearn_llmrad.io import ModelFileError, UnsafeModelError, load, own_registry, save

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
    pipe, X = _fitted_tail()
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
    with pytest.raises(UnsafeModelError, match="not a fitted attribute"):
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
    from sklearn_llmrad import io as model_io

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m.json", b"x" * 100)
    with zipfile.ZipFile(path) as zf:
        assert model_io._read_member(zf, "m.json", 100) == b"x" * 100
        with pytest.raises(UnsafeModelError, match="more than 99 bytes"):
            model_io._read_member(zf, "m.json", 99)


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
        "encoder": str(tiny_bert_dir),
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
    path = save(model, tmp_path / f"{name}.llmrad")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X_in), model.predict_proba(X_in))
    np.testing.assert_array_equal(loaded.predict(X_in), model.predict(X_in))


# --------------------------------------------------------------------------- other crafted manifests
@pytest.mark.parametrize(
    "name", ["predict_proba", "__class__", "classes_", "history_", "forward", "get_loss", "__dict__"]
)
def test_manifest_cannot_set_methods_or_internals(saved, tmp_path, name):
    # e.g. predict_proba=<an allow-listed function> would hijack prediction
    def edit(m, marker):
        _net(m)["attributes"][name] = {"$type": "ref", "name": "builtins.print"}

    path, _ = _tampered(saved, tmp_path, edit)
    with pytest.raises(UnsafeModelError, match="not a fitted attribute"):
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
