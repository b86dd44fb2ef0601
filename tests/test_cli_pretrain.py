"""``llmrad pretrain``: what the prior learns on (``--vocabulary``)."""

import gzip

import numpy as np
import pandas as pd
import pytest

from sklearn_llmrad.cli import main
from sklearn_llmrad.prior import SemanticPrior

# real radMLBench study names (the loader accepts only those), synthetic contents
STUDIES = ["Ahn2021", "HNSCC", "Song2020"]
NAMES = [
    "original_shape_VoxelVolume",
    "original_glcm_Idmn",
    "original_glcm_Correlation",
    "wavelet-LLH_firstorder_Skewness",
    "original_firstorder_Entropy",
]
# the same two families as two names above, under other features: a family prior cannot tell them apart
SAME_FAMILY = {
    "original_glcm_Idmn": "original_glcm_JointEnergy",
    "original_firstorder_Entropy": "original_firstorder_Mean",
}


def _write_tables(directory):
    directory.mkdir()
    for seed, study in enumerate(STUDIES):
        rng = np.random.default_rng(seed)
        y = np.tile([0, 1], 20)
        X = pd.DataFrame(rng.normal(size=(40, len(NAMES))), columns=NAMES)
        X["original_shape_VoxelVolume"] += 1.5 * y
        X["original_firstorder_Entropy"] += 0.8 * y
        frame = pd.concat([pd.DataFrame({"ID": np.arange(40), "Target": y}), X], axis=1)
        with gzip.open(directory / f"{study}.gz", "wt") as fh:
            fh.write(frame.to_csv(index=False))


def _pretrain(tables, out, *more):
    argv = ["pretrain", "--tables", str(tables), "--name-vectors", "random", "--out", str(out), *more]
    assert main(argv) == 0
    return SemanticPrior.load(out)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain") / "tables"
    _write_tables(folder)
    return folder


def test_vocabulary_defaults_to_identities_and_is_passed_to_the_prior(tables, tmp_path):
    default = _pretrain(tables, tmp_path / "default")
    assert default.vocabulary == "identity"
    family = _pretrain(tables, tmp_path / "family", "--vocabulary", "family")
    assert family.vocabulary == "family"
    cleaned = _pretrain(tables, tmp_path / "cleaned", "--vocabulary", "cleaned")
    assert cleaned.vocabulary == "cleaned"
    # the family prior learns on filter x class: two features of one family get one weight
    names = list(SAME_FAMILY) + list(SAME_FAMILY.values())
    weights = dict(zip(names, family.predict(names), strict=True))
    for name, sibling in SAME_FAMILY.items():
        assert weights[name] == weights[sibling]
    # an identity prior tells them apart
    weights = dict(zip(names, default.predict(names), strict=True))
    assert any(weights[name] != weights[sibling] for name, sibling in SAME_FAMILY.items())


def test_an_unknown_vocabulary_is_refused_with_the_choices(tables, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--tables", str(tables), "--out", str(tmp_path / "p"), "--vocabulary", "words"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--vocabulary" in err and "'cleaned', 'identity', 'family'" in err
    assert not (tmp_path / "p").exists()
