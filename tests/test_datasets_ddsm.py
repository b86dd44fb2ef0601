"""The original DDSM loader on a small DDSM-shaped tree: real .ics/.OVERLAY syntax,
16-bit PNG (and lossless JPEG) images, chain codes drawing known shapes."""

import warnings

import numpy as np
import pandas as pd
import pytest
from skimage.io import imsave
from sklearn.model_selection import GroupKFold

from sklearn_llmrad.datasets import load_ddsm
from sklearn_llmrad.datasets.ddsm import (
    chain_code_outline,
    optical_density,
    read_ics,
    read_overlay,
)
from sklearn_llmrad.exceptions import DatasetFormatError
from sklearn_llmrad.imageio import read_image, read_mask

ROWS, COLS = 60, 40

# Shapes as (start col, start row, directions) and the pixels they enclose.
SQUARE = (10, 5, "2 2 2 2 4 4 4 4 6 6 6 6 0 0 0 0")  # rows 5..9, cols 10..14
DIAMOND = (25, 30, "3 3 3 5 5 5 7 7 7 1 1 1")  # centre (33, 25), |dr| + |dc| <= 3
L_SHAPE = (5, 20, "2 2 4 4 4 4 4 2 2 2 2 2 4 4 6 6 6 6 6 6 6 0 0 0 0 0 0 0")
CORE = (25, 32, "3 5 7 1")  # a 3x3 diamond inside DIAMOND


def _expected(shape):
    mask = np.zeros((ROWS, COLS), np.uint8)
    if shape is SQUARE:
        mask[5:10, 10:15] = 1
    elif shape is DIAMOND:
        rr, cc = np.mgrid[:ROWS, :COLS]
        mask[np.abs(rr - 33) + np.abs(cc - 25) <= 3] = 1
    elif shape is L_SHAPE:
        mask[20:28, 5:8] = 1
        mask[25:28, 7:13] = 1
    elif shape is CORE:
        rr, cc = np.mgrid[:ROWS, :COLS]
        mask[np.abs(rr - 33) + np.abs(cc - 25) <= 1] = 1
    return mask


def _chain(shape):
    col, row, directions = shape
    return f"{col} {row} {directions} #"


def _abnormality(
    k,
    *,
    lesion="MASS SHAPE IRREGULAR MARGINS SPICULATED",
    pathology="MALIGNANT",
    assessment=5,
    subtlety=4,
    boundary=SQUARE,
    cores=(),
    total_outlines=None,
    extra_type=None,
):
    lines = [f"ABNORMALITY {k}", f"LESION_TYPE {lesion}"]
    if extra_type:
        lines.append(f"LESION_TYPE {extra_type}")
    lines += [
        f"ASSESSMENT {assessment}",
        f"SUBTLETY {subtlety}",
        f"PATHOLOGY {pathology}",
        f"TOTAL_OUTLINES {total_outlines or 1 + len(cores)} ",
        "BOUNDARY",
        _chain(boundary) if isinstance(boundary, tuple) else boundary,
    ]
    for core in cores:
        lines += ["\tCORE", _chain(core)]
    return lines


def _overlay(*abnormalities, total=None):
    lines = [f"TOTAL_ABNORMALITIES {total if total is not None else len(abnormalities)}"]
    for a in abnormalities:
        lines += a
    return "\n".join(lines) + "\n"


def _image(rows=ROWS, cols=COLS, seed=0, lesion=None, bright=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(20000, 2500, (rows, cols))
    if lesion is not None:
        image[lesion.astype(bool)] += bright
    return image.clip(0, 65535).astype(np.uint16)


def write_case(
    root,
    category,
    volume,
    number,
    *,
    prefix="A",
    age="62",
    density="3",
    digitizer="DBA 21",
    views=None,
    overlays=(),
    image_format="png",
    image_sizes=None,
    lesion_brightness=None,
):
    """Write one DDSM case folder; ``overlays`` maps view -> overlay text."""
    folder = root / "cases" / category / volume / f"case{number:04d}"
    folder.mkdir(parents=True)
    name = f"{prefix}_{number:04d}_1"
    views = views or ("LEFT_CC", "LEFT_MLO", "RIGHT_CC", "RIGHT_MLO")
    lines = ["ics_version 1.0", f"filename {name.replace('_', '-')}", "DATE_OF_STUDY 11 3 1995"]
    if age is not None:
        lines.append(f"PATIENT_AGE {age}")
    lines += ["FILM", "FILM_TYPE REGULAR"]
    if density is not None:
        lines.append(f"DENSITY {density}")
    lines += ["DATE_DIGITIZED 22 7 1997", f"DIGITIZER {digitizer}", "SELECTED"]
    overlays = dict(overlays)
    for view in views:
        flag = "OVERLAY" if view in overlays else "NON_OVERLAY"
        lines.append(f"{view} LINES {ROWS} PIXELS_PER_LINE {COLS} BITS_PER_PIXEL 16 RESOLUTION 50 {flag}")
    (folder / f"{name.replace('_', '-')}.ics").write_text("\n".join(lines) + "\n")
    for i, view in enumerate(("LEFT_CC", "LEFT_MLO", "RIGHT_CC", "RIGHT_MLO")):
        rows, cols = (image_sizes or {}).get(view, (ROWS, COLS))
        lesion = (
            None
            if lesion_brightness is None
            else np.pad(np.ones((20, 16), np.uint8), ((20, rows - 40), (12, cols - 28)))
        )
        image = _image(rows, cols, seed=number * 10 + i, lesion=lesion, bright=lesion_brightness or 0)
        if image_format == "png":
            imsave(folder / f"{name}.{view}.png", image, check_contrast=False)
        else:
            import imagecodecs

            (folder / f"{name}.{view}.LJPEG").write_bytes(imagecodecs.ljpeg_encode(image, bitspersample=16))
    for view, text in overlays.items():
        (folder / f"{name}.{view}.OVERLAY").write_text(text)
    return folder, name


@pytest.fixture
def ddsm_root(tmp_path):
    write_case(
        tmp_path,
        "cancers",
        "cancer_01",
        1,
        prefix="A",
        overlays={
            "LEFT_CC": _overlay(
                _abnormality(1, boundary=SQUARE),
                _abnormality(
                    2,
                    lesion="CALCIFICATION TYPE PLEOMORPHIC DISTRIBUTION CLUSTERED",
                    pathology="BENIGN",
                    assessment=3,
                    subtlety=2,
                    boundary=DIAMOND,
                    cores=(CORE,),
                ),
            ),
            "LEFT_MLO": _overlay(_abnormality(1, boundary=L_SHAPE)),
        },
    )
    write_case(
        tmp_path,
        "benign_without_callbacks",
        "bwc_01",
        2,
        prefix="B",
        age="45",
        density="1",
        digitizer="LUMISYS LASER",
        overlays={
            "RIGHT_MLO": _overlay(
                _abnormality(
                    1,
                    lesion="MASS SHAPE OVAL MARGINS CIRCUMSCRIBED",
                    pathology="BENIGN_WITHOUT_CALLBACK",
                    assessment=2,
                    boundary=DIAMOND,
                )
            ),
        },
    )
    write_case(
        tmp_path,
        "benigns",
        "benign_01",
        3,
        prefix="D",
        age=None,
        density="2",
        digitizer="HOWTEK 1",
        overlays={
            "RIGHT_CC": _overlay(
                _abnormality(
                    1,
                    pathology="BENIGN",
                    total_outlines=3,
                    extra_type="CALCIFICATION TYPE AMORPHOUS DISTRIBUTION CLUSTERED",
                )
            )
        },
    )
    write_case(tmp_path, "normals", "normal_01", 4, prefix="A")
    return tmp_path


def _load(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_ddsm(root, **kwargs)


def test_rows_labels_groups_and_clinical_columns(ddsm_root):
    with pytest.warns(UserWarning) as record:
        data = load_ddsm(ddsm_root)
    messages = " ".join(str(w.message) for w in record)
    # missing PATIENT_AGE and the wrong TOTAL_OUTLINES are warned about, naming the case
    assert "D_0003_1" in messages and "PATIENT_AGE" in messages and "TOTAL_OUTLINES 3" in messages
    assert sorted(data.frame.index) == [
        "A_0001_1.LEFT_CC_1",
        "A_0001_1.LEFT_CC_2",
        "A_0001_1.LEFT_MLO_1",
        "B_0002_1.RIGHT_MLO_1",
        "D_0003_1.RIGHT_CC_1",
    ]
    target = pd.Series(data.target, index=data.frame.index)
    assert target.to_dict() == {
        "A_0001_1.LEFT_CC_1": 1,
        "A_0001_1.LEFT_CC_2": 0,
        "A_0001_1.LEFT_MLO_1": 1,
        "B_0002_1.RIGHT_MLO_1": 0,
        "D_0003_1.RIGHT_CC_1": 0,
    }
    groups = pd.Series(data.groups, index=data.frame.index)
    assert groups["A_0001_1.LEFT_CC_1"] == groups["A_0001_1.LEFT_CC_2"] == groups["A_0001_1.LEFT_MLO_1"]
    assert groups.nunique() == 3
    for train, test in GroupKFold(n_splits=3).split(data.frame, data.target, data.groups):
        assert not set(groups.iloc[train]) & set(groups.iloc[test])
    assert data.frame.loc["A_0001_1.LEFT_CC_1", "age"] == 62
    assert data.frame.loc["B_0002_1.RIGHT_MLO_1", "age"] == 45
    assert np.isnan(data.frame.loc["D_0003_1.RIGHT_CC_1", "age"])
    assert data.frame["density"].to_dict() == {
        "A_0001_1.LEFT_CC_1": "C",
        "A_0001_1.LEFT_CC_2": "C",
        "A_0001_1.LEFT_MLO_1": "C",
        "B_0002_1.RIGHT_MLO_1": "A",
        "D_0003_1.RIGHT_CC_1": "B",
    }
    assert data.excluded == [("A_0004_1", "normal case: no abnormality")]
    assert data.frame.loc["A_0001_1.LEFT_CC_1", "image"].endswith("A_0001_1.LEFT_CC.png")
    assert list(data.frame.columns) == ["image", "mask", "spacing", "age", "density", "history"]
    assert all(isinstance(s, tuple) and len(s) == 2 and 0.04 <= s[0] <= 0.05 for s in data.frame["spacing"])
    frame, y = _load(ddsm_root, return_X_y=True)
    assert frame.equals(data.frame) and np.array_equal(y, data.target)


def test_masks_match_the_chain_codes_pixel_by_pixel(ddsm_root):
    data = _load(ddsm_root)
    for case, shape in (
        ("A_0001_1.LEFT_CC_1", SQUARE),
        ("A_0001_1.LEFT_CC_2", DIAMOND),
        ("A_0001_1.LEFT_MLO_1", L_SHAPE),
        ("B_0002_1.RIGHT_MLO_1", DIAMOND),
    ):
        image = read_image(data.frame.loc[case, "image"])
        assert image.shape == (ROWS, COLS) and image.dtype == np.uint16
        mask = read_mask(data.frame.loc[case, "mask"], image.shape)
        np.testing.assert_array_equal(mask, _expected(shape), err_msg=case)
    core = data.metadata.loc["A_0001_1.LEFT_CC_2", "cores"]
    assert len(core) == 1
    np.testing.assert_array_equal(core[0].rasterize((ROWS, COLS)), _expected(CORE))


def test_metadata_keeps_pathology_descriptors_and_digitiser(ddsm_root):
    meta = _load(ddsm_root).metadata
    assert meta.loc["B_0002_1.RIGHT_MLO_1", "pathology"] == "BENIGN_WITHOUT_CALLBACK"
    assert meta["benign_without_callback"].sum() == 1
    row = meta.loc["A_0001_1.LEFT_CC_2"]
    assert (row["lesion_types"], row["calc_type"], row["calc_distribution"]) == (
        "calcification",
        "PLEOMORPHIC",
        "CLUSTERED",
    )
    assert (row["assessment"], row["subtlety"], row["n_outlines"], row["view"]) == (3, 2, 2, "LEFT_CC")
    assert meta.loc["D_0003_1.RIGHT_CC_1", "lesion_types"] == "mass+calcification"
    assert meta.loc["A_0001_1.LEFT_CC_1", "shape"] == "IRREGULAR"
    assert meta.loc["A_0001_1.LEFT_CC_1", "margins"] == "SPICULATED"
    assert meta["od_calibration"].to_dict() == {
        "A_0001_1.LEFT_CC_1": "DBA-MGH",
        "A_0001_1.LEFT_CC_2": "DBA-MGH",
        "A_0001_1.LEFT_MLO_1": "DBA-MGH",
        "B_0002_1.RIGHT_MLO_1": "LUMISYS-WFUSM",
        "D_0003_1.RIGHT_CC_1": "HOWTEK-ISMD",
    }
    assert meta.loc["A_0001_1.LEFT_CC_1", "category"] == "cancers"
    assert meta.loc["A_0001_1.LEFT_CC_1", "bits_per_pixel"] == 16
    assert meta.loc["A_0001_1.LEFT_CC_1", "file_bits"] == 16


def test_abnormality_filter(ddsm_root):
    masses = _load(ddsm_root, abnormality="mass")
    assert "A_0001_1.LEFT_CC_2" not in masses.frame.index  # the calcification
    assert "D_0003_1.RIGHT_CC_1" in masses.frame.index  # mass + calcification
    calcs = _load(ddsm_root, abnormality=("calcification",))
    assert sorted(calcs.frame.index) == ["A_0001_1.LEFT_CC_2", "D_0003_1.RIGHT_CC_1"]
    with pytest.raises(ValueError, match="abnormality"):
        load_ddsm(ddsm_root, abnormality="tumour")


def _corrupt(root, kind):
    folder = root / "cases" / "cancers" / "cancer_01" / "case0001"
    overlay = folder / "A_0001_1.LEFT_CC.OVERLAY"
    if kind == "truncated":
        text = overlay.read_text().replace(_chain(SQUARE), _chain(SQUARE)[:-2])  # drop the '#'
        overlay.write_text(text)
        return "A_0001_1.LEFT_CC_1", "truncated"
    if kind == "outside":
        overlay.write_text(overlay.read_text().replace(_chain(SQUARE), f"{COLS - 2} 5 2 2 2 4 6 6 6 0 #"))
        return "A_0001_1.LEFT_CC_1", "leaves the 60 x 40 image"
    if kind == "direction":
        overlay.write_text(overlay.read_text().replace(_chain(SQUARE), "10 5 2 2 9 6 6 #"))
        return "A_0001_1.LEFT_CC_1", "direction '9'"
    if kind == "view-not-in-ics":
        ics = folder / "A-0001-1.ics"
        ics.write_text("\n".join(ln for ln in ics.read_text().splitlines() if not ln.startswith("LEFT_MLO")))
        return "A_0001_1.LEFT_MLO", "does not list"
    if kind == "size":
        image = _image(ROWS + 4, COLS)
        imsave(folder / "A_0001_1.LEFT_MLO.png", image, check_contrast=False)
        return "A_0001_1.LEFT_MLO", "64 x 40 pixels but A-0001-1.ics says LINES 60"
    if kind == "missing-abnormality":
        overlay.write_text(overlay.read_text().replace("TOTAL_ABNORMALITIES 2", "TOTAL_ABNORMALITIES 3"))
        return "A_0001_1.LEFT_CC_3", "no ABNORMALITY 3"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["truncated", "outside", "direction", "view-not-in-ics", "size", "missing-abnormality"]
)
def test_bad_input_raises_or_is_excluded(ddsm_root, kind):
    ident, reason = _corrupt(ddsm_root, kind)
    with pytest.raises(DatasetFormatError) as err:
        _load(ddsm_root, on_error="raise")
    assert ident in str(err.value) and reason in str(err.value)
    with pytest.warns(UserWarning, match="excluded for bad input"):
        data = load_ddsm(ddsm_root)  # on_error="exclude" is the default
    entries = [e for e in data.excluded if e[0] == ident]
    assert len(entries) == 1 and reason in entries[0][1], data.excluded
    assert ".OVERLAY" in entries[0][1] or ".png" in entries[0][1] or ".ics" in entries[0][1]
    # only the bad abnormality (or view) is dropped; the others load unchanged
    assert "B_0002_1.RIGHT_MLO_1" in data.frame.index
    if kind in ("truncated", "outside", "direction"):
        assert "A_0001_1.LEFT_CC_2" in data.frame.index
        np.testing.assert_array_equal(
            read_mask(data.frame.loc["A_0001_1.LEFT_CC_2", "mask"], (ROWS, COLS)), _expected(DIAMOND)
        )
    if kind in ("view-not-in-ics", "size"):
        assert "A_0001_1.LEFT_MLO_1" not in data.frame.index
        assert "A_0001_1.LEFT_CC_1" in data.frame.index


def test_missing_image_names_both_accepted_forms(tmp_path):
    folder, name = write_case(tmp_path, "cancers", "cancer_01", 7, overlays={"LEFT_CC": _overlay(_abnormality(1))})
    (folder / f"{name}.LEFT_CC.png").unlink()
    with pytest.raises(DatasetFormatError, match=r"neither A_0007_1.LEFT_CC.LJPEG nor a 16-bit PNG/TIFF"):
        load_ddsm(tmp_path, on_error="raise")


def test_unknown_pathology_and_empty_root(tmp_path):
    with pytest.raises(DatasetFormatError, match="no DDSM case folder"):
        load_ddsm(tmp_path)
    write_case(
        tmp_path,
        "cancers",
        "cancer_01",
        8,
        overlays={"LEFT_CC": _overlay(_abnormality(1, pathology="UNPROVEN"), _abnormality(2))},
    )
    data = _load(tmp_path, on_error="raise")  # no label is not an error
    assert list(data.frame.index) == ["A_0008_1.LEFT_CC_2"]
    assert data.excluded[0][0] == "A_0008_1.LEFT_CC_1" and "UNPROVEN" in data.excluded[0][1]


def test_lossless_jpeg_views_are_decoded_with_the_ics_size(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    folder, name = write_case(
        tmp_path, "cancers", "cancer_01", 5, image_format="ljpeg", overlays={"LEFT_CC": _overlay(_abnormality(1))}
    )
    data = _load(tmp_path)
    path = data.frame.loc[f"{name}.LEFT_CC_1", "image"]
    assert path.endswith(".LEFT_CC.LJPEG") and data.metadata["image_source"].iloc[0] == "ljpeg"
    pixels = read_image(path)
    expected = imagecodecs.ljpeg_decode((folder / f"{name}.LEFT_CC.LJPEG").read_bytes())
    assert pixels.shape == (ROWS, COLS) and pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels, expected)
    # the encoder is lossless: the decoded pixels are the ones written
    np.testing.assert_array_equal(pixels, _image(seed=50))
    # the preprocessing stage reads the .LJPEG row like any other image
    from sklearn_llmrad import CLAHEPreprocessor

    out = CLAHEPreprocessor(min_size=8).fit_transform(data.frame)
    crop = np.asarray(out["image"].iloc[0])
    assert crop.ndim == 2 and crop.shape[0] >= 5 and crop.shape[1] >= 5
    # a PNG conversion next to the LJPEG is preferred
    imsave(folder / f"{name}.LEFT_CC.png", _image(seed=99), check_contrast=False)
    assert _load(tmp_path).frame.iloc[0]["image"].endswith(".LEFT_CC.png")


def test_lossless_jpeg_of_the_wrong_size_is_caught_from_its_header(tmp_path):
    pytest.importorskip("imagecodecs")
    write_case(
        tmp_path,
        "cancers",
        "cancer_01",
        6,
        image_format="ljpeg",
        image_sizes={"LEFT_CC": (ROWS, COLS + 3)},
        overlays={"LEFT_CC": _overlay(_abnormality(1))},
    )
    with pytest.raises(DatasetFormatError, match=r"60 x 43 pixels but A-0006-1.ics says"):
        load_ddsm(tmp_path, on_error="raise")


def test_corrupt_lossless_jpeg_error_says_what_to_provide(tmp_path):
    pytest.importorskip("imagecodecs")
    from sklearn_llmrad.exceptions import ImageReadError

    bad = tmp_path / "A_0001_1.LEFT_CC.LJPEG"
    bad.write_bytes(b"\xff\xd8\xff\xc3\x00\x0b\x10\x00\x3c\x00\x28\x01\x01\x11\x00garbage")
    with pytest.raises(ImageReadError, match=r"cannot decode lossless JPEG .*16-bit PNG/TIFF conversion"):
        read_image(bad, case="c1")


def test_read_ics_tolerates_unknown_values(tmp_path):
    ics = tmp_path / "C-0009-1.ics"
    ics.write_text(
        "filename C-0009-1\nPATIENT_AGE unknown-ish\nDENSITY 7\n"
        "LEFT_CC LINES 100 PIXELS_PER_LINE x BITS_PER_PIXEL 12 OVERLAY\n"
        "RIGHT_CC LINES 100 PIXELS_PER_LINE 80 BITS_PER_PIXEL 12 RESOLUTION 43.5 NON_OVERLAY\n"
    )
    info = read_ics(ics)
    assert np.isnan(info["age"]) and info["density"] is None and info["digitizer"] is None
    assert info["views"]["LEFT_CC"]["rows"] == 100 and np.isnan(info["views"]["LEFT_CC"]["cols"])
    assert info["views"]["LEFT_CC"]["overlay"] and not info["views"]["RIGHT_CC"]["overlay"]
    assert info["views"]["RIGHT_CC"]["resolution"] == 43.5  # the Howtek scanner's microns
    text = " | ".join(info["problems"])
    assert "PATIENT_AGE 'unknown-ish'" in text and "DENSITY '7'" in text and "PIXELS_PER_LINE 'x'" in text
    assert "no DIGITIZER" in text and "line 2" in text


def test_read_overlay_multi_line_chain_and_counts(tmp_path):
    f = tmp_path / "x.OVERLAY"
    f.write_text(_overlay(_abnormality(1, boundary="10 5 2 2 2 2 4 4\n4 4 6 6 6 6 0 0 0 0 #", extra_type="OTHER")))
    (a,) = read_overlay(f)
    assert [d["kind"] for d in a["descriptions"]] == ["mass", "other"]
    rows, cols = a["boundary"]
    assert len(rows) == 17 and (rows[-1], cols[-1]) == (5, 10)
    f.write_text(_overlay(_abnormality(1), total=2))
    with pytest.raises(DatasetFormatError, match="TOTAL_ABNORMALITIES 2 but 1"):
        read_overlay(f)


def test_chain_code_directions_follow_ddsm_convention():
    # 0 = up, 1 = up-right, 2 = right, 3 = down-right, 4 = down, 5 = down-left, 6 = left, 7 = up-left
    rows, cols = chain_code_outline(10, 10, list("01234567"))
    steps = list(zip(np.diff(rows).tolist(), np.diff(cols).tolist()))
    assert steps == [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]
    with pytest.raises(ValueError, match="'8'"):
        chain_code_outline(0, 0, ["8"])


def test_optical_density_calibrations():
    # DBA (MGH): the step-wedge table published with the calibration (OD, mean grey level)
    table = [(0.04, 55722), (0.50, 18445), (1.13, 3797), (1.59, 1217), (2.07, 393), (2.52, 132), (3.13, 34)]
    od = optical_density([gl for _, gl in table], calibration="DBA-MGH")
    np.testing.assert_allclose(od, [o for o, _ in table], atol=0.1)
    for name in ("HOWTEK-MGH", "HOWTEK-ISMD", "LUMISYS-WFUSM"):
        low, high = optical_density([0, 4095], calibration=name)
        assert 3.5 < low < 4.2 and -0.2 < high < 0.2, name  # 12-bit range spans film densities
    with pytest.raises(ValueError, match="unknown calibration"):
        optical_density(1, calibration="VIDAR")


def _benchmark_tree(root, n_cases=8):
    for i in range(n_cases):
        malignant = i % 2 == 0
        write_case(
            root,
            "cancers" if malignant else "benigns",
            "vol_01",
            100 + i,
            lesion_brightness=(9000 if malignant else 2000),
            overlays={
                "LEFT_CC": _overlay(
                    _abnormality(
                        1,
                        pathology="MALIGNANT" if malignant else "BENIGN",
                        boundary=(12, 20, " ".join("2" * 15 + "4" * 19 + "6" * 15 + "0" * 19)),
                    )
                )
            },
        )
    return root


def test_cli_benchmark_runs_on_ddsm(tmp_path, capsys, minilm_dir):
    from sklearn_llmrad.cli import main

    root = _benchmark_tree(tmp_path / "ddsm")
    # the ROI drawn by the chain code is the bright lesion written into the image
    data = _load(root)
    assert len(data.frame) == 8 and data.target.sum() == 4
    row = data.frame.iloc[int(np.flatnonzero(data.target == 1)[0])]
    image = read_image(row["image"])
    mask = read_mask(row["mask"], image.shape).astype(bool)
    assert mask.sum() == 20 * 16 and image[mask].mean() > image[~mask].mean() + 5000
    out = tmp_path / "out"
    code = main(
        [
            "benchmark",
            "--dataset",
            "ddsm",
            "--root",
            str(root),
            "--cv",
            "2",
            "--models",
            "radiomics-svc",
            "--out",
            str(out),
            "--language-model",
            str(minilm_dir),
            "--image-types",
            "Original",
            "--k",
            "10",
            "--bootstraps",
            "50",
        ]
    )
    assert code == 0
    assert "DDSM" in capsys.readouterr().out
    table = pd.read_csv(out / "results.csv")
    assert table.loc[0, "status"] == "ok", table
    assert 0 <= table.loc[0, "auc"] <= 1


def test_gzipped_files_are_pointed_out(tmp_path):
    folder, name = write_case(tmp_path, "cancers", "cancer_01", 9, overlays={"LEFT_CC": _overlay(_abnormality(1))})
    overlay = folder / f"{name}.LEFT_CC.OVERLAY"
    overlay.rename(folder / f"{name}.LEFT_CC.OVERLAY.gz")
    with pytest.raises(DatasetFormatError, match=r"without any .OVERLAY file .*un-gzip them first"):
        load_ddsm(tmp_path, on_error="raise")


def test_parameters_are_validated(tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        load_ddsm(tmp_path, on_error="ignore")
    with pytest.raises((TypeError, ValueError), match="root"):
        load_ddsm(3)


def test_a_case_copied_into_two_volumes_is_reported(tmp_path):
    write_case(tmp_path, "cancers", "cancer_01", 10, overlays={"LEFT_CC": _overlay(_abnormality(1))})
    write_case(tmp_path, "cancers", "cancer_02", 10, overlays={"LEFT_CC": _overlay(_abnormality(1))})
    with pytest.raises(DatasetFormatError, match="A_0010_1 appears twice"):
        load_ddsm(tmp_path, on_error="raise")
    data = _load(tmp_path, on_error="exclude")
    assert list(data.frame.index) == ["A_0010_1.LEFT_CC_1"]


def test_mutated_ics_and_overlay_files_end_in_a_clear_error_or_a_result(tmp_path):
    """Fuzz: any edit of the text files gives a load or a DatasetFormatError /
    ValueError with a message -- never an unrelated traceback."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    folder, name = write_case(
        tmp_path,
        "cancers",
        "cancer_01",
        11,
        overlays={
            "LEFT_CC": _overlay(_abnormality(1, boundary=SQUARE), _abnormality(2, boundary=DIAMOND, cores=(CORE,)))
        },
    )
    overlay, ics = folder / f"{name}.LEFT_CC.OVERLAY", folder / "A-0011-1.ics"
    originals = {overlay: overlay.read_text(), ics: ics.read_text()}
    words = [
        "TOTAL_ABNORMALITIES",
        "ABNORMALITY",
        "LESION_TYPE",
        "MASS",
        "CALCIFICATION",
        "OTHER",
        "SHAPE",
        "MARGINS",
        "TYPE",
        "DISTRIBUTION",
        "ASSESSMENT",
        "SUBTLETY",
        "PATHOLOGY",
        "MALIGNANT",
        "TOTAL_OUTLINES",
        "BOUNDARY",
        "\tCORE",
        "#",
        "LEFT_CC",
        "LINES",
        "PIXELS_PER_LINE",
        "PATIENT_AGE",
        "DENSITY",
        "DIGITIZER",
        "-1",
        "0",
        "7",
        "9",
        "60",
        "40",
        "99999999999999999999",
        "1e3",
        "x",
        "\u00e9",
    ]
    line = st.lists(st.sampled_from(words), max_size=6).map(" ".join)

    @settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(
        which=st.sampled_from([overlay, ics]),
        edits=st.lists(
            st.tuples(st.integers(0, 40), st.sampled_from(["replace", "insert", "delete"]), line),
            min_size=1,
            max_size=4,
        ),
        cut=st.one_of(st.none(), st.integers(0, 400)),
        on_error=st.sampled_from(["raise", "exclude"]),
    )
    def run(which, edits, cut, on_error):
        lines = originals[which].splitlines()
        for index, action, text in edits:
            index = min(index, len(lines))
            if action == "insert":
                lines.insert(index, text)
            elif index < len(lines):
                lines[index : index + 1] = [] if action == "delete" else [text]
        text = "\n".join(lines)
        which.write_text(text[:cut] if cut is not None else text, encoding="utf-8")
        try:
            data = _load(tmp_path, on_error=on_error)
        except (DatasetFormatError, ValueError) as exc:
            assert str(exc).strip()
        else:
            for roi in data.frame["mask"]:
                assert roi.rasterize((ROWS, COLS)).any()
        finally:
            for path, original in originals.items():
                path.write_text(original)

    run()


def test_lossless_jpeg_decoded_beyond_its_precision_is_refused(tmp_path):
    """A decode whose values exceed the header's precision is a misread stream
    (the failure mode reported for some DDSM files): refused, not passed on."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from sklearn_llmrad.exceptions import ImageReadError

    image = np.full((6, 5), 4095, np.uint16)
    image[2, 3] = 60000  # not representable in 12 bits
    data = bytearray(imagecodecs.ljpeg_encode(image, bitspersample=16))
    sof = data.index(b"\xff\xc3")
    assert data[sof + 4] == 16
    data[sof + 4] = 12  # the header now claims 12-bit data
    path = tmp_path / "x.LEFT_CC.LJPEG"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"in a 12-bit image.*16-bit PNG/TIFF conversion"):
        read_image(path)


def test_frame_header_parser_on_arbitrary_bytes():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sklearn_llmrad.imageio import ljpeg_frame_header

    header = bytes.fromhex("ffd8 ffc3 000b 10 003c 0028 01 011100")

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(prefix=st.binary(max_size=20), body=st.binary(max_size=60), keep=st.integers(0, len(header)))
    def run(prefix, body, keep):
        try:
            precision, rows, cols = ljpeg_frame_header(prefix + header[:keep] + body)
        except ValueError as exc:
            assert str(exc)
        else:
            assert 0 <= precision < 256 and 0 <= rows < 65536 and 0 <= cols < 65536

    run()
    assert ljpeg_frame_header(b"junk" + header) == (16, 60, 40)


def test_labels_false_gives_the_same_frame_without_target(ddsm_root):
    labelled, unlabelled = _load(ddsm_root), _load(ddsm_root, labels=False)
    assert unlabelled.target is None and set(labelled.target) == {0, 1}
    assert unlabelled.frame.drop(columns="mask").equals(labelled.frame.drop(columns="mask"))
    for left, right in zip(labelled.frame["mask"], unlabelled.frame["mask"], strict=True):
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))
