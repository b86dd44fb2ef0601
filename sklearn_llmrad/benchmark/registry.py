"""Which models a benchmark can run: :class:`ModelSpec` and :class:`ModelRegistry`.

A model declares what it takes (``input``): the images (``"raw"`` lesions or
``"crops"``) or a feature table (``"features"``: the radiomics table of a lesion
benchmark, or a study's table in the leave-one-study-out mode), and which
study prior it receives (``prior``). A registry is an ordinary object passed
to :func:`~sklearn_llmrad.benchmark.run_benchmark` or
:func:`~sklearn_llmrad.benchmark.run_transfer_benchmark`; the built-in models of
its mode (:func:`default_models`, :func:`study_models`) are in every registry.
:func:`register_model` adds to :data:`DEFAULT_REGISTRY`, the registry used when
none is passed, and is kept for scripts written before registries existed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_REGISTRY",
    "REFERENCE_MODEL",
    "ModelRegistry",
    "ModelSpec",
    "available_models",
    "default_models",
    "register_model",
    "study_models",
]

#: The full method: DeLong tests compare every other model with it.
REFERENCE_MODEL = "llmrad"
_INPUTS = ("features", "crops", "raw")
_PRIORS = (None, "language_model", "random", "permuted", "identity", "identity-lookup", "family-lookup")
_MODES = ("lesions", "studies")


@dataclass(frozen=True)
class ModelSpec:
    """One model of the benchmark.

    Parameters
    ----------
    name : str
        Short identifier used on the command line and in file names.
    label : str
        Name printed in the results table.
    factory : callable
        ``factory(**settings) -> estimator``; called once per fold so every fold
        starts from an unfitted model.
    input : {"features", "crops", "raw"}
        What the estimator consumes: a feature table (the shared radiomics table,
        the pipeline from its ``topk`` step on, or a study's table), the shared
        CLAHE crops, or the raw ``X``.
    prior : str or None, default=None
        Which leave-one-study-out prior the factory receives as ``prior`` in the
        study mode: a key of :data:`~sklearn_llmrad.benchmark.priors.PRIOR_KINDS`
        (``"language_model"``; ``"random"``: the control prior of random name
        vectors; ``"identity"``, ``"permuted"``, ``"identity-lookup"``,
        ``"family-lookup"``).
    saveable : bool, default=True
        Whether the fitted model can be written to a model file
        (:func:`sklearn_llmrad.io.save`) and loaded again. False for a model whose
        pipeline holds code (a callable column selector, a function transformer):
        model files hold no code, so it runs in benchmarks only, and ``llmrad fit``
        and ``--save-models`` refuse it.

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import ModelSpec
    >>> ModelSpec("dummy", "Dummy", factory=lambda **_: None, input="features").input
    'features'
    """

    name: str
    label: str
    factory: object
    input: str = "raw"
    prior: str | None = None
    saveable: bool = True

    def __post_init__(self):
        if self.input not in _INPUTS:
            raise ValueError(f"input must be 'features', 'crops' or 'raw', got {self.input!r}")
        if self.prior not in _PRIORS:
            raise ValueError(f"prior must be one of {_PRIORS}, got {self.prior!r}")

    def build(self, settings, params=None):
        """The unfitted estimator: ``factory(**settings)`` with ``params`` set.

        Parameters
        ----------
        settings : dict
            Keyword arguments of the factory
            (:meth:`BenchmarkSettings.factory_kwargs <sklearn_llmrad.benchmark.BenchmarkSettings.factory_kwargs>`).
        params : dict, default=None
            Set on the estimator with ``set_params`` (a benchmark's ``model_params``).

        Returns
        -------
        estimator
        """
        estimator = self.factory(**settings)
        return estimator.set_params(**params) if params else estimator


def _tail(pipeline, first_step):
    names = [name for name, _ in pipeline.steps]
    return pipeline[names.index(first_step) :]


_FROM_SETTINGS = object()


def _fusion(*, with_language_model=True, attention=True, with_prior=False, fallback=_FROM_SETTINGS, pooling=None):
    """The method (or an ablation) from its Top-K step on; ``fallback`` fixed, or the settings' one.

    The settings' ``fallback`` is None (the network alone) unless a caller still passes the
    deprecated ``BenchmarkSettings(fallback="linear")``.
    """
    from .. import pipelines as p

    def factory(*, k, language_model, encoder_params, classifier_params, random_state, device, prior=None, **more):
        if pooling is not None:  # the prior also biases the attention pooling
            classifier_params = {**(classifier_params or {}), "prior_pooling": pooling}
        uses_text = with_language_model and language_model is not None
        pipe = p.make_llmrad_pipeline(
            k=k,
            language_model=language_model if uses_text else p.DEFAULT_LANGUAGE_MODEL,
            encoder="auto" if uses_text else None,
            encoder_params=encoder_params if uses_text else None,
            attention=attention,
            classifier_params=classifier_params,
            random_state=random_state,
            device=device,
            fallback=more.get("fallback") if fallback is _FROM_SETTINGS else fallback,
            prior=prior if with_prior else None,
        )
        return pipe[2:]  # after CLAHE and radiomics: the feature table is the input

    return factory


def _svc(*, k, random_state, **_):
    from ..pipelines import make_radiomics_svc_pipeline

    return _tail(make_radiomics_svc_pipeline(k=k, random_state=random_state), "topk")


def default_models():
    """The built-in models: the method, its ablations and the baselines.

    The method (``llmrad``) and its two ablations (``wo-biobert``: no language
    model, ``wo-attention``: no attention pooling) are the fusion networks, as
    compared in the seed paper, so that their rows differ wherever the networks
    do. ``llmrad-choice`` is the package's default pipeline: the network or its
    linear path (or their average), chosen by inner cross-validation on each
    training fold.

    The baselines of the radiomics table (the lesions' PyRadiomics features, clinical
    columns left out, median-imputed on the training folds) are Radiomics + SVC,
    gradient boosting (``lightgbm``: LightGBM's defaults), ``extra-trees`` (300 trees),
    ``elastic-net`` (logistic regression with ``C`` and the L1 share chosen by inner CV)
    and ``size-lr`` (logistic regression on the 2-D shape features alone: area,
    perimeter, diameters; Welch et al., Radiother Oncol 2019); the CNNs take the crops.

    Returns
    -------
    dict of str -> ModelSpec

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import default_models
    >>> list(default_models())  # doctest: +NORMALIZE_WHITESPACE
    ['llmrad', 'llmrad-choice', 'radiomics-svc', 'resnet50', 'efficientnet-b3', 'wo-biobert', 'wo-attention',
     'lightgbm', 'extra-trees', 'elastic-net', 'size-lr']
    >>> default_models()["llmrad-choice"].label
    'Full method + linear fallback'
    """
    from .. import pipelines as p

    def cnn(arch):
        def factory(*, cnn_size, cnn_params, random_state, device, **_):
            pipe = p.make_cnn_pipeline(
                arch, size=cnn_size, classifier_params=cnn_params, random_state=random_state, device=device
            )
            return _tail(pipe, "tensor")

        return factory

    specs = [
        ModelSpec("llmrad", "LLM-radiomics (full method)", _fusion(), "features"),
        ModelSpec("llmrad-choice", "Full method + linear fallback", _fusion(fallback="linear"), "features"),
        ModelSpec("radiomics-svc", "Radiomics + SVC", _svc, "features"),
        ModelSpec("resnet50", "ResNet-50", cnn("resnet50"), "crops"),
        ModelSpec("efficientnet-b3", "EfficientNet-B3", cnn("efficientnet_b3"), "crops"),
        ModelSpec("wo-biobert", "w/o BioBERT", _fusion(with_language_model=False), "features"),
        ModelSpec("wo-attention", "w/o attention", _fusion(attention=False), "features"),
    ]
    return {spec.name: spec for spec in [*specs, *_baselines()]}


def _imputed(estimator):
    """Median imputation keeping the column names (priors and selectors read them)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    imputer = SimpleImputer(strategy="median").set_output(transform="pandas")
    return Pipeline([("impute", imputer), ("model", estimator)])


def _prior_lr(*, prior=None, random_state, **_):
    from ..models.linear import SemanticPriorLogisticRegression

    # without a prior (gamma = 0): the same estimator and inner-CV grid of C
    return _imputed(SemanticPriorLogisticRegression(prior=prior, random_state=random_state))


def _forest(*, random_state, **_):
    from sklearn.ensemble import RandomForestClassifier

    return _imputed(RandomForestClassifier(n_estimators=300, n_jobs=1, random_state=random_state))


def _prior_controls():
    """Prior-weighted LR with the chain of control priors (not run by default)."""
    return [
        ModelSpec(
            "identity-prior-lr", "Prior-weighted LR, identities + language model", _prior_lr, "features", "identity"
        ),
        ModelSpec(
            "permuted-prior-lr", "Prior-weighted LR, weights permuted in the study", _prior_lr, "features", "permuted"
        ),
        ModelSpec(
            "identity-lookup-lr",
            "Prior-weighted LR, identity lookup (no language model)",
            _prior_lr,
            "features",
            "identity-lookup",
        ),
        ModelSpec(
            "family-prior-lr", "Prior-weighted LR, family only (filter x class)", _prior_lr, "features", "family-lookup"
        ),
    ]


def study_models():
    """The built-in models of the leave-one-study-out mode (feature tables only).

    The fusion network with and without the prior and with a random-names prior,
    the default method (``llmrad-choice``: the network with prior against its
    linear path, by inner CV), the prior-weighted logistic regression with the
    language-model and the random-names prior, plain logistic regression with the
    same inner-CV tuning of ``C``, Radiomics + SVC and a random forest; then the
    baselines of both modes (see :func:`default_models`): ``lightgbm``,
    ``extra-trees``, ``elastic-net`` and ``size-lr`` (plain LR on the columns whose
    names say shape, volume or size).

    Returns
    -------
    dict of str -> ModelSpec

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import study_models
    >>> list(study_models())  # doctest: +NORMALIZE_WHITESPACE
    ['llmrad-prior', 'llmrad', 'llmrad-random-prior', 'llmrad-prior-pooling', 'llmrad-choice',
     'prior-lr', 'random-prior-lr', 'lr', 'identity-prior-lr', 'permuted-prior-lr', 'identity-lookup-lr',
     'family-prior-lr', 'radiomics-svc', 'random-forest', 'lightgbm', 'extra-trees', 'elastic-net', 'size-lr']
    >>> study_models()["random-prior-lr"].prior
    'random'
    """
    lm, network = "language_model", _fusion(with_prior=True, fallback=None)
    specs = [
        ModelSpec("llmrad-prior", "Fusion network, with prior", network, "features", lm),
        ModelSpec("llmrad", "Fusion network, without prior", _fusion(fallback=None), "features"),
        ModelSpec("llmrad-random-prior", "Fusion network, random-names prior", network, "features", "random"),
        # not run by default: the prior also biases the attention pooling (prior_pooling=2,
        # fixed in advance like the linear path's prior_gamma=2, not tuned on these studies)
        ModelSpec(
            "llmrad-prior-pooling",
            "Fusion network, prior also on the pooling",
            _fusion(with_prior=True, fallback=None, pooling=2.0),
            "features",
            lm,
        ),
        ModelSpec(
            "llmrad-choice",
            "Full method: network with prior or its linear path",
            _fusion(with_prior=True, fallback="linear"),
            "features",
            lm,
        ),
        ModelSpec("prior-lr", "Prior-weighted LR", _prior_lr, "features", lm),
        ModelSpec("random-prior-lr", "Prior-weighted LR, random names", _prior_lr, "features", "random"),
        ModelSpec("lr", "Logistic regression", _prior_lr, "features"),
        *_prior_controls(),
        ModelSpec("radiomics-svc", "Radiomics + SVC", _svc, "features"),
        ModelSpec("random-forest", "Random forest", _forest, "features"),
    ]
    return {spec.name: spec for spec in [*specs, *_baselines()]}


# -- stronger baselines (issue 22): gradient boosting, extra-trees, elastic net, size only ----------
# Defaults or grids fixed in advance, never tuned on the benchmarks they are reported on. Each
# starts from the numeric radiomics columns of its table (a lesion benchmark's table also holds
# the clinical columns), median-imputed on the training folds, with pandas output (names kept).


def _on_columns(estimator, columns="radiomics", *, scale=False, names=False):
    """``estimator`` on the chosen columns, median-imputed (and standardised) on the training data.

    The steps are estimators whose rules are parameters (:mod:`sklearn_llmrad.columns`), so the
    fitted pipeline can be stored in a model file.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ..columns import FeatureColumnSelector, SafeFeatureNames

    steps = [("select", FeatureColumnSelector(columns=columns))] if columns is not None else []
    steps += [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    steps += [("scale", StandardScaler())] if scale else []
    steps += [("names", SafeFeatureNames())] if names else []
    return Pipeline([*steps, ("model", estimator)]).set_output(transform="pandas")


def _lightgbm(*, random_state, **_):
    from lightgbm import LGBMClassifier

    # LightGBM's defaults (100 trees, 31 leaves); one thread, as the other models. LightGBM refuses
    # names with JSON characters (a radMLBench table has "MODE_MLO+BB:CMb"): those are renamed.
    return _on_columns(LGBMClassifier(random_state=random_state, n_jobs=1, verbose=-1), names=True)


def _extra_trees(*, random_state, **_):
    from sklearn.ensemble import ExtraTreesClassifier

    # as the random forest: 300 trees, sklearn's other defaults (n_jobs=None: one job, as n_jobs=1,
    # and a value a model file may hold; the trees and their sum do not depend on it)
    return _on_columns(ExtraTreesClassifier(n_estimators=300, random_state=random_state))


def _elastic_net(*, random_state, **_):
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV

    from ..inner_cv import StratifiedInnerFolds
    from ..models.linear import DEFAULT_CS

    # C on plain LR's grid, the L1 share among three; 3 inner stratified folds of the training part,
    # shuffled and seeded, fewer on a small one (the rows of a study are patients; a lesion
    # benchmark's fit gets no patient ids)
    purpose = "the elastic net chooses C and the L1 share"
    options = dict(
        Cs=list(DEFAULT_CS),
        l1_ratios=[0.1, 0.5, 0.9],
        cv=StratifiedInnerFolds(3, random_state=random_state, purpose=purpose),
        scoring="roc_auc",
        solver="saga",
        max_iter=2000,
        tol=1e-2,  # a loose stopping rule: 6x faster than 1e-3 on a 2,030-column table, the same C and L1 share
        random_state=random_state,
    )
    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) < (1, 8):
        options["penalty"] = "elasticnet"  # 1.8 on: l1_ratios in (0, 1) mean the elastic net
    else:
        options["use_legacy_attributes"] = False
    return _on_columns(LogisticRegressionCV(**options), scale=True)


def _size_only_lr(*, random_state, **_):
    from ..columns import SelectedColumnsClassifier
    from ..models.linear import SemanticPriorLogisticRegression

    # plain LR ("lr": the same estimator and inner-CV grid of C) on the shape/size columns only;
    # a table without one gets 0.5 for every case
    model = _on_columns(SemanticPriorLogisticRegression(random_state=random_state), columns=None)
    return SelectedColumnsClassifier(model, columns="size")


def _baselines():
    """The stronger baselines of both modes (issue 22): appended to each mode's models."""
    return [
        ModelSpec("lightgbm", "Gradient boosting (LightGBM)", _lightgbm, "features"),
        ModelSpec("extra-trees", "Extra-trees", _extra_trees, "features"),
        ModelSpec("elastic-net", "Elastic-net LR (inner CV)", _elastic_net, "features"),
        ModelSpec("size-lr", "Shape/size-only LR", _size_only_lr, "features"),
    ]


class ModelRegistry:
    """The models a benchmark can run: the built-in ones plus your own.

    Parameters
    ----------
    specs : iterable of ModelSpec, default=()
        User models to start with.
    mode : {"lesions", "studies"}, default="lesions"
        Whose built-in models it holds: :func:`default_models` (a benchmark on
        lesions, :func:`~sklearn_llmrad.benchmark.run_benchmark`) or
        :func:`study_models` (leave-one-study-out on feature tables,
        :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark`, which runs
        only models whose ``input`` is ``"features"``).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_llmrad.benchmark import ModelRegistry
    >>> registry = ModelRegistry()
    >>> registry.register("logreg", lambda **_: LogisticRegression(), input="features")
    >>> registry.names()[-1], registry.resolve(["logreg"])[0].input
    ('logreg', 'features')
    >>> ModelRegistry(mode="studies").names()[:2]
    ['llmrad-prior', 'llmrad']
    """

    def __init__(self, specs=(), *, mode="lesions"):
        if mode not in _MODES:
            raise ValueError(f"mode must be 'lesions' or 'studies', got {mode!r}")
        self.mode = mode
        self._user = {}
        for spec in specs:
            self.add(spec)

    def __repr__(self):
        return f"ModelRegistry(mode={self.mode!r}, user models: {list(self._user)})"

    def _builtin(self):
        return default_models() if self.mode == "lesions" else study_models()

    def add(self, spec):
        """Add (or replace) a :class:`ModelSpec`.

        Parameters
        ----------
        spec : ModelSpec
            The model; a user model of the same name is replaced.

        Returns
        -------
        ModelSpec
            ``spec``.
        """
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"expected a ModelSpec, got {type(spec).__name__}")
        self._user[spec.name] = spec
        return spec

    def register(self, name, factory, *, input="raw", label=None, prior=None):
        """Add a model built by ``factory(**settings)``; see :class:`ModelSpec`.

        Parameters
        ----------
        name : str
            Identifier (``--models`` name).
        factory : callable
            ``factory(**settings) -> estimator``.
        input : {"features", "crops", "raw"}, default="raw"
            What the estimator consumes.
        label : str, default=None
            Display name; defaults to ``name``.
        prior : {"language_model", "random"} or None, default=None
            The study prior the factory receives (study mode).
        """
        self.add(ModelSpec(name=name, label=label or name, factory=factory, input=input, prior=prior))

    def unregister(self, name):
        """Remove a user model (built-in models cannot be removed).

        Parameters
        ----------
        name : str
            The model's name; a name that is not registered is ignored.
        """
        self._user.pop(name, None)

    def specs(self):
        """All models, built-in first.

        Returns
        -------
        dict of str to ModelSpec
            A user model of the same name replaces a built-in one.
        """
        return {**self._builtin(), **self._user}

    def names(self):
        """Model names in table order.

        Returns
        -------
        list of str
            Built-in names, then user models.
        """
        builtin = list(self._builtin())
        return builtin + [n for n in self._user if n not in builtin]

    def resolve(self, names=None):
        """The specs for ``names``.

        Parameters
        ----------
        names : list of str, default=None
            Model names; all models when None.

        Returns
        -------
        list of ModelSpec
            In the order of ``names`` (table order when None).

        Raises
        ------
        ValueError
            An unknown name.
        """
        known = self.specs()
        unknown = [n for n in names or () if n not in known]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; available: {sorted(known)}")
        specs = [known[n] for n in (self.names() if names is None else names)]
        images = [s.name for s in specs if self.mode == "studies" and s.input != "features"]
        if images:
            raise ValueError(f"model(s) {images} take images; the study mode runs models of a feature table")
        return specs


#: The registry used when :func:`~sklearn_llmrad.benchmark.run_benchmark` gets none.
DEFAULT_REGISTRY = ModelRegistry()


def register_model(name, factory, *, input="raw", label=None, registry=None):
    """Add a model of your own to every later benchmark run.

    Parameters
    ----------
    name : str
        Identifier (``--models`` name).
    factory : callable
        ``factory(**settings) -> estimator`` with ``fit`` and ``predict_proba``.
        Unknown settings must be accepted (``**kwargs``).
    input : {"features", "crops", "raw"}, default="raw"
        See :class:`ModelSpec`.
    label : str, default=None
        Display name; defaults to ``name``.
    registry : ModelRegistry, default=None
        Where to add it; :data:`DEFAULT_REGISTRY` by default.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.impute import SimpleImputer
    >>> from sklearn_llmrad.benchmark import ModelRegistry, register_model
    >>> def make_logreg(random_state=None, **_):
    ...     return make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500))
    >>> registry = ModelRegistry()
    >>> register_model("logreg", make_logreg, input="features", label="Logistic regression",
    ...                registry=registry)
    >>> "logreg" in registry.names()
    True
    """
    (DEFAULT_REGISTRY if registry is None else registry).register(name, factory, input=input, label=label)


def available_models(registry=None):
    """Names of the built-in and registered models.

    Parameters
    ----------
    registry : ModelRegistry, default=None
        Where to look; :data:`DEFAULT_REGISTRY` by default.

    Returns
    -------
    list of str
        Model names in table order.

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import available_models
    >>> available_models()[:2]
    ['llmrad', 'llmrad-choice']
    """
    return (DEFAULT_REGISTRY if registry is None else registry).names()
