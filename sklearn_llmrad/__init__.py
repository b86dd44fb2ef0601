"""sklearn-llmrad: scikit-learn compatible LLM-enhanced radiomics for mammography.

The public API is imported lazily, so that ``import sklearn_llmrad`` stays fast
and loading the datasets does not import torch.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0.dev0"

_API = {
    "CLAHEPreprocessor": "sklearn_llmrad.preprocessing",
    "RadiomicsExtractor": "sklearn_llmrad.radiomics",
    "TopKSelector": "sklearn_llmrad.selection",
    "BioBERTEncoder": "sklearn_llmrad.encoding",
    "SemanticFeatures": "sklearn_llmrad.encoding",
    "LLMRadiomicsClassifier": "sklearn_llmrad.models",
    "ResNet50Classifier": "sklearn_llmrad.models",
    "EfficientNetB3Classifier": "sklearn_llmrad.models",
    "SemanticPrior": "sklearn_llmrad.prior",
    "pretrain_prior": "sklearn_llmrad.prior",
    "SemanticPriorLogisticRegression": "sklearn_llmrad.models.linear",
    "CircleROI": "sklearn_llmrad.roi",
    "BoxROI": "sklearn_llmrad.roi",
    "PolygonROI": "sklearn_llmrad.roi",
    "explain": "sklearn_llmrad.explanation",
    "harmonize_feature_names": "sklearn_llmrad.harmonize",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _API, extra=["__version__"])
