"""The `llmrad` command: benchmark on the real mini-MIAS sample, CSV datasets, argument errors."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from skimage.io import imsave

from sklearn_llmrad.cli import main, resolve_language_model

FAST_ARGS = [
    "--image-types",
    "Original",
    "--k",
    "15",
    "--epochs",
    "3",
    "--hidden-size",
    "16",
    "--cnn-size",
    "32",
    "--cnn-epochs",
    "1",
    "--bootstraps",
    "200",
]


def test_every_model_runs_on_real_mias(mias_root, tmp_path, capsys):
    """`llmrad benchmark --dataset mias` runs all eleven models on real mammograms."""
    out = tmp_path / "mias"
    code = main(
        ["benchmark", "--dataset", "mias", "--root", str(mias_root), "--cv", "3", "--out", str(out), *FAST_ARGS]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("LANGUAGE MODEL:")
    table = pd.read_csv(out / "results.csv")
    assert list(table["name"]) == [
        "llmrad",
        "llmrad-choice",
        "radiomics-svc",
        "resnet50",
        "efficientnet-b3",
        "wo-biobert",
        "wo-attention",
        "lightgbm",
        "extra-trees",
        "elastic-net",
        "size-lr",
    ]
    assert (table["status"] == "ok").all(), table[["name", "status"]]
    assert table["auc"].between(0, 1).all()
    for name in ("results.md", "results.html", "roc.png", "reliability.png", "top_features_llmrad.png"):
        assert (out / name).is_file(), name


def _write_csv_dataset(root, rows=12):
    rng = np.random.default_rng(0)
    lines = ["image,mask,label,age,density,patient"]
    for i in range(rows):
        image = (rng.normal(100, 10, (64, 64)) + (40 if i % 2 else 0)).clip(0, 255).astype(np.uint8)
        mask = np.zeros((64, 64), np.uint8)
        mask[20:44, 18:46] = 255
        imsave(root / f"img{i}.png", image, check_contrast=False)
        imsave(root / f"mask{i}.png", mask, check_contrast=False)
        lines.append(f"img{i}.png,mask{i}.png,{i % 2},{50 + i},B,p{i // 2}")
    (root / "lesions.csv").write_text("\n".join(lines) + "\n")
    return root / "lesions.csv"


def test_csv_dataset_benchmark(tmp_path, capsys):
    csv = _write_csv_dataset(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "benchmark",
            "--dataset",
            "csv",
            "--root",
            str(csv),
            "--cv",
            "2",
            "--models",
            "radiomics-svc",
            "--out",
            str(out),
            *FAST_ARGS,
        ]
    )
    assert code == 0
    assert pd.read_csv(out / "results.csv").loc[0, "status"] == "ok"


def test_grouped_feature_tokens_from_the_command_line(tmp_path, capsys):
    """--feature-tokens reaches the fusion network (a per-class token network trains and predicts)."""
    csv = _write_csv_dataset(tmp_path, rows=40)
    out = tmp_path / "out"
    args = ["benchmark", "--dataset", "csv", "--root", str(csv), "--cv", "2", "--models", "wo-biobert"]
    code = main([*args, "--out", str(out), *FAST_ARGS, "--feature-tokens", "class"])
    assert code == 0
    assert pd.read_csv(out / "results.csv").loc[0, "status"] == "ok"
    # the ablation is the network already: the deprecated --network-only changes nothing, its folds are reused
    capsys.readouterr()
    with pytest.warns(FutureWarning, match="--network-only is deprecated"):
        assert main([*args, "--out", str(out), *FAST_ARGS, "--feature-tokens", "class", "--network-only"]) == 0
    printed = capsys.readouterr().out
    assert "fold 1/2: finished earlier, reused" in printed
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(out), "--feature-tokens", "pixel"])
    assert exit_info.value.code == 2
    assert "pixel" in capsys.readouterr().err


def test_deprecated_network_only_leaves_out_the_inner_cv_choice(tmp_path, monkeypatch):
    """The method and its ablations are networks anyway; --network-only only drops the llmrad-choice row."""
    import sklearn_llmrad.benchmark as benchmark

    class Stop(Exception):
        pass

    asked = {}

    def record(X, y, groups, *, models=None, **settings):
        asked["models"] = models
        raise Stop

    monkeypatch.setattr(benchmark, "run_benchmark", record)
    args = ["benchmark", "--dataset", "csv", "--root", str(_write_csv_dataset(tmp_path, rows=4)), "--cv", "2"]
    with pytest.raises(Stop):
        main(args)
    assert asked["models"] is None  # every model, llmrad-choice included
    with pytest.warns(FutureWarning, match="network-only"), pytest.raises(Stop):
        main([*args, "--network-only"])
    assert "llmrad" in asked["models"] and "wo-biobert" in asked["models"]
    assert asked["models"] == [name for name in benchmark.available_models() if name != "llmrad-choice"]


def test_save_models_keeps_each_model_refitted_with_its_card(tmp_path, capsys):
    """`--save-models`: OUT/models/NAME.llmrad from images, its card states the benchmark's row and threshold."""
    from sklearn_llmrad import io
    from sklearn_llmrad.datasets import load_csv
    from sklearn_llmrad.model_card import read_model_card, youden_threshold

    csv = _write_csv_dataset(tmp_path, rows=16)
    out = tmp_path / "out"
    args = ["benchmark", "--dataset", "csv", "--root", str(csv), "--cv", "2", "--models", "radiomics-svc,wo-biobert"]
    assert main([*args, "--out", str(out), *FAST_ARGS, "--save-models"]) == 0
    table = pd.read_csv(out / "results.csv").set_index("name")
    lesions = load_csv(csv).frame
    for name in ("radiomics-svc", "wo-biobert"):
        path = out / "models" / f"{name}.llmrad"
        card = read_model_card(path)
        assert card["model"]["name"] == name and card["data"]["n_lesions"] == 16
        assert card["cross_validation"]["auc"] == pytest.approx(table.loc[name, "auc"])
        oof = pd.read_csv(out / "predictions" / name / "fold1.csv")
        oof = pd.concat([oof, pd.read_csv(out / "predictions" / name / "fold2.csv")])
        threshold = youden_threshold(oof["y_true"], oof["y_prob"])
        assert card["threshold"]["value"] == pytest.approx(threshold)
        assert io.read_metadata(path)["threshold"] == pytest.approx(threshold)
        model = io.load(path)
        assert [step for step, _ in model.steps][:2] == ["clahe", "radiomics"]  # it predicts from images
        proba = model.predict_proba(lesions)[:, 1]
        assert proba.shape == (16,) and ((proba >= 0) & (proba <= 1)).all()
        assert (
            (out / "models" / f"{name}.llmrad.md").read_text().startswith(f"# Model card: {table.loc[name, 'model']}")
        )
    with pytest.raises(SystemExit):
        main(["benchmark", "--dataset", "radmlbench", "--root", str(tmp_path), "--transfer", "--save-models"])
    assert "--save-models" in capsys.readouterr().err


def test_csv_dataset_with_malformed_rows_names_them(tmp_path, capsys):
    csv = _write_csv_dataset(tmp_path, rows=4)
    text = csv.read_text().splitlines()
    text[2] = "img1.png,mask1.png,7,51,B,p0"  # label not 0/1
    text[3] = "missing.png,mask2.png,0,52,B,p1"  # missing file
    csv.write_text("\n".join(text) + "\n")
    args = [
        "benchmark",
        "--dataset",
        "csv",
        "--root",
        str(csv),
        "--models",
        "radiomics-svc",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    message = capsys.readouterr().err
    assert message.startswith("llmrad: error: ")
    assert "row 2" in message and "row 3" in message and "Traceback" not in message
    from sklearn_llmrad.exceptions import DatasetFormatError

    assert main(["--debug", *args]) == 2
    debug = capsys.readouterr().err
    assert "Traceback" in debug and DatasetFormatError.__name__ in debug


def test_holdout_argument_is_validated():
    with pytest.raises(SystemExit):
        main(["benchmark", "--dataset", "synthetic", "--holdout", "7:2"])


def test_demo_falls_back_to_bundled_minilm_loudly(minilm_dir):
    model, note = resolve_language_model()
    assert note.startswith("LANGUAGE MODEL:")
    if "BioBERT (" in note:  # a local BioBERT copy is present on this machine
        assert model == "dmis-lab/biobert-base-cased-v1.2"
    else:
        assert "NOT found locally" in note and model == str(minilm_dir)


def test_console_script_lists_models():
    out = subprocess.run(
        [sys.executable, "-m", "sklearn_llmrad.cli", "models"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[:7] == [
        "llmrad",
        "llmrad-choice",
        "radiomics-svc",
        "resnet50",
        "efficientnet-b3",
        "wo-biobert",
        "wo-attention",
    ]


# -- options that cannot work: one `llmrad: error:` line, status 2, nothing fitted ----------------
@pytest.fixture
def no_fitting(monkeypatch):
    """Make any attempt to run the benchmark fail the test."""
    import sklearn_llmrad.benchmark

    def refuse(*args, **kwargs):
        raise AssertionError("the benchmark ran; the options should have been refused first")

    monkeypatch.setattr(sklearn_llmrad.benchmark, "run_benchmark", refuse)


def _one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmrad: error: "), captured.err
    return lines[0], captured.out


@pytest.mark.parametrize("device", ["banana", "cuda:x", "meta", "cpu-ish", ""])
@pytest.mark.parametrize("command", ["benchmark", "pretrain"])
def test_unknown_device_is_refused_before_any_work(command, device, tmp_path, capsys, no_fitting):
    argv = {
        "benchmark": ["benchmark", "--dataset", "synthetic", "--n-samples", "20", "--out", str(tmp_path / "o")],
        "pretrain": ["pretrain", "--tables", str(tmp_path), "--out", str(tmp_path / "prior")],
    }[command]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--device", device])
    assert exit_info.value.code == 2
    line, out = _one_error_line(capsys)
    assert f"--device {device!r}" in line and "cpu, cuda, cuda:N or mps" in line
    assert out == ""  # refused before the language model or the data were looked at
    assert not (tmp_path / "o").exists() and not (tmp_path / "prior").exists()


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_device_missing_on_this_machine_is_refused(device, tmp_path, capsys, monkeypatch, no_fitting):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--dataset", "synthetic", "--out", str(tmp_path / "o"), "--device", device])
    assert exit_info.value.code == 2
    line, _ = _one_error_line(capsys)
    assert f"--device {device!r}" in line and ("not available" in line or "no CUDA GPU" in line)


def test_valid_devices_pass_the_check():
    from sklearn_llmrad.cli.common import check_device as _check_device

    for device in ("auto", "cpu", "cpu:0"):
        _check_device(device)


@pytest.mark.parametrize(
    "options, words",
    [
        (["--cv", "1"], ["--cv 1", "at least 2 folds"]),
        (["--n-jobs", "0"], ["--n-jobs 0"]),
        (["--transfer"], ["--transfer needs --dataset radmlbench"]),
    ],
)
def test_impossible_options_are_refused_before_any_work(options, words, tmp_path, capsys, no_fitting):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--dataset", "synthetic", "--out", str(tmp_path / "o"), *options])
    assert exit_info.value.code == 2
    line, out = _one_error_line(capsys)
    assert all(word in line for word in words), line
    assert out == ""


def test_radmlbench_without_transfer_or_root_is_a_user_error(tmp_path, capsys, no_fitting):
    for extra in ([], ["--transfer"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["benchmark", "--dataset", "radmlbench", *extra])
        assert exit_info.value.code == 2
        line, _ = _one_error_line(capsys)
        assert "radmlbench" in line


@pytest.mark.parametrize(
    "n_samples, options, words",
    [
        ("20", ["--cv", "11"], ["--cv 11", "'synthetic'", "10 patients", "11 patient-grouped folds"]),
        ("4", ["--holdout", "7:2:1"], ["--holdout", "'synthetic'", "2 patients", "at least 3"]),
    ],
)
def test_more_folds_than_patients_names_the_dataset(n_samples, options, words, tmp_path, capsys, no_fitting):
    argv = ["benchmark", "--dataset", "synthetic", "--n-samples", n_samples, "--out", str(tmp_path / "o"), *options]
    assert main(argv) == 2
    line, _ = _one_error_line(capsys)
    assert all(word in line for word in words), line
    assert not (tmp_path / "o").exists()


def test_every_option_of_every_command_has_help_text():
    import argparse

    from sklearn_llmrad.cli import _build_parser

    parser = _build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in commands.items()
        for action in command._actions
        if action.dest != "help" and not action.help
    ]
    assert not missing, f"options without --help text: {missing}"
