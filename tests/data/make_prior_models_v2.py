"""Writes tests/data/prior-models-v2/ with the code of main at fe98289 (format 2: a prior stored by skops).

``pipeline.llmrad``: TopKSelector(prior=...) -> SemanticPriorLogisticRegression(prior=...), the prior
(random name vectors) held by both steps' payloads; ``fusion.llmrad``: an LLMRadiomicsClassifier whose
``prior=`` parameter is a skops node of its own. ``expected.npz`` (not part of the models) holds the inputs
and the probabilities each model gave when it was written.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import make_pipeline

from sklearn_llmrad import TopKSelector
from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.io import FORMAT_VERSION, save
from sklearn_llmrad.models import LLMRadiomicsClassifier
from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
from sklearn_llmrad.prior import SemanticPrior

assert FORMAT_VERSION == 2
torch.set_num_threads(1)
NAMES = ["original_shape_VoxelVolume", "original_firstorder_Entropy", "original_glcm_Idmn", "original_ngtdm_Busyness"]


def study(seed, n=40):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, len(NAMES))), columns=NAMES)
    X[NAMES[0]] += y
    X[NAMES[1]] += 0.5 * y
    return X, y


prior = SemanticPrior(name_vectors="random", alpha=1.0).fit({"a": study(1), "b": study(2)})
X, y = study(3)
pipe = make_pipeline(
    TopKSelector(k=3, prior=prior, prior_gamma=2.0), SemanticPriorLogisticRegression(prior=prior, cv=2)
).fit(X, y)
rng = np.random.default_rng(0)
n, K, D = 12, 4, 8
yf = np.array(["benign", "malignant"] * 6)
values = rng.normal(size=(n, K)).astype(np.float32) + (yf == "malignant")[:, None]
S = SemanticFeatures(
    values=values,
    feature_embeddings=rng.normal(size=(K, D)).astype(np.float32),
    clinical_embeddings=rng.normal(size=(n, 2, D)).astype(np.float32),
    feature_names=NAMES,
    descriptions=[f"{n}: x" for n in NAMES],
)
clf = LLMRadiomicsClassifier(
    max_epochs=2, hidden_size=8, n_heads=2, random_state=0, device="cpu", prior=prior, prior_pooling=1.0
).fit(S, yf)
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
save(pipe, out / "pipeline.llmrad")
save(clf, out / "fusion.llmrad")
np.savez(
    out / "expected.npz",
    X=X.to_numpy(),
    pipeline_proba=pipe.predict_proba(X),
    values=values,
    feature_embeddings=S.feature_embeddings,
    clinical_embeddings=S.clinical_embeddings,
    fusion_proba=clf.predict_proba(S),
    prior_weights=prior.feature_weights(NAMES),
)
print(pipe.predict_proba(X)[:2], clf.predict_proba(S)[:2])
