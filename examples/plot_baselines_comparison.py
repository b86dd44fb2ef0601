"""
Compare models on the same folds with confidence intervals
==========================================================

`run_benchmark` fits every model on the same patient-grouped folds and reports
each metric with a stratified-bootstrap 95% CI and a DeLong test against the
full method. Here: the radiomics SVC and a model registered from Python.
"""

import tempfile

from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_llmrad.benchmark import ModelRegistry, run_benchmark
from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.report import format_table
from sklearn_llmrad.selection import TopKSelector


def make_logistic(random_state=None, **_):
    # "features" models receive the radiomics table plus the clinical columns
    return make_pipeline(
        TopKSelector(30, passthrough=None),
        SimpleImputer(),
        StandardScaler(),
        LogisticRegression(C=0.05, max_iter=2000),
    )


# your own registry: the built-in models plus this one (the package's default registry is untouched)
registry = ModelRegistry()
registry.register("logistic", make_logistic, input="features", label="Radiomics + logistic regression")

data = make_synthetic_mammograms(60, image_size=128, random_state=2)
out = tempfile.mkdtemp(prefix="llmrad-benchmark-")
result = run_benchmark(
    data.frame,
    data.target,
    data.groups,
    models=["radiomics-svc", "logistic"],
    registry=registry,
    cv=3,
    k=30,
    out_dir=out,
    n_bootstraps=500,
    extractor_params={"image_types": ["Original"], "progress": False},
)
print(format_table(result.table))
print("plots and tables in", out)
