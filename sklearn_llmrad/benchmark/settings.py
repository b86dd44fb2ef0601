"""The settings of a benchmark, one frozen object shared by its two modes.

:func:`~sklearn_llmrad.benchmark.run_benchmark` (lesions: images, patient-grouped
folds) and :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark` (studies:
feature tables, leave-one-study-out priors) take a :class:`BenchmarkSettings`;
each mode reads the fields that concern it. :data:`STUDY_SETTINGS` holds the study
mode's defaults.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from .._deprecation import renamed_parameter
from ..pipelines import DEFAULT_LANGUAGE_MODEL

__all__ = ["BenchmarkSettings", "STUDY_SETTINGS"]


@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    """What a benchmark runs with (every field has the lesion benchmark's default).

    Parameters
    ----------
    cv : int or None, default=5
        Folds: patient-grouped and stratified on lesions; stratified on each study.
    holdout : tuple of 3 numbers, default=None
        Lesions only: e.g. ``(7, 2, 1)``, one train/validation/test split instead of ``cv`` folds.
    k : int, default=500
        Radiomics features kept by Top-K (capped by the number available).
    language_model : str or None, default="dmis-lab/biobert-base-cased-v1.2"
        Hub id or local folder of the language model (the encoder's and the study
        priors'); ``None``: none for the encoder, the prior's own default for priors.
    encoder_params, classifier_params : dict, default=None
        Settings of the encoder and the fusion network (see
        :func:`~sklearn_llmrad.pipelines.make_llmrad_pipeline`).
    fallback : {"linear"} or None, default=None
        Lesions: ``None``, the method and its ablations are the fusion networks
        (the inner-CV choice between the network and its linear path is the
        ``llmrad-choice`` model). ``"linear"`` (deprecated; a :class:`FutureWarning`)
        makes them inner-CV choices too, as they were before, which hides the
        ablations when the choice picks the same linear path for each.
    cnn_size : int, default=224
        Input side of the CNN baselines.
    cnn_params : dict, default=None
        Classifier settings of the CNN baselines.
    model_params : dict of str -> dict, default=None
        Per model name, parameters set on its estimator with ``set_params``, e.g.
        ``{"random-forest": {"model__n_estimators": 100}}``.
    prior_params : dict, default=None
        Studies: further :class:`~sklearn_llmrad.prior.SemanticPrior` settings.
    related : dict of str -> list of str, default=None
        Studies: per study, the studies left out of its prior with it;
        :func:`~sklearn_llmrad.benchmark.related_studies` by default, ``{}``: the target only.
    device : str, default="auto"
    n_bootstraps : int, default=2000
        Bootstrap resamples of the confidence intervals.
    random_state : int, default=0
        Seeds the folds, the models, the priors and the bootstrap.
    n_jobs : int, default=None
        Lesions: parallel radiomics extraction, then folds and models in parallel (as
        many at once as free memory allows, 2 GiB each); studies: target studies in parallel.
    extractor_params, preprocessor_params : dict, default=None
        Lesions: settings of the shared image stages.
    pos_label : object, default=None
        Lesions: the malignant label when ``y`` is not coded 0/1.
    max_failed_fraction : float, default=0.2
        Lesions: the benchmark refuses to run if more lesions than this fail in the image stages.

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import STUDY_SETTINGS, BenchmarkSettings
    >>> settings = BenchmarkSettings(k=100, cv=3)
    >>> settings.k, settings.replace(k=50).k, STUDY_SETTINGS.device
    (100, 50, 'cpu')
    """

    cv: int | None = 5
    holdout: tuple | None = None
    k: int = 500
    language_model: str | None = DEFAULT_LANGUAGE_MODEL
    encoder_params: dict | None = None
    classifier_params: dict | None = None
    fallback: str | None = None
    cnn_size: int = 224
    cnn_params: dict | None = None
    model_params: dict | None = None
    prior_params: dict | None = None
    related: dict | None = None
    device: str = "auto"
    n_bootstraps: int = 2000
    random_state: int = 0
    n_jobs: int | None = None
    extractor_params: dict | None = None
    preprocessor_params: dict | None = None
    pos_label: object = None
    max_failed_fraction: float = 0.2

    def __post_init__(self):
        if self.fallback not in ("linear", None):
            raise ValueError(f"fallback must be 'linear' or None, got {self.fallback!r}")
        if self.fallback is not None:
            warnings.warn(
                "fallback='linear' is deprecated and will be removed in a future release: the method and its "
                "ablations are compared as networks; the inner-CV choice is the model 'llmrad-choice'.",
                FutureWarning,
                stacklevel=4,
            )

    def replace(self, **changes):
        """A copy with ``changes``; ``encoder=`` is the deprecated name of ``language_model=``.

        Parameters
        ----------
        **changes
            Field values.

        Returns
        -------
        BenchmarkSettings
        """
        if "encoder" in changes:
            new = changes.get("language_model", self.language_model)
            changes["language_model"] = renamed_parameter(
                changes.pop("encoder"), new, old="encoder", new="language_model", default=self.language_model
            )
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown benchmark setting(s) {unknown}")
        with warnings.catch_warnings():
            if "fallback" not in changes:  # the deprecated fallback was warned about when it was set
                warnings.simplefilter("ignore", FutureWarning)
            return dataclasses.replace(self, **changes)

    def with_embedding_cache(self, cache_dir):
        """These settings with the encoder's embeddings cached in ``cache_dir/embeddings``.

        Unchanged without a language model, or where ``encoder_params`` names a cache already.

        Parameters
        ----------
        cache_dir : str or path-like
            The run's cache folder.

        Returns
        -------
        BenchmarkSettings

        Examples
        --------
        >>> from sklearn_llmrad.benchmark import BenchmarkSettings
        >>> BenchmarkSettings(language_model="m").with_embedding_cache("cache").encoder_params
        {'cache_dir': 'cache/embeddings'}
        """
        if self.language_model is None:
            return self
        cache = {"cache_dir": str(Path(cache_dir) / "embeddings")}
        return self.replace(encoder_params={**cache, **(self.encoder_params or {})})

    def factory_kwargs(self, *, k=None, prior=None, n_features=None):
        """The keyword arguments of a model factory (``encoder`` too, for factories written before).

        Parameters
        ----------
        k : int, default=None
            Top-K capped for this data (``self.k`` when None).
        prior : SemanticPrior, default=None
            The study prior of the model.
        n_features : int, default=None
            The radiomics features the data hold: ``k`` (``self.k``) is capped at
            their number (no cap when None or 0).

        Returns
        -------
        dict
        """
        k = self.k if k is None else k
        return {
            "k": min(k, n_features) if n_features else k,
            "language_model": self.language_model,
            "encoder": self.language_model,
            "encoder_params": self.encoder_params,
            "classifier_params": self.classifier_params,
            "fallback": self.fallback,
            "cnn_size": self.cnn_size,
            "cnn_params": self.cnn_params,
            "device": self.device,
            "random_state": self.random_state,
            "prior": prior,
        }


#: The study mode's defaults: small enough for 32 studies x 5 folds on 2 CPU cores (about
#: 3 s per fold), K=100, a width-32 network, 60 epochs with early stopping, on the CPU.
STUDY_SETTINGS = BenchmarkSettings(
    k=100,
    language_model=None,
    classifier_params={
        "hidden_size": 32,
        "n_heads": 4,
        "max_epochs": 60,
        "batch_size": 32,
        "lr": 1e-3,
        "early_stopping": True,
        "patience": 10,
    },
    device="cpu",
)
