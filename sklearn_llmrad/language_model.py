"""The language model: its default id, the pinned revision, where it is loaded from, and text embedding.

:class:`~sklearn_llmrad.encoding.BioBERTEncoder` and the semantic prior embed
texts with a Hugging Face model named by a hub id or a local directory. This
module holds what is true of any such model: the default (:data:`BIOBERT_MODEL`)
and its pinned commit, the rules that tell a hub id from a folder, loading from
``model.safetensors`` only (never a pickle, never another model in its place),
and the batched, length-sorted embedding of distinct texts.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from .exceptions import ModelNotFoundError

__all__ = ["BIOBERT_MODEL", "BIOBERT_REVISION", "load_language_model", "resolve_revision"]

#: The published method's language model (hub id).
BIOBERT_MODEL = "dmis-lab/biobert-base-cased-v1.2"
#: Hub commit of :data:`BIOBERT_MODEL` that has ``model.safetensors``: the
#: repository's ``main`` ships only ``pytorch_model.bin`` (a pickle, which this
#: package never loads); this commit is the safetensors conversion (``refs/pr/6``).
BIOBERT_REVISION = "28c8d50abc6680732eca889059ff503505a74cd5"
_PINNED_REVISIONS = {BIOBERT_MODEL: BIOBERT_REVISION}

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_TRUE_ENV = {"1", "true", "yes", "on"}


def resolve_revision(model, revision=None):
    """The hub revision actually loaded: ``revision``, else the pinned one for known models.

    Parameters
    ----------
    model : str or os.PathLike
        Hub id or local directory.
    revision : str or None
        An explicit revision always wins.

    Returns
    -------
    str or None

    Examples
    --------
    >>> resolve_revision("dmis-lab/biobert-base-cased-v1.2")
    '28c8d50abc6680732eca889059ff503505a74cd5'
    >>> resolve_revision("dmis-lab/biobert-base-cased-v1.2", "main")
    'main'
    >>> resolve_revision("some/other-model") is None
    True
    """
    if revision is not None:
        return revision
    return _PINNED_REVISIONS.get(os.fspath(model))


def _looks_like_path(model):
    if isinstance(model, os.PathLike):
        return True
    text = str(model)
    return (
        text.startswith((".", "~", os.sep, "/"))
        or (os.altsep is not None and os.altsep in text)
        or text.count("/") > 1
        or not _HUB_ID_RE.match(text)
    )


def download_hint(model):
    """How to make ``model`` (or, for a folder, BioBERT) available without network access."""
    hub = model if not _looks_like_path(model) else BIOBERT_MODEL
    return (
        "To use a model without network access, download it once on a machine that has it, e.g. "
        f"`huggingface-cli download {hub} --local-dir DIR`, copy DIR over and pass language_model=DIR. "
        "Weights are loaded from model.safetensors only; if DIR has only pytorch_model.bin from a "
        "source you trust, convert it once with `AutoModel.from_pretrained(DIR, use_safetensors=False)"
        ".save_pretrained(DIR)`. No other model is substituted."
    )


def model_source(model):
    """``(source, is_local)``: the resolved local directory, or the hub id.

    Raises :class:`~sklearn_llmrad.exceptions.ModelNotFoundError` for a path that is no directory.
    """
    path = Path(os.path.expanduser(os.fspath(model)))
    if path.is_dir():
        return str(path.resolve()), True
    if _looks_like_path(model):
        raise ModelNotFoundError(
            f"language model directory {os.fspath(model)!r} does not exist. " + download_hint(model)
        )
    return str(model), False


def offline(local_files_only, is_local):
    """Whether to load from local files only: ``"auto"`` means a local directory or ``HF_HUB_OFFLINE``."""
    if local_files_only != "auto":
        return bool(local_files_only)
    return is_local or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE_ENV


def resolve_device(device):
    """``"auto"`` (CUDA when available), a device string or a torch.device -> torch.device."""
    import torch

    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', a torch device string or torch.device, got {device!r}") from exc


def load_language_model(model=BIOBERT_MODEL, *, revision=None, device="auto", local_files_only="auto"):
    """Load a tokenizer and model from ``model.safetensors``, in evaluation mode.

    Parameters
    ----------
    model : str or os.PathLike, default="dmis-lab/biobert-base-cased-v1.2"
        Hugging Face hub id or local directory (``config.json``, tokenizer
        files and ``model.safetensors``).
    revision : str, default=None
        Hub revision; None loads :func:`resolve_revision`'s pinned commit for
        the default BioBERT, ``main`` for other hub models.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    local_files_only : "auto" or bool, default="auto"
        ``"auto"``: True for a local directory or when ``HF_HUB_OFFLINE`` is set.

    Returns
    -------
    tokenizer : transformers.PreTrainedTokenizerBase
    model : transformers.PreTrainedModel
        On ``device``, in evaluation mode.
    device : torch.device

    Raises
    ------
    ModelNotFoundError
        The model cannot be found or loaded (offline, not in the local cache,
        no safetensors weights); no other model is substituted.

    Examples
    --------
    >>> tokenizer, model, device = load_language_model("path/to/biobert")  # doctest: +SKIP
    >>> model.config.hidden_size  # doctest: +SKIP
    768
    """
    import transformers

    source, is_local = model_source(model)
    device = resolve_device(device)
    local_only = offline(local_files_only, is_local)
    kwargs = {"revision": resolve_revision(model, revision), "local_files_only": local_only, "trust_remote_code": False}
    hf_logging = transformers.utils.logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per fit clutters CV logs
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        network = transformers.AutoModel.from_pretrained(source, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as exc:
        where = f"local directory {source!r}" if is_local else f"hub model {source!r}"
        offline_note = " (offline: local_files_only=True)" if local_only else ""
        reason = " ".join(str(exc).split()).rstrip(".")
        raise ModelNotFoundError(
            f"could not load the language model from {where}{offline_note}: {reason}. " + download_hint(model)
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    network.eval()
    network.to(device)
    return tokenizer, network, device


def embed(tokenizer, model, device, texts, *, batch_size, max_length, pooling, seed=None):
    """Embed ``texts`` in length-sorted batches; ``(len(texts), D)`` float32.

    ``pooling`` is ``"mean"`` (over the tokens) or ``"cls"``; ``seed`` seeds
    torch's CPU generator inside a forked RNG state (for stochastic layers).
    """
    import torch

    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    too_long = [t for t, n in zip(texts, lengths, strict=True) if n > max_length]
    if too_long:
        # counts only: a text may be a patient's clinical history, which must not reach logs
        warnings.warn(
            f"{len(too_long)} text(s) exceed max_length={max_length} tokens and are truncated "
            f"(longest: {max(lengths)} tokens); long texts usually come from the 'history' column",
            UserWarning,
            stacklevel=4,
        )
    # Sorting by length keeps padding (wasted compute) small in each batch.
    order = np.argsort(lengths, kind="stable")
    out = None
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        if seed is not None:
            torch.manual_seed(seed)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            batch = {name: tensor.to(device) for name, tensor in batch.items()}
            hidden = model(**batch).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            pooled = pooled.float().cpu().numpy()
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
    return out
