"""Saving and loading fitted pipelines without pickle (sklearn_llmrad.io).

The method pipeline (TopKSelector -> BioBERTEncoder -> LLMRadiomicsClassifier)
is fitted once on a small radiomics-like table with a tiny real BERT; every
test then saves/loads it. The tampering tests build files that would run code
(a marker file appears) if they were executed, and check both the refusal and
that the marker does not exist.
"""

import io
import json
import os
import pickle
import shutil
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_llmrad import BioBERTEncoder, LLMRadiomicsClassifier, TopKSelector
from sklearn_llmrad.io import ModelFileError, ModelFileWarning, UnsafeModelError, load, save

FEATURES = [
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    "wavelet-LH_glcm_Correlation",
    "original_firstorder_Energy",
    "original_glrlm_RunEntropy",
    "original_firstorder_Skewness",
]


def _table(n=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[[0] * (n // 2), [1] * (n - n // 2)]
    X = pd.DataFrame(
        rng.normal(size=(n, len(FEATURES))) + 0.7 * y[:, None],
        columns=FEATURES,
        index=[f"case_{seed}_{i}" for i in range(n)],
    )
    X["age"] = rng.integers(40, 80, n).astype(float)
    X["density"] = rng.choice(list("ABCD"), n)
    X["history"] = rng.choice(["family history of breast cancer", "none", None], n)
    return X, y


def _pipeline(model_dir):
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TopKSelector(k=4),
        BioBERTEncoder(language_model=str(model_dir), device="cpu", batch_size=64),
        LLMRadiomicsClassifier(max_epochs=3, hidden_size=16, n_heads=2, random_state=0, device="cpu"),
    )


@pytest.fixture(scope="module")
def lm_dir(tiny_bert_dir, tmp_path_factory):
    # a private copy: some tests delete or edit the model directory
    path = tmp_path_factory.mktemp("lm") / "tiny-bert"
    shutil.copytree(tiny_bert_dir, path)
    return path


@pytest.fixture(scope="module")
def fitted(lm_dir):
    torch.set_num_threads(1)
    X, y = _table()
    return _pipeline(lm_dir).fit(X, y), X, y


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    model, _, _ = fitted
    return save(model, tmp_path_factory.mktemp("saved") / "model.llmrad")


def _rewrite(src, dst, *, manifest=None, replace=None, add=None):
    """Copy a model archive, editing the manifest or members on the way."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "manifest.json" and manifest is not None:
                m = json.loads(data)
                manifest(m)
                data = json.dumps(m).encode()
            data = replace.get(name, data)
            zout.writestr(name, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def _load_quiet(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no version/model warnings expected
        return load(path, **kwargs)


# --------------------------------------------------------------------------- round trip
def test_pipeline_round_trip_identical_predictions(fitted, saved, lm_dir):
    model, X, _ = fitted
    X_new, _ = _table(n=12, seed=1)  # unseen lesions: new clinical sentences to embed
    # the file names its language model by a folder of this machine, which a file
    # never sets: the caller names it
    loaded = _load_quiet(saved, language_model=lm_dir)
    assert [name for name, _ in loaded.steps] == [name for name, _ in model.steps]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict_proba(X_new), model.predict_proba(X_new))
    np.testing.assert_array_equal(loaded.predict(X_new), model.predict(X_new))
    # fitted state survives: selection, encoder statistics, classifier attributes
    np.testing.assert_array_equal(loaded[0].get_feature_names_out(), model[0].get_feature_names_out())
    np.testing.assert_array_equal(loaded[1].feature_embeddings_, model[1].feature_embeddings_)
    np.testing.assert_array_equal(loaded[2].classes_, model[2].classes_)
    assert loaded[2].get_params()["hidden_size"] == 16
    assert len(loaded[2].history_) == len(model[2].history_)


def test_explanations_survive_round_trip(fitted, saved, lm_dir):
    model, X, _ = fitted
    loaded = _load_quiet(saved, language_model=lm_dir)
    a = model[-1].explain(model[:-1].transform(X.iloc[:3]))
    b = loaded[-1].explain(loaded[:-1].transform(X.iloc[:3]))
    assert set(a) == set(b)
    np.testing.assert_array_equal(a["probability"], b["probability"])
    assert len(a["rationale"]) == 3
    assert a["rationale"] == b["rationale"]
    for key in set(a) - {"probability", "rationale"}:
        assert repr(a[key]) == repr(b[key]), key


def test_archive_holds_no_pickle_and_a_complete_manifest(saved, lm_dir):
    with zipfile.ZipFile(saved) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        assert all(n.endswith((".json", ".skops", ".safetensors")) for n in names), names
        for name in names:
            if name.endswith(".skops"):
                inner = zipfile.ZipFile(io.BytesIO(zf.read(name)))
                assert all(m == "schema.json" or m.endswith(".npy") for m in inner.namelist())
        # no training patient's clinical text (the encoder's embedding memory) is stored
        blob = b"".join(zf.read(n) for n in names)
        for inner_name in names:
            if inner_name.endswith(".skops"):
                inner = zipfile.ZipFile(io.BytesIO(zf.read(inner_name)))
                blob += b"".join(inner.read(m) for m in inner.namelist())
        assert b"year-old" not in blob and b"family history" not in blob.lower()
    versions = manifest["versions"]
    for lib in ("sklearn_llmrad", "sklearn", "torch", "transformers", "skorch", "pyradiomics"):
        assert versions[lib], lib
    steps = manifest["estimator"]["steps"]
    assert [s["node"]["kind"] for s in steps] == ["skops", "skops", "skorch"]
    lm = steps[1]["node"]["language_model"]
    assert lm["id"] == str(lm_dir)
    assert len(lm["config_sha256"]) == 64
    assert "included_files" not in lm  # referenced, not stored, by default
    net = steps[2]["node"]
    assert net["class"] == "sklearn_llmrad.models.classifier.LLMRadiomicsClassifier"
    assert net["params"]["module"] == {"$type": "ref", "name": "sklearn_llmrad.models.fusion.FusionModule"}


def test_single_estimator_round_trip(fitted, tmp_path):
    model, X, _ = fitted
    Z = model[:-1].transform(X)
    path = save(model[-1], tmp_path / "clf.llmrad")
    np.testing.assert_array_equal(_load_quiet(path).predict_proba(Z), model[-1].predict_proba(Z))
    path = save(model[0], tmp_path / "sel.llmrad")
    pd.testing.assert_frame_equal(_load_quiet(path).transform(X), model[0].transform(X))


def test_cnn_baseline_round_trip(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    from sklearn_llmrad import ResNet50Classifier

    # "pretrained" weights from a local file, as a user would pass them
    torch.manual_seed(0)
    pretrained = tmp_path / "resnet50-pretrained.safetensors"
    save_file(torchvision.models.resnet50(weights=None).state_dict(), str(pretrained))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3, 32, 32)).astype(np.float32)
    y = np.array([0, 1] * 4)
    clf = ResNet50Classifier(
        weights=str(pretrained), max_epochs=1, batch_size=8, device="cpu", random_state=0, augment=False
    ).fit(X, y)
    path = save(clf, tmp_path / "cnn.llmrad")
    pretrained.unlink()  # the fine-tuned weights are in the file; the pretrained ones are not needed
    # a weights file is a path on the saving machine: never taken from a model file
    with pytest.warns(ModelFileWarning, match="weights="):
        loaded = load(path)
    # batch-norm running statistics are part of the weights; the input normalisation
    # the pretrained weights implied is saved with the network
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params()["weights"] is None


def test_included_language_model_works_without_the_original(fitted, tmp_path):
    model, X, y = fitted
    lm_copy = tmp_path / "lm-copy"
    shutil.copytree(model[1].language_model, lm_copy)
    own = _pipeline(lm_copy).fit(X, y)
    path = save(own, tmp_path / "with-lm.llmrad", include_language_model=True)
    with zipfile.ZipFile(path) as zf:
        assert any(n.endswith("language_model/model.safetensors") for n in zf.namelist())
    X_new, _ = _table(n=8, seed=2)
    expected = own.predict_proba(X_new)
    shutil.rmtree(lm_copy)  # the original model is gone
    loaded = _load_quiet(path, language_model_dir=tmp_path / "extracted")
    assert (tmp_path / "extracted" / "model.safetensors").is_file()
    np.testing.assert_allclose(loaded.predict_proba(X_new), expected, rtol=0, atol=1e-6)


def test_referenced_model_that_changed_warns(saved, lm_dir, tmp_path):
    lm_copy = tmp_path / "lm-copy"
    shutil.copytree(lm_dir, lm_copy)

    def refer_to_copy(m):
        m["estimator"]["steps"][1]["node"]["language_model"]["id"] = str(lm_copy)

    path = _rewrite(saved, tmp_path / "m.llmrad", manifest=refer_to_copy)
    _load_quiet(path, language_model=lm_copy)  # same config: no warning
    config = json.loads((lm_copy / "config.json").read_text())
    config["layer_norm_eps"] = 1e-5
    (lm_copy / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="differs from the one the file was fitted with"):
        load(path, language_model=lm_copy)


def test_language_model_folder_in_a_file_is_not_taken(fitted, saved, lm_dir):
    # the file's reference is a folder of the saving machine: reset, with a warning
    # that says how to name the model; nothing is read from that folder
    with pytest.warns(ModelFileWarning, match="language_model=PATH"):
        loaded = load(saved)
    assert loaded[1].language_model == "dmis-lab/biobert-base-cased-v1.2"


def test_library_version_mismatch_warns(saved, tmp_path):
    def older(m):
        m["versions"]["sklearn"] = "0.0.1"
        m["versions"]["transformers"] = "1.0"

    path = _rewrite(saved, tmp_path / "old.llmrad", manifest=older)
    with pytest.warns(UserWarning, match=r"scikit-learn|sklearn 0\.0\.1"):
        load(path)


def test_cuda_recorded_loads_on_cpu_with_warning(fitted, saved, lm_dir, tmp_path):
    model, X, _ = fitted

    def on_cuda(m):
        m["estimator"]["steps"][2]["node"]["params"]["device"] = "cuda:0"

    path = _rewrite(saved, tmp_path / "cuda.llmrad", manifest=on_cuda)
    if torch.cuda.is_available():
        loaded = load(path, language_model=lm_dir)
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    else:
        with pytest.warns(UserWarning, match="not available; loading on CPU"):
            loaded = load(path, language_model=lm_dir)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert torch.device(_load_quiet(saved, device="cpu", language_model=lm_dir)[2].device).type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_to_gpu_round_trip(fitted, saved):
    model, X, _ = fitted
    loaded = load(saved, device="cuda")
    assert next(loaded[2].module_.parameters()).is_cuda
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# --------------------------------------------------------------------------- tampering
class _RunsCode:
    """Unpickling this creates the marker file (what a malicious pickle does)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_instead_of_weights_is_refused(saved, tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_RunsCode(marker))
    path = _rewrite(saved, tmp_path / "evil.llmrad", replace={"steps/2.safetensors": evil})
    with pytest.raises(UnsafeModelError, match="pickle"):
        load(path)
    assert not marker.exists()


def test_torch_save_file_instead_of_weights_is_refused(saved, tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"weights": _RunsCode(marker)}, buffer)
    path = _rewrite(saved, tmp_path / "evil.llmrad", replace={"steps/2.safetensors": buffer.getvalue()})
    with pytest.raises(UnsafeModelError, match="pickle"):
        load(path)
    assert not marker.exists()


def test_undeclared_pickle_member_is_refused(saved, tmp_path):
    marker = tmp_path / "pwned"
    path = _rewrite(saved, tmp_path / "evil.llmrad", add={"steps/evil.pkl": pickle.dumps(_RunsCode(marker))})
    with pytest.raises(UnsafeModelError, match="does not declare"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_skops_payload_with_dangerous_type_is_refused(saved, tmp_path, target):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "pwned"
    module, name = target.rsplit(".", 1)
    # a step that, once loaded, would call the dangerous callable on transform
    payload = sio.dumps(FunctionTransformer(func=print, kw_args={"args": ["touch", str(marker)]}))
    inner = zipfile.ZipFile(io.BytesIO(payload))
    schema = json.loads(inner.read("schema.json"))
    func = schema["content"]["content"]["func"]
    func["__module__"], func["__class__"] = module, name
    func["content"] = {"module_path": module, "function": name}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for m in inner.namelist():
            z.writestr(m, json.dumps(schema) if m == "schema.json" else inner.read(m))

    def as_function_transformer(m):
        m["estimator"]["steps"][0]["node"]["class"] = "sklearn.preprocessing._function_transformer.FunctionTransformer"

    path = _rewrite(
        saved, tmp_path / "evil.llmrad", manifest=as_function_transformer, replace={"steps/0.skops": out.getvalue()}
    )
    with pytest.raises(UnsafeModelError, match=target.replace(".", r"\.")):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["estimator"]["steps"][0]["node"].update({"class": "os.system"}),
        lambda m: m["estimator"].update({"class": "subprocess.Popen"}),
        lambda m: m["estimator"]["steps"][2]["node"].update({"class": "sklearn_llmrad.io.save"}),
        lambda m: m["estimator"]["steps"][2]["node"]["params"].update(
            {"module": {"$type": "ref", "name": "builtins.eval"}}
        ),
        lambda m: m["estimator"]["steps"][2]["node"]["params"].update(
            {
                "callbacks": [
                    {
                        "$type": "object",
                        "class": "subprocess.Popen",
                        "params": {"args": {"$type": "tuple", "items": ["touch", "MARKER"]}},
                    }
                ]
            }
        ),
        lambda m: m["estimator"]["steps"][2]["node"]["params"].update(
            {
                "callbacks": [
                    {
                        "$type": "object",
                        "class": "skorch.callbacks.training.Checkpoint",
                        "params": {"dirname": "MARKER"},
                    }
                ]
            }
        ),
    ],
    ids=["step-os.system", "root-Popen", "own-function", "ref-eval", "Popen-callback", "checkpoint"],
)
def test_manifest_naming_unlisted_class_is_refused(saved, tmp_path, edit):
    marker = tmp_path / "pwned"

    def tamper(m):
        edit(m)
        text = json.dumps(m).replace("MARKER", str(marker))
        m.clear()
        m.update(json.loads(text))

    path = _rewrite(saved, tmp_path / "evil.llmrad", manifest=tamper)
    with pytest.raises(UnsafeModelError, match="allow-list"):
        load(path)
    assert not marker.exists()


def test_trusted_extends_the_allow_list(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X = np.arange(12.0).reshape(6, 2)
    model = make_pipeline(FunctionTransformer(np.nan_to_num), StandardScaler()).fit(X)
    path = save(model, tmp_path / "m.llmrad")
    with pytest.raises(UnsafeModelError, match="numpy.nan_to_num"):
        load(path)
    loaded = load(path, trusted=["numpy.nan_to_num"])
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_language_model_file_outside_its_folder_is_refused(fitted, tmp_path):
    model, _, _ = fitted
    path = save(model, tmp_path / "m.llmrad", include_language_model=True)

    def traverse(m):
        m["estimator"]["steps"][1]["node"]["language_model"]["included_files"].append("../../evil.json")

    evil = _rewrite(
        path, tmp_path / "evil.llmrad", manifest=traverse, add={"steps/1/language_model/../../evil.json": b"{}"}
    )
    with pytest.raises(UnsafeModelError, match="evil.json"):
        load(evil, language_model_dir=tmp_path / "lm")
    assert not (tmp_path / "evil.json").exists()


# --------------------------------------------------------------------------- bad files
def test_corrupt_files_raise_model_file_error(saved, tmp_path):
    data = saved.read_bytes()
    (tmp_path / "trunc.llmrad").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load(tmp_path / "trunc.llmrad")
    (tmp_path / "text.llmrad").write_text("not a model")
    with pytest.raises(ModelFileError, match="not a sklearn-llmrad model file"):
        load(tmp_path / "text.llmrad")
    future = _rewrite(saved, tmp_path / "future.llmrad", manifest=lambda m: m.update(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99"):
        load(future)
    garbage = _rewrite(saved, tmp_path / "garbage.llmrad", replace={"steps/2.safetensors": b"\x00" * 64})
    with pytest.raises(ModelFileError, match="safetensors"):
        load(garbage)


def test_unfitted_net_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not initialized"):
        save(LLMRadiomicsClassifier(), tmp_path / "m.llmrad")


def test_a_skorch_net_that_does_not_state_its_file_state_is_refused_at_save(tmp_path):
    # a file holds what a net states through get_file_state; skorch's own nets state nothing
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(torch.nn.Linear, module__in_features=2, module__out_features=2).initialize()
    with pytest.raises(TypeError, match="get_file_state"):
        save(net, tmp_path / "m.llmrad")
    assert not (tmp_path / "m.llmrad").exists()
