"""Scikit-learn-style estimators stored as :mod:`skops.io` payloads.

Selectors, scalers, SVCs and the package's transformers are written with
skops, without the settings that belong to the machine that fitted them
(cache folders, pipeline memory, compile options) and without a loaded
language model; tensors they hold go to a safetensors member. On load, every
type a payload names is checked against the allow-list before skops builds
anything, only classes whose state is plain attributes are built that way, and
the built estimator's values are checked like any other. Fitted trees are
checked before use: scikit-learn's tree arrays, and LightGBM's model text
before LightGBM reads it (:mod:`._trees`).

A parameter holding an object that states its own file state (a selector's
semantic prior) is not in the payload: it is a node of its own
(``estimator_params``), stored and checked through :mod:`._file_state`, so that
skops never builds a prior. Files of format 2 and older, whose payloads hold the
prior, are still read; such a prior is rebuilt through its file state, with the
same checks, before anything uses it.
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import zipfile

from ._allowlist import built_from_state, dotted
from ._archive import LAST_SKOPS_PRIOR_VERSION, MAX_MANIFEST_BYTES, check_archive_infos, read_member, read_tensors
from ._file_state import check_attribute_name, file_state_kind
from ._language_model import describe_language_model, language_model_param, restore_language_model
from ._trees import check_sklearn_trees, count_sklearn_trees, is_lightgbm
from ._trees import for_file as lightgbm_for_file
from ._trees import restore as restore_lightgbm
from .values import ModelFileError, UnsafeModelError, constructor_default, never_from_file


def _heavy_attrs(est):
    """Attributes that hold a loaded language model or tokenizer (never stored by skops)."""
    import torch

    try:
        from transformers import PreTrainedTokenizerBase
    except ImportError:  # pragma: no cover
        PreTrainedTokenizerBase = ()  # noqa: N806 - nothing is a tokenizer then
    return [name for name, value in vars(est).items() if isinstance(value, (torch.nn.Module, PreTrainedTokenizerBase))]


def _without_local_settings(est, depth=0):
    """``est``, or a shallow copy with its never-from-file parameters at their defaults.

    Cache folders, pipeline memory and compile options belong to the machine that
    fitted the model; a file never holds them (and a loader would reset them).
    Estimators held by parameters (a selector's prior) are treated the same way.
    """
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


def save_skops(est, writer):
    """The manifest node of a skops-stored estimator; its payload and tensors go to ``writer``."""
    import skops.io as sio
    import torch
    from safetensors.torch import save as st_save

    index = writer.new_index()
    node = {"kind": "skops", "class": dotted(type(est))}
    # in-memory caches derived from training data (the encoder's embedding memory can
    # reveal short clinical sentences through their hashes) are named by the class
    transient = getattr(type(est), "transient_attributes", ())
    dropped = _heavy_attrs(est) + [k for k in transient if k in vars(est)]
    tensor_attrs = [k for k, v in vars(est).items() if isinstance(v, torch.Tensor)]
    obj = _without_local_settings(est)
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    held = {k: v for k, v in params.items() if file_state_kind(v) == "prior" and k in vars(est)}
    if held:  # each a node of its own, through its file state; None in the payload
        obj = copy.copy(obj)
        obj.__dict__.update(dict.fromkeys(held))
        node["estimator_params"] = {k: writer.node(v) for k, v in held.items()}
    if is_lightgbm(est):  # its Booster as LightGBM's model text, checked on load
        obj = lightgbm_for_file(obj)
    if dropped or tensor_attrs:
        # a shallow copy, so the caller's estimator keeps its loaded model
        obj = copy.copy(obj)
        for k in dropped + tensor_attrs:
            obj.__dict__.pop(k, None)
    if tensor_attrs:
        tensors = {f"attr.{k}": getattr(est, k).detach().to("cpu").contiguous().clone() for k in tensor_attrs}
        writer.members[f"steps/{index}.safetensors"] = st_save(tensors)
        node["tensors"] = f"steps/{index}.safetensors"
        node["tensor_attributes"] = tensor_attrs
    node["dropped_attributes"] = dropped
    try:
        writer.members[f"steps/{index}.skops"] = sio.dumps(obj)
    except Exception as exc:  # skops raises several types for unsupported objects
        raise TypeError(f"cannot save {type(est).__name__} without pickle: {exc}") from exc
    if _PRIOR in sio.get_untrusted_types(data=writer.members[f"steps/{index}.skops"]):
        # deeper than a parameter (inside a container's fitted estimators): load would refuse it
        raise TypeError(
            f"cannot save {type(est).__name__}: it holds a SemanticPrior deeper than one of its parameters, "
            "and a model file stores a prior only as a parameter of a step (a node of its own)"
        )
    node["file"] = f"steps/{index}.skops"
    lm_param = language_model_param(est)
    if lm_param is not None:
        node["language_model"] = describe_language_model(
            est,
            lm_param,
            include=writer.include_language_model,
            members=writer.members,
            folder=f"steps/{index}/language_model",
        )
    return node


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


def _checked_payload(node, allow, zf, version):
    """The payload's bytes and the types skops reports as untrusted, once every type is on the allow-list."""
    import skops.io as sio

    try:
        data = read_member(zf, node["file"])
        inner = zipfile.ZipFile(io.BytesIO(data))
        # the payload is a zip of its own: the same bounds before skops reads it
        check_archive_infos(inner.infolist(), node["file"])
        schema = json.loads(read_member(inner, "schema.json", MAX_MANIFEST_BYTES))
        untrusted = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, RecursionError) as exc:
        if isinstance(exc, UnsafeModelError):
            raise
        raise ModelFileError(f"{node['file']} is not a valid skops payload ({exc})") from exc
    for name in inner.namelist():
        payload = read_member(inner, name)
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
    refused += sorted(t for t in types | set(untrusted) if not built_from_state(t, allow))
    if refused:
        raise UnsafeModelError(f"{node['file']} asks to load types that are not trusted: {refused}; refusing to load")
    if version > LAST_SKOPS_PRIOR_VERSION and _PRIOR in types | set(untrusted):
        raise UnsafeModelError(
            f"{node['file']} holds a {_PRIOR}, which a model file of format {version} stores through the "
            "prior's file state, never in a skops payload; refusing to load"
        )
    if node["class"] not in {f"{schema.get('__module__')}.{schema.get('__class__')}"}:
        raise UnsafeModelError(f"{node['file']} does not hold the {node['class']!r} the manifest names")
    return data, sorted(untrusted), count_sklearn_trees(schema)


_PRIOR = "sklearn_llmrad.prior.SemanticPrior"


def _legacy_priors(est, ctx, where):
    """``est`` with each prior skops built (format 2 and older) rebuilt through its file state and checked."""
    from ..prior import SemanticPrior

    def rebuilt(prior):
        try:
            state = prior.get_file_state()
            params = ctx["allow"].check(SemanticPrior, state["params"], where=where)
            return SemanticPrior.from_file_state({"params": params, "attributes": state["attributes"]})
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            if isinstance(exc, UnsafeModelError):
                raise
            raise ModelFileError(f"{where}: the semantic prior it holds is invalid: {exc!r:.200}") from exc

    if type(est) is SemanticPrior:
        return rebuilt(est)
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    for name, value in params.items():
        if type(value) is SemanticPrior and name in vars(est):
            est.__dict__[name] = rebuilt(value)
    return est


def load_skops(node, ctx):
    """The estimator a skops node holds, checked before anything uses it."""
    import skops.io as sio

    data, untrusted, n_trees = _checked_payload(node, ctx["allow"], ctx["zf"], ctx["version"])
    try:
        est = sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise ModelFileError(f"cannot load {node['file']}: {exc}") from exc
    lm = node.get("language_model")
    # a parameter the class renamed since the file was written takes its new name
    # (its value is checked below under that name, like any other)
    renamed = getattr(type(est), "renamed_parameters", {})
    for old, new in renamed.items():
        if old in vars(est) and new not in vars(est):
            est.__dict__[new] = est.__dict__.pop(old)
    if isinstance(lm, dict) and lm.get("param") in renamed:
        lm = {**lm, "param": renamed[lm["param"]]}
    # skops built it without calling its constructor; its values are checked now,
    # before anything uses them (paths and compile options go back to defaults)
    lm_param = lm.get("param") if isinstance(lm, dict) else None
    if lm_param is not None and lm_param == language_model_param(est) and lm.get("included_files"):
        # the model stored in the file replaces the reference
        est.__dict__[lm_param] = constructor_default(type(est), lm_param)
    where = f"{ctx['path']} ({node['file']}, {type(est).__name__})"
    # a prior stored as its own node fills one of the estimator's own constructor parameters, left empty
    held = node.get("estimator_params", {})
    own = est.get_params(deep=False) if held and hasattr(est, "get_params") else {}
    signature = inspect.signature(type(est).__init__).parameters if held else {}
    for name, child in held.items():
        named = name in signature and signature[name].kind in (
            signature[name].KEYWORD_ONLY,
            signature[name].POSITIONAL_OR_KEYWORD,
        )
        if name not in own or not named or vars(est).get(name) is not None:
            raise UnsafeModelError(f"{where}: the manifest stores {name!r:.40}, which is not an empty parameter")
        est.__dict__[name] = ctx["load_node"](child, ctx)
    if ctx["version"] <= LAST_SKOPS_PRIOR_VERSION:
        est = _legacy_priors(est, ctx, where)
    ctx["allow"].check_built(est, where=where)
    check_sklearn_trees(est, where=where, expected=n_trees)  # each of them, before anything predicts with them
    if is_lightgbm(est):
        restore_lightgbm(est, where=where)
    if node.get("tensors"):
        tensors = read_tensors(ctx["zf"], node["tensors"])
        for k in node.get("tensor_attributes", []):
            check_attribute_name(type(est), k)
            if f"attr.{k}" not in tensors:
                raise ModelFileError(f"{node['file']}: tensor attribute {k!r:.40} is missing from the file")
            setattr(est, k, tensors[f"attr.{k}"])
    if lm:
        restore_language_model(est, node, lm, ctx)
    elif ctx["language_model"] is not None and language_model_param(est) is not None:
        est.set_params(**{language_model_param(est): ctx["language_model"]})
    if ctx["device"] is not None and "device" in getattr(est, "get_params", dict)():
        est.set_params(device=ctx["device"])
    return est
