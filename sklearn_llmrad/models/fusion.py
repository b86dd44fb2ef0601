"""The LLM-radiomics fusion network (a plain :class:`torch.nn.Module`).

One token per selected radiomics feature carries *what* the feature is (the
language model's embedding of its name description, projected to the hidden
size) plus *how large* it is for this lesion (a value embedding). The feature
tokens attend to the lesion's clinical-text tokens, are pooled, and classified.
A linear path on the raw values runs in parallel: on small radiomics tables a
well-regularised linear model is hard to beat, so the attention path only has
to learn what the linear path misses (see ``DESIGN.md``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FusionModule"]


class FusionModule(nn.Module):
    """Cross-attention fusion of radiomics values, feature-name and clinical embeddings.

    Parameters
    ----------
    n_features : int
        Number of radiomics features ``K`` (one token each).
    n_classes : int, default=2
        Number of output logits.
    feature_embeddings : array-like of shape (K, D), default=None
        Language-model embeddings of the feature-name descriptions. They are
        stored once, as a buffer, and shared by every lesion. ``None`` (the
        "w/o BioBERT" ablation): each feature gets a freely learned embedding
        (``nn.Embedding(K, hidden_size)``).
    clinical_dim : int, default=None
        Width ``D`` of the clinical-text embeddings passed to :meth:`forward`.
        ``None``: no clinical text; the feature tokens then attend to
        ``n_context_tokens`` learned context tokens instead, which keeps the
        architecture (and parameter count of the attention block) identical
        to the text-conditioned model, so the ablation isolates the language
        model rather than the attention mechanism.
    hidden_size : int, default=768
        Width of the tokens. Must be divisible by ``n_heads``.
    n_heads : int, default=8
        Attention heads.
    dropout : float, default=0.1
        Dropout on tokens, attention weights, feed-forward block and head.
    attention : bool, default=True
        ``False`` is the "w/o attention" ablation: instead of cross-attention
        every feature token receives the mean of the (present) clinical tokens,
        and the tokens are mean-pooled instead of attention-pooled.
    n_context_tokens : int, default=4
        Learned context tokens used when ``clinical_dim is None``.
    ffn_factor : int, default=2
        Width of the feed-forward block relative to ``hidden_size``; 2 rather
        than the usual 4 because the block runs on ``K`` (up to 500) tokens
        per lesion and dominates the cost.
    value_hidden : int, default=16
        Width of the small MLP that embeds each scalar value.

    Notes
    -----
    :meth:`forward` returns ``(logits, embedding, feature_attention)``: the
    logits ``(n, n_classes)``, the pooled representation ``(n, hidden_size)``
    (used by the contrastive term of
    :class:`~sklearn_llmrad.models.losses.CrossEntropyInfoNCELoss`) and the
    pooling weight of each feature token ``(n, K)`` (rows sum to one; uniform
    when ``attention=False``).

    Every lesion has at least one key to attend to: a learned "no clinical
    information" token is always present, so lesions whose clinical tokens
    are all masked (nothing known) still get a well-defined attention.

    Examples
    --------
    >>> import torch
    >>> from sklearn_llmrad.models.fusion import FusionModule
    >>> _ = torch.manual_seed(0)
    >>> module = FusionModule(n_features=5, feature_embeddings=torch.randn(5, 12),
    ...                       clinical_dim=12, hidden_size=16, n_heads=4)
    >>> logits, embedding, attention = module(
    ...     torch.randn(3, 5), torch.randn(3, 2, 12), torch.tensor([[True, True]] * 3))
    >>> tuple(logits.shape), tuple(embedding.shape), tuple(attention.shape)
    ((3, 2), (3, 16), (3, 5))
    """

    def __init__(
        self,
        *,
        n_features,
        n_classes=2,
        feature_embeddings=None,
        clinical_dim=None,
        hidden_size=768,
        n_heads=8,
        dropout=0.1,
        attention=True,
        n_context_tokens=4,
        ffn_factor=2,
        value_hidden=16,
    ):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by n_heads ({n_heads})."
            )
        self.n_features = int(n_features)
        self.attention = bool(attention)
        H = int(hidden_size)

        if feature_embeddings is not None:
            emb = torch.as_tensor(feature_embeddings, dtype=torch.float32)
            if emb.ndim != 2 or emb.shape[0] != n_features:
                raise ValueError(
                    f"feature_embeddings must have shape ({n_features}, D), got {tuple(emb.shape)}."
                )
            # A buffer: saved with the module and moved to its device, never
            # copied per lesion, not trained.
            self.register_buffer("feature_embeddings", emb.clone())
            self.name_projection = nn.Sequential(nn.Linear(emb.shape[1], H), nn.LayerNorm(H))
            self.name_embedding = None
        else:
            self.feature_embeddings = None
            self.name_projection = None
            self.name_embedding = nn.Embedding(n_features, H)
            nn.init.normal_(self.name_embedding.weight, std=0.02)

        # value * learned vector keeps the (signed, monotone) magnitude explicit;
        # the small MLP adds non-linear encodings (e.g. "extreme in either direction").
        self.value_vector = nn.Parameter(torch.randn(H) / H**0.5)
        self.value_mlp = nn.Sequential(
            nn.Linear(1, value_hidden), nn.GELU(), nn.Linear(value_hidden, H)
        )
        self.token_dropout = nn.Dropout(dropout)

        if clinical_dim is not None:
            self.clinical_projection = nn.Linear(int(clinical_dim), H)
            self.context_tokens = None
        else:
            self.clinical_projection = None
            self.context_tokens = nn.Parameter(torch.randn(n_context_tokens, H) * 0.02)
        self.null_token = nn.Parameter(torch.randn(1, 1, H) * 0.02)

        self.attention_norm = nn.LayerNorm(H)
        self.key_norm = nn.LayerNorm(H)
        self.cross_attention = nn.MultiheadAttention(
            H, n_heads, dropout=dropout, batch_first=True
        )
        self.ffn_norm = nn.LayerNorm(H)
        self.ffn = nn.Sequential(
            nn.Linear(H, ffn_factor * H),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_factor * H, H),
            nn.Dropout(dropout),
        )
        self.final_norm = nn.LayerNorm(H)
        self.pool_score = nn.Linear(H, 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(H, n_classes))
        # The attention path starts silent and learns what the linear path
        # misses, instead of competing with it from random initial logits.
        nn.init.zeros_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)
        self.linear = nn.Linear(n_features, n_classes)

    def feature_tokens(self, values):
        """Tokens ``(n, K, H)``: feature-name embedding + value embedding."""
        if self.name_embedding is not None:
            names = self.name_embedding.weight
        else:
            # Projected once per batch and broadcast over lesions.
            names = self.name_projection(self.feature_embeddings)
        v = values.unsqueeze(-1)
        tokens = names.unsqueeze(0) + v * self.value_vector + self.value_mlp(v)
        return self.token_dropout(tokens)

    def _keys(self, values, clinical, clinical_mask):
        n = values.shape[0]
        null = self.null_token.expand(n, -1, -1)
        if self.clinical_projection is None:
            ctx = self.context_tokens.unsqueeze(0).expand(n, -1, -1)
            keys = torch.cat([null, ctx], dim=1)
            return self.key_norm(keys), None
        if clinical is None:
            raise ValueError("this FusionModule was built for clinical embeddings; pass them.")
        if clinical.ndim == 2:
            clinical = clinical.unsqueeze(1)
        if clinical_mask is None:
            clinical_mask = torch.ones(clinical.shape[:2], dtype=torch.bool, device=clinical.device)
        keys = torch.cat([null, self.clinical_projection(clinical)], dim=1)
        present = torch.cat(
            [torch.ones(n, 1, dtype=torch.bool, device=clinical_mask.device), clinical_mask.bool()],
            dim=1,
        )
        # nn.MultiheadAttention's key_padding_mask marks keys to *ignore*.
        return self.key_norm(keys), ~present

    def forward(self, values, clinical=None, clinical_mask=None):
        """Classify a batch.

        Parameters
        ----------
        values : Tensor of shape (n, K)
            Scaled radiomics values.
        clinical : Tensor of shape (n, T, D) or (n, D), default=None
            Clinical-text token embeddings.
        clinical_mask : bool Tensor of shape (n, T), default=None
            ``True`` where a clinical token is present.

        Returns
        -------
        logits : Tensor of shape (n, n_classes)
        embedding : Tensor of shape (n, hidden_size)
        feature_attention : Tensor of shape (n, K)
        """
        values = values.float()
        tokens = self.feature_tokens(values)
        keys, padding = self._keys(values, clinical, clinical_mask)
        if self.attention:
            attended, _ = self.cross_attention(
                self.attention_norm(tokens), keys, keys,
                key_padding_mask=padding, need_weights=False,
            )
            tokens = tokens + attended
        else:
            # Fusion without attention: every feature token receives the same
            # (masked) mean of the clinical tokens, so the ablation removes the
            # attention mechanism, not the clinical information.
            present = torch.ones(keys.shape[:2], dtype=keys.dtype, device=keys.device)
            if padding is not None:
                present = (~padding).to(keys.dtype)
            context = (keys * present.unsqueeze(-1)).sum(1) / present.sum(1, keepdim=True)
            tokens = tokens + context.unsqueeze(1)
        tokens = tokens + self.ffn(self.ffn_norm(tokens))
        tokens = self.final_norm(tokens)
        if self.attention:
            weights = torch.softmax(self.pool_score(tokens).squeeze(-1), dim=1)
        else:
            weights = torch.full(
                tokens.shape[:2], 1.0 / tokens.shape[1], dtype=tokens.dtype, device=tokens.device
            )
        embedding = torch.einsum("nk,nkh->nh", weights, tokens)
        logits = self.head(embedding) + self.linear(values)
        return logits, embedding, weights
