"""Compare the LLM-radiomics method with its ablations and baselines on the same folds.

The benchmark has two modes, built from the same small steps, one module each:

- :mod:`~sklearn_llmrad.benchmark.settings`: what a run uses (:class:`BenchmarkSettings`);
- :mod:`~sklearn_llmrad.benchmark.registry`: which models exist, and whether each takes
  images or a feature table (:class:`ModelRegistry`);
- :mod:`~sklearn_llmrad.benchmark.folds`: patient-grouped folds (:func:`plan_folds`);
- :mod:`~sklearn_llmrad.benchmark.shared`: image stages shared by models and folds;
- :mod:`~sklearn_llmrad.benchmark.store`: fold files, checksums and fingerprints (resume);
- :mod:`~sklearn_llmrad.benchmark.runner`: one model on its folds (both modes), the table,
  :func:`run_benchmark` (lesions; ``test=``: external validation on another dataset);
- :mod:`~sklearn_llmrad.benchmark.priors`: leave-one-study-out priors (:func:`fit_study_prior`,
  the kinds of prior :data:`PRIOR_KINDS`);
- :mod:`~sklearn_llmrad.benchmark.transfer`: the study mode, :func:`run_transfer_benchmark`.
"""

from .fold_runs import run_fold
from .folds import make_splits, plan_folds
from .priors import PRIOR_KINDS, fit_study_prior, related_studies
from .registry import (
    DEFAULT_REGISTRY,
    REFERENCE_MODEL,
    ModelRegistry,
    ModelSpec,
    available_models,
    default_models,
    register_model,
    study_models,
)
from .runner import BenchmarkResult, run_benchmark, summarize_models
from .settings import STUDY_SETTINGS, BenchmarkSettings
from .shared import SharedInputs, prepare_shared_inputs
from .transfer import DEFAULT_MODELS, TransferResult, collect_transfer_results, load_tables, run_transfer_benchmark

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_REGISTRY",
    "PRIOR_KINDS",
    "REFERENCE_MODEL",
    "STUDY_SETTINGS",
    "BenchmarkResult",
    "BenchmarkSettings",
    "ModelRegistry",
    "ModelSpec",
    "SharedInputs",
    "TransferResult",
    "available_models",
    "collect_transfer_results",
    "default_models",
    "fit_study_prior",
    "load_tables",
    "make_splits",
    "plan_folds",
    "prepare_shared_inputs",
    "register_model",
    "related_studies",
    "run_benchmark",
    "run_fold",
    "run_transfer_benchmark",
    "study_models",
    "summarize_models",
]
