"""Test helpers for saved priors: read, craft and rewrite ``prior.llmrad`` archives; write legacy folders.

Not a test module: imported by tests/test_prior*.py and tests/test_identity_prior.py.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from safetensors.numpy import save_file

ARCHIVE = "prior.llmrad"


def read_archive(directory):
    """(manifest, tensors) of ``directory/prior.llmrad``, read without any check."""
    with zipfile.ZipFile(directory / ARCHIVE) as zf:
        return json.loads(zf.read("manifest.json")), load_tensors(zf.read("prior.safetensors"))


def write_archive(directory, manifest, tensors=None, *, manifest_text=None, tensor_bytes=None, extra=None):
    """Write a (possibly crafted) ``prior.llmrad`` by hand: any manifest, tensors, bytes or extra members."""
    with zipfile.ZipFile(directory / ARCHIVE, "w") as zf:
        zf.writestr("manifest.json", manifest_text if manifest_text is not None else json.dumps(manifest))
        zf.writestr("prior.safetensors", tensor_bytes if tensor_bytes is not None else save_tensors(tensors))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return directory


def rewrite_archive(directory, edit_manifest=None, edit_tensors=None):
    """Edit a saved prior's manifest and/or tensors in place (the edit functions change their argument)."""
    manifest, tensors = read_archive(directory)
    tensors = {k: np.array(v) for k, v in tensors.items()}
    if edit_manifest is not None:
        edit_manifest(manifest)
    if edit_tensors is not None:
        edit_tensors(tensors)
    return write_archive(directory, manifest, tensors)


def save_legacy(prior, directory):
    """``prior`` saved as a folder of the layout written before priors were archives.

    ``prior.json`` (format ``sklearn_llmrad.semantic-prior.v1``, a NaN CV score as
    null) and ``prior.safetensors`` (coef and name vectors float32, intercept float64),
    the way the folder-format code wrote them (see tests/data/make_legacy_priors.py
    for folders written by that code itself).
    """
    prior.save(directory)
    manifest, tensors = read_archive(directory)
    (directory / ARCHIVE).unlink()
    meta = {"format": "sklearn_llmrad.semantic-prior.v1"}
    for key, value in manifest.items():
        if key in ("format", "format_version") or key in tensors:
            continue
        meta[key] = value
    if prior.cv_spearman_ is not None:
        meta["cv_spearman"] = {str(k): (v if np.isfinite(v) else None) for k, v in prior.cv_spearman_.items()}
    save_file({k: np.array(v) for k, v in tensors.items()}, str(directory / "prior.safetensors"))
    (directory / "prior.json").write_text(json.dumps(meta, indent=1, allow_nan=False))
    return directory
