"""End-to-end pipelines: the baseline, the method, its ablations; leakage; grid search on the cache."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_validate

from sklearn_llmrad.datasets import load_mias, make_synthetic_mammograms
from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.metrics import SCORING
from sklearn_llmrad.pipelines import (
    make_biobert_svc_pipeline,
    make_feature_extraction_pipeline,
    make_llmrad_pipeline,
    make_no_attention_pipeline,
    make_no_biobert_pipeline,
    make_radiomics_svc_pipeline,
)
from sklearn_llmrad.selection import TopKSelector

# Fast settings: two filters instead of nine; a small network for a few epochs.
FAST = {"image_types": ["Original", "LoG"], "log_sigma": (1.0, 3.0), "progress": False}
SMALL_NET = {"hidden_size": 16, "n_heads": 2, "max_epochs": 8, "batch_size": 16, "lr": 3e-3}


@pytest.fixture(scope="module")
def synthetic():
    data = make_synthetic_mammograms(80, image_size=128, random_state=11)
    return data.frame, data.target, data.groups


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("radiomics-cache")


@pytest.fixture(scope="module")
def features(synthetic, cache_dir):
    X, _, _ = synthetic
    return make_feature_extraction_pipeline(cache_dir=cache_dir, extractor_params=FAST).fit_transform(X)


def _cv():
    return StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0)


def test_radiomics_svc_cross_validates_on_synthetic(synthetic, cache_dir):
    X, y, groups = synthetic
    pipe = make_radiomics_svc_pipeline(k=30, cache_dir=cache_dir, extractor_params=FAST, random_state=0)
    scores = cross_validate(pipe, X, y, groups=groups, cv=_cv(), scoring=SCORING)
    for name in SCORING:
        assert np.all((scores[f"test_{name}"] >= 0) & (scores[f"test_{name}"] <= 1)), name
    # the synthetic classes overlap but are learnable
    assert scores["test_roc_auc"].mean() > 0.6


def test_radiomics_svc_cross_validates_on_real_mias(mias_root, tmp_path):
    data = load_mias(mias_root)
    pipe = make_radiomics_svc_pipeline(k=20, cache_dir=tmp_path, extractor_params=FAST, random_state=0)
    cv = StratifiedGroupKFold(n_splits=3)
    scores = cross_validate(pipe, data.frame, data.target, groups=data.groups, cv=cv, scoring=SCORING)
    assert len(scores["test_roc_auc"]) == 3
    assert np.isfinite(scores["test_accuracy"]).all()


def test_grid_search_extracts_each_lesion_once(synthetic, tmp_path, monkeypatch):
    """GridSearchCV over topk__k and svc__C reads the cache instead of re-extracting."""
    from radiomics import featureextractor

    X, y, groups = synthetic
    calls = []
    real_execute = featureextractor.RadiomicsFeatureExtractor.execute

    def counting_execute(self, *args, **kwargs):  # real extraction, counted
        calls.append(1)
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(featureextractor.RadiomicsFeatureExtractor, "execute", counting_execute)
    pipe = make_radiomics_svc_pipeline(cache_dir=tmp_path, extractor_params=FAST, random_state=0)
    search = GridSearchCV(pipe, {"topk__k": [5, 20], "svc__C": [0.1, 1.0]}, cv=_cv(), scoring="roc_auc")
    search.fit(X, y, groups=groups)
    assert search.best_params_["topk__k"] in (5, 20)
    # 4 candidates x 3 folds x (fit + score) + refit would be 28 passes over the data;
    # each lesion is extracted exactly once (a few PyRadiomics calls are the extractor's
    # feature-name probe on a small synthetic ROI)
    assert len(X) <= len(calls) <= len(X) + 3


@pytest.fixture(scope="module")
def fitted_twice(synthetic, features, tiny_bert_dir):
    X, y, groups = synthetic
    train, test = next(_cv().split(features, y, groups))
    numeric = [c for c in features.columns if c not in ("age", "density", "history")]
    poisoned = features.copy()
    poisoned[numeric] = poisoned[numeric].astype(float)
    poisoned.iloc[test, [features.columns.get_loc(c) for c in numeric]] *= 1000.0
    y_poisoned = y.copy()
    y_poisoned[test] = 1 - y_poisoned[test]

    def fit(frame, labels):
        pipe = make_llmrad_pipeline(
            k=10,
            language_model=str(tiny_bert_dir),
            encoder_params={"device": "cpu"},
            classifier_params=SMALL_NET,
            random_state=0,
            fallback=None,  # the network's stages as top-level steps
        )[2:]
        # cross_validate hands the pipeline the training rows only; so do we
        return cross_validate(pipe, frame, labels, cv=[(train, test)], return_estimator=True)["estimator"][0]

    return fit(features, y), fit(poisoned, y_poisoned), features.iloc[train], y[train]


def test_no_leakage_from_the_test_fold(fitted_twice):
    clean, poisoned, train_frame, y_train = fitted_twice
    # identical training folds -> identical learned statistics, whatever the test fold holds
    assert list(clean["topk"].get_feature_names_out()) == list(poisoned["topk"].get_feature_names_out())
    np.testing.assert_allclose(clean["encoder"].center_, poisoned["encoder"].center_)
    np.testing.assert_allclose(clean["encoder"].scale_, poisoned["encoder"].scale_)
    # and they equal what the training rows alone give
    alone = TopKSelector(10).fit(train_frame, y_train)
    assert list(alone.get_feature_names_out()) == list(clean["topk"].get_feature_names_out())
    selected = [c for c in alone.get_feature_names_out() if c not in ("age", "density", "history")]
    medians = train_frame[selected].astype(float).median().to_numpy()
    np.testing.assert_allclose(clean["encoder"].center_, medians, rtol=1e-5, atol=1e-6)


def test_full_method_and_ablations_end_to_end_with_tiny_bert(synthetic, features, tiny_bert_dir):
    X, y, groups = synthetic
    common = dict(k=15, encoder_params={"device": "cpu"}, classifier_params=SMALL_NET, random_state=0)
    models = {
        "llmrad": make_llmrad_pipeline(language_model=str(tiny_bert_dir), **common),
        "wo-attention": make_no_attention_pipeline(language_model=str(tiny_bert_dir), **common),
        "wo-biobert": make_no_biobert_pipeline(**common),
        "biobert-svc": make_biobert_svc_pipeline(
            k=15, language_model=str(tiny_bert_dir), encoder_params={"device": "cpu"}, random_state=0
        ),
    }
    for name, pipe in models.items():
        tail = pipe[2:]  # features are extracted once above
        scores = cross_validate(tail, features, y, groups=groups, cv=_cv(), scoring="roc_auc")
        assert np.isfinite(scores["test_score"]).all(), name
        tail.fit(features, y)
        proba = tail.predict_proba(features)
        assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1), name
    assert models["wo-biobert"].get_params()["choice__llmrad__fusion__attention"] is True
    assert models["wo-attention"].get_params()["choice__llmrad__fusion__attention"] is False
    assert "encoder" not in models["wo-biobert"].get_params()["choice__llmrad"].named_steps


def test_default_method_lets_inner_cv_choose_its_linear_path(features, synthetic, tiny_bert_dir):
    """The default learned part is a choice fitted on the training rows only; when it keeps
    the linear path, its predictions are exactly those of that path fitted alone."""
    X, y, groups = synthetic
    pipe = make_llmrad_pipeline(
        k=10,
        language_model=str(tiny_bert_dir),
        encoder_params={"device": "cpu"},
        classifier_params=SMALL_NET,
        random_state=0,
    )[2:]
    pipe.fit(features, y)
    choice = pipe["choice"]
    assert set(choice.cv_scores_) == {"linear", "llmrad", "average"}
    assert choice.choice_ == max(choice.cv_scores_, key=choice.cv_scores_.get)
    # force the linear path: it must then be the refitted linear candidate, nothing else
    linear_only = pipe.set_params(choice__average=False, choice__estimators=[choice.estimators[0]]).fit(features, y)
    alone = clone(choice.estimators[0][1]).fit(features, y)
    np.testing.assert_allclose(linear_only.predict_proba(features), alone.predict_proba(features))
    assert list(alone["model"].feature_names_in_) == list(alone["topk"].get_feature_names_out())


def test_fallback_is_validated():
    with pytest.raises(ValueError, match="fallback"):
        make_llmrad_pipeline(fallback="svc")


def test_full_pipeline_from_images_with_real_minilm(minilm_dir, tmp_path):
    """The whole method from raw images, with a real pretrained BERT-family model and tokenizer."""
    data = make_synthetic_mammograms(24, image_size=128, random_state=4)
    pipe = make_llmrad_pipeline(
        k=12,
        language_model=str(minilm_dir),
        encoder_params={"device": "cpu"},
        cache_dir=tmp_path,
        extractor_params=FAST,
        classifier_params=SMALL_NET,
        random_state=0,
        fallback=None,  # the network alone: it explains itself
    )
    pipe.fit(data.frame, data.target)
    sf = pipe[:-1].transform(data.frame.iloc[:5])
    assert isinstance(sf, SemanticFeatures)
    assert sf.embedding_dim == 384 and sf.n_features == 12
    explanation = pipe[-1].explain(sf, top_n=3)
    assert len(explanation.rationale) == 5
    assert all("Probability of malignancy" in text for text in explanation.rationale)
    # rationales speak the descriptions' clinical language, not raw PyRadiomics names
    described = set(explanation.contributions["description"])
    assert any(d.split(":")[0] in " ".join(explanation.rationale) for d in described)
    assert list(explanation.contributions["case"].unique()) == list(data.frame.index[:5])


def test_lesion_without_clinical_data_gets_a_prediction(synthetic, features, tiny_bert_dir):
    X, y, groups = synthetic
    pipe = make_llmrad_pipeline(
        k=10,
        language_model=str(tiny_bert_dir),
        encoder_params={"device": "cpu"},
        classifier_params=SMALL_NET,
        random_state=0,
    )[2:]
    pipe.fit(features, y)
    blank = features.iloc[:3].copy()
    blank["age"] = np.nan
    blank["density"] = None
    blank["history"] = None
    proba = pipe.predict_proba(blank)
    assert proba.shape == (3, 2) and np.isfinite(proba).all()
    # an unknown density is refused by the encoder: the network itself (the choice may use the linear path only)
    network = make_llmrad_pipeline(
        k=10,
        language_model=str(tiny_bert_dir),
        encoder_params={"device": "cpu"},
        classifier_params=SMALL_NET,
        random_state=0,
        fallback=None,
    )[2:].fit(features, y)
    unseen = features.iloc[:1].copy()
    unseen["density"] = "Z"
    with pytest.raises(ValueError, match="density"):
        network.predict_proba(unseen)


def test_svc_on_semantic_features_uses_numbers(features, synthetic, tiny_bert_dir):
    X, y, groups = synthetic
    pipe = make_biobert_svc_pipeline(
        k=10, language_model=str(tiny_bert_dir), encoder_params={"device": "cpu"}, random_state=0
    )[2:]
    pipe.fit(features, y)
    from sklearn_llmrad.models.svm import CalibratedSVC

    assert isinstance(pipe["svc"], CalibratedSVC)
    assert pipe["svc"].n_features_in_ == 10
