"""The semantic prior: learning across studies, persistence, no leakage, and its use by models."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from prior_archives import read_archive, rewrite_archive, save_legacy
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
from sklearn_llmrad.prior import (
    SemanticPrior,
    clean_feature_name,
    pretrain_prior,
    univariate_informativeness,
)
from sklearn_llmrad.selection import TopKSelector

# Names whose features carry the signal in every synthetic study, and noise names.
SIGNAL = [
    "original_shape_VoxelVolume",
    "original_shape_SurfaceArea",
    "original_firstorder_Entropy",
    "original_glszm_ZoneEntropy",
]
NOISE = [
    "original_glcm_Idmn",
    "original_glcm_Correlation",
    "original_ngtdm_Busyness",
    "original_glrlm_RunVariance",
    "original_firstorder_Skewness",
    "original_gldm_DependenceVariance",
    "original_shape_Flatness",
    "original_glcm_ClusterShade",
]


def make_study(seed, n=80, names=SIGNAL + NOISE, strength=1.0, prefix=""):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, len(names))), columns=[prefix + c for c in names])
    for name in SIGNAL:
        if prefix + name in X:
            X[prefix + name] += strength * y * rng.uniform(0.5, 1.5)
    return X, y


@pytest.fixture(scope="module")
def studies():
    return {f"s{i}": make_study(i) for i in range(4)}


@pytest.fixture(scope="module")
def random_prior(studies):
    return SemanticPrior(name_vectors="random", alpha=1.0).fit(studies)


@pytest.fixture(scope="module")
def lm_prior(studies, tiny_bert_dir):
    return SemanticPrior(language_model=str(tiny_bert_dir), alpha=1.0).fit(studies)


@pytest.mark.parametrize(
    "name, words",
    [
        (
            "T2_wavelet-LLH_glcm_Idmn",
            ["T2 weighted MRI", "wavelet LLH", "co-occurrence matrix", "normalized inverse difference moment"],
        ),
        ("log-sigma-3-0-mm-3D_glrlm_LongRunEmphasis", ["Laplacian of Gaussian sigma 3.0 mm", "long run emphasis"]),
        ("ADC_original_firstorder_10Percentile", ["apparent diffusion coefficient", "10th percentile of intensity"]),
        ("wavelet_HLL_gldm_SmallDependenceEmphasis", ["wavelet HLL", "dependence matrix"]),
        ("GLRLM_LRE_LLH_25HUgl", ["run length matrix", "long run emphasis"]),
        ("CT_original_ngtdm_Coarseness", ["CT", "neighbouring gray tone difference matrix", "coarseness"]),
    ],
)
def test_clean_feature_name_expands_and_keeps_prefix(name, words):
    cleaned = clean_feature_name(name)
    for word in words:
        assert word in cleaned, (name, cleaned)
    assert "_" not in cleaned


def test_informativeness_is_within_study_rank():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = np.column_stack(
        [y + 0.1 * rng.normal(size=60), rng.normal(size=60), -y + 0.5 * rng.normal(size=60), np.ones(60)]
    )
    info, auc = univariate_informativeness(X, y)
    assert info[0] == 1.0 and info[1] == 0.0 and 0 < info[2] < 1
    assert auc[2] < 0.5  # a negative association is informative too
    assert np.isnan(info[3]) and np.isnan(auc[3])  # constant column


def test_prior_learns_which_names_matter(random_prior, studies):
    w = random_prior.feature_weights(SIGNAL + NOISE)
    assert np.median(w) == pytest.approx(1.0)
    assert w[: len(SIGNAL)].min() > w[len(SIGNAL) :].max()
    assert random_prior.studies_ == sorted(studies)
    assert random_prior.n_names_ == len(SIGNAL + NOISE)


def test_random_name_vectors_are_reproducible(studies, random_prior):
    again = SemanticPrior(name_vectors="random", alpha=1.0).fit(studies)
    np.testing.assert_array_equal(again.coef_, random_prior.coef_)
    unseen = ["T1_original_shape_Sphericity"]
    np.testing.assert_array_equal(again.predict(unseen), random_prior.predict(unseen))


def test_alpha_auto_uses_leave_studies_out_cv(studies):
    prior = SemanticPrior(name_vectors="random").fit(studies)
    assert set(prior.cv_spearman_) == {0.1, 1.0, 10.0, 100.0, 1000.0}
    assert prior.alpha_ in prior.cv_spearman_
    assert prior.cv_spearman_[prior.alpha_] == max(prior.cv_spearman_.values())


def test_saved_and_loaded_prior_predict_identically(lm_prior, tmp_path, tiny_bert_dir):
    names = SIGNAL + NOISE + ["T2_wavelet-LLH_glcm_Idmn", "unseen_feature_42"]
    expected = lm_prior.predict(names)
    lm_prior.save(tmp_path / "prior")
    assert sorted(p.name for p in (tmp_path / "prior").iterdir()) == ["prior.llmrad"]
    meta, _ = read_archive(tmp_path / "prior")
    assert meta["language_model"] == str(tiny_bert_dir)
    assert meta["studies"] == ["s0", "s1", "s2", "s3"]
    assert meta["name_cleaning_version"] == "1"
    # a recorded folder is never followed: the caller names the language model
    loaded = SemanticPrior.load(tmp_path / "prior", language_model=tiny_bert_dir)
    np.testing.assert_array_equal(loaded.predict(names), expected)
    np.testing.assert_array_equal(loaded.feature_weights(names), lm_prior.feature_weights(names))
    assert loaded.studies_ == lm_prior.studies_ and loaded.n_names_ == lm_prior.n_names_


def test_unseen_names_are_embedded_with_the_named_model(lm_prior, tmp_path, tiny_bert_dir):
    lm_prior.save(tmp_path / "p")
    loaded = SemanticPrior.load(tmp_path / "p", language_model=tiny_bert_dir)
    unseen = ["FLAIR_log-sigma-2-0-mm-3D_glszm_ZoneEntropy", "T1Gd_core_GLCMcontrast_2"]
    pred = loaded.predict(unseen)
    assert np.isfinite(pred).all() and pred[0] != pred[1]
    assert loaded.n_names_ == lm_prior.n_names_  # unseen names are not added to the prior
    assert loaded._encoder().cache_info()["computed"] == 2


def test_load_rejects_foreign_tensors(lm_prior, tmp_path):
    directory = lm_prior.save(tmp_path / "p")
    rewrite_archive(directory, edit_tensors=lambda t: t.update(extra=np.zeros(1, dtype=np.float32)))
    with pytest.raises(ValueError, match="expected tensors"):
        SemanticPrior.load(directory)
    with pytest.raises(FileNotFoundError, match="not a saved semantic prior"):
        SemanticPrior.load(tmp_path / "nothing")


def _write_tables(directory, studies):
    directory.mkdir(parents=True, exist_ok=True)
    for name, (X, y) in studies.items():
        frame = pd.concat([pd.DataFrame({"ID": np.arange(len(y)), "Target": y}), X], axis=1)
        with gzip.open(directory / f"{name}.gz", "wt") as fh:
            fh.write(frame.to_csv(index=False))


# real radMLBench study names (loadData accepts only those), synthetic contents
TABLE_NAMES = ["Ahn2021", "HNSCC", "LNDb", "Song2020"]


def test_excluded_study_leaves_no_trace(tmp_path):
    tables = {n: make_study(i) for i, n in enumerate(TABLE_NAMES)}
    _write_tables(tmp_path / "a", tables)
    prior = pretrain_prior(tmp_path / "a", exclude=["LNDb"], name_vectors="random")
    assert "LNDb" not in prior.studies_ and len(prior.studies_) == 3
    # the held-out study's contents change: nothing derived from it may change
    changed = dict(tables, LNDb=make_study(99, names=NOISE + ["original_glcm_Autocorrelation"], strength=5))
    _write_tables(tmp_path / "b", changed)
    again = pretrain_prior(tmp_path / "b", exclude=["LNDb"], name_vectors="random")
    np.testing.assert_array_equal(again.coef_, prior.coef_)
    assert again.alpha_ == prior.alpha_ and again.cv_spearman_ == prior.cv_spearman_
    assert "original glcm gray level co-occurrence matrix co-occurrence autocorrelation" not in again._name_table
    included = pretrain_prior(tmp_path / "a", include=["Ahn2021", "HNSCC", "Song2020"], name_vectors="random")
    np.testing.assert_array_equal(included.coef_, prior.coef_)
    # while including it does change the prior
    with_it = pretrain_prior(tmp_path / "b", name_vectors="random")
    assert not np.array_equal(with_it.coef_, prior.coef_)


def test_pretrain_cli_writes_a_loadable_prior(tmp_path):
    from sklearn_llmrad.cli import main

    _write_tables(tmp_path / "t", {n: make_study(i) for i, n in enumerate(TABLE_NAMES[:3])})
    assert (
        main(
            [
                "pretrain",
                "--tables",
                str(tmp_path / "t"),
                "--exclude",
                "HNSCC",
                "--name-vectors",
                "random",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    prior = SemanticPrior.load(tmp_path / "out")
    assert prior.studies_ == ["Ahn2021", "LNDb"]


def _ambiguous_data(seed=0, n=120):
    """Signal and noise names carry the same weak signal: only the prior can tell them apart."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    names = SIGNAL + NOISE
    X = pd.DataFrame(rng.normal(size=(n, len(names))) + 0.4 * y[:, None], columns=names)
    return X, y


def test_prior_changes_what_topk_selects(random_prior):
    X, y = _ambiguous_data()
    plain = TopKSelector(k=4, passthrough=None).fit(X, y)
    weighted = TopKSelector(k=4, passthrough=None, prior=random_prior, prior_gamma=8).fit(X, y)

    def n_signal(sel):
        return len(set(sel.selected_features_) & set(SIGNAL))

    assert n_signal(weighted) > n_signal(plain)
    strong = TopKSelector(k=4, passthrough=None, prior=random_prior, prior_gamma=16).fit(X, y)
    assert set(strong.selected_features_) == set(SIGNAL)
    same = TopKSelector(k=4, passthrough=None, prior=random_prior, prior_gamma=0).fit(X, y)
    assert list(same.selected_features_) == list(plain.selected_features_)
    auto = TopKSelector(k=4, passthrough=None, prior=random_prior, random_state=0).fit(X, y)
    assert auto.prior_gamma_ in (0.0, 2.0, 4.0, 8.0) and set(auto.prior_cv_results_) == {0.0, 2.0, 4.0, 8.0}
    with pytest.raises(ValueError, match="pass X as a DataFrame"):
        TopKSelector(k=4, prior=random_prior).fit(X.to_numpy(), y)


def test_prior_changes_what_the_linear_model_learns(random_prior):
    X, y = _ambiguous_data(1)
    plain = SemanticPriorLogisticRegression(gamma=0, Cs=(0.1,)).fit(X, y)
    ref = LogisticRegression(C=0.1, max_iter=2000).fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_allclose(plain.coef_, ref.coef_, rtol=1e-4, atol=1e-6)
    trusted = SemanticPriorLogisticRegression(prior=random_prior, gamma=4, Cs=(0.1,)).fit(X, y)

    def share(m):
        return np.abs(m.coef_[0, : len(SIGNAL)]).sum() / np.abs(m.coef_[0]).sum()

    assert share(trusted) > share(plain) + 0.2
    auto = SemanticPriorLogisticRegression(prior=random_prior, Cs=(0.1, 1.0), random_state=0).fit(X, y)
    results = auto.cv_results_
    assert auto.gamma_ in (0.0, 2.0, 4.0, 8.0) and len(results["mean_test_score"]) == 8
    best = (results["gamma"] == auto.gamma_) & (results["C"] == auto.C_)
    assert results["mean_test_score"][best][0] == results["mean_test_score"].max()
    grid = GridSearchCV(
        SemanticPriorLogisticRegression(prior=random_prior, Cs=(0.1,)), {"gamma": [0.0, 4.0]}, cv=3
    ).fit(X, y)
    assert grid.best_params_["gamma"] in (0.0, 4.0)
    assert grid.best_estimator_.prior is random_prior  # a fitted prior is shared, not cloned


def test_linear_model_with_saved_prior_predicts_identically(lm_prior, tmp_path):
    X, y = _ambiguous_data(2)
    lm_prior.save(tmp_path / "p")
    a = SemanticPriorLogisticRegression(prior=lm_prior, gamma=2.0, Cs=(1.0,)).fit(X, y)
    b = SemanticPriorLogisticRegression(prior=str(tmp_path / "p"), gamma=2.0, Cs=(1.0,)).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_fusion_linear_path_penalised_by_prior(random_prior):
    torch = pytest.importorskip("torch")  # noqa: F841
    from sklearn_llmrad.models.classifier import LLMRadiomicsClassifier

    X, y = _ambiguous_data(3, n=80)
    params = {
        "hidden_size": 8,
        "n_heads": 2,
        "max_epochs": 15,
        "lr": 1e-3,
        "attention": False,
        "random_state": 0,
        "device": "cpu",
    }
    plain = LLMRadiomicsClassifier(**params).fit(X.astype("float32"), y)
    with_prior = LLMRadiomicsClassifier(**params, prior=random_prior, prior_gamma=8, prior_penalty=1.0)
    with_prior.fit(X.astype("float32"), y)

    def share(clf):
        W = clf.module_.linear.weight.detach().abs().sum(dim=0).numpy()
        return W[: len(SIGNAL)].sum() / W.sum()

    assert share(with_prior) > share(plain) + 0.05


def test_pipeline_pretrained_wires_the_prior(random_prior, tmp_path):
    from sklearn_llmrad.pipelines import make_llmrad_pipeline

    random_prior.save(tmp_path / "p")
    pipe = make_llmrad_pipeline(
        encoder=None,
        prior=tmp_path / "p",
        k=4,
        random_state=0,
        classifier_params={"hidden_size": 8, "n_heads": 2, "max_epochs": 3},
    )
    params = pipe.get_params()
    # every stage that can use the prior gets the same one: both Top-K selectors,
    # the network's linear path and the linear candidate of the inner-CV choice
    prior = params["choice__llmrad__topk__prior"]
    assert isinstance(prior, SemanticPrior)
    assert params["choice__llmrad__fusion__prior"] is prior
    assert params["choice__linear__topk__prior"] is prior
    assert params["choice__linear__model__prior"] is prior
    X, y = _ambiguous_data(4, n=60)
    learned = pipe[2:].set_params(choice__refit="all").fit(X, y)
    choice = learned.named_steps["choice"]
    assert choice.estimators_["llmrad"].named_steps["topk"].prior_gamma_ is not None
    assert choice.estimators_["linear"].named_steps["model"].gamma_ in (0.0, 2.0, 4.0, 8.0)
    assert learned.predict_proba(X).shape == (60, 2)
    assert make_llmrad_pipeline(k=4).get_params()["choice__llmrad__topk__prior"] is None
    network = make_llmrad_pipeline(k=4, encoder=None, prior=tmp_path / "p", fallback=None)
    assert network.named_steps["fusion"].prior is network.named_steps["topk"].prior


def test_pipeline_with_prior_roundtrips_through_safe_io(random_prior, tmp_path):
    from sklearn.pipeline import make_pipeline

    from sklearn_llmrad import io

    X, y = _ambiguous_data(5)
    pipe = make_pipeline(
        TopKSelector(k=6, passthrough=None, prior=random_prior, prior_gamma=4),
        SemanticPriorLogisticRegression(prior=random_prior, gamma=2.0, Cs=(1.0,)),
    ).fit(X, y)
    io.save(pipe, tmp_path / "m.llmrad")
    back = io.load(tmp_path / "m.llmrad")
    np.testing.assert_array_equal(back.predict_proba(X), pipe.predict_proba(X))
    assert back[0].prior.studies_ == random_prior.studies_


def test_prior_lr_passes_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(SemanticPriorLogisticRegression(Cs=(0.1, 1.0), random_state=0), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []


def test_prior_lr_on_a_tiny_training_set_uses_fewer_inner_folds_or_says_why():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0]})
    fitted = SemanticPriorLogisticRegression(Cs=(0.1, 1.0), random_state=0).fit(X, [0, 1, 0, 1, 0])
    assert len(fitted.cv_results_["mean_test_score"]) == 2  # two inner folds for 2 positives
    with pytest.raises(ValueError, match="at least 2 samples of each class.*rarer class 1 time"):
        SemanticPriorLogisticRegression(Cs=(0.1, 1.0)).fit(X, [0, 1, 0, 0, 0])


def test_fusion_attention_pooling_starts_toward_the_features_the_prior_trusts(random_prior, tmp_path):
    torch = pytest.importorskip("torch")
    from sklearn_llmrad import io
    from sklearn_llmrad.models.classifier import LLMRadiomicsClassifier
    from sklearn_llmrad.prior import prior_feature_weights

    X, y = _ambiguous_data(7, n=60)
    X = X.astype("float32")
    params = {"hidden_size": 8, "n_heads": 2, "max_epochs": 2, "random_state": 0, "device": "cpu"}
    clf = LLMRadiomicsClassifier(**params, prior=random_prior, prior_pooling=2.0).fit(X, y)
    w = prior_feature_weights(random_prior, list(X.columns), X.shape[1])
    np.testing.assert_allclose(clf.module_.pool_prior.numpy(), 2.0 * np.log(w), rtol=1e-6)
    # with the learned pooling score silenced, the pooling weights are the prior's: softmax(2 log w) = w^2 / sum
    with torch.no_grad():
        clf.module_.pool_score.weight.zero_()
        clf.module_.pool_score.bias.zero_()
    clf.module_.eval()
    _, _, attention = clf.module_(torch.as_tensor(X.to_numpy()))
    np.testing.assert_allclose(attention.detach().numpy()[0], w**2 / (w**2).sum(), rtol=1e-5)
    # no prior, or prior_pooling = 0: no bias at all (the published model)
    assert LLMRadiomicsClassifier(**params, prior=random_prior).fit(X, y).module_.pool_prior is None
    assert LLMRadiomicsClassifier(**params, prior_pooling=2.0).fit(X, y).module_.pool_prior is None
    # the bias is part of the saved model: a loaded model predicts identically
    fitted = LLMRadiomicsClassifier(**params, prior=random_prior, prior_pooling=2.0).fit(X, y)
    io.save(fitted, tmp_path / "pool.llmrad")
    back = io.load(tmp_path / "pool.llmrad")
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(back.module_.pool_prior.numpy(), fitted.module_.pool_prior.numpy())


# ---------------------------------------------------------------------------
# A LEGACY prior folder (prior.json + prior.safetensors) is untrusted data (issue 19);
# the archive a prior is saved in now: tests/test_prior_files.py
# ---------------------------------------------------------------------------


def _saved(prior, tmp_path, name="p"):
    """A legacy folder of ``prior``, its tensors and its prior.json."""
    from safetensors.numpy import load_file

    directory = save_legacy(prior, tmp_path / name)
    return (
        directory,
        load_file(str(directory / "prior.safetensors")),
        json.loads((directory / "prior.json").read_text()),
    )


def _refused(directory, file, match):
    from sklearn_llmrad.prior import PriorFileError

    with pytest.raises(PriorFileError, match=match) as info:
        SemanticPrior.load(directory)
    err = info.value
    assert err.directory == str(directory) and err.file == file
    assert str(directory) in str(err) and (file is None or repr(file) in str(err))
    return err


@pytest.mark.parametrize("prior_name", ["random_prior", "lm_prior"])
def test_saved_prior_roundtrips_exactly_and_is_fitted(prior_name, request, tmp_path):
    from sklearn.base import clone
    from sklearn.utils.validation import check_is_fitted

    prior = request.getfixturevalue(prior_name)
    loaded = SemanticPrior.load(prior.save(tmp_path / "p"), language_model=prior.language_model)
    check_is_fitted(loaded)
    for attr in ("alpha_", "cv_spearman_", "studies_", "n_studies_", "n_names_", "embedding_dim_", "revision_"):
        assert getattr(loaded, attr) == getattr(prior, attr), attr
    assert loaded.language_model_ == prior.language_model_ and loaded.get_params() == prior.get_params()
    np.testing.assert_array_equal(loaded.coef_, prior.coef_)
    assert loaded.coef_.dtype == prior.coef_.dtype and loaded.intercept_ == prior.intercept_
    assert list(loaded._name_table) == list(prior._name_table)
    for name, vec in prior._name_table.items():
        np.testing.assert_array_equal(loaded._name_table[name], vec)
    names = SIGNAL + NOISE
    np.testing.assert_array_equal(loaded.feature_weights(names), prior.feature_weights(names))
    X, y = _ambiguous_data(8)
    a = TopKSelector(k=4, passthrough=None, prior=prior, prior_gamma=4).fit(X, y)
    b = TopKSelector(k=4, passthrough=None, prior=loaded, prior_gamma=4).fit(X, y)
    assert list(a.selected_features_) == list(b.selected_features_)
    np.testing.assert_array_equal(a.prior_weights_, b.prior_weights_)
    # a fitted prior is a frozen component: clone shares it, alone or as a parameter
    assert clone(loaded) is loaded
    assert clone(TopKSelector(prior=loaded)).prior is loaded


def test_nan_cv_score_is_saved_as_strict_json(studies, tmp_path):
    two = {k: studies[k] for k in ("s0", "s1")}  # too few studies for the alpha CV: its score is NaN
    prior = SemanticPrior(name_vectors="random").fit(two)
    assert np.isnan(prior.cv_spearman_[1.0])
    directory = prior.save(tmp_path / "p")
    manifest, _ = read_archive(directory)  # strict JSON: the NaN is a tagged value
    assert manifest["cv_spearman"] == {"$type": "dict", "items": [[1.0, {"$type": "float", "value": "nan"}]]}
    assert np.isnan(SemanticPrior.load(directory).cv_spearman_[1.0])
    save_legacy(prior, directory)
    text = (directory / "prior.json").read_text()
    assert "NaN" not in text and json.loads(text)["cv_spearman"] == {"1.0": None}
    assert np.isnan(SemanticPrior.load(directory).cv_spearman_[1.0])
    (directory / "prior.json").write_text(text.replace('"1.0": null', '"1.0": NaN'))  # written by older code
    assert np.isnan(SemanticPrior.load(directory).cv_spearman_[1.0])


def _nan_coef(t):
    t["coef"][3] = np.nan


def _inf_embedding(t):
    t["name_embeddings"][2, 0] = -np.inf


def _nan_intercept(t):
    t["intercept"][0] = np.nan


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (_nan_coef, r"tensor 'coef' holds 1 non-finite values \(NaN\)"),
        (_inf_embedding, r"tensor 'name_embeddings' holds 1 non-finite values \(inf\)"),
        (_nan_intercept, r"tensor 'intercept' holds 1 non-finite values \(NaN\)"),
        (lambda t: t.update(coef=t["coef"].astype(np.int8)), r"tensor 'coef' has dtype 'I8', not a floating dtype"),
        (lambda t: t.update(intercept=np.array([True])), r"tensor 'intercept' has dtype 'BOOL'"),
        (
            lambda t: t.update(name_embeddings=(t["name_embeddings"] * 100).astype(np.int64)),
            r"'name_embeddings' has dtype 'I64'",
        ),
        (lambda t: t.update(coef=t["coef"][:-1]), r"tensor 'coef' has shape \[383\], expected \[384\]"),
        (
            lambda t: t.update(name_embeddings=t["name_embeddings"][:-1]),
            r"'name_embeddings' has shape \[11, 384\], expected \[12, 384\] \(12 names",
        ),
        (lambda t: t.update(intercept=t["intercept"].reshape(())), r"'intercept' has shape \[\], expected \[1\]"),
        (lambda t: t.pop("name_embeddings"), r"expected tensors \['coef', 'intercept', 'name_embeddings'\]"),
        (lambda t: t.update(extra=np.zeros(1, np.float32)), r"found \['coef', 'extra', 'intercept'"),
        (lambda t: t.update(name_embeddings=t["name_embeddings"] * 3), r"row 0 .* has norm 3; name vectors are unit"),
    ],
    ids=[
        "nan",
        "inf",
        "nan-intercept",
        "int8",
        "bool",
        "int64",
        "short-coef",
        "missing-row",
        "scalar",
        "missing",
        "extra",
        "not-unit",
    ],
)
def test_load_refuses_bad_tensors(random_prior, tmp_path, corrupt, match):
    from safetensors.numpy import save_file

    directory, tensors, _ = _saved(random_prior, tmp_path)
    corrupt(tensors)
    save_file(tensors, str(directory / "prior.safetensors"))
    err = _refused(directory, "prior.safetensors", match)
    assert isinstance(err, ValueError)


def test_nan_prior_folder_is_refused_where_a_model_would_use_it(random_prior, tmp_path):
    from safetensors.numpy import save_file

    from sklearn_llmrad.prior import PriorFileError

    directory, tensors, _ = _saved(random_prior, tmp_path)
    tensors["coef"][:] = np.nan
    save_file(tensors, str(directory / "prior.safetensors"))
    X, y = _ambiguous_data(9)
    with pytest.raises(PriorFileError, match="non-finite"):
        TopKSelector(k=4, passthrough=None, prior=str(directory), prior_gamma=4).fit(X, y)
    with pytest.raises(PriorFileError, match="non-finite"):
        SemanticPriorLogisticRegression(prior=directory, gamma=2.0, Cs=(1.0,)).fit(X, y)


def test_half_precision_tensors_are_accepted(random_prior, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    directory, tensors, _ = _saved(random_prior, tmp_path)
    names = SIGNAL + NOISE
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        save_file({k: torch.from_numpy(v).to(dtype) for k, v in tensors.items()}, str(directory / "prior.safetensors"))
        loaded = SemanticPrior.load(directory)
        assert loaded.coef_.dtype == np.float32
        np.testing.assert_allclose(loaded.predict(names), random_prior.predict(names), atol=0.05)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(embedding_dim="384"), r"'embedding_dim' must be an integer .* got str '384'"),
        (lambda m: m.update(embedding_dim=True), r"'embedding_dim' must be an integer"),
        (lambda m: m.update(names="original shape"), r"'names' must be a non-empty list of strings"),
        (lambda m: m.update(studies=["s0", 1]), r"'studies'\[1\] must be a non-empty string"),
        (lambda m: m.update(alpha=-1.0, alpha_param=-1.0), r"'alpha' must be a finite number > 0"),
        (lambda m: m.update(alpha=2.0), r"'alpha' 2.0 differs from the fixed 'alpha_param' 1.0"),
        (lambda m: m.update(name_vectors="pickle"), r"'name_vectors' must be 'language_model' or 'random'"),
        (
            lambda m: m.update(language_model="os.system", name_vectors="language_model", revision=[]),
            r"'revision' must be null or a hub revision",
        ),
        (lambda m: m.update(language_model="x"), r"random name vectors records no language model"),
        (lambda m: m.update(embedding_dim=768), r"random name vectors are 384-d"),
        (
            lambda m: m.update(names=m["names"] + ["one more name"]),
            r"'name_embeddings' has shape \[12, 384\], expected \[13, 384\]",
        ),
        (lambda m: m.update(names=m["names"][:-1] + m["names"][:1]), r"'names' has duplicate entries"),
        (lambda m: m.update(cls="os.system"), r"unexpected \['cls'\]"),
        (lambda m: m.pop("studies"), r"missing \['studies'\]"),
        (lambda m: m.update(format="pickle"), r"not a semantic prior of format"),
        (lambda m: m.update(name_cleaning_version="0"), r"cleaned with version '0'"),
        (lambda m: m.update(cv_spearman={"1.0": 0.5}), r"'cv_spearman' must be null when 'alpha_param' is a number"),
    ],
)
def test_load_refuses_bad_metadata(random_prior, tmp_path, edit, match):
    directory, _, meta = _saved(random_prior, tmp_path)
    edit(meta)
    (directory / "prior.json").write_text(json.dumps(meta))
    # more names than embedding rows: the tensors do not match the JSON
    _refused(directory, "prior.safetensors" if "name_embeddings" in match else "prior.json", match)


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"alpha": NaN}', r"'alpha' must be a finite number > 0, got float nan"),
        ('{"alpha": Infinity}', r"not valid JSON \(non-finite number Infinity"),
        ('{"format": "a", "format": "b"}', r"not valid JSON \(duplicate key 'format'"),
        ("[1, 2]", r"must be a JSON object, got list"),
        ("{", r"not valid JSON"),
        (b"\xff\xfe", r"not valid JSON"),
    ],
)
def test_load_refuses_malformed_json(random_prior, tmp_path, text, match):
    directory, _, meta = _saved(random_prior, tmp_path)
    if isinstance(text, str) and text.startswith('{"alpha"'):
        text = json.dumps(meta).replace('"alpha": 1.0', text[1:-1])
    write = (directory / "prior.json").write_bytes if isinstance(text, bytes) else (directory / "prior.json").write_text
    write(text)
    _refused(directory, "prior.json", match)


def test_load_refuses_oversized_json(random_prior, tmp_path, monkeypatch):
    import sklearn_llmrad.prior_files as prior_module

    directory, _, _ = _saved(random_prior, tmp_path)
    monkeypatch.setattr(prior_module, "_MAX_JSON_BYTES", 1000)
    _refused(directory, "prior.json", r"more than the 1000 a prior's metadata may have")


class _Marker:
    """Unpickling this would create ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("how", ["torch-zip", "torch-legacy", "pickle"])
def test_load_refuses_pickle_in_place_of_safetensors(random_prior, tmp_path, how):
    import pickle

    directory, tensors, _ = _saved(random_prior, tmp_path)
    marker = tmp_path / "executed"
    payload = {"coef": tensors["coef"], "evil": _Marker(marker)}
    target = directory / "prior.safetensors"
    if how == "pickle":
        target.write_bytes(pickle.dumps(payload, protocol=4))
        match = "is a pickle"
    else:
        torch = pytest.importorskip("torch")
        torch.save(payload, target, _use_new_zipfile_serialization=how == "torch-zip")
        match = "is a zip archive" if how == "torch-zip" else "is a pickle"
    _refused(directory, "prior.safetensors", match + r".*refused, never unpickled")
    assert not marker.exists()


def test_load_refuses_truncated_or_padded_tensor_files(random_prior, tmp_path):
    directory, _, _ = _saved(random_prior, tmp_path)
    path = directory / "prior.safetensors"
    data = path.read_bytes()
    path.write_bytes(data + b"\0" * 16)
    _refused(directory, "prior.safetensors", r"header describes")
    path.write_bytes(data[:-8])
    _refused(directory, "prior.safetensors", r"header describes")
    path.write_bytes(data[:5])
    _refused(directory, "prior.safetensors", r"truncated")
    path.write_bytes(b"\xff" * 64)
    _refused(directory, "prior.safetensors", r"not a safetensors file")


def test_load_refuses_missing_or_odd_files(random_prior, tmp_path):
    directory, _, _ = _saved(random_prior, tmp_path)
    (directory / "prior.safetensors").unlink()
    err = _refused(directory, "prior.safetensors", r"not a saved semantic prior: prior.safetensors is missing")
    assert isinstance(err, FileNotFoundError)
    (directory / "prior.safetensors").mkdir()
    _refused(directory, "prior.safetensors", r"is not a regular file")
    err = _refused(tmp_path / "nothing", None, r"not a saved semantic prior: the folder does not exist")
    assert isinstance(err, FileNotFoundError) and isinstance(err, ValueError)


def test_other_files_in_a_prior_folder_are_ignored(random_prior, tmp_path):
    import pickle

    directory, _, _ = _saved(random_prior, tmp_path)
    marker = tmp_path / "executed"
    (directory / "transfer_key.json").write_text("{}")  # the transfer benchmark's cache key
    (directory / "model.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    np.testing.assert_array_equal(SemanticPrior.load(directory).coef_, random_prior.coef_)
    assert not marker.exists()


def test_prior_file_error_survives_pickling():
    import pickle

    from sklearn_llmrad.prior import PriorFileError

    err = PriorFileError("bad", directory="d", file="prior.json")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is PriorFileError and str(back) == str(err) and back.file == "prior.json"


@pytest.mark.parametrize("n_rows", [30, 300])  # fewer and more rows than dimensions
def test_ridge_minimises_the_weighted_penalised_loss(n_rows):
    # the prior's own solver and sklearn's Ridge(sample_weight=) find the same minimiser (the prior keeps
    # its own: sklearn's differs in the last bits, which reorders near-tied predictions downstream)
    from sklearn.linear_model import Ridge

    from sklearn_llmrad.prior import _ridge

    rng = np.random.default_rng(n_rows)
    E, t, w = rng.normal(size=(n_rows, 50)), rng.uniform(size=n_rows), rng.uniform(0.1, 1, size=n_rows)
    alpha = 10.0
    coef, intercept = _ridge(E, t, w, alpha)
    p = w / w.sum()
    Ec, tc = (E - p @ E) * np.sqrt(p)[:, None], (t - p @ t) * np.sqrt(p)
    expected = np.linalg.solve(Ec.T @ Ec + alpha / n_rows * np.eye(50), Ec.T @ tc)
    np.testing.assert_allclose(coef, expected, atol=1e-10)
    assert intercept == pytest.approx(p @ t - (p @ E) @ expected, abs=1e-10)
    sk = Ridge(alpha=alpha / n_rows).fit(E, t, sample_weight=p)
    np.testing.assert_allclose(coef, sk.coef_, atol=1e-10)
    assert intercept == pytest.approx(sk.intercept_, abs=1e-10)


def test_prior_weights_refuse_placeholder_names(random_prior):
    # an array's generic column names (x0, x1, ...) are not feature names: never looked up
    from sklearn_llmrad.prior import prior_feature_weights

    with pytest.raises(ValueError, match="placeholders x0, x1"):
        prior_feature_weights(random_prior, ["x0", "x1", "x2"], 3)
    with pytest.raises(ValueError, match="have none"):
        prior_feature_weights(random_prior, None, 3)
    weights = prior_feature_weights(random_prior, ["original_firstorder_Mean", "x1"], 2)
    assert weights.shape == (2,) and np.all(np.isfinite(weights))
