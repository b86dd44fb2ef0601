"""`LLMRadiomicsClassifier`: the fusion network as a skorch/scikit-learn classifier."""

from __future__ import annotations

import inspect
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import column_or_1d
from skorch.utils import is_dataset, to_tensor

from ..scaling import training_quantiles
from ._base import SkorchClassifierBase, encode_labels
from ._explanation import case_labels, explain_predictions, forward_with_gradients
from ._fusion_input import FusionInputMixin
from .fusion import FusionModule
from .losses import CrossEntropyInfoNCELoss

__all__ = ["LLMRadiomicsClassifier"]


class LLMRadiomicsClassifier(FusionInputMixin, SkorchClassifierBase):
    """LLM-enhanced radiomics classifier: cross-attention fusion trained with skorch.

    A :class:`skorch.NeuralNetClassifier` subclass whose module is
    :class:`~sklearn_llmrad.models.fusion.FusionModule` and whose criterion is
    :class:`~sklearn_llmrad.models.losses.CrossEntropyInfoNCELoss`.

    ``X`` is either

    * a :class:`~sklearn_llmrad.encoding.SemanticFeatures` (the full method):
      the per-feature name embeddings are stored in the module once, at
      ``fit`` (a buffer, keyed by ``feature_names``), and only the values,
      clinical embeddings and clinical mask are fed per batch; or
    * a numeric DataFrame or array (the "w/o BioBERT" ablation): each column
      gets a learned embedding, and the feature tokens attend to learned
      context tokens (no clinical text). Non-numeric columns are rejected.

    Parameters
    ----------
    module : class, default=FusionModule
        The network class (not an instance). It receives ``n_features``,
        ``n_classes``, ``feature_embeddings``, ``clinical_dim`` and the
        architecture parameters below it accepts; ``module__*`` parameters
        are passed on too.
    criterion : class, default=CrossEntropyInfoNCELoss
        The criterion class; ``contrastive_weight`` and ``temperature`` are
        passed to it when it is a ``CrossEntropyInfoNCELoss``.
    optimizer : class, default=torch.optim.AdamW
    lr : float, default=1e-4
    max_epochs : int, default=200
    batch_size : int, default=32
    hidden_size : int, default=768
        Token width (divisible by ``n_heads``).
    n_heads : int, default=8
    dropout : float, default=0.1
    weight_decay : float, default=1e-5
        Passed to the optimizer unless ``optimizer__weight_decay`` is given.
    linear_lr_factor : float, default=100.0
        The linear path on the raw values is trained with ``lr *
        linear_lr_factor``: with Adam each weight moves about ``lr`` per step,
        so at a transformer's learning rate (1e-4) a logistic-regression-like
        path would hardly learn in 200 epochs of a small dataset.
    contrastive_weight : float, default=0.1
        Weight of the supervised InfoNCE term.
    temperature : float, default=0.1
        InfoNCE temperature.
    attention : bool, default=True
        ``False``: the "w/o attention" ablation.
    early_stopping : bool, default=False
        The default trains for ``max_epochs`` as published. ``True`` holds
        out ``validation_fraction`` of the training data (stratified, seeded
        by ``random_state``), stops when the validation loss has not improved
        for ``patience`` epochs and restores the best weights: advisable on
        small datasets (``llmrad demo`` uses it).
    patience : int, default=20
    validation_fraction : float, default=0.2
    device : {"auto", "cpu", "cuda", ...}, default="auto"
        ``"auto"``: CUDA when available. A model fitted on CUDA and
        unpickled on a CPU-only machine is mapped to the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, the batch order and the
        internal validation split, without touching torch's global RNG. The
        same integer gives identical probabilities on CPU.
    mixed_precision : bool, default=True
        On CUDA, train under automatic mixed precision (float16 autocast with
        gradient scaling); ignored on the CPU. Prediction runs in float32.
    train_split : callable or None, default=None
        skorch's split. ``None`` uses the internal stratified split when
        ``early_stopping=True`` and no validation otherwise.
    callbacks : list or None, default=None
        Extra skorch callbacks.
    classes : array-like or None, default=None
        Label order; inferred from ``y`` when ``None``.
    predict_nonlinearity : "auto", callable or None, default="auto"
        ``"auto"`` is a softmax over the logits.
    warm_start : bool, default=False
    verbose : int, default=0
        skorch's per-epoch log when > 0.
    progress : bool, default=True
        An epoch bar (:func:`tqdm.auto.tqdm`: a terminal or a notebook) with the
        training and validation losses, gone when training ends; none when
        ``verbose`` prints skorch's table. The package's own repeated fits (the
        inner-CV choice's splits) run without it.
    prior : SemanticPrior, str or None, default=None
        A :class:`~sklearn_llmrad.prior.SemanticPrior` (or saved prior
        directory) giving the linear path per-feature penalty factors: the loss
        gains ``prior_penalty * sum_j f_j * ||W_j||^2`` over the linear path's
        weights, ``f_j = w_j ** -prior_gamma`` (normalised to mean 1), so
        features the prior trusts are shrunk less (as in LLM-Lasso). Needs
        feature names (SemanticFeatures or a DataFrame): ``fit`` refuses an
        array, or the placeholders ``x0, x1, ...``, rather than guess.
    prior_gamma : float, default=2.0
        Trust in the prior (0: uniform penalty); tune with ``GridSearchCV``.
    prior_penalty : float, default=1e-2
        Strength of the prior-weighted L2 penalty (used only with ``prior``).
    prior_pooling : float, default=0.0
        Bias of the attention pooling toward the features the prior trusts:
        feature ``j``'s pooling score gains ``prior_pooling * log(w_j)``, a
        fixed term (so a feature the prior rates twice the median starts with
        ``2 ** prior_pooling`` times the pooling weight). 0: off. Used only with
        ``prior`` and ``attention``; tune with ``GridSearchCV``.
    feature_tokens : {"feature", "group", "class"}, default="feature"
        ``"feature"`` (the published model): one token per selected feature.
        ``"group"``: one token per PyRadiomics image type and feature class
        (e.g. ``wavelet-LLH_glcm``), ``"class"``: one per feature class
        (``glcm``, ``firstorder``, ...); a name without a recognised class is a
        group of its own. Far fewer tokens make a much cheaper network (an
        explicit, non-published variant: ``benchmarks/bench_training.py`` and
        ``benchmarks/bench_fusion_auc.py`` measure time and AUC side by side).
        The linear path still sees every feature. The groups come from the
        names, so ``"group"`` and ``"class"`` refuse placeholder names too.
    **kwargs
        Other skorch parameters (``iterator_train__*``, ``module__*``,
        ``optimizer__*``, ``criterion__*``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names (SemanticFeatures' names or DataFrame string columns;
        absent after fitting on an array without names).
    feature_descriptions_ : ndarray of shape (n_features_in_,)
        Clinical-language descriptions of the features, used by :meth:`explain`.
    input_kind_ : {"semantic", "numeric"}
    training_quantiles_ : ndarray of shape (101, n_features_in_)
        The 0th, 1st, ..., 100th percentiles of each feature's value as the
        network read it in ``fit`` (after the encoder's scaling): where a
        lesion lies in the training data (:func:`sklearn_llmrad.explain`).
    clinical_dim_ : int or None
        Width of the clinical embeddings seen in ``fit``.
    module_, criterion_, optimizer_, history_
        As in skorch.

    See Also
    --------
    sklearn_llmrad.models.fusion.FusionModule
    sklearn_llmrad.models.losses.CrossEntropyInfoNCELoss

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.models import LLMRadiomicsClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 6)).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = LLMRadiomicsClassifier(hidden_size=16, n_heads=2, max_epochs=3,
    ...                              lr=1e-2, early_stopping=False, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (40, 2)
    >>> clf.classes_
    array([0, 1])
    """

    _parameter_constraints = {
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "linear_lr_factor": [Interval(Real, 0, None, closed="neither")],
        "contrastive_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "attention": ["boolean"],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, -1, None, closed="left")],
        "device": [StrOptions({"auto"}), str, torch.device, None],
        "random_state": ["random_state"],
        "mixed_precision": ["boolean"],
        "progress": ["boolean"],
        # None, a fitted SemanticPrior or a saved prior folder (loaded and checked in fit)
        "prior": [None, HasMethods(["feature_weights"]), str, os.PathLike],
        "prior_gamma": [Interval(Real, 0, None, closed="left")],
        "prior_penalty": [Interval(Real, 0, None, closed="left")],
        "prior_pooling": [Interval(Real, 0, None, closed="left")],
        "feature_tokens": [StrOptions({"feature", "group", "class"})],
    }

    def __init__(
        self,
        *,
        module=FusionModule,
        criterion=CrossEntropyInfoNCELoss,
        optimizer=torch.optim.AdamW,
        lr=1e-4,
        max_epochs=200,
        batch_size=32,
        hidden_size=768,
        n_heads=8,
        dropout=0.1,
        weight_decay=1e-5,
        linear_lr_factor=100.0,
        contrastive_weight=0.1,
        temperature=0.1,
        attention=True,
        early_stopping=False,
        patience=20,
        validation_fraction=0.2,
        device="auto",
        random_state=None,
        mixed_precision=True,
        train_split=None,
        callbacks=None,
        classes=None,
        predict_nonlinearity="auto",
        warm_start=False,
        verbose=0,
        progress=True,
        prior=None,
        prior_gamma=2.0,
        prior_penalty=1e-2,
        prior_pooling=0.0,
        feature_tokens="feature",
        **kwargs,
    ):
        self._init_params(locals())

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        # skorch lists every attribute without a trailing underscore; its private
        # bookkeeping of unknown kwargs (rebuilt by __init__) and this class's
        # training caches (the prior's penalty factors) are not parameters, and
        # clone() of a fitted net would pass them to __init__.
        for name in [k for k in params if k.startswith("_")]:
            params.pop(name)
        return params

    # --------------------------------------------------------------- sklearn
    def __sklearn_tags__(self):
        # inherited: a dense numeric 2-D X without NaN, y required; also accepts SemanticFeatures, which
        # sklearn's tags cannot express
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        # A neural network with default (small-lr, early-stopped) settings
        # does not reach sklearn's toy-data score thresholds.
        tags.classifier_tags.poor_score = True
        return tags

    # ----------------------------------------------------------------- skorch
    def initialize_module(self):
        """Build the module from the data seen in ``fit`` and the architecture parameters.

        Returns
        -------
        self
            With ``module_`` set.

        Raises
        ------
        RuntimeError
            Called before ``fit`` (the network's size comes from the data).
        """
        context = getattr(self, "_module_context_", None)
        if context is None and isinstance(getattr(self, "module_", None), FusionModule):
            # Re-initialisation after fit (e.g. set_params(module__...)): the
            # data-derived arguments are read back from the fitted module.
            context = _built_with(self.module_)
        if context is None:
            raise RuntimeError(
                f"{type(self).__name__} builds its network from the training data "
                "(number of features, feature embeddings); call fit(X, y) instead of "
                "initialize()."
            )
        kwargs = dict(context)
        kwargs.update(
            hidden_size=self.hidden_size,
            n_heads=self.n_heads,
            dropout=self.dropout,
            attention=self.attention,
        )
        kwargs.update(self.get_params_for("module"))
        module = self.module
        if isinstance(module, torch.nn.Module):
            module = type(module)
        kwargs = _accepted_kwargs(module, kwargs)
        self.module_ = module(**kwargs)
        return self

    def initialize_criterion(self):
        """Pass ``contrastive_weight`` and ``temperature`` to the criterion.

        Other criteria get only their ``criterion__`` parameters.

        Returns
        -------
        self
            With ``criterion_`` set.
        """
        kwargs = self.get_params_for("criterion")
        criterion = self.criterion
        cls = criterion if isinstance(criterion, type) else type(criterion)
        if issubclass(cls, CrossEntropyInfoNCELoss):
            kwargs = {
                "contrastive_weight": self.contrastive_weight,
                "temperature": self.temperature,
                **kwargs,
            }
        self.criterion_ = self.initialized_instance(criterion, kwargs)
        return self

    def get_params_for_optimizer(self, prefix, named_parameters):
        named_parameters = list(named_parameters)
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix != "optimizer":
            return args, kwargs
        kwargs.setdefault("weight_decay", self.weight_decay)
        factor = self.linear_lr_factor
        linear = {id(p) for name, p in named_parameters if name.startswith("linear.")}
        if factor == 1 or not linear:
            return args, kwargs
        # Adam's steps are ~lr per weight whatever the gradient scale, so the
        # few weights of the linear path would barely move at a transformer's
        # learning rate; they get their own, larger one (unless the user put
        # them in a param group of their own).
        groups = []
        for group in args[0]:
            if "lr" in group:
                groups.append(group)
                continue
            own = [p for p in group["params"] if id(p) in linear]
            rest = [p for p in group["params"] if id(p) not in linear]
            if rest:
                groups.append({**group, "params": rest})
            if own:
                groups.append({**group, "params": own, "lr": kwargs["lr"] * factor})
        return (groups,) + tuple(args[1:]), kwargs

    def get_iterator(self, dataset, training=False):
        if training and "iterator_train__shuffle" not in self.__dict__:
            # Shuffled batches by default; under fit's forked, seeded RNG the
            # order is reproducible.
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("batch_size", self.batch_size)
            if kwargs["batch_size"] == -1:
                kwargs["batch_size"] = len(dataset)
            kwargs["shuffle"] = True
            return self.iterator_train(dataset, **kwargs)
        return super().get_iterator(dataset, training=training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Criterion on the module's ``(logits, embedding, attention)`` output.

        Parameters
        ----------
        y_pred : tensor or tuple of tensors
            The module's output; its first item holds the logits, its second
            the embedding used by a contrastive criterion.
        y_true : array-like or tensor
            Encoded labels.
        X : object, default=None
            The batch's input (unused; skorch's signature).
        training : bool, default=False
            Whether the loss is computed for a training step (unused).

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        if isinstance(y_pred, (tuple, list)):
            logits, embedding = y_pred[0], y_pred[1] if len(y_pred) > 1 else None
        else:
            logits, embedding = y_pred, None
        y_true = to_tensor(y_true, device=self.device)
        if getattr(self.criterion_, "requires_embeddings", False):
            loss = self.criterion_(logits, y_true, embedding)
        else:
            loss = self.criterion_(logits, y_true)
        if training and self.prior is not None and self.prior_penalty > 0:
            loss = loss + self._prior_penalty_term()
        return loss

    def _prior_penalty_term(self):
        """``prior_penalty * sum_j f_j ||W_j||^2`` on the linear path (see ``prior``)."""
        from ..prior import prior_feature_weights

        names = tuple(str(n) for n in self._feature_names_)
        key = (names, id(self.prior), float(self.prior_gamma))
        # a training-time cache, derived from the prior: no trailing "_", so model
        # files (which store fitted ``x_`` attributes) do not carry it
        cached = getattr(self, "_prior_factors", None)
        weight = self.module_.linear.weight
        if cached is None or cached[0] != key:
            w = prior_feature_weights(self.prior, list(names), len(names))
            factors = w ** -float(self.prior_gamma)
            factors = factors / factors.mean()
            cached = (key, torch.as_tensor(factors, dtype=weight.dtype, device=weight.device))
            self._prior_factors = cached
        return self.prior_penalty * (cached[1] * weight.pow(2).sum(dim=0)).sum()

    # -------------------------------------------------------------------- fit
    def _check_params(self):
        super()._check_params()
        if self.hidden_size % self.n_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by n_heads ({self.n_heads}).")

    def before_initialize(self, classes, y_encoded, *, warm):
        """Record the number of classes the network is built for.

        Parameters
        ----------
        classes : ndarray
            The classes seen in ``fit``.
        y_encoded : ndarray
            The labels as class indices.
        warm : bool
            Whether ``warm_start`` keeps the network already built.
        """
        super().before_initialize(classes, y_encoded, warm=warm)
        if not warm:
            self._module_context_["n_classes"] = len(classes)

    def after_fit(self):
        """The feature embeddings now live in ``module_`` only."""
        self.__dict__.pop("_module_context_", None)

    def fit(self, X, y, **fit_params):
        """Train the network from scratch on ``X``, ``y`` and record the training quantiles.

        Parameters
        ----------
        X : SemanticFeatures, DataFrame or array-like of shape (n_samples, n_features)
            Encoded or plain numeric features.
        y : array-like of shape (n_samples,)
            Class labels.
        **fit_params : dict
            Passed to skorch's ``fit``.

        Returns
        -------
        self
        """
        super().fit(X, y, **fit_params)
        self.training_quantiles_ = training_quantiles(self.validate_X(X, reset=False)["values"])
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training (no re-initialisation); see :meth:`fit`.

        Parameters
        ----------
        X : SemanticFeatures or array-like of shape (n_samples, n_features)
            As in ``fit``, with the same features.
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.
        classes : array-like, default=None
            Unused (the classes are fixed by the first ``fit``); skorch's signature.
        **fit_params : dict
            Passed on to skorch's ``partial_fit``.

        Returns
        -------
        self
            The classifier, trained further (or fitted, when it was not yet).
        """
        if isinstance(X, dict) or is_dataset(X):  # called by skorch internals
            return super().partial_fit(X, y, classes=classes, **fit_params)
        if not self.initialized_:
            return self.fit(X, y, **fit_params)
        inputs = self.validate_X(X, reset=False)
        y_enc, _ = encode_labels(column_or_1d(y), self.classes_, owner=type(self).__name__)
        return super().partial_fit(inputs, y_enc, **fit_params)

    # ------------------------------------------------------------ persistence
    def get_build_state(self):
        """The data-derived arguments of the network (see :meth:`initialize_module`).

        Returns
        -------
        dict
            ``n_features``, ``feature_embeddings`` (array or None),
            ``clinical_dim`` and ``n_classes``.
        """
        self.check_is_fitted()
        return _built_with(self.module_)

    def initialize_for_restore(self, build_state=None, after=None):
        """Build the network from a saved :meth:`get_build_state` to receive saved weights.

        Parameters
        ----------
        build_state : dict
            What :meth:`get_build_state` returned for the saved model.
        after : dict or None
            Attributes set once the network is built.

        Returns
        -------
        self
            Initialised, ready for the saved weights.

        Raises
        ------
        ValueError
            ``build_state`` is None.
        """
        if build_state is None:
            raise ValueError(f"{type(self).__name__} needs its build state to be restored")
        self._module_context_ = dict(build_state)
        try:
            return super().initialize_for_restore(build_state, after)
        finally:
            self.__dict__.pop("_module_context_", None)

    # ---------------------------------------------------------------- explain
    def feature_contributions(self, X):
        """Gradient x input of the log-odds of ``classes_[1]``, per lesion and feature.

        The values of :meth:`explain`'s ``contribution`` column for every
        feature (not only the top ones), in the order of ``feature_names_in_``.

        Parameters
        ----------
        X : SemanticFeatures, DataFrame or array-like
            As for :meth:`explain`.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
        """
        self.check_is_fitted()
        if len(self.classes_) != 2:
            raise ValueError("feature_contributions() is defined for binary classification only.")
        inputs = self.validate_X(X, reset=False)
        _, contribution, _ = forward_with_gradients(
            self.module_, inputs, batch_size=self.batch_size, device=self.device
        )
        return contribution.astype(np.float64)

    def explain(self, X, top_n=5):
        """Probability of malignancy and a short rationale for each lesion.

        The rationale names each driver by the part of its description before
        the first colon (e.g. "zone-size entropy (GLSZM) of the lesion after a
        Laplacian-of-Gaussian filter, sigma 3 mm"); the full description is in
        the table. Each feature's contribution is gradient x input of the log-odds of the
        positive class (``classes_[1]``) with respect to the scaled value, so
        it covers the linear path and the attention path together; a value of
        0 is the training median after the encoder's robust scaling, so a
        positive contribution reads "this value, compared with a typical
        lesion, pushes towards malignancy". Features are ranked by the
        absolute contribution; the attention-pooling weight is reported
        alongside (it tells which tokens the attention path looked at, but not
        in which direction they pushed).

        Parameters
        ----------
        X : SemanticFeatures, DataFrame or array-like
        top_n : int, default=5
            Number of drivers per lesion.

        Returns
        -------
        Bunch
            ``probability`` ndarray (n,); ``rationale`` list of str;
            ``contributions`` DataFrame with one row per (lesion, driver):
            ``case``, ``rank``, ``feature``, ``description``, ``value``,
            ``contribution``, ``attention``, sorted by case then by
            decreasing ``|contribution|``; ``cases`` list of case labels.

        See Also
        --------
        sklearn_llmrad.explain : the same attribution for a whole pipeline (raw
            values, training percentiles; features constant in training left out),
            and for whichever model an inner-CV choice picked.
        """
        self.check_is_fitted()
        if len(self.classes_) != 2:
            raise ValueError("explain() is defined for binary classification only.")
        if not (isinstance(top_n, Integral) and top_n >= 1):
            raise ValueError(f"top_n must be a positive integer, got {top_n!r}.")
        return explain_predictions(
            self.module_,
            self.validate_X(X, reset=False),
            cases=case_labels(X, len(X)),
            names=self._feature_names_,
            descriptions=self.feature_descriptions_,
            positive=self.classes_[1],
            batch_size=self.batch_size,
            device=self.device,
            top_n=top_n,
        )


def _built_with(module):
    """The data-derived arguments a fitted :class:`FusionModule` was built with (numpy, on the CPU)."""
    state = {
        "n_features": int(module.n_features),
        "feature_embeddings": module.feature_embeddings,
        "clinical_dim": None if module.clinical_projection is None else int(module.clinical_projection.in_features),
        "n_classes": int(module.linear.out_features),
    }
    for name in ("token_groups", "pool_prior"):
        if getattr(module, name, None) is not None:
            state[name] = getattr(module, name)
    return {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _accepted_kwargs(cls, kwargs):
    """Keep the keyword arguments ``cls`` accepts (all of them if it takes ``**kwargs``)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return kwargs
    parameters = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return kwargs
    accepted = {p.name for p in parameters}
    return {k: v for k, v in kwargs.items() if k in accepted}
