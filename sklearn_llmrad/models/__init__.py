"""Models: the LLM-radiomics fusion classifier, its criterion, and CNN baselines."""

from importlib import import_module

_API = {
    "FusionModule": "sklearn_llmrad.models.fusion",
    "SupervisedContrastiveLoss": "sklearn_llmrad.models.losses",
    "CrossEntropyInfoNCELoss": "sklearn_llmrad.models.losses",
    "LLMRadiomicsClassifier": "sklearn_llmrad.models.classifier",
    "ResNet50Classifier": "sklearn_llmrad.models.cnn",
    "EfficientNetB3Classifier": "sklearn_llmrad.models.cnn",
    "ROIToTensor": "sklearn_llmrad.models.cnn",
    "CalibratedSVC": "sklearn_llmrad.models.svm",
    "InnerCVChoiceClassifier": "sklearn_llmrad.models.choice",
    "SemanticPriorLogisticRegression": "sklearn_llmrad.models.linear",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'sklearn_llmrad.models' has no attribute {name!r}")


def __dir__():
    return __all__
