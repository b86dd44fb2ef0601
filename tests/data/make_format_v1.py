"""Writes tests/data/fusion-format-v1.llmrad with the format-1 code (commit 999afd5)."""

import sys

import numpy as np
import torch

from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.io import FORMAT_VERSION, save
from sklearn_llmrad.models import LLMRadiomicsClassifier

assert FORMAT_VERSION == 1
torch.set_num_threads(1)
rng = np.random.default_rng(0)
n, K, D = 12, 3, 8
y = np.array(["benign", "malignant"] * 6)
values = rng.normal(size=(n, K)).astype(np.float32) + (y == "malignant")[:, None]
X = SemanticFeatures(
    values=values,
    feature_embeddings=rng.normal(size=(K, D)).astype(np.float32),
    clinical_embeddings=rng.normal(size=(n, 2, D)).astype(np.float32),
    feature_names=["f0", "f1", "f2"],
    descriptions=["a: x", "b: y", "c: z"],
)
clf = LLMRadiomicsClassifier(max_epochs=2, hidden_size=8, n_heads=2, random_state=0, device="cpu").fit(X, y)
out = sys.argv[1]
save(clf, out + "/fusion-format-v1.llmrad")
np.savez(
    out + "/fusion-format-v1-inputs.npz",
    values=values,
    feature_embeddings=X.feature_embeddings,
    clinical_embeddings=X.clinical_embeddings,
    proba=clf.predict_proba(X),
)
print(clf.predict_proba(X)[:3])
