"""The default BioBERT is loaded at its pinned safetensors revision (no download here)."""

import pytest

from sklearn_llmrad.encoding import BIOBERT_MODEL, BIOBERT_REVISION, BioBERTEncoder
from sklearn_llmrad.exceptions import ModelNotFoundError


@pytest.fixture
def recorded(monkeypatch):
    """Record what reaches from_pretrained; refuse to load (no network, no weights)."""
    transformers = pytest.importorskip("transformers")
    calls = []

    def refuse(source, **kwargs):
        calls.append((source, kwargs))
        raise OSError("not available in tests")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", refuse)
    return calls


def test_default_biobert_revision_is_pinned(recorded):
    assert BIOBERT_REVISION == "28c8d50abc6680732eca889059ff503505a74cd5"
    enc = BioBERTEncoder(device="cpu", local_files_only=True)
    assert enc.language_model == BIOBERT_MODEL
    with pytest.raises(ModelNotFoundError):
        enc._language_model()
    assert recorded and all(source == BIOBERT_MODEL for source, _ in recorded)
    assert all(kwargs["revision"] == BIOBERT_REVISION for _, kwargs in recorded)
    assert enc._model_identity()["revision"] == BIOBERT_REVISION  # embeddings cached per revision


def test_explicit_revision_wins_and_other_models_are_not_pinned(recorded):
    with pytest.raises(ModelNotFoundError):
        BioBERTEncoder(revision="main", device="cpu", local_files_only=True)._language_model()
    with pytest.raises(ModelNotFoundError):
        BioBERTEncoder(language_model="someone/other-bert", device="cpu", local_files_only=True)._language_model()
    assert [kwargs["revision"] for _, kwargs in recorded] == ["main", None]


def test_local_directory_gets_no_revision(tiny_bert_dir):
    enc = BioBERTEncoder(language_model=str(tiny_bert_dir), device="cpu")
    assert enc.embed_texts(["lesion texture"]).shape[0] == 1
    assert enc._model_identity()["revision"] is None
