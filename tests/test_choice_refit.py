"""The inner-CV choice pays once: the same numbers as fitting every candidate on its own.

The reference below is the choice as it was before shared steps and ``refit``: each
candidate cloned and fitted on each inner fold, scored, and every candidate refitted
on all data. With ``inner_early_stopping=False`` the choice must reproduce it exactly
(AUCs to 1e-9, the same pick, the same probabilities); with early stopping on for the
inner fits (the default) its numbers may differ by design, its folds may not.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression

from sklearn_llmrad._testing import reference_inner_cv_choice
from sklearn_llmrad.io import load, save
from sklearn_llmrad.models.choice import InnerCVChoiceClassifier
from sklearn_llmrad.pipelines import make_llmrad_pipeline, make_no_biobert_pipeline
from sklearn_llmrad.prior import SemanticPrior
from sklearn_llmrad.selection import TopKSelector

NET = {"hidden_size": 8, "n_heads": 2, "max_epochs": 6, "batch_size": 16, "lr": 3e-3}
COLUMNS = [
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    "original_firstorder_Energy",
    "original_glszm_ZoneEntropy",
    "original_shape2D_Sphericity",
    "original_glrlm_RunEntropy",
]


@pytest.fixture(scope="module")
def table():
    torch.set_num_threads(1)
    rng = np.random.default_rng(3)
    n = 54
    X = pd.DataFrame(rng.normal(size=(n, len(COLUMNS))), columns=COLUMNS, index=[f"case{i}" for i in range(n)])
    X["age"] = rng.integers(40, 80, size=n).astype(float)
    y = (X["original_firstorder_Mean"] - X["original_glcm_Contrast"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def _proba(fitted, pick, X):
    chosen = list(fitted.values()) if pick == "average" else [fitted[pick]]
    return np.mean([est.predict_proba(X)[:, 1] for est in chosen], axis=0)


@pytest.mark.parametrize("factory", [make_llmrad_pipeline, make_no_biobert_pipeline], ids=["full", "wo-biobert"])
def test_shared_steps_and_chosen_refit_give_the_numbers_of_separate_fits(factory, table, tiny_bert_dir):
    X, y = table
    pipe = factory(k=4, language_model=str(tiny_bert_dir), classifier_params=NET, device="cpu", random_state=0)
    pipe = pipe[2:].set_params(choice__inner_early_stopping=False, choice__progress=False)
    pick, means, refitted = reference_inner_cv_choice(pipe["choice"], X, y)

    fitted = clone(pipe).fit(X, y)
    choice = fitted["choice"]
    assert choice.choice_ == pick
    assert list(choice.cv_scores_) == list(means)
    np.testing.assert_allclose(list(choice.cv_scores_.values()), list(means.values()), rtol=0, atol=1e-9)
    np.testing.assert_allclose(fitted.predict_proba(X)[:, 1], _proba(refitted, pick, X), rtol=0, atol=1e-9)
    used = set(refitted) if pick == "average" else {pick}
    assert set(choice.estimators_) == used  # refit="chosen": the others are not refitted

    everything = clone(pipe).set_params(choice__refit="all").fit(X, y)["choice"]
    assert set(everything.estimators_) == set(refitted)
    for name, est in refitted.items():
        np.testing.assert_allclose(
            everything.estimators_[name].predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-9
        )


def test_the_linear_path_and_a_network_without_language_model_share_one_top_k(table, tiny_bert_dir):
    X, y = table
    pipe = make_no_biobert_pipeline(k=4, classifier_params=NET, device="cpu", random_state=0)
    choice = pipe["choice"].set_params(refit="all", progress=False).fit(X, y)
    assert choice.estimators_["linear"]["topk"] is choice.estimators_["llmrad"]["topk"]


@pytest.fixture(scope="module")
def prior():
    studies = {}
    for seed in (11, 12, 13):
        rng = np.random.default_rng(seed)
        X = pd.DataFrame(rng.normal(size=(40, len(COLUMNS))), columns=COLUMNS)
        studies[f"s{seed}"] = (X, (X.iloc[:, 0] + rng.normal(size=40) > 0).astype(int).to_numpy())
    return SemanticPrior(name_vectors="random", alpha=1.0, random_state=0).fit(studies)


@pytest.fixture
def topk_fits(monkeypatch):
    """Counts TopKSelector fits (the real fit runs)."""
    fits = []
    real = TopKSelector.fit

    def counted(self, X, y):
        fits.append(self.passthrough)
        return real(self, X, y)

    monkeypatch.setattr(TopKSelector, "fit", counted)
    return fits


@pytest.mark.parametrize("with_prior", [False, True], ids=["no-prior", "prior-gamma-auto"])
def test_the_method_fits_one_top_k_per_fold_for_both_candidates(with_prior, table, tiny_bert_dir, prior, topk_fits):
    # the linear path drops the clinical columns its network passes through: the same selection, fitted once
    X, y = table
    pipe = make_llmrad_pipeline(
        k=4,
        language_model=str(tiny_bert_dir),
        classifier_params=NET,
        device="cpu",
        random_state=0,
        prior=prior if with_prior else None,
    )[2:].set_params(choice__inner_early_stopping=False, choice__progress=False, choice__refit="all")
    assert pipe.get_params()["choice__linear__topk__passthrough"] is None
    assert pipe.get_params()["choice__llmrad__topk__passthrough"] == "clinical"
    pick, means, refitted = reference_inner_cv_choice(pipe["choice"], X, y)
    assert len(topk_fits) == 2 * (3 + 1)  # the reference: each candidate's own, 3 inner folds and the refit

    topk_fits.clear()
    fitted = clone(pipe).fit(X, y)
    assert len(topk_fits) == 3 + 1  # once per inner fold, once for the refit
    choice = fitted["choice"]
    assert choice.choice_ == pick
    np.testing.assert_allclose(list(choice.cv_scores_.values()), list(means.values()), rtol=0, atol=1e-9)
    np.testing.assert_allclose(fitted.predict_proba(X)[:, 1], _proba(refitted, pick, X), rtol=0, atol=1e-9)
    linear, network = choice.estimators_["linear"]["topk"], choice.estimators_["llmrad"]["topk"]
    assert linear is not network and linear.passthrough is None and network.passthrough == "clinical"
    assert list(linear.get_feature_names_out()) == list(refitted["linear"]["topk"].get_feature_names_out())
    assert list(network.get_feature_names_out()) == list(refitted["llmrad"]["topk"].get_feature_names_out())
    assert list(network.get_feature_names_out()) == [*linear.get_feature_names_out(), "age"]
    if with_prior:
        assert linear.prior_gamma_ == network.prior_gamma_ == refitted["linear"]["topk"].prior_gamma_
    for name, est in refitted.items():
        np.testing.assert_allclose(choice.estimators_[name].predict_proba(X), est.predict_proba(X), rtol=0, atol=1e-9)

    # a grid that gives the two candidates different selections: two fits, as before
    topk_fits.clear()
    clone(pipe).set_params(choice__linear__topk__k=3, choice__refit="chosen").fit(X, y)
    assert len(topk_fits) >= 2 * 3


def test_a_model_file_of_the_method_with_one_shared_top_k_loads(table, tiny_bert_dir, prior, tmp_path):
    X, y = table
    bert = str(tiny_bert_dir)
    pipe = make_llmrad_pipeline(k=4, language_model=bert, classifier_params=NET, device="cpu", prior=prior)
    fitted = pipe[2:].set_params(choice__progress=False, choice__refit="all", choice__random_state=0).fit(X, y)
    loaded = load(save(fitted, tmp_path / "method.llmrad"), language_model=str(tiny_bert_dir))
    assert set(loaded["choice"].estimators_) == {"linear", "llmrad"}
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), rtol=0, atol=1e-12)
    for name in ("linear", "llmrad"):
        np.testing.assert_allclose(
            loaded["choice"].estimators_[name].predict_proba(X),
            fitted["choice"].estimators_[name].predict_proba(X),
            rtol=0,
            atol=1e-12,
        )


def test_a_network_that_already_stops_early_keeps_its_callbacks_in_inner_fits(table):
    # skorch lists its early-stopping callback as the parameter ``callbacks__early_stopping``: left alone
    X, y = table
    net = {**NET, "max_epochs": 3, "early_stopping": True, "patience": 2}
    pipe = make_no_biobert_pipeline(k=4, classifier_params=net, device="cpu", random_state=0)[2:]
    fitted = pipe.set_params(choice__progress=False, choice__refit="all").fit(X, y)
    assert fitted["choice"].estimators_["llmrad"]["fusion"].early_stopping is True
    assert fitted.predict_proba(X).shape == (len(X), 2)


class _Recorder(ClassifierMixin, BaseEstimator):
    """A logistic regression that records the settings it was fitted with."""

    seen = []

    def __init__(self, early_stopping=False, progress=True, C=1.0):
        self.early_stopping = early_stopping
        self.progress = progress
        self.C = C

    def fit(self, X, y):
        type(self).seen.append((self.early_stopping, self.progress, len(y)))
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


@pytest.mark.parametrize("inner_early_stopping", [True, False])
def test_inner_fits_stop_early_and_draw_no_bars_the_refit_keeps_the_given_settings(inner_early_stopping):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
    _Recorder.seen = []
    choice = InnerCVChoiceClassifier(
        [("lr", LogisticRegression()), ("rec", _Recorder(C=1e-6))],
        average=False,
        inner_early_stopping=inner_early_stopping,
        random_state=0,
        refit="all",
    ).fit(X, y)
    *inner, final = _Recorder.seen
    assert inner == [(inner_early_stopping, False, n) for n in (40, 40, 40)]
    assert final == (False, True, 60)
    assert choice.estimators[1][1].early_stopping is False  # the given candidate is not changed


def test_a_model_file_holds_the_refitted_candidates_and_old_files_load_as_refit_all(table, tmp_path):
    X, y = table
    pipe = make_no_biobert_pipeline(k=4, classifier_params=NET, device="cpu", random_state=0)[2:]
    fitted = pipe.set_params(choice__progress=False).fit(X, y)
    choice = fitted["choice"]
    loaded = load(save(fitted, tmp_path / "chosen.llmrad"))
    assert loaded["choice"].refit == "chosen" and set(loaded["choice"].estimators_) == set(choice.estimators_)
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), rtol=0, atol=1e-12)
    # a file written before ``refit`` existed: every candidate refitted, no refit parameter
    state = choice.get_file_state()
    for key in ("refit", "inner_early_stopping", "progress"):
        del state["params"][key]
    old = InnerCVChoiceClassifier.from_file_state(state)
    assert old.refit == "all" and old.inner_early_stopping is True
    with pytest.raises(ValueError, match="refit"):
        InnerCVChoiceClassifier([("lr", LogisticRegression())], refit="some").fit(X, y)
