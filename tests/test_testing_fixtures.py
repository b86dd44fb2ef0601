"""The tiny test BERT (``sklearn_llmrad._testing``) tokenises and embeds like a real model (issue 19)."""

import json

import numpy as np
import pytest
import transformers

from sklearn_llmrad._testing import tiny_bert_vocabulary
from sklearn_llmrad.descriptions import (
    DENSITY_STATEMENTS,
    FEATURE_DESCRIPTIONS,
    NO_CLINICAL_INFORMATION,
    clinical_sentence,
    describe_feature,
)
from sklearn_llmrad.encoding import BioBERTEncoder

IMAGE_TYPES = ["original", "wavelet-LLH", "wavelet-HL", "log-sigma-3-0-mm-3D", "squareroot", "lbp-2D"]


def feature_texts():
    return [
        describe_feature(f"{image_type}_{feature_class}_{feature}")
        for feature_class, table in FEATURE_DESCRIPTIONS.items()
        for feature in table
        for image_type in IMAGE_TYPES
    ]


def clinical_texts():
    return [
        clinical_sentence(62, "C", "family history of breast cancer"),
        clinical_sentence(45.5, "A", True),
        clinical_sentence("070Y", "b", False),
        clinical_sentence(None, "D", "mother had breast cancer at 48"),
        NO_CLINICAL_INFORMATION,
        "62-year-old woman, dense breasts",
        *DENSITY_STATEMENTS.values(),
    ]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    return transformers.AutoTokenizer.from_pretrained(tiny_bert_dir, local_files_only=True)


def test_vocab_txt_and_tokenizer_json_hold_the_same_vocabulary(tiny_bert_dir, tokenizer):
    vocab = tiny_bert_vocabulary()
    assert len(vocab) > 300
    lines = (tiny_bert_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert {token: i for i, token in enumerate(lines)} == vocab
    assert json.loads((tiny_bert_dir / "tokenizer.json").read_text())["model"]["vocab"] == vocab
    assert tokenizer.get_vocab() == vocab
    config = json.loads((tiny_bert_dir / "config.json").read_text())
    assert config["vocab_size"] == len(vocab)


@pytest.mark.parametrize("kind", ["features", "clinical"])
def test_tokenizer_maps_descriptions_to_known_tokens(tokenizer, kind):
    texts = feature_texts() if kind == "features" else clinical_texts()
    ids = [i for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in row]
    assert len(ids) > 10 * len(texts)
    unknown = sum(i == tokenizer.unk_token_id for i in ids)
    assert unknown / len(ids) < 0.05
    # Radiomics words are whole tokens, not characters.
    assert tokenizer.tokenize("GLCM contrast, texture heterogeneity, of the wavelet LLH sub-band") == [
        "glcm", "contrast", ",", "texture", "heterogeneity", ",", "of", "the", "wavelet", "llh", "sub", "-", "band",
    ]  # fmt: skip


def test_texts_the_same_length_tokenise_differently(tokenizer):
    # Same number of words and punctuation: an all-[UNK] tokenizer gives the same ids.
    a, b = tokenizer(["GLCM contrast of the lesion.", "GLSZM entropy of the outline."])["input_ids"]
    assert len(a) == len(b) and a != b


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_different_texts_embed_differently_and_the_same_text_identically(tiny_bert_dir, pooling):
    pairs = [
        ("GLCM contrast of the lesion.", "GLSZM entropy of the outline."),
        ("62-year-old woman.", "45-year-old woman."),
        (DENSITY_STATEMENTS["C"], DENSITY_STATEMENTS["D"]),
        (describe_feature("wavelet-LH_glcm_Contrast"), describe_feature("wavelet-HL_glcm_Contrast")),
    ]
    texts = [t for pair in pairs for t in pair]
    enc = BioBERTEncoder(language_model=tiny_bert_dir, device="cpu", pooling=pooling)
    vectors = enc.embed_texts(texts)
    for i in range(0, len(texts), 2):
        assert not np.allclose(vectors[i], vectors[i + 1], atol=1e-4), texts[i]
    # All distinct from each other, too.
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    assert (distances[~np.eye(len(texts), dtype=bool)] > 1e-4).all()
    # The same text embeds identically: from a fresh encoder, and (up to rounding) in other batches.
    fresh = BioBERTEncoder(language_model=tiny_bert_dir, device="cpu", pooling=pooling)
    np.testing.assert_array_equal(fresh.embed_texts(texts), vectors)
    shuffled = BioBERTEncoder(language_model=tiny_bert_dir, device="cpu", pooling=pooling, batch_size=3)
    np.testing.assert_allclose(shuffled.embed_texts(texts[::-1])[::-1], vectors, rtol=1e-5, atol=1e-6)
