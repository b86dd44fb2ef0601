"""A content-addressed on-disk cache, safe against kills and corruption.

Stages that are expensive and deterministic (radiomics extraction, language
model embeddings) store one entry per item, keyed by a hash of *everything*
that determines the result: the pixel content, the settings and the library
versions. Keys therefore hold no file names or case ids, so a cache directory
carries no patient-identifying information, and a renamed file still hits.

Entries are written atomically (:func:`~sklearn_llmrad._files.atomic_open`);
the first write of a run sweeps the temporaries of killed writers. Each entry
carries a SHA-256 checksum and its length, so an entry damaged later (disk
full, copied truncated, bit rot) is detected on read, reported with a
:class:`CacheCorruptionWarning`, deleted and recomputed by the caller.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import warnings
from pathlib import Path

import numpy as np

from ._files import atomic_open, remove_stale_temporaries

__all__ = ["DiskCache", "CacheCorruptionWarning"]

_MAGIC = b"LLMRADC1"
_HEADER = struct.Struct("<8s32sQ")  # magic, sha256(payload), len(payload)
# A temporary lives for the milliseconds of one write; one this old was left by a killed writer.
_STALE_AFTER_S = 600.0
_FANOUT = re.compile(r"[0-9a-f]{2}")  # the entry folders: first two digits of the key
# Entries: "<hex key>.bin" (temporaries start with ".llmrad-tmp-" and never match)
_ENTRIES = "*/[0-9a-f]*.bin"


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


class DiskCache:
    """Directory of checksummed, atomically written entries keyed by hash.

    Parameters
    ----------
    directory : str or os.PathLike
        Root of the cache; created on first write.
    namespace : str, default="default"
        Sub-directory, so that different stages sharing one ``directory``
        never see each other's entries.
    """

    def __init__(self, directory, *, namespace="default"):
        self.directory = Path(directory).expanduser()  # "~/.cache/llmrad" as users write it
        self.namespace = str(namespace)

    @property
    def root(self):
        return self.directory / self.namespace

    def path_for(self, key):
        """Path of the entry for ``key`` (two-level fan-out keeps directories small)."""
        key = str(key)
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"cache keys are lowercase hex digests, got {key!r}")
        return self.root / key[:2] / f"{key}.bin"

    def __contains__(self, key):
        return self.path_for(key).is_file()

    def __len__(self):
        if not self.root.is_dir():
            return 0
        return sum(1 for _ in self.root.glob(_ENTRIES))

    def keys(self):
        """Keys of all (not necessarily valid) entries currently on disk."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob(_ENTRIES))

    # -- raw bytes -------------------------------------------------------------
    def get(self, key):
        """Return the bytes stored under ``key``, or None if absent or corrupt.

        A corrupt entry (bad header, wrong length, checksum mismatch) triggers a
        :class:`CacheCorruptionWarning` and is deleted, so the caller recomputes.
        """
        path = self.path_for(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        reason = None
        if len(blob) < _HEADER.size:
            reason = f"truncated header ({len(blob)} bytes)"
        else:
            magic, digest, length = _HEADER.unpack_from(blob)
            payload = blob[_HEADER.size :]
            if magic != _MAGIC:
                reason = "unknown format"
            elif len(payload) != length:
                reason = f"truncated payload ({len(payload)} of {length} bytes)"
            elif hashlib.sha256(payload).digest() != digest:
                reason = "checksum mismatch"
        if reason is not None:
            warnings.warn(
                f"corrupt cache entry {path} ({reason}); it is ignored and will be recomputed",
                CacheCorruptionWarning,
                stacklevel=2,
            )
            try:
                path.unlink()
            except OSError:
                pass
            return None
        return payload

    def set(self, key, payload):
        """Store ``payload`` (bytes) under ``key`` atomically."""
        path = self.path_for(key)
        if not self.__dict__.get("_swept"):
            # once per cache object: orphans of an earlier, killed run go
            self._swept = True
            self.remove_stale_temporaries(older_than=_STALE_AFTER_S)
        payload = bytes(payload)
        # one temporary per writer: two processes computing the same entry both write it whole
        with atomic_open(path) as handle:
            handle.write(_HEADER.pack(_MAGIC, hashlib.sha256(payload).digest(), len(payload)))
            handle.write(payload)

    # -- arrays ----------------------------------------------------------------
    def get_arrays(self, key):
        """Return the dict of arrays stored under ``key``, or None (see :meth:`get`)."""
        payload = self.get(key)
        if payload is None:
            return None
        # allow_pickle=False: a cache directory must never be able to run code.
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

    def set_arrays(self, key, arrays):
        """Store a dict of arrays (no object dtype) under ``key`` atomically."""
        arrays = {name: np.asarray(a) for name, a in arrays.items()}
        for name, a in arrays.items():
            if a.dtype.hasobject:
                raise TypeError(f"array {name!r} has object dtype; the cache stores plain arrays only")
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        self.set(key, buf.getvalue())

    def remove_stale_temporaries(self, *, older_than=None):
        """Delete killed writers' temporaries in the entry folders (see :func:`remove_stale_temporaries`)."""
        if not self.root.is_dir():
            return 0
        folders = [f for f in self.root.iterdir() if _FANOUT.fullmatch(f.name) and f.is_dir() and not f.is_symlink()]
        return remove_stale_temporaries(*folders, older_than=older_than)

    def __repr__(self):
        return f"DiskCache({str(self.directory)!r}, namespace={self.namespace!r})"
