"""Training criteria: supervised contrastive (SupCon) loss and cross-entropy + InfoNCE.

Both are plain :class:`torch.nn.Module` classes, so skorch can receive them as
classes (``criterion=CrossEntropyInfoNCELoss``) and set their parameters with
``criterion__temperature=...``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SupervisedContrastiveLoss", "CrossEntropyInfoNCELoss"]


class SupervisedContrastiveLoss(nn.Module):
    """Supervised InfoNCE loss on L2-normalised embeddings (SupCon).

    Khosla et al. (2020), "Supervised Contrastive Learning", eq. 2
    (:math:`\\mathcal{L}^{sup}_{out}`): for an anchor :math:`i` with positives
    :math:`P(i)` (the other samples of its class) and all other samples
    :math:`A(i)`,

    .. math::

        \\ell_i = -\\frac{1}{|P(i)|} \\sum_{p \\in P(i)}
                 \\log \\frac{\\exp(z_i \\cdot z_p / \\tau)}
                            {\\sum_{a \\in A(i)} \\exp(z_i \\cdot z_a / \\tau)}

    averaged over the anchors that have at least one positive. A batch in
    which no anchor has a positive contributes zero.

    Parameters
    ----------
    temperature : float, default=0.1
        The temperature :math:`\\tau` (> 0).

    Examples
    --------
    >>> import torch
    >>> from sklearn_llmrad.models.losses import SupervisedContrastiveLoss
    >>> loss = SupervisedContrastiveLoss(temperature=0.1)
    >>> labels = torch.tensor([0, 0, 1, 1])
    >>> clustered = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    >>> mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> bool(loss(clustered, labels) < loss(mixed, labels))
    True
    """

    def __init__(self, *, temperature=0.1):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}.")
        self.temperature = float(temperature)

    def forward(self, embeddings, labels):
        """Loss for a batch of embeddings ``(n, d)`` and integer labels ``(n,)``."""
        n = embeddings.shape[0]
        if n < 2:
            return embeddings.sum() * 0.0
        z = F.normalize(embeddings.float(), dim=1)
        logits = z @ z.T / self.temperature
        self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
        # log of the softmax over A(i) = everyone but the anchor itself
        log_prob = logits - torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
        labels = labels.reshape(-1)
        positives = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~self_mask
        n_pos = positives.sum(1)
        has_pos = n_pos > 0
        if not bool(has_pos.any()):
            return embeddings.sum() * 0.0
        # masked_fill rather than multiplication: the diagonal may hold inf.
        summed = log_prob.masked_fill(~positives, 0.0).sum(1)
        return -(summed[has_pos] / n_pos[has_pos]).mean()


class CrossEntropyInfoNCELoss(nn.Module):
    """Cross-entropy on the logits plus a weighted supervised InfoNCE term.

    ``loss = CE(logits, y) + contrastive_weight * SupCon(embedding, y)``

    Parameters
    ----------
    contrastive_weight : float, default=0.1
        Weight of the contrastive term (0 gives plain cross-entropy).
    temperature : float, default=0.1
        Temperature of :class:`SupervisedContrastiveLoss`.

    Attributes
    ----------
    requires_embeddings : bool
        Class attribute telling
        :class:`~sklearn_llmrad.models.classifier.LLMRadiomicsClassifier` to
        pass the pooled representation as third argument.

    Examples
    --------
    >>> import torch
    >>> from sklearn_llmrad.models.losses import CrossEntropyInfoNCELoss
    >>> criterion = CrossEntropyInfoNCELoss(contrastive_weight=0.0)
    >>> logits, y = torch.tensor([[2.0, -1.0], [0.0, 1.0]]), torch.tensor([0, 1])
    >>> bool(torch.isclose(criterion(logits, y, torch.randn(2, 4)),
    ...                    torch.nn.functional.cross_entropy(logits, y)))
    True
    """

    requires_embeddings = True

    def __init__(self, *, contrastive_weight=0.1, temperature=0.1):
        super().__init__()
        if not contrastive_weight >= 0:
            raise ValueError(f"contrastive_weight must be >= 0, got {contrastive_weight!r}.")
        self.contrastive_weight = float(contrastive_weight)
        self.contrastive = SupervisedContrastiveLoss(temperature=temperature)

    def forward(self, logits, target, embeddings=None):
        """Loss for logits ``(n, C)``, targets ``(n,)`` and embeddings ``(n, d)``."""
        target = target.long().reshape(-1)
        loss = F.cross_entropy(logits, target)
        if self.contrastive_weight and embeddings is not None:
            loss = loss + self.contrastive_weight * self.contrastive(embeddings, target)
        return loss
