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
    ffn_factor : float, default=2
        Width of the feed-forward block relative to ``hidden_size``; 2 rather
        than the usual 4 because the block runs on ``K`` (up to 500) tokens
        per lesion and dominates the cost. A fraction (e.g. 0.25) gives a
        narrower, cheaper block (an explicit, non-published variant).
    value_hidden : int, default=16
        Width of the small MLP that embeds each scalar value.
    token_dropout : float, default=None
        Element-wise dropout on the feature tokens; ``None`` uses ``dropout``
        (the published model). ``0`` lets the first feed-forward layer run in
        factorised form during training as well (see Notes): a cheaper,
        explicitly chosen variant.
    token_groups : array-like of int of shape (K,), default=None
        ``None`` (the published model): one token per feature. Otherwise the
        group (``0 .. G-1``) of every feature, and the block runs on ``G``
        group tokens instead of ``K`` feature tokens (an explicit, cheaper,
        non-published variant; e.g. one token per PyRadiomics image type and
        feature class). A group token is the mean of its members' tokens plus
        ``sum_k x_k * name_k / |g|``, so which member had which value stays
        visible. The linear path still sees every feature, and the pooling
        weight of a group is shared equally by its members.
    pool_prior : array-like of float of shape (K,), default=None
        A fixed bias added to each feature token's attention-pooling score
        (a group token gets its members' mean), e.g. ``s * log(w_k)`` from a
        semantic prior: the pooling starts, and stays regularised, toward the
        features the prior trusts. ``None``: no bias.

    Notes
    -----
    :meth:`forward` returns ``(logits, embedding, feature_attention)``: the
    logits ``(n, n_classes)``, the pooled representation ``(n, hidden_size)``
    (used by the contrastive term of
    :class:`~sklearn_llmrad.models.losses.CrossEntropyInfoNCELoss`) and the
    pooling weight of each feature token ``(n, K)`` (rows sum to one; uniform
    when ``attention=False``).

    Speed: :meth:`forward` computes the maths of the plain block in factorised
    form (the name part of every token once per batch, the query and output
    projections of the attention once per lesion and key, the first
    feed-forward layer from a few coordinates per token), so only the second
    feed-forward layer runs per (lesion, feature) token; the outputs equal the
    plain implementation to float tolerance (tested). The published width on
    2 CPU cores remains costly; ``hidden_size=128, module__token_dropout=0``
    on :class:`~sklearn_llmrad.models.LLMRadiomicsClassifier` is the fast
    preset (see ``benchmarks/bench_training.py`` and
    ``benchmarks/bench_fusion_auc.py`` for its time and AUC side by side).

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
        token_dropout=None,
        token_groups=None,
        pool_prior=None,
    ):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by n_heads ({n_heads}).")
        self.n_features = int(n_features)
        self.attention = bool(attention)
        H = int(hidden_size)

        if feature_embeddings is not None:
            emb = torch.as_tensor(feature_embeddings, dtype=torch.float32, device="cpu")
            if emb.ndim != 2 or emb.shape[0] != n_features:
                raise ValueError(f"feature_embeddings must have shape ({n_features}, D), got {tuple(emb.shape)}.")
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
        self.value_mlp = nn.Sequential(nn.Linear(1, value_hidden), nn.GELU(), nn.Linear(value_hidden, H))
        self.token_dropout = nn.Dropout(dropout if token_dropout is None else token_dropout)

        if clinical_dim is not None:
            self.clinical_projection = nn.Linear(int(clinical_dim), H)
            self.context_tokens = None
        else:
            self.clinical_projection = None
            self.context_tokens = nn.Parameter(torch.randn(n_context_tokens, H) * 0.02)
        self.null_token = nn.Parameter(torch.randn(1, 1, H) * 0.02)

        self.attention_norm = nn.LayerNorm(H)
        self.key_norm = nn.LayerNorm(H)
        self.cross_attention = nn.MultiheadAttention(H, n_heads, dropout=dropout, batch_first=True)
        self.ffn_norm = nn.LayerNorm(H)
        ffn_width = max(1, round(float(ffn_factor) * H))
        self.ffn = nn.Sequential(
            nn.Linear(H, ffn_width),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_width, H),
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
        if token_groups is None:
            self.token_groups = None
            self.token_pool = None
        else:
            groups = torch.as_tensor(token_groups, dtype=torch.long, device="cpu").reshape(-1)
            if groups.shape[0] != n_features or groups.min() < 0:
                raise ValueError(f"token_groups must hold {n_features} non-negative group indices")
            present, groups = torch.unique(groups, return_inverse=True)  # groups 0 .. G-1
            pool = torch.zeros(len(present), n_features, device="cpu")
            pool[groups, torch.arange(n_features, device="cpu")] = 1.0
            pool /= pool.sum(dim=1, keepdim=True)
            self.register_buffer("token_groups", groups)
            self.register_buffer("token_pool", pool)  # (G, K): the mean over each group
        if pool_prior is None:
            self.pool_prior = None
        else:
            prior = torch.as_tensor(pool_prior, dtype=torch.float32, device="cpu").reshape(-1)
            if prior.shape[0] != n_features or not torch.isfinite(prior).all():
                raise ValueError(f"pool_prior must hold {n_features} finite values")
            # A fixed buffer (saved, moved with the module, not trained): added to
            # each feature token's attention-pooling score.
            self.register_buffer("pool_prior", prior)

    # ------------------------------------------------------------ helpers
    def _names(self):
        """Feature-name part of the tokens ``(K, H)``, computed once per batch."""
        if self.name_embedding is not None:
            return self.name_embedding.weight
        return self.name_projection(self.feature_embeddings)

    def _value_basis(self, values):
        """Token = ``c_k + u_nk @ B.T``: per-feature constant and per-value coordinates.

        ``u`` (n, K, 1 + value_hidden) holds the value and the value-MLP's
        hidden units; ``B`` (H, 1 + value_hidden) is ``[value_vector | W2]``;
        ``c`` (K, H) is the name embedding plus the value-MLP's output bias.
        """
        v = values.unsqueeze(-1)
        hidden = self.value_mlp[1](self.value_mlp[0](v))
        u = torch.cat([v, hidden], dim=-1)
        basis = torch.cat([self.value_vector.unsqueeze(1), self.value_mlp[2].weight], dim=1)
        constant = self._names() + self.value_mlp[2].bias
        return constant, u, basis

    def feature_tokens(self, values):
        """Tokens ``(n, K, H)``: feature-name embedding + value embedding."""
        constant, u, basis = self._value_basis(values.float())
        return self.token_dropout(constant + u @ basis.T)

    def _group_tokens(self, values, constant, u, basis):
        """Group tokens ``(n, G, H)``: member-token means plus the members' value-weighted names."""
        pool = self.token_pool
        pooled = pool @ constant + torch.einsum("gk,nkr->ngr", pool, u) @ basis.T
        return pooled + torch.einsum("gk,nk,kh->ngh", pool, values, self._names())

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
        keys = torch.cat([null, self.clinical_projection(clinical.float())], dim=1)
        present = torch.cat(
            [torch.ones(n, 1, dtype=torch.bool, device=clinical_mask.device), clinical_mask.bool()],
            dim=1,
        )
        # nn.MultiheadAttention's key_padding_mask marks keys to *ignore*.
        return self.key_norm(keys), ~present

    def _attention_maps(self, keys):
        """Per-lesion maps that replace the per-token query and output projections.

        With ``q = LN(x) Wq.T + bq`` the score of token ``x`` for key ``j`` in
        head ``h`` is ``LN(x) . (Wq_h.T k_jh) + bq_h . k_jh`` (over sqrt(d)), and
        the attention output is ``sum_jh alpha_jh (v_jh Wo_h.T) + bo``. Both
        ``Wq_h.T k_jh`` and ``v_jh Wo_h.T`` depend on the lesion's keys only
        (``n_heads * J`` vectors per lesion), not on its ``K`` feature tokens.

        Returns ``score_map`` (n, H, heads*J), ``score_bias`` (n, heads*J) and
        ``output_map`` (n, heads*J, H).
        """
        mha = self.cross_attention
        n, J, H = keys.shape
        heads = mha.num_heads
        d = H // heads
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
        k = (keys @ w_k.T + b_k).view(n, J, heads, d)
        v = (keys @ w_v.T + b_v).view(n, J, heads, d)
        scale = d**-0.5
        score_map = torch.einsum("hdi,njhd->nihj", w_q.view(heads, d, H), k) * scale
        score_bias = torch.einsum("hd,njhd->nhj", b_q.view(heads, d), k) * scale
        output_map = torch.einsum("njhd,ehd->nhje", v, mha.out_proj.weight.view(H, heads, d))
        return (
            score_map.reshape(n, H, heads * J),
            score_bias.reshape(n, heads * J),
            output_map.reshape(n, heads * J, H),
        )

    def _cross_attention(self, normed, keys, padding):
        """Attention weights ``(n, K, heads*J)`` and output maps, without per-token projections."""
        score_map, score_bias, output_map = self._attention_maps(keys)
        n, K, _ = normed.shape
        heads, J = self.cross_attention.num_heads, keys.shape[1]
        scores = torch.baddbmm(score_bias.unsqueeze(1), normed, score_map).view(n, K, heads, J)
        if padding is not None:
            scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if self.training and self.cross_attention.dropout > 0:
            weights = nn.functional.dropout(weights, self.cross_attention.dropout)
        return weights.reshape(n, K, heads * J), output_map

    @staticmethod
    def _layer_norm_stats(x, eps):
        var, mean = torch.var_mean(x, dim=-1, unbiased=False, keepdim=True)
        return mean, torch.rsqrt(var + eps)

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

        Notes
        -----
        The maths is that of the plain transformer block (pre-norm
        cross-attention, pre-norm feed-forward, final norm, attention pooling),
        computed in factorised form: every token is ``c_k + u_nk @ B.T`` with a
        per-feature constant ``c_k`` (names, computed once per batch) and a few
        per-value coordinates ``u_nk``; the attention adds ``alpha_nk @ O_n``
        with per-lesion maps ``O_n``. So the first feed-forward layer,
        ``LN(x) W1.T``, is ``(c_k * g) W1.T`` (once per batch) plus
        ``[u, alpha] @ ([B.T; O_n] * g) W1.T`` (once per lesion) minus the
        layer-norm mean term, scaled by the per-token ``1/sigma``. Only the
        second feed-forward layer runs per token. While element-wise token
        dropout is active (training with ``token_dropout > 0``) the tokens no
        longer factorise and the first layer runs per token.
        """
        values = values.float()
        constant, u, basis = self._value_basis(values)
        keys, padding = self._keys(values, clinical, clinical_mask)
        n = values.shape[0]
        dropped = self.training and self.token_dropout.p > 0
        grouped = self.token_pool is not None
        # grouped tokens are few: the plain per-token maths is cheap for them
        plain = dropped or grouped
        tokens = self._group_tokens(values, constant, u, basis) if grouped else constant + u @ basis.T
        if dropped:
            tokens = self.token_dropout(tokens)
        if self.attention:
            attn = self.attention_norm
            normed = nn.functional.layer_norm(tokens, attn.normalized_shape, attn.weight, attn.bias, attn.eps)
            mix, output_map = self._cross_attention(normed, keys, padding)
            constant = constant + self.cross_attention.out_proj.bias
        else:
            # Fusion without attention: every feature token receives the same
            # (masked) mean of the clinical tokens, so the ablation removes the
            # attention mechanism, not the clinical information.
            present = torch.ones(keys.shape[:2], dtype=keys.dtype, device=keys.device)
            if padding is not None:
                present = (~padding).to(keys.dtype)
            context = (keys * present.unsqueeze(-1)).sum(1) / present.sum(1, keepdim=True)
            mix = torch.ones(n, tokens.shape[1], 1, dtype=tokens.dtype, device=tokens.device)
            output_map = context.unsqueeze(1)
        # Residual after attention: tokens + mix @ O_n (+ out-proj bias, in `constant`).
        if plain:
            tokens = tokens + torch.bmm(mix, output_map)
            if self.attention:
                tokens = tokens + self.cross_attention.out_proj.bias
            pre = self.ffn[0](self.ffn_norm(tokens))
        else:
            coords = torch.cat([u, mix], dim=-1)  # (n, K, r)
            rows = torch.cat([basis.T.expand(n, -1, -1), output_map], dim=1)  # (n, r, H)
            tokens = constant + coords @ rows
            norm, w1 = self.ffn_norm, self.ffn[0].weight
            mean, inv_std = self._layer_norm_stats(tokens, norm.eps)
            scaled_w1 = norm.weight.unsqueeze(1) * w1.T  # diag(g) W1.T, (H, F)
            # (x - mean) * g @ W1.T: the mean enters as one more coordinate
            # (-mean) whose row is g @ W1.T; then one fused scale-and-shift.
            maps = torch.cat(
                [
                    rows @ scaled_w1,
                    (norm.weight @ w1.T).expand(n, 1, -1),
                ],
                dim=1,
            )
            pre = torch.baddbmm(
                (constant @ scaled_w1).unsqueeze(0).expand(n, -1, -1),
                torch.cat([coords, -mean], dim=-1),
                maps,
            )
            pre = torch.addcmul(norm.bias @ w1.T + self.ffn[0].bias, pre, inv_std)
        tokens = tokens + self.ffn[1:](pre)
        tokens = self.final_norm(tokens)
        if self.attention:
            scores = self.pool_score(tokens).squeeze(-1)
            if self.pool_prior is not None:  # per token: the feature's bias, or its group's mean bias
                scores = scores + (self.token_pool @ self.pool_prior if grouped else self.pool_prior)
            weights = torch.softmax(scores, dim=1)
        else:
            weights = torch.full(tokens.shape[:2], 1.0 / tokens.shape[1], dtype=tokens.dtype, device=tokens.device)
        embedding = torch.bmm(weights.unsqueeze(1), tokens).squeeze(1)
        logits = self.head(embedding) + self.linear(values)
        if grouped:  # a group's weight, shared equally by its members (rows still sum to one)
            share = self.token_pool.sum(dim=0)  # 1 / |g| of every feature's group
            weights = weights[:, self.token_groups] * share
        return logits, embedding, weights
