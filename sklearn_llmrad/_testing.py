"""A tiny BERT for tests and benchmarks: real transformers code, random weights, no download."""

from pathlib import Path

from .models.fusion import FusionModule

__all__ = ["ReferenceFusionModule", "reference_fusion_forward", "save_tiny_bert"]

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


def reference_fusion_forward(module, values, clinical=None, clinical_mask=None):
    """:class:`~sklearn_llmrad.models.fusion.FusionModule`'s maths written out plainly.

    Per-token projections, :class:`torch.nn.MultiheadAttention` and
    :class:`torch.nn.LayerNorm` on every (lesion, feature) token: the
    implementation before the factorised forward (issue 12), kept as the
    reference the tests compare the fast forward with, and as the "old" side
    of ``benchmarks/bench_training.py``.
    """
    import torch

    values = values.float()
    if module.name_embedding is not None:
        names = module.name_embedding.weight
    else:
        names = module.name_projection(module.feature_embeddings)
    v = values.unsqueeze(-1)
    tokens = names.unsqueeze(0) + v * module.value_vector + module.value_mlp(v)
    groups = getattr(module, "token_groups", None)
    if groups is not None:  # feature_tokens="group": a token per group, written out member by member
        n_groups = int(groups.max()) + 1
        grouped = []
        for g in range(n_groups):
            members = (groups == g).nonzero().flatten()
            value_names = values[:, members].unsqueeze(-1) * names[members]
            grouped.append((tokens[:, members] + value_names).mean(dim=1))
        tokens = torch.stack(grouped, dim=1)
    tokens = module.token_dropout(tokens)
    keys, padding = module._keys(values, clinical, clinical_mask)
    if module.attention:
        attended, _ = module.cross_attention(
            module.attention_norm(tokens),
            keys,
            keys,
            key_padding_mask=padding,
            need_weights=False,
        )
        tokens = tokens + attended
    else:
        present = torch.ones(keys.shape[:2])
        if padding is not None:
            present = (~padding).float()
        context = (keys * present.unsqueeze(-1)).sum(1) / present.sum(1, keepdim=True)
        tokens = tokens + context.unsqueeze(1)
    tokens = tokens + module.ffn(module.ffn_norm(tokens))
    tokens = module.final_norm(tokens)
    if module.attention:
        weights = torch.softmax(module.pool_score(tokens).squeeze(-1), dim=1)
    else:
        weights = torch.full(tokens.shape[:2], 1.0 / tokens.shape[1])
    embedding = torch.einsum("nk,nkh->nh", weights, tokens)
    if groups is not None:  # each member gets an equal share of its group's weight
        sizes = torch.bincount(groups).float()
        weights = weights[:, groups] / sizes[groups]
    return module.head(embedding) + module.linear(values), embedding, weights


class ReferenceFusionModule(FusionModule):
    """A :class:`~sklearn_llmrad.models.fusion.FusionModule` whose forward is :func:`reference_fusion_forward`.

    Same parameters, same state dict; only the (slow, plain) computation differs.
    """

    def forward(self, values, clinical=None, clinical_mask=None):
        return reference_fusion_forward(self, values, clinical, clinical_mask)
