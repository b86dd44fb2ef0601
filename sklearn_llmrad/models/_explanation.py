"""Per-lesion explanations of the fusion network: gradient x input contributions and a rationale.

:meth:`LLMRadiomicsClassifier.explain <sklearn_llmrad.models.LLMRadiomicsClassifier.explain>`
validates its input and hands the module's inputs here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.utils import Bunch
from skorch.utils import to_tensor

__all__ = ["case_labels", "explain_predictions", "forward_with_gradients"]

_COLUMNS = ["case", "rank", "feature", "description", "value", "contribution", "attention"]


def case_labels(X, n):
    """The lesions' labels: ``X``'s index when it has one of length ``n``, else ``0 .. n - 1``."""
    index = getattr(X, "index", None)
    # list.index is a method, not case labels
    if index is not None and not callable(index) and len(index) == n:
        return list(index)
    return list(range(n))


def forward_with_gradients(module, inputs, *, batch_size, device):
    """Probability of ``classes_[1]``, gradient x input of its log-odds, attention weights; in batches."""
    n = len(inputs["values"])
    step = max(int(batch_size), 1) if batch_size != -1 else n
    was_training = module.training
    module.eval()
    probs, contribs, attns = [], [], []
    try:
        for start in range(0, n, step):
            batch = {k: to_tensor(v[start : start + step], device=device) for k, v in inputs.items()}
            values = batch.pop("values").float().requires_grad_(True)
            with torch.enable_grad():
                logits, _, attention = module(values, **batch)
                (grad,) = torch.autograd.grad((logits[:, 1] - logits[:, 0]).sum(), values)
            probs.append(torch.softmax(logits, dim=1)[:, 1].detach().cpu().numpy())
            contribs.append((grad * values).detach().cpu().numpy())
            attns.append(attention.detach().cpu().numpy())
    finally:
        module.train(was_training)
    return np.concatenate(probs), np.concatenate(contribs), np.concatenate(attns)


def explain_predictions(module, inputs, *, cases, names, descriptions, positive, batch_size, device, top_n=5):
    """The :meth:`~sklearn_llmrad.models.LLMRadiomicsClassifier.explain` table and rationales.

    ``inputs`` are the module's keyword arguments (``values`` first among
    them), ``positive`` the class whose probability is explained.
    """
    probability, contribution, attention = forward_with_gradients(module, inputs, batch_size=batch_size, device=device)
    values = inputs["values"]
    top_n = min(int(top_n), values.shape[1])
    malignant = positive in (1, True) or str(positive).lower() in {"1", "malignant", "malignancy"}
    label = "malignancy" if malignant else f"{positive}"
    rows, rationales = [], []
    for i, case in enumerate(cases):
        drivers = []
        for rank, k in enumerate(np.argsort(-np.abs(contribution[i]), kind="stable")[:top_n], start=1):
            row = [case, rank, names[k], descriptions[k], values[i, k], contribution[i, k], attention[i, k]]
            rows.append(row[:4] + [float(v) for v in row[4:]])
            level = "high" if values[i, k] > 0 else "low"
            sign = "+" if contribution[i, k] > 0 else "-"
            # a description's name part, before its ": explanation"
            drivers.append(f"{level} {str(descriptions[k]).split(':', 1)[0].strip()} ({sign})")
        rationales.append(f"Probability of {label} {probability[i]:.2f}. Main drivers: " + "; ".join(drivers) + ".")
    contributions = pd.DataFrame(rows, columns=_COLUMNS)
    return Bunch(probability=probability, rationale=rationales, contributions=contributions, cases=cases)
