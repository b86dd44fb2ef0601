"""The semantic prior on harmonised identities, its controls, and the study models that use them."""

import json

import numpy as np
import pandas as pd
import pytest
from prior_archives import read_archive, rewrite_archive, save_legacy

from sklearn_llmrad.benchmark import ModelRegistry, ModelSpec, fit_study_prior
from sklearn_llmrad.benchmark.priors import PRIOR_KINDS
from sklearn_llmrad.prior import PriorFileError, SemanticPrior

# One feature set written by three pipelines: the informative features are the same features.
STUDY_A = [
    "wavelet-HLL_glcm_JointEnergy",
    "original_shape_Sphericity",
    "original_firstorder_Mean",
    "original_glcm_Idmn",
    "original_glrlm_RunVariance",
    "original_ngtdm_Busyness",
]
STUDY_B = ["MR_" + n for n in STUDY_A]
STUDY_C = [
    "Wavelet_HLL_GLCM_JointEnergy",
    "Original_Shape_Sphericity",
    "Original_FirstOrder_Mean",
    "Original_GLCM_Idmn",
    "Original_GLRLM_RunVariance",
    "Original_NGTDM_Busyness",
]
INFORMATIVE = {0, 1}  # JointEnergy and Sphericity carry the label in every study


def make_study(names, seed, n=120):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, len(names))), columns=names)
    for j in INFORMATIVE:
        X[names[j]] += (1.5 - 0.5 * j) * y
    return X, y


@pytest.fixture(scope="module")
def studies():
    return {"a": make_study(STUDY_A, 0), "b": make_study(STUDY_B, 1), "a2": make_study(STUDY_A, 2)}


@pytest.mark.parametrize("name_vectors", ["lookup", "random"])
def test_identity_prior_shares_knowledge_across_spellings(studies, name_vectors):
    identity = SemanticPrior(name_vectors=name_vectors, vocabulary="identity", alpha=1.0).fit(studies)
    cleaned = SemanticPrior(name_vectors=name_vectors, vocabulary="cleaned", alpha=1.0).fit(studies)
    w = identity.feature_weights(STUDY_C)
    # the informative features of A and B, spelt as in study C, get the largest weights
    assert set(np.argsort(w)[-2:]) == INFORMATIVE
    assert w[0] > 1.5 * np.median(w)
    # cleaned names never saw C's spelling of JointEnergy: no knowledge reaches it
    wc = cleaned.feature_weights(STUDY_C)
    assert w[0] / np.median(w) > wc[0] / np.median(wc)
    # both studies' spellings are one key: the identity prior holds fewer keys
    assert identity.n_names_ < cleaned.n_names_


def test_lookup_is_each_identitys_mean_informativeness(studies):
    from sklearn_llmrad.prior import univariate_informativeness

    prior = SemanticPrior(name_vectors="lookup", vocabulary="identity", alpha=1.0).fit(studies)
    infos = [univariate_informativeness(*studies[s])[0] for s in ("a", "b", "a2")]
    np.testing.assert_allclose(prior.predict(STUDY_C), np.mean(infos, axis=0), atol=1e-6)
    # an identity seen nowhere gets the mean of the known identities
    unseen = prior.predict(["original_gldm_DependenceVariance", "original_shape_Sphericity"])
    np.testing.assert_allclose(unseen[0], np.mean(np.mean(infos, axis=0)), atol=1e-6)
    assert prior.language_model_ is None and prior.embedding_dim_ == 1


def test_family_prior_keeps_only_filter_and_class(studies):
    prior = SemanticPrior(name_vectors="lookup", vocabulary="family", alpha=1.0).fit(studies)
    pred = prior.predict(["original_glcm_Idmn", "original_glcm_Contrast", "wavelet-HLL_glcm_Idmn"])
    assert pred[0] == pred[1] != pred[2]  # same (filter, class): same value


def test_identity_prior_with_a_language_model(studies, tiny_bert_dir, tmp_path):
    prior = SemanticPrior(language_model=str(tiny_bert_dir), vocabulary="identity", alpha=1.0).fit(studies)
    # the spellings of A and C are one identity: the same vector, hence the same prediction
    np.testing.assert_allclose(prior.embed_names(STUDY_A), prior.embed_names(STUDY_C))
    loaded = SemanticPrior.load(prior.save(tmp_path / "p"), language_model=str(tiny_bert_dir))
    assert loaded.vocabulary == "identity"
    np.testing.assert_allclose(loaded.predict(STUDY_C + ["V427"]), prior.predict(STUDY_C + ["V427"]), atol=1e-5)


def test_permuted_control_keeps_the_weights_but_moves_them(studies, tiny_bert_dir):
    real = SemanticPrior(language_model=str(tiny_bert_dir), alpha=1.0).fit(studies)
    permuted = SemanticPrior(language_model=str(tiny_bert_dir), name_vectors="permuted", alpha=1.0).fit(studies)
    w, wp = real.feature_weights(STUDY_A), permuted.feature_weights(STUDY_A)
    np.testing.assert_allclose(np.sort(w), np.sort(wp), rtol=1e-6)
    assert not np.allclose(w, wp)
    np.testing.assert_array_equal(wp, permuted.feature_weights(STUDY_A))  # same names, same permutation


@pytest.mark.parametrize("name_vectors, vocabulary", [("lookup", "identity"), ("lookup", "family")])
def test_folder_round_trip(studies, tmp_path, name_vectors, vocabulary):
    prior = SemanticPrior(name_vectors=name_vectors, vocabulary=vocabulary).fit(studies)
    directory = prior.save(tmp_path / "p")
    meta, _ = read_archive(directory)
    assert meta["vocabulary"] == vocabulary and meta["name_vectors"] == name_vectors
    loaded = SemanticPrior.load(directory)
    assert (loaded.vocabulary, loaded.name_vectors) == (vocabulary, name_vectors)
    np.testing.assert_array_equal(loaded.predict(STUDY_C), prior.predict(STUDY_C))


def test_old_folder_without_vocabulary_loads_as_cleaned_names(studies, tmp_path):
    prior = SemanticPrior(name_vectors="random", vocabulary="cleaned", alpha=1.0).fit(studies)
    directory = save_legacy(prior, tmp_path / "old")
    meta = json.loads((directory / "prior.json").read_text())
    del meta["vocabulary"]  # as written before the field existed
    (directory / "prior.json").write_text(json.dumps(meta))
    loaded = SemanticPrior.load(directory)
    assert loaded.vocabulary == "cleaned"
    np.testing.assert_array_equal(loaded.predict(STUDY_C), prior.predict(STUDY_C))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(vocabulary="pickle"), r"'vocabulary' must be 'cleaned' or 'identity' or 'family'"),
        (lambda m: m.update(vocabulary=None), r"'vocabulary' must be"),
        (lambda m: m.update(language_model="org/model"), r"lookup name vectors records no language model"),
        (lambda m: m.update(embedding_dim=2), r"lookup prior's vectors are 1-d"),
    ],
)
def test_load_refuses_bad_vocabulary_or_lookup(studies, tmp_path, edit, match):
    directory = SemanticPrior(name_vectors="lookup", vocabulary="identity", alpha=1.0).fit(studies).save(tmp_path / "p")
    rewrite_archive(directory, edit_manifest=edit)
    with pytest.raises(PriorFileError, match=match):
        SemanticPrior.load(directory)


def test_lookup_values_outside_the_informativeness_range_are_refused(studies, tmp_path):
    directory = SemanticPrior(name_vectors="lookup", vocabulary="identity", alpha=1.0).fit(studies).save(tmp_path / "p")
    rewrite_archive(directory, edit_tensors=lambda t: t["name_embeddings"].__setitem__((0, 0), 3.0))
    with pytest.raises(PriorFileError, match=r"a lookup's values lie in \[-1, 1\]"):
        SemanticPrior.load(directory)


@pytest.mark.parametrize(
    "model, kind", [("identity-lookup-lr", "identity-lookup"), ("family-prior-lr", "family-lookup")]
)
def test_controls_build_through_the_registry(studies, tmp_path, model, kind):
    (spec,) = ModelRegistry(mode="studies").resolve([model])
    assert spec.prior == kind
    tables = {**studies, "c": make_study(STUDY_C, 3)}
    prior, _ = fit_study_prior(tables, "c", name_vectors=kind, cache_dir=tmp_path, leave_out=())
    assert prior.studies_ == ["a", "b", "a2"]
    assert (prior.name_vectors, prior.vocabulary) == (
        PRIOR_KINDS[kind]["name_vectors"],
        PRIOR_KINDS[kind]["vocabulary"],
    )
    X, y = tables["c"]
    estimator = spec.build({"prior": prior, "random_state": 0}).fit(X, y)
    assert estimator.predict_proba(X).shape == (len(y), 2)
    # the cached prior is found again, and is the same prior
    again, _ = fit_study_prior(tables, "c", name_vectors=kind, cache_dir=tmp_path, leave_out=())
    np.testing.assert_array_equal(again.predict(STUDY_C), prior.predict(STUDY_C))


def test_default_vocabulary_is_identity_and_stored_kinds_keep_cleaned_names():
    assert SemanticPrior().vocabulary == "identity"
    # the stored transfer results were computed on cleaned names: their kinds keep them
    assert all(PRIOR_KINDS[k]["vocabulary"] == "cleaned" for k in ("language_model", "random", "permuted"))


def test_every_study_model_names_a_known_prior_kind():
    from sklearn_llmrad.benchmark import study_models

    kinds = {spec.prior for spec in study_models().values()} - {None}
    assert {"identity", "permuted", "identity-lookup", "family-lookup"} <= kinds <= set(PRIOR_KINDS)
    with pytest.raises(ValueError, match="prior must be one of"):
        ModelSpec("x", "x", factory=lambda **_: None, input="features", prior="pickle")
    with pytest.raises(ValueError, match="unknown study prior 'pickle'"):
        fit_study_prior({"a": make_study(STUDY_A, 0)}, "b", name_vectors="pickle")
