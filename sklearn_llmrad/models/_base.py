"""What every skorch classifier of the package shares: :class:`SkorchClassifierBase`.

The fusion classifier and the CNN baselines get from it ``device="auto"``, label
encoding, early stopping on a stratified seeded split, seeding that leaves torch's
global state alone, the ``fit`` template, ``predict_proba``/``predict``, CUDA mixed
precision, and the file state a model file (:mod:`sklearn_llmrad.io`) holds, so that
the file format never reaches into skorch's internals.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from numbers import Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import ValidSplit, unpack_data
from skorch.history import History
from skorch.utils import is_dataset

from .._progress import progress_bar
from ._device import AutoDeviceMixin

__all__ = ["EpochProgress", "SkorchClassifierBase", "encode_labels"]


# Attributes skorch sets itself when it builds a net: never a model file's fitted state.
_SKORCH_INTERNAL = frozenset(
    "history_ initialized_ virtual_params_ init_context_ callbacks_ prefixes_ cuda_dependent_attributes_ "
    "module_ criterion_ optimizer_ _modules _criteria _optimizers".split()
)


def _softmax(y):
    return torch.softmax(y, dim=-1)


def _silent(*args, **kwargs):
    """Sink for EarlyStopping messages when ``verbose=0`` (module level: picklable)."""


class EpochProgress(Callback):
    """skorch callback: a bar with one step per epoch and the last losses (train, valid) beside it.

    Drawn by :func:`~sklearn_llmrad._progress.progress_bar` when the net's
    ``progress`` is True and ``verbose`` is 0 (skorch's table is the progress
    otherwise); it closes when training ends (``leave=False``: a fit is one step
    of whatever loop runs it), after the last epoch or an early stop.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.models import LLMRadiomicsClassifier
    >>> X, y = np.random.default_rng(0).normal(size=(20, 3)).astype("float32"), np.arange(20) % 2
    >>> clf = LLMRadiomicsClassifier(hidden_size=8, n_heads=2, max_epochs=2, progress=False).fit(X, y)
    >>> dict(clf.callbacks_)["epoch_progress"].bar_ is None  # closed after training
    True
    """

    def initialize(self):
        self.bar_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.close()  # a previous fit that failed
        enabled = bool(getattr(net, "progress", True)) and not net.verbose
        self.bar_ = progress_bar(
            total=net.max_epochs, desc=type(net).__name__, unit="epoch", enabled=enabled, leave=False
        )

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        losses = [f"{key}={row[key]:.4f}" for key in ("train_loss", "valid_loss") if isinstance(row.get(key), Real)]
        self.bar_.set_postfix_str(", ".join(losses), refresh=False)
        self.bar_.update()
        self.bar_.refresh()  # every epoch drawn (tqdm skips updates within 0.1 s)

    def on_train_end(self, net, **kwargs):
        self.close()

    def close(self):
        """Close the bar; an early stop counts as done (a notebook would show it as failed)."""
        bar, self.bar_ = getattr(self, "bar_", None), None
        if bar is not None:
            bar.total = bar.n
            bar.close()


def encode_labels(y, classes=None, *, owner="classifier"):
    """``(encoded y, classes)``: labels of any hashable type mapped to ``0..n_classes-1`` in the order of ``classes``.

    ``classes`` need not be sorted; None or empty: ``np.unique(y)``. ValueError
    (naming ``owner``) for fewer than two classes or a label not in ``classes``.

    Examples
    --------
    >>> encode_labels([1, 0, 1], classes=[1, 0])
    (array([0, 1, 0]), array([1, 0]))
    >>> encode_labels(["malignant", "benign"])
    (array([1, 0]), array(['benign', 'malignant'], dtype='<U9'))
    """
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    if classes is not None and len(classes):
        classes = np.asarray(classes)
    else:
        classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{owner} needs samples of at least 2 classes in y; got {len(classes)} class: {classes.tolist()}."
        )
    index = {c: i for i, c in enumerate(classes.tolist())}
    if len(index) != len(classes):
        raise ValueError(f"classes holds duplicates: {classes.tolist()}")
    labels = y.tolist()
    unknown = sorted({v for v in labels if v not in index}, key=str)
    if unknown:
        raise ValueError(f"y holds labels not in classes {classes.tolist()}: {unknown[:5]}")
    return np.array([index[v] for v in labels], dtype=np.int64), classes


class SkorchClassifierBase(AutoDeviceMixin, NeuralNetClassifier):
    """Shared base of the package's skorch classifiers (not used directly).

    Subclasses set ``early_stopping``, ``patience``, ``validation_fraction``,
    ``random_state``, ``mixed_precision`` and ``progress`` (the epoch bar of
    :class:`EpochProgress`; ``set_params(progress=False)`` switches it off, e.g.
    for the repeated fits of an inner cross-validation) in ``__init__``, implement
    :meth:`validate_X` and its network's ``initialize_module``, and adapt the
    file state through :meth:`get_build_state`, :meth:`params_for_restore` and
    :meth:`initialize_for_restore`.
    """

    #: Draw a separate seed for the validation split (else the torch seed is reused).
    _separate_split_seed = False

    # ------------------------------------------------------------- sklearn
    def _init_params(self, arguments, **fixed):
        """``__init__``'s work, from its ``arguments`` (``locals()``): skorch's own ``__init__``
        receives those it names (``module``, ``criterion``, ``classes``), ``fixed`` ones and the
        prefixed ``kwargs`` options; every other parameter is stored as an attribute, unchanged
        (the sklearn convention)."""
        own = {k: v for k, v in arguments.items() if k not in ("self", "kwargs", "__class__")}
        takes = inspect.signature(super().__init__).parameters
        super().__init__(**fixed, **{k: own.pop(k) for k in list(own) if k in takes}, **arguments.get("kwargs", {}))
        for name, value in own.items():
            setattr(self, name, value)

    @property
    def classes_(self):
        if self.classes is not None and len(self.classes):
            return np.asarray(self.classes)
        try:
            return self.classes_inferred_
        except AttributeError as exc:
            raise AttributeError(f"{type(self).__name__} is not fitted yet: it has no classes_") from exc

    def _check_params(self):
        params = self.get_params(deep=False)
        validate_parameter_constraints(
            self._parameter_constraints,
            {k: params[k] for k in self._parameter_constraints if k in params},
            caller_name=type(self).__name__,
        )

    def set_params(self, **kwargs):
        super().set_params(**kwargs)
        device = torch.device(self.device) if self.device is not None else None
        usable = device is not None and (device.type != "cuda" or torch.cuda.is_available())
        if "device" in kwargs and self.initialized_ and usable:
            # a fitted net moves with its device parameter (an unavailable CUDA
            # device is left to skorch's unpickling, which maps it to the CPU)
            for component in self.file_modules().values():
                component.to(self.device)
        return self

    # ---------------------------------------------------------- input hooks
    def validate_X(self, X, *, reset):
        """Check ``X`` and return what is fed to skorch (array, dict or Dataset).

        ``reset=True`` in ``fit``: record what the input looks like
        (``n_features_in_``...). Subclasses must implement it.
        """
        raise NotImplementedError

    @staticmethod
    def _n_samples(X):
        if isinstance(X, dict):
            return len(next(iter(X.values())))
        return len(X)

    # --------------------------------------------------------------- seeding
    def _draw_seeds(self):
        """``(torch_seed, split_seed)`` from ``random_state``; ``(None, None)`` when it is None."""
        if self.random_state is None:
            return None, None
        rng = check_random_state(self.random_state)
        high = np.iinfo(np.int32).max
        if self._separate_split_seed:
            torch_seed, split_seed = (int(s) for s in rng.randint(high, size=2))
            return torch_seed, split_seed
        seed = int(rng.randint(high))
        return seed, seed

    @contextmanager
    def _seeded(self, seed):
        """Seed torch inside the block; the caller's generator states are restored after it."""
        if seed is None:
            yield
            return
        device = torch.device(self.device) if self.device is not None else torch.device("cpu")
        devices = []
        if device.type == "cuda":
            devices = [device.index if device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    # --------------------------------------------------------------- training
    def fit(self, X, y, **fit_params):
        """Validate ``X`` and ``y``, build the network and train it.

        Parameters
        ----------
        X : see the concrete classifier
        y : array-like of shape (n_samples,)
            Class labels (e.g. 0/1 or "benign"/"malignant").
        **fit_params : dict
            Passed to skorch's ``fit`` (and the module's ``forward``).

        Returns
        -------
        self
        """
        self._check_params()
        warm = bool(self.warm_start and self.initialized_)
        try:
            inputs = self.validate_X(X, reset=not warm)
            y_enc, classes = encode_labels(y, self.classes, owner=type(self).__name__)
            n = self._n_samples(inputs)
            if len(y_enc) != n:
                raise ValueError(f"X has {n} samples but y has {len(y_enc)} labels.")
            # a net initialised by hand, not fitted yet, has no classes to compare with
            previous = self.__dict__.get("classes_inferred_") if warm else None
            if previous is not None and not np.array_equal(classes, self.classes_):
                raise ValueError("warm_start: y has other classes than the first fit.")
            self.before_initialize(classes, y_enc, warm=warm)
            torch_seed, self._split_seed_ = self._draw_seeds()
            with self._seeded(torch_seed):
                if not warm:
                    self.initialize()
                # skorch's own partial_fit: the training loop on prepared input
                NeuralNet.partial_fit(self, inputs, y_enc, _routing_method="fit", **fit_params)
        finally:
            self.after_fit()
            for _, callback in getattr(self, "callbacks_", []):
                if isinstance(callback, EpochProgress):
                    callback.close()  # a fit that failed leaves no bar behind
        # skorch infers classes from the encoded y while training (its validation
        # accuracy compares indices); the labels are set afterwards
        self.classes_inferred_ = classes
        return self

    def before_initialize(self, classes, y_encoded, *, warm):
        """Called in ``fit`` after validation, before the network is (re)built."""
        self.classes_inferred_ = classes

    def after_fit(self):
        """Called at the end of ``fit``, also when it failed (drop temporary state)."""

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        # after the loss scorers (the bar shows this epoch's losses), before early stopping (which ends the epoch)
        callbacks.insert([name for name, _ in callbacks].index("valid_loss") + 1, ("epoch_progress", EpochProgress()))
        if self.early_stopping:
            sink = print if self.verbose else _silent
            stopping = EarlyStopping(monitor="valid_loss", patience=self.patience, load_best=True, sink=sink)
            callbacks.append(("early_stopping", stopping))
        return callbacks

    def get_split_datasets(self, X, y=None, **fit_params):
        """A stratified, seeded internal validation split when ``early_stopping`` is on."""
        if self.train_split is None and self.early_stopping:
            dataset = self.get_dataset(X, y)
            seed = getattr(self, "_split_seed_", None)
            return ValidSplit(self.validation_fraction, stratified=True, random_state=seed)(dataset, y, **fit_params)
        return super().get_split_datasets(X, y, **fit_params)

    # ------------------------------------------------------ mixed precision
    def _amp_enabled(self):
        """True when training runs under CUDA autocast with gradient scaling."""
        if not getattr(self, "mixed_precision", False):
            return False
        device = self.device
        return device is not None and torch.device(device).type == "cuda"

    def train_step_single(self, batch, **fit_params):
        """One forward/backward pass; under autocast with a scaled loss on CUDA."""
        if not self._amp_enabled():
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        with torch.autocast(device_type="cuda"):
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self._grad_scaler().scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _grad_scaler(self):
        scaler = self.__dict__.get("_amp_scaler")
        if scaler is None:
            scaler = self.__dict__["_amp_scaler"] = torch.amp.GradScaler("cuda")
        return scaler

    def _step_optimizer(self, step_fn):
        if not self._amp_enabled():
            return super()._step_optimizer(step_fn)
        # gradient scaling cannot re-evaluate a closure: one pass, then step
        if step_fn is not None:
            step_fn()
        scaler = self._grad_scaler()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return None

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_amp_scaler", None)  # rebuilt on the next training step
        return state

    # ---------------------------------------------------------------- predict
    def _get_predict_nonlinearity(self):
        if isinstance(self.predict_nonlinearity, str) and self.predict_nonlinearity == "auto":
            self.check_is_fitted()
            return _softmax
        return super()._get_predict_nonlinearity()

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : see the concrete classifier

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        if not (isinstance(X, dict) or is_dataset(X)):
            self.check_is_fitted()
            X = self.validate_X(X, reset=False)
        return super().predict_proba(X)

    def predict(self, X):
        """Predicted class labels (elements of ``classes_``).

        Parameters
        ----------
        X : see the concrete classifier

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        index = self.predict_proba(X).argmax(axis=1)
        if isinstance(X, dict) or is_dataset(X):
            # skorch's internal validation scoring compares with the encoded y
            return index
        return np.asarray(self.classes_)[index]

    # ------------------------------------------------------------ persistence
    @classmethod
    def is_file_attribute(cls, name):
        """Whether a model file may restore the fitted attribute ``name``: not one skorch builds itself."""
        return name.endswith("_") and not name.endswith("__") and name not in _SKORCH_INTERNAL

    def get_file_state(self):
        """``params``, fitted ``attributes``, ``build_state`` and ``history`` a model file holds of this net.

        The weights are those of :meth:`file_modules`. Raises ValueError when not fitted.
        """
        if not self.initialized_:
            raise ValueError(f"{type(self).__name__} is not initialized/fitted; fit it before saving")
        attributes = {
            k: v
            for k, v in vars(self).items()
            if self.is_file_attribute(k)
            and k[:-1] not in getattr(self, "prefixes_", ())
            and not isinstance(v, (torch.nn.Module, torch.optim.Optimizer))
        }
        state = {"params": self.get_params(deep=False), "attributes": attributes}
        return {**state, "build_state": self.get_build_state(), "history": self.history_.to_list()}

    def file_modules(self):
        """``{name: torch module}`` whose weights a model file holds: the network and the criterion."""
        modules = {name: getattr(self, name + "_", None) for name in ("module", "criterion")}
        return {name: module for name, module in modules.items() if isinstance(module, torch.nn.Module)}

    @classmethod
    def from_file_state(cls, state):
        """The initialised net a checked :meth:`get_file_state` dict describes, to receive its saved weights."""
        params, after = cls.params_for_restore(state["params"])
        net = cls(**params)
        for key, value in state.get("attributes", {}).items():
            setattr(net, key, value)
        net.initialize_for_restore(state.get("build_state"), after)
        if state.get("history") is not None:
            net.history_ = History(state["history"])
        return net

    def get_build_state(self):
        """Data (JSON values, arrays) ``initialize`` needs beyond the parameters; None when they suffice."""
        return

    @classmethod
    def params_for_restore(cls, params):
        """``(init_params, after)``: the net is built from the first, the second set once it is loaded.

        E.g. a pretrained-weights path that need not exist when loading.
        """
        return dict(params), {}

    def initialize_for_restore(self, build_state=None, after=None):
        """Build modules, criterion and optimizer from ``build_state``, then set ``after``; return self."""
        self.initialize()
        for key, value in (after or {}).items():
            self.__dict__[key] = value
        return self
