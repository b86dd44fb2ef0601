"""Which models a benchmark can run: :class:`ModelSpec` and :class:`ModelRegistry`.

A registry is an ordinary object passed to
:func:`~sklearn_llmrad.benchmark.run_benchmark`; the built-in models (the
method, its ablations and the baselines) are in every registry.
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
]

#: The full method: DeLong tests compare every other model with it.
REFERENCE_MODEL = "llmrad"
_INPUTS = ("features", "crops", "raw")


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
        What the estimator consumes: the shared radiomics table (the pipeline
        from its ``topk`` step on), the shared CLAHE crops, or the raw ``X``.

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

    def __post_init__(self):
        if self.input not in _INPUTS:
            raise ValueError(f"input must be 'features', 'crops' or 'raw', got {self.input!r}")


def _tail(pipeline, first_step):
    names = [name for name, _ in pipeline.steps]
    return pipeline[names.index(first_step) :]


def default_models():
    """The built-in models: the method, its ablations and the baselines.

    Returns
    -------
    dict of str -> ModelSpec

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import default_models
    >>> list(default_models())
    ['llmrad', 'radiomics-svc', 'resnet50', 'efficientnet-b3', 'wo-biobert', 'wo-attention']
    """
    from .. import pipelines as p

    def fusion(*, language_model=True, attention=True):
        """The method (or an ablation) from its Top-K step on."""

        def factory(*, k, encoder, encoder_params, classifier_params, random_state, device, fallback="linear", **_):
            pipe = p.make_llmrad_pipeline(
                k=k,
                encoder=encoder if language_model else None,
                encoder_params=encoder_params if language_model else None,
                attention=attention,
                classifier_params=classifier_params,
                random_state=random_state,
                device=device,
                fallback=fallback,
            )
            return pipe[2:]  # everything after CLAHE and radiomics (shared by all models)

        return factory

    def svc(*, k, random_state, **_):
        return _tail(p.make_radiomics_svc_pipeline(k=k, random_state=random_state), "topk")

    def cnn(arch):
        def factory(*, cnn_size, cnn_params, random_state, device, **_):
            return _tail(
                p.make_cnn_pipeline(
                    arch,
                    size=cnn_size,
                    classifier_params=cnn_params,
                    random_state=random_state,
                    device=device,
                ),
                "tensor",
            )

        return factory

    specs = [
        ModelSpec("llmrad", "LLM-radiomics (full method)", fusion(), "features"),
        ModelSpec("radiomics-svc", "Radiomics + SVC", svc, "features"),
        ModelSpec("resnet50", "ResNet-50", cnn("resnet50"), "crops"),
        ModelSpec("efficientnet-b3", "EfficientNet-B3", cnn("efficientnet_b3"), "crops"),
        ModelSpec("wo-biobert", "w/o BioBERT", fusion(language_model=False), "features"),
        ModelSpec("wo-attention", "w/o attention", fusion(attention=False), "features"),
    ]
    return {spec.name: spec for spec in specs}


class ModelRegistry:
    """The models a benchmark can run: the built-in ones plus your own.

    Parameters
    ----------
    specs : iterable of ModelSpec, default=()
        User models to start with.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_llmrad.benchmark import ModelRegistry
    >>> registry = ModelRegistry()
    >>> registry.register("logreg", lambda **_: LogisticRegression(), input="features")
    >>> registry.names()[-1], registry.resolve(["logreg"])[0].input
    ('logreg', 'features')
    """

    def __init__(self, specs=()):
        self._user = {}
        for spec in specs:
            self.add(spec)

    def __repr__(self):
        return f"ModelRegistry(user models: {list(self._user)})"

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

    def register(self, name, factory, *, input="raw", label=None):
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
        """
        self.add(ModelSpec(name=name, label=label or name, factory=factory, input=input))

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
        return {**default_models(), **self._user}

    def names(self):
        """Model names in table order.

        Returns
        -------
        list of str
            Built-in names, then user models.
        """
        builtin = list(default_models())
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
        if names is None:
            return [known[n] for n in self.names()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; available: {sorted(known)}")
        return [known[n] for n in names]


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
    ['llmrad', 'radiomics-svc']
    """
    return (DEFAULT_REGISTRY if registry is None else registry).names()
