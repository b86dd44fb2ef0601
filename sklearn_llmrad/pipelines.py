"""Ready-made pipelines: the LLM-radiomics method, its ablations and the baselines.

Every factory returns a plain :class:`sklearn.pipeline.Pipeline`, so a model is
evaluated with ``cross_validate``, tuned with ``GridSearchCV`` and compared on the
same folds as any other. Step names are stable and used in parameter grids:

============  ==========================================================
step          estimator
============  ==========================================================
``clahe``     :class:`~sklearn_llmrad.preprocessing.CLAHEPreprocessor`
``radiomics`` :class:`~sklearn_llmrad.radiomics.RadiomicsExtractor`
``topk``      :class:`~sklearn_llmrad.selection.TopKSelector`
``encoder``   :class:`~sklearn_llmrad.encoding.BioBERTEncoder`
``fusion``    :class:`~sklearn_llmrad.models.LLMRadiomicsClassifier`
``choice``    :class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier` of the
              network (``llmrad``: topk, encoder, fusion) and its linear path
              (``linear``: topk, prior-weighted logistic regression)
``impute``    :class:`~sklearn.impute.SimpleImputer` (median; a NaN feature must not reach the SVC)
``scaler``    :class:`~sklearn.preprocessing.StandardScaler` (SVC) or
              :class:`~sklearn_llmrad.scaling.RobustFeatureScaler` (w/o BioBERT)
``svc``       :class:`~sklearn_llmrad.models.svm.CalibratedSVC` (RBF SVC, Platt-scaled probabilities)
``tensor``    :class:`~sklearn_llmrad.models.cnn.ROIToTensor`
``cnn``       a CNN classifier (ResNet-50 or EfficientNet-B3)
============  ==========================================================

The first two steps are stateless (per-lesion image processing), so
``pipeline[2:]`` is the part that learns from data; the benchmark uses this to
extract radiomics once per dataset and share them between models and folds.

By default the method's learned part is a ``choice``: inner cross-validation on
the training data decides between the fusion network, its own linear path (a
prior-weighted logistic regression on the same Top-K features) and their
average, so on a study where the network does not earn its place the linear
model is used. ``fallback=None`` gives the network alone (``topk``, ``encoder``,
``fusion`` as top-level steps), e.g. to study the architecture or call
:meth:`~sklearn_llmrad.models.LLMRadiomicsClassifier.explain` directly.

:func:`sklearn_llmrad.explain` explains any of these pipelines, fitted: each
lesion's probability as ``predict_proba`` gives it, the estimator that produced
it (for the choice, the one it picked) and that estimator's main drivers.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ._deprecation import renamed_parameter
from .language_model import BIOBERT_MODEL
from .models.svm import CalibratedSVC
from .scaling import RobustFeatureScaler

__all__ = [
    "DEFAULT_LANGUAGE_MODEL",
    "make_biobert_svc_pipeline",
    "make_cnn_pipeline",
    "make_feature_extraction_pipeline",
    "make_llmrad_pipeline",
    "make_no_attention_pipeline",
    "make_no_biobert_pipeline",
    "make_radiomics_svc_pipeline",
]

#: The language model of the published method: an alias of
#: :data:`sklearn_llmrad.language_model.BIOBERT_MODEL`.
DEFAULT_LANGUAGE_MODEL = BIOBERT_MODEL


def _head(cache_dir, n_jobs, preprocessor_params, extractor_params):
    from .preprocessing import CLAHEPreprocessor
    from .radiomics import RadiomicsExtractor

    extractor_params = {"cache_dir": cache_dir, "n_jobs": n_jobs, **(extractor_params or {})}
    return [
        ("clahe", CLAHEPreprocessor(**(preprocessor_params or {}))),
        ("radiomics", RadiomicsExtractor(**extractor_params)),
    ]


def _named(steps):
    """A pipeline of learned stages whose tables keep their column names (pandas output).

    The prior, grouped tokens and explanations read the radiomics features'
    names; a bare array would call them ``x0, x1, ...``.
    """
    return Pipeline(steps).set_output(transform="pandas")


def _features(encoder, k, score, random_state, prior=None):
    """Top-K selection, then the encoder, or (``encoder=None``) the encoder's own robust scaling."""
    from .selection import TopKSelector

    passthrough = None if encoder is None else "clinical"
    topk = TopKSelector(k, score_func=score, passthrough=passthrough, random_state=random_state, prior=prior)
    # without a language model, the same scaling as the encoder's: the ablation removes the model only
    return [("topk", topk), ("scaler", RobustFeatureScaler()) if encoder is None else ("encoder", encoder)]


def _encoder(encoder, language_model, *, encoder_params, cache_dir, device, random_state):
    """The ``encoder`` step: ``encoder`` itself, a new BioBERTEncoder of ``language_model``, or None."""
    from .encoding import BioBERTEncoder

    if encoder is None or isinstance(encoder, BioBERTEncoder):
        return encoder
    if not (isinstance(encoder, str) and encoder == "auto"):  # a model id or folder: language_model's old place
        language_model = renamed_parameter(
            encoder, language_model, old="encoder", new="language_model", default=BIOBERT_MODEL, stacklevel=4
        )
    params = {"device": device, "random_state": random_state}
    if cache_dir is not None:
        params["cache_dir"] = str(Path(cache_dir) / "embeddings")
    return BioBERTEncoder(language_model=str(language_model), **{**params, **(encoder_params or {})})


def make_feature_extraction_pipeline(*, cache_dir=None, n_jobs=None, preprocessor_params=None, extractor_params=None):
    """CLAHE then PyRadiomics: the stateless head shared by all radiomics models.

    Parameters
    ----------
    cache_dir : str or path-like, default=None
        On-disk radiomics cache. With a cache, a second cross-validation run or
        every candidate of a grid search reads features instead of extracting them.
    n_jobs : int, default=None
        Parallel extraction workers (joblib).
    preprocessor_params, extractor_params : dict, default=None
        Extra keyword arguments of the two stages.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_feature_extraction_pipeline
    >>> [name for name, _ in make_feature_extraction_pipeline().steps]
    ['clahe', 'radiomics']
    """
    return Pipeline(_head(cache_dir, n_jobs, preprocessor_params, extractor_params))


def make_radiomics_svc_pipeline(
    *,
    k=500,
    score="anova",
    C=1.0,
    cache_dir=None,
    n_jobs=None,
    preprocessor_params=None,
    extractor_params=None,
    random_state=None,
):
    """Traditional radiomics: CLAHE -> PyRadiomics -> Top-K -> impute -> standardise -> SVC.

    Clinical columns are dropped by the selector (``passthrough=None``); the SVC
    is RBF with balanced class weights and Platt-scaled probabilities
    (:class:`~sklearn_llmrad.models.svm.CalibratedSVC`) so that AUC and
    calibration can be computed.

    Parameters
    ----------
    k : int, default=500
        Number of radiomics features kept (learned on the training fold only).
    score : {"anova", "mutual_info", "mrmr"} or callable, default="anova"
        Feature-ranking criterion of :class:`~sklearn_llmrad.selection.TopKSelector`.
    C : float, default=1.0
        SVC regularisation.
    cache_dir, n_jobs, preprocessor_params, extractor_params
        See :func:`make_feature_extraction_pipeline`.
    random_state : int, default=None
        Seeds the selector (mutual information) and the SVC's probability calibration.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_radiomics_svc_pipeline
    >>> pipe = make_radiomics_svc_pipeline(k=50, C=0.5)
    >>> [name for name, _ in pipe.steps]
    ['clahe', 'radiomics', 'topk', 'impute', 'scaler', 'svc']
    >>> pipe.get_params()["topk__k"], pipe.get_params()["svc__C"]
    (50, 0.5)
    """
    learned = _named(
        _features(None, k, score, random_state)[:1]
        + [
            # partially failed features (NaN) must not reach the SVC
            ("impute", SimpleImputer(strategy="median")),
            ("scaler", StandardScaler()),
            ("svc", CalibratedSVC(C=C, random_state=random_state)),
        ]
    )
    return Pipeline(_head(cache_dir, n_jobs, preprocessor_params, extractor_params) + learned.steps)


def make_llmrad_pipeline(
    *,
    k=500,
    score="anova",
    language_model=BIOBERT_MODEL,
    encoder="auto",
    attention=True,
    classifier_params=None,
    encoder_params=None,
    cache_dir=None,
    n_jobs=None,
    preprocessor_params=None,
    extractor_params=None,
    device="auto",
    random_state=None,
    prior=None,
    fallback="linear",
    inner_cv=3,
    pretrained=None,
    refit="chosen",
):
    """The LLM-enhanced radiomics method and its ablations as one factory.

    CLAHE -> PyRadiomics -> Top-K -> BioBERT encoder -> fusion network; by
    default the network competes, by inner cross-validation on the training data,
    with its own linear path (see ``fallback``). Every table between the learned
    stages keeps its column names (pandas output), so the prior and grouped
    feature tokens read the radiomics features' real names.

    Parameters
    ----------
    k : int, default=500
        Number of radiomics features kept.
    score : str or callable, default="anova"
        Feature-ranking criterion.
    language_model : str or path-like, default="dmis-lab/biobert-base-cased-v1.2"
        The language model of the encoder the factory builds: a Hugging Face
        hub id or a local directory (:data:`DEFAULT_LANGUAGE_MODEL`); unused
        when ``encoder`` is an encoder or None.
    encoder : "auto", BioBERTEncoder or None, default="auto"
        ``"auto"``: a :class:`~sklearn_llmrad.encoding.BioBERTEncoder` of
        ``language_model`` (with ``encoder_params``, ``device``, ``random_state``
        and an embedding cache under ``cache_dir``); a configured encoder, used
        as it is; or ``None`` for the "w/o BioBERT" ablation: the fusion network
        then learns feature embeddings from scratch and sees no clinical text.
        A model id or folder here is deprecated: pass it as ``language_model``.
    attention : bool, default=True
        ``False`` gives the "w/o attention" ablation.
    classifier_params, encoder_params : dict, default=None
        Extra keyword arguments for the two learned stages (e.g. ``max_epochs``,
        ``hidden_size``; ``batch_size``, ``cache_dir`` of the encoder).
    cache_dir : str or path-like, default=None
        Radiomics cache directory; the encoder's embedding cache goes into its
        ``embeddings`` subfolder unless ``encoder_params`` says otherwise.
    n_jobs, preprocessor_params, extractor_params
        See :func:`make_feature_extraction_pipeline`.
    device : str, default="auto"
        Torch device of the language model and the fusion network ("auto" = CUDA when present).
    random_state : int, default=None
        Seeds selection, the encoder and the network.
    prior : str, path-like, SemanticPrior or None, default=None
        A semantic prior learned across public studies
        (:func:`~sklearn_llmrad.prior.pretrain_prior`, ``llmrad pretrain``), or
        the directory it was saved to. Top-K selection then weighs its scores
        by the prior (trust chosen by inner CV, ``topk__prior_gamma``), the
        fusion network's linear path gets per-feature penalty factors from it
        (``fusion__prior_gamma``, ``fusion__prior_penalty``) and the linear
        candidate of the choice is a prior-weighted logistic regression. With
        the default ``fallback`` these keys sit under ``choice__llmrad__`` (or
        ``choice__linear__`` for the linear candidate's ``topk`` and ``model``).
        The prior must not have seen the study the pipeline is evaluated on
        (``prior.studies_``).
    fallback : {"linear"} or None, default="linear"
        ``"linear"``: the learned part is an
        :class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier` (step
        ``choice``) that scores, by ``inner_cv``-fold cross-validation on the
        training data only, the network (``llmrad``), its linear path (``linear``:
        the same Top-K selection without the clinical columns, then a
        :class:`~sklearn_llmrad.models.linear.SemanticPriorLogisticRegression`
        using the prior when one is given) and their average, and predicts with
        the best; ties go to the linear model. While the two ``topk`` steps
        differ only in ``passthrough``, the selection (and its ``prior_gamma``)
        is fitted once per fold for both
        (:meth:`~sklearn_llmrad.selection.TopKSelector.fitted_as`); a grid that
        sets ``choice__linear__topk__k`` and ``choice__llmrad__topk__k`` apart
        fits each its own. The inner fits of the network
        stop early (``choice__inner_early_stopping``). So the method is never
        knowingly worse than its linear path, at about ``inner_cv`` times the
        network's training cost. ``None``: the network alone, with ``topk``,
        ``encoder`` (or ``scaler``) and ``fusion`` as top-level steps.
    inner_cv : int, default=3
        Inner folds of the choice (ignored when ``fallback=None``).
    pretrained : str, path-like, SemanticPrior or None, default=None
        Deprecated spelling of ``prior`` (a FutureWarning; removed in a future release).
    refit : {"chosen", "all"}, default="chosen"
        Which candidates of the choice are refitted on all training data: the
        one it picked (both, for their average), or both, so that the network
        can explain itself whichever won (ignored when ``fallback=None``).

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_llmrad_pipeline
    >>> [name for name, _ in make_llmrad_pipeline(k=100).steps]
    ['clahe', 'radiomics', 'choice']
    >>> pipe = make_llmrad_pipeline(k=100)
    >>> [name for name, _ in pipe.named_steps["choice"].estimators]
    ['linear', 'llmrad']
    >>> pipe.get_params()["choice__llmrad__fusion__attention"]
    True
    >>> [name for name, _ in make_llmrad_pipeline(k=100, fallback=None).steps]
    ['clahe', 'radiomics', 'topk', 'encoder', 'fusion']
    >>> [name for name, _ in make_llmrad_pipeline(encoder=None, fallback=None).steps]
    ['clahe', 'radiomics', 'topk', 'scaler', 'fusion']
    """
    from .models.choice import InnerCVChoiceClassifier
    from .models.classifier import LLMRadiomicsClassifier
    from .models.linear import SemanticPriorLogisticRegression
    from .prior import as_prior

    if fallback not in ("linear", None):
        raise ValueError(f"fallback must be 'linear' or None, got {fallback!r}")
    prior = as_prior(renamed_parameter(pretrained, prior, old="pretrained", new="prior"))
    encoder = _encoder(
        encoder,
        language_model,
        encoder_params=encoder_params,
        cache_dir=cache_dir,
        device=device,
        random_state=random_state,
    )
    params = {"attention": attention, "device": device, "random_state": random_state, "prior": prior}
    classifier = LLMRadiomicsClassifier(**{**params, **(classifier_params or {})})
    network = _named(_features(encoder, k, score, random_state, prior) + [("fusion", classifier)])
    head = _head(cache_dir, n_jobs, preprocessor_params, extractor_params)
    if fallback is None:
        return Pipeline(head + network.steps)
    # The network's own linear path as a model of its own: the same Top-K
    # selection without the clinical columns (the choice fits it once for both,
    # TopKSelector.fitted_as), then the prior-weighted LR.
    model = SemanticPriorLogisticRegression(prior=prior, random_state=random_state)
    linear = _named(_features(None, k, score, random_state, prior)[:1] + [("model", model)])
    choice = InnerCVChoiceClassifier(
        [("linear", linear), ("llmrad", network)], cv=inner_cv, random_state=random_state, refit=refit
    )
    return Pipeline(head + [("choice", choice)])


def make_no_biobert_pipeline(**kwargs):
    """The "w/o BioBERT" ablation: :func:`make_llmrad_pipeline` with ``encoder=None``.

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_no_biobert_pipeline
    >>> "encoder" in dict(make_no_biobert_pipeline().steps)
    False
    """
    return make_llmrad_pipeline(**{**kwargs, "encoder": None})


def make_no_attention_pipeline(**kwargs):
    """The "w/o attention" ablation: :func:`make_llmrad_pipeline` with ``attention=False``.

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_no_attention_pipeline
    >>> make_no_attention_pipeline().get_params()["choice__llmrad__fusion__attention"]
    False
    >>> make_no_attention_pipeline(fallback=None).get_params()["fusion__attention"]
    False
    """
    return make_llmrad_pipeline(**{**kwargs, "attention": False})


def make_biobert_svc_pipeline(
    *,
    k=500,
    score="anova",
    language_model=BIOBERT_MODEL,
    encoder="auto",
    encoder_params=None,
    C=1.0,
    cache_dir=None,
    n_jobs=None,
    preprocessor_params=None,
    extractor_params=None,
    device="auto",
    random_state=None,
):
    """ "SVC on BioBERT features": the encoder's numeric view fed to an SVC.

    The SVC receives ``np.asarray(SemanticFeatures)``, i.e. the robustly scaled
    selected features (and the clinical embedding when the encoder is configured
    with ``array_output="values+clinical"``). The parameters are those of
    :func:`make_llmrad_pipeline` and :func:`make_radiomics_svc_pipeline`.

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_biobert_svc_pipeline
    >>> [name for name, _ in make_biobert_svc_pipeline().steps][-2:]
    ['encoder', 'svc']
    """
    settings = {"encoder_params": encoder_params, "cache_dir": cache_dir, "device": device}
    encoder = _encoder(encoder, language_model, random_state=random_state, **settings)
    learned = _named(
        _features(encoder, k, score, random_state) + [("svc", CalibratedSVC(C=C, random_state=random_state))]
    )
    return Pipeline(_head(cache_dir, n_jobs, preprocessor_params, extractor_params) + learned.steps)


def make_cnn_pipeline(
    arch="resnet50",
    *,
    size=224,
    weights=None,
    preprocessor_params=None,
    classifier_params=None,
    device="auto",
    random_state=None,
):
    """CNN baseline: CLAHE crop -> resize to ``size`` x ``size`` -> ResNet-50 / EfficientNet-B3.

    Parameters
    ----------
    arch : {"resnet50", "efficientnet_b3"}, default="resnet50"
    size : int, default=224
        Side of the square network input.
    weights : None, "imagenet" or path, default=None
        Initial weights (never downloaded at run time).
    preprocessor_params, classifier_params : dict, default=None
    device : str, default="auto"
    random_state : int, default=None

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_cnn_pipeline
    >>> [name for name, _ in make_cnn_pipeline("efficientnet_b3", size=64).steps]
    ['clahe', 'tensor', 'cnn']
    """
    from .models.cnn import EfficientNetB3Classifier, ResNet50Classifier, ROIToTensor
    from .preprocessing import CLAHEPreprocessor

    classes = {"resnet50": ResNet50Classifier, "efficientnet_b3": EfficientNetB3Classifier}
    if arch not in classes:
        raise ValueError(f"arch must be one of {sorted(classes)}, got {arch!r}")
    cnn = classes[arch](weights=weights, device=device, random_state=random_state, **(classifier_params or {}))
    return Pipeline(
        [("clahe", CLAHEPreprocessor(**(preprocessor_params or {}))), ("tensor", ROIToTensor(size=size)), ("cnn", cnn)]
    )
