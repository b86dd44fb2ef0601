"""The shared skorch base (models/_base.py): labels, mixed precision, persistence hooks."""

import json
import warnings
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.io import ModelFileError, load, save
from sklearn_llmrad.models import LLMRadiomicsClassifier, ResNet50Classifier
from sklearn_llmrad.models._base import SkorchClassifierBase, encode_labels

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "y,classes,expected",
    [
        ([0, 1, 1, 0], [1, 0], [1, 0, 0, 1]),
        ([0, 1, 1, 0], None, [0, 1, 1, 0]),
        (["m", "b", "m"], ["m", "b"], [0, 1, 0]),
        (["malignant", "benign"], None, [1, 0]),
        ([True, False], [True, False], [0, 1]),
    ],
)
def test_encode_labels_follows_the_given_order(y, classes, expected):
    encoded, found = encode_labels(y, classes)
    np.testing.assert_array_equal(encoded, expected)
    # decoding gives the labels back
    np.testing.assert_array_equal(found[encoded], np.asarray(y))


def test_encode_labels_errors():
    with pytest.raises(ValueError, match="not in classes"):
        encode_labels([0, 2], [0, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        encode_labels([1, 1])
    with pytest.raises(ValueError, match="duplicates"):
        encode_labels([0, 1], [0, 1, 0])


class _RecordingLoss(torch.nn.CrossEntropyLoss):
    """Cross-entropy that records the targets it is given (what fit encoded y to)."""

    seen: ClassVar[list] = []

    def forward(self, logits, target):
        type(self).seen.append(target.detach().cpu().numpy().copy())
        return super().forward(logits, target)


@pytest.mark.parametrize(
    "names,classes",
    [((0, 1), [1, 0]), (("disk", "ring"), ["ring", "disk"])],
    ids=["classes=[1,0]", "strings-unsorted"],
)
def test_cnn_encodes_labels_in_the_order_of_classes(names, classes):
    # formerly np.searchsorted on the unsorted classes mapped every label to index 0
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3, 16, 16)).astype(np.float32)
    index = np.array([1, 1, 1, 1, 1, 1, 0, 0])  # six of names[1], two of names[0]
    y = np.asarray(names)[index]
    _RecordingLoss.seen = []
    clf = ResNet50Classifier(
        criterion=_RecordingLoss,
        max_epochs=1,
        batch_size=8,
        augment=False,
        random_state=0,
        classes=classes,
        device="cpu",
    ).fit(X, y)
    targets = np.concatenate(_RecordingLoss.seen)
    # classes[0] == names[1] (six lesions) is index 0, classes[1] == names[0] is index 1
    assert sorted(targets.tolist()) == [0, 0, 0, 0, 0, 0, 1, 1]
    assert list(clf.classes_) == list(classes)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict(X), np.asarray(classes)[proba.argmax(axis=1)])
    assert set(clf.predict(X)) <= set(classes)


# --------------------------------------------------------------------------- the fusion net
def _semantic(n=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    values = rng.normal(size=(n, 3)).astype(np.float32) + y[:, None]
    X = SemanticFeatures(
        values=values,
        feature_embeddings=rng.normal(size=(3, 8)).astype(np.float32),
        clinical_embeddings=rng.normal(size=(n, 2, 8)).astype(np.float32),
        feature_names=["f0", "f1", "f2"],
    )
    return X, y


def _fusion(**kw):
    params = {"max_epochs": 2, "hidden_size": 8, "n_heads": 2, "random_state": 0, "device": "cpu"}
    return LLMRadiomicsClassifier(**{**params, **kw})


def test_both_classifiers_share_the_base():
    assert issubclass(LLMRadiomicsClassifier, SkorchClassifierBase)
    assert issubclass(ResNet50Classifier, SkorchClassifierBase)
    assert _fusion().get_params()["mixed_precision"] is True
    assert ResNet50Classifier().get_params()["mixed_precision"] is True


def test_mixed_precision_is_a_no_op_on_cpu():
    X, y = _semantic()
    on = _fusion(mixed_precision=True).fit(X, y)
    off = _fusion(mixed_precision=False).fit(X, y)
    assert not on._amp_enabled()
    assert "_amp_scaler" not in vars(on)  # no gradient scaler was created
    np.testing.assert_array_equal(on.predict_proba(X), off.predict_proba(X))
    # it would be used on a CUDA device (whether or not one is present here)
    assert _fusion(mixed_precision=True).set_params(device="cuda")._amp_enabled()
    assert not _fusion(mixed_precision=False).set_params(device="cuda")._amp_enabled()


class _ForcedAmp(LLMRadiomicsClassifier):
    """Takes the mixed-precision code path on the CPU (autocast/scaler disable themselves)."""

    def _amp_enabled(self):
        return True


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of the AMP path")
def test_mixed_precision_code_path_trains_like_the_plain_one():
    # without a GPU, torch.autocast("cuda") and GradScaler("cuda") disable
    # themselves: the overridden training step and optimizer step must then
    # train exactly as skorch's own
    X, y = _semantic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        forced = _ForcedAmp(**_fusion().get_params()).fit(X, y)
    plain = _fusion(mixed_precision=False).fit(X, y)
    assert "_amp_scaler" in vars(forced)
    np.testing.assert_array_equal(forced.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(forced.history_[:, "train_loss"], plain.history_[:, "train_loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mixed_precision_trains_on_cuda():
    X, y = _semantic(64)
    clf = _fusion(mixed_precision=True, lr=1e-2, max_epochs=20).set_params(device="cuda").fit(X, y)
    assert clf._amp_enabled() and "_amp_scaler" in vars(clf)
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    assert roc_auc_score(y, clf.predict_proba(X)[:, 1]) > 0.8


def test_string_labels_and_unsorted_classes_in_the_fusion_net():
    X, y = _semantic(32)
    labels = np.array(["benign", "malignant"])[y]
    clf = _fusion(classes=["malignant", "benign"], lr=1e-2, max_epochs=30).fit(X, labels)
    proba = clf.predict_proba(X)
    assert roc_auc_score(labels == "benign", proba[:, 1]) > 0.8
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_build_state_hook_rebuilds_the_fitted_network():
    X, y = _semantic()
    clf = _fusion().fit(X, y)
    state = clf.get_build_state()
    assert state["n_features"] == 3 and state["clinical_dim"] == 8 and state["n_classes"] == 2
    np.testing.assert_array_equal(state["feature_embeddings"], X.feature_embeddings)
    twin = _fusion()
    for name in (
        "classes_inferred_",
        "n_features_in_",
        "feature_names_in_",
        "_feature_names_",
        "feature_descriptions_",
        "input_kind_",
        "clinical_dim_",
    ):
        setattr(twin, name, getattr(clf, name))
    twin.initialize_for_restore(state)
    twin.module_.load_state_dict(clf.module_.state_dict())
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert "_module_context_" not in vars(twin)


def test_file_state_hooks_rebuild_the_fitted_net_without_io():
    X, y = _semantic()
    clf = _fusion().fit(X, y)
    state = clf.get_file_state()
    assert set(state) == {"params", "attributes", "build_state", "history"}
    # fitted state only: skorch's own attributes (modules, optimizers, history) are not in it
    assert "classes_inferred_" in state["attributes"] and "_feature_names_" in state["attributes"]
    assert not {"module_", "optimizer_", "history_", "initialized_"} & set(state["attributes"])
    assert clf.file_modules() == {"module": clf.module_, "criterion": clf.criterion_}
    twin = LLMRadiomicsClassifier.from_file_state(state)
    for name, module in twin.file_modules().items():
        module.load_state_dict(clf.file_modules()[name].state_dict())
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert len(twin.history_) == len(clf.history_)
    with pytest.raises(ValueError, match="not initialized"):
        _fusion().get_file_state()


@pytest.mark.parametrize(
    "name, restored",
    [("n_features_in_", True), ("_split_seed_", True), ("history_", False), ("module_", False), ("lr", False)],
)
def test_is_file_attribute_keeps_skorch_internals_out(name, restored):
    assert LLMRadiomicsClassifier.is_file_attribute(name) is restored


def test_choice_states_its_file_state():
    from sklearn.linear_model import LogisticRegression

    from sklearn_llmrad.models.choice import InnerCVChoiceClassifier

    X, y = _semantic(40)
    X = X.values
    candidates = [("a", LogisticRegression()), ("b", LogisticRegression(C=0.1))]
    clf = InnerCVChoiceClassifier(candidates, random_state=0, refit="all")
    state = clf.fit(X, y).get_file_state()
    assert state["params"] == {
        "cv": 3,
        "average": True,
        "random_state": 0,
        "refit": "all",
        "inner_early_stopping": True,
        "progress": True,
    }
    assert state["attributes"]["choice_"] == clf.choice_ and list(state["estimators"]) == ["a", "b"]
    twin = InnerCVChoiceClassifier.from_file_state(state)
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    assert InnerCVChoiceClassifier.is_file_attribute("cv_scores_")
    assert not InnerCVChoiceClassifier.is_file_attribute("estimators_")
    with pytest.raises(ValueError, match="not among its options"):
        InnerCVChoiceClassifier.from_file_state({**state, "attributes": {"choice_": "c"}})
    with pytest.raises(TypeError, match="only an integer number of folds"):
        clf.set_params(cv=KFold(2)).get_file_state()


def test_cnn_restore_params_pin_the_normalisation():
    params = ResNet50Classifier(weights="/nowhere/resnet.pth").get_params(deep=False)
    init, after = ResNet50Classifier.params_for_restore(params)
    assert init["weights"] is None and init["normalize"] == "imagenet"
    assert after == {"weights": "/nowhere/resnet.pth", "normalize": "auto"}
    params = ResNet50Classifier().get_params(deep=False)
    assert ResNet50Classifier.params_for_restore(params) == (params, {})


# --------------------------------------------------------------------------- old files
def test_format_1_file_still_loads_with_identical_predictions():
    # written by the code before the shared base (tests/data/make_format_v1.py)
    stored = np.load(DATA / "fusion-format-v1-inputs.npz")
    X = SemanticFeatures(
        values=stored["values"],
        feature_embeddings=stored["feature_embeddings"],
        clinical_embeddings=stored["clinical_embeddings"],
        feature_names=["f0", "f1", "f2"],
        descriptions=["a: x", "b: y", "c: z"],
    )
    with zipfile.ZipFile(DATA / "fusion-format-v1.llmrad") as zf:
        assert json.loads(zf.read("manifest.json"))["format_version"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # library versions may differ
        clf = load(DATA / "fusion-format-v1.llmrad")
    np.testing.assert_allclose(clf.predict_proba(X), stored["proba"], rtol=0, atol=1e-6)
    assert list(clf.classes_) == ["benign", "malignant"]


@pytest.mark.parametrize("version,advice", [(0, "re-save it with sklearn-llmrad"), (99, "upgrade sklearn-llmrad")])
def test_unreadable_format_versions_say_what_to_do(tmp_path, version, advice):
    src = DATA / "fusion-format-v1.llmrad"
    dst = tmp_path / "m.llmrad"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "manifest.json":
                m = json.loads(data)
                m["format_version"] = version
                data = json.dumps(m).encode()
            zout.writestr(name, data)
    with pytest.raises(ModelFileError, match=advice):
        load(dst)


def test_new_files_carry_the_build_state_not_private_attributes(tmp_path):
    X, y = _semantic()
    clf = _fusion().fit(X, y)
    path = save(clf, tmp_path / "m.llmrad")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    node = manifest["estimator"]
    assert manifest["format_version"] >= 2  # format 2 brought the build state; 3 the prior's file state
    assert node["build_state"] is not None
    assert "_module_context_" not in node["attributes"]
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))
