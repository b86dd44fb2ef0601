"""Tests of the mini-MIAS loader on the real sample (../shared/data/mias-sample)
and on small Info.txt files written by the tests."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from sklearn_llmrad.datasets import load_mias
from sklearn_llmrad.exceptions import DatasetFormatError
from sklearn_llmrad.roi import CircleROI

# Read by hand from the sample's Info.txt: the 15 images on disk hold 14
# lesions with coordinates (mdb005 has two); mdb003 is NORM and mdb216 is a
# calcification without coordinates ("*NOTE 3*").
BENIGN = ["mdb001_1", "mdb005_1", "mdb005_2", "mdb013_1", "mdb081_1", "mdb121_1", "mdb145_1", "mdb212_1"]
MALIGNANT = ["mdb023_1", "mdb058_1", "mdb072_1", "mdb115_1", "mdb148_1", "mdb209_1"]


@pytest.fixture(scope="module")
def mias(mias_root):
    return load_mias(mias_root)


def _read_pgm(path):
    # mini-MIAS files are binary 8-bit 1024 x 1024 PGMs: the pixels are the last 1 MiB
    raw = open(path, "rb").read()
    assert raw[:2] == b"P5"
    return np.frombuffer(raw[-1024 * 1024 :], dtype=np.uint8).reshape(1024, 1024)


def test_rows_and_labels(mias):
    assert sorted(mias.frame.index) == sorted(BENIGN + MALIGNANT)
    labels = dict(zip(mias.frame.index, mias.target))
    assert all(labels[c] == 0 for c in BENIGN)
    assert all(labels[c] == 1 for c in MALIGNANT)
    assert mias.target.dtype.kind == "i"
    assert list(mias.frame.columns) == ["image", "mask", "spacing", "age", "density", "history"]
    assert set(mias.frame["spacing"]) == {(0.2, 0.2)}  # the 50 um scans reduced to 200 um


def test_coordinates_are_flipped_to_top_left_origin(mias):
    # Info.txt: "mdb005 F CIRC B 477 133 30" and "mdb005 F CIRC B 500 168 26"
    assert mias.frame.loc["mdb005_1", "mask"] == CircleROI(row=1024 - 133, col=477, radius=30)
    assert mias.frame.loc["mdb005_2", "mask"] == CircleROI(row=1024 - 168, col=500, radius=26)
    assert mias.frame.loc["mdb001_1", "mask"] == CircleROI(row=599, col=535, radius=197)
    assert mias.frame.loc["mdb005_1", "image"] == mias.frame.loc["mdb005_2", "image"]


def test_flipped_circles_sit_on_denser_tissue_than_unflipped(mias):
    # Masses are denser (brighter) than their surroundings: with the correct
    # flip most circles are brighter than the mirrored (unflipped) position.
    brighter = 0
    for image, roi in zip(mias.frame["image"], mias.frame["mask"]):
        pixels = _read_pgm(image)
        mirrored = CircleROI(row=1024 - roi.row, col=roi.col, radius=roi.radius)
        good = pixels[roi.rasterize(pixels.shape).astype(bool)].mean()
        bad = pixels[mirrored.rasterize(pixels.shape).astype(bool)].mean()
        brighter += good > bad
    assert brighter > len(mias.frame) / 2


def test_excluded_and_missing_images(mias):
    reasons = dict(mias.excluded)
    assert "NORM" in reasons["mdb003"]
    assert "without centre/radius" in reasons["mdb216"]
    assert mias.n_missing_images == 322 - 15
    missing = [c for c, r in mias.excluded if "not present on disk" in r]
    assert len(missing) == 307 and "mdb002" in missing and "mdb001" not in missing
    assert "307 missing" in mias.DESCR


def test_density_and_clinical_columns(mias):
    # MIAS tissue F -> A, G -> B, D -> C (documented mapping)
    assert mias.frame.loc["mdb005_1", "density"] == "A"
    assert mias.frame.loc["mdb001_1", "density"] == "B"
    assert mias.frame.loc["mdb058_1", "density"] == "C"
    assert mias.metadata.loc["mdb058_1", "tissue"] == "D"
    assert mias.frame["age"].isna().all()
    assert mias.frame["history"].isna().all()
    assert "abnormality_class" not in mias.frame.columns


def test_groups_pair_left_and_right_films(mias):
    groups = dict(zip(mias.frame.index, mias.groups))
    assert groups["mdb005_1"] == groups["mdb005_2"]
    assert groups["mdb209_1"] != groups["mdb212_1"]  # patients 105 and 106
    assert len(set(mias.groups)) == 13
    cv = StratifiedGroupKFold(n_splits=3)
    for train, test in cv.split(mias.frame, mias.target, mias.groups):
        assert not set(mias.groups[train]) & set(mias.groups[test])


def test_return_X_y(mias_root, mias):
    X, y = load_mias(mias_root, return_X_y=True)
    assert X.index.equals(mias.frame.index)
    np.testing.assert_array_equal(y, mias.target)


def _write(tmp_path, lines, images=("mdb001", "mdb002")):
    (tmp_path / "Info.txt").write_text("MIAS header text\n\n" + "\n".join(lines) + "\n")
    for name in images:
        (tmp_path / f"{name}.pgm").write_bytes(b"P5 1 1 255\n\x00")
    return tmp_path


def test_left_right_pair_is_one_patient(tmp_path):
    root = _write(
        tmp_path,
        ["mdb001 G CIRC B 535 425 197", "mdb002 G CIRC M 522 280 69", "mdb003 D SPIC M 10 10 5"],
        images=("mdb001", "mdb002", "mdb003"),
    )
    data = load_mias(root)
    assert data.groups[0] == data.groups[1] != data.groups[2]
    assert data.target.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    "line, message",
    [
        ("mdb001 G CIRC X 535 425 197", "severity"),
        ("mdb001 Q CIRC B 535 425 197", "background tissue"),
        ("mdb001 G BLOB B 535 425 197", "abnormality class"),
        ("mdb001 G CIRC B 535 abc 197", "x y radius"),
        ("mdb001 G CIRC B 535 425", "x y radius"),
        ("mdb001 G CIRC B 535 2000 30", "outside"),
        ("mdb001 G", "at least 3 fields"),
        ("mdbX01 G CIRC B 535 425 197", "mdbNNN"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    root = _write(tmp_path, ["mdb002 G NORM", line])
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_mias(root)
    assert "line 4" in str(info.value) and "Info.txt" in str(info.value)


def test_missing_index_and_empty_folder(tmp_path):
    with pytest.raises(DatasetFormatError, match="Info.txt"):
        load_mias(tmp_path)
    _write(tmp_path, ["mdb001 G CIRC B 535 425 197"], images=())
    with pytest.raises(DatasetFormatError, match="0 present"):
        load_mias(tmp_path)
