"""The benchmark runner: grouped folds, shared features, failures, resume, report files."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_llmrad import _files
from sklearn_llmrad._files import temporary_name
from sklearn_llmrad.benchmark import (
    ModelRegistry,
    make_splits,
    run_benchmark,
)
from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.selection import TopKSelector

FAST_EXTRACTION = {"image_types": ["Original"], "progress": False}


@pytest.fixture(scope="module")
def small_data():
    data = make_synthetic_mammograms(40, image_size=96, random_state=3)
    return data.frame, data.target, data.groups


def _logreg(random_state=None, **_):
    # a "features" model receives the radiomics table with the clinical columns
    return make_pipeline(
        TopKSelector(10, passthrough=None),
        SimpleImputer(),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=1000),
    )


class _Boom:
    def fit(self, X, y):
        raise RuntimeError("deliberate failure in fit")

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self


@pytest.fixture
def user_models():
    registry = ModelRegistry()
    registry.register("logreg", _logreg, input="features", label="Logistic regression")
    registry.register("boom", lambda **_: _Boom(), input="features", label="Always fails")
    return registry


def test_splits_keep_patients_together_and_stratify():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 2)
    y = np.repeat(rng.integers(0, 2, 30), 2)
    splits = make_splits(y, groups, cv=5, random_state=1)
    seen = np.concatenate([s["test"] for s in splits])
    assert sorted(seen.tolist()) == list(range(60))
    for split in splits:
        assert not set(groups[split["train"]]) & set(groups[split["test"]])
        assert 0.2 < y[split["test"]].mean() < 0.8


def test_holdout_split_has_three_disjoint_grouped_parts():
    groups = np.repeat(np.arange(50), 2)
    y = np.tile([0, 1], 50)
    (split,) = make_splits(y, groups, holdout=(7, 2, 1), random_state=0)
    parts = [set(groups[split[p]]) for p in ("train", "validation", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    sizes = [len(split[p]) for p in ("train", "validation", "test")]
    assert sum(sizes) == 100
    assert sizes[0] > sizes[1] > sizes[2] > 0


def test_benchmark_reports_failures_and_resumes(small_data, user_models, tmp_path):
    X, y, groups = small_data
    out = tmp_path / "run"
    lines = []
    kwargs = dict(
        models=["radiomics-svc", "logreg", "boom"],
        cv=3,
        out_dir=out,
        k=20,
        n_bootstraps=200,
        extractor_params=FAST_EXTRACTION,
        random_state=0,
        registry=user_models,
    )
    result = run_benchmark(X, y, groups, log=lines.append, **kwargs)
    table = result.table.set_index("name")
    assert table.loc["boom", "status"].startswith("failed: RuntimeError: deliberate failure")
    for name in ("radiomics-svc", "logreg"):
        assert table.loc[name, "status"] == "ok"
        assert 0.0 <= table.loc[name, "auc_low"] <= table.loc[name, "auc"] <= table.loc[name, "auc_high"] <= 1.0
        pred = result.predictions[name]
        # every lesion predicted exactly once, out of fold
        assert sorted(pred["case"]) == sorted(str(i) for i in X.index)
    # without the full method, DeLong compares against the first model that ran
    assert result.table.attrs["delong_reference"] == "radiomics-svc"
    assert 0.0 < table.loc["logreg", "delong_p"] <= 1.0
    assert np.isnan(table.loc["radiomics-svc", "delong_p"])
    for name in ("results.csv", "results.md", "roc.png", "reliability.png"):
        assert (out / name).is_file(), name
    assert "Always fails" in (out / "results.md").read_text()

    # resume: one fold file lost (as if killed), everything else reused
    (out / "predictions" / "logreg" / "fold2.csv").unlink()
    again_lines = []
    again = run_benchmark(X, y, groups, log=again_lines.append, **kwargs)
    reused = [line for line in again_lines if "reused" in line]
    assert len(reused) == 5  # 3 svc folds + 2 logreg folds
    pd.testing.assert_frame_equal(
        again.predictions["logreg"].sort_values("case").reset_index(drop=True),
        result.predictions["logreg"].sort_values("case").reset_index(drop=True),
    )


def test_changed_model_settings_are_not_reused(small_data, user_models, tmp_path):
    X, y, groups = small_data
    common = dict(
        models=["radiomics-svc"],
        cv=3,
        out_dir=tmp_path,
        n_bootstraps=100,
        extractor_params=FAST_EXTRACTION,
        registry=user_models,
    )
    run_benchmark(X, y, groups, k=10, log=lambda _: None, **common)
    lines = []
    run_benchmark(X, y, groups, k=12, log=lines.append, **common)
    assert any("settings changed" in line for line in lines)
    assert not any("reused" in line for line in lines)


def test_benchmark_refuses_foreign_output_folder(small_data, user_models, tmp_path):
    X, y, groups = small_data
    common = dict(
        models=["logreg"],
        out_dir=tmp_path,
        k=10,
        n_bootstraps=100,
        extractor_params=FAST_EXTRACTION,
        log=lambda _: None,
        registry=user_models,
    )
    run_benchmark(X, y, groups, cv=3, **common)
    with pytest.raises(ValueError, match="holds predictions for other data or folds"):
        run_benchmark(X, y, groups, cv=4, **common)


def _temporary(name, *, pid):
    """The name :func:`atomic_write_bytes` gives its temporary, as process ``pid`` of this machine."""
    return temporary_name(name).replace(f"-{os.getpid()}-", f"-{pid}-", 1)


def _ended_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _user_files(folder):
    """Files a user may keep under --out (issue 19: the old sweep deleted them all)."""
    files = [
        folder / ".notes.tmp",
        folder / ".x.tmp",
        folder / ".fold1.csv.999999.tmp",  # the old temporaries' pattern, but the user's
        folder / "docs" / ".x.tmp",
        folder / "docs" / "deep" / ".notes.tmp",
        folder / "predictions" / "logreg" / ".draft.tmp",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's")
    return files


def test_store_sweep_removes_only_our_stale_temporaries(tmp_path):
    users = _user_files(tmp_path)
    dead = _ended_pid()
    stale = [tmp_path / _temporary("results.csv", pid=dead), tmp_path / "errors" / _temporary("m.txt", pid=dead)]
    live = tmp_path / _temporary("fold1.csv", pid=os.getpid())  # this process, writing right now
    nested = tmp_path / "docs" / _temporary("x.csv", pid=dead)  # not a folder the caller names
    for path in (*stale, live, nested):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    _files.remove_stale_temporaries(tmp_path)
    assert all(path.read_text() == "the user's" for path in users)
    assert not stale[0].exists()
    assert stale[1].exists() and nested.exists()  # in subfolders: left alone
    assert _files.remove_stale_temporaries(tmp_path / "errors", tmp_path / "missing") == 1
    assert not stale[1].exists()
    assert live.exists() and nested.exists()
    assert all(path.read_text() == "the user's" for path in users)


def test_atomic_write_leaves_no_temporary_and_names_it_as_ours(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(src), real_replace(src, dst)))
    _files.atomic_write_bytes(tmp_path / "fold1.csv", b"a,b\n")
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(".llmrad-tmp-") and tmp.name.endswith("-fold1.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["fold1.csv"]


def test_benchmark_sweep_spares_user_files_under_out(small_data, user_models, tmp_path, monkeypatch):
    """`--out ~` must not delete the user's `.*.tmp` files: only this package's stale temporaries go."""
    from sklearn_llmrad.benchmark import runner

    X, y, groups = small_data
    users = _user_files(tmp_path)
    dead = _ended_pid()
    ours = [
        tmp_path / _temporary("splits.json", pid=dead),
        tmp_path / "predictions" / "logreg" / _temporary("fold1.csv", pid=dead),
        tmp_path / "explanations" / "logreg" / _temporary("fold1.csv", pid=dead),
    ]
    live = tmp_path / "predictions" / "logreg" / _temporary("fold2.csv", pid=os.getpid())
    for path in (*ours, live):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):  # the sweep is done by then: skip the image work
        raise Stop

    monkeypatch.setattr(runner, "prepare_shared_inputs", stop)
    with pytest.raises(Stop):
        run_benchmark(X, y, groups, models=["logreg"], cv=3, out_dir=tmp_path, registry=user_models)
    assert all(path.read_text() == "the user's" for path in users)
    assert not any(path.exists() for path in ours)
    assert live.exists()


def test_unknown_model_is_named(small_data):
    X, y, groups = small_data
    with pytest.raises(ValueError, match="unknown model.*nonsense"):
        run_benchmark(X, y, groups, models=["nonsense"])


def test_benchmark_killed_with_sigkill_finishes_identically(tmp_path):
    """Kill a benchmark process several times mid-run; the rerun equals an uninterrupted run."""
    script = tmp_path / "bench.py"
    script.write_text(
        textwrap.dedent(
            """
        import sys, time
        from sklearn.linear_model import LogisticRegression
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn_llmrad.benchmark import register_model, run_benchmark
        from sklearn_llmrad.datasets import make_synthetic_mammograms
        from sklearn_llmrad.selection import TopKSelector

        class Slow(LogisticRegression):
            def fit(self, X, y):
                time.sleep(float(sys.argv[2]))
                return super().fit(X, y)

        register_model("slow", lambda **_: make_pipeline(
            TopKSelector(5, passthrough=None), SimpleImputer(), Slow(max_iter=500)),
                       input="features")
        d = make_synthetic_mammograms(30, image_size=96, random_state=5)
        run_benchmark(d.frame, d.target, d.groups, models=["slow"], cv=5, out_dir=sys.argv[1],
                      k=10, n_bootstraps=100, random_state=0,
                      extractor_params={"image_types": ["Original"], "progress": False})
        """
        )
    )
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, str(script), str(reference), "0"], check=True, env=env)

    out = tmp_path / "killed"
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(out), "1.5"], env=env)
        folds = out / "predictions" / "slow"
        before = len(list(folds.glob("fold*.csv"))) if folds.exists() else 0
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if folds.exists() and len(list(folds.glob("fold*.csv"))) > before:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1
    subprocess.run([sys.executable, str(script), str(out), "0"], check=True, env=env)
    got = pd.read_csv(out / "results.csv")
    want = pd.read_csv(reference / "results.csv")
    pd.testing.assert_frame_equal(got, want)
    assert not list(out.rglob(".llmrad-tmp-*"))


def test_method_and_ablations_are_networks_and_the_choice_is_its_own_row():
    import warnings

    from sklearn_llmrad.benchmark import BenchmarkSettings, default_models

    settings = dict(k=3, language_model=None, encoder_params=None, classifier_params=None, random_state=0, device="cpu")
    models = default_models()
    for name in ("llmrad", "wo-biobert", "wo-attention"):
        assert [step for step, _ in models[name].factory(**settings).steps][-1] == "fusion"
    assert [step for step, _ in models["llmrad-choice"].factory(**settings).steps] == ["choice"]
    assert models["llmrad-choice"].label == "Full method + linear fallback"
    # the old table (every row an inner-CV choice) still runs, with a FutureWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default settings warn about nothing
        assert BenchmarkSettings().fallback is None
    with pytest.warns(FutureWarning, match="llmrad-choice"):
        old = BenchmarkSettings(fallback="linear")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, when it was set: not again on every copy
        kwargs = {**old.replace(k=3).factory_kwargs(), "language_model": None}
    for name in ("llmrad", "wo-biobert", "wo-attention"):
        assert [step for step, _ in models[name].factory(**kwargs).steps] == ["choice"]
    with pytest.raises(ValueError, match="fallback must be"):
        BenchmarkSettings(fallback="svc")


TINY_NETWORK = {"hidden_size": 16, "n_heads": 2, "max_epochs": 4, "batch_size": 16, "lr": 1e-2}


@pytest.fixture(scope="module")
def method_run(small_data, tiny_bert_dir, tmp_path_factory):
    """The method, its w/o-BioBERT ablation and the inner-CV choice on the same folds."""
    X, y, groups = small_data
    out = tmp_path_factory.mktemp("method")
    result = run_benchmark(
        X,
        y,
        groups,
        models=["llmrad", "wo-biobert", "llmrad-choice", "radiomics-svc"],
        cv=3,
        k=12,
        language_model=str(tiny_bert_dir),
        classifier_params=TINY_NETWORK,
        device="cpu",
        n_bootstraps=100,
        extractor_params=FAST_EXTRACTION,
        out_dir=out,
        log=lambda _: None,
    )
    return result, out


def test_full_method_and_wo_biobert_differ_in_every_fold(method_run):
    """Issue 20: the two networks differ, so no fold can show the same AUCs by construction."""
    result, _ = method_run
    assert (result.table["status"] == "ok").all(), result.table[["name", "status"]]
    full, ablation = (
        result.predictions[n].sort_values("case").reset_index(drop=True) for n in ("llmrad", "wo-biobert")
    )
    assert full["case"].tolist() == ablation["case"].tolist()
    for fold in sorted(full["fold"].unique()):
        rows = full["fold"] == fold
        assert not np.allclose(full.loc[rows, "y_prob"], ablation.loc[rows, "y_prob"]), f"fold {fold}"
    # the networks predicted their rows; the choice row says what its inner CV picked
    rationales = result.rationales.set_index("name")
    assert set(rationales.loc["llmrad", "estimator"]) == {"network"}
    assert set(rationales.loc["wo-biobert", "estimator"]) == {"network"}
    assert set(rationales.loc["llmrad-choice", "estimator"]) <= {"linear", "network", "average"}
    assert set(rationales.loc["radiomics-svc", "estimator"]) == {"svc"}


def test_each_rationale_and_top_features_plot_describes_its_own_row(method_run):
    result, out = method_run
    for name, frame in result.predictions.items():
        said = result.rationales[result.rationales["name"] == name].merge(frame, on=["case", "fold"])
        assert len(said) == len(frame)  # every test lesion of every fold, once
        np.testing.assert_allclose(said["probability"], said["y_prob"], atol=1e-9)
        assert all(f"{p:.3f}" in text for p, text in zip(said["probability"], said["text"]))
        assert (out / f"top_features_{name}.png").is_file()
        top = result.explanations[result.explanations["name"] == name]
        assert len(top) and (top["mean_abs_contribution"].diff().dropna() <= 0).all()
    assert not (out / "top_features.png").exists()  # no plot titled for one model showing another
    # the network rows rank other features than the SVC's occlusion does
    first = result.explanations.groupby("name")["feature"].apply(lambda f: tuple(f.head(5)))
    assert first["llmrad"] != first["radiomics-svc"]
    text = (out / "results.md").read_text()
    assert "LLM-radiomics (full method): features behind its decisions; predicted by: network" in text
    assert "Full method + linear fallback" in text


def test_settings_are_one_frozen_object_and_encoder_is_a_deprecated_spelling():
    from dataclasses import FrozenInstanceError

    from sklearn_llmrad.benchmark import STUDY_SETTINGS, BenchmarkSettings

    settings = BenchmarkSettings(k=50)
    with pytest.raises(FrozenInstanceError):
        settings.k = 10
    with pytest.warns(FutureWarning, match="language_model="):
        assert settings.replace(encoder="my/model").language_model == "my/model"
    with pytest.raises(TypeError, match="unknown benchmark setting.*'kk'"):
        settings.replace(kk=1)
    kwargs = STUDY_SETTINGS.factory_kwargs(k=7)
    assert kwargs["k"] == 7 and kwargs["language_model"] is None and kwargs["device"] == "cpu"
    # run_benchmark takes settings fields as keywords: a bad one is refused before any work
    with pytest.raises(TypeError, match="unknown benchmark setting"):
        run_benchmark(pd.DataFrame(index=["a"]), [0], ["p"], no_such_setting=1)


def test_one_registry_serves_both_modes_and_the_study_mode_refuses_image_models():
    from sklearn_llmrad.benchmark import study_models

    studies = ModelRegistry(mode="studies")
    assert studies.names() == list(study_models())
    assert studies.resolve(["prior-lr"])[0].prior == "language_model"
    studies.register("cnn", lambda **_: None, input="crops")
    with pytest.raises(ValueError, match=r"\['cnn'\] take images"):
        studies.resolve(["lr", "cnn"])
    with pytest.raises(ValueError, match="mode must be"):
        ModelRegistry(mode="patients")
    # the Radiomics + SVC baseline is one model of both modes
    lesions = ModelRegistry().resolve(["radiomics-svc"])[0]
    assert lesions is not None and lesions.factory is studies.resolve(["radiomics-svc"])[0].factory


def test_folds_in_parallel_give_the_same_predictions_one_line_per_fold_and_timings(small_data, tmp_path):
    X, y, groups = small_data
    kwargs = dict(models=["radiomics-svc"], cv=3, k=20, n_bootstraps=50, extractor_params=FAST_EXTRACTION)
    runs = {}
    for n_jobs in (1, 2):
        lines = []
        out = tmp_path / f"jobs{n_jobs}"
        runs[n_jobs] = run_benchmark(X, y, groups, out_dir=out, n_jobs=n_jobs, log=lines.append, **kwargs)
        folds = [line for line in lines if " fold " in line]  # one line per fold, the non-TTY progress
        assert sorted(line.split(":")[0] for line in folds) == [f"[1/1 radiomics-svc] fold {f}/3" for f in (1, 2, 3)]
        assert all(": AUC " in line for line in folds)
        timings = pd.read_csv(out / "timings.csv")
        assert list(timings["stage"]) == ["extraction", "radiomics-svc", "total (wall)"]
        assert (timings["seconds"] > 0).all() and timings.loc[1, "folds_computed"] == 3
        assert any(line.startswith("[timings] extraction ") for line in lines)
    one, two = (runs[n].predictions["radiomics-svc"].sort_values("case").reset_index(drop=True) for n in (1, 2))
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(runs[2].timings, pd.read_csv(tmp_path / "jobs2" / "timings.csv"), check_dtype=False)


def test_fold_explanations_cover_exactly_the_models_explain_knows(monkeypatch):
    # _explain_fold asks explanation.estimator_kind first: no table for a model explain does not know (a user's
    # model, a forest), a table for the package's linear model and SVC and their pipelines, and a TypeError
    # raised while explaining a model it knows is not taken for "unknown model"
    from sklearn.ensemble import RandomForestClassifier

    from sklearn_llmrad import explanation
    from sklearn_llmrad.benchmark.fold_runs import _explain_fold
    from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
    from sklearn_llmrad.models.svm import CalibratedSVC

    rng = np.random.default_rng(0)
    names = ["original_firstorder_Mean", "original_shape2D_Elongation", "original_glcm_Contrast"]
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=names, index=[f"c{i}" for i in range(40)])
    y = (X[names[0]] + 0.5 * rng.normal(size=40) > 0).astype(int).to_numpy()
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0))
    for model in (LogisticRegression(), forest):
        model.fit(X, y)
        with pytest.raises(TypeError):
            explanation.explain(model, X)
        assert _explain_fold(model, X, 2, fold=1) is None
    known = {
        "linear": SemanticPriorLogisticRegression(random_state=0),
        "svc": make_pipeline(StandardScaler(), CalibratedSVC(random_state=0)),
    }
    for kind, model in known.items():
        table = _explain_fold(model.fit(X, y), X, 2, fold=1)
        assert set(table["case"]) == set(X.index)
        assert (table["estimator"] == kind).all() and (table["fold"] == 1).all()

    def broken(*args, **kwargs):
        raise TypeError("a defect inside explain")

    monkeypatch.setattr(explanation, "explain", broken)
    with pytest.raises(TypeError, match="a defect inside explain"):
        _explain_fold(known["linear"], X, 2, fold=1)
