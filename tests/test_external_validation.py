"""External validation (issue 21, item 4): train on all of one dataset, report on another.

``run_benchmark(test=(X_test, y_test))`` and ``llmrad benchmark --test-dataset``.
The resolution test is a small version of ``benchmarks/bench_external_validation.py``
(which runs 120 lesions of 1024 px and writes ``benchmarks/results/external_validation.json``).
"""

import warnings

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_llmrad.benchmark import DEFAULT_REGISTRY, ModelRegistry, run_benchmark
from sklearn_llmrad.cli import main
from sklearn_llmrad.datasets import coarsen_mammograms, make_synthetic_mammograms
from sklearn_llmrad.selection import TopKSelector

FAST_EXTRACTION = {"image_types": ["Original"], "progress": False}


def _logreg(**_):
    # a "features" model receives the radiomics table with the clinical columns
    return make_pipeline(
        TopKSelector(10, passthrough=None), SimpleImputer(), StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)
    )


@pytest.fixture
def models():
    registry = ModelRegistry([DEFAULT_REGISTRY.resolve(["radiomics-svc"])[0]])
    registry.register("logreg", _logreg, input="features", label="Logistic regression")
    return registry


def test_models_train_on_one_dataset_and_report_on_the_other(models, tmp_path):
    train = make_synthetic_mammograms(24, image_size=96, pixel_size=0.1, random_state=0)
    test = make_synthetic_mammograms(16, image_size=96, pixel_size=0.1, random_state=1)  # same case ids, other lesions
    lines = []
    result = run_benchmark(
        train.frame,
        train.target,
        train.groups,
        test=(test.frame, test.target),
        models=["radiomics-svc", "logreg"],
        registry=models,
        out_dir=tmp_path,
        cv=7,  # not used: one fit on all training lesions
        extractor_params=FAST_EXTRACTION,
        n_bootstraps=50,
        log=lines.append,
    )
    assert result.external and result.n_lesions == 40
    for frame in result.predictions.values():
        # only the test lesions, once each, under their prefixed ids, with their labels
        assert sorted(frame["case"]) == sorted(f"test:{c}" for c in test.frame.index)
        assert (frame["part"] == "test").all() and (frame["fold"] == 1).all()
        truth = dict(zip("test:" + test.frame.index, test.target, strict=True))
        assert [truth[c] for c in frame["case"]] == frame["y_true"].tolist()
    table = result.table.set_index("name")
    assert (table["status"] == "ok").all()
    assert table["auc_low"].le(table["auc"]).all() and table["auc"].le(table["auc_high"]).all()
    # DeLong against the first model (the full method did not run), on the same test lesions
    assert np.isnan(table.loc["radiomics-svc", "delong_p"]) and 0 <= table.loc["logreg", "delong_p"] <= 1
    assert any("prefixed 'test:'" in line for line in lines)
    assert any("training on all 24 lesions, testing on 16" in line for line in lines)
    assert sum("fold 1/1" in line for line in lines) == 2
    report = (tmp_path / "results.md").read_text()
    assert "External validation" in report and "test dataset's predictions" in report
    assert (tmp_path / "predictions" / "logreg" / "fold1.csv").exists()

    # a second run reuses the stored fits; another test set is refused in the same folder
    again = run_benchmark(
        train.frame,
        train.target,
        train.groups,
        test=(test.frame, test.target),
        models=["logreg"],
        registry=models,
        out_dir=tmp_path,
        extractor_params=FAST_EXTRACTION,
        n_bootstraps=50,
        log=lines.append,
    )
    assert lines[-2].endswith("finished earlier, reused") and lines[-1].startswith("[timings] extraction ")
    assert again.table["auc"].iloc[0] == table.loc["logreg", "auc"]
    with pytest.raises(ValueError, match="other data or folds"):
        run_benchmark(
            train.frame,
            train.target,
            train.groups,
            test=(test.frame.iloc[:12], test.target[:12]),
            models=["logreg"],
            registry=models,
            out_dir=tmp_path,
            extractor_params=FAST_EXTRACTION,
            log=lines.append,
        )


def test_a_test_set_of_one_class_or_a_bad_tuple_is_refused():
    train = make_synthetic_mammograms(12, image_size=64, random_state=0)
    with pytest.raises(ValueError, match="class"):
        run_benchmark(train.frame, train.target, train.groups, test=(train.frame, np.zeros(12)), log=lambda _: None)
    with pytest.raises(TypeError, match="test must be a tuple"):
        run_benchmark(train.frame, train.target, train.groups, test=train.frame, log=lambda _: None)


def _auc(train, X_test, y_test, resample_to):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = run_benchmark(
            train.frame,
            train.target,
            train.groups,
            test=(X_test, y_test),
            models=["radiomics-svc"],
            extractor_params={
                **FAST_EXTRACTION,
                "feature_classes": ["firstorder", "shape2D", "glcm"],
                "resample_to": resample_to,
            },
            preprocessor_params={"resample_to": resample_to},
            language_model=None,
            n_bootstraps=20,
            log=lambda _: None,
        )
    return float(result.table["auc"].iloc[0])


def test_a_model_trained_at_50um_keeps_its_auc_at_200um_with_resampling():
    kwargs = {"image_size": 512, "lesions_per_patient": 1, "pixel_size": 0.05}
    train = make_synthetic_mammograms(40, random_state=0, **kwargs)
    held_out = make_synthetic_mammograms(40, random_state=1, **kwargs)
    coarse = coarsen_mammograms(held_out.frame, 4)
    assert (coarse["spacing"] == (0.2, 0.2)).all()
    same = _auc(train, held_out.frame, held_out.target, 0.1)
    other = _auc(train, coarse, held_out.target, 0.1)
    # The target, a drop <= 0.03, is measured by the benchmark (120 lesions of 1024 px:
    # 0.777 -> 0.751). With 40 test lesions an AUC's standard error is about 0.07 (measured here:
    # 0.767 -> 0.665), so this test asserts a bound of that size: the model trained at 50 um still
    # ranks the 200 um lesions, not the target itself.
    assert same > 0.65 and other > 0.6, (same, other)
    assert same - other <= 0.15, (same, other)


def test_llmrad_benchmark_with_a_test_dataset(tmp_path, capsys):
    out = tmp_path / "ext"
    argv = ["benchmark", "--dataset", "synthetic", "--test-dataset", "synthetic", "--n-samples", "20"]
    argv += ["--models", "radiomics-svc", "--image-types", "Original", "--bootstraps", "20", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Test dataset:" in printed and "fold 1/1" in printed
    assert "External validation" in (out / "results.md").read_text()
    frame = (out / "predictions" / "radiomics-svc" / "fold1.csv").read_text()
    assert frame.count("test:synthetic_") == 20  # the seed + 1 dataset: other lesions under the same ids


@pytest.mark.parametrize(
    "options, words",
    [
        (["--test-root", "x"], ["--test-root needs --test-dataset"]),
        (["--test-dataset", "mias"], ["--test-dataset mias needs --test-root"]),
        (["--test-dataset", "mias", "--test-root", "/nonexistent/mias"], ["--test-root", "does not exist"]),
    ],
)
def test_test_dataset_options_are_checked_before_any_work(options, words, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--dataset", "synthetic", "--out", str(tmp_path / "o"), *options])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert not (tmp_path / "o").exists()
