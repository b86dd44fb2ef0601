"""LLMRadiomicsClassifier: skorch training, sklearn conventions, explanations."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.exceptions import LesionError
from sklearn_llmrad.models import LLMRadiomicsClassifier

torch.set_num_threads(1)

K, D, T = 12, 32, 4
NAMES = np.array([f"original_glcm_Feature{i}" for i in range(K)], dtype=object)
DESCRIPTIONS = np.array([f"gray-level texture statistic number {i}" for i in range(K)], dtype=object)


def _semantic(n, seed=0, names=NAMES, descriptions=DESCRIPTIONS, dim=D):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, K)).astype(np.float32)
    y = (values[:, 0] - values[:, 3] + 0.3 * rng.normal(size=n) > 0).astype(int)
    # feature-name embeddings are a property of the names, not of the sample
    name_rng = np.random.default_rng(123)
    embeddings = name_rng.normal(size=(K, dim)).astype(np.float32)
    clinical = rng.normal(size=(n, T, dim)).astype(np.float32)
    mask = np.ones((n, T), dtype=bool)
    mask[::3, 2:] = False  # some lesions lack some clinical statements
    mask[::7, 1:] = False  # ...or everything but the sentence token
    X = SemanticFeatures(values, embeddings, clinical, mask, names, descriptions)
    return X, y


def _clf(**kwargs):
    params = dict(hidden_size=32, n_heads=4, max_epochs=8, lr=3e-3, batch_size=16, early_stopping=False, random_state=0)
    params.update(kwargs)
    return LLMRadiomicsClassifier(**params)


@pytest.fixture(scope="module")
def data():
    X, y = _semantic(160)
    return X[:100], y[:100], X[100:], y[100:]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    return _clf().fit(X, y)


def test_learns_a_separable_problem(fitted, data):
    _, _, X_test, y_test = data
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(y_test), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.9
    assert set(fitted.predict(X_test)) <= {0, 1}
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert fitted.n_features_in_ == K
    np.testing.assert_array_equal(fitted.feature_names_in_, NAMES)


def test_clinical_text_reaches_the_decision():
    """The label depends only on a (category-like) clinical statement, not on the values."""
    rng = np.random.default_rng(0)
    n = 160
    prototypes = rng.normal(size=(4, D)).astype(np.float32)  # e.g. BI-RADS density A-D
    category = rng.integers(0, 4, n)
    clinical = prototypes[category][:, None, :] + 0.1 * rng.normal(size=(n, T, D))
    y = (category >= 2).astype(int)
    X = SemanticFeatures(rng.normal(size=(n, K)), rng.normal(size=(K, D)), clinical.astype(np.float32), None, NAMES)
    for attention in (True, False):
        clf = _clf(attention=attention).fit(X[:100], y[:100])
        assert roc_auc_score(y[100:], clf.predict_proba(X[100:])[:, 1]) > 0.9


def test_linear_path_gets_its_own_learning_rate(fitted):
    groups = fitted.optimizer_.param_groups
    linear = {id(p) for p in fitted.module_.linear.parameters()}
    (fast,) = [g for g in groups if {id(p) for p in g["params"]} == linear]
    (slow,) = [g for g in groups if g is not fast]
    assert fast["lr"] == pytest.approx(3e-3 * 100) and slow["lr"] == pytest.approx(3e-3)
    assert slow["weight_decay"] == pytest.approx(1e-5)
    single = _clf(linear_lr_factor=1.0, max_epochs=1).fit(*_semantic(40))
    assert len(single.optimizer_.param_groups) == 1


def test_partial_fit_continues_training(data):
    X, y, _, _ = data
    clf = _clf(max_epochs=2).fit(X, y)
    weights = clf.module_.linear.weight.detach().clone()
    clf.partial_fit(X, y)
    assert len(clf.history) == 4
    assert not torch.equal(weights, clf.module_.linear.weight)


def test_module_parameter_change_after_fit_rebuilds_the_network(fitted, data):
    clf = pickle.loads(pickle.dumps(fitted))
    clf.set_params(module__ffn_factor=1)
    assert clf.module_.ffn[0].out_features == 32
    np.testing.assert_array_equal(clf.module_.feature_embeddings.numpy(), data[0].feature_embeddings)
    assert clf.predict_proba(data[2]).shape == (60, 2)


def test_feature_embeddings_stored_once_in_the_module(fitted, data):
    X = data[0]
    stored = fitted.module_.feature_embeddings
    assert tuple(stored.shape) == (K, D)
    np.testing.assert_array_equal(stored.cpu().numpy(), X.feature_embeddings)


def test_same_seed_identical_different_seed_different(data):
    X, y, X_test, _ = data
    a = _clf(max_epochs=3).fit(X, y).predict_proba(X_test)
    b = _clf(max_epochs=3).fit(X, y).predict_proba(X_test)
    c = _clf(max_epochs=3, random_state=1).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_seeding_does_not_touch_the_global_torch_rng(data):
    X, y, _, _ = data
    torch.manual_seed(42)
    expected = torch.rand(3)
    torch.manual_seed(42)
    _clf(max_epochs=1).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_string_labels(data):
    X, y, X_test, _ = data
    labels = np.where(y == 1, "malignant", "benign")
    clf = _clf(max_epochs=2).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["benign", "malignant"])
    assert set(clf.predict(X_test)) <= {"benign", "malignant"}
    assert clf.explain(X_test[:1]).rationale[0].startswith("Probability of malignancy")


def test_clone_and_grid_search(data):
    X, y, _, _ = data
    clf = _clf(max_epochs=2)
    copy = clone(clf)
    assert copy.get_params(deep=False)["device"] == "auto"
    assert not hasattr(copy, "module_")
    search = GridSearchCV(clf, {"contrastive_weight": [0.0, 0.5], "lr": [3e-3]}, cv=2, scoring="roc_auc").fit(X, y)
    assert search.best_params_["contrastive_weight"] in (0.0, 0.5)
    assert search.best_estimator_.criterion_.contrastive_weight == search.best_params_["contrastive_weight"]
    assert search.predict_proba(X[:5]).shape == (5, 2)


def test_cross_validate_on_semantic_features(data):
    X, y, _, _ = data
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_validate(_clf(max_epochs=4), X, y, cv=cv, scoring="roc_auc")
    assert len(scores["test_score"]) == 3
    assert np.all(scores["test_score"] > 0.7)


def test_plain_numeric_dataframe_path_w_o_biobert(data):
    X, y, X_test, y_test = data
    frame = pd.DataFrame(X.values, columns=list(NAMES))
    frame["age"] = np.random.default_rng(0).uniform(40, 80, len(frame))
    clf = _clf(max_epochs=10).fit(frame, y)
    assert clf.input_kind_ == "numeric"
    assert clf.module_.feature_embeddings is None
    test = pd.DataFrame(X_test.values, columns=list(NAMES))
    test["age"] = 60.0
    assert roc_auc_score(y_test, clf.predict_proba(test)[:, 1]) > 0.85
    with pytest.raises(ValueError, match="fitted on a plain numeric matrix"):
        clf.predict(X_test)


def test_non_numeric_column_has_a_helpful_error(data):
    X, y, _, _ = data
    frame = pd.DataFrame(X.values, columns=list(NAMES))
    frame["density"] = "B"
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['density'\].*passthrough=None"):
        _clf().fit(frame, y)


def test_nan_value_names_the_case(data):
    X, y, _, _ = data
    frame = pd.DataFrame(X.values, columns=list(NAMES), index=[f"synthetic_{i:04d}" for i in range(len(y))])
    frame.iloc[7, 2] = np.nan
    with pytest.raises(LesionError, match="synthetic_0007.*original_glcm_Feature2") as info:
        _clf().fit(frame, y)
    assert info.value.case == "synthetic_0007"


def test_without_attention(data):
    X, y, X_test, y_test = data
    clf = _clf(attention=False, max_epochs=8).fit(X, y)
    assert roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]) > 0.85
    attention = clf.explain(X_test[:3]).contributions["attention"]
    np.testing.assert_allclose(attention, 1.0 / K, rtol=1e-5)


def test_early_stopping_stops_and_restores_the_best_epoch(data):
    X, _, _, _ = data
    noise = np.random.default_rng(5).integers(0, 2, len(X))  # nothing to learn
    clf = _clf(early_stopping=True, patience=3, max_epochs=60, lr=1e-2).fit(X, noise)
    history = clf.history
    assert len(history) < 60
    valid = history[:, "valid_loss"]
    best = int(np.argmin(valid))
    assert len(history) == best + 1 + 3
    # the internal validation split is stratified and 20 %
    assert history[-1, "valid_batch_count"] >= 1
    assert sum(history[-1, "batches", :, "valid_batch_size"]) == 20


def test_pickle_round_trip(fitted, data):
    X_test = data[2]
    clone_ = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone_.predict_proba(X_test), fitted.predict_proba(X_test))
    assert clone_.get_params(deep=False)["device"] == "auto"


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_model_saved_for_cuda_loads_on_cpu(data):
    X, y, X_test, _ = data
    clf = _clf(max_epochs=1).fit(X, y)
    expected = clf.predict_proba(X_test)
    clf.set_params(device="cuda")  # as if it had been fitted on a GPU
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = pickle.loads(pickle.dumps(clf))
    assert any("not available" in str(w.message) for w in caught)
    assert torch.device(restored.device).type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X_test), expected)


def test_explain(fitted, data):
    X_test = data[2][:4]
    top_n = 3
    result = fitted.explain(X_test, top_n=top_n)
    np.testing.assert_allclose(result.probability, fitted.predict_proba(X_test)[:, 1], rtol=1e-5)
    table = result.contributions
    assert list(table.columns) == ["case", "rank", "feature", "description", "value", "contribution", "attention"]
    assert len(table) == 4 * top_n
    for i, (_case, rows) in enumerate(table.groupby("case", sort=False)):
        magnitude = rows["contribution"].abs().to_numpy()
        assert np.all(np.diff(magnitude) <= 0)
        assert list(rows["rank"]) == [1, 2, 3]
        assert set(rows["description"]) <= set(DESCRIPTIONS)
        text = result.rationale[i]
        assert text.startswith(f"Probability of malignancy {result.probability[i]:.2f}.")
        for _, row in rows.iterrows():
            level = "high" if row["value"] > 0 else "low"
            sign = "+" if row["contribution"] > 0 else "-"
            assert f"{level} {row['description']} ({sign})" in text
        # contributions are gradient x input of the log-odds
        assert np.all(np.sign(rows["value"]) * np.sign(rows["contribution"]) != 0)
    assert (table["attention"] >= 0).all()
    # the features that define the label dominate on average
    full = fitted.explain(data[2], top_n=K).contributions
    ranking = full.assign(m=full["contribution"].abs()).groupby("feature")["m"].mean()
    assert set(ranking.nlargest(2).index) == {NAMES[0], NAMES[3]}


def test_feature_name_mismatch_and_reordering(fitted, data):
    X_test = data[2]
    renamed = NAMES.copy()
    renamed[4] = "wavelet-LLH_glszm_ZoneEntropy"
    other = SemanticFeatures(
        X_test.values, X_test.feature_embeddings, X_test.clinical_embeddings, X_test.clinical_mask, renamed
    )
    with pytest.raises(
        ValueError,
        match=r"Missing: \['original_glcm_Feature4'\].*"
        r"unexpected: \['wavelet-LLH_glszm_ZoneEntropy'\]",
    ):
        fitted.predict(other)
    order = np.random.default_rng(0).permutation(K)
    shuffled = SemanticFeatures(
        X_test.values[:, order],
        X_test.feature_embeddings[order],
        X_test.clinical_embeddings,
        X_test.clinical_mask,
        NAMES[order],
    )
    np.testing.assert_allclose(fitted.predict_proba(shuffled), fitted.predict_proba(X_test), rtol=1e-5)


def test_other_language_model_width_is_rejected(fitted):
    X, _ = _semantic(5, dim=16)
    with pytest.raises(ValueError, match="width 16 .* width 32"):
        fitted.predict(X)


def test_invalid_parameters(data):
    X, y, _, _ = data
    with pytest.raises(InvalidParameterError, match="temperature"):
        _clf(temperature=0.0).fit(X, y)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        _clf(hidden_size=30, n_heads=4).fit(X, y)
    with pytest.raises(ValueError, match="1 class"):
        _clf().fit(X, np.zeros(len(y)))


def test_unfitted_errors():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _clf().predict_proba(np.zeros((2, K), dtype=np.float32))


def test_tags_declare_numeric_input():
    tags = _clf().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.input_tags.two_d_array and not tags.input_tags.allow_nan
    assert not tags.input_tags.string and not tags.input_tags.sparse


# sklearn's common checks on the numeric path (SemanticFeatures are covered above).
# sklearn's common checks on the numeric path run in tests/test_common.py.


def test_end_to_end_with_the_real_encoder(tiny_bert_dir):
    """BioBERTEncoder (tiny BERT) -> LLMRadiomicsClassifier, with real feature names."""
    from sklearn.pipeline import make_pipeline

    from sklearn_llmrad.descriptions import describe_feature
    from sklearn_llmrad.encoding import BioBERTEncoder

    features = [
        "original_firstorder_Mean",
        "wavelet-LH_glcm_Contrast",
        "log-sigma-3-0-mm-3D_glszm_ZoneEntropy",
        "original_shape2D_Sphericity",
    ]
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=features, index=[f"synthetic_{i:04d}" for i in range(n)])
    frame["age"] = rng.integers(40, 80, n).astype(float)
    frame["density"] = rng.choice(["A", "B", "C", "D", None], n)
    y = (frame[features[2]] > 0).astype(int).to_numpy()
    pipe = make_pipeline(BioBERTEncoder(language_model=tiny_bert_dir, device="cpu"), _clf(max_epochs=6))
    pipe.fit(frame, y)
    assert roc_auc_score(y, pipe.predict_proba(frame)[:, 1]) > 0.9
    encoded = pipe[0].transform(frame.iloc[:3])
    result = pipe[-1].explain(encoded, top_n=2)
    top = result.contributions.query("rank == 1")
    assert set(top["feature"]) == {features[2]}
    name = describe_feature(features[2]).split(":")[0]
    assert "GLSZM" in name and f" {name} (" in result.rationale[0]
    assert set(result.contributions["description"]) <= {describe_feature(f) for f in features}


def test_grouped_feature_tokens_learn_save_and_explain(data, tmp_path):
    """feature_tokens="group": one token per image type and class; saved, reloaded, explained."""
    from sklearn_llmrad.io import load, save

    X, y, X_test, y_test = data
    names = np.array(
        [
            f"{image}_{cls}_F{i}"
            for i, (image, cls) in enumerate(
                [("original", "glcm"), ("original", "firstorder"), ("wavelet-LLH", "glcm")] * 4
            )
        ],
        dtype=object,
    )
    names[-1] = "age_in_years"  # no feature class: a group of its own
    grouped = SemanticFeatures(X.values, X.feature_embeddings, X.clinical_embeddings, X.clinical_mask, names)
    clf = _clf(feature_tokens="group").fit(grouped, y)
    assert clf.module_.token_pool.shape == (4, K)
    np.testing.assert_array_equal(clf.module_.token_groups.numpy(), [0, 1, 2] * 3 + [0, 1, 3])
    test = SemanticFeatures(
        X_test.values, X.feature_embeddings, X_test.clinical_embeddings, X_test.clinical_mask, names
    )
    proba = clf.predict_proba(test)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.8
    loaded = load(save(clf, tmp_path / "grouped.llmrad"))
    np.testing.assert_array_equal(loaded.predict_proba(test), proba)
    explanation = clf.explain(test, top_n=3)
    assert len(explanation.rationale) == len(y_test)
    # one token per feature class; the per-token network is the default
    by_class = _clf(feature_tokens="class", max_epochs=1).fit(grouped, y)
    np.testing.assert_array_equal(by_class.module_.token_groups.numpy(), [0, 1, 0] * 3 + [0, 1, 2])
    assert _clf(max_epochs=1).fit(grouped, y).module_.token_pool is None
