"""The model file's zip archive: writing it, and reading it within bounds.

Bounds on what is read are checked on the sizes the zip directory declares,
before a member is read, and again on the bytes actually decompressed. Model
weights are stored uncompressed, so a member that would inflate far beyond its
stored size is a decompression bomb. Tensors are read only as safetensors.
"""

from __future__ import annotations

import json
import os
import zipfile

from .._files import atomic_open
from .values import ModelFileError, UnsafeModelError

FORMAT = "sklearn-llmrad-model"
FORMAT_VERSION = 2
# Format 1 (sklearn-llmrad before the shared skorch base) kept the fusion
# network's build state as a fitted attribute; it is still read. Anything
# older or newer is refused with what to do.
READABLE_VERSIONS = (1, 2)

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_MEMBER_BYTES = 4 * 2**30
_MAX_TOTAL_BYTES = 8 * 2**30
_MAX_RATIO = 100  # uncompressed/compressed, for members above _RATIO_FLOOR
_RATIO_FLOOR = 16 * 2**20


def write_archive(path, manifest, members):
    """Write ``manifest.json`` and the members to ``path``, atomically (never a half-written file)."""
    with atomic_open(path) as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
        for name, data in members.items():
            # float weights barely compress; storing them saves seconds per save
            method = zipfile.ZIP_STORED if name.endswith(".safetensors") else zipfile.ZIP_DEFLATED
            zf.writestr(name, data, compress_type=method)
    return path


def _unsafe_member_name(name):
    """Why a member name could escape the archive's folder, or None."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return "an absolute or non-POSIX path"
    if len(name) > 1 and name[1] == ":":
        return "a drive letter"
    if ".." in name.split("/"):
        return "a '..' component"
    return None


def check_archive_infos(infos, what, *, manifest_limit=None):
    """Refuse traversal names and members that would decompress beyond the bounds."""
    total = 0
    seen = set()
    for info in infos:
        if info.filename in seen:
            # zipfile reads the last of two same-named members; another tool the first
            raise UnsafeModelError(f"{what} holds two members named {info.filename!r}; refusing an ambiguous archive")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{what}: member {info.filename!r} is encrypted; model files never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                f"{what}: member {info.filename!r} uses compression method {info.compress_type}; "
                "model files are stored or deflated"
            )
        reason = _unsafe_member_name(info.filename)
        if reason is not None:
            raise UnsafeModelError(f"{what} holds a member named {info.filename!r} ({reason}); refusing to load")
        limit = manifest_limit if manifest_limit is not None and info.filename == MANIFEST else MAX_MEMBER_BYTES
        size = info.file_size
        if size > limit:
            raise UnsafeModelError(
                f"{what}: member {info.filename!r} would decompress to {size} bytes, more than "
                f"the limit of {limit}; refusing to read it"
            )
        if size > _RATIO_FLOOR and size > _MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeModelError(
                f"{what}: member {info.filename!r} would inflate {size // max(info.compress_size, 1)}x "
                f"(to {size} bytes); refusing a decompression bomb"
            )
        total += size
    if total > _MAX_TOTAL_BYTES:
        raise UnsafeModelError(
            f"{what} would decompress to {total} bytes in all, more than the limit of "
            f"{_MAX_TOTAL_BYTES}; refusing to read it"
        )


def read_member(zf, name, limit=MAX_MEMBER_BYTES):
    """Read one member, never more than ``limit`` bytes whatever its header says."""
    try:
        with zf.open(name) as fh:
            data = fh.read(limit + 1)
    except KeyError as exc:
        raise ModelFileError(f"{name} is missing from the model file") from exc
    if len(data) > limit:
        raise UnsafeModelError(f"{name} decompresses to more than {limit} bytes; refusing to read it")
    return data


def open_archive(path):
    """The archive and its manifest, after checking every member's name and size."""
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(f"{os.fspath(path)!s} is not a sklearn-llmrad model file (not a zip archive)") from exc
    try:
        check_archive_infos(zf.infolist(), os.fspath(path), manifest_limit=MAX_MANIFEST_BYTES)
        if MANIFEST not in zf.namelist():
            raise ModelFileError(f"{os.fspath(path)!s} has no {MANIFEST}; not a sklearn-llmrad model file")
        return zf, _read_manifest(zf, path)
    except BaseException:
        zf.close()
        raise


def _read_manifest(zf, path):
    try:
        manifest = json.loads(read_member(zf, MANIFEST, MAX_MANIFEST_BYTES).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError, RecursionError) as exc:
        raise ModelFileError(f"{os.fspath(path)!s}: {MANIFEST} is corrupt ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
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
    return manifest


def read_tensors(zf, name):
    """The tensors of one safetensors member; a pickle or ``torch.save`` file is refused unread."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    try:
        data = read_member(zf, name)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ModelFileError(f"{name} is corrupt ({exc})") from exc
    # safetensors: an 8-byte little-endian header length, then a JSON header.
    # Anything else is refused before parsing; a pickle stream (PROTO opcode
    # 0x80) or a torch.save zip (a pickle inside) is named as such.
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not (0 < n <= len(data) - 8 and data[8:9] == b"{"):
        if data[:1] == b"\x80" or data[:2] == b"PK" or b"pickle" in data[:64]:
            raise UnsafeModelError(f"{name} holds pickle data, not safetensors; refusing to load it")
        raise ModelFileError(f"{name} is not a valid safetensors file")
    try:
        return st_load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"{name} is not a valid safetensors file ({exc})") from exc
