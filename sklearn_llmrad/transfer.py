"""The leave-one-study-out transfer benchmark, now the study mode of :mod:`sklearn_llmrad.benchmark`.

Kept so that ``from sklearn_llmrad.transfer import run_transfer_benchmark`` (and the
other names below) go on working: the benchmark lives in
:mod:`sklearn_llmrad.benchmark.transfer`, its priors in
:mod:`sklearn_llmrad.benchmark.priors`, its statistics in
:mod:`sklearn_llmrad.significance` and its report in :mod:`sklearn_llmrad.report`.
:func:`transfer_models` and :data:`TRANSFER_SETTINGS` are the registry's study models
and :data:`~sklearn_llmrad.benchmark.STUDY_SETTINGS` under their old names.
"""

from .benchmark import (
    DEFAULT_MODELS,
    STUDY_SETTINGS,
    ModelSpec,
    TransferResult,
    collect_transfer_results,
    fit_study_prior,
    load_tables,
    related_studies,
    run_transfer_benchmark,
)
from .benchmark import study_models as transfer_models
from .report import plot_transfer, transfer_markdown, write_transfer_report
from .significance import summarize_studies

__all__ = [
    "DEFAULT_MODELS",
    "TRANSFER_SETTINGS",
    "TransferModel",
    "TransferResult",
    "collect_transfer_results",
    "fit_study_prior",
    "load_tables",
    "plot_transfer",
    "related_studies",
    "run_transfer_benchmark",
    "summarize_studies",
    "transfer_markdown",
    "transfer_models",
    "write_transfer_report",
]

#: The study mode's default Top-K and fusion network settings (:data:`~sklearn_llmrad.benchmark.STUDY_SETTINGS`).
TRANSFER_SETTINGS = {"k": STUDY_SETTINGS.k, "classifier_params": STUDY_SETTINGS.classifier_params}


def TransferModel(name, label, factory, prior=None):  # noqa: N802 -- the class it replaces
    """A model of the study mode: a :class:`~sklearn_llmrad.benchmark.ModelSpec` of a feature table."""
    return ModelSpec(name, label, factory, "features", prior)
