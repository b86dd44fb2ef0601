"""BioBERTEncoder and SemanticFeatures, with a tiny BERT and the real MiniLM."""

import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
import torch  # hard dependencies: a missing one fails, never skips
import transformers
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.svm import SVC  # noqa: E402
from sklearn.utils import _safe_indexing  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from sklearn_llmrad._cache import DiskCache  # noqa: E402
from sklearn_llmrad.descriptions import (  # noqa: E402
    NO_CLINICAL_INFORMATION,
    clinical_statements,
    describe_feature,
)
from sklearn_llmrad.encoding import CLINICAL_TOKENS, BioBERTEncoder, SemanticFeatures  # noqa: E402
from sklearn_llmrad.exceptions import LesionError, ModelNotFoundError  # noqa: E402
from sklearn_llmrad.language_model import resolve_device  # noqa: E402

FEATURES = [
    "original_firstorder_Mean",
    "original_shape2D_Sphericity",
    "wavelet-LH_glcm_Contrast",
    "log-sigma-3-0-mm-3D_glszm_ZoneEntropy",
]
AGES = [45, 52.5, 62, "070Y", None]
DENSITIES = ["A", "b", "DENSITY C", 4, None]
HISTORIES = [True, False, "family history of breast cancer", None]


def make_X(n, *, seed=0, shift=0.0, prefix="case"):
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(10 * (j + 1) + shift, j + 1, size=n) for j, name in enumerate(FEATURES)}
    data["age"] = [AGES[i % len(AGES)] for i in range(n)]
    data["density"] = [DENSITIES[i % len(DENSITIES)] for i in range(n)]
    data["history"] = [HISTORIES[i % len(HISTORIES)] for i in range(n)]
    return pd.DataFrame(data, index=[f"{prefix}_{i:03d}" for i in range(n)])


def distinct_statements(X):
    texts = set()
    for label, row in X.iterrows():
        s = clinical_statements(row["age"], row["density"], row["history"], case=label)
        texts.update(t for t in (s.sentence, s.age, s.density, s.history) if t is not None)
    return texts


def count_lm_texts(encoder):
    """Count texts the language model receives (a forward hook on the real model)."""
    _, model, _ = encoder._language_model()
    counter = {"texts": 0, "calls": 0}

    def hook(module, args, kwargs, output):
        counter["calls"] += 1
        counter["texts"] += kwargs["input_ids"].shape[0]

    model.register_forward_hook(hook, with_kwargs=True)
    return counter


@pytest.fixture
def tiny(tiny_bert_dir):
    def make(**params):
        params.setdefault("device", "cpu")
        return BioBERTEncoder(language_model=tiny_bert_dir, **params)

    return make


# ---------------------------------------------------------------------------
# BioBERTEncoder with the tiny BERT
# ---------------------------------------------------------------------------


def test_shapes_and_attributes(tiny):
    X = make_X(7)
    enc = tiny()
    sf = enc.fit(X).transform(X)
    assert isinstance(sf, SemanticFeatures)
    assert sf.shape == (7, 4) and len(sf) == 7
    assert sf.values.dtype == np.float32
    assert sf.feature_embeddings.shape == (4, 32) and sf.feature_embeddings.dtype == np.float32
    assert sf.feature_embeddings is enc.feature_embeddings_
    assert sf.clinical_embeddings.shape == (7, len(CLINICAL_TOKENS), 32)
    assert sf.clinical_mask.shape == (7, 4) and sf.clinical_mask.dtype == bool
    assert sf.clinical_mask[:, 0].all()  # the sentence token is always present
    assert enc.embedding_dim_ == 32
    assert list(enc.feature_names_in_) == FEATURES + ["age", "density", "history"]
    assert list(enc.features_) == FEATURES
    assert enc.clinical_columns_ == ("age", "density", "history")
    assert list(enc.descriptions_) == [describe_feature(f) for f in FEATURES]
    assert list(sf.descriptions) == list(enc.descriptions_)
    assert list(enc.get_feature_names_out()) == FEATURES
    # Missing statements are masked and zero.
    assert not sf.clinical_mask.all()
    assert np.all(sf.clinical_embeddings[~sf.clinical_mask] == 0)
    # The embedded texts are exactly the statements of each lesion.
    row = clinical_statements(62, "DENSITY C", "family history of breast cancer")
    i = 2
    assert sf.clinical_text[i] == row.sentence
    expected = enc.embed_texts([row.sentence, row.age, row.density, row.history])
    np.testing.assert_allclose(sf.clinical_embeddings[i], expected, rtol=1e-5, atol=1e-6)


def test_language_model_runs_once_per_distinct_text(tiny):
    X = make_X(10)
    enc = tiny(batch_size=4)
    counter = count_lm_texts(enc)
    sf = enc.fit(X).transform(X)
    expected = len(set(enc.descriptions_)) + len(distinct_statements(X))
    assert counter["texts"] == expected
    assert enc.cache_info()["computed"] == expected
    # Ten times more lesions with the same clinical statements: no LM work.
    X10 = pd.concat([make_X(10, seed=s, prefix=f"more{s}") for s in range(10)])
    sf10 = enc.transform(X10)
    assert counter["texts"] == expected
    assert len(sf10) == 100 and sf10.feature_embeddings is sf.feature_embeddings
    # A new statement costs exactly its own text(s).
    X_new = make_X(1, prefix="new").assign(age=[33], density=[None], history=[None])
    enc.transform(X_new)
    assert counter["texts"] == expected + 1  # "33-year-old woman." is both statement and sentence


def test_disk_cache_is_shared_across_instances(tiny, tmp_path):
    X = make_X(6)
    first = tiny(cache_dir=tmp_path)
    sf1 = first.fit(X).transform(X)
    n_texts = first.cache_info()["computed"]
    assert len(DiskCache(tmp_path, namespace="text-embeddings")) == n_texts

    second = tiny(cache_dir=tmp_path)
    sf2 = second.fit(X).transform(X)
    assert second.cache_info() == {"computed": 0, "memory_hits": 0, "disk_hits": n_texts}
    assert getattr(second, "_lm", None) is None  # everything cached: the model is never loaded
    np.testing.assert_array_equal(sf1.feature_embeddings, sf2.feature_embeddings)
    np.testing.assert_array_equal(sf1.clinical_embeddings, sf2.clinical_embeddings)

    # Another pooling is another embedding: new cache keys, new LM work.
    cls = tiny(cache_dir=tmp_path, pooling="cls").fit(X)
    assert cls.cache_info()["computed"] == len(FEATURES)
    assert not np.allclose(cls.feature_embeddings_, first.feature_embeddings_)


def test_second_cross_validation_run_does_no_language_model_work(tiny, tmp_path):
    from sklearn.model_selection import cross_validate

    X = make_X(24, seed=7)
    y = np.arange(24) % 2
    pipe = make_pipeline(tiny(cache_dir=tmp_path), SVC())
    first = cross_validate(pipe, X, y, cv=3, return_estimator=True, error_score="raise")
    assert sum(p[0].cache_info()["computed"] for p in first["estimator"]) > 0
    second = cross_validate(pipe, X, y, cv=3, return_estimator=True, error_score="raise")
    for fitted in second["estimator"]:
        assert fitted[0].cache_info()["computed"] == 0
        assert getattr(fitted[0], "_lm", None) is None
    np.testing.assert_allclose(first["test_score"], second["test_score"])


def test_corrupt_disk_entry_is_recomputed(tiny, tmp_path):
    from sklearn_llmrad._cache import CacheCorruptionWarning

    X = make_X(4)
    tiny(cache_dir=tmp_path).fit(X)
    disk = DiskCache(tmp_path, namespace="text-embeddings")
    victim = disk.path_for(disk.keys()[0])
    victim.write_bytes(victim.read_bytes()[:-7])
    enc = tiny(cache_dir=tmp_path)
    with pytest.warns(CacheCorruptionWarning):
        enc.fit(X)
    assert enc.cache_info()["computed"] == 1
    assert enc.cache_info()["disk_hits"] == len(FEATURES) - 1


def test_cache_key_follows_the_model_config(tiny_bert_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model)
    X = make_X(3)
    cache = tmp_path / "cache"
    BioBERTEncoder(language_model=model, cache_dir=cache, device="cpu").fit(X)
    config = model / "config.json"
    config.write_text(config.read_text().replace("{", '{"note": "edited",', 1))
    enc = BioBERTEncoder(language_model=model, cache_dir=cache, device="cpu").fit(X)
    assert enc.cache_info()["computed"] == len(FEATURES)


def _permuted_tokenizer(model):
    """Rewrite ``model``'s tokenizer files (tokenizer.json, vocab.txt) so every word gets another id."""
    from sklearn_llmrad._testing import save_bert_tokenizer, tiny_bert_vocabulary

    vocab = tiny_bert_vocabulary()
    words = [t for t in vocab if not t.startswith("[")]
    permuted = {t: i for i, t in enumerate([t for t in vocab if t.startswith("[")] + words[::-1])}
    save_bert_tokenizer(model, permuted)
    return permuted


@pytest.mark.parametrize("edit", ["vocabulary", "tokenizer_config"])
def test_cache_key_follows_the_tokenizer_files(tiny_bert_dir, tmp_path, edit):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model)
    X = make_X(3)
    cache = tmp_path / "cache"
    old = BioBERTEncoder(language_model=model, cache_dir=cache, device="cpu").fit(X).feature_embeddings_
    config, weights = (model / "config.json").read_bytes(), (model / "model.safetensors").stat()
    if edit == "vocabulary":
        _permuted_tokenizer(model)
    else:  # a file the tokenizer reads, edited in place: lowercasing off
        path = model / "tokenizer_config.json"
        path.write_text(path.read_text().replace('"do_lower_case": true', '"do_lower_case": false'))
    # config and weights untouched: only the tokenizer tells the two models apart
    assert (model / "config.json").read_bytes() == config
    assert (model / "model.safetensors").stat().st_mtime_ns == weights.st_mtime_ns
    enc = BioBERTEncoder(language_model=model, cache_dir=cache, device="cpu").fit(X)
    assert enc.cache_info()["computed"] == len(FEATURES)
    assert enc.cache_info()["disk_hits"] == 0
    if edit == "vocabulary":  # other ids, other vectors: the old ones must not come back
        assert not np.allclose(enc.feature_embeddings_, old, atol=1e-4)
    # The new setup is cached in turn.
    again = BioBERTEncoder(language_model=model, cache_dir=cache, device="cpu").fit(X)
    assert again.cache_info()["computed"] == 0
    np.testing.assert_array_equal(again.feature_embeddings_, enc.feature_embeddings_)


def test_model_directory_digest_is_taken_once_per_encoder(tiny_bert_dir, monkeypatch):
    import sklearn_llmrad.encoding as encoding

    calls = []
    digest = encoding.model_directory_digest
    monkeypatch.setattr(encoding, "model_directory_digest", lambda root: calls.append(root) or digest(root))
    enc = BioBERTEncoder(language_model=tiny_bert_dir, device="cpu")
    enc.fit(make_X(4))
    enc.embed_texts(["a", "b", "c"])
    enc.transform(make_X(3, seed=5))
    assert len(calls) == 1
    assert "_model_digest" not in pickle.loads(pickle.dumps(enc)).__dict__
    clone(enc).embed_texts(["a"])
    assert len(calls) == 2


def test_model_directory_digest_covers_every_model_file(tmp_path, monkeypatch):
    import os

    import sklearn_llmrad._embedding_cache as ec

    root = tmp_path / "model"
    root.mkdir()
    for name in ("config.json", "tokenizer.json", "vocab.txt", "merges.txt", "spiece.model"):
        (root / name).write_text(name)
    weights = root / "model.safetensors"
    weights.write_bytes(bytes(3 * 2**20))
    digest = ec.model_directory_digest(root)
    assert digest == ec.model_directory_digest(root)
    # Ignored: model cards, hidden files, sub-directories.
    (root / "README.md").write_text("card")
    (root / ".gitattributes").write_text("*")
    (root / "onnx").mkdir()
    (root / "onnx" / "model.onnx").write_text("other")
    assert ec.model_directory_digest(root) == digest
    # Any other file's content (same size, same mtime) counts.
    for name in ("tokenizer.json", "vocab.txt", "merges.txt", "spiece.model"):
        path = root / name
        stat = path.stat()
        path.write_text(name.upper())
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert ec.model_directory_digest(root) != digest, name
        path.write_text(name)
        assert ec.model_directory_digest(root) == digest
    (root / "added_tokens.json").write_text("{}")
    assert ec.model_directory_digest(root) != digest
    (root / "added_tokens.json").unlink()
    # Files over the full-hash limit: size, mtime, first and last MiB.
    monkeypatch.setattr(ec, "_FULL_HASH_BYTES", 2**20)
    large = ec.model_directory_digest(root)
    assert large != digest  # a different kind of fingerprint
    stat = weights.stat()
    for offset in (0, 3 * 2**20 - 1):
        with open(weights, "r+b") as f:
            f.seek(offset)
            f.write(b"\x01")
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert ec.model_directory_digest(root) != large, offset
        with open(weights, "r+b") as f:
            f.seek(offset)
            f.write(b"\x00")
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert ec.model_directory_digest(root) == large
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # re-saved in place
    assert ec.model_directory_digest(root) != large


def test_clone_in_memory_cache_is_per_instance(tiny):
    X = make_X(5)
    enc = tiny().fit(X)
    assert enc.cache_info()["computed"] == len(FEATURES)
    enc.fit(X)  # refit: memory hits only
    assert enc.cache_info()["computed"] == len(FEATURES)
    assert enc.cache_info()["memory_hits"] == len(FEATURES)
    assert clone(enc).cache_info()["computed"] == 0


def test_scaling_statistics_come_from_fit_data_only(tiny):
    A = make_X(9, seed=1)
    B = make_X(6, seed=2, shift=100.0)
    enc = tiny(clip=None).fit(A)
    values_B = enc.transform(B).values
    a = A[FEATURES].to_numpy()
    q75, q25 = np.percentile(a, [75, 25], axis=0)
    expected = (B[FEATURES].to_numpy() - np.median(a, axis=0)) / (q75 - q25)
    np.testing.assert_allclose(values_B, expected, rtol=1e-5)
    np.testing.assert_allclose(enc.center_, np.median(a, axis=0))
    # Fitting on B instead gives other values: the check above would catch a leak.
    leaked = tiny(clip=None).fit(B).transform(B).values
    assert not np.allclose(leaked, values_B)


def test_standard_scaling_clipping_and_missing_values(tiny):
    A = make_X(9, seed=3)
    enc = tiny(scaling="standard", clip=2.0).fit(A)
    np.testing.assert_allclose(enc.center_, A[FEATURES].mean().to_numpy())
    np.testing.assert_allclose(enc.scale_, A[FEATURES].std(ddof=0).to_numpy())
    B = make_X(3, seed=4, shift=1000.0)
    B.iloc[0, 0] = np.nan
    B.iloc[1, 1] = np.inf
    values = enc.transform(B).values
    assert values[0, 0] == 0 and values[1, 1] == 0  # imputed with the training centre
    assert np.all(np.abs(values) <= 2.0) and values[2, 0] == 2.0
    raw = tiny(scaling=None).fit(A).transform(B).values
    assert raw[0, 0] == np.float32(np.median(A.iloc[:, 0]))
    np.testing.assert_allclose(raw[2, 2], B.iloc[2, 2], rtol=1e-6)


def test_zero_iqr_falls_back_to_std(tiny):
    A = make_X(8)
    A[FEATURES[0]] = [0.0] * 7 + [4.0]  # IQR 0, std > 0
    enc = tiny(clip=None).fit(A)
    assert enc.scale_[0] == pytest.approx(np.std(A[FEATURES[0]]))


def test_non_numeric_feature_value_names_the_case(tiny):
    X = make_X(4).astype({FEATURES[1]: object})
    X.loc["case_002", FEATURES[1]] = "not a number"
    with pytest.raises(LesionError, match=r"case 'case_002'.*original_shape2D_Sphericity"):
        tiny().fit(X)


def test_transform_requires_the_fitted_feature_columns(tiny):
    X = make_X(4)
    enc = tiny().fit(X)
    with pytest.raises(ValueError, match="missing"):
        enc.transform(X.drop(columns=FEATURES[0]))
    with pytest.raises(ValueError, match="different order"):
        enc.transform(X[FEATURES[::-1] + ["age"]])
    # Clinical columns may be absent at transform time (treated as missing).
    sf = enc.transform(X[FEATURES])
    assert set(sf.clinical_text) == {NO_CLINICAL_INFORMATION}


def test_all_missing_clinical_still_gives_a_sentence(tiny):
    X = make_X(3).assign(age=[None, np.nan, "nan"], density=[None, np.nan, ""], history=[None, np.nan, pd.NA])
    enc = tiny().fit(X)
    sf = enc.transform(X)
    assert list(sf.clinical_text) == [NO_CLINICAL_INFORMATION] * 3
    assert sf.clinical_mask.tolist() == [[True, False, False, False]] * 3
    sentence = enc.embed_texts([NO_CLINICAL_INFORMATION])[0]
    np.testing.assert_allclose(sf.clinical_embeddings[:, 0], np.tile(sentence, (3, 1)), rtol=1e-5)
    # No clinical columns at all: the same.
    sf_none = enc.transform(X[FEATURES])
    np.testing.assert_array_equal(sf_none.clinical_mask, sf.clinical_mask)


def test_unseen_density_is_a_clear_error_before_any_model_work(tiny):
    X = make_X(4)
    X.loc["case_001", "density"] = "G"
    enc = tiny()
    with pytest.raises(LesionError, match=r"case 'case_001'.*density 'G'.*accepted values") as info:
        enc.fit(X).transform(X)
    assert info.value.case == "case_001"


def test_numpy_input_gets_generic_names(tiny):
    X = make_X(5)[FEATURES].to_numpy()
    enc = tiny().fit(X)
    sf = enc.transform(X)
    assert sf.shape == (5, 4)
    assert not hasattr(enc, "feature_names_in_")
    assert list(enc.features_) == ["x0", "x1", "x2", "x3"]
    assert all(d.startswith("image feature") for d in enc.descriptions_)


def test_random_state_leaves_global_torch_rng_alone(tiny):
    X = make_X(3)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = tiny(random_state=0).fit(X).transform(X)
    assert torch.equal(torch.rand(3), expected)
    b = tiny(random_state=1).fit(X).transform(X)
    np.testing.assert_allclose(a.feature_embeddings, b.feature_embeddings, rtol=1e-6)  # inference is deterministic


# ---------------------------------------------------------------------------
# model loading
# ---------------------------------------------------------------------------


def test_missing_local_directory_raises_model_not_found(tmp_path):
    enc = BioBERTEncoder(language_model=tmp_path / "no-such-model")
    with pytest.raises(ModelNotFoundError, match="does not exist.*huggingface-cli download") as info:
        enc.fit(make_X(3))
    assert "no-such-model" in str(info.value)
    assert isinstance(info.value, OSError)


def test_missing_hub_model_offline_raises_model_not_found(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = BioBERTEncoder(language_model="dmis-lab/no-such-biobert-for-tests", device="cpu")
    with pytest.raises(ModelNotFoundError, match="dmis-lab/no-such-biobert-for-tests.*offline.*--local-dir DIR"):
        enc.fit(make_X(3))
    assert getattr(enc, "_lm", None) is None  # nothing else was loaded in its place


def test_directory_without_config_is_not_a_model(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        BioBERTEncoder(language_model=tmp_path / "weights").fit(make_X(3))


def test_no_silent_fallback_to_pickle_weights(tiny_bert_dir, tmp_path):
    # A copy of the model with only pytorch_model.bin: use_safetensors=True
    # must refuse it rather than unpickle weights.
    target = tmp_path / "bin-only"
    shutil.copytree(tiny_bert_dir, target)
    state = transformers.AutoModel.from_pretrained(tiny_bert_dir).state_dict()
    torch.save(state, target / "pytorch_model.bin")
    (target / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="bin-only"):
        BioBERTEncoder(language_model=target, device="cpu").fit(make_X(3))


def test_device_resolution(tiny):
    enc = tiny(device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(enc.device).type == expected
    with pytest.raises(ValueError, match="device"):
        tiny(device="no-such-device").fit(make_X(3))


def test_pickling_drops_the_model_and_reloads_it(tiny):
    X = make_X(5)
    enc = tiny().fit(X)
    enc.transform(X)
    n_params = sum(p.numel() for p in enc._language_model()[1].parameters())
    blob = pickle.dumps(enc)
    assert "_lm" in enc.__dict__  # pickling did not unload the original
    restored = pickle.loads(blob)
    assert "_lm" not in restored.__dict__
    assert len(blob) < 4 * n_params  # the weights are not in the pickle
    # New clinical statements need the model again: it is reloaded lazily.
    X_new = make_X(4, seed=9, prefix="new").assign(age=[31, 32, 33, 34])
    np.testing.assert_allclose(
        restored.transform(X_new).clinical_embeddings,
        enc.transform(X_new).clinical_embeddings,
        rtol=1e-5,
        atol=1e-6,
    )
    assert "_lm" in restored.__dict__


# ---------------------------------------------------------------------------
# sklearn API
# ---------------------------------------------------------------------------


def test_sklearn_api_basics(tiny_bert_dir):
    enc = BioBERTEncoder(language_model=tiny_bert_dir, pooling="cls", device="cpu")
    assert set(vars(enc)) == set(enc.get_params())  # no work in __init__
    assert clone(enc).get_params() == enc.get_params()
    with pytest.raises(NotFittedError):
        enc.transform(make_X(2))
    with pytest.raises(NotFittedError):
        enc.get_feature_names_out()
    with pytest.raises(InvalidParameterError):
        clone(enc).set_params(pooling="max").fit(make_X(2))
    with pytest.raises(InvalidParameterError):
        clone(enc).set_params(scaling="minmax").fit(make_X(2))
    assert "pooling='cls'" in repr(enc)
    tags = enc.__sklearn_tags__()
    assert tags.input_tags.string and tags.input_tags.allow_nan


# ---------------------------------------------------------------------------
# SemanticFeatures
# ---------------------------------------------------------------------------


@pytest.fixture
def semantic(tiny):
    X = make_X(8)
    return tiny().fit(X).transform(X)


def test_safe_indexing_and_numpy_indices(semantic):
    sf = semantic
    for key in (np.array([5, 1, 1]), [0, 2], np.arange(8) % 2 == 0, slice(2, 6), np.array([], dtype=int)):
        sub = _safe_indexing(sf, key)
        assert isinstance(sub, SemanticFeatures)
        np.testing.assert_array_equal(sub.values, sf.values[key])
        np.testing.assert_array_equal(sub.clinical_embeddings, sf.clinical_embeddings[key])
        np.testing.assert_array_equal(sub.clinical_mask, sf.clinical_mask[key])
        np.testing.assert_array_equal(sub.clinical_text, sf.clinical_text[key])
        assert sub.feature_embeddings is sf.feature_embeddings
    one = sf[np.int64(-1)]
    assert len(one) == 1 and one.clinical_text[0] == sf.clinical_text[7]
    np.testing.assert_array_equal(sf[3, ...].values, sf.values[3:4])
    with pytest.raises(IndexError):
        sf[8]
    with pytest.raises(IndexError):
        sf[np.ones(3, dtype=bool)]
    with pytest.raises(IndexError):
        sf[:, 1]
    with pytest.raises(IndexError):
        sf[np.array([0.5])]


def test_skorch_multi_indexing(semantic):
    from skorch.utils import multi_indexing

    sf = semantic
    for key in (np.array([4, 0]), np.arange(8) > 5, slice(1, 3)):
        sub = multi_indexing(sf, key)
        assert isinstance(sub, SemanticFeatures)
        np.testing.assert_array_equal(sub.values, sf.values[key])
        assert sub.feature_embeddings is sf.feature_embeddings


def test_array_protocol(semantic, tiny):
    sf = semantic
    assert np.asarray(sf) is sf.values
    assert np.asarray(sf, dtype=np.float64).dtype == np.float64
    assert np.array(sf, copy=True) is not sf.values
    X = make_X(8)
    wide = tiny(array_output="values+clinical").fit(X)
    sfw = wide.transform(X)
    arr = np.asarray(sfw)
    assert arr.shape == sfw.shape == (8, 4 + 32) and sfw.n_features == 4
    np.testing.assert_array_equal(arr[:, :4], sfw.values)
    mask = sfw.clinical_mask[:, :, None]
    mean = (sfw.clinical_embeddings * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(arr[:, 4:], mean, rtol=1e-6)
    assert len(wide.get_feature_names_out()) == arr.shape[1]


def test_container_validation_and_helpers(semantic):
    sf = semantic
    flat = SemanticFeatures(sf.values, sf.feature_embeddings, sf.clinical_embeddings[:, 0])
    assert flat.n_tokens == 1 and flat.clinical_mask.all()
    assert list(flat.feature_names) == ["x0", "x1", "x2", "x3"]
    with pytest.raises(ValueError, match="feature_embeddings"):
        SemanticFeatures(sf.values, sf.feature_embeddings[:2], sf.clinical_embeddings)
    with pytest.raises(ValueError, match="clinical_embeddings"):
        SemanticFeatures(sf.values, sf.feature_embeddings, sf.clinical_embeddings[:3])
    with pytest.raises(ValueError, match="clinical_mask"):
        SemanticFeatures(sf.values, sf.feature_embeddings, sf.clinical_embeddings, np.ones((8, 2), bool))
    with pytest.raises(ValueError, match="feature_names"):
        SemanticFeatures(sf.values, sf.feature_embeddings, sf.clinical_embeddings, feature_names=["a"])
    both = SemanticFeatures.concat([sf[:3], sf[3:]])
    np.testing.assert_array_equal(both.values, sf.values)
    np.testing.assert_array_equal(both.clinical_text, sf.clinical_text)
    assert both.feature_embeddings is sf.feature_embeddings
    assert set(sf.to_dict()) == {"values", "clinical_embeddings", "clinical_mask"}
    assert repr(sf) == (
        "SemanticFeatures(n_samples=8, n_features=4, embedding_dim=32, n_tokens=4, array_output='values')"
    )
    back = pickle.loads(pickle.dumps(sf[[1, 2]]))
    np.testing.assert_array_equal(back.values, sf.values[[1, 2]])


def test_svc_on_semantic_features(tiny):
    X = make_X(30, seed=5)
    y = (X[FEATURES[0]] > X[FEATURES[0]].median()).astype(int).to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=10, random_state=0, stratify=y)
    pipe = make_pipeline(tiny(), SVC(kernel="linear")).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.8  # the signal is one scaled feature
    sf = tiny(array_output="values+clinical").fit(X).transform(X)
    scores = cross_val_score(SVC(), sf, y, cv=3, error_score="raise")  # rows sliced by _safe_indexing
    assert scores.shape == (3,) and np.isfinite(scores).all()
    sf_train, sf_test, *_ = train_test_split(sf, y, test_size=0.3, random_state=0)
    assert isinstance(sf_train, SemanticFeatures) and len(sf_train) + len(sf_test) == 30


# ---------------------------------------------------------------------------
# The real pretrained MiniLM
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_encoder(minilm_dir):
    return BioBERTEncoder(language_model=minilm_dir, device="cpu")


def test_minilm_shapes_and_call_counts(minilm_encoder):
    enc = clone(minilm_encoder)
    X = make_X(6)
    counter = count_lm_texts(enc)
    sf = enc.fit(X).transform(X)
    assert enc.embedding_dim_ == 384
    assert sf.feature_embeddings.shape == (4, 384) and sf.clinical_embeddings.shape == (6, 4, 384)
    expected = len(FEATURES) + len(distinct_statements(X))
    assert counter["texts"] == expected
    enc.transform(pd.concat([make_X(6, seed=s, prefix=f"r{s}") for s in range(10)]))
    assert counter["texts"] == expected


def test_minilm_texture_descriptions_are_closer_to_each_other_than_to_shape(minilm_encoder):
    texture = ["original_glrlm_RunEntropy", "original_glszm_ZoneEntropy", "original_glszm_SizeZoneNonUniformity"]
    shape = ["original_shape2D_MajorAxisLength", "original_shape2D_Perimeter", "original_shape2D_Sphericity"]
    names = ["original_glcm_Contrast"] + texture + shape
    emb = minilm_encoder.embed_texts([describe_feature(n) for n in names])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    cos = emb[1:] @ emb[0]
    assert cos[:3].min() > cos[3:].max()


def test_minilm_descriptions_fit_in_max_length(minilm_dir):
    from test_descriptions import _all_extractor_names

    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    texts = sorted({describe_feature(n) for n in _all_extractor_names()})
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert max(lengths) <= BioBERTEncoder().max_length


def test_semantic_features_carry_case_ids_through_slicing():
    from sklearn.utils import _safe_indexing

    sf = SemanticFeatures(np.zeros((4, 2)), np.ones((2, 3)), np.ones((4, 3)), index=["a", "b", "c", "d"])
    assert list(sf[np.array([3, 1])].index) == ["d", "b"]
    assert list(_safe_indexing(sf, np.array([2])).index) == ["c"]
    assert list(SemanticFeatures.concat([sf[:1], sf[2:3]]).index) == ["a", "c"]
    with pytest.raises(ValueError, match="index must have 4 entries"):
        SemanticFeatures(np.zeros((4, 2)), np.ones((2, 3)), np.ones((4, 3)), index=["a"])


def test_the_language_model_parameter_and_its_deprecated_spelling(tiny_bert_dir):
    with pytest.warns(FutureWarning, match="model= is deprecated.*use language_model="):
        old = BioBERTEncoder(model=str(tiny_bert_dir))
    assert old.get_params()["language_model"] == str(tiny_bert_dir) and "model" not in old.get_params()
    with pytest.warns(FutureWarning, match="use language_model"):
        assert old.model == str(tiny_bert_dir)
    new = BioBERTEncoder()
    with pytest.warns(FutureWarning, match="use language_model"):
        new.set_params(model="another/model")
    assert new.language_model == "another/model"
    with pytest.raises(TypeError, match="pass language_model= only"), pytest.warns(FutureWarning):
        BioBERTEncoder(model="a/b", language_model="c/d")
    assert BioBERTEncoder.model_id_parameters == ("language_model",)


def test_a_model_file_written_with_the_model_parameter_still_loads(tiny_bert_dir):
    """tests/data/encoder-model-parameter-v2.llmrad: BioBERTEncoder(model="projects") fitted on two features
    and saved by sklearn-llmrad 0.1.0.dev0 (commit c35a35f), before ``model`` became ``language_model``."""
    from pathlib import Path

    from sklearn_llmrad.io import load

    path = Path(__file__).parent / "data" / "encoder-model-parameter-v2.llmrad"
    loaded = load(path, language_model=tiny_bert_dir)
    assert loaded.language_model == str(tiny_bert_dir)
    assert list(loaded.features_) == ["original_firstorder_Mean", "original_glcm_Idmn"]
    X = pd.DataFrame({"original_firstorder_Mean": [1.0, 2.0], "original_glcm_Idmn": [0.5, 0.1], "age": [50.0, 60.0]})
    assert loaded.transform(X).values.shape == (2, 2)
