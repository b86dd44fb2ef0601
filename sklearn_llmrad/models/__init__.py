"""Models: the LLM-radiomics fusion classifier, its criterion, and CNN baselines."""

from .._lazy import lazy_exports

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

__all__, __getattr__, __dir__ = lazy_exports(__name__, _API)
