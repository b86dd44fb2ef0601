"""CNN baselines: ROIToTensor, ResNet50Classifier, EfficientNetB3Classifier.

The networks are the real torchvision ResNet-50 / EfficientNet-B3 trained with skorch on
the CPU; the data are tiny (32 x 32 images, a handful of samples, one short epoch) so
that the whole file stays fast on a shared 2-core machine.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline

from sklearn_llmrad.exceptions import ImageReadError, MaskError, ModelNotFoundError
from sklearn_llmrad.models import EfficientNetB3Classifier, ResNet50Classifier, ROIToTensor
from sklearn_llmrad.models.cnn import augment_batch, imagenet_checkpoint_names

SIZE = 32


@pytest.fixture(autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3, SIZE, SIZE)).astype(np.float32)


def _disks_and_rings(n, seed=0):
    """Class 0: a bright filled disk; class 1: a dark ring; random centre and radius."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, labels = [], []
    for i in range(n):
        label = i % 2
        cy, cx = rng.uniform(SIZE * 0.35, SIZE * 0.65, 2)
        radius = rng.uniform(SIZE * 0.2, SIZE * 0.3)
        dist = np.hypot(yy - cy, xx - cx)
        image = rng.normal(0.0, 0.3, (SIZE, SIZE))
        if label == 0:
            image += 2.0 * (dist < radius)
        else:
            image -= 2.0 * ((dist < radius) & (dist > 0.6 * radius))
        images.append(image.astype(np.float32))
        labels.append(label)
    return np.stack(images)[:, None].repeat(3, axis=1), np.array(labels)


def _crop_frame(n, seed=0):
    """Imitates CLAHEPreprocessor's output: z-scored crops of varying shapes, masks, source."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for i in range(n):
        h, w = rng.integers(20, 60, 2)
        crop = rng.normal(size=(h, w)).astype(np.float32) + (1.5 if i % 2 else 0.0)
        crop = (crop - crop.mean()) / crop.std()
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
        images.append(crop)
        masks.append(mask)
    index = [f"synthetic_{i:04d}" for i in range(n)]
    return pd.DataFrame(
        {
            "image": images,
            "mask": masks,
            "source": [f"/data/img_{i}.png" for i in range(n)],
            "age": rng.uniform(40, 80, n),
        },
        index=index,
    )


# ------------------------------------------------------------------------------------
# ROIToTensor
# ------------------------------------------------------------------------------------
def test_roi_to_tensor_shapes_dtype_and_grey_replication():
    frame = _crop_frame(5)
    X = ROIToTensor(size=SIZE).fit_transform(frame)
    assert X.shape == (5, 3, SIZE, SIZE) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 0], X[:, 1])
    np.testing.assert_array_equal(X[:, 0], X[:, 2])
    assert ROIToTensor(size=24, channels=1).transform(frame).shape == (5, 1, 24, 24)


def test_roi_to_tensor_is_stateless():
    frame = _crop_frame(3)
    transformer = ROIToTensor(size=SIZE)
    assert transformer.__sklearn_tags__().requires_fit is False
    direct = transformer.transform(frame)  # no fit needed
    np.testing.assert_array_equal(direct, clone(transformer).fit(_crop_frame(4, seed=9)).transform(frame))
    assert vars(transformer) == vars(ROIToTensor(size=SIZE))  # fit learned nothing


def test_roi_to_tensor_keeps_aspect_by_padding():
    rng = np.random.default_rng(0)
    crop = (1.0 + rng.random((40, 20))).astype(np.float32)  # tall: padded left and right
    frame = pd.DataFrame({"image": [crop]}, index=["tall"])

    padded = ROIToTensor(size=SIZE, channels=1).transform(frame)[0, 0]
    # 40 -> 32 scales by 0.8: 10 px of padding on each side become 8 px of crop minimum.
    np.testing.assert_allclose(padded[:, :7], crop.min(), atol=1e-6)
    np.testing.assert_allclose(padded[:, -7:], crop.min(), atol=1e-6)
    assert padded[:, 10:22].mean() > crop.min() + 0.3

    stretched = ROIToTensor(size=SIZE, channels=1, keep_aspect=False).transform(frame)[0, 0]
    assert stretched[:, :4].mean() > crop.min() + 0.3  # no padding: the crop fills the width
    assert abs(stretched.mean() - crop.mean()) < 0.05


def test_roi_to_tensor_mask_channel_and_multiply():
    frame = _crop_frame(4)
    X = ROIToTensor(size=SIZE, use_mask="channel").transform(frame)
    image, mask, product = X[:, 0], X[:, 1], X[:, 2]
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    # masks cover the central half of each crop: inside 1, border (and padding) 0
    np.testing.assert_allclose(mask[:, SIZE // 2, SIZE // 2], 1.0)
    np.testing.assert_allclose(mask[:, 0, 0], 0.0)
    np.testing.assert_allclose(product, image * mask, rtol=1e-6, atol=1e-6)
    assert not np.allclose(image, product)

    Xm = ROIToTensor(size=SIZE, use_mask="multiply").transform(frame)
    np.testing.assert_allclose(Xm[:, 0], product, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(Xm[:, 0], Xm[:, 2])


def test_roi_to_tensor_accepts_plain_arrays():
    rng = np.random.default_rng(0)
    grey = rng.normal(size=(3, 40, 50)).astype(np.float64)
    X3 = ROIToTensor(size=SIZE).transform(grey)
    assert X3.shape == (3, 3, SIZE, SIZE) and X3.dtype == np.float32
    X4 = ROIToTensor(size=SIZE).transform(grey[:, None])
    np.testing.assert_array_equal(X3, X4)
    same_size = rng.normal(size=(2, 3, SIZE, SIZE)).astype(np.float32)
    np.testing.assert_array_equal(ROIToTensor(size=SIZE).transform(same_size), same_size)
    with pytest.raises(ValueError, match="channels"):
        ROIToTensor(size=SIZE).transform(rng.normal(size=(2, 2, 8, 8)))
    with pytest.raises(ValueError, match="shape"):
        ROIToTensor(size=SIZE).transform(rng.normal(size=(8, 8)))
    with pytest.raises(ValueError, match="mask"):
        ROIToTensor(size=SIZE, use_mask="channel").transform(grey)


def test_roi_to_tensor_errors_name_the_case():
    frame = _crop_frame(3)
    with pytest.raises(ValueError, match="'image' column"):
        ROIToTensor().transform(frame.drop(columns="image"))
    with pytest.raises(ValueError, match="'mask' column"):
        ROIToTensor(use_mask="channel").transform(frame.drop(columns="mask"))

    bad = frame.copy()
    bad.at["synthetic_0001", "image"] = np.zeros((4, 5, 6), np.float32)
    with pytest.raises(ImageReadError, match="synthetic_0001.*2-D") as info:
        ROIToTensor(size=SIZE).transform(bad)
    assert info.value.case == "synthetic_0001" and info.value.file == "/data/img_1.png"

    nan = frame.copy()
    crop = nan.at["synthetic_0002", "image"].copy()
    crop[3, 3] = np.nan
    nan.at["synthetic_0002", "image"] = crop
    with pytest.raises(ImageReadError, match="synthetic_0002.*NaN"):
        ROIToTensor(size=SIZE).transform(nan)

    raw = frame.copy()
    raw["image"] = ["/data/a.png", "/data/b.png", "/data/c.png"]
    with pytest.raises(ImageReadError, match="CLAHEPreprocessor"):
        ROIToTensor(size=SIZE).transform(raw)

    wrong_mask = frame.copy()
    wrong_mask.at["synthetic_0000", "mask"] = np.ones((3, 3), np.uint8)
    with pytest.raises(MaskError, match="synthetic_0000.*shape"):
        ROIToTensor(size=SIZE, use_mask="multiply").transform(wrong_mask)
    # without use_mask the mask is not read at all
    assert ROIToTensor(size=SIZE).transform(wrong_mask).shape == (3, 3, SIZE, SIZE)

    with pytest.raises(ValueError, match="channels=1"):
        ROIToTensor(use_mask="channel", channels=1).transform(frame)


# ------------------------------------------------------------------------------------
# classifiers
# ------------------------------------------------------------------------------------
def _fast(cls, **params):
    params = {"max_epochs": 1, "batch_size": 8, "random_state": 0, **params}
    return cls(**params)


@pytest.fixture(scope="module")
def fitted_resnet():
    torch.set_num_threads(2)
    X, y = _images(8), np.array([0, 1] * 4)
    return _fast(ResNet50Classifier).fit(X, y), X, y


def test_resnet_trains_and_predicts_probabilities(fitted_resnet):
    clf, X, y = fitted_resnet
    proba = clf.predict_proba(X)
    assert proba.shape == (8, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(clf.predict(X), proba.argmax(axis=1))
    assert len(clf.history) == 1 and np.isfinite(clf.history[-1, "train_loss"])
    assert isinstance(clf.module_.net, torchvision.models.ResNet)
    assert clf.module_.net.fc.out_features == 2


def test_efficientnet_trains_with_string_labels():
    X = _images(6, seed=1)
    y = np.array(["benign", "malignant"] * 3)
    clf = _fast(EfficientNetB3Classifier).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (6, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert list(clf.classes_) == ["benign", "malignant"]
    assert set(clf.predict(X)) <= {"benign", "malignant"}
    assert isinstance(clf.module_.net, torchvision.models.EfficientNet)
    assert clf.module_.net.classifier[1].out_features == 2


def test_same_seed_gives_identical_probabilities(fitted_resnet):
    clf, X, y = fitted_resnet
    state = torch.get_rng_state()
    twin = clone(clf).fit(X, y)
    proba = twin.predict_proba(X)
    # the seed is applied in a forked generator: the caller's torch RNG is untouched
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    other = clone(clf).set_params(random_state=1).fit(X, y)
    assert not np.allclose(clf.predict_proba(X), other.predict_proba(X))


def test_frozen_backbone_learns_an_easy_split():
    # Linear probing of a random frozen ResNet-50: forward-only backbone, so it is fast,
    # and the head's training is deterministic enough to rank the classes reliably.
    # (Random unnormalised ResNet features are large, so the probabilities are poorly
    # calibrated after a few steps: the ranking (AUC) is what is checked.)
    X, y = _disks_and_rings(40)
    clf = ResNet50Classifier(
        freeze_backbone=True,
        lr=1e-3,
        max_epochs=6,
        batch_size=8,
        augment=False,
        warm_start=True,
        random_state=0,
    ).initialize()
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.fit(X, y)
    after = clf.module_.state_dict()
    for key in before:
        if key.startswith("net.fc."):
            assert not torch.equal(before[key], after[key]), key
        else:  # convolutions and BatchNorm statistics stay as they were
            assert torch.equal(before[key], after[key]), key
    trained = sum(p.numel() for g in clf.optimizer_.param_groups for p in g["params"])
    assert trained == 2048 * 2 + 2
    proba = clf.predict_proba(X)[:, 1]
    assert roc_auc_score(y, proba) > 0.9
    X_new, y_new = _disks_and_rings(24, seed=1)
    assert roc_auc_score(y_new, clf.predict_proba(X_new)[:, 1]) > 0.85


def test_early_stopping_uses_a_validation_split():
    X, y = _images(8, seed=2), np.array([0, 1] * 4)
    clf = _fast(ResNet50Classifier, max_epochs=2, early_stopping=True, patience=1, validation_fraction=0.25).fit(X, y)
    assert "early_stopping" in dict(clf.callbacks_)
    assert all(np.isfinite(row["valid_loss"]) for row in clf.history)
    assert 1 <= len(clf.history) <= 2


def test_augment_batch_flips_rotates_and_jitters():
    torch.manual_seed(0)
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(1, 1, 2, 16).repeat(16, 3, 1, 1)
    flipped = augment_batch(x, max_rotation=0, intensity_jitter=0)
    variants = [x[0], x[0].flip(-1), x[0].flip(-2), x[0].flip(-1).flip(-2)]
    seen = set()
    for sample in flipped:
        matches = [i for i, v in enumerate(variants) if torch.equal(sample, v)]
        assert matches, "a flip-only augmentation must return a flipped copy"
        seen.add(matches[0])
    assert len(seen) > 1
    jittered = augment_batch(x, max_rotation=15, intensity_jitter=0.1)
    assert jittered.shape == x.shape and not torch.equal(jittered, x)
    assert torch.isfinite(jittered).all()


# ------------------------------------------------------------------------------------
# weights
# ------------------------------------------------------------------------------------
def test_imagenet_weights_missing_raise_with_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected_dir = str(tmp_path / "hub" / "checkpoints")
    for cls, name in ((ResNet50Classifier, "resnet50-"), (EfficientNetB3Classifier, "efficientnet_b3")):
        with pytest.raises(ModelNotFoundError, match=name) as info:
            cls(weights="imagenet").initialize()
        assert expected_dir in str(info.value) and "never downloaded" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ResNet50Classifier(weights=tmp_path / "absent.pth").initialize()
    assert not any(tmp_path.rglob("*.pth"))  # nothing was downloaded


def test_checkpoint_names_come_from_torchvision():
    names = imagenet_checkpoint_names("resnet50")
    assert {"resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth"} <= set(names)
    assert "efficientnet_b3_rwightman-b3899882.pth" in imagenet_checkpoint_names("efficientnet_b3")


@pytest.fixture(scope="module")
def resnet_state(tmp_path_factory):
    torch.manual_seed(123)
    state = torchvision.models.resnet50(weights=None).state_dict()
    directory = tmp_path_factory.mktemp("weights")
    torch.save(state, directory / "resnet50_custom.pth")
    return state, directory / "resnet50_custom.pth"


def _assert_backbone_equals(clf, state):
    loaded = clf.module_.net.state_dict()
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        assert torch.equal(loaded[key], value), key
    assert clf.module_.net.fc.out_features == 2  # ImageNet head replaced


def test_weights_from_a_file_path(resnet_state, tmp_path):
    state, path = resnet_state
    clf = ResNet50Classifier(weights=str(path)).initialize()
    _assert_backbone_equals(clf, state)
    assert clf.module_.normalize == "imagenet"  # "auto" normalises pretrained inputs
    assert ResNet50Classifier(weights=path, normalize=None).initialize().module_.normalize is None

    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "r50.safetensors")
    _assert_backbone_equals(ResNet50Classifier(weights=tmp_path / "r50.safetensors").initialize(), state)

    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ModelNotFoundError, match="does not match"):
        ResNet50Classifier(weights=tmp_path / "other.pth").initialize()


def test_imagenet_weights_read_from_the_hub_cache(resnet_state, tmp_path, monkeypatch):
    state, path = resnet_state
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth").symlink_to(path)
    _assert_backbone_equals(ResNet50Classifier(weights="imagenet").initialize(), state)


# ------------------------------------------------------------------------------------
# sklearn integration
# ------------------------------------------------------------------------------------
def test_params_clone_repr_and_pickle(fitted_resnet):
    clf, X, _ = fitted_resnet
    params = clf.get_params(deep=False)
    assert params["device"] == "auto" and clf.device in ("cpu", "cuda")
    assert {"module", "train_split", "_params_to_validate"}.isdisjoint(params)
    assert repr(ResNet50Classifier(lr=0.01)) == "ResNet50Classifier(lr=0.01)"

    configured = ResNet50Classifier(weights="imagenet", lr=3e-4, optimizer__weight_decay=0.05)
    twin = clone(configured)
    assert twin.get_params(deep=False) == configured.get_params(deep=False)
    assert twin.optimizer__weight_decay == 0.05
    assert twin.set_params(lr=1e-3).lr == 1e-3 and configured.lr == 3e-4

    restored = pickle.loads(pickle.dumps(clf))
    assert restored.get_params(deep=False)["device"] == "auto"
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    restored.set_params(device="cpu")
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_invalid_inputs_and_parameters():
    frame = _crop_frame(4)
    y = np.array([0, 1] * 2)
    with pytest.raises(ValueError, match="ROIToTensor"):
        ResNet50Classifier().fit(frame, y)
    with pytest.raises(ValueError, match=r"\(n, 1 or 3, H, W\)"):
        ResNet50Classifier().fit(np.zeros((4, 2, 8, 8), np.float32), y)
    with pytest.raises(ValueError, match="2 classes"):
        ResNet50Classifier().fit(_images(4), np.zeros(4))
    with pytest.raises(ValueError, match="lr"):
        ResNet50Classifier(lr=-1.0).fit(_images(4), y)
    nan = _images(4)
    nan[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="image 2"):
        ResNet50Classifier().fit(nan, y)


def test_pipeline_with_clahe_under_cross_validate():
    from sklearn_llmrad.datasets import make_synthetic_mammograms
    from sklearn_llmrad.preprocessing import CLAHEPreprocessor

    frame, y = make_synthetic_mammograms(8, image_size=96, return_X_y=True, random_state=0)
    pipe = Pipeline(
        [
            ("clahe", CLAHEPreprocessor()),
            ("tensor", ROIToTensor(size=SIZE, use_mask="channel")),
            ("cnn", ResNet50Classifier(max_epochs=1, batch_size=8, random_state=0)),
        ]
    )
    scores = cross_validate(pipe, frame, y, cv=2, scoring="roc_auc", return_estimator=True)
    assert len(scores["test_score"]) == 2 and np.isfinite(scores["test_score"]).all()
    fold = scores["estimator"][0]
    assert fold.predict_proba(frame).shape == (8, 2)
    assert fold.named_steps["cnn"].get_params()["device"] == "auto"
