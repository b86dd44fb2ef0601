"""The model file's archive: the format tag and versions on the shared archive format.

The container itself (members' names and sizes checked before reading, decompression
bombs refused, tensors read only as safetensors, strict-JSON manifest) is
:mod:`sklearn_llmrad._archive`, shared with saved semantic priors; this module adds
what makes an archive a *model* file.
"""

from __future__ import annotations

import os

from .._archive import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    MAX_MEMBER_BYTES,
    check_archive_infos,
    read_member,
    read_tensors,
    write_archive,
)
from .._archive import open_archive as open_any_archive
from .values import ModelFileError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LAST_SKOPS_PRIOR_VERSION",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "MAX_MEMBER_BYTES",
    "READABLE_VERSIONS",
    "check_archive_infos",
    "open_archive",
    "read_member",
    "read_tensors",
    "write_archive",
]

FORMAT = "sklearn-llmrad-model"
FORMAT_VERSION = 3
# Format 1 (sklearn-llmrad before the shared skorch base) kept the fusion
# network's build state as a fitted attribute; format 2 let skops store a
# semantic prior inside the estimators that hold one (format 3: a node of its
# own, through the prior's file state). Both are still read. Anything older or
# newer is refused with what to do.
READABLE_VERSIONS = (1, 2, 3)
#: The last format in which a skops payload may hold a semantic prior.
LAST_SKOPS_PRIOR_VERSION = 2


def open_archive(path):
    """The archive and its manifest, after checking every member's name and size and the format."""
    zf, manifest = open_any_archive(path)
    try:
        _check_manifest(manifest, path)
    except BaseException:
        zf.close()
        raise
    return zf, manifest


def _check_manifest(manifest, path):
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{os.fspath(path)!s} is not a sklearn-llmrad model file")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
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
            f"reads versions {', '.join(map(str, READABLE_VERSIONS))}: {advice}"
        )
    if not isinstance(manifest.get("estimator"), dict):
        raise ModelFileError(f"{os.fspath(path)!s}: manifest has no estimator")
