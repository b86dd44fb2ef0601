"""What a model file may set: parameter *values*, checked class by class.

A model file names classes (checked by the allow-list in :mod:`sklearn_llmrad.io`)
and gives them parameter values. Names alone are not enough: a file that sets
``compile=True`` with Inductor options on a skorch net runs a shell command at the
first prediction, and one that gives a path to ``cache_dir`` makes predictions
write the victim's clinical texts where the file chose. So every value is checked
against a schema before the estimator is built:

- **Derived from** ``_parameter_constraints`` where the class declares them
  (scikit-learn's and this package's estimators), so the schema cannot drift from
  what ``fit`` validates: a number must lie in its ``Interval``, a string must be
  one of its ``StrOptions``, ``"boolean"`` is a bool, a type is matched exactly.
- **Never from a file** (:data:`NEVER_FROM_FILE`): compile switches and options,
  ``torch.load`` options, cache folders, pipeline memory, weights files. A file
  that sets them to anything but the class default gets the default back, with a
  :class:`ModelFileWarning` that names them.
- **Paths**: a parameter whose constraints admit :class:`os.PathLike` takes only a
  *name* from a file (one of its ``StrOptions``, or a model-hub id such as
  ``org/model`` where the class lists the parameter in its public
  ``model_id_parameters``), never a file-system path; a path is reset to the
  default with a warning.
- **Callables** only from a fixed list of functions; **objects** only of exact
  allow-listed classes, themselves checked the same way.
- Anything a class does not declare must be plain data: numbers, strings,
  booleans, ``None`` and lists, tuples and dicts of those. LightGBM's classifier,
  which declares nothing and hands every parameter to its C++ configuration, takes
  only its constructor's parameters and ``verbose``, each with a checked value.

What fails these checks raises :class:`UnsafeModelError` and nothing is built.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import re
import warnings
from numbers import Integral, Real

import numpy as np

# the archive format's errors, defined below io (saved priors raise them too); imported from here by io
from .._archive import ModelFileError as ModelFileError
from .._archive import UnsafeModelError

__all__ = [
    "NEVER_FROM_FILE",
    "NUMPY_SCALAR_TYPES",
    "ModelFileWarning",
    "UnsafeModelError",
    "ValuePolicy",
    "check_estimator_values",
    "check_params",
    "constructor_default",
    "is_model_name",
    "is_plain_data",
    "never_from_file",
]

#: Parameter names (the last part of a ``prefix__name`` too) whose values are
#: never taken from a model file: they compile code, load pickles or name
#: places on the loading machine's disk.
NEVER_FROM_FILE = frozenset(
    (
        "compile torch_load_kwargs torch_load_default_kwargs memory cache_dir weights_file pin_memory_device "
        "multiprocessing_context worker_init_fn collate_fn sampler batch_sampler generator"
    ).split()
)

# Every routed parameter under these prefixes is dropped (torch.compile options).
_NEVER_PREFIXES = ("compile__",)

# The devices a file may name (a device the machine lacks falls back to the CPU on load).
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,2})?")

# How deep plain data may nest in a parameter value.
_MAX_DEPTH = 32

# A model-hub id: "name" or "org/name"; no absolute path, no "..", no "~".
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")
# ... and not a file name relative to the working folder (a settings or weights file)
_FILE_SUFFIX = re.compile(r"\.(ya?ml|json|txt|pth?|bin|ckpt|safetensors|pkl|pickle|npy|npz|h5|onnx|zip|tar|gz)$", re.I)


class ModelFileWarning(UserWarning):
    """A value in a model file was not taken: the class default is used instead.

    Examples
    --------
    >>> issubclass(ModelFileWarning, UserWarning)
    True
    """


def is_model_name(value):
    """Whether ``value`` is a model name (``"imagenet"``, ``"org/model"``), not a path.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_model_name("dmis-lab/biobert-base-cased-v1.2")
    True
    >>> is_model_name("/home/me/.bashrc"), is_model_name("../x"), is_model_name("a/b/c")
    (False, False, False)
    >>> is_model_name("params.yaml"), is_model_name("resnet50.pth")
    (False, False)
    """
    return (
        type(value) is str
        and len(value) <= 256
        and _MODEL_NAME.fullmatch(value) is not None
        and ".." not in value
        and not value.startswith("~")
        and _FILE_SUFFIX.search(value) is None
    )


def never_from_file(name):
    """Whether a parameter (or routed ``prefix__name``) is never taken from a file.

    Parameters
    ----------
    name : str

    Returns
    -------
    bool

    Examples
    --------
    >>> never_from_file("compile"), never_from_file("compile__options")
    (True, True)
    >>> never_from_file("module__weights_file"), never_from_file("lr")
    (True, False)
    """
    return name.startswith(_NEVER_PREFIXES) or name.rsplit("__", 1)[-1] in NEVER_FROM_FILE


def is_plain_data(value, *, depth=0):
    """Numbers, strings, booleans, None, and lists / tuples / dicts of those.

    Exact types only (a subclass of ``str`` or ``dict`` is not plain data).
    Numeric and string numpy arrays and scalars count as plain.

    Parameters
    ----------
    value : object
    depth : int, default=0
        How deeply this call is nested in another value (values nest at most
        32 levels).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_plain_data({"a": [1, 2.5, None, ("x", True)]})
    True
    >>> is_plain_data(print), is_plain_data(object())
    (False, False)
    """
    if depth > _MAX_DEPTH:
        return False
    if value is None or type(value) in (bool, int, float, str, np.bool_):
        return True
    if type(value) in NUMPY_SCALAR_TYPES:
        return True
    if type(value) is np.ndarray:
        return value.dtype.kind in "biufUS"
    if type(value) in (list, tuple):
        return all(is_plain_data(v, depth=depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) in (str, int) and is_plain_data(v, depth=depth + 1) for k, v in value.items())
    return False


#: numpy scalar types a file's data may hold, by exact type (never a subclass).
NUMPY_SCALAR_TYPES = frozenset(
    getattr(np, name)
    for name in "bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 longdouble "
    "complex64 complex128 str_ bytes_".split()
)


def constructor_default(estimator_class, name):
    """The default ``estimator_class.__init__`` gives parameter ``name``; ``inspect.Parameter.empty`` if none.

    Parameters
    ----------
    estimator_class : type
    name : str
        A parameter name (a routed ``prefix__name`` or unknown name has no default).

    Returns
    -------
    object

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> constructor_default(Pipeline, "memory") is None
    True
    >>> constructor_default(Pipeline, "compile__mode") is inspect.Parameter.empty
    True
    """
    try:
        parameter = inspect.signature(estimator_class.__init__).parameters.get(name)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return inspect.Parameter.empty
    if parameter is None:
        return inspect.Parameter.empty
    return parameter.default


def _same(a, b):
    try:
        return bool(a is b or a == b)
    except Exception:  # array comparisons and the like: not the same
        return False


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Checker:
    """Checks one value against a class's constraints for one parameter."""

    def __init__(self, cls, *, policy, where):
        self.cls = cls
        self.policy = policy
        self.where = where

    def refuse(self, name, value, why):
        raise UnsafeModelError(
            f"{self.where}: the model file sets {self.cls.__name__}({name}={_short(value)}), {why}; refusing to load"
        )

    def satisfies(self, constraint, value, name, depth):
        """Whether ``value`` meets one constraint, reading it as data only."""
        from sklearn.base import BaseEstimator
        from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions

        if constraint is None:
            return value is None
        if constraint is callable:  # sklearn writes the builtin for "any callable"
            return self.policy.allowed_ref(value)
        if isinstance(constraint, str):
            if constraint == "boolean":
                return type(value) in (bool, np.bool_)
            if constraint == "random_state":
                return (
                    value is None
                    or (type(value) in (int, np.int64) and 0 <= value < 2**32)
                    or (type(value) is np.random.RandomState)
                )
            if constraint == "verbose":
                return type(value) in (bool, int, np.int64)
            if constraint == "array-like":
                return type(value) in (list, tuple, np.ndarray) and is_plain_data(value)
            if constraint == "nan":
                return type(value) is float and math.isnan(value)
            if constraint == "callable":
                return self.policy.allowed_ref(value)
            if constraint.startswith("class:"):  # an allow-listed class defined under a module prefix
                prefix = constraint.removeprefix("class:")
                return (
                    inspect.isclass(value)
                    and (value.__module__ + ".").startswith(prefix if prefix.endswith(".") else prefix + ".")
                    and self.policy.allowed_ref(value)
                )
            if constraint == "cv_object":
                return value is None or (type(value) is int and value >= 2) or self.policy.allowed_object(type(value))
            if constraint == "missing_values":
                return value is None or type(value) in (int, float, str)
            if constraint == "no_validation":
                return self.plain_or_estimator(value, depth)
            return False  # "sparse matrix" and the rest: never from a file
        if isinstance(constraint, Interval):
            if type(value) in (bool, np.bool_) or not isinstance(value, Real):
                return False
            if constraint.type is Integral and not isinstance(value, Integral):
                return False
            return bool(constraint.is_satisfied_by(value))
        if isinstance(constraint, (StrOptions, Options)):
            return type(value) in (str, int, float, bool) and bool(constraint.is_satisfied_by(value))
        if isinstance(constraint, HasMethods):
            return self.is_allowed_estimator(value, depth)
        if inspect.isclass(constraint):
            if constraint is os.PathLike:
                return False  # paths are handled before any constraint is read
            if constraint in (str, int, float, bool):
                return type(value) is constraint or (constraint is float and type(value) is int)
            if constraint in (list, tuple, dict):
                return type(value) is constraint and is_plain_data(value)
            if issubclass(constraint, BaseEstimator):
                return self.is_allowed_estimator(value, depth) and isinstance(value, constraint)
            return type(value) is constraint and constraint.__module__.split(".")[0] in ("torch", "numpy")
        hidden = getattr(constraint, "constraint", None)
        if hidden is not None:  # sklearn's Hidden(...) wraps a public constraint
            return self.satisfies(hidden, value, name, depth)
        # other sklearn constraints (MissingValues, ...): only plain data is offered to them
        is_satisfied_by = getattr(constraint, "is_satisfied_by", None)
        if is_satisfied_by is not None and is_plain_data(value):
            try:
                return bool(is_satisfied_by(value))
            except Exception:
                return False
        return False

    def is_allowed_estimator(self, value, depth):
        if not self.policy.allowed_estimator(type(value)):
            return False
        check_estimator_values(value, where=self.where, policy=self.policy, depth=depth + 1)
        return True

    def plain_or_estimator(self, value, depth):
        """Plain data, or allow-listed classes, functions, objects and estimators."""
        from sklearn.base import BaseEstimator

        if depth > _MAX_DEPTH:
            return False
        if isinstance(value, BaseEstimator) and not inspect.isclass(value):
            return self.is_allowed_estimator(value, depth)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
            return self.policy.allowed_ref(value)
        if self.policy.allowed_object(type(value)):
            return True
        if type(value) in (list, tuple):
            return all(self.plain_or_estimator(v, depth + 1) for v in value)
        return is_plain_data(value)


class ValuePolicy:
    """Which non-plain values a model file may hold: exact classes, functions, objects.

    Parameters
    ----------
    allowed_ref : callable, default=None
        ``allowed_ref(obj) -> bool`` for a class or function held by a parameter.
    allowed_estimator : callable, default=None
        ``allowed_estimator(type) -> bool``: estimator classes a parameter may hold
        an instance of (its own parameters are checked in turn).
    allowed_object : callable, default=None
        ``allowed_object(type) -> bool``: other classes a parameter may hold an
        instance of (training callbacks, validation splits), built from checked
        parameters.
    supplied : dict, default=None
        Values the *caller* gives for path-like parameters of these names (a
        local language model folder), used instead of the file's.
    language_model : str or os.PathLike, default=None
        The caller's language model, used instead of the file's for every
        path-like parameter a class lists in its ``model_id_parameters``.

    Examples
    --------
    >>> policy = ValuePolicy(allowed_ref=lambda obj: obj is print)
    >>> policy.allowed_ref(print), policy.allowed_estimator(dict)
    (True, False)
    """

    def __init__(
        self, *, allowed_ref=None, allowed_estimator=None, allowed_object=None, supplied=None, language_model=None
    ):
        self.allowed_ref = allowed_ref or _nothing
        self.allowed_estimator = allowed_estimator or _nothing
        self.allowed_object = allowed_object or _nothing
        self.supplied = dict(supplied or {})
        self.language_model = language_model
        self.seen = set()  # ids of estimators already checked in this load


def _nothing(value):
    return False


@functools.cache
def _skorch_schema():
    """skorch's own constructor parameters, which its classes do not declare in ``_parameter_constraints``."""
    from sklearn.utils._param_validation import StrOptions

    return {
        # the package's own networks; a loss of torch.nn or of the package; a torch optimizer
        "module": ["class:sklearn_llmrad."],
        "criterion": ["class:torch.nn.modules.loss", "class:sklearn_llmrad."],
        "optimizer": ["class:torch.optim."],
        "iterator_train": ["class:torch.utils.data."],
        "iterator_valid": ["class:torch.utils.data."],
        "dataset": ["class:skorch.dataset", "class:sklearn_llmrad."],
        "predict_nonlinearity": [StrOptions({"auto"}), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "use_caching": [StrOptions({"auto"}), "boolean"],
        "classes": [None, "array-like"],
    }


@functools.cache
def _routed_schema():
    """Routed ``prefix__name`` parameters of skorch nets a file may set, and their values.

    ``module__*`` and ``criterion__*`` reach the network's and the loss's
    constructors (the network's sizes are checked against the stored weights
    anyway) and ``callbacks__*`` a callback's: plain data. Optimizer and data
    loader options are listed one by one; anything else (``dataset__*``,
    ``train_split__*``, a loader's ``collate_fn``, ``sampler``, worker settings
    beyond a handful of processes) is refused.
    """
    from sklearn.utils._param_validation import Interval

    nonneg = [Interval(Real, 0, None, closed="left")]
    flag = ["boolean"]
    optimizer = {
        **dict.fromkeys(("lr", "weight_decay", "eps", "momentum", "dampening", "alpha"), nonneg),
        **dict.fromkeys(("nesterov", "amsgrad", "maximize"), flag),
        **dict.fromkeys(("foreach", "fused"), ["boolean", None]),
        "betas": ["array-like"],
    }
    loader = {
        **dict.fromkeys(("shuffle", "drop_last", "pin_memory", "persistent_workers"), flag),
        "batch_size": [Interval(Integral, -1, None, closed="left")],
        "num_workers": [Interval(Integral, 0, 16, closed="both")],
        "prefetch_factor": [Interval(Integral, 1, 64, closed="both"), None],
        "timeout": nonneg,
    }
    plain = dict.fromkeys(("module", "criterion", "callbacks"))  # None: any plain data
    return {**plain, "optimizer": optimizer, "iterator_train": loader, "iterator_valid": loader}


#: LightGBM's classifier, by its exact dotted name: its parameters are checked by :func:`_lightgbm_schema`.
LIGHTGBM_CLASSIFIER = "lightgbm.sklearn.LGBMClassifier"
#: LightGBM's own bound on ``num_leaves`` (its parameter and the trees of its model text).
MAX_LIGHTGBM_LEAVES = 131072


@functools.cache
def _lightgbm_schema():
    """What a file may set on an ``LGBMClassifier``: its constructor's parameters and ``verbose``.

    LightGBM declares no ``_parameter_constraints`` and passes every parameter,
    those given through ``**kwargs`` too, to its C++ configuration as
    ``key=value`` text, where names such as ``forcedsplits_filename``,
    ``output_model`` or ``machines`` read or write files or open sockets. So a
    file sets only the constructor's own parameters, with checked numbers and
    named options (no callable objective, no text LightGBM would split into
    more keys), and of the keyword arguments only ``verbose``, which the
    package's baseline passes.
    """
    from sklearn.utils._param_validation import Interval, StrOptions

    def number(kind, low=None, high=None, closed="neither"):
        return [Interval(kind, low, high, closed=closed)]

    nonneg = number(Real, 0, None, "left")
    fraction = number(Real, 0, 1, "right")
    return {
        "boosting_type": [StrOptions({"gbdt", "dart", "goss", "rf"})],
        "num_leaves": number(Integral, 2, MAX_LIGHTGBM_LEAVES, "both"),
        "max_depth": number(Integral),
        "learning_rate": number(Real, 0, None),
        "n_estimators": number(Integral, 0, None, "left"),
        "subsample_for_bin": number(Integral, 1, None, "left"),
        "objective": [None, StrOptions({"binary", "cross_entropy", "xentropy"})],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "min_split_gain": nonneg,
        "min_child_weight": nonneg,
        "min_child_samples": number(Integral, 0, None, "left"),
        "subsample": fraction,
        "subsample_freq": number(Integral, 0, None, "left"),
        "colsample_bytree": fraction,
        "reg_alpha": nonneg,
        "reg_lambda": nonneg,
        "random_state": ["random_state"],
        "n_jobs": [None, *number(Integral)],
        "importance_type": [StrOptions({"split", "gain"})],
        "verbose": ["verbose"],  # of **kwargs, the one key the package's baseline passes
    }


def _check_routed(checker, name, value):
    prefix, leaf = name.split("__", 1)
    schema = _routed_schema()
    if prefix not in schema:
        checker.refuse(name, value, f"a routed parameter ({prefix}__*) never taken from a file")
    rules = schema[prefix]
    if leaf in ("device", "dtype"):
        # would build the network outside the meta device that bounds its size
        checker.refuse(name, value, "a placement a file never sets")
    if rules is None:
        if not is_plain_data(value):
            checker.refuse(name, value, "which is not plain data")
        return
    if leaf not in rules:
        checker.refuse(name, value, f"an option of {prefix} that is not taken from a file")
    if not any(checker.satisfies(c, value, name, 0) for c in rules[leaf]):
        checker.refuse(name, value, "a value outside what the option allows from a file")


def check_params(estimator_class, params, *, where, policy=None, depth=0):
    """Check the parameter values a model file gives ``estimator_class``; return the ones to use.

    Parameters
    ----------
    estimator_class : type
        The (already allow-listed) class the parameters are for.
    params : dict
        Decoded parameter values.
    where : str
        What to name in messages (the file and the step).
    policy : ValuePolicy, default=None
        Which classes, functions, objects and estimators a value may be or hold.
        None: plain data only.
    depth : int, default=0
        As in :func:`is_plain_data`.

    Returns
    -------
    dict
        ``params`` with every never-from-file value reset to the class default
        (or dropped when the class has none), with a :class:`ModelFileWarning`.

    Raises
    ------
    UnsafeModelError
        A value its class does not allow.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.preprocessing import StandardScaler
    >>> check_params(StandardScaler, {"with_mean": False}, where="demo")
    {'with_mean': False}
    >>> try:
    ...     check_params(StandardScaler, {"with_mean": print}, where="demo")
    ... except UnsafeModelError as exc:
    ...     print("refused")
    refused
    """
    if depth > _MAX_DEPTH:
        raise UnsafeModelError(f"{where}: parameters nest more than {_MAX_DEPTH} levels; refusing to load")
    checker = _Checker(estimator_class, policy=policy or ValuePolicy(), where=where)
    constraints = getattr(estimator_class, "_parameter_constraints", {}) or {}
    lightgbm = f"{estimator_class.__module__}.{estimator_class.__qualname__}" == LIGHTGBM_CLASSIFIER
    out, reset = {}, []
    for name, value in params.items():
        if type(name) is not str:
            raise UnsafeModelError(
                f"{where}: parameter name {_short(name)} of {estimator_class.__name__} is not a string"
            )
        if lightgbm:
            if name not in _lightgbm_schema():
                checker.refuse(name, value, "not a parameter of LGBMClassifier a file may set")
            declared = _lightgbm_schema()[name]
        else:
            declared = constraints.get(name, _skorch_schema().get(name))
        declared = [declared] if isinstance(declared, str) else list(declared or [])
        if never_from_file(name):
            default = constructor_default(estimator_class, name)
            if default is inspect.Parameter.empty:
                if value is not None and value is not False:
                    reset.append(f"{name}={_short(value)}")
                continue
            if not _same(value, default):
                reset.append(f"{name}={_short(value)}")
            out[name] = default
            continue
        # a path-like parameter takes from a file one of its named options, or a
        # model-hub id where its class says it takes one; never a path on this disk
        takes_ids = name in getattr(estimator_class, "model_id_parameters", ())
        if os.PathLike in declared and takes_ids and checker.policy.language_model is not None:
            out[name] = os.fspath(checker.policy.language_model)  # the caller's, not the file's
            continue
        if os.PathLike in declared and name in checker.policy.supplied:
            out[name] = checker.policy.supplied[name]
            continue
        if (
            os.PathLike in declared
            and type(value) is str
            and not any(checker.satisfies(c, value, name, depth) for c in declared if c is not str)
        ):
            # an id that is also a folder here would be read as that folder
            if not (takes_ids and is_model_name(value) and not os.path.exists(value)):
                default = constructor_default(estimator_class, name)
                reset.append(f"{name}={_short(value)}")
                if default is not inspect.Parameter.empty:
                    out[name] = default
                continue
            out[name] = value
            continue
        if "__" in name and not declared:
            _check_routed(checker, name, value)
            out[name] = value
            continue
        if name == "device" and type(value) is str and not _DEVICE.fullmatch(value):
            checker.refuse(name, value, "which is not a device (auto, cpu, cuda, cuda:N, mps)")
        if declared:
            if not any(checker.satisfies(c, value, name, depth) for c in declared):
                checker.refuse(name, value, "a value its class does not allow from a file")
        elif not checker.plain_or_estimator(value, depth):
            checker.refuse(name, value, "which is neither plain data nor an allow-listed estimator")
        out[name] = value
    if reset:
        warnings.warn(
            f"{where}: {estimator_class.__name__} parameters not taken from the model file (compile options, "
            f"pickles and paths on this machine are never read from a file; the defaults are used): "
            f"{', '.join(reset)}. "
            "Set them again with set_params if you trust them; give a local language model with "
            "sklearn_llmrad.io.load(..., language_model=PATH)",
            ModelFileWarning,
            stacklevel=3,
        )
    return out


def check_estimator_values(estimator, *, where, policy=None, depth=0):
    """Check an estimator built from a file, in place, as :func:`check_params` does.

    For estimators that a serialisation library built from a file without calling
    their constructor (skops): their parameters are read with ``get_params``,
    checked, and every never-from-file value is set back to its default.

    Parameters
    ----------
    estimator : BaseEstimator
    where : str
    policy : ValuePolicy, default=None
        As in :func:`check_params`.
    depth : int, default=0
        As in :func:`is_plain_data`.

    Returns
    -------
    estimator
        The same object.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> pipe = Pipeline([("s", StandardScaler())], memory="/tmp/elsewhere")
    >>> with warnings.catch_warnings(record=True):
    ...     warnings.simplefilter("always")
    ...     policy = ValuePolicy(allowed_estimator=lambda t: True)
    ...     _ = check_estimator_values(pipe, where="demo", policy=policy)
    >>> print(pipe.memory)
    None
    """
    policy = policy or ValuePolicy()
    try:
        params = estimator.get_params(deep=False)
    except Exception as exc:
        raise UnsafeModelError(f"{where}: cannot read the parameters of {type(estimator).__name__} ({exc})") from exc
    if hasattr(estimator, "steps") and "steps" in params:
        # Pipeline-like: the steps are estimators; the other values are checked below
        steps = params.pop("steps")
        if type(steps) is not list:
            raise UnsafeModelError(f"{where}: {type(estimator).__name__}.steps is not a list")
        for step in steps:
            if type(step) is not tuple or len(step) != 2 or type(step[0]) is not str:
                raise UnsafeModelError(f"{where}: malformed step {_short(step)} in {type(estimator).__name__}")
            if step[1] is None or step[1] in ("passthrough", "drop"):
                continue
            if not policy.allowed_estimator(type(step[1])):
                raise UnsafeModelError(f"{where}: step {step[0]!r} is a {type(step[1]).__name__}, not allow-listed")
            check_estimator_values(step[1], where=where, policy=policy, depth=depth + 1)
    if id(estimator) in policy.seen:
        return estimator  # shared by several steps (a prior): checked once
    policy.seen.add(id(estimator))
    checked = check_params(type(estimator), params, where=where, policy=policy, depth=depth)
    for name, value in checked.items():
        if value is not params[name]:
            # a never-from-file value reset to its default
            estimator.__dict__[name] = value
    for name in [k for k in params if k not in checked]:
        estimator.__dict__.pop(name, None)  # a routed option dropped by check_params
    _check_attributes(estimator, params, where=where, policy=policy, depth=depth)
    return estimator


def _check_attributes(estimator, params, *, where, policy, depth):
    """Every other attribute a library restored holds data, or allow-listed estimators checked in turn.

    In-memory caches a class names in its public ``transient_attributes`` are
    never stored by a genuine file and are dropped.
    """
    checker = _Checker(type(estimator), policy=policy, where=where)
    transient = set(getattr(type(estimator), "transient_attributes", ()))
    for name in list(vars(estimator)):
        if name in params:
            continue
        if name in transient:
            del estimator.__dict__[name]
            continue
        value = estimator.__dict__[name]
        if not _is_data(value, checker, depth):
            raise UnsafeModelError(
                f"{where}: the model file sets {type(estimator).__name__}.{name} to {_short(value)}, which is "
                "neither data nor an allow-listed estimator; refusing to load"
            )


_DATA_SCALARS = (np.generic, np.dtype, np.random.RandomState, np.random.Generator, np.random.BitGenerator)


def _is_data(value, checker, depth):
    """Numbers, strings, arrays (object arrays of data), containers of those, or allow-listed estimators."""
    from sklearn.base import BaseEstimator

    if depth > _MAX_DEPTH:
        return False
    if is_plain_data(value):
        return True
    if type(value) is np.ndarray:
        return value.dtype.kind != "O" or all(_is_data(v, checker, depth + 1) for v in value.ravel().tolist())
    if isinstance(value, _DATA_SCALARS) and type(value).__module__.split(".")[0] == "numpy":
        return type(value) is not np.memmap
    if type(value) in (list, tuple, set, frozenset):
        return all(_is_data(v, checker, depth + 1) for v in value)
    if type(value) is dict:
        return all(_is_data(k, checker, depth + 1) and _is_data(v, checker, depth + 1) for k, v in value.items())
    if isinstance(value, BaseEstimator) and not inspect.isclass(value):
        return checker.is_allowed_estimator(value, depth)
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
        return checker.policy.allowed_ref(value)
    if checker.policy.allowed_object(type(value)):
        # a plain helper object (a calibrator, a CV splitter): its own attributes are data too
        return all(_is_data(v, checker, depth + 1) for v in getattr(value, "__dict__", {}).values())
    return False
