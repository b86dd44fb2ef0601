"""Hostile and careless inputs: each fails early and clearly, or is survived without losing work.

Bad labels, bad clinical metadata, corrupt and truncated images, truncated or
edited fold files, and changed settings under the same output folder.
"""

import logging
import math
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.io import imsave
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklearn_llmrad import CLAHEPreprocessor, _files
from sklearn_llmrad.benchmark import ModelRegistry, run_benchmark
from sklearn_llmrad.benchmark import store as fold_store
from sklearn_llmrad.cli import load_dataset, main
from sklearn_llmrad.clinical import normalize_density, parse_age
from sklearn_llmrad.datasets import load_csv, make_synthetic_mammograms
from sklearn_llmrad.descriptions import clinical_statements
from sklearn_llmrad.exceptions import DatasetFormatError, ImageReadError, LesionError
from sklearn_llmrad.labels import check_binary_labels
from sklearn_llmrad.selection import TopKSelector

FAST = {
    "image_types": ["Original"],
    "feature_classes": ["firstorder", "glcm"],
    "progress": False,
}
FAST_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _logreg(**_):
    return make_pipeline(
        TopKSelector(5, passthrough=None),
        SimpleImputer(),
        LogisticRegression(max_iter=500),
    )


@pytest.fixture
def registry():
    reg = ModelRegistry()
    reg.register("logreg", _logreg, input="features")
    return reg


@pytest.fixture(scope="module")
def synthetic():
    data = make_synthetic_mammograms(30, image_size=64, random_state=1)
    return data.frame, data.target, data.groups


def _png_dataset(root, n=20):
    """``n`` lesions as PNG files, 2 per patient, alternating labels; returns (X, y, groups)."""
    rng = np.random.default_rng(0)
    images, masks = [], []
    for i in range(n):
        image = (rng.normal(100, 15, (48, 48)) + (30 if i % 2 else 0)).clip(0, 255).astype(np.uint8)
        mask = np.zeros((48, 48), np.uint8)
        mask[14:34, 12:36] = 255
        imsave(root / f"img{i}.png", image, check_contrast=False)
        imsave(root / f"mask{i}.png", mask, check_contrast=False)
        images.append(str(root / f"img{i}.png"))
        masks.append(str(root / f"mask{i}.png"))
    X = pd.DataFrame({"image": images, "mask": masks}, index=[f"case{i}" for i in range(n)])
    return (
        X,
        np.array([i % 2 for i in range(n)]),
        np.array([f"p{i // 2}" for i in range(n)]),
    )


# ----------------------------------------------------------------------------- bad labels
@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (2, r"labels \[0, 1, 2\], not 0/1, at row\(s\) 'synthetic_0003'"),
        (0.7, r"non-integral label\(s\) at row\(s\) 'synthetic_0003' \(0.7\)"),
        (np.nan, r"missing label\(s\) \(None/NaN\) at row\(s\) 'synthetic_0003'"),
        ("malignant", r"non-numeric label\(s\) at row\(s\) 'synthetic_0003'"),
    ],
)
def test_benchmark_refuses_bad_labels_before_reading_any_image(synthetic, bad, fragment, tmp_path):
    X, y, groups = synthetic
    X = X.copy()
    X["image"] = [str(tmp_path / "never-read.png")] * len(X)  # reading any image would fail differently
    y = y.astype(object)
    y[3] = bad
    with pytest.raises(ValueError, match=fragment):
        run_benchmark(X, y, groups, out_dir=tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_missing_patient_ids_and_duplicated_cases_are_refused(synthetic, tmp_path):
    X, y, groups = synthetic
    groups = groups.copy()
    groups[4] = None
    with pytest.raises(ValueError, match=r"1 lesion\(s\) have no patient id.*synthetic_0004"):
        run_benchmark(X, y, groups, log=lambda _: None)
    X2 = X.rename(index={"synthetic_0001": "synthetic_0000"})
    with pytest.raises(ValueError, match=r"not unique.*synthetic_0000"):
        run_benchmark(X2, y, synthetic[2], log=lambda _: None)


def test_labels_one_two_need_pos_label(synthetic):
    X, y, _ = synthetic
    with pytest.raises(ValueError, match=r"labels \[1, 2\], not 0/1.*pos_label=2"):
        check_binary_labels(y + 1, index=X.index)
    assert check_binary_labels(y + 1, pos_label=2).tolist() == y.tolist()
    words = np.where(y == 1, "malignant", "benign")
    assert check_binary_labels(words, pos_label="malignant").tolist() == y.tolist()


def test_three_classes_and_single_class_are_refused():
    with pytest.raises(ValueError, match=r"3 classes.*'c'"):
        check_binary_labels(["a", "b", "c"], pos_label="a", index=["r1", "r2", "c"])
    with pytest.raises(ValueError, match="one class only"):
        check_binary_labels([1, 1, 1])


def test_a_training_fold_without_one_class_is_refused(synthetic, tmp_path):
    X, y, groups = synthetic
    y = np.zeros(len(y), dtype=int)
    y[:2] = 1  # the two lesions of one patient: some training fold has no malignant lesion
    with pytest.raises(ValueError, match=r"training part of fold \d holds only class 0"):
        run_benchmark(X, y, groups, cv=3, out_dir=tmp_path, log=lambda _: None)


@FAST_SETTINGS
@given(
    st.lists(st.sampled_from([0, 1, 0.0, 1.0, True, False]), min_size=2, max_size=30),
    st.data(),
)
def test_labels_property(labels, data):
    """Valid 0/1 codings pass unchanged; one bad entry anywhere is named by its row."""
    labels = [0, 1, *labels]
    assert check_binary_labels(labels).tolist() == [int(v) for v in labels]
    bad = data.draw(st.sampled_from([2, -1, 0.5, 0.7, float("nan"), None, "1", 3.0]))
    row = data.draw(st.integers(0, len(labels) - 1))
    broken = list(labels)
    broken[row] = bad
    index = [f"row{i}" for i in range(len(broken))]
    with pytest.raises(ValueError, match=f"'row{row}'"):
        check_binary_labels(broken, index=index)


# ----------------------------------------------------------------------------- bad metadata
AGES = st.one_of(
    st.integers(-5, 140),
    st.floats(-1, 140),
    st.just(float("nan")),
    st.sampled_from(
        [
            "0",
            "130",
            "062Y",
            "006M",
            "62 years",
            "old",
            "",
            "unknown",
            "129.9",
            "0.1",
            "-3",
            "1e2",
        ]
    ),
)


@FAST_SETTINGS
@given(AGES)
def test_age_rule_is_the_same_in_loaders_and_encoder(age):
    """An age the loaders accept is an age the encoder accepts, and the other way round."""
    from sklearn_llmrad.datasets._common import parse_age as loader_parse_age

    def outcome(fn):
        try:
            return ("ok", fn())
        except ValueError:
            return ("refused", None)

    loader = outcome(lambda: loader_parse_age(age))
    encoder = outcome(lambda: clinical_statements(age=age).age)
    assert loader[0] == encoder[0], (age, loader, encoder)
    if loader[0] == "ok" and not math.isnan(loader[1]):
        assert 0 < loader[1] < 130
        assert encoder[1] == f"{math.floor(loader[1])}-year-old woman."


DENSITIES = st.one_of(
    st.sampled_from(
        [
            "fatty",
            "A",
            "d",
            "DENSITY C",
            "BI-RADS density B",
            "3",
            "4.0",
            "E",
            "G",
            "dense",
            "5",
            "",
        ]
    ),
    st.integers(-1, 6),
    st.text(max_size=6),
)


@FAST_SETTINGS
@given(DENSITIES)
def test_density_rule_is_the_same_in_loaders_and_encoder(density):
    from sklearn_llmrad.datasets._common import map_density

    try:
        letter = map_density(density)
    except ValueError:
        with pytest.raises(LesionError):
            normalize_density(density)
        return
    assert letter == normalize_density(density)


def test_csv_loader_refuses_the_ages_the_encoder_refuses(tmp_path):
    _png_dataset(tmp_path, n=4)
    rows = ["image,mask,label,age,density"]
    for i, (age, density) in enumerate([(0, "fatty"), (130, "A"), (61, "fatty"), (129.5, "2")]):
        rows.append(f"img{i}.png,mask{i}.png,{i % 2},{age},{density}")
    (tmp_path / "lesions.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetFormatError) as info:
        load_csv(tmp_path / "lesions.csv")
    message = str(info.value)
    assert "2 malformed row(s)" in message
    assert "row 1" in message and "age '0' is outside 0-130" in message
    assert "row 2" in message and "age '130' is outside 0-130" in message
    # rows 3-4 ("fatty", 129.5) are fine for the loader and for the encoder
    assert parse_age("129.5") == 129.5 and normalize_density("fatty") == "A"


def test_encoder_warnings_log_counts_not_clinical_text(tiny_bert_dir, caplog):
    from sklearn_llmrad.encoding import BioBERTEncoder

    secret = "Privatehistory " * 40 + "zq-marker"
    X = pd.DataFrame(
        {
            "f": [1.0, 2.0, 3.0],
            "age": [61.0, 62.0, 63.0],
            "history": [secret, None, "none"],
        }
    )
    enc = BioBERTEncoder(language_model=str(tiny_bert_dir), device="cpu", max_length=16)
    logging.captureWarnings(True)
    try:
        with caplog.at_level(logging.WARNING), warnings.catch_warnings():
            warnings.simplefilter("always")
            enc.fit(X).transform(X)
    finally:
        logging.captureWarnings(False)
    assert "truncated" in caplog.text and "'history' column" in caplog.text
    assert "zq-marker" not in caplog.text and "privatehistory" not in caplog.text.lower()


# ----------------------------------------------------------------------------- images
def _corrupt(root):
    (root / "img3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)  # corrupt
    data = (root / "img6.png").read_bytes()
    (root / "img6.png").write_bytes(data[: len(data) // 3])  # truncated


@pytest.mark.parametrize("on_error", ["raise", "skip", "nan"])
def test_clahe_on_error_contract(tmp_path, on_error):
    X, _, _ = _png_dataset(tmp_path, n=8)
    clean = CLAHEPreprocessor().fit_transform(X)
    _corrupt(tmp_path)
    est = CLAHEPreprocessor(on_error=on_error)
    if on_error == "raise":
        with pytest.raises(ImageReadError) as info:
            est.fit_transform(X)
        assert info.value.case == "case3" and "img3.png" in str(info.value)
        return
    with pytest.warns(UserWarning, match="case 'case3'"):
        out = est.fit_transform(X)
    failures = out.attrs["preprocessing_failures"]
    assert [f["case"] for f in failures] == ["case3", "case6"]
    assert all(f["error"] == "ImageReadError" and f["reason"] for f in failures)
    if on_error == "skip":
        assert list(out.index) == [c for c in X.index if c not in ("case3", "case6")]
    else:
        assert list(out.index) == list(X.index)
        assert pd.isna(out.loc["case3", "image"]) and pd.isna(out.loc["case6", "mask"])
    for case in ("case0", "case5", "case7"):  # one bad lesion never changes the others
        np.testing.assert_array_equal(out.loc[case, "image"], clean.loc[case, "image"])


@pytest.fixture(scope="module")
def four_pngs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pngs")
    X, _, _ = _png_dataset(root, n=4)
    clean = CLAHEPreprocessor().fit_transform(X)
    return root, X, clean, (root / "img1.png").read_bytes()


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_damage_to_one_image_leaves_the_others_untouched(four_pngs, data):
    """Truncate or overwrite bytes of one PNG: that lesion is processed or listed, never the others."""
    root, X, clean, original = four_pngs
    cut = data.draw(st.integers(0, len(original)))
    junk = data.draw(st.binary(max_size=16))
    at = data.draw(st.integers(0, max(cut - 1, 0)))
    damaged = (original[:at] + junk + original[at + len(junk) :])[:cut]
    target = root / "img1.png"
    target.write_bytes(damaged)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = CLAHEPreprocessor(on_error="nan").fit_transform(X)
    finally:
        target.write_bytes(original)
    failed = [f["case"] for f in out.attrs["preprocessing_failures"]]
    assert failed in ([], ["case1"])
    if failed:
        assert pd.isna(out.loc["case1", "image"])
    else:
        assert np.isfinite(out.loc["case1", "image"]).all()
    for case in ("case0", "case2", "case3"):
        np.testing.assert_array_equal(out.loc[case, "image"], clean.loc[case, "image"])


def test_benchmark_runs_on_the_rest_and_lists_every_failed_lesion(tmp_path, registry):
    X, y, groups = _png_dataset(tmp_path, n=20)
    _corrupt(tmp_path)
    out = tmp_path / "out"
    lines = []
    result = run_benchmark(
        X,
        y,
        groups,
        models=["logreg"],
        registry=registry,
        cv=3,
        out_dir=out,
        k=5,
        n_bootstraps=50,
        extractor_params=FAST,
        log=lines.append,
    )
    failed = pd.read_csv(out / "failed.csv")
    assert failed["case"].tolist() == ["case3", "case6"]
    assert set(failed["stage"]) == {"preprocessing"} and failed["reason"].str.len().min() > 5
    assert sorted(result.predictions["logreg"]["case"]) == sorted(c for c in X.index if c not in ("case3", "case6"))
    assert result.table.loc[0, "status"] == "ok"
    report = (out / "results.md").read_text().splitlines()
    assert report[2].startswith("**2 of 20 lesions were left out**") and "case3" in report[2]
    assert any("2 of 20 lesion(s) failed" in line for line in lines)


def test_benchmark_refuses_when_too_many_lesions_fail(tmp_path, registry):
    X, y, groups = _png_dataset(tmp_path, n=10)
    _corrupt(tmp_path)
    with pytest.raises(ValueError, match=r"2 of 10 lesions failed.*max_failed_fraction=0.1"):
        run_benchmark(
            X,
            y,
            groups,
            models=["logreg"],
            registry=registry,
            cv=2,
            out_dir=tmp_path / "o",
            max_failed_fraction=0.1,
            extractor_params=FAST,
            log=lambda _: None,
        )
    assert len(pd.read_csv(tmp_path / "o" / "failed.csv")) == 2  # the user can see why


# ----------------------------------------------------------------------------- fold files and resume
def _run(X, y, groups, out, registry, lines=None, **kwargs):
    params = {
        "models": ["logreg"],
        "registry": registry,
        "cv": 3,
        "out_dir": out,
        "k": 5,
        "n_bootstraps": 50,
        "extractor_params": FAST,
        "random_state": 0,
    }
    params.update(kwargs)
    return run_benchmark(
        X,
        y,
        groups,
        log=(lines.append if lines is not None else lambda _: None),
        **params,
    )


@pytest.fixture(scope="module")
def finished_run(synthetic, tmp_path_factory):
    """One finished benchmark; each test works on its own copy of the output folder."""
    X, y, groups = synthetic
    reg = ModelRegistry()
    reg.register("logreg", _logreg, input="features")
    out = tmp_path_factory.mktemp("finished")
    result = _run(X, y, groups, out, reg)
    return out, result


@pytest.fixture
def copied_run(finished_run, tmp_path):
    out, result = finished_run
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    return tmp_path, result


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:-7]),  # truncated inside the last row
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # half a file
        lambda p: p.write_text(p.read_text().replace("test", "tset", 1)),  # edited
        lambda p: p.with_suffix(".json").write_text("{not json"),  # damaged checksum file
        lambda p: p.with_suffix(".json").unlink(),  # written by an older version / interrupted
    ],
    ids=["truncated-row", "half", "edited", "bad-sidecar", "no-sidecar"],
)
def test_damaged_fold_file_is_recomputed_not_read(synthetic, copied_run, registry, damage):
    X, y, groups = synthetic
    tmp_path, first = copied_run
    damage(tmp_path / "predictions" / "logreg" / "fold2.csv")
    lines = []
    again = _run(X, y, groups, tmp_path, registry, lines)
    assert sum("reused" in line for line in lines) == 2
    assert any("fold2.csv" in line and "recomputing" in line for line in lines), lines
    pd.testing.assert_frame_equal(
        again.predictions["logreg"].sort_values("case").reset_index(drop=True),
        first.predictions["logreg"].sort_values("case").reset_index(drop=True),
    )
    assert again.table.loc[0, "auc"] == first.table.loc[0, "auc"]


def test_a_fold_file_with_valid_checksum_but_other_lesions_is_refused(synthetic, copied_run, registry):
    X, y, groups = synthetic
    tmp_path, _ = copied_run
    path = tmp_path / "predictions" / "logreg" / "fold1.csv"
    frame = pd.read_csv(path).iloc[1:]  # a consistent file (checksum rewritten) missing a lesion
    fingerprint = __import__("json").loads(path.with_suffix(".json").read_text())["fingerprint"]
    fold_store.write_fold(path, frame, fingerprint)
    lines = []
    _run(X, y, groups, tmp_path, registry, lines)
    assert any("does not hold this fold's predictions" in line for line in lines), lines


def test_changed_settings_under_the_same_out_are_recomputed_saying_which(synthetic, copied_run, registry, monkeypatch):
    X, y, groups = synthetic
    tmp_path, _ = copied_run

    def rerun(**kwargs):
        lines = []
        _run(X.copy(), y, groups, tmp_path, registry, lines, **kwargs)
        return lines

    lines = rerun(extractor_params={**FAST, "feature_classes": ["firstorder"]})
    assert any("settings changed" in line and "image preprocessing/extraction settings" in line for line in lines), (
        lines
    )
    assert not any("reused" in line for line in lines)

    lines = rerun(
        extractor_params={**FAST, "feature_classes": ["firstorder"]},
        preprocessor_params={"clip_limit": 0.02},
    )
    assert any("image preprocessing/extraction settings" in line for line in lines)

    lines = rerun(
        extractor_params={**FAST, "feature_classes": ["firstorder"]},
        preprocessor_params={"clip_limit": 0.02},
    )
    assert sum("reused" in line for line in lines) == 3  # nothing changed: the same job resumes

    X2 = X.copy()
    image = X2.iat[5, 0].copy()
    image[10, 10] += 1  # one pixel of one image
    X2.iat[5, 0] = image
    lines = []
    _run(
        X2,
        y,
        groups,
        tmp_path,
        registry,
        lines,
        extractor_params={**FAST, "feature_classes": ["firstorder"]},
        preprocessor_params={"clip_limit": 0.02},
    )
    assert any("image or mask files" in line for line in lines), lines

    monkeypatch.setattr(_files, "package_versions", lambda: {"torch": "0.0-other"})
    lines = []
    _run(
        X2,
        y,
        groups,
        tmp_path,
        registry,
        lines,
        extractor_params={**FAST, "feature_classes": ["firstorder"]},
        preprocessor_params={"clip_limit": 0.02},
    )
    assert any("package versions" in line for line in lines), lines


def test_language_model_folder_change_is_noticed(tmp_path):
    model = tmp_path / "lm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    before = fold_store.language_model_digest(str(model))
    (model / "model.safetensors").write_bytes(b"\0" * 8)
    assert fold_store.language_model_digest(str(model)) != before
    assert fold_store.language_model_digest("org/name") != fold_store.language_model_digest("org/other")


def test_other_labels_under_the_same_out_are_refused(synthetic, copied_run, registry):
    X, y, groups = synthetic
    tmp_path, _ = copied_run
    y2 = y.copy()
    y2[[0, 1]] = 1 - y2[[0, 1]]
    with pytest.raises(
        ValueError,
        match=r"holds predictions for other data or folds.*; labels(, folds)? differ",
    ):
        _run(X, y2, groups, tmp_path, registry)
    with pytest.raises(ValueError, match="folds differ"):
        _run(X, y, groups, tmp_path, registry, cv=4)


# ----------------------------------------------------------------------------- command line
def _cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            ["benchmark", "--dataset", "mias", "--root", "/nonexistent/mias"],
            "--root '/nonexistent/mias' does not exist",
        ),
        (["benchmark", "--dataset", "mias"], "--dataset mias needs --root PATH"),
        (["benchmark", "--dataset", "mias", "--root", "{tmp}"], "Info.txt' not found"),
        (
            ["benchmark", "--dataset", "csv", "--root", "{tmp}/garbage.csv"],
            "not a readable CSV",
        ),
        (
            [
                "benchmark",
                "--dataset",
                "synthetic",
                "--n-samples",
                "20",
                "--models",
                "nonsense",
            ],
            "unknown model",
        ),
        (
            [
                "benchmark",
                "--dataset",
                "synthetic",
                "--language-model",
                "/nonexistent/lm",
            ],
            "no such model folder",
        ),
    ],
    ids=[
        "missing-folder",
        "no-root",
        "wrong-layout",
        "unreadable-csv",
        "unknown-model",
        "missing-language-model",
    ],
)
def test_user_mistakes_exit_2_with_one_clear_message(capsys, tmp_path, argv, fragment):
    (tmp_path / "garbage.csv").write_bytes(b"\xff\xfe\x00\x81" * 50)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, err = _cli(capsys, *argv, "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith("llmrad: error: ") and fragment in err, err
    assert "Traceback" not in err
    code, err = _cli(capsys, *argv, "--out", str(tmp_path / "out"), "--debug")
    assert code == 2 and "Traceback" in err


def test_csv_paths_outside_the_root_need_the_flag(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _png_dataset(tmp_path, n=4)
    (data / "lesions.csv").write_text(
        "image,mask,label\n" + "".join(f"../img{i}.png,../mask{i}.png,{i % 2}\n" for i in range(4))
    )
    code, err = _cli(
        capsys,
        "benchmark",
        "--dataset",
        "csv",
        "--root",
        str(data / "lesions.csv"),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "outside the dataset root" in err and "--allow-outside-root" in err
    X, y, _, _ = load_dataset("csv", data / "lesions.csv", allow_outside_root=True)
    assert len(X) == 4 and y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("argv", [["--cv", "0"], ["--k", "-5"], ["--bootstraps", "many"], ["--holdout", "7:2"]])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--dataset", "synthetic", *argv])
    assert info.value.code == 2
    assert "error: argument" in capsys.readouterr().err
