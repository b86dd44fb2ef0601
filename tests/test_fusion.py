"""FusionModule (the network) and the contrastive criteria."""

import math

import pytest
import torch
from torch.nn import functional as F

from sklearn_llmrad._testing import reference_fusion_forward
from sklearn_llmrad.models.fusion import FusionModule
from sklearn_llmrad.models.losses import (
    CrossEntropyInfoNCELoss,
    SupervisedContrastiveLoss,
)

torch.set_num_threads(1)

N, K, D, T, H = 6, 10, 24, 4, 32


def _module(**kwargs):
    torch.manual_seed(0)
    params = dict(
        n_features=K,
        feature_embeddings=torch.randn(K, D),
        clinical_dim=D,
        hidden_size=H,
        n_heads=8,
        dropout=0.1,
    )
    params.update(kwargs)
    module = FusionModule(**params).eval()
    # The attention path's output layer starts at zero (the linear path leads
    # at first); give it weights, as after training, so its inputs are visible.
    torch.nn.init.normal_(module.head[1].weight)
    return module


def test_attention_path_starts_silent():
    module = FusionModule(n_features=K, hidden_size=H, n_heads=4).eval()
    values = torch.randn(N, K)
    torch.testing.assert_close(module(values)[0], module.linear(values))


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(N, K, generator=g)
    clinical = torch.randn(N, T, D, generator=g)
    mask = torch.ones(N, T, dtype=torch.bool)
    return values, clinical, mask


def test_forward_shapes_and_attention_normalised():
    values, clinical, mask = _batch()
    logits, embedding, attention = _module()(values, clinical, mask)
    assert logits.shape == (N, 2)
    assert embedding.shape == (N, H)
    assert attention.shape == (N, K)
    torch.testing.assert_close(attention.sum(1), torch.ones(N))
    assert torch.isfinite(logits).all()


def test_clinical_embedding_without_token_axis():
    values, clinical, _ = _batch()
    module = _module()
    logits, _, _ = module(values, clinical[:, 0])
    expected, _, _ = module(values, clinical[:, :1], torch.ones(N, 1, dtype=torch.bool))
    torch.testing.assert_close(logits, expected)


def test_masked_clinical_tokens_are_ignored():
    values, clinical, mask = _batch()
    mask[:, 1:] = False  # only the sentence token is present
    module = _module()
    logits, _, _ = module(values, clinical, mask)
    changed = clinical.clone()
    changed[:, 1:] = 100.0 * torch.randn(N, T - 1, D)
    logits_changed, _, _ = module(values, changed, mask)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits, logits_changed)
    # ...while the present token does matter
    changed[:, 0] += 5.0
    assert not torch.allclose(module(values, changed, mask)[0], logits)


def test_all_clinical_missing_is_finite_and_independent_of_the_padding():
    values, clinical, _ = _batch()
    mask = torch.zeros(N, T, dtype=torch.bool)
    module = _module()
    logits, embedding, attention = module(values, clinical, mask)
    assert torch.isfinite(logits).all() and torch.isfinite(embedding).all()
    other, _, _ = module(values, torch.randn(N, T, D), mask)
    torch.testing.assert_close(logits, other)


def test_one_lesion_missing_clinical_does_not_change_the_others():
    values, clinical, mask = _batch()
    module = _module()
    before, _, _ = module(values, clinical, mask)
    mask[2] = False
    after, _, _ = module(values, clinical, mask)
    keep = [i for i in range(N) if i != 2]
    torch.testing.assert_close(before[keep], after[keep])
    assert not torch.allclose(before[2], after[2])


def test_feature_embeddings_are_a_shared_buffer_not_a_parameter():
    module = _module()
    buffers = dict(module.named_buffers())
    assert buffers["feature_embeddings"].shape == (K, D)
    assert "feature_embeddings" not in dict(module.named_parameters())
    assert "feature_embeddings" in module.state_dict()


def test_each_value_reaches_the_logits():
    values, clinical, mask = _batch()
    module = _module()
    logits, _, _ = module(values, clinical, mask)
    for k in (0, K - 1):
        bumped = values.clone()
        bumped[:, k] += 1.0
        assert not torch.allclose(module(bumped, clinical, mask)[0], logits)


def test_plain_numeric_path_uses_learned_feature_and_context_tokens():
    module = FusionModule(n_features=K, hidden_size=H, n_heads=4).eval()
    assert module.feature_embeddings is None
    assert module.name_embedding.weight.shape == (K, H)
    logits, embedding, attention = module(torch.randn(N, K))
    assert logits.shape == (N, 2) and embedding.shape == (N, H) and attention.shape == (N, K)
    assert torch.isfinite(logits).all()


def test_without_attention_pools_uniformly_but_still_uses_clinical_text():
    values, clinical, mask = _batch()
    module = _module(attention=False)
    logits, _, attention = module(values, clinical, mask)
    torch.testing.assert_close(attention, torch.full((N, K), 1.0 / K))
    assert not torch.allclose(module(values, clinical + 1.0, mask)[0], logits)


def test_hidden_size_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        FusionModule(n_features=K, hidden_size=30, n_heads=8)


def test_backward_reaches_every_parameter():
    values, clinical, mask = _batch()
    module = _module().train()
    logits, embedding, _ = module(values, clinical, mask)
    CrossEntropyInfoNCELoss()(logits, torch.tensor([0, 1] * 3), embedding).backward()
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    assert missing == []


# ---------------------------------------------------------------- losses
def _naive_supcon(z, labels, tau):
    """Khosla et al. (2020) eq. 2, written as explicit loops."""
    z = F.normalize(z, dim=1)
    n = len(labels)
    terms = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(z[i] @ z[a]) / tau) for a in range(n) if a != i)
        terms.append(-sum(math.log(math.exp(float(z[i] @ z[p]) / tau) / denom) for p in positives) / len(positives))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_supcon_matches_naive_loop(tau):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(9, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 0, 2, 1, 0, 0, 2])
    got = SupervisedContrastiveLoss(temperature=tau)(z, labels)
    assert float(got) == pytest.approx(_naive_supcon(z, labels, tau), rel=1e-5)


def test_supcon_with_a_singleton_class_excludes_that_anchor():
    z = torch.randn(5, 3, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2])  # class 2 has no positive
    got = SupervisedContrastiveLoss(temperature=0.2)(z, labels)
    assert float(got) == pytest.approx(_naive_supcon(z, labels, 0.2), rel=1e-5)


def test_supcon_lower_when_classes_cluster():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 8 + [1] * 8)
    centres = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    clustered = centres[labels] + 0.3 * torch.randn(16, 3, generator=g)
    scattered = torch.randn(16, 3, generator=g)
    loss = SupervisedContrastiveLoss(temperature=0.1)
    assert loss(clustered, labels) < loss(scattered, labels)


def test_supcon_no_positive_pair_is_zero_with_gradient():
    z = torch.randn(3, 4, requires_grad=True)
    loss = SupervisedContrastiveLoss()(z, torch.tensor([0, 1, 2]))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_supcon_is_scale_invariant():
    z = torch.randn(6, 4)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    loss = SupervisedContrastiveLoss()
    torch.testing.assert_close(loss(z, labels), loss(7.0 * z, labels))


def test_combined_loss_is_ce_plus_weighted_supcon():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 2, generator=g)
    embedding = torch.randn(8, 6, generator=g)
    y = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    expected = F.cross_entropy(logits, y) + 0.3 * SupervisedContrastiveLoss(temperature=0.2)(embedding, y)
    got = CrossEntropyInfoNCELoss(contrastive_weight=0.3, temperature=0.2)(logits, y, embedding)
    torch.testing.assert_close(got, expected)
    plain = CrossEntropyInfoNCELoss(contrastive_weight=0.0)(logits, y, embedding)
    torch.testing.assert_close(plain, F.cross_entropy(logits, y))


@pytest.mark.parametrize(
    "make",
    [lambda: SupervisedContrastiveLoss(temperature=0.0), lambda: CrossEntropyInfoNCELoss(contrastive_weight=-1.0)],
)
def test_invalid_loss_parameters(make):
    with pytest.raises(ValueError, match="must be"):
        make()


# --------------------------------------------------------------------------
# The factorised forward against a plain reference implementation of the
# same maths (per-token projections, nn.MultiheadAttention, nn.LayerNorm).
def _randomise(module):
    """Non-trivial norms and biases, so that every term of the factorisation is exercised."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name.endswith("norm.weight") else 0.0))
    return module


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("with_text", [True, False])
@pytest.mark.parametrize("training", [False, True])
def test_factorised_forward_matches_reference(attention, with_text, training):
    # training=True with all dropouts 0 exercises the training branch exactly.
    kwargs = {"attention": attention}
    if not with_text:
        kwargs.update(feature_embeddings=None, clinical_dim=None)
    if training:
        kwargs.update(dropout=0.0)
    module = _randomise(_module(**kwargs)).train(training)
    values, clinical, mask = _batch()
    mask[1, 2:] = False
    mask[2, :] = False
    args = (values, clinical, mask) if with_text else (values,)
    values.requires_grad_(True)
    fast = module(*args)
    ref = reference_fusion_forward(module, *args)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # ...and the same gradients for every parameter
    fast_grads = torch.autograd.grad(
        fast[0].sum() + fast[1].square().sum(), list(module.parameters()), allow_unused=True
    )
    ref_grads = torch.autograd.grad(ref[0].sum() + ref[1].square().sum(), list(module.parameters()), allow_unused=True)
    for (name, _), a, b in zip(module.named_parameters(), fast_grads, ref_grads):
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)


def test_token_dropout_branch_matches_reference_under_the_same_masks():
    # With element-wise token dropout active the first feed-forward layer runs
    # per token; same random masks (same seed, same draw order) -> same output.
    module = _randomise(_module(dropout=0.0, token_dropout=0.3)).train()
    values, clinical, mask = _batch()
    torch.manual_seed(5)
    fast = module(values, clinical, mask)
    torch.manual_seed(5)
    ref = reference_fusion_forward(module, values, clinical, mask)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    module.eval()
    assert not torch.allclose(module(values, clinical, mask)[0], fast[0])


def test_cheaper_variants_are_options():
    default = _module()
    narrow = _module(ffn_factor=0.25)
    assert default.ffn[0].out_features == 2 * H
    assert narrow.ffn[0].out_features == H // 4
    assert default.token_dropout.p == 0.1
    assert _module(token_dropout=0.0).token_dropout.p == 0.0


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("training", [False, True])
def test_grouped_tokens_match_the_reference(attention, training):
    """feature_tokens="group": few tokens, the same maths as a member-by-member reference."""
    groups = [2, 0, 0, 1, 2, 1, 1][:K] + [3] * max(0, K - 7)
    kwargs = {"attention": attention, "token_groups": groups}
    if training:
        kwargs.update(dropout=0.0)
    module = _randomise(_module(**kwargs)).train(training)
    values, clinical, mask = _batch()
    mask[1, 2:] = False
    fast = module(values, clinical, mask)
    ref = reference_fusion_forward(module, values, clinical, mask)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    weights = fast[2]
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(values)))
    # members of a group share its weight equally; the linear path still sees each value
    torch.testing.assert_close(weights[:, 1], weights[:, 2])
    changed = values.clone()
    changed[:, 1] += 1.0
    assert not torch.allclose(module.eval()(changed, clinical, mask)[0], module(values, clinical, mask)[0])


def test_grouped_tokens_keep_which_member_had_which_value():
    """Swapping two members' values changes a group token (the values are written on the names)."""
    module = _randomise(_module(token_groups=[0] * K, dropout=0.0)).eval()
    values, clinical, mask = _batch()
    swapped = values.clone()
    swapped[:, [0, 1]] = values[:, [1, 0]]
    constant, u, basis = module._value_basis(values)
    a = module._group_tokens(values, constant, u, basis)
    constant, u, basis = module._value_basis(swapped)
    b = module._group_tokens(swapped, constant, u, basis)
    assert not torch.allclose(a, b)


def test_token_groups_are_validated():
    with pytest.raises(ValueError, match="token_groups"):
        _module(token_groups=[0, 1])
