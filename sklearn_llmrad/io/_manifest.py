"""The manifest codec: parameter values and fitted state to JSON and back, and the manifest's check.

Arrays and tensors go to the step's safetensors file and are referenced by key,
so that numbers round-trip bit for bit and the manifest stays readable. Nothing
is decoded before :func:`check_node` has checked the whole manifest: every
class it names, every archive member it refers to, and that fitted state holds
data only.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from ._allowlist import dotted
from ._language_model import check_lm_member
from .values import ModelFileError, UnsafeModelError, is_plain_data

#: Node kinds of objects that state their own file state (``get_file_state`` /
#: ``from_file_state``): the names format 2 has always written for them.
FILE_STATE_KINDS = ("skorch", "choice")

# How deep a JSON-encoded value may nest (a file nesting deeper is malformed).
MAX_VALUE_DEPTH = 32
# At most this many elements in one inline string array, each of at most this many bytes.
_MAX_INLINE_ITEMS = 2**20
_MAX_INLINE_ITEM_BYTES = 2**20


class Encoder:
    """Values to JSON; arrays and tensors to ``tensors``, referenced by key."""

    def __init__(self, save_estimator=None):
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
        self.tensors[key] = value.detach().to("cpu").contiguous().clone()
        return {"$type": "tensor", "key": key, "origin": origin}

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
            return {"$type": "ref", "name": dotted(value)}
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
            "class": dotted(type(value)),
            "params": {k: self.encode(v, f"{key}.{k}") for k, v in params.items()},
        }


class Decoder:
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

        if depth > MAX_VALUE_DEPTH:
            raise ModelFileError(f"{self.where}: a value nests more than {MAX_VALUE_DEPTH} levels")
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
            if value.get("origin") != "numpy":
                return tensor
            # numpy has no bfloat16: such an array (only a rewritten file holds one) is widened, as weights are
            return (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()
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
                _refuse_object(name, f"{self.where}: the model file", "as a parameter value")
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
            return self.ctx["load_node"](value.get("node"), self.ctx)
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


def _refuse_object(name, who, where):
    raise UnsafeModelError(
        f"{who} asks to build a {name!r:.80} {where}, which is not on the allow-list of objects built "
        "from a file (training callbacks and validation splits); refusing to load"
    )


def _iter_values(value, depth=0):
    """Every ``$type`` node of a JSON-encoded value: (type, node); nested estimators not entered."""
    if depth > MAX_VALUE_DEPTH:
        raise ModelFileError(f"a value in the manifest nests more than {MAX_VALUE_DEPTH} levels")
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


def check_node(node, allow, expected, names, depth=0):
    """Validate a manifest node before anything is imported: names, members, value kinds, layout.

    ``expected`` collects the archive members the manifest declares (``names``
    are those the archive holds). The loaders rely on the layout checked here.
    """

    def member(name):
        if not isinstance(name, str) or name not in names:
            raise ModelFileError(f"the manifest refers to {name!r:.80}, which is not in the file")
        expected.add(name)

    def require(ok, what):
        if not ok:
            raise ModelFileError(f"malformed manifest: the {what} of {cls!r:.80}")

    if type(node) is not dict:
        raise ModelFileError("malformed manifest node")
    if depth > MAX_VALUE_DEPTH:
        raise ModelFileError(f"the manifest nests estimators more than {MAX_VALUE_DEPTH} levels")
    kind = node.get("kind")
    if kind == "passthrough":
        if node.get("value") not in (None, "passthrough", "drop"):
            raise ModelFileError(f"invalid pipeline step {node.get('value')!r:.40}")
        return
    cls = node.get("class")
    if type(cls) is not str or cls not in allow:
        raise UnsafeModelError(f"the manifest names {cls!r:.80}, which is not on the allow-list; refusing to load")
    if kind == "skops":
        member(node.get("file"))
        if node.get("tensors"):
            member(node["tensors"])
        require(type(node.get("tensor_attributes", [])) is list, "tensor attributes")
        lm = node.get("language_model") or {}
        included = lm.get("included_files") or [] if type(lm) is dict else None
        require(type(included) is list and all(type(r) is str for r in included), "language-model reference")
        for rel in included:
            check_lm_member(rel)
            member(f"{node['file'].rsplit('.', 1)[0]}/language_model/{rel}")
        return
    if kind == "pipeline":
        params, children = node.get("params", {}), node.get("steps")
        require(type(params) is dict and "steps" not in params, "parameters")
    elif kind in FILE_STATE_KINDS:
        require(type(node.get("params")) is dict, "parameters")
        require(type(node.get("attributes", {})) is dict, "fitted attributes")
        history = node.get("history")
        require(history is None or (type(history) is list and is_plain_data(history)), "training history")
        index = node.get("state_dicts", {})
        require(
            type(index) is dict
            and all(type(keys) is list and all(type(k) is str for k in keys) for keys in index.values()),
            "weight index",
        )
        # parameters may name allow-listed classes, callbacks and estimators; fitted state holds data only
        for t, value in _iter_values(node["params"]):
            if t == "ref" and value.get("name") not in allow:
                raise UnsafeModelError(
                    f"the manifest names {value.get('name')!r:.80} in the parameters of {cls!r}, which is not "
                    "on the allow-list; refusing to load"
                )
            if t == "object" and value.get("class") not in allow.objects:
                _refuse_object(value.get("class"), "the manifest", f"in the parameters of {cls!r}")
            if t == "estimator":
                check_node(value.get("node"), allow, expected, names, depth + 1)
        for t, value in _iter_values([node.get("attributes"), node.get("build_state")]):
            if t in ("ref", "object", "estimator"):
                named = value.get("name", value.get("class", t))
                raise UnsafeModelError(
                    f"the manifest names {named!r:.80} in the fitted state of {cls!r}, which holds only data and "
                    "is not on the allow-list; refusing to load"
                )
        member(node.get("tensors"))
        children = node.get("candidates", [])
    else:
        raise ModelFileError(f"unknown node kind {kind!r:.40} in manifest")
    # pipeline steps and a choice's candidates: nodes under unique names
    require(
        type(children) is list
        and all(type(c) is dict and type(c.get("name")) is str for c in children)
        and len({c["name"] for c in children}) == len(children),
        "steps or candidates",
    )
    for child in children:
        check_node(child.get("node"), allow, expected, names, depth + 1)
