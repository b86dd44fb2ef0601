"""Save and load fitted pipelines without pickle.

A model file is one zip archive:

``manifest.json``
    format version, the library versions it was written with, and one node per
    estimator: its class (a dotted name), its parameters and where its state is.
``steps/<i>.skops``
    scikit-learn-style estimators (selectors, scalers, SVC, our transformers),
    written with :mod:`skops.io` and loaded with an explicit list of trusted
    types.
``steps/<i>.safetensors``
    tensors: the weights of torch modules inside skorch nets and numeric arrays
    held by estimators.
``steps/<i>/language_model/``
    only with ``include_language_model=True``: the encoder's language model
    (safetensors weights, config and tokenizer files).

An :class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier` (the default
method's network-or-linear-path choice) is a node of its own: its parameters and
fitted attributes in the manifest (numbers and strings, arrays in
``steps/<i>.safetensors``), and one node per refitted candidate.

Nothing in the file is ever unpickled. Every class named in the manifest is
checked against an allow-list *before* it is imported, every type in a skops
payload is checked with :func:`skops.io.get_untrusted_types` before anything is
constructed, and a tensor file holding pickle data (a ``torch.save`` file) is
refused. A file that fails any of these checks raises :class:`UnsafeModelError`.

Names are not enough: every parameter *value* is checked against its class's
schema (:mod:`sklearn_llmrad.io.values`) before anything is built. Compile
options, ``torch.load`` options, cache folders, pipeline memory and weights files
are never taken from a file, paths are never taken where a name is expected, and
objects are built only of exact allow-listed classes. A skorch network is first
built on PyTorch's ``meta`` device (no memory) and its shapes compared with the
weights the file holds, so a file cannot make ``load`` allocate more than it
stores. Every other failure on a malformed file is a :class:`ModelFileError`.
See ``docs/security.md`` for the threat model.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import io as _io
import json
import math
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .values import (
    NUMPY_SCALAR_TYPES,
    ModelFileWarning,
    UnsafeModelError,
    ValuePolicy,
    check_estimator_values,
    check_params,
    constructor_default,
    is_plain_data,
    never_from_file,
)

__all__ = ["ModelFileError", "ModelFileWarning", "UnsafeModelError", "load", "own_registry", "save"]

FORMAT = "sklearn-llmrad-model"
FORMAT_VERSION = 2
# Format 1 (sklearn-llmrad before the shared skorch base) kept the fusion
# network's build state as a private ``_module_context_`` attribute; it is
# still read. Anything older or newer is refused with what to do.
_READABLE_VERSIONS = (1, 2)

_MANIFEST = "manifest.json"

# Distribution names whose versions are recorded; a mismatch on load warns,
# because numerics or fitted-attribute layouts can change between releases.
_VERSIONED = {
    "sklearn_llmrad": "sklearn-llmrad",
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "torch": "torch",
    "transformers": "transformers",
    "skorch": "skorch",
    "pyradiomics": "pyradiomics-bhklab",
    "skops": "skops",
}

# Files of a language-model directory that may be stored and extracted. Weights
# only as safetensors; no python files (custom model code) and no pickles.
_LM_FILE_SUFFIXES = (".safetensors", ".json", ".txt", ".model")

# Modules of this package left out of the registry of what a model file may name:
# they read or write files, run the command line, download or load data sets,
# or are test helpers; nothing they define belongs inside a fitted estimator.
_EXCLUDED_OWN_MODULES = (
    "sklearn_llmrad.io",
    "sklearn_llmrad.cli",
    "sklearn_llmrad.benchmark",
    "sklearn_llmrad.report",
    "sklearn_llmrad.datasets",
    "sklearn_llmrad._testing",
    "sklearn_llmrad._cache",
    "sklearn_llmrad._embedding_cache",
)

# Bounds on what is read from an archive. Checked on the sizes the zip
# directory declares, before a member is read, and again on the bytes actually
# decompressed. Model weights are stored uncompressed, so a member that would
# inflate far beyond its stored size is a decompression bomb.
_MAX_MANIFEST_BYTES = 16 * 2**20
_MAX_MEMBER_BYTES = 4 * 2**30
_MAX_TOTAL_BYTES = 8 * 2**30
_MAX_RATIO = 100  # uncompressed/compressed, for members above _RATIO_FLOOR
_RATIO_FLOOR = 16 * 2**20
_MAX_INLINE_ITEM_BYTES = 2**20  # one element of an inline string array

# Third-party functions that fitted estimators legitimately reference
# (``SelectKBest(score_func=...)``, EarlyStopping's ``sink``).
_ALLOWED_FUNCTIONS = frozenset(
    {
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.feature_selection._univariate_selection.chi2",
        "sklearn.feature_selection._univariate_selection.f_regression",
        "sklearn.feature_selection._univariate_selection.r_regression",
        "sklearn.feature_selection._mutual_info.mutual_info_classif",
        "sklearn.feature_selection._mutual_info.mutual_info_regression",
        "builtins.print",
    }
)

# Third-party classes held inside fitted scikit-learn estimators that skops does
# not trust by default (CalibratedSVC keeps its calibrators and its CV splitter).
_ALLOWED_SKLEARN_CLASSES = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.model_selection._split.KFold",
    }
)

# Attributes skorch sets itself in ``initialize``; everything else ending in
# ``_`` is fitted state of the subclass and is stored.
_SKORCH_INTERNAL = frozenset(
    {
        "history_",
        "initialized_",
        "virtual_params_",
        "init_context_",
        "callbacks_",
        "prefixes_",
        "cuda_dependent_attributes_",
        "module_",
        "criterion_",
        "optimizer_",
        "_modules",
        "_criteria",
        "_optimizers",
    }
)


class ModelFileError(ValueError):
    """A model file is not a valid sklearn-llmrad archive (corrupt, truncated, wrong version)."""


# ---------------------------------------------------------------------------
# allow-list


def _dotted(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _third_party_allowed():
    """Third-party classes a saved net's parameters may use, by their exact dotted name."""
    import skorch
    import skorch.callbacks as cb
    import torch
    from skorch.dataset import Dataset, ValidSplit

    found = {}
    for cls in (
        skorch.NeuralNet,
        skorch.NeuralNetClassifier,
        skorch.NeuralNetBinaryClassifier,
        skorch.NeuralNetRegressor,
        Dataset,
        ValidSplit,
        torch.utils.data.DataLoader,
    ):
        found[_dotted(cls)] = cls
    # Callbacks that only observe or adjust training. Checkpoint/LoadInitState
    # and the loggers are left out: they touch the file system or the network
    # when initialised.
    for name in (
        "EarlyStopping",
        "EpochScoring",
        "BatchScoring",
        "PassthroughScoring",
        "LRScheduler",
        "WarmRestartLR",
        "GradientNormClipping",
        "PrintLog",
        "EpochTimer",
        "Freezer",
        "Unfreezer",
        "Initializer",
        "ParamMapper",
        "InputShapeSetter",
    ):
        if hasattr(cb, name):
            found[_dotted(getattr(cb, name))] = getattr(cb, name)
    for ns, base in (
        (torch.optim, torch.optim.Optimizer),
        (torch.optim.lr_scheduler, object),
        (torch.nn, torch.nn.Module),
    ):
        for value in vars(ns).values():
            if inspect.isclass(value) and issubclass(value, base):
                if value.__module__.startswith(("torch.optim", "torch.nn")):
                    found[_dotted(value)] = value
    return found


def _is_excluded_module(name):
    return any(name == m or name.startswith(m + ".") for m in _EXCLUDED_OWN_MODULES)


def _own_modules():
    """Names of this package's modules that may define what a model file names."""
    import pkgutil

    import sklearn_llmrad

    names = []
    stack = [("sklearn_llmrad", sklearn_llmrad.__path__)]
    while stack:
        package, path = stack.pop()
        for info in pkgutil.iter_modules(path, prefix=package + "."):
            if _is_excluded_module(info.name):
                continue
            names.append(info.name)
            if info.ispkg:
                stack.append((info.name, [str(Path(path[0]) / info.name.rsplit(".", 1)[1])]))
    return sorted(names)


@functools.cache
def own_registry():
    """Every class of this package a model file may name, by its exact dotted name.

    Derived from what the package defines: the scikit-learn estimators, torch
    modules (networks and criteria) and skorch callbacks *defined* in each of
    its modules (``io``, ``cli``, ``benchmark``, ``report``, ``datasets`` and
    the caches are left out). Classes a module merely imports are not in it,
    so a name such as ``sklearn_llmrad.io.os.system`` can never resolve.

    Returns
    -------
    mapping of str -> type
        Read-only.

    Examples
    --------
    >>> from sklearn_llmrad.io import own_registry
    >>> "sklearn_llmrad.scaling.RobustFeatureScaler" in own_registry()
    True
    >>> any(name.startswith("sklearn_llmrad.io.") for name in own_registry())
    False
    """
    from types import MappingProxyType

    import torch
    from sklearn.base import BaseEstimator
    from skorch.callbacks import Callback

    registry = {}
    for name in _own_modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional dependency of that module is missing
            continue
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == name
                and not value.__name__.startswith("_")
                and issubclass(value, (BaseEstimator, torch.nn.Module, Callback))
            ):
                registry[_dotted(value)] = value
    return MappingProxyType(registry)


def _public_alias(name):
    """The object a caller's trusted dotted name (``numpy.nan_to_num``) refers to, or None."""
    if not isinstance(name, str) or "." not in name:
        return None
    module_name, attr = name.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(module_name), attr, None)
    except ImportError:
        return None


def _import_exact(name):
    """The object defined under exactly ``name`` (module + qualname), or None.

    Attribute chains through modules (``pkg.mod.os.system``) and re-exported
    objects (whose own ``__module__``/``__qualname__`` differ) give None.
    """
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
            if obj is None or inspect.ismodule(obj):
                return None
        if getattr(obj, "__module__", None) == module_name and getattr(obj, "__qualname__", None) == ".".join(
            parts[i:]
        ):
            return obj
        return None
    return None


class _AllowList:
    """Decides, from a dotted name alone, whether a class or function may be imported.

    Membership is by exact name: this package's registry (:func:`own_registry`),
    a fixed list of torch/skorch/scikit-learn names, the types skops trusts by
    default, and what the caller passed as ``trusted``. A name resolves only to
    the object *defined* under that name.
    """

    def __init__(self, trusted):
        if trusted is None:
            trusted = []
        elif isinstance(trusted, (str, type)):
            trusted = [trusted]
        self.extra = {}
        # values the caller supplies for path-like parameters (load(language_model=...))
        self.supplied = {}
        for t in trusted:
            if isinstance(t, str):
                self.extra[t] = None
            else:
                self.extra[_dotted(t)] = t
        self._third = None

    @property
    def third(self):
        if self._third is None:
            self._third = _third_party_allowed()
        return self._third

    @functools.cached_property
    def objects(self):
        """Classes a file may build as a parameter value: training callbacks and validation splits."""
        from skorch.callbacks import Callback
        from skorch.dataset import ValidSplit

        found = {**self.third, **own_registry()}
        return frozenset(
            name
            for name, cls in found.items()
            if inspect.isclass(cls) and (issubclass(cls, Callback) or cls is ValidSplit)
        )

    @functools.cached_property
    def policy(self):
        """What a parameter value may be beyond plain data (see :mod:`sklearn_llmrad.io.values`)."""
        from sklearn.base import BaseEstimator
        from skorch import NeuralNet

        def allowed_ref(obj):
            try:
                name = _dotted(obj)
            except AttributeError:
                return False
            if inspect.isclass(obj):
                return name in self and (self.extra.get(name) or self.resolve(name, what="a value")) is obj
            if name in _ALLOWED_FUNCTIONS:
                return True
            # a function the caller trusts, by its defining name or the one they passed
            return any(t is obj or n == name or _public_alias(n) is obj for n, t in self.extra.items())

        def allowed_estimator(cls):
            # estimators held by a parameter (a prior); never a network as a value
            name = _dotted(cls)
            return issubclass(cls, BaseEstimator) and not issubclass(cls, NeuralNet) and name in self

        def allowed_object(cls):
            # training callbacks, validation splits, and the calibrators and CV splitters
            # that fitted scikit-learn estimators keep
            name = _dotted(cls)
            return name in self.objects or name in _ALLOWED_SKLEARN_CLASSES

        return ValuePolicy(
            allowed_ref=allowed_ref,
            allowed_estimator=allowed_estimator,
            allowed_object=allowed_object,
            supplied=self.supplied,
        )

    def check(self, cls, params, *, where):
        """The parameter values to build ``cls`` with (see :func:`~sklearn_llmrad.io.values.check_params`)."""
        return check_params(cls, params, where=where, policy=self.policy)

    def check_built(self, estimator, *, where):
        """Check an estimator a library built from the file (skops), resetting never-from-file values."""
        return check_estimator_values(estimator, where=where, policy=self.policy)

    def __contains__(self, name):
        return isinstance(name, str) and (
            name in own_registry()
            or name in self.extra
            or name in self.third
            or name in _ALLOWED_FUNCTIONS
            or name in _ALLOWED_SKLEARN_CLASSES
            or _exact_data_type(name)
            or _sklearn_estimator(name)
        )

    def resolve(self, name, *, what, kind="class"):
        """Import ``name`` only after checking it against the allow-list."""
        if name not in self:
            raise UnsafeModelError(
                f"the model file names {name!r} as {what}, which is not on the "
                "allow-list; refusing to import it. Pass trusted=[...] to "
                "sklearn_llmrad.io.load only if you know where this file came from."
            )
        obj = own_registry().get(name) or self.third.get(name) or self.extra.get(name)
        if obj is None:
            obj = _import_exact(name)
        if obj is None or _dotted(obj) != name:
            raise UnsafeModelError(
                f"the model file names {name!r} as {what}, but nothing is defined under "
                "exactly that name (an attribute reached through another module is "
                "refused); refusing to load"
            )
        if kind == "class" and not inspect.isclass(obj):
            raise UnsafeModelError(f"{name!r} ({what}) is not a class; refusing to call it")
        return obj


# ---------------------------------------------------------------------------
# JSON encoding of parameters and small fitted attributes
#
# Arrays and tensors go to the step's safetensors file and are referenced by
# key, so that numbers round-trip bit for bit and the manifest stays readable.


class _Encoder:
    def __init__(self, prefix, save_estimator=None):
        self.prefix = prefix
        self.tensors = {}
        # a fitted estimator held by a parameter (a net's prior) is saved as a
        # node of its own, with its fitted state, not rebuilt from its parameters
        self.save_estimator = save_estimator

    def tensor_ref(self, key, value):
        import torch

        if isinstance(value, np.ndarray):
            if value.dtype.kind in "OUS":
                return {
                    "$type": "ndarray",
                    "dtype": value.dtype.str,
                    "shape": list(value.shape),
                    "data": [self.encode(v, key) for v in value.ravel().tolist()],
                }
            origin = "numpy"
            value = torch.from_numpy(np.ascontiguousarray(value))
        else:
            origin = "torch"
        name = f"{self.prefix}{key}"
        self.tensors[name] = value.detach().to("cpu").contiguous().clone()
        return {"$type": "tensor", "key": name, "origin": origin}

    def encode(self, value, key=""):
        import torch
        from sklearn.base import BaseEstimator

        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"$type": "float", "value": repr(value)}
        if isinstance(value, (np.ndarray, torch.Tensor)):
            return self.tensor_ref(key, value)
        if isinstance(value, list):
            return [self.encode(v, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"$type": "tuple", "items": [self.encode(v, f"{key}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            return {
                "$type": "dict",
                "items": [[self.encode(k, key), self.encode(v, f"{key}.{k}")] for k, v in value.items()],
            }
        if isinstance(value, torch.dtype):
            return {"$type": "torch.dtype", "name": str(value).removeprefix("torch.")}
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
            return {"$type": "ref", "name": _dotted(value)}
        if isinstance(value, BaseEstimator) and self.save_estimator is not None:
            return {"$type": "estimator", "node": self.save_estimator(value)}
        # an object configured by its constructor (callbacks, ValidSplit)
        if hasattr(value, "get_params"):
            takes_deep = "deep" in inspect.signature(value.get_params).parameters
            params = value.get_params(deep=False) if takes_deep else value.get_params()
        else:
            sig = inspect.signature(type(value).__init__)
            names = [
                p
                for p in sig.parameters
                if p != "self"
                and sig.parameters[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            ]
            if not all(hasattr(value, n) for n in names):
                raise TypeError(
                    f"cannot save a parameter of type {type(value).__name__!r} ({key}): "
                    "it is neither JSON-able nor rebuilt from its constructor arguments"
                )
            params = {n: getattr(value, n) for n in names}
        return {
            "$type": "object",
            "class": _dotted(type(value)),
            "params": {k: self.encode(v, f"{key}.{k}") for k, v in params.items()},
        }


# How deep a JSON-encoded value may nest (a file nesting deeper is malformed).
_MAX_VALUE_DEPTH = 32
# At most this many elements in one inline string array.
_MAX_INLINE_ITEMS = 2**20


class _Decoder:
    """JSON values back to Python, building objects only of exact allow-listed classes.

    ``data_only=True`` (fitted attributes, build states): no class, function or
    object at all, only numbers, strings, arrays and containers of those.
    """

    def __init__(self, allow, tensors, *, where, ctx=None, data_only=False):
        self.allow = allow
        self.tensors = tensors
        self.where = where
        self.ctx = ctx
        self.data_only = data_only

    def decode(self, value, depth=0):
        import torch

        if depth > _MAX_VALUE_DEPTH:
            raise ModelFileError(f"{self.where}: a value nests more than {_MAX_VALUE_DEPTH} levels")
        if value is None or type(value) in (bool, int, float, str):
            return value
        if type(value) is list:
            return [self.decode(v, depth + 1) for v in value]
        if type(value) is not dict or "$type" not in value:
            raise ModelFileError(f"{self.where}: unexpected value in manifest: {value!r:.80}")
        t = value["$type"]
        if t == "float":
            if value.get("value") not in ("nan", "inf", "-inf"):
                raise ModelFileError(f"{self.where}: invalid float {value.get('value')!r:.40}")
            return float(value["value"])
        if t in ("tuple", "dict"):
            items = value.get("items")
            if type(items) is not list:
                raise ModelFileError(f"{self.where}: malformed {t} in manifest")
            if t == "tuple":
                return tuple(self.decode(v, depth + 1) for v in items)
            out = {}
            for item in items:
                if type(item) is not list or len(item) != 2:
                    raise ModelFileError(f"{self.where}: malformed dict item in manifest")
                k = self.decode(item[0], depth + 1)
                if not isinstance(k, (str, int, float, bool, tuple, type(None))):
                    raise ModelFileError(f"{self.where}: unhashable dict key in manifest")
                out[k] = self.decode(item[1], depth + 1)
            return out
        if t == "torch.dtype":
            dtype = getattr(torch, str(value.get("name")), None)
            if not isinstance(dtype, torch.dtype):
                raise UnsafeModelError(f"{self.where}: {value.get('name')!r:.40} is not a torch dtype")
            return dtype
        if t == "ndarray":
            return self.inline_array(value, depth)
        if t == "tensor":
            key = value.get("key")
            if type(key) is not str or key not in self.tensors:
                raise ModelFileError(f"{self.where}: tensor {key!r:.60} is missing from the model file")
            tensor = self.tensors[key]
            return tensor.numpy() if value.get("origin") == "numpy" else tensor
        if self.data_only:
            raise UnsafeModelError(
                f"{self.where}: fitted state may hold only numbers, strings and arrays, not a {t!r:.40}; "
                "refusing to load"
            )
        if t == "ref":
            return self.allow.resolve(value.get("name"), what="a parameter value", kind="any")
        if t == "object":
            name = value.get("class")
            if name not in self.allow.objects:
                raise UnsafeModelError(
                    f"{self.where}: the model file asks to build a {name!r:.80} as a parameter value, which is "
                    "not on the allow-list of objects built from a file (training callbacks and validation "
                    "splits); refusing to load"
                )
            cls = self.allow.resolve(name, what="a parameter's class")
            params = value.get("params")
            if type(params) is not dict:
                raise ModelFileError(f"{self.where}: malformed parameters of {name!r}")
            params = {k: self.decode(v, depth + 1) for k, v in params.items()}
            params = self.allow.check(cls, params, where=self.where)
            return cls(**params)
        if t == "estimator":
            if self.ctx is None:
                raise UnsafeModelError(f"{self.where}: an estimator is not allowed here; refusing to load")
            return _load_node(value.get("node"), self.ctx)
        raise ModelFileError(f"{self.where}: unknown value type {t!r:.40} in manifest")

    def inline_array(self, value, depth):
        try:
            dtype = np.dtype(str(value.get("dtype")))
        except TypeError as exc:
            raise ModelFileError(f"{self.where}: invalid inline array dtype {value.get('dtype')!r:.40}") from exc
        if dtype.kind not in "OUS":
            raise ModelFileError(f"{self.where}: inline arrays must hold strings/objects, not {dtype}")
        if dtype.itemsize > _MAX_INLINE_ITEM_BYTES:
            # "<U100000000" would allocate 400 MB per element
            raise UnsafeModelError(
                f"{self.where}: inline array dtype {dtype.str!r} has {dtype.itemsize}-byte elements; "
                "refusing to allocate it"
            )
        data, shape = value.get("data"), value.get("shape")
        if (
            type(data) is not list
            or len(data) > _MAX_INLINE_ITEMS
            or type(shape) is not list
            or len(shape) > 8
            or not all(type(n) is int and n >= 0 for n in shape)
            or math.prod(shape) != len(data)
        ):
            raise ModelFileError(f"{self.where}: malformed inline array in manifest")
        data = [self.decode(v, depth + 1) for v in data]
        if not all(v is None or type(v) in (str, int, float, bool) for v in data):
            raise ModelFileError(f"{self.where}: inline arrays hold only strings, numbers and None")
        out = np.empty(len(data), dtype=dtype)
        try:
            out[:] = data
        except (ValueError, TypeError, OverflowError) as exc:
            raise ModelFileError(f"{self.where}: inline array values do not fit {dtype}") from exc
        return out.reshape(shape)


# ---------------------------------------------------------------------------
# helpers


def _versions():
    out = {}
    for key, dist in _VERSIONED.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    return out


def _is_pipeline(est):
    from sklearn.pipeline import Pipeline

    return isinstance(est, Pipeline)


def _is_choice(est):
    from ..models.choice import InnerCVChoiceClassifier

    return isinstance(est, InnerCVChoiceClassifier)


def _is_skorch(est):
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(est, NeuralNet)


def _heavy_attrs(est):
    """Attributes that hold a loaded language model or tokenizer (never stored by skops)."""
    import torch

    names = []
    for name, value in vars(est).items():
        if isinstance(value, torch.nn.Module) or _is_tokenizer(value):
            names.append(name)
    return names


def _is_tokenizer(value):
    try:
        from transformers import PreTrainedTokenizerBase
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, PreTrainedTokenizerBase)


# In-memory caches derived from training data (the encoder's embedding memory
# can reveal short clinical sentences through their hashes) are not stored: an
# estimator names them in its public ``transient_attributes`` class attribute.

_LM_PARAM_NAMES = ("model_name_or_path", "model_name", "model_id", "model", "language_model")


def _language_model_param(est):
    """Name of the parameter that points at a Hugging Face model, or None."""
    if _is_skorch(est) or not hasattr(est, "get_params"):
        return None
    params = est.get_params(deep=False)
    for name in _LM_PARAM_NAMES:
        if isinstance(params.get(name), (str, os.PathLike)):
            return name
    return None


def _resolve_model_dir(ref, revision=None):
    """Local directory of a model id or path, if it can be found without network."""
    path = Path(ref)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    found = try_to_load_from_cache(str(ref), "config.json", revision=revision)
    if isinstance(found, str):
        return Path(found).parent
    return None


def _model_fingerprint(ref, revision):
    """What identifies the language model a file was fitted with."""
    info = {"id": str(ref), "revision": revision, "resolved_revision": None, "config_sha256": None}
    directory = _resolve_model_dir(ref, revision)
    if directory is not None:
        config = directory / "config.json"
        if config.is_file():
            info["config_sha256"] = hashlib.sha256(config.read_bytes()).hexdigest()
        # a hub snapshot directory is named after the commit it holds
        if directory.parent.name == "snapshots":
            info["resolved_revision"] = directory.name
    return info


def _lm_files(directory):
    files = []
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file() and p.name.endswith(_LM_FILE_SUFFIXES) and not p.name.startswith("."):
            files.append(p)
    if not any(p.suffix == ".safetensors" for p in files):
        raise ValueError(
            f"include_language_model=True needs safetensors weights, and {directory} has none; "
            "re-save the model with save_pretrained(..., safe_serialization=True)"
        )
    return files


# ---------------------------------------------------------------------------
# save


def save(estimator, path, *, include_language_model=False):
    """Save a fitted estimator or pipeline to a single file, without pickle.

    Parameters
    ----------
    estimator : estimator or :class:`~sklearn.pipeline.Pipeline`
        Fitted. skorch nets (e.g. :class:`~sklearn_llmrad.LLMRadiomicsClassifier`)
        are stored as constructor parameters, fitted attributes and safetensors
        weights; other estimators with :mod:`skops.io`.
    path : str or os.PathLike
        Destination file (conventionally ``*.llmrad``); overwritten.
    include_language_model : bool, default=False
        Store the language model of a text encoder inside the file (safetensors
        weights, config, tokenizer files). By default it is only referenced by
        its id or path, its revision and a hash of its config, and must be
        available when the file is loaded.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_llmrad.io import save, load
    >>> X, y = make_classification(n_samples=40, random_state=0)
    >>> model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.llmrad")
    >>> _ = save(model, path)
    >>> bool((load(path).predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    path = Path(path)
    members = {}
    counter = [0]
    root = _save_node(estimator, members, counter, include_language_model)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "estimator": root,
    }
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
        for name, data in members.items():
            # float weights barely compress; storing them saves seconds per save
            method = zipfile.ZIP_STORED if name.endswith(".safetensors") else zipfile.ZIP_DEFLATED
            zf.writestr(name, data, compress_type=method)
    os.replace(tmp, path)
    return path


def _save_node(est, members, counter, include_lm):
    if est is None or (isinstance(est, str) and est in ("passthrough", "drop")):
        return {"kind": "passthrough", "value": est}
    if _is_pipeline(est):
        params = est.get_params(deep=False)
        # pipeline memory is a folder on this machine: never stored (see io.values)
        other = {
            k: v
            for k, v in params.items()
            if k not in ("steps", "memory") and isinstance(v, (bool, int, str, type(None)))
        }
        return {
            "kind": "pipeline",
            "class": _dotted(type(est)),
            "params": other,
            "steps": [
                {"name": name, "node": _save_node(step, members, counter, include_lm)} for name, step in est.steps
            ],
        }
    if _is_choice(est):
        return _save_choice(est, members, counter, include_lm)
    index = counter[0]
    counter[0] += 1
    if _is_skorch(est):
        return _save_skorch(est, index, members, lambda value: _save_node(value, members, counter, include_lm))
    return _save_skops(est, index, members, include_lm)


#: Fitted attributes of an InnerCVChoiceClassifier kept in its manifest node.
_CHOICE_ATTRIBUTES = ("choice_", "cv_scores_", "classes_", "n_features_in_", "feature_names_in_")


def _save_choice(est, members, counter, include_lm):
    """An inner-CV choice: parameters, fitted attributes, and a node per refitted candidate."""
    from safetensors.torch import save as st_save

    if not hasattr(est, "estimators_"):
        raise ValueError(f"{type(est).__name__} is not fitted; fit it before saving")
    params = est.get_params(deep=False)
    if not isinstance(params["cv"], int) or not isinstance(params["random_state"], (int, type(None))):
        raise TypeError(
            f"cannot save {type(est).__name__} with cv={params['cv']!r}, random_state={params['random_state']!r}: "
            "only an integer number of folds and an integer (or None) seed are stored"
        )
    index = counter[0]
    counter[0] += 1
    enc = _Encoder(prefix="")
    attributes = {k: enc.encode(getattr(est, k), f"attr.{k}") for k in _CHOICE_ATTRIBUTES if hasattr(est, k)}
    name = f"steps/{index}.safetensors"
    members[name] = st_save(enc.tensors)
    return {
        "kind": "choice",
        "class": _dotted(type(est)),
        "params": {"cv": params["cv"], "average": bool(params["average"]), "random_state": params["random_state"]},
        "attributes": attributes,
        "tensors": name,
        "candidates": [
            {"name": str(n), "node": _save_node(fitted, members, counter, include_lm)}
            for n, fitted in est.estimators_.items()
        ],
    }


def _stored_params(est):
    """``get_params(deep=False)`` without what a file never holds (compile options, paths on this disk)."""
    out = {}
    for k, v in est.get_params(deep=False).items():
        if k.startswith("_"):
            continue
        if never_from_file(k):
            v = constructor_default(type(est), k)
            if v is inspect.Parameter.empty:
                continue  # a routed option (compile__*, module__weights_file): not stored
        out[k] = v
    return out


def _save_skorch(net, index, members, save_estimator):
    import torch
    from safetensors.torch import save as st_save

    if not getattr(net, "initialized_", False):
        raise ValueError(f"{type(net).__name__} is not initialized/fitted; fit it before saving")
    enc = _Encoder(prefix="", save_estimator=save_estimator)
    params = {k: enc.encode(v, f"params.{k}") for k, v in _stored_params(net).items()}
    enc.save_estimator = None  # fitted state holds no estimators
    prefixes = list(getattr(net, "prefixes_", ["module", "criterion", "optimizer"]))
    modules = {}
    for prefix in prefixes:
        obj = getattr(net, prefix + "_", None)
        if isinstance(obj, torch.nn.Module):
            state = obj.state_dict()
            if state:
                modules[prefix] = sorted(state)
                for k, v in state.items():
                    enc.tensors[f"state.{prefix}.{k}"] = v.detach().to("cpu").contiguous().clone()
    skip = _SKORCH_INTERNAL | {p + "_" for p in prefixes}
    attributes = {}
    for k, v in vars(net).items():
        # fitted state: public ``x_`` and private ``_x_`` attributes alike
        # (e.g. the feature names an explanation refers to)
        if k.endswith("_") and not k.endswith("__") and k not in skip:
            if isinstance(v, torch.nn.Module) or isinstance(v, torch.optim.Optimizer):
                continue
            attributes[k] = enc.encode(v, f"attr.{k}")
    # what the net needs, beyond its parameters, to rebuild the fitted network
    # (the package's classifiers say so through SkorchClassifierBase's hooks)
    build_state = net.get_build_state() if hasattr(net, "get_build_state") else None
    if build_state is not None:
        build_state = enc.encode(build_state, "build")
    try:
        history = json.loads(json.dumps(net.history_.to_list(), allow_nan=True).replace("NaN", "null"))
    except (TypeError, ValueError, AttributeError):
        history = None
    name = f"steps/{index}.safetensors"
    members[name] = st_save(enc.tensors) if enc.tensors else st_save({})
    return {
        "kind": "skorch",
        "class": _dotted(type(net)),
        "params": params,
        "attributes": attributes,
        "state_dicts": modules,
        "build_state": build_state,
        "tensors": name,
        "history": history,
    }


def _without_local_settings(est, depth=0):
    """``est``, or a shallow copy with its never-from-file parameters at their defaults.

    Cache folders, pipeline memory and compile options belong to the machine that
    fitted the model; a file never holds them (and a loader would reset them).
    Estimators held by parameters (a selector's prior) are treated the same way.
    """
    import copy

    from sklearn.base import BaseEstimator

    if not hasattr(est, "get_params") or depth > 8:
        return est
    # what the estimator itself says a file should hold instead (a settings file's content)
    changes = dict(est.params_for_file()) if hasattr(est, "params_for_file") else {}
    for k, v in est.get_params(deep=False).items():
        if never_from_file(k):
            default = constructor_default(type(est), k)
            if default is not inspect.Parameter.empty and v is not default:
                changes[k] = default
        elif isinstance(v, BaseEstimator) and not inspect.isclass(v):
            inner = _without_local_settings(v, depth + 1)
            if inner is not v:
                changes[k] = inner
    if not changes:
        return est
    out = copy.copy(est)
    out.__dict__.update(changes)
    return out


def _save_skops(est, index, members, include_lm):
    import copy

    import skops.io as sio
    import torch
    from safetensors.torch import save as st_save

    lm_param = _language_model_param(est)
    node = {"kind": "skops", "class": _dotted(type(est))}
    transient = getattr(type(est), "transient_attributes", ())
    dropped = _heavy_attrs(est) + [k for k in transient if k in vars(est)]
    tensor_attrs = [k for k, v in vars(est).items() if isinstance(v, torch.Tensor)]
    obj = _without_local_settings(est)
    if dropped or tensor_attrs:
        # a shallow copy, so the caller's estimator keeps its loaded model
        obj = copy.copy(obj)
        for k in dropped + tensor_attrs:
            obj.__dict__.pop(k, None)
    if tensor_attrs:
        tensors = {f"attr.{k}": getattr(est, k).detach().to("cpu").contiguous().clone() for k in tensor_attrs}
        members[f"steps/{index}.safetensors"] = st_save(tensors)
        node["tensors"] = f"steps/{index}.safetensors"
        node["tensor_attributes"] = tensor_attrs
    node["dropped_attributes"] = dropped
    try:
        members[f"steps/{index}.skops"] = sio.dumps(obj)
    except Exception as exc:  # skops raises several types for unsupported objects
        raise TypeError(f"cannot save {type(est).__name__} without pickle: {exc}") from exc
    node["file"] = f"steps/{index}.skops"
    if lm_param is not None:
        params = est.get_params(deep=False)
        ref = params[lm_param]
        info = _model_fingerprint(ref, params.get("revision"))
        info["param"] = lm_param
        if include_lm:
            directory = _resolve_model_dir(ref, params.get("revision"))
            if directory is None:
                raise ValueError(f"cannot find the language model {str(ref)!r} locally to include it")
            stored = []
            for p in _lm_files(directory):
                rel = p.relative_to(directory).as_posix()
                member = f"steps/{index}/language_model/{rel}"
                members[member] = p.read_bytes()
                stored.append(rel)
            info["included_files"] = stored
        node["language_model"] = info
    return node


# ---------------------------------------------------------------------------
# load


def load(path, *, trusted=None, device=None, language_model=None, language_model_dir=None):
    """Load a model saved with :func:`save`, refusing anything that could run code.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.
    trusted : list of str or type, default=None
        Extra classes/functions (dotted names or the objects) to accept beyond
        the built-in allow-list (this package's estimators, scikit-learn
        estimators, numpy, skorch/torch training classes). Review
        ``UnsafeModelError`` messages before adding anything here.
    device : str, default=None
        Device for skorch nets and language models (``"cpu"``, ``"cuda"``).
        ``None`` keeps the recorded device, falling back to CPU with a
        warning when CUDA is recorded but unavailable.
    language_model : str or os.PathLike, default=None
        The language model (a local folder or a model id) for every text encoder
        in the file that refers to one instead of storing it. A file names a
        language model only by its id: a folder path in a file is never taken
        (it is reset to the encoder's default, with a :class:`ModelFileWarning`).
    language_model_dir : str or os.PathLike, default=None
        Where to extract a language model stored in the file
        (``include_language_model=True``); a new temporary directory if None.

    Returns
    -------
    estimator : the fitted estimator or pipeline.

    Raises
    ------
    UnsafeModelError
        The file names a class outside the allow-list, gives a parameter a value
        its class does not allow, holds untrusted skops types or contains pickle
        data. Raised before any of it is executed.
    ModelFileError
        The file is not a readable model archive. No other exception type comes
        out of a malformed file.

    Warns
    -----
    ModelFileWarning
        A value that is never taken from a file (compile options, cache folders,
        pipeline memory, weights files, folder paths) was reset to its default.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_llmrad.io import save, load
    >>> path = os.path.join(tempfile.mkdtemp(), "scaler.llmrad")
    >>> _ = save(StandardScaler().fit([[0.0], [2.0]]), path)
    >>> load(path).transform([[2.0]])
    array([[1.]])
    """
    try:
        return _load_archive(path, trusted, device, language_model, language_model_dir)
    except (ModelFileError, UnsafeModelError, Warning):
        raise
    except SystemExit as exc:  # raised by something the file reached: not an exit the caller asked for
        raise ModelFileError(f"{os.fspath(path)!s}: cannot load the model (SystemExit: {exc})") from exc
    except (KeyError, IndexError) as exc:
        # a manifest entry without a field it must have
        raise ModelFileError(f"{os.fspath(path)!s}: malformed manifest (missing {exc})") from exc
    except OSError as exc:
        if not Path(path).is_file():
            raise  # the caller's mistake (no such file), not the file's
        raise ModelFileError(f"{os.fspath(path)!s}: cannot read the model file ({exc})") from exc
    except Exception as exc:
        # whatever else a malformed file provokes (a corrupt deflate stream, a
        # value a constructor rejects) is still a malformed file
        raise ModelFileError(f"{os.fspath(path)!s}: cannot load the model ({type(exc).__name__}: {exc})") from exc


def _load_archive(path, trusted, device, language_model, language_model_dir):
    allow = _AllowList(trusted)
    if language_model is not None:
        allow.supplied = {name: os.fspath(language_model) for name in _LM_PARAM_NAMES}
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(f"{os.fspath(path)!s} is not a sklearn-llmrad model file (not a zip archive)") from exc
    with zf:
        _check_archive(zf, path)
        names = set(zf.namelist())
        if _MANIFEST not in names:
            raise ModelFileError(f"{os.fspath(path)!s} has no {_MANIFEST}; not a sklearn-llmrad model file")
        manifest = _read_manifest(zf, path)
        root = manifest["estimator"]
        expected = {_MANIFEST}
        # validate the whole manifest (every class name, every member) before
        # importing or constructing anything
        _check_node(root, allow, expected, names)
        unexpected = sorted(names - expected)
        if unexpected:
            raise UnsafeModelError(
                f"{os.fspath(path)!s} contains files the manifest does not declare: "
                f"{unexpected[:5]}; refusing to load a tampered model file"
            )
        versions = manifest.get("versions", {})
        if type(versions) is not dict:
            raise ModelFileError(f"{os.fspath(path)!s}: malformed versions in the manifest")
        _check_versions(versions)
        ctx = {
            "zf": zf,
            "allow": allow,
            "device": device,
            "lm_dir": language_model_dir,
            "language_model": language_model,
            "path": os.fspath(path),
        }
        return _load_node(root, ctx)


def _unsafe_member_name(name):
    """Why a member name could escape the archive's folder, or None."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return "an absolute or non-POSIX path"
    if len(name) > 1 and name[1] == ":":
        return "a drive letter"
    if ".." in name.split("/"):
        return "a '..' component"
    return None


def _check_archive_infos(infos, what, *, manifest_limit=None):
    """Refuse traversal names and members that would decompress beyond the bounds."""
    total = 0
    seen = set()
    for info in infos:
        if info.filename in seen:
            # zipfile reads the last of two same-named members; another tool the first
            raise UnsafeModelError(f"{what} holds two members named {info.filename!r}; refusing an ambiguous archive")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{what}: member {info.filename!r} is encrypted; model files never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                f"{what}: member {info.filename!r} uses compression method {info.compress_type}; "
                "model files are stored or deflated"
            )
        reason = _unsafe_member_name(info.filename)
        if reason is not None:
            raise UnsafeModelError(f"{what} holds a member named {info.filename!r} ({reason}); refusing to load")
        limit = _MAX_MEMBER_BYTES
        if manifest_limit is not None and info.filename == _MANIFEST:
            limit = manifest_limit
        size = info.file_size
        if size > limit:
            raise UnsafeModelError(
                f"{what}: member {info.filename!r} would decompress to {size} bytes, more than "
                f"the limit of {limit}; refusing to read it"
            )
        if size > _RATIO_FLOOR and size > _MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeModelError(
                f"{what}: member {info.filename!r} would inflate {size // max(info.compress_size, 1)}x "
                f"(to {size} bytes); refusing a decompression bomb"
            )
        total += size
    if total > _MAX_TOTAL_BYTES:
        raise UnsafeModelError(
            f"{what} would decompress to {total} bytes in all, more than the limit of "
            f"{_MAX_TOTAL_BYTES}; refusing to read it"
        )


def _check_archive(zf, path):
    _check_archive_infos(zf.infolist(), os.fspath(path), manifest_limit=_MAX_MANIFEST_BYTES)


def _read_member(zf, name, limit=_MAX_MEMBER_BYTES):
    """Read one member, never more than ``limit`` bytes whatever its header says."""
    try:
        with zf.open(name) as fh:
            data = fh.read(limit + 1)
    except KeyError as exc:
        raise ModelFileError(f"{name} is missing from the model file") from exc
    if len(data) > limit:
        raise UnsafeModelError(f"{name} decompresses to more than {limit} bytes; refusing to read it")
    return data


def _read_manifest(zf, path):
    try:
        manifest = json.loads(_read_member(zf, _MANIFEST, _MAX_MANIFEST_BYTES).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError, RecursionError) as exc:
        raise ModelFileError(f"{os.fspath(path)!s}: {_MANIFEST} is corrupt ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{os.fspath(path)!s} is not a sklearn-llmrad model file")
    version = manifest.get("format_version")
    if version not in _READABLE_VERSIONS:
        from .. import __version__

        if isinstance(version, int) and version > FORMAT_VERSION:
            advice = "upgrade sklearn-llmrad to read it"
        else:
            advice = (
                f"re-save it with sklearn-llmrad {__version__} (format version "
                f"{FORMAT_VERSION}): load it with the release that wrote it, then save it again"
            )
        raise ModelFileError(
            f"{os.fspath(path)!s} has format version {version!r}; this sklearn-llmrad "
            f"reads versions {', '.join(map(str, _READABLE_VERSIONS))}: {advice}"
        )
    if not isinstance(manifest.get("estimator"), dict):
        raise ModelFileError(f"{os.fspath(path)!s}: manifest has no estimator")
    return manifest


def _iter_values(value, depth=0):
    """Every ``$type`` node of a JSON-encoded value: (type, node); nested estimators not entered."""
    if depth > _MAX_VALUE_DEPTH:
        raise ModelFileError(f"a value in the manifest nests more than {_MAX_VALUE_DEPTH} levels")
    if type(value) is list:
        for v in value:
            yield from _iter_values(v, depth + 1)
    elif type(value) is dict:
        t = value.get("$type")
        if t is not None:
            yield t, value
        if t == "estimator":
            return
        for v in value.values():
            yield from _iter_values(v, depth + 1)


def _member(name, expected, names):
    if not isinstance(name, str) or name not in names:
        raise ModelFileError(f"the manifest refers to {name!r:.80}, which is not in the file")
    expected.add(name)


def _check_node(node, allow, expected, names, depth=0):
    """Validate a manifest node before anything is imported: names, members, value kinds."""
    if type(node) is not dict:
        raise ModelFileError("malformed manifest node")
    if depth > _MAX_VALUE_DEPTH:
        raise ModelFileError(f"the manifest nests estimators more than {_MAX_VALUE_DEPTH} levels")
    kind = node.get("kind")
    if kind == "passthrough":
        return
    cls = node.get("class")
    if type(cls) is not str or cls not in allow:
        raise UnsafeModelError(f"the manifest names {cls!r:.80}, which is not on the allow-list; refusing to load")
    if kind == "pipeline":
        steps = node.get("steps", [])
        if type(steps) is not list or not all(type(s) is dict for s in steps):
            raise ModelFileError(f"malformed steps of {cls!r} in the manifest")
        for step in steps:
            _check_node(step.get("node"), allow, expected, names, depth + 1)
    elif kind == "choice":
        for t, value in _iter_values([node.get("params"), node.get("attributes")]):
            if t in ("ref", "object", "estimator"):
                named = value.get("name", value.get("class", t))
                raise UnsafeModelError(
                    f"the manifest names {named!r:.80} in the attributes of {cls!r}, which hold only data; "
                    "refusing to load"
                )
        _member(node.get("tensors"), expected, names)
        candidates = node.get("candidates")
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            raise ModelFileError(f"malformed candidates of {cls!r} in the manifest")
        for candidate in candidates:
            _check_node(candidate.get("node"), allow, expected, names, depth + 1)
    elif kind == "skorch":
        for t, value in _iter_values(node.get("params")):
            if t == "ref" and value.get("name") not in allow:
                raise UnsafeModelError(
                    f"the manifest names {value.get('name')!r:.80} in the parameters of {cls!r}, which is not "
                    "on the allow-list; refusing to load"
                )
            if t == "object" and value.get("class") not in allow.objects:
                raise UnsafeModelError(
                    f"the manifest asks to build a {value.get('class')!r:.80} in the parameters of {cls!r}, which is "
                    "not on the allow-list of objects built from a file (training callbacks and validation "
                    "splits); refusing to load"
                )
            if t == "estimator":
                _check_node(value.get("node"), allow, expected, names, depth + 1)
        for t, value in _iter_values([node.get("attributes"), node.get("build_state")]):
            if t in ("ref", "object", "estimator"):
                named = value.get("name", value.get("class", t))
                raise UnsafeModelError(
                    f"the manifest names {named!r:.80} in the fitted state of {cls!r}, which holds only data and "
                    "is not on the allow-list; refusing to load"
                )
        _member(node.get("tensors"), expected, names)
    elif kind == "skops":
        _member(node.get("file"), expected, names)
        if node.get("tensors"):
            _member(node["tensors"], expected, names)
        lm = node.get("language_model") or {}
        if type(lm) is not dict or type(lm.get("included_files", [])) is not list:
            raise ModelFileError(f"malformed language-model reference of {cls!r} in the manifest")
        for rel in lm.get("included_files", []):
            _check_lm_member(rel)
            _member(f"{node['file'].rsplit('.', 1)[0]}/language_model/{rel}", expected, names)
    else:
        raise ModelFileError(f"unknown node kind {kind!r:.40} in manifest")


def _check_lm_member(rel):
    if (
        not isinstance(rel, str)
        or rel.startswith("/")
        or ".." in rel.split("/")
        or "\\" in rel
        or not rel.endswith(_LM_FILE_SUFFIXES)
    ):
        raise UnsafeModelError(f"refusing language-model file {rel!r} (only safetensors/json/txt files)")


def _read_tensors(zf, name):
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    try:
        data = _read_member(zf, name)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ModelFileError(f"{name} is corrupt ({exc})") from exc
    # safetensors: an 8-byte little-endian header length, then a JSON header.
    # Anything else is refused before parsing; a pickle stream (PROTO opcode
    # 0x80) or a torch.save zip (a pickle inside) is named as such.
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not (0 < n <= len(data) - 8 and data[8:9] == b"{"):
        if data[:1] == b"\x80" or data[:2] == b"PK" or b"pickle" in data[:64]:
            raise UnsafeModelError(f"{name} holds pickle data, not safetensors; refusing to load it")
        raise ModelFileError(f"{name} is not a valid safetensors file")
    try:
        return st_load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{name} is not a valid safetensors file ({exc})") from exc


def _check_versions(recorded):
    current = _versions()
    diffs = [
        f"{k} {recorded[k]} (file) vs {current.get(k)} (installed)"
        for k in sorted(recorded)
        if k in current and recorded[k] != current[k]
    ]
    if diffs:
        warnings.warn(
            "the model file was saved with other library versions; predictions may differ: " + "; ".join(diffs),
            UserWarning,
            stacklevel=3,
        )


def _load_node(node, ctx):
    from sklearn.pipeline import Pipeline

    kind = node["kind"]
    if kind == "passthrough":
        value = node.get("value")
        if value not in (None, "passthrough", "drop"):
            raise ModelFileError(f"invalid pipeline step {value!r:.40}")
        return value
    if kind == "pipeline":
        cls = ctx["allow"].resolve(node["class"], what="a pipeline")
        if not issubclass(cls, Pipeline):
            raise UnsafeModelError(f"{node['class']!r} is not a Pipeline")
        steps = node["steps"]
        if type(steps) is not list or not all(type(s) is dict and type(s.get("name")) is str for s in steps):
            raise ModelFileError(f"{ctx['path']}: malformed pipeline steps")
        steps = [(s["name"], _load_node(s["node"], ctx)) for s in steps]
        params = node.get("params", {})
        if type(params) is not dict or "steps" in params:
            raise ModelFileError(f"{ctx['path']}: malformed pipeline parameters")
        params = ctx["allow"].check(cls, params, where=f"{ctx['path']} ({cls.__name__})")
        try:
            return cls(steps, **params)
        except TypeError as exc:
            raise ModelFileError(f"{ctx['path']}: invalid pipeline parameters ({exc})") from exc
    if kind == "choice":
        return _load_choice(node, ctx)
    if kind == "skorch":
        return _load_skorch(node, ctx)
    return _load_skops(node, ctx)


def _load_choice(node, ctx):
    from sklearn.base import clone

    from ..models.choice import InnerCVChoiceClassifier

    cls = ctx["allow"].resolve(node["class"], what="an inner-CV choice")
    if not issubclass(cls, InnerCVChoiceClassifier):
        raise UnsafeModelError(f"{node['class']!r} is not an InnerCVChoiceClassifier")
    params, candidates = node.get("params"), node.get("candidates")
    if (
        not isinstance(params, dict)
        or not isinstance(params.get("cv"), int)
        or not isinstance(params.get("average"), bool)
        or not isinstance(params.get("random_state"), (int, type(None)))
    ):
        raise ModelFileError(f"invalid parameters of {cls.__name__}: {params!r:.80}")
    if not isinstance(candidates, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in candidates
    ):
        raise ModelFileError(f"invalid candidates of {cls.__name__}")
    names = [c["name"] for c in candidates]
    if not names or len(set(names)) != len(names) or "average" in names:
        raise ModelFileError(f"{cls.__name__}: candidate names must be unique and not 'average', got {names}")
    fitted = {c["name"]: _load_node(c["node"], ctx) for c in candidates}
    # the candidates' templates are the refitted candidates' unfitted clones
    est = cls(
        [(name, clone(estimator)) for name, estimator in fitted.items()],
        cv=params["cv"],
        average=params["average"],
        random_state=params["random_state"],
    )
    dec = _Decoder(ctx["allow"], _read_tensors(ctx["zf"], node["tensors"]), where=ctx["path"], data_only=True)
    attributes = node.get("attributes")
    if not isinstance(attributes, dict):
        raise ModelFileError(f"invalid fitted attributes of {cls.__name__}")
    for k, v in attributes.items():
        if k not in _CHOICE_ATTRIBUTES:
            raise UnsafeModelError(f"{k!r} is not a fitted attribute of {cls.__name__}; refusing to set it")
        setattr(est, k, dec.decode(v))
    choices = {*fitted, "average"} if est.average and len(fitted) > 1 else set(fitted)
    choice = getattr(est, "choice_", None)
    if not isinstance(choice, str) or choice not in choices:
        raise ModelFileError(f"{cls.__name__}: the choice {choice!r:.40} is not among its options {sorted(choices)}")
    est.estimators_ = fitted
    return est


def _load_skorch(node, ctx):
    import torch
    from skorch import NeuralNet
    from skorch.history import History

    cls = ctx["allow"].resolve(node["class"], what="a skorch net")
    if not issubclass(cls, NeuralNet):
        raise UnsafeModelError(f"{node['class']!r} is not a skorch net")
    where = f"{ctx['path']} ({cls.__name__})"
    tensors = _read_tensors(ctx["zf"], node["tensors"])
    dec = _Decoder(ctx["allow"], tensors, where=where, ctx=ctx)
    saved = node["params"]
    if type(saved) is not dict:
        raise ModelFileError(f"{where}: malformed parameters")
    params = {k: dec.decode(v) for k, v in saved.items()}
    # every value checked against the class's schema before the net is built:
    # compile options, torch.load options and paths go back to their defaults
    params = ctx["allow"].check(cls, params, where=where)
    if ctx["device"] is not None:
        params["device"] = ctx["device"]
    elif str(params.get("device", "cpu")).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{cls.__name__} was saved on {params['device']!r}, which is not available; loading on CPU",
            UserWarning,
            stacklevel=4,
        )
        params["device"] = "cpu"
    # The package's classifiers say, through SkorchClassifierBase's public hooks,
    # which parameters to build with before the saved weights replace the
    # initial ones (a CNN's pretrained-weights file need not exist any more),
    # and what beyond the parameters rebuilds the fitted network.
    after = {}
    if hasattr(cls, "params_for_restore"):
        params, after = cls.params_for_restore(params)
    state = _DataState(node, tensors, cls, where, ctx)
    state_dicts = state.state_dicts()
    # a dry run on PyTorch's meta device allocates nothing: the network the file
    # describes must have exactly the shapes of the weights the file holds
    probe = state.build(cls, {**params, "device": "meta"}, after, meta=True)
    _check_shapes(probe, state_dicts, tensors, where)
    del probe
    net = state.build(cls, params, after)
    for prefix, keys in state_dicts.items():
        module = getattr(net, prefix + "_")
        try:
            module.load_state_dict({k: tensors[f"state.{prefix}.{k}"] for k in keys})
        except RuntimeError as exc:
            raise ModelFileError(f"{where}: weights of {cls.__name__}.{prefix}_ do not fit its module: {exc}") from exc
    history = node.get("history")
    if history is not None:
        if type(history) is not list or not is_plain_data(history):
            raise ModelFileError(f"{where}: malformed training history")
        net.history_ = History(history)
    return net


class _DataState:
    """A skorch node's fitted attributes and build state: data only, never objects."""

    def __init__(self, node, tensors, cls, where, ctx):
        self.node, self.tensors, self.cls, self.where = node, tensors, cls, where
        dec = _Decoder(ctx["allow"], tensors, where=where, data_only=True)
        attributes = node.get("attributes", {})
        if type(attributes) is not dict:
            raise ModelFileError(f"{where}: malformed fitted attributes")
        attributes = dict(attributes)
        legacy = attributes.pop("_module_context_", None)  # format 1
        self.attributes = {}
        for k, v in attributes.items():
            _check_attribute_name(cls, k)
            self.attributes[k] = dec.decode(v)
        build_state = node.get("build_state")
        self.build_state = dec.decode(build_state) if build_state is not None else None
        if self.build_state is None and legacy is not None:
            self.build_state = _legacy_build_state(dec.decode(legacy), tensors)

    def state_dicts(self):
        state_dicts = self.node.get("state_dicts", {})
        if type(state_dicts) is not dict or not all(
            type(p) is str and p in ("module", "criterion") and type(keys) is list and all(type(k) is str for k in keys)
            for p, keys in state_dicts.items()
        ):
            raise ModelFileError(f"{self.where}: malformed weight index")
        for prefix, keys in state_dicts.items():
            missing = [k for k in keys if f"state.{prefix}.{k}" not in self.tensors]
            if missing:
                raise ModelFileError(f"{self.where}: weights {missing[:3]} of {prefix}_ are missing from the file")
        return state_dicts

    def build(self, cls, params, after, *, meta=False):
        import copy

        import torch

        net = cls(**params)
        for k, v in self.attributes.items():
            setattr(net, k, v)
        build_state = copy.copy(self.build_state) if isinstance(self.build_state, dict) else self.build_state
        context = torch.device("meta") if meta else contextlib.nullcontext()
        with context:
            if hasattr(net, "initialize_for_restore"):
                net.initialize_for_restore(build_state, after)
            else:
                net.initialize()
        return net


def _check_shapes(net, state_dicts, tensors, where):
    """The modules built from the file's parameters hold exactly the file's weights."""
    import torch

    for prefix in ("module", "criterion"):
        module = getattr(net, prefix + "_", None)
        if not isinstance(module, torch.nn.Module):
            if prefix in state_dicts:
                raise ModelFileError(f"{where}: no {prefix} to receive the weights the file holds")
            continue
        built = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        stored = {k: tuple(tensors[f"state.{prefix}.{k}"].shape) for k in state_dicts.get(prefix, [])}
        if built != stored:
            extra = sorted(set(built) - set(stored))[:3]
            missing = sorted(set(stored) - set(built))[:3]
            wrong = sorted(k for k in set(built) & set(stored) if built[k] != stored[k])[:3]
            raise ModelFileError(
                f"{where}: the network its parameters describe does not match the weights it holds "
                f"(not stored: {extra}, not in the network: {missing}, other shapes: "
                f"{[(k, built[k], stored[k]) for k in wrong]}); refusing to build it"
            )


_ATTRIBUTE_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*_")


def _check_attribute_name(cls, name):
    """A fitted attribute may be restored, never a method, property or dunder of the class."""
    if (
        not isinstance(name, str)
        or not _ATTRIBUTE_NAME.fullmatch(name)
        or name.endswith("__")
        or name in _SKORCH_INTERNAL
        or any(name in vars(base) for base in cls.__mro__)
    ):
        raise UnsafeModelError(
            f"the model file sets {name!r} on {cls.__name__}, which is not a fitted attribute; refusing to load"
        )


def _legacy_build_state(context, tensors):
    """The fusion classifier's build state as format 1 stored it (embeddings by reference)."""
    if not isinstance(context, dict):
        raise ModelFileError("malformed build state in a format-1 model file")
    ref = context.get("feature_embeddings")
    if isinstance(ref, dict):
        key = ref.get("$state")
        if key not in tensors:
            raise ModelFileError(f"tensor {key!r} is missing from the model file")
        context["feature_embeddings"] = tensors[key]
    return context


def _schema_types(obj):
    if isinstance(obj, dict):
        if "__module__" in obj and "__class__" in obj:
            yield f"{obj['__module__']}.{obj['__class__']}"
        if "module_path" in obj and "function" in obj:
            yield f"{obj['module_path']}.{obj['function']}"
        for v in obj.values():
            yield from _schema_types(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _schema_types(v)


def _load_skops(node, ctx):
    import skops.io as sio

    allow = ctx["allow"]
    try:
        data = _read_member(ctx["zf"], node["file"])
        inner = zipfile.ZipFile(_io.BytesIO(data))
        # the payload is a zip of its own: the same bounds before skops reads it
        _check_archive_infos(inner.infolist(), node["file"])
        schema = json.loads(_read_member(inner, "schema.json", _MAX_MANIFEST_BYTES))
        untrusted = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, RecursionError) as exc:
        if isinstance(exc, UnsafeModelError):
            raise
        raise ModelFileError(f"{node['file']} is not a valid skops payload ({exc})") from exc
    for name in inner.namelist():
        payload = _read_member(inner, name)
        if name != "schema.json" and (payload[:1] == b"\x80" or name.endswith((".pkl", ".pickle"))):
            raise UnsafeModelError(f"{node['file']} contains pickle data ({name}); refusing to load")
    refused = sorted(t for t in untrusted if t not in allow)
    # our own walk of the schema as well, in case a node type escapes skops' audit
    types = set(_schema_types(schema))
    refused += sorted(t for t in types - set(untrusted) if t not in allow)
    # skops rebuilds an object by handing the file's state to its class's
    # __setstate__: only classes whose state is plain attributes may be built so
    # (skorch nets unpickle part of their state; networks, optimizers and
    # callbacks come only through the manifest's own nodes)
    refused += sorted(t for t in types | set(untrusted) if not _built_from_state(t, allow))
    if refused:
        raise UnsafeModelError(f"{node['file']} asks to load types that are not trusted: {refused}; refusing to load")
    if node["class"] not in {f"{schema.get('__module__')}.{schema.get('__class__')}"}:
        raise UnsafeModelError(f"{node['file']} does not hold the {node['class']!r} the manifest names")
    try:
        est = sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelFileError(f"cannot load {node['file']}: {exc}") from exc
    # skops built it without calling its constructor; its values are checked now,
    # before anything uses them (paths and compile options go back to defaults)
    lm = node.get("language_model")
    lm_param = lm.get("param") if isinstance(lm, dict) else None
    if lm_param is not None and lm_param == _language_model_param(est):
        if lm.get("included_files"):
            # the model stored in the file replaces the reference
            est.__dict__[lm_param] = constructor_default(type(est), lm_param)
    ctx["allow"].check_built(est, where=f"{ctx['path']} ({node['file']}, {type(est).__name__})")
    if node.get("tensors"):
        tensors = _read_tensors(ctx["zf"], node["tensors"])
        attrs = node.get("tensor_attributes", [])
        if type(attrs) is not list:
            raise ModelFileError(f"{node['file']}: malformed tensor attributes")
        for k in attrs:
            _check_attribute_name(type(est), k)
            if f"attr.{k}" not in tensors:
                raise ModelFileError(f"{node['file']}: tensor attribute {k!r:.40} is missing from the file")
            setattr(est, k, tensors[f"attr.{k}"])
    if lm:
        if type(lm) is not dict:
            raise ModelFileError(f"{node['file']}: malformed language-model reference")
        _restore_language_model(est, node, lm, ctx)
    elif lm_param is None and ctx["language_model"] is not None and _language_model_param(est) is not None:
        est.set_params(**{_language_model_param(est): ctx["language_model"]})
    if ctx["device"] is not None and "device" in getattr(est, "get_params", dict)():
        est.set_params(device=ctx["device"])
    return est


_SAFE_BUILTINS = frozenset(
    f"builtins.{t}"
    for t in (
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "str",
        "bytes",
        "int",
        "float",
        "complex",
        "bool",
        "NoneType",
    )
)


@functools.cache
def _exact_numpy_types():
    """numpy's array, dtype, dtype classes, scalar types and legacy random state, by exact name.

    Listed one by one: a subclass of ``ndarray`` (``numpy.memmap`` opens a file
    named by its arguments; ``numpy.matrix``, ``numpy.recarray``) is never trusted.
    """
    import numpy.dtypes

    types = [np.ndarray, np.dtype, np.random.RandomState, np.random.MT19937, np.random.Generator, np.random.PCG64]
    types += [*NUMPY_SCALAR_TYPES, np.void, np.object_]
    names = {_dotted(t) for t in types}
    # the scalar types also under the names skops writes (``numpy.float64``)
    names |= {f"numpy.{t.__name__}" for t in types if getattr(np, t.__name__, None) is t}
    # one dtype class per scalar type (``numpy.dtypes.Float64DType``)
    for value in vars(numpy.dtypes).values():
        if inspect.isclass(value) and issubclass(value, np.dtype) and value is not np.dtype:
            names.add(_dotted(value))
    return frozenset(names)


def _built_from_state(name, allow):
    """Whether skops may build ``name`` by setting its state: no custom ``__setstate__``, no network."""
    if _exact_data_type(name) or name in _ALLOWED_FUNCTIONS or name.startswith("sklearn."):
        return True  # numpy/builtins handled by skops' own nodes; scikit-learn's classes, which skops trusts
    if name not in allow:
        return True  # refused above already
    import torch
    from sklearn.base import BaseEstimator
    from skorch import NeuralNet
    from skorch.callbacks import Callback

    try:
        cls = allow.resolve(name, what="a type in a skops payload", kind="any")
    except UnsafeModelError:
        return False
    if not inspect.isclass(cls):
        return True  # an allow-listed function
    if issubclass(cls, (NeuralNet, torch.nn.Module, torch.optim.Optimizer, Callback)):
        return False
    own_state = [base for base in cls.__mro__ if "__setstate__" in vars(base) or "__reduce__" in vars(base)]
    return all(base in (object, BaseEstimator) for base in own_state)


def _exact_data_type(name):
    """Builtin containers and numpy's exact types (never a subclass of them)."""
    return name in _SAFE_BUILTINS or name in _exact_numpy_types()


def _sklearn_estimator(name):
    """A scikit-learn estimator class, by the exact name it is defined under."""
    if not name.startswith("sklearn.") or "._" not in name and name.count(".") < 2:
        return False
    from sklearn.base import BaseEstimator

    obj = _import_exact(name)
    return inspect.isclass(obj) and issubclass(obj, BaseEstimator) and obj.__module__.startswith("sklearn.")


# Keys of a stored language model's config that make transformers import custom
# code, fetch attention kernels or quantisation back ends.
_LM_CODE_KEYS = frozenset({"auto_map", "attn_implementation", "_attn_implementation", "quantization_config"})


def _check_language_model_size(folder):
    """The stored language model's config describes no more weights than the file holds.

    transformers initialises weights the files lack, so a small file with a
    config asking for a 20-million-word vocabulary would allocate gigabytes at
    the first prediction. The model is built on the meta device (no memory)
    and its size compared with the tensors in the stored safetensors files.
    """
    import torch
    import transformers
    from safetensors import safe_open

    stored = 0
    for weights in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(weights), framework="pt") as fh:
            for key in fh.keys():
                stored += math.prod(fh.get_slice(key).get_shape())
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), trust_remote_code=False, local_files_only=True)
        with torch.device("meta"):
            model = transformers.AutoModel.from_config(config, trust_remote_code=False)
    except Exception as exc:
        raise ModelFileError(f"the stored language model cannot be built from its config ({exc})") from exc
    needed = sum(p.numel() for p in model.parameters())
    if needed > stored * 1.05 + 2**20:
        raise UnsafeModelError(
            f"the stored language model's config describes {needed} weights but its files hold {stored}; "
            "refusing a model that would be filled with random weights"
        )


def _restore_language_model(est, node, lm, ctx):
    param = lm.get("param")
    if param not in _LM_PARAM_NAMES or param != _language_model_param(est):
        raise ModelFileError(f"unknown language-model parameter {param!r:.40} of {type(est).__name__}")
    included = lm.get("included_files")
    if included is not None and (type(included) is not list or not all(type(r) is str for r in included)):
        raise ModelFileError(f"{node['file']}: malformed list of language-model files")
    if included:
        target = ctx["lm_dir"]
        target = Path(target) if target is not None else Path(tempfile.mkdtemp(prefix="llmrad-lm-"))
        base = f"{node['file'].rsplit('.', 1)[0]}/language_model/"
        for rel in included:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with ctx["zf"].open(base + rel) as src, open(dest, "wb") as out:
                written = 0
                while chunk := src.read(2**20):
                    written += len(chunk)
                    if written > _MAX_MEMBER_BYTES:
                        raise UnsafeModelError(
                            f"{base + rel} decompresses to more than {_MAX_MEMBER_BYTES} bytes; refusing to extract it"
                        )
                    out.write(chunk)
        for cfg in ("config.json", "tokenizer_config.json"):
            if (target / cfg).is_file():
                try:
                    content = json.loads((target / cfg).read_text())
                except ValueError as exc:
                    raise ModelFileError(f"stored language model {cfg} is corrupt") from exc
                code = sorted(set(content) & _LM_CODE_KEYS) if isinstance(content, dict) else []
                if code:
                    raise UnsafeModelError(
                        f"stored language model {cfg} sets {code}, which load code or kernels; refusing"
                    )
        _check_language_model_size(target)
        est.set_params(**{param: str(target)})
        return
    if ctx["language_model"] is not None:
        # the user names the language model (a folder on this machine is never taken from a file)
        est.set_params(**{param: os.fspath(ctx["language_model"])})
    ref = est.get_params(deep=False)[param]
    if ref != lm.get("id"):
        # a path in the file was not taken (io.values), or the user gave another model
        lm = {**lm, "id": ref, "resolved_revision": lm.get("resolved_revision") if ctx["language_model"] else None}
    current = _model_fingerprint(ref, lm.get("revision") if isinstance(lm.get("revision"), str) else None)
    changed = [
        k
        for k in ("resolved_revision", "config_sha256")
        if lm.get(k) is not None and current.get(k) is not None and lm[k] != current[k]
    ]
    if changed:
        warnings.warn(
            f"the language model {lm.get('id')!r} differs from the one the file was fitted with "
            f"({', '.join(changed)} changed); its embeddings, and so predictions, may differ",
            UserWarning,
            stacklevel=4,
        )
    elif current.get("config_sha256") is None and lm.get("config_sha256") is not None:
        warnings.warn(
            f"the language model {lm.get('id')!r} the file refers to cannot be found locally; "
            "it will be needed to transform new data",
            UserWarning,
            stacklevel=4,
        )
