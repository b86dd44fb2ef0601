"""sklearn_llmrad.explain on every model the package builds: the model's own probability,
the estimator that produced it, drivers that never include a feature constant in training."""

import numpy as np
import pandas as pd
import pytest
import torch

import sklearn_llmrad
from sklearn_llmrad.io import load, save
from sklearn_llmrad.pipelines import (
    make_biobert_svc_pipeline,
    make_llmrad_pipeline,
    make_no_attention_pipeline,
    make_no_biobert_pipeline,
    make_radiomics_svc_pipeline,
)

NET = {"hidden_size": 8, "n_heads": 2, "max_epochs": 3, "batch_size": 16, "lr": 3e-3}
# Elongation is 1.0 for every training lesion, up to floating-point noise (circular masks)
CONSTANT = "original_shape2D_Elongation"
COLUMNS = [
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    CONSTANT,
    "original_firstorder_Energy",
    "original_glszm_ZoneEntropy",
    "original_shape2D_Sphericity",
]


@pytest.fixture(scope="module")
def table():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = 48
    X = pd.DataFrame(rng.normal(size=(n, len(COLUMNS))), columns=COLUMNS, index=[f"case{i}" for i in range(n)])
    X[CONSTANT] = 1.0 + rng.normal(scale=1e-15, size=n)
    X["age"] = rng.integers(40, 80, size=n).astype(float)
    y = (X["original_firstorder_Mean"] + 0.3 * rng.normal(size=n) > 0).astype(int).to_numpy()
    new = X.iloc[:6].copy()
    new[CONSTANT] = 0.97  # outside the training "range": scaled, it looks extreme
    return X, y, new


def _check(model, new, expected):
    table = sklearn_llmrad.explain(model, new, top_n=4)
    probability = model.predict_proba(new)[:, 1]
    np.testing.assert_allclose(table["probability"].to_numpy(), probability, rtol=0, atol=1e-9)
    assert list(table.index) == list(new.index)
    assert set(table["estimator"]) == {expected}
    for p, text, drivers in zip(table["probability"], table["text"], table["drivers"]):
        assert f"{p:.3f}" in text
        assert drivers, "every lesion has a driver"
        assert CONSTANT not in [name for name, *_ in drivers]
        for name, _, percentile, contribution in drivers:
            assert name in COLUMNS and contribution != 0 and 0 <= percentile <= 100
    # the raw value is the lesion's own, unscaled
    first = dict((name, raw) for name, raw, *_ in table["drivers"].iloc[0])
    for name, raw in first.items():
        assert raw == pytest.approx(float(new[name].iloc[0]))
    return table


def _with_lm(tiny_bert_dir, factory, **kwargs):
    return factory(
        k=6,
        language_model=str(tiny_bert_dir),
        encoder_params={"device": "cpu"},
        random_state=0,
        device="cpu",
        **kwargs,
    )[2:]


def test_svc_baselines_are_explained_by_occlusion(table, tiny_bert_dir):
    X, y, new = table
    radiomics = make_radiomics_svc_pipeline(k=6, random_state=0)[2:].fit(X, y)
    _check(radiomics, new, "svc")
    biobert = make_biobert_svc_pipeline(
        k=6, language_model=str(tiny_bert_dir), encoder_params={"device": "cpu"}, random_state=0, device="cpu"
    )[2:].fit(X, y)
    _check(biobert, new, "svc")


def test_networks_and_ablations_explain_themselves(table, tiny_bert_dir):
    X, y, new = table
    network = _with_lm(tiny_bert_dir, make_llmrad_pipeline, classifier_params=NET, fallback=None).fit(X, y)
    explained = _check(network, new, "network")
    # the network's own attribution: its top driver is its largest gradient x input
    contributions = network["fusion"].feature_contributions(network[:-1].transform(new))
    names = list(network["fusion"].feature_names_in_)
    contributions[:, names.index(CONSTANT)] = 0.0
    top = names[int(np.argmax(np.abs(contributions[0])))]
    assert explained["drivers"].iloc[0][0][0] == top
    no_attention = _with_lm(tiny_bert_dir, make_no_attention_pipeline, classifier_params=NET, fallback=None)
    _check(no_attention.fit(X, y), new, "network")
    no_biobert = make_no_biobert_pipeline(k=6, classifier_params=NET, random_state=0, device="cpu", fallback=None)
    _check(no_biobert[2:].fit(X, y), new, "network")


@pytest.fixture(scope="module")
def default_method(table, tiny_bert_dir):
    """The default method whose inner CV picks the linear path: an untrained network cannot beat it."""
    X, y, _ = table
    untrained = {**NET, "max_epochs": 1, "lr": 1e-9}
    return _with_lm(tiny_bert_dir, make_llmrad_pipeline, classifier_params=untrained, refit="all").fit(X, y)


def test_choice_of_the_linear_path_explains_the_linear_model(default_method, table):
    _, _, new = table
    choice = default_method["choice"]
    assert choice.choice_ == "linear"
    explained = _check(default_method, new, "linear")
    # the linear model's numbers, not the network's
    linear = choice.estimators_["linear"]
    np.testing.assert_allclose(explained["probability"], linear.predict_proba(new)[:, 1], atol=1e-12)
    network = choice.estimators_["llmrad"].predict_proba(new)[:, 1]
    assert not np.allclose(explained["probability"], network)
    terms = linear["model"].decision_contributions(linear["topk"].transform(new))
    names = list(linear["model"].feature_names_in_)
    for name, _, _, contribution in explained["drivers"].iloc[0]:
        assert contribution == pytest.approx(terms[0, names.index(name)])
    assert "linear model" in explained["text"].iloc[0]


def test_average_weighs_both_attributions_as_it_weighs_their_probabilities(default_method, table):
    _, _, new = table
    choice = default_method["choice"]
    chosen = choice.choice_
    try:
        choice.choice_ = "average"  # as if the inner CV had picked it
        explained = _check(default_method, new, "average")
        separately = {
            name: sklearn_llmrad.explain(est, new, top_n=6)["drivers"].iloc[0]
            for name, est in choice.estimators_.items()
        }
    finally:
        choice.choice_ = chosen
    contribution = {}
    for drivers in separately.values():
        for name, _, _, c in drivers:
            contribution[name] = contribution.get(name, 0.0) + c / 2
    for name, _, _, c in explained["drivers"].iloc[0]:
        assert c == pytest.approx(contribution[name])


def test_explain_after_a_save_load_round_trip(default_method, table, tmp_path, tiny_bert_dir):
    _, _, new = table
    path = save(default_method, tmp_path / "model.llmrad")
    loaded = load(path, language_model=tiny_bert_dir)
    before = sklearn_llmrad.explain(default_method, new, top_n=4)
    after = _check(loaded, new, "linear")
    np.testing.assert_allclose(after["probability"], before["probability"], atol=1e-9)
    assert list(after["text"]) == list(before["text"])
    assert loaded["choice"].estimators_["llmrad"]["fusion"].training_quantiles_.shape == (101, 6)


def test_constant_features_get_no_contribution_even_when_the_linear_model_weighs_them(table):
    from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression

    X, y, new = table
    model = SemanticPriorLogisticRegression(random_state=0).fit(X[COLUMNS], y)
    # standardised by its noise, Elongation 0.97 is astronomically far from the training mean
    terms = model.decision_contributions(new[COLUMNS])
    assert np.abs(terms[:, COLUMNS.index(CONSTANT)]).max() > 1.0
    _check(model, new[COLUMNS], "linear")


def test_explain_rejects_what_it_does_not_know(table):
    from sklearn.linear_model import LogisticRegression

    X, y, _ = table
    with pytest.raises(TypeError, match="LogisticRegression"):
        sklearn_llmrad.explain(LogisticRegression().fit(X[COLUMNS], y), X[COLUMNS])
    with pytest.raises(ValueError, match="top_n"):
        sklearn_llmrad.explain(LogisticRegression().fit(X[COLUMNS], y), X[COLUMNS], top_n=0)


def test_a_whole_pipeline_from_images_explains_the_extracted_features(tmp_path):
    from sklearn_llmrad.datasets import make_synthetic_mammograms

    data = make_synthetic_mammograms(24, image_size=96, random_state=3)
    fast = {"image_types": ["Original"], "progress": False}
    pipe = make_radiomics_svc_pipeline(k=5, cache_dir=tmp_path, extractor_params=fast, random_state=0)
    pipe.fit(data.frame, data.target)
    new = data.frame.iloc[:3]
    table = sklearn_llmrad.explain(pipe, new, top_n=3)
    np.testing.assert_allclose(table["probability"], pipe.predict_proba(new)[:, 1], rtol=0, atol=1e-9)
    assert list(table.index) == list(new.index) and set(table["estimator"]) == {"svc"}
    features = pipe[:3].transform(new)  # the selected radiomics features, unscaled
    for case, drivers in zip(new.index, table["drivers"]):
        for name, raw, percentile, _ in drivers:
            assert name in pipe["topk"].get_feature_names_out()
            assert raw == pytest.approx(float(features.loc[case, name]))
            assert 0 <= percentile <= 100
