"""A content-addressed on-disk cache, safe against kills and corruption.

Stages that are expensive and deterministic (radiomics extraction, language
model embeddings) store one entry per item, keyed by a hash of *everything*
that determines the result: the pixel content, the settings and the library
versions. Keys therefore hold no file names or case ids, so a cache directory
carries no patient-identifying information, and a renamed file still hits.

Each entry is written to a temporary file in the same directory and moved into
place with :func:`os.replace` (atomic on POSIX and Windows), so a process killed
mid-write leaves at most an orphaned temporary file, never a half-written
entry under a real key; the first write of the next run removes such orphans
(those of ended processes, and those older than a few minutes, so that
concurrent writers are never disturbed). Temporaries carry a name no user file
has (see :func:`temporary_name`), and a sweep deletes only names of that
pattern, only in the folders it is given: a user's own ``*.tmp`` files are
never touched. Each entry also carries a SHA-256 checksum and its length, so
an entry damaged later (disk full, copied truncated, bit rot) is detected on
read, reported with a :class:`CacheCorruptionWarning`, deleted and recomputed
by the caller rather than trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import struct
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

__all__ = ["DiskCache", "CacheCorruptionWarning", "hash_key", "remove_stale_temporaries", "temporary_name"]

_MAGIC = b"LLMRADC1"
_HEADER = struct.Struct("<8s32sQ")  # magic, sha256(payload), len(payload)
# Temporaries of this package: ".llmrad-tmp-<host>-<pid>-<32 hex>-<name>". The
# host tag (8 hex digits of the host name's hash) tells whether the pid can be
# checked here: on a shared file system another machine's pids mean nothing.
_TMP_PREFIX = ".llmrad-tmp-"
_TMP_PATTERN = re.compile(r"\.llmrad-tmp-([0-9a-f]{8})-([0-9]{1,10})-[0-9a-f]{32}-.+")
# A temporary file lives for the milliseconds of one write; one this old was
# left by a writer that was killed, and is removed by the next writer.
_STALE_AFTER_S = 600.0
_FANOUT = re.compile(r"[0-9a-f]{2}")  # the entry folders: first two digits of the key


def _host_tag():
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temporary_name(name):
    """A unique name for a temporary of ``name``, written by this process.

    The name starts with ``.llmrad-tmp-`` and holds a tag of this machine, this
    process's id and a random part, so that concurrent writers never share a
    temporary and :func:`remove_stale_temporaries` recognizes only files this
    package wrote.

    Parameters
    ----------
    name : str
        Name of the file the temporary will be renamed to (kept at the end,
        for people reading a folder).

    Returns
    -------
    str

    Examples
    --------
    >>> import os
    >>> tmp = temporary_name("fold1.csv")
    >>> tmp.startswith(".llmrad-tmp-"), f"-{os.getpid()}-" in tmp, tmp.endswith("-fold1.csv")
    (True, True, True)
    >>> tmp == temporary_name("fold1.csv")
    False
    """
    return f"{_TMP_PREFIX}{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex}-{name}"


def _process_running(pid):
    """Whether process ``pid`` of this machine may still run (True when unknown)."""
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":
        # os.kill(pid, 0) would terminate the process on Windows: leave it to age
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def remove_stale_temporaries(folder, *, older_than=None):
    """Delete the temporaries of :func:`temporary_name` that no writer will finish.

    Only files directly in ``folder`` (no subfolders) whose name matches the
    pattern of :func:`temporary_name` are considered; any other file, a user's
    ``notes.tmp`` included, is never touched. One is deleted when the process
    that wrote it, on this machine, no longer runs, or when it was last
    modified at least ``older_than`` seconds ago. The temporaries of this
    process are never deleted.

    Parameters
    ----------
    folder : path-like
        A folder this package writes into; missing is fine.
    older_than : float or None, default=None
        Also delete temporaries of running (or unknown: another machine's)
        processes once they are this old. None: only those of processes of
        this machine that ended.

    Returns
    -------
    int
        Files deleted.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> dead = temporary_name("fold1.csv").replace(f"-{os.getpid()}-", "-999999999-")
    >>> for name in (dead, temporary_name("fold2.csv"), ".notes.tmp"):
    ...     _ = (d / name).write_text("x")
    >>> remove_stale_temporaries(d)
    1
    >>> sorted(p.name.startswith(".llmrad-tmp-") for p in d.iterdir())  # the user's file and ours stay
    [False, True]
    """
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:  # missing, or not a folder
        return 0
    here = _host_tag()
    now = time.time()
    removed = 0
    for path in entries:
        match = _TMP_PATTERN.fullmatch(path.name)
        if match is None:
            continue
        host, pid = match.group(1), int(match.group(2))
        if host == here and pid == os.getpid():
            continue
        try:
            if path.is_symlink() or not path.is_file():
                continue
            old = older_than is not None and now - path.stat().st_mtime >= older_than
            if old or (host == here and not _process_running(pid)):
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its integrity check and will be recomputed."""


def _update(h, part):
    # Every part is tagged with its type and length so that, e.g., ("ab", "c")
    # and ("a", "bc") or the bytes of a uint8 and an int8 array never collide.
    if isinstance(part, np.ndarray):
        arr = np.ascontiguousarray(part)
        meta = f"ndarray:{arr.dtype.str}:{arr.shape}".encode()
        h.update(struct.pack("<Q", len(meta)) + meta)
        data = arr.view(np.uint8).reshape(-1) if arr.size else b""
        h.update(struct.pack("<Q", arr.nbytes))
        h.update(data)
    elif isinstance(part, bytes | bytearray | memoryview):
        part = bytes(part)
        h.update(b"bytes" + struct.pack("<Q", len(part)))
        h.update(part)
    else:
        # dicts, lists, str and numbers: canonical JSON (sorted keys) so that
        # the same settings always give the same key.
        text = json.dumps(part, sort_keys=True, separators=(",", ":"), default=repr).encode()
        h.update(b"json" + struct.pack("<Q", len(text)))
        h.update(text)


def hash_key(*parts):
    """Return a hex SHA-256 key for ``parts`` (arrays, bytes, or JSON-able values).

    Parameters
    ----------
    *parts : ndarray, bytes, or JSON-serialisable object
        Arrays are hashed by dtype, shape and content; other objects by their
        canonical JSON (sorted keys).

    Returns
    -------
    key : str
        64 hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> a = hash_key(np.zeros((2, 2)), {"binCount": 32})
    >>> a == hash_key(np.zeros((2, 2)), {"binCount": 32})
    True
    >>> a == hash_key(np.zeros((2, 2), dtype=np.float32), {"binCount": 32})
    False
    >>> len(a)
    64
    """
    h = hashlib.sha256()
    for part in parts:
        _update(h, part)
    return h.hexdigest()


class DiskCache:
    """Directory of checksummed, atomically written entries keyed by hash.

    Parameters
    ----------
    directory : str or os.PathLike
        Root of the cache; created on first write.
    namespace : str, default="default"
        Sub-directory, so that different stages sharing one ``directory``
        never see each other's entries.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> cache = DiskCache(tempfile.mkdtemp(), namespace="demo")
    >>> key = hash_key("some", "content")
    >>> cache.get(key) is None
    True
    >>> cache.set_arrays(key, {"values": np.arange(3.0)})
    >>> cache.get_arrays(key)["values"].tolist()
    [0.0, 1.0, 2.0]
    >>> key in cache, len(cache)
    (True, 1)
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
        return sum(1 for _ in self.root.glob("*/*.bin"))

    def keys(self):
        """Keys of all (not necessarily valid) entries currently on disk."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*/*.bin"))

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
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.__dict__.get("_swept"):
            # once per cache object: orphans of an earlier, killed run go
            self._swept = True
            self.remove_stale_temporaries(older_than=_STALE_AFTER_S)
        payload = bytes(payload)
        header = _HEADER.pack(_MAGIC, hashlib.sha256(payload).digest(), len(payload))
        # Unique temporary name per writer: two processes computing the same
        # entry never write into each other's file; the last replace wins and
        # both wrote identical content.
        tmp = path.parent / temporary_name(path.stem)  # no ".bin": never counted as an entry
        try:
            with open(tmp, "wb") as fh:
                fh.write(header)
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise

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
        """Delete temporary files left by killed writers; return how many.

        The first :meth:`set` of each cache object calls it with
        ``older_than`` of a few minutes, so a crashed run's leftovers go on
        the next run. Only this cache's own temporaries (see
        :func:`remove_stale_temporaries`) in its two-hex-digit entry folders
        are considered; nothing else under ``directory`` is touched.

        Parameters
        ----------
        older_than : float or None, default=None
            Also delete temporaries at least this many seconds old, whoever
            wrote them (safe while other processes, of this or another machine,
            write). None deletes only those of processes of this machine that
            no longer run.

        Returns
        -------
        int
        """
        if not self.root.is_dir():
            return 0
        return sum(
            remove_stale_temporaries(folder, older_than=older_than)
            for folder in self.root.iterdir()
            if _FANOUT.fullmatch(folder.name) and folder.is_dir() and not folder.is_symlink()
        )

    def __repr__(self):
        return f"DiskCache({str(self.directory)!r}, namespace={self.namespace!r})"
