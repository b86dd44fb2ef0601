"""``llmrad extract``: features, labels and provenance of every lesion as CSV."""

import argparse
import ast
import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from skimage.io import imsave

from sklearn_llmrad.cli import _build_parser, main
from sklearn_llmrad.pipelines import make_feature_extraction_pipeline

SMALL = "imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  shape2D:\nsetting:\n  binCount: 16\n"
BOXES = {"c0": (10, 12, 20, 16), "c1": (30, 8, 14, 24), "c2": (20, 20, 25, 25)}  # x, y, width, height


@pytest.fixture
def study(tmp_path):
    """Three lesions on 64 x 64 PNGs, a labelled and an unlabelled CSV, a small PyRadiomics file."""
    rng = np.random.default_rng(0)
    rows = []
    for k, (case, (x, y, w, h)) in enumerate(BOXES.items()):
        image = rng.integers(500, 3000, (64, 64)).astype(np.uint16)
        image[y : y + h, x : x + w] += 800
        mask = np.zeros((64, 64), np.uint8)
        mask[y : y + h, x : x + w] = 1
        imsave(tmp_path / f"{case}.png", image, check_contrast=False)
        imsave(tmp_path / f"{case}_mask.png", mask, check_contrast=False)
        rows.append(f"{case},{case}.png,{case}_mask.png,{k % 2},0.1,{50 + k}")
    (tmp_path / "train.csv").write_text("case,image,mask,label,spacing,age\n" + "\n".join(rows) + "\n")
    unlabelled = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in rows]
    (tmp_path / "new.csv").write_text("case,image,mask,spacing,age\n" + "\n".join(unlabelled) + "\n")
    (tmp_path / "small.yaml").write_text(SMALL)
    return tmp_path


def _extract(*argv):
    assert main(["extract", *map(str, argv)]) == 0
    return pd.read_csv(argv[argv.index("--out") + 1], index_col="case", keep_default_na=False)


def test_dataset_csv_rows_labels_and_provenance(study):
    out = study / "features.csv"
    table = _extract("--dataset", "csv", "--root", study / "train.csv", "--params", study / "small.yaml", "--out", out)
    assert table.index.tolist() == list(BOXES)
    assert table["label"].tolist() == [0, 1, 0]
    features = [c for c in table.columns if c.startswith("original_")]
    assert {c.split("_")[1] for c in features} == {"firstorder", "shape2D"}
    assert table[features].apply(pd.to_numeric).notna().all().all()
    for case, (x, y, w, h) in BOXES.items():
        row = table.loc[case]
        assert (
            row["diagnostics_Image-original_SHA256"] == hashlib.sha256((study / f"{case}.png").read_bytes()).hexdigest()
        )
        assert row["diagnostics_Mask-original_BoundingBox"] == str((x, y, w, h))
        assert row["diagnostics_Image-original_Spacing"] == "(0.1, 0.1)"
        assert row["diagnostics_Image-interpolated_Spacing"] == "(0.1, 0.1)"  # the package's resample_to
        assert row["diagnostics_Error"] == ""
        assert row["original_shape2D_PixelSurface"] == pytest.approx(w * h * 0.01, rel=0.05)
    import radiomics

    assert set(table["diagnostics_Versions_PyRadiomics"]) == {str(radiomics.__version__)}
    assert set(table["diagnostics_Versions_Numpy"]) == {np.__version__}
    for column in ("sklearn_llmrad", "SimpleITK"):
        assert table[f"diagnostics_Versions_{column}"].str.len().min() > 0
    assert table["diagnostics_Configuration_SettingsHash"].nunique() == 1
    assert table["age"].tolist() == [50.0, 51.0, 52.0]  # clinical columns pass through


def test_without_labels_same_features_no_label_column(study):
    labelled = _extract("--dataset", "csv", "--root", study / "train.csv", "--params", study / "small.yaml",
                        "--out", study / "a.csv")  # fmt: skip
    unlabelled = _extract("--dataset", "csv", "--root", study / "new.csv", "--params", study / "small.yaml",
                          "--out", study / "b.csv")  # fmt: skip
    assert "label" not in unlabelled.columns
    pd.testing.assert_frame_equal(unlabelled, labelled.drop(columns="label"))


def test_settings_hash_follows_the_params(study):
    small = _extract("--dataset", "csv", "--root", study / "new.csv", "--params", study / "small.yaml",
                     "--out", study / "a.csv")  # fmt: skip
    (study / "other.yaml").write_text(SMALL.replace("binCount: 16", "binCount: 8"))
    other = _extract("--dataset", "csv", "--root", study / "new.csv", "--params", study / "other.yaml",
                     "--out", study / "b.csv")  # fmt: skip
    column = "diagnostics_Configuration_SettingsHash"
    assert small[column].iloc[0] != other[column].iloc[0]
    assert (small["original_firstorder_Mean"] == other["original_firstorder_Mean"]).all()  # bins do not move it
    assert (small["original_firstorder_Entropy"] != other["original_firstorder_Entropy"]).all()


def test_default_settings_are_the_default_pipelines(study, capsys):
    """Without --params: CLAHE + PyRadiomics exactly as make_feature_extraction_pipeline computes them."""
    assert main(["extract", str(study / "c0.png"), str(study / "c0_mask.png"), "--spacing", "0.1"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="case")
    assert table.index.tolist() == ["c0.png"]
    X = pd.DataFrame(
        {"image": [str(study / "c0.png")], "mask": [str(study / "c0_mask.png")], "spacing": [(0.1, 0.1)]},
        index=["c0.png"],
    )
    expected = make_feature_extraction_pipeline(extractor_params={"progress": False}).fit_transform(X)
    assert len(expected.columns) > 1000
    np.testing.assert_allclose(table[expected.columns].to_numpy(float), expected.to_numpy(float), rtol=1e-9)


def test_one_lesion_on_stdout_with_case_id(study, capsys):
    argv = ["extract", str(study / "c1.png"), str(study / "c1_mask.png"), "--case", "P7", "--params"]
    with pytest.warns(UserWarning, match="pixel spacing unknown for 'P7'"):
        assert main([*argv, str(study / "small.yaml")]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="case", keep_default_na=False)
    assert table.index.tolist() == ["P7"] and "label" not in table.columns
    assert table.loc["P7", "diagnostics_Mask-original_BoundingBox"] == str(BOXES["c1"])
    assert table.loc["P7", "diagnostics_Image-original_Spacing"] == ""  # a PNG states none
    assert table.loc["P7", "diagnostics_Image-interpolated_Spacing"] == "(1.0, 1.0)"  # so: pixel units


def _break_mask(study):
    imsave(study / "c1_mask.png", np.zeros((64, 64), np.uint8), check_contrast=False)


def test_bad_mask_is_an_error_naming_the_case(study, capsys):
    _break_mask(study)
    argv = ["extract", "--dataset", "csv", "--root", str(study / "train.csv"), "--out", str(study / "f.csv")]
    assert main([*argv, "--params", str(study / "small.yaml")]) == 2
    error = capsys.readouterr().err
    assert "llmrad: error:" in error and "'c1'" in error
    assert not (study / "f.csv").exists()


def test_bad_mask_with_on_error_nan_is_a_nan_row_and_a_warning(study):
    _break_mask(study)
    out = study / "f.csv"
    argv = ["--dataset", "csv", "--root", study / "train.csv", "--params", study / "small.yaml", "--out", out]
    with pytest.warns(UserWarning, match="c1"):
        table = _extract(*argv, "--on-error", "nan")
    assert table.index.tolist() == list(BOXES)  # never silently lost
    features = table[[c for c in table.columns if c.startswith("original_")]].replace("", np.nan).astype(float)
    assert features.loc["c1"].isna().all() and features.drop(index="c1").notna().all().all()
    assert "'c1'" in table.loc["c1", "diagnostics_Error"]
    assert table.loc["c1", "diagnostics_Mask-original_BoundingBox"] == ""
    assert table.loc["c0", "diagnostics_Error"] == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "either --dataset"),
        (["--dataset", "synthetic", "x.png", "m.png"], "either --dataset"),
        (["nope.png", "nope_mask.png"], "IMAGE 'nope.png': no such file"),
        (["--dataset", "synthetic", "--spacing", "0.1"], "--spacing and --case"),
    ],
)
def test_refused_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["extract", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_every_option_has_help_and_version(capsys):
    parser = _build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    extract = sub.choices["extract"]
    for action in extract._actions:
        assert action.help, action.dest
    for option in ("--dataset", "--root", "--out", "--params", "--cache-dir", "--n-jobs", "--on-error"):
        assert option in extract.format_help()
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from sklearn_llmrad import __version__

    assert capsys.readouterr().out.strip() == f"llmrad {__version__}"


def test_mias_sample(mias_root, tmp_path):
    """The real mini-MIAS lesions: one row each, labels, the circle's box, 0.2 mm pixels."""
    from sklearn_llmrad.datasets import load_mias

    (tmp_path / "small.yaml").write_text(SMALL)
    out = tmp_path / "mias.csv"
    table = _extract("--dataset", "mias", "--root", mias_root, "--params", tmp_path / "small.yaml", "--out", out)
    data = load_mias(mias_root)
    assert table.index.tolist() == data.frame.index.tolist()
    assert table["label"].tolist() == data.target.tolist()
    assert set(table["diagnostics_Image-original_Spacing"]) == {"(0.2, 0.2)"}
    case = data.frame.index[0]
    roi = data.frame.loc[case, "mask"]
    x, y, w, h = ast.literal_eval(table.loc[case, "diagnostics_Mask-original_BoundingBox"])
    assert abs(w - 2 * roi.radius) <= 2 and abs(h - 2 * roi.radius) <= 2
    image = data.frame.loc[case, "image"]
    assert table.loc[case, "diagnostics_Image-original_SHA256"] == hashlib.sha256(open(image, "rb").read()).hexdigest()


def test_lesion_too_small_to_extract_keeps_its_row_and_reason(study):
    """Read fine (a box exists) but PyRadiomics needs more than one pixel: the reason is still written."""
    mask = np.zeros((64, 64), np.uint8)
    mask[5, 5] = 1
    imsave(study / "c2_mask.png", mask, check_contrast=False)
    argv = ["--dataset", "csv", "--root", study / "new.csv", "--params", study / "small.yaml", "--out", study / "f.csv"]
    with pytest.warns(UserWarning, match="c2"):
        table = _extract(*argv, "--on-error", "nan")
    assert table.loc["c2", "diagnostics_Mask-original_BoundingBox"] == "(5, 5, 1, 1)"
    assert "'c2'" in table.loc["c2", "diagnostics_Error"]
    assert table.loc["c2", "original_firstorder_Mean"] == ""  # NaN, written empty


def test_cache_and_parallel_workers_give_the_same_table(study):
    base = ["--dataset", "csv", "--root", study / "new.csv", "--params", study / "small.yaml"]
    plain = _extract(*base, "--out", study / "a.csv")
    cached = _extract(*base, "--cache-dir", study / "cache", "--n-jobs", "2", "--out", study / "b.csv")
    again = _extract(*base, "--cache-dir", study / "cache", "--out", study / "c.csv")
    assert any((study / "cache").rglob("*"))
    pd.testing.assert_frame_equal(cached, plain)
    pd.testing.assert_frame_equal(again, plain)


def test_benchmark_refuses_lesions_without_labels(study, capsys):
    argv = ["benchmark", "--dataset", "csv", "--root", str(study / "new.csv"), "--models", "radiomics_svc"]
    assert main([*argv, "--language-model", str(study), "--out", str(study / "res")]) == 2
    assert "have no labels; a benchmark needs them" in capsys.readouterr().err
