"""A model file's metadata block: plain JSON data, checked on save and on load."""

import json
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_llmrad import io


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture(scope="module")
def model():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LogisticRegression().fit(X, [0, 0, 1, 1])


def test_round_trip_and_load_unchanged(model, tmp_path):
    meta = {"threshold": 0.42, "rule": "youden", "folds": 3, "ok": True, "none": None, "list": [1, {"a": "b"}]}
    path = io.save(model, tmp_path / "m.llmrad", metadata=meta)
    assert io.read_metadata(path) == meta
    np.testing.assert_array_equal(io.load(path).coef_, model.coef_)


def test_no_metadata_reads_empty(model, tmp_path):
    assert io.read_metadata(io.save(model, tmp_path / "m.llmrad")) == {}


@pytest.mark.parametrize(
    "bad, words",
    [
        ([0.5], "must be a dict"),
        ({"t": float("nan")}, "not a finite number"),
        ({"t": (1, 2)}, "tuple is not metadata"),
        ({"t": np.float64(0.5)}, "float64 is not metadata"),
        ({1: 0.5}, "not a string"),
        ({"t": print}, "is not metadata"),
        ({"t": _nested(20)}, "nested more than"),
    ],
)
def test_save_refuses_anything_but_plain_data(model, tmp_path, bad, words):
    with pytest.raises(ValueError, match=words):
        io.save(model, tmp_path / "m.llmrad", metadata=bad)
    assert not (tmp_path / "m.llmrad").exists()


def _rewrite_metadata(path, value):
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["metadata"] = value
    members["manifest.json"] = json.dumps(manifest).encode()  # NaN written as JSON's NaN
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("value", [float("nan"), [1, 2], {"t": {"$type": 3, "x": float("inf")}}, "text"])
def test_malformed_metadata_in_a_file_is_a_model_file_error(model, tmp_path, value):
    path = io.save(model, tmp_path / "m.llmrad", metadata={"threshold": 0.5})
    _rewrite_metadata(path, value if not isinstance(value, float) else {"threshold": value})
    with pytest.raises(io.ModelFileError, match="metadata"):
        io.read_metadata(path)
    with pytest.raises(io.ModelFileError, match="metadata"):
        io.load(path)


def test_read_metadata_of_a_file_that_is_no_model(tmp_path):
    path = tmp_path / "x.llmrad"
    path.write_text("not a zip")
    with pytest.raises(io.ModelFileError, match="not a sklearn-llmrad model file"):
        io.read_metadata(path)
