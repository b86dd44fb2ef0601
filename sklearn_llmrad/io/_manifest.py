"""The manifest codec of model files: parameter values and fitted state to JSON and back, and the manifest's check.

The data values (numbers, strings, containers, arrays by reference into the
step's safetensors file, so that numbers round-trip bit for bit) are the shared
archive format's (:class:`sklearn_llmrad._archive.DataEncoder` / ``DataDecoder``,
also used by saved priors); this module adds what only model files hold: torch
tensors and dtypes, allow-listed classes, objects and nested estimators.
Nothing is decoded before :func:`check_node` has checked the whole manifest:
every class it names, every archive member it refers to, and that fitted state
holds data only.
"""

from __future__ import annotations

import inspect

import numpy as np

from .._archive import MAX_VALUE_DEPTH, DataDecoder, DataEncoder
from .._archive import iter_values as _iter_values
from ._allowlist import dotted
from ._language_model import check_lm_member
from .values import ModelFileError, UnsafeModelError, is_plain_data

#: Node kinds of objects that state their own file state (``get_file_state`` /
#: ``from_file_state``): the names format 2 has always written for them, and the
#: semantic prior's (format 3).
FILE_STATE_KINDS = ("skorch", "choice", "prior")


class Encoder(DataEncoder):
    """Values to JSON; arrays and tensors to ``tensors`` (torch), referenced by key; classes and objects by name."""

    def __init__(self, save_estimator=None):
        super().__init__()
        # a fitted estimator held by a parameter (a net's prior) is saved as a
        # node of its own, with its fitted state, not rebuilt from its parameters
        self.save_estimator = save_estimator

    def tensor_ref(self, key, value):
        import torch

        if isinstance(value, np.ndarray):
            if value.dtype.kind in "OUS":
                return super().tensor_ref(key, value)
            origin = "numpy"
            value = torch.from_numpy(np.ascontiguousarray(value))
        else:
            origin = "torch"
        self.tensors[key] = value.detach().to("cpu").contiguous().clone()
        return {"$type": "tensor", "key": key, "origin": origin}

    def encode_other(self, value, key):
        import torch
        from sklearn.base import BaseEstimator

        if isinstance(value, torch.Tensor):
            return self.tensor_ref(key, value)
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


class Decoder(DataDecoder):
    """JSON values back to Python, building objects only of exact allow-listed classes.

    ``data_only=True`` (fitted attributes, build states): no class, function or
    object at all, only numbers, strings, arrays and containers of those.
    """

    def __init__(self, allow, tensors, *, where, ctx=None, data_only=False):
        super().__init__(tensors, where=where)
        self.allow = allow
        self.ctx = ctx
        self.data_only = data_only

    def tensor_value(self, tensor, origin):
        if origin != "numpy":
            return tensor
        # numpy has no bfloat16: such an array (only a rewritten file holds one) is widened, as weights are
        return (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()

    def decode_other(self, t, value, depth):
        import torch

        if t == "torch.dtype":
            dtype = getattr(torch, str(value.get("name")), None)
            if not isinstance(dtype, torch.dtype):
                raise UnsafeModelError(f"{self.where}: {value.get('name')!r:.40} is not a torch dtype")
            return dtype
        if self.data_only:
            return super().decode_other(t, value, depth)
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


def _refuse_object(name, who, where):
    raise UnsafeModelError(
        f"{who} asks to build a {name!r:.80} {where}, which is not on the allow-list of objects built "
        "from a file (training callbacks and validation splits); refusing to load"
    )


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
        # parameters stored as nodes of their own (a selector's prior): only objects that state their file state
        held = node.get("estimator_params", {})
        require(type(held) is dict and all(type(k) is str and k.isidentifier() for k in held), "estimator parameters")
        for child in held.values():
            kind = child.get("kind") if type(child) is dict else None
            if kind != "prior":
                raise UnsafeModelError(
                    f"the manifest stores a parameter of {cls!r:.80} as a {kind!r:.40} node; only a prior is "
                    "stored so; refusing to load"
                )
            check_node(child, allow, expected, names, depth + 1)
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
