"""Objects that state their own file state: the package's skorch nets, the inner-CV choice and the semantic prior.

A fitted object that needs more than its parameters (a network's weights, the
candidates a choice refitted) says what a model file holds of it through public
hooks; this module asks for them and never reads a private attribute:

``get_file_state()``
    a dict: ``params`` (constructor parameters), ``attributes`` (fitted
    attributes: numbers, strings, arrays) and, as the object needs them,
    ``build_state`` (data it rebuilds its network from), ``history`` (plain
    data) and ``estimators`` (fitted estimators by name, each stored as a node
    of its own).
``file_modules()`` (optional)
    the torch modules whose weights the file stores, by name.
``from_file_state(state)`` (class method)
    the object rebuilt from such a dict, the modules of ``file_modules`` built
    but still holding their initial weights.
``is_file_attribute(name)`` (class method)
    whether a file may restore the fitted attribute ``name``.

Everything is checked before the class is asked: its name is on the allow-list
and of the kind its node says, its parameters pass its schema, its fitted state
holds data only, under names that never shadow a method, and a network is
first rebuilt on PyTorch's ``meta`` device (no memory) so that its shapes can
be compared with the weights the file holds.
"""

from __future__ import annotations

import inspect
import json
import re
import warnings

from ._allowlist import dotted
from ._archive import read_tensors
from ._language_model import language_model_param
from ._manifest import FILE_STATE_KINDS, Decoder, Encoder
from .values import ModelFileError, UnsafeModelError, constructor_default, never_from_file

_ATTRIBUTE_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*_")


def _kind_base(kind):
    """The class a node of ``kind`` must name, and how messages call it."""
    if kind == "skorch":
        from skorch import NeuralNet

        return NeuralNet, "a skorch net"
    if kind == "prior":
        from ..prior import SemanticPrior

        return SemanticPrior, "a SemanticPrior"
    from ..models.choice import InnerCVChoiceClassifier

    return InnerCVChoiceClassifier, "an InnerCVChoiceClassifier"


def file_state_kind(est):
    """The node kind ``save`` writes for ``est``, or None when it does not state its file state."""
    for kind in FILE_STATE_KINDS:
        if isinstance(est, _kind_base(kind)[0]) and hasattr(est, "get_file_state"):
            return kind
    return None


def check_attribute_name(cls, name):
    """A fitted attribute may be restored, never a method, property or dunder of the class."""
    if (
        not isinstance(name, str)
        or not _ATTRIBUTE_NAME.fullmatch(name)
        or name.endswith("__")
        or not getattr(cls, "is_file_attribute", lambda name: True)(name)
        or any(name in vars(base) for base in cls.__mro__)
    ):
        raise UnsafeModelError(
            f"the model file sets {name!r} on {cls.__name__}, which is not a fitted attribute; refusing to load"
        )


def _stored_params(cls, params):
    """Parameters without what a file never holds (compile options, paths on this disk)."""
    out = {}
    for k, v in params.items():
        if k.startswith("_"):
            continue
        if never_from_file(k):
            v = constructor_default(cls, k)
            if v is inspect.Parameter.empty:
                continue  # a routed option (compile__*, module__weights_file): not stored
        out[k] = v
    return out


def _plain_json(value):
    """``value`` as the manifest stores plain data (non-finite numbers become null), or None."""
    try:
        return json.loads(json.dumps(value, allow_nan=True).replace("NaN", "null"))
    except (TypeError, ValueError):
        return None


def save_file_state(est, kind, writer):
    """The manifest node of ``est``; its tensors, and its nested estimators' files, go to ``writer``."""
    from safetensors.torch import save as st_save

    index = writer.new_index()
    state = est.get_file_state()
    enc = Encoder(save_estimator=writer.node)
    node = {"kind": kind, "class": dotted(type(est))}
    node["params"] = {k: enc.encode(v, f"params.{k}") for k, v in _stored_params(type(est), state["params"]).items()}
    enc.save_estimator = None  # fitted state holds no estimators
    node["attributes"] = {k: enc.encode(v, f"attr.{k}") for k, v in state.get("attributes", {}).items()}
    if hasattr(est, "file_modules"):
        node["state_dicts"] = {}
        for name, module in est.file_modules().items():
            weights = module.state_dict()
            if weights:
                node["state_dicts"][name] = sorted(weights)
                for k, v in weights.items():
                    enc.tensors[f"state.{name}.{k}"] = v.detach().to("cpu").contiguous().clone()
    if "build_state" in state:
        node["build_state"] = None if state["build_state"] is None else enc.encode(state["build_state"], "build")
    node["tensors"] = f"steps/{index}.safetensors"
    writer.members[node["tensors"]] = st_save(enc.tensors)
    if "history" in state:
        node["history"] = _plain_json(state["history"])
    if "estimators" in state:
        node["candidates"] = [{"name": str(n), "node": writer.node(e)} for n, e in state["estimators"].items()]
    return node


def load_file_state(node, ctx):
    """Rebuild the object a file-state node describes (see the module's docstring for the checks)."""
    base, what = _kind_base(node["kind"])
    cls = ctx["allow"].resolve(node["class"], what=what)
    if not issubclass(cls, base) or not hasattr(cls, "from_file_state"):
        raise UnsafeModelError(f"{node['class']!r} is not {what}")
    where = f"{ctx['path']} ({cls.__name__})"
    tensors = read_tensors(ctx["zf"], node["tensors"])
    dec = Decoder(ctx["allow"], tensors, where=where, ctx=ctx)
    # every value checked against the class's schema before anything is built:
    # compile options, torch.load options and paths go back to their defaults
    params = ctx["allow"].check(cls, {k: dec.decode(v) for k, v in node["params"].items()}, where=where)
    if "device" in params:
        params["device"] = _device(params["device"], ctx, cls)
    state = {"params": params, **_data_state(node, tensors, cls, where, ctx)}
    if "candidates" in node:
        state["estimators"] = {c["name"]: ctx["load_node"](c["node"], ctx) for c in node["candidates"]}
    if node["kind"] == "prior":
        return _prior(cls, state, where, ctx)
    if node["kind"] != "skorch" and not hasattr(cls, "file_modules"):
        return cls.from_file_state(state)  # no network of its own: nothing to probe
    return _with_weights(cls, state, node, tensors, where)


def _prior(cls, state, where, ctx):
    """A semantic prior, its fields and tensors checked as a saved prior's are; the caller's language model."""
    try:
        prior = cls.from_file_state(state)
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from exc
    param = language_model_param(prior)
    if ctx["language_model"] is not None and param is not None:
        prior.set_params(**{param: ctx["language_model"]})
    return prior


def _device(device, ctx, cls):
    """The caller's device, else the recorded one (the CPU, with a warning, for CUDA on a machine without)."""
    import torch

    if ctx["device"] is not None:
        return ctx["device"]
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{cls.__name__} was saved on {device!r}, which is not available; loading on CPU", UserWarning, stacklevel=5
        )
        return "cpu"
    return device


def _data_state(node, tensors, cls, where, ctx):
    """A node's fitted attributes, build state and history: data only, never objects."""
    dec = Decoder(ctx["allow"], tensors, where=where, data_only=True)
    attributes = node.get("attributes", {})
    for k in attributes:
        check_attribute_name(cls, k)
    state = {"attributes": {k: dec.decode(v) for k, v in attributes.items()}}
    build_state = node.get("build_state")
    state["build_state"] = dec.decode(build_state) if build_state is not None else None
    if ctx["version"] == 1 and "_module_context_" in state["attributes"]:
        state["build_state"] = _format_1_build_state(state["attributes"].pop("_module_context_"), tensors)
    if node.get("history") is not None:
        state["history"] = node["history"]
    return state


def _format_1_build_state(context, tensors):
    """Format 1 kept the fusion network's build state as a fitted attribute, its embeddings by reference."""
    if not isinstance(context, dict):
        raise ModelFileError("malformed build state in a format-1 model file")
    ref = context.get("feature_embeddings")
    if isinstance(ref, dict):
        key = ref.get("$state")
        if key not in tensors:
            raise ModelFileError(f"tensor {key!r} is missing from the model file")
        context["feature_embeddings"] = tensors[key]
    return context


def _with_weights(cls, state, node, tensors, where):
    """Build the object on the meta device, compare its shapes with the file's weights, then build and load it."""
    import torch

    index = node.get("state_dicts", {})
    for name, keys in index.items():
        missing = [k for k in keys if f"state.{name}.{k}" not in tensors]
        if missing:
            raise ModelFileError(f"{where}: weights {missing[:3]} of {name}_ are missing from the file")
    # a dry run on PyTorch's meta device allocates nothing: the network the file
    # describes must have exactly the shapes of the weights the file holds
    with torch.device("meta"):
        probe = cls.from_file_state({**state, "params": {**state["params"], "device": "meta"}})
    _check_shapes(probe.file_modules(), index, tensors, where)
    del probe
    est = cls.from_file_state(state)
    modules = est.file_modules()
    for name, keys in index.items():
        try:
            modules[name].load_state_dict({k: tensors[f"state.{name}.{k}"] for k in keys})
        except RuntimeError as exc:
            raise ModelFileError(f"{where}: weights of {cls.__name__}.{name}_ do not fit its module: {exc}") from exc
    return est


def _check_shapes(modules, index, tensors, where):
    """The modules built from the file's parameters hold exactly the file's weights."""
    for name in index:
        if name not in modules:
            raise ModelFileError(f"{where}: no {name} to receive the weights the file holds")
    for name, module in modules.items():
        built = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        stored = {k: tuple(tensors[f"state.{name}.{k}"].shape) for k in index.get(name, [])}
        if built != stored:
            extra = sorted(set(built) - set(stored))[:3]
            missing = sorted(set(stored) - set(built))[:3]
            wrong = sorted(k for k in set(built) & set(stored) if built[k] != stored[k])[:3]
            raise ModelFileError(
                f"{where}: the network its parameters describe does not match the weights it holds "
                f"(not stored: {extra}, not in the network: {missing}, other shapes: "
                f"{[(k, built[k], stored[k]) for k in wrong]}); refusing to build it"
            )
