"""
Grid search over K and C without re-extracting features
=======================================================

The extraction stages are stateless and cached on disk, so every candidate and
every fold of the search reads the features extracted once.
"""

import tempfile
import time

from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.pipelines import make_radiomics_svc_pipeline

data = make_synthetic_mammograms(60, image_size=128, random_state=1)
cache = tempfile.mkdtemp(prefix="llmrad-cache-")
pipe = make_radiomics_svc_pipeline(
    cache_dir=cache,
    extractor_params={"image_types": ["Original", "LoG"], "progress": False},
    random_state=0,
)
search = GridSearchCV(
    pipe,
    {"topk__k": [10, 30], "topk__score_func": ["anova", "mrmr"], "svc__C": [0.1, 1.0]},
    cv=StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0),
    scoring="roc_auc",
)
start = time.perf_counter()
search.fit(data.frame, data.target, groups=data.groups)
print(f"8 candidates x 3 folds in {time.perf_counter() - start:.1f} s")
print("best:", search.best_params_, f"AUC {search.best_score_:.3f}")
