"""A text encoder's language model in a model file: by reference, or bundled.

An estimator names the parameters that hold a language model in its public
``model_id_parameters``. By default a file records the model's id, revision and
a hash of its config; with ``save(..., include_language_model=True)`` it also
holds the model's safetensors weights, config and tokenizer files, which load
extracts only after checking that they can neither run code nor ask for more
weights than they hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

from ._archive import MAX_MEMBER_BYTES
from .values import ModelFileError, UnsafeModelError

# Files of a language-model directory that may be stored and extracted. Weights
# only as safetensors; no python files (custom model code) and no pickles.
LM_FILE_SUFFIXES = (".safetensors", ".json", ".txt", ".model")

# Keys of a stored language model's config that make transformers import custom
# code, fetch attention kernels or quantisation back ends.
_LM_CODE_KEYS = frozenset({"auto_map", "attn_implementation", "_attn_implementation", "quantization_config"})


def language_model_param(est):
    """The parameter of ``est`` that names its language model (``model_id_parameters``), or None."""
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    names = [n for n in getattr(type(est), "model_id_parameters", ()) if isinstance(params.get(n), (str, os.PathLike))]
    return names[0] if names else None


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


def describe_language_model(est, param, *, include, members, folder):
    """The manifest's record of ``est``'s language model; its files go to ``members`` under ``folder``."""
    params = est.get_params(deep=False)
    ref = params[param]
    info = {**_model_fingerprint(ref, params.get("revision")), "param": param}
    if include:
        directory = _resolve_model_dir(ref, params.get("revision"))
        if directory is None:
            raise ValueError(f"cannot find the language model {str(ref)!r} locally to include it")
        files = [
            p
            for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name.endswith(LM_FILE_SUFFIXES) and not p.name.startswith(".")
        ]
        if not any(p.suffix == ".safetensors" for p in files):
            raise ValueError(
                f"include_language_model=True needs safetensors weights, and {directory} has none; "
                "re-save the model with save_pretrained(..., safe_serialization=True)"
            )
        info["included_files"] = [p.relative_to(directory).as_posix() for p in files]
        for p, rel in zip(files, info["included_files"]):
            members[f"{folder}/{rel}"] = p.read_bytes()
    return info


def check_lm_member(rel):
    """A stored language-model file: a relative name inside its folder, of an allowed kind."""
    if (
        not isinstance(rel, str)
        or rel.startswith("/")
        or ".." in rel.split("/")
        or "\\" in rel
        or not rel.endswith(LM_FILE_SUFFIXES)
    ):
        raise UnsafeModelError(f"refusing language-model file {rel!r} (only safetensors/json/txt files)")


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


def _extract(zf, base, included, target):
    """Copy the stored language-model files to ``target``, each bounded in size, and check their configs."""
    for rel in included:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(base + rel) as src, open(dest, "wb") as out:
            written = 0
            while chunk := src.read(2**20):
                written += len(chunk)
                if written > MAX_MEMBER_BYTES:
                    raise UnsafeModelError(
                        f"{base + rel} decompresses to more than {MAX_MEMBER_BYTES} bytes; refusing to extract it"
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
                raise UnsafeModelError(f"stored language model {cfg} sets {code}, which load code or kernels; refusing")
    _check_language_model_size(target)


def restore_language_model(est, node, lm, ctx):
    """Point ``est`` at its language model: extracted from the file, the caller's, or the recorded id."""
    param = lm.get("param")
    if param is None or param != language_model_param(est):
        raise ModelFileError(f"unknown language-model parameter {param!r:.40} of {type(est).__name__}")
    included = lm.get("included_files")
    if included:
        target = ctx["lm_dir"]
        target = Path(target) if target is not None else Path(tempfile.mkdtemp(prefix="llmrad-lm-"))
        _extract(ctx["zf"], f"{node['file'].rsplit('.', 1)[0]}/language_model/", included, target)
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
