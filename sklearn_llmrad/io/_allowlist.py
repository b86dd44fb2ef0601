"""The allow-list: which classes and functions a model file may name.

Membership is by exact dotted name, decided before anything is imported: this
package's registry (:func:`own_registry`), a fixed list of torch, skorch,
scikit-learn and LightGBM names, numpy's and the builtins' exact data types, and what the
caller passes as ``trusted``. A name resolves only to the object *defined*
under that name, so ``sklearn_llmrad.io.os.system`` never resolves.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from pathlib import Path

import numpy as np

from ._trees import LIGHTGBM_CLASSES, SKLEARN_TREE
from .values import NUMPY_SCALAR_TYPES, UnsafeModelError, ValuePolicy, check_estimator_values, check_params

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

#: Third-party functions that fitted estimators legitimately reference
#: (``SelectKBest(score_func=...)``, EarlyStopping's ``sink``).
ALLOWED_FUNCTIONS = frozenset(
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
        SKLEARN_TREE,  # a fitted tree's arrays, checked as one binary tree before use (io/_trees.py)
    }
)

# Classes of this package that are neither estimators nor modules, held by a fitted
# estimator's parameters: the elastic-net baseline's inner CV splitter (plain attributes)
_ALLOWED_OWN_OBJECTS = frozenset({"sklearn_llmrad.inner_cv.StratifiedInnerFolds"})

# Callbacks that only observe or adjust training. Checkpoint/LoadInitState and
# the loggers are left out: they touch the file system or the network when initialised.
_TRAINING_CALLBACKS = (
    "EarlyStopping EpochScoring BatchScoring PassthroughScoring LRScheduler WarmRestartLR GradientNormClipping "
    "PrintLog EpochTimer Freezer Unfreezer Initializer ParamMapper InputShapeSetter"
).split()

_SAFE_BUILTINS = frozenset(
    f"builtins.{t}" for t in "dict list tuple set frozenset str bytes int float complex bool NoneType".split()
)


def dotted(obj):
    """The exact dotted name an object is defined under (``module.qualname``)."""
    return f"{obj.__module__}.{obj.__qualname__}"


def _third_party_allowed():
    """Third-party classes a saved net's parameters may use, by their exact dotted name."""
    import skorch
    import skorch.callbacks as cb
    import torch
    from skorch.dataset import Dataset, ValidSplit

    classes = [skorch.NeuralNet, skorch.NeuralNetClassifier, skorch.NeuralNetBinaryClassifier]
    classes += [skorch.NeuralNetRegressor, Dataset, ValidSplit, torch.utils.data.DataLoader]
    classes += [getattr(cb, name) for name in _TRAINING_CALLBACKS if hasattr(cb, name)]
    # torch's optimizers, learning-rate schedulers, layers and losses
    optim, nn, defined = torch.optim, torch.nn, ("torch.optim", "torch.nn")
    for ns, base in ((optim, optim.Optimizer), (optim.lr_scheduler, object), (nn, nn.Module)):
        for value in vars(ns).values():
            if inspect.isclass(value) and issubclass(value, base) and value.__module__.startswith(defined):
                classes.append(value)
    return {dotted(cls): cls for cls in classes}


def _own_modules():
    """Names of this package's modules that may define what a model file names."""
    import pkgutil

    import sklearn_llmrad

    names = []
    stack = [("sklearn_llmrad", sklearn_llmrad.__path__)]
    while stack:
        package, path = stack.pop()
        for info in pkgutil.iter_modules(path, prefix=package + "."):
            if any(info.name == m or info.name.startswith(m + ".") for m in _EXCLUDED_OWN_MODULES):
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
                registry[dotted(value)] = value
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
        qualname = ".".join(parts[i:])
        if getattr(obj, "__module__", None) == module_name and getattr(obj, "__qualname__", None) == qualname:
            return obj
        return None
    return None


class AllowList:
    """Decides, from a dotted name alone, whether a class or function may be imported (see the module).

    ``language_model`` is the caller's language model for every parameter a
    class lists in ``model_id_parameters``.
    """

    def __init__(self, trusted, *, language_model=None):
        if trusted is None:
            trusted = []
        elif isinstance(trusted, (str, type)):
            trusted = [trusted]
        self.extra = {t if isinstance(t, str) else dotted(t): None if isinstance(t, str) else t for t in trusted}
        self.language_model = language_model

    @functools.cached_property
    def third(self):
        return _third_party_allowed()

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
                name = dotted(obj)
            except AttributeError:
                return False
            if inspect.isclass(obj):
                return name in self and (self.extra.get(name) or self.resolve(name, what="a value")) is obj
            if name in ALLOWED_FUNCTIONS:
                return True
            # a function the caller trusts, by its defining name or the one they passed
            return any(t is obj or n == name or _public_alias(n) is obj for n, t in self.extra.items())

        def allowed_estimator(cls):
            # estimators held by a parameter (a prior); never a network as a value
            return issubclass(cls, BaseEstimator) and not issubclass(cls, NeuralNet) and dotted(cls) in self

        def allowed_object(cls):
            # training callbacks, validation splits, and the calibrators and CV splitters
            # that fitted scikit-learn estimators keep
            name = dotted(cls)
            return name in self.objects or name in _ALLOWED_SKLEARN_CLASSES or name in _ALLOWED_OWN_OBJECTS

        return ValuePolicy(
            allowed_ref=allowed_ref,
            allowed_estimator=allowed_estimator,
            allowed_object=allowed_object,
            language_model=self.language_model,
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
            or name in ALLOWED_FUNCTIONS
            or name in _ALLOWED_SKLEARN_CLASSES
            or name in _ALLOWED_OWN_OBJECTS
            or name in LIGHTGBM_CLASSES  # its Booster comes only as checked model text (io/_trees.py)
            or exact_data_type(name)
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
        if obj is None or dotted(obj) != name:
            raise UnsafeModelError(
                f"the model file names {name!r} as {what}, but nothing is defined under "
                "exactly that name (an attribute reached through another module is "
                "refused); refusing to load"
            )
        if kind == "class" and not inspect.isclass(obj):
            raise UnsafeModelError(f"{name!r} ({what}) is not a class; refusing to call it")
        return obj


@functools.cache
def _exact_numpy_types():
    """numpy's array, dtype, dtype classes, scalar types and legacy random state, by exact name.

    Listed one by one: a subclass of ``ndarray`` (``numpy.memmap`` opens a file
    named by its arguments; ``numpy.matrix``, ``numpy.recarray``) is never trusted.
    """
    import numpy.dtypes

    types = [np.ndarray, np.dtype, np.random.RandomState, np.random.MT19937, np.random.Generator, np.random.PCG64]
    types += [*NUMPY_SCALAR_TYPES, np.void, np.object_]
    names = {dotted(t) for t in types}
    # the scalar types also under the names skops writes (``numpy.float64``)
    names |= {f"numpy.{t.__name__}" for t in types if getattr(np, t.__name__, None) is t}
    # one dtype class per scalar type (``numpy.dtypes.Float64DType``)
    for value in vars(numpy.dtypes).values():
        if inspect.isclass(value) and issubclass(value, np.dtype) and value is not np.dtype:
            names.add(dotted(value))
    return frozenset(names)


def exact_data_type(name):
    """Builtin containers and numpy's exact types (never a subclass of them)."""
    return name in _SAFE_BUILTINS or name in _exact_numpy_types()


def built_from_state(name, allow):
    """Whether skops may build ``name`` by setting its state: no custom ``__setstate__``, no network."""
    if exact_data_type(name) or name in ALLOWED_FUNCTIONS or name.startswith("sklearn."):
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


def _sklearn_estimator(name):
    """A scikit-learn estimator class, by the exact name it is defined under."""
    if not name.startswith("sklearn.") or "._" not in name and name.count(".") < 2:
        return False
    from sklearn.base import BaseEstimator

    obj = _import_exact(name)
    return inspect.isclass(obj) and issubclass(obj, BaseEstimator) and obj.__module__.startswith("sklearn.")
