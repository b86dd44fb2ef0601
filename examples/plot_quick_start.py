"""
Quick start: traditional radiomics with patient-grouped cross-validation
========================================================================

CLAHE -> PyRadiomics -> Top-K -> SVC on the embedded synthetic dataset, scored
with sensitivity, specificity, AUC, F1 and accuracy on patient-grouped folds.
"""

import tempfile

from sklearn.model_selection import StratifiedGroupKFold, cross_validate

from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.metrics import SCORING
from sklearn_llmrad.pipelines import make_radiomics_svc_pipeline

data = make_synthetic_mammograms(60, image_size=128, random_state=0)
print(data.DESCR.splitlines()[0])

# Only the unfiltered image keeps this example fast; drop `extractor_params`
# for all nine 2-D filters (~1,500 features).
pipe = make_radiomics_svc_pipeline(
    k=40,
    cache_dir=tempfile.mkdtemp(prefix="llmrad-cache-"),
    extractor_params={"image_types": ["Original"], "progress": False},
    random_state=0,
)
scores = cross_validate(
    pipe,
    data.frame,
    data.target,
    groups=data.groups,
    cv=StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0),
    scoring=SCORING,
)
for name in SCORING:
    values = scores[f"test_{name}"]
    print(f"{name:12s} {values.mean():.3f} +/- {values.std():.3f}")
