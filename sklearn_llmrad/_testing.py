"""A tiny BERT for tests and benchmarks: real transformers code, random weights, no download."""

from pathlib import Path

__all__ = ["save_tiny_bert"]

_VOCABULARY = (
    "[PAD] [UNK] [CLS] [SEP] [MASK] the of a an and with lesion texture gray level "
    "glcm glrlm glszm gldm ngtdm shape first order wavelet laplacian gaussian sigma "
    "mm entropy contrast energy mean variance zone run size dependence woman year old "
    "breast dense fatty history cancer family bi rads density heterogeneously extremely "
    "scattered fibroglandular no unknown local binary pattern square root logarithm "
    "exponential gradient filter band low high original image intensity , . : ( ) - 0 1 "
    "2 3 4 5 6 7 8 9"
)


def save_tiny_bert(path):
    """Save a 2-layer, 32-wide BERT and its WordPiece tokenizer to ``path``.

    The vocabulary covers the words of the feature descriptions and clinical
    sentences, so tokenisation is realistic; the weights are random (seed 0).

    Returns
    -------
    pathlib.Path
        ``path``, loadable with ``transformers.AutoModel.from_pretrained``.
    """
    import torch
    import transformers

    path = Path(path)
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(_VOCABULARY.split())) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
