"""Compare the LLM-radiomics method with its ablations and baselines on the same folds.

The benchmark is built from small steps, one module each:

- :mod:`~sklearn_llmrad.benchmark.registry`: which models exist (:class:`ModelRegistry`);
- :mod:`~sklearn_llmrad.benchmark.folds`: patient-grouped folds (:func:`plan_folds`);
- :mod:`~sklearn_llmrad.benchmark.shared`: image stages shared by models and folds;
- :mod:`~sklearn_llmrad.benchmark.store`: fold files, checksums and fingerprints (resume);
- :mod:`~sklearn_llmrad.benchmark.runner`: one model on one fold, the table, :func:`run_benchmark`.
"""

from .folds import make_splits, plan_folds
from .registry import (
    DEFAULT_REGISTRY,
    REFERENCE_MODEL,
    ModelRegistry,
    ModelSpec,
    available_models,
    default_models,
    register_model,
)
from .runner import BenchmarkResult, run_benchmark, run_fold, summarize_models
from .shared import SharedInputs, prepare_shared_inputs

__all__ = [
    "DEFAULT_REGISTRY",
    "REFERENCE_MODEL",
    "BenchmarkResult",
    "ModelRegistry",
    "ModelSpec",
    "SharedInputs",
    "available_models",
    "default_models",
    "make_splits",
    "plan_folds",
    "prepare_shared_inputs",
    "register_model",
    "run_benchmark",
    "run_fold",
    "summarize_models",
]
