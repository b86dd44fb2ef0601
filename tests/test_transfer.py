"""Leave-one-study-out transfer benchmark: no leakage into priors, resume, aggregation, CLI."""

import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from sklearn_llmrad.models.choice import InnerCVChoiceClassifier
from sklearn_llmrad.transfer import (
    collect_transfer_results,
    fit_study_prior,
    run_transfer_benchmark,
    summarize_studies,
)

FEATURES = [
    "original_glcm_Contrast",
    "original_glcm_Idmn",
    "original_firstorder_Entropy",
    "original_firstorder_Mean",
    "original_shape_Sphericity",
    "wavelet-LLH_glcm_Contrast",
    "wavelet-LLH_firstorder_Mean",
    "original_gldm_DependenceEntropy",
]
INFORMATIVE = ("glcm_Contrast", "firstorder_Entropy")
FAST_FUSION = {"hidden_size": 8, "n_heads": 2, "max_epochs": 2, "batch_size": 16, "lr": 1e-2}
SMALL_LR = {"model__Cs": (0.1, 1.0), "model__gammas": (0.0, 4.0)}
FAST_MODELS = {
    "prior-lr": SMALL_LR,
    "random-prior-lr": SMALL_LR,
    "lr": {"model__Cs": (0.1, 1.0)},
    "llmrad-prior": {"topk__prior_gamma": 4.0},
}


def _table(seed, prefix, n=40):
    """A study whose texture-contrast and entropy features carry the label; prefixed names."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    X = rng.normal(size=(n, len(FEATURES)))
    for j, name in enumerate(FEATURES):
        if any(part in name for part in INFORMATIVE):
            X[:, j] += 1.2 * y
    return pd.DataFrame(X, columns=[f"{prefix}{c}" for c in FEATURES]), y


@pytest.fixture(scope="module")
def tables():
    return {
        name: _table(i, prefix)
        for i, (name, prefix) in enumerate([("StudyA", "CT_"), ("StudyB", "T2_"), ("StudyC", "PET_"), ("StudyD", "")])
    }


# -- aggregation ---------------------------------------------------------------------
def test_mean_rank_and_wilcoxon_on_a_hand_checked_case():
    # a beats b on all six studies (distinct differences); c is best on two
    aucs = pd.DataFrame(
        {
            "a": [0.80, 0.75, 0.90, 0.70, 0.65, 0.85],
            "b": [0.70, 0.72, 0.60, 0.69, 0.60, 0.81],
            "c": [0.90, 0.50, 0.95, 0.60, 0.60, 0.50],
        },
        index=[f"s{i}" for i in range(6)],
    )
    summary, pairs, friedman_p = summarize_studies(aucs)
    # ranks per study (1 = best): a 2,1,2,1,1,1 -> 8/6; b 3,2,3,2,2.5,2 -> 14.5/6; c 1,3,1,3,2.5,3
    assert summary.loc["a", "mean_rank"] == pytest.approx(8 / 6)
    assert summary.loc["b", "mean_rank"] == pytest.approx(14.5 / 6)
    assert summary.loc["c", "mean_rank"] == pytest.approx(13.5 / 6)
    assert list(summary.index) == ["a", "c", "b"]
    assert summary.loc["a", "mean_auc"] == pytest.approx(np.mean(aucs["a"]))
    ab = pairs.set_index(["model", "versus"]).loc[("a", "b")]
    # six positive differences: exact two-sided p = 2 / 2**6
    assert (ab.wins, ab.ties, ab.losses, ab.n_studies) == (6, 0, 0, 6)
    assert ab.p_value == pytest.approx(2 / 64)
    assert ab.mean_diff == pytest.approx((aucs["a"] - aucs["b"]).mean())
    ba = pairs.set_index(["model", "versus"]).loc[("b", "a")]
    assert ba.p_value == pytest.approx(ab.p_value) and ba.losses == 6
    assert friedman_p == pytest.approx(stats.friedmanchisquare(*aucs.to_numpy().T).pvalue)


def test_identical_models_get_p_one_and_missing_studies_are_left_out():
    aucs = pd.DataFrame({"a": [0.7, 0.8, np.nan], "b": [0.7, 0.8, 0.6]})
    summary, pairs, _ = summarize_studies(aucs)
    ab = pairs.set_index(["model", "versus"]).loc[("a", "b")]
    assert (ab.p_value, ab.ties, ab.n_studies) == (1.0, 2, 2)
    assert summary.loc["a", "n_studies"] == 2 and summary.loc["b", "n_studies"] == 3
    assert summary.loc["a", "mean_rank"] == summary.loc["b", "mean_rank"] == 1.5


# -- the inner-CV choice (the default must not lose) ----------------------------------
def test_inner_cv_choice_falls_back_to_the_linear_model():
    X, y = _table(0, "")
    noise = DummyClassifier(strategy="uniform", random_state=0)
    clf = InnerCVChoiceClassifier([("linear", LogisticRegression()), ("noise", noise)], random_state=0).fit(X, y)
    assert clf.choice_ == "linear"
    assert list(clf.estimators_) == ["linear"]  # only what the choice uses is refitted (refit="chosen")
    assert clf.cv_scores_["linear"] > clf.cv_scores_["noise"]
    direct = LogisticRegression().fit(X, y).predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X), direct)


def test_inner_cv_choice_on_a_tiny_training_set_uses_fewer_folds_or_says_why():
    X = np.arange(10, dtype=float).reshape(-1, 1)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    clf = InnerCVChoiceClassifier([("lr", LogisticRegression()), ("noise", DummyClassifier())], random_state=0)
    assert clf.fit(X, y).choice_ in {"lr", "noise", "average"}  # 2 inner folds for 2 positives
    with pytest.raises(ValueError, match="at least 2 samples of each class"):
        clf.fit(X, np.r_[np.zeros(9), 1])


def test_inner_cv_choice_replaces_a_candidate_before_setting_its_params():
    clf = InnerCVChoiceClassifier([("lr", LogisticRegression()), ("noise", DummyClassifier())])
    new = LogisticRegression()
    clf.set_params(lr__C=5.0, lr=new)  # order in the call must not matter
    assert dict(clf.estimators)["lr"] is new and new.C == 5.0


@pytest.mark.parametrize("name", ["cv", "average", "a__b", "random_state"])
def test_inner_cv_choice_refuses_names_that_clash_with_its_params(name):
    X, y = _table(0, "")
    clf = InnerCVChoiceClassifier([(name, LogisticRegression()), ("noise", DummyClassifier())])
    with pytest.raises(ValueError, match="estimator names must be unique"):
        clf.fit(X, y)


def test_inner_cv_choice_names_the_candidate_that_failed_on_an_inner_fold():
    from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression

    X = pd.DataFrame({"a": np.arange(10.0)})
    y = np.array([0] * 8 + [1] * 2)  # 2 inner folds: each inner training part holds 1 positive
    lr = SemanticPriorLogisticRegression(Cs=(0.1, 1.0))
    clf = InnerCVChoiceClassifier([("linear", lr), ("noise", DummyClassifier())], random_state=0)
    with pytest.raises(ValueError, match="candidate 'linear' failed on an inner training fold of 5 samples"):
        clf.fit(X, y)


def test_inner_cv_choice_ties_go_to_the_first_candidate_and_params_are_nested():
    X, y = _table(1, "")
    clf = InnerCVChoiceClassifier([("first", LogisticRegression()), ("second", LogisticRegression())], random_state=0)
    assert clf.get_params()["second__C"] == 1.0
    clf.set_params(second__C=2.0)
    assert clf.estimators[1][1].C == 2.0
    clf.set_params(second__C=1.0).fit(X, y)
    assert clf.choice_ == "first"
    with pytest.raises(ValueError, match="unique"):
        InnerCVChoiceClassifier([("a", LogisticRegression()), ("a", LogisticRegression())]).fit(X, y)


@pytest.mark.parametrize(
    "check",
    [
        "check_estimators_unfitted",
        "check_classifier_not_supporting_multiclass",
        "check_classifiers_one_label",
        "check_fit2d_1sample",
        "check_get_params_invariance",
        "check_set_params",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_estimators_overwrite_params",
        "check_n_features_in",
        "check_requires_y_none",
        "check_estimators_pickle",
    ],
)
def test_inner_cv_choice_passes_sklearn_checks(check):
    # the whole check_estimator suite passes too (about a minute; run by hand)
    from sklearn.utils import estimator_checks

    est = InnerCVChoiceClassifier(
        [("lr", LogisticRegression()), ("lr2", LogisticRegression(C=0.1))], cv=2, random_state=0
    )
    getattr(estimator_checks, check)(type(est).__name__, est)


# -- the benchmark without priors: resume and fingerprints ---------------------------
def test_results_are_resumed_and_recomputed_when_settings_change(tables, tmp_path):
    kwargs = dict(
        models=["radiomics-svc", "random-forest"],
        cv=3,
        out_dir=tmp_path,
        k=4,
        model_params={"random-forest": {"model__n_estimators": 10}},
        n_bootstraps=50,
        log=lambda line: None,
    )
    first = run_transfer_benchmark(tables, studies=["StudyA", "StudyB"], **kwargs)
    assert first.timing["n_cached_results"] == 0 and first.timing["n_results"] == 4
    assert (first.per_study["status"] == "ok").all()
    assert first.aucs.shape == (2, 2) and first.aucs.notna().all().all()
    for name in ("transfer.md", "transfer.png", "transfer_auc.csv", "transfer_wilcoxon.csv"):
        assert (tmp_path / name).is_file(), name

    again = run_transfer_benchmark(tables, studies=["StudyA", "StudyB"], **kwargs)
    assert again.timing["n_cached_results"] == 4
    pd.testing.assert_frame_equal(again.aucs, first.aucs)
    # the stored results alone give the same table (report on a stopped run)
    collected = collect_transfer_results(tmp_path, n_bootstraps=50)
    np.testing.assert_allclose(collected.aucs.loc[first.aucs.index, first.aucs.columns], first.aucs)
    assert collected.settings["k"] == 4

    # k changes the SVC's Top-K but not the random forest: only the SVC is redone
    changed = run_transfer_benchmark(tables, studies=["StudyA", "StudyB"], **{**kwargs, "k": 3})
    cached = changed.per_study.set_index(["study", "model"])["cached"]
    assert not cached.loc[("StudyA", "radiomics-svc")] and cached.loc[("StudyA", "random-forest")]

    # a stored fold with a foreign fingerprint is not trusted, and the log says what changed
    sidecar = tmp_path / "predictions" / "StudyA" / "random-forest" / "fold2.json"
    stored = json.loads(sidecar.read_text())
    stored["fingerprint"]["prior"] = "0" * 16
    sidecar.write_text(json.dumps(stored))
    logged = []
    redone = run_transfer_benchmark(tables, studies=["StudyA"], **{**kwargs, "k": 3, "log": logged.append})
    assert not redone.per_study.set_index("model").loc["random-forest", "cached"]
    assert any("settings changed since the stored folds (study prior)" in line for line in logged), logged
    assert sum("finished earlier, reused" in line for line in logged) == 2 * 3 - 1  # every other fold reused
    pd.testing.assert_frame_equal(redone.aucs, changed.aucs.loc[["StudyA"]])


def test_results_of_the_older_one_file_format_are_named_and_not_reused(tables, tmp_path):
    old = tmp_path / "results" / "StudyA" / "lr.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"study": "StudyA", "model": "lr", "fingerprint": "0" * 16}))
    logged = []
    result = run_transfer_benchmark(
        tables,
        studies=["StudyA"],
        models=["lr"],
        cv=3,
        out_dir=tmp_path,
        n_bootstraps=20,
        model_params={"lr": {"model__Cs": (1.0,)}},
        log=logged.append,
    )
    assert any("holds results of an older version" in line and "not reused" in line for line in logged), logged
    assert not result.per_study.loc[0, "cached"]


def test_studies_in_parallel_give_the_serial_results(tables, tmp_path):
    kwargs = dict(
        models=["lr", "random-forest"],
        cv=3,
        model_params={"random-forest": {"model__n_estimators": 10}, "lr": {"model__Cs": (0.1, 1.0)}},
        n_bootstraps=50,
        log=lambda line: None,
    )
    serial = run_transfer_benchmark(tables, **kwargs)
    parallel = run_transfer_benchmark(tables, n_jobs=2, out_dir=tmp_path, **kwargs)
    pd.testing.assert_frame_equal(parallel.aucs, serial.aucs)
    assert list(parallel.per_study["study"].unique()) == sorted(tables)
    assert len(list((tmp_path / "predictions").glob("*/*/fold*.csv"))) == len(tables) * 2 * 3


def test_tables_of_the_same_paper_are_left_out_together(tables, tmp_path):
    from sklearn_llmrad.transfer import related_studies

    siblings = {"Hosny2018B": tables["StudyA"], "Hosny2018C": tables["StudyB"], "HNSCC": tables["StudyC"]}
    assert related_studies(siblings)["Hosny2018C"] == ["Hosny2018B"]
    result = run_transfer_benchmark(
        siblings,
        models=["random-prior-lr"],
        cv=3,
        model_params={"random-prior-lr": SMALL_LR},
        n_bootstraps=20,
        log=lambda line: None,
    )
    assert result.priors["Hosny2018C"]["random"]["studies"] == ["HNSCC"]
    assert sorted(result.priors["HNSCC"]["random"]["studies"]) == ["Hosny2018B", "Hosny2018C"]
    # related={} leaves out the target only
    alone = run_transfer_benchmark(
        siblings,
        studies=["Hosny2018C"],
        models=["random-prior-lr"],
        cv=3,
        related={},
        model_params={"random-prior-lr": SMALL_LR},
        n_bootstraps=20,
        log=lambda line: None,
    )
    assert sorted(alone.priors["Hosny2018C"]["random"]["studies"]) == ["HNSCC", "Hosny2018B"]
    # a cached prior that saw the sibling is refused like one that saw the target
    cache = tmp_path / "cache"
    _, leaky = fit_study_prior(siblings, "Hosny2018C", name_vectors="random", cache_dir=cache)
    _, key = fit_study_prior(siblings, "Hosny2018C", name_vectors="random", cache_dir=cache, leave_out=["Hosny2018B"])
    shutil.rmtree(cache / "priors" / key)
    shutil.copytree(cache / "priors" / leaky, cache / "priors" / key)
    with pytest.raises(RuntimeError, match="fitted on \\['Hosny2018B'\\]"):
        fit_study_prior(siblings, "Hosny2018C", name_vectors="random", cache_dir=cache, leave_out=["Hosny2018B"])


def test_a_study_whose_siblings_are_all_the_others_is_refused_before_any_work(tables):
    siblings = {"Hosny2018B": tables["StudyA"], "Hosny2018C": tables["StudyB"]}
    with pytest.raises(ValueError, match="'Hosny2018B': no study is left for its prior"):
        run_transfer_benchmark(siblings, models=["prior-lr"], cv=3, log=lambda line: None)


def test_a_study_too_small_for_the_folds_is_named(tables):
    X, y = tables["StudyA"]
    small = {"Tiny": (X.iloc[:6], np.array([0, 0, 0, 0, 1, 1])), "StudyB": tables["StudyB"]}
    with pytest.raises(ValueError, match="'Tiny'.*2 positives"):
        run_transfer_benchmark(small, studies=["Tiny"], models=["radiomics-svc"], cv=3, log=lambda line: None)


# -- priors: leave-one-study-out, cached, never trained on the target -----------------
def test_loso_priors_never_contain_their_target_and_are_cached(tables, tiny_bert_dir, tmp_path):
    models = ["llmrad-prior", "prior-lr", "random-prior-lr", "lr"]
    kwargs = dict(
        models=models,
        cv=3,
        out_dir=tmp_path,
        language_model=str(tiny_bert_dir),
        k=4,
        classifier_params=FAST_FUSION,
        model_params=FAST_MODELS,
        n_bootstraps=50,
        log=lambda line: None,
    )
    targets = ["StudyA", "StudyB"]
    result = run_transfer_benchmark(tables, studies=targets, **kwargs)
    assert (result.per_study["status"] == "ok").all(), result.per_study[["study", "model", "status"]]
    assert set(result.priors) == set(targets)
    for target, priors in result.priors.items():
        for kind in ("language_model", "random"):
            assert target not in priors[kind]["studies"]
            assert sorted(priors[kind]["studies"]) == sorted(set(tables) - {target})
    keys = {p["key"] for priors in result.priors.values() for p in priors.values()}
    assert len(keys) == 2 * len(targets)  # one prior per target and kind
    assert len(list((tmp_path / "cache" / "priors").iterdir())) == len(keys)

    logged = []
    again = run_transfer_benchmark(tables, studies=targets, **{**kwargs, "log": logged.append})
    assert again.timing["n_cached_results"] == again.timing["n_results"] == len(targets) * len(models)
    assert sum("cached" in line for line in logged if line.startswith("[prior]")) == len(keys)
    pd.testing.assert_frame_equal(again.aucs, result.aucs)
    # the public function finds the benchmark's cached prior: one key, however it is computed
    _, key = fit_study_prior(
        tables, "StudyA", name_vectors="random", language_model=str(tiny_bert_dir), cache_dir=tmp_path / "cache"
    )
    assert key == result.priors["StudyA"]["random"]["key"]


def test_the_default_methods_inner_cv_choice_is_recorded_per_fold(tables, tiny_bert_dir, tmp_path):
    result = run_transfer_benchmark(
        tables,
        studies=["StudyA"],
        models=["llmrad-choice", "lr"],
        cv=3,
        out_dir=tmp_path,
        language_model=str(tiny_bert_dir),
        k=4,
        classifier_params=FAST_FUSION,
        model_params={"lr": {"model__Cs": (0.1, 1.0)}},
        n_bootstraps=50,
        log=lambda line: None,
    )
    assert (result.per_study["status"] == "ok").all(), result.per_study[["model", "status"]]
    folder = tmp_path / "predictions" / "StudyA" / "llmrad-choice"
    stored = [json.loads((folder / f"fold{i}.json").read_text())["notes"]["choice"] for i in (1, 2, 3)]
    assert set(stored) <= {"linear", "llmrad", "average"}
    row = result.per_study.set_index("model").loc["llmrad-choice"]
    counts = dict(part.rsplit(" ", 1) for part in row["choices"].split(", "))
    assert sum(int(n) for n in counts.values()) == 3
    assert pd.isna(result.per_study.set_index("model").loc["lr", "choices"])  # plain models choose nothing
    report = (tmp_path / "transfer.md").read_text()
    assert "Inner-CV choice of" in report and "of 3 outer training folds" in report
    # a local language model is named by its folders, not by this machine's absolute path
    assert str(tiny_bert_dir) not in report and tiny_bert_dir.name in report


def test_a_cached_prior_that_saw_its_target_is_refused(tables, tiny_bert_dir, tmp_path):
    from sklearn_llmrad.prior import SemanticPrior

    _, key = fit_study_prior(tables, "StudyA", language_model=str(tiny_bert_dir), cache_dir=tmp_path)
    folder = tmp_path / "priors" / key
    assert folder.is_dir()
    # replace the cached prior with one fitted on every study, the target included
    leaky = SemanticPrior(language_model=str(tiny_bert_dir), random_state=0).fit(tables)
    meta = (folder / "transfer_key.json").read_text()
    for path in folder.iterdir():
        path.unlink()
    leaky.save(folder)
    (folder / "transfer_key.json").write_text(meta)
    with pytest.raises(RuntimeError, match="'StudyA' was fitted on \\['StudyA'\\]"):
        fit_study_prior(tables, "StudyA", language_model=str(tiny_bert_dir), cache_dir=tmp_path)


# -- command line --------------------------------------------------------------------
def _write_radmlbench(root, tables):
    """Tables in radMLBench's own format: gzip CSV with ID, Target and the features."""
    root.mkdir(parents=True, exist_ok=True)
    for name, (X, y) in tables.items():
        frame = pd.concat([pd.DataFrame({"ID": np.arange(len(y)), "Target": y}), X], axis=1)
        with gzip.open(root / f"{name}.gz", "wt") as handle:
            frame.to_csv(handle, index=False)
    return root


def test_cli_transfer_end_to_end(tables, tiny_bert_dir, tmp_path, capsys):
    from sklearn_llmrad.cli import main

    # tiny synthetic tables under radMLBench study names (the loader accepts known names only)
    names = ["Ahn2021", "Arita2018", "Fusco2022"]
    root = _write_radmlbench(tmp_path / "tables", dict(zip(names, tables.values())))
    out = tmp_path / "out"
    code = main(
        [
            "benchmark",
            "--dataset",
            "radmlbench",
            "--root",
            str(root),
            "--transfer",
            "--models",
            "prior-lr,radiomics-svc",
            "--studies",
            "Ahn2021,Fusco2022",
            "--cv",
            "3",
            "--k",
            "4",
            "--bootstraps",
            "50",
            "--language-model",
            str(tiny_bert_dir),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Mean rank" in printed and "Wilcoxon" in printed
    summary = pd.read_csv(out / "transfer_summary.csv", index_col="model")
    assert sorted(summary.index) == ["prior-lr", "radiomics-svc"]
    assert (summary["n_studies"] == 2).all() and summary["mean_auc"].between(0, 1).all()
    assert (out / "transfer.png").is_file() and (out / "transfer.md").is_file()
    per_study = pd.read_csv(out / "transfer_per_study.csv")
    assert (per_study["auc_low"] <= per_study["auc"]).all()
    assert (per_study["auc"] <= per_study["auc_high"]).all()


def test_cli_radmlbench_needs_transfer(tmp_path, capsys):
    from sklearn_llmrad.cli import main

    with pytest.raises(SystemExit) as exit_info:  # a user error: status 2, one line
        main(["benchmark", "--dataset", "radmlbench", "--root", str(tmp_path), "--language-model", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("llmrad: error: ") and "--transfer" in err and len(err.splitlines()) == 1
