"""radMLBench tables: loading through the radMLBench package, clear errors for bad tables."""

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_llmrad.datasets import list_radmlbench, load_radmlbench
from sklearn_llmrad.exceptions import DatasetFormatError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radmlbench"


def write_table(directory, name, text):
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(directory / f"{name}.gz", "wt") as fh:
        fh.write(text)


def test_shared_study_loads_as_frame():
    if not (SHARED / "Ahn2021.gz").is_file():
        pytest.skip("radMLBench tables not present at ../shared/data/radmlbench")
    assert "Ahn2021" in list_radmlbench(SHARED)
    bunch = load_radmlbench("Ahn2021", data_home=SHARED, download_if_missing=False)
    assert bunch.data.shape == (114, 108)
    assert set(bunch.target.unique()) == {0, 1}
    assert list(bunch.feature_names) == list(bunch.data.columns)
    assert "ID" not in bunch.data.columns and "Target" not in bunch.data.columns
    X, y = load_radmlbench("Ahn2021", data_home=SHARED, return_X_y=True, as_frame=False)
    assert isinstance(X, np.ndarray) and X.shape == (114, 108) and y.shape == (114,)


def test_missing_file_offline_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Song2020.*not available locally.*Song2020\.gz.*" + tmp_path.name):
        load_radmlbench("Song2020", data_home=tmp_path, download_if_missing=False)


def test_data_home_from_environment(tmp_path, monkeypatch):
    write_table(tmp_path, "Ahn2021", "ID,Target,a\n1,0,1.0\n2,1,2.0\n")
    monkeypatch.setenv("LLMRAD_RADMLBENCH", str(tmp_path))
    assert list_radmlbench() == ["Ahn2021"]
    assert load_radmlbench("Ahn2021").data.columns.tolist() == ["a"]


def test_unknown_study_is_named(tmp_path):
    with pytest.raises(ValueError, match="'NoSuchStudy' is not a radMLBench study"):
        load_radmlbench("NoSuchStudy", data_home=tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("ID,Outcome,a\n1,0,1.0\n2,1,2.0\n", r"'Ahn2021' has no 'Target' column"),
        ("ID,Target,a\n1,0,1.0\n2,2,2.0\n", r"'Ahn2021': column 'Target' must be binary"),
        ("ID,Target,a,b\n1,0,1.0,\n2,1,2.0,\n", r"'Ahn2021': column 'b' is entirely missing"),
        ("ID,Target,a,a\n1,0,1.0,3\n2,1,2.0,4\n", r"'Ahn2021': duplicate column name 'a'"),
        ("ID,Target,a,b\n1,0,1.0,x\n2,1,2.0,y\n", r"'Ahn2021': column 'b' is not numeric"),
    ],
)
def test_bad_table_error_names_table_and_column(tmp_path, text, message):
    write_table(tmp_path, "Ahn2021", text)
    with pytest.raises(DatasetFormatError, match=message):
        load_radmlbench("Ahn2021", data_home=tmp_path, download_if_missing=False)


def test_good_synthetic_table_roundtrip(tmp_path):
    frame = pd.DataFrame({"ID": [1, 2, 3, 4], "Target": [0, 1, 0, 1], "T2_original_glcm_Idmn": [0.1, 0.2, 0.3, 0.4]})
    write_table(tmp_path, "Ahn2021", frame.to_csv(index=False))
    bunch = load_radmlbench("Ahn2021", data_home=tmp_path, download_if_missing=False)
    assert bunch.name == "Ahn2021"
    np.testing.assert_allclose(bunch.data["T2_original_glcm_Idmn"], frame["T2_original_glcm_Idmn"])
    assert bunch.target.tolist() == [0, 1, 0, 1]
