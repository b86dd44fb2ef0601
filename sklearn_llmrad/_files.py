"""Writing files safely: the package's one copy of atomic writes, temporaries and digests.

Every file the package writes (cache entries, benchmark folds, reports, priors)
goes through :func:`atomic_open`: the content is written to a temporary file in
the same folder, flushed to disk (``fsync``) and moved into place with
:func:`os.replace` (atomic on POSIX and Windows). A process killed mid-write
leaves at most an orphaned temporary, never a half-written file under the real
name. Temporaries carry a name no user file has (:func:`temporary_name`:
``.llmrad-tmp-<host>-<pid>-<random>-<name>``), and :func:`remove_stale_temporaries`
deletes only names of that pattern, only in the folders it is given, and only
when their writer has ended (or they are old): a user's own ``*.tmp`` files and
another live process's temporaries are never touched.

:func:`digest`, :func:`digest_bytes` and :func:`hash_key` give stable SHA-256
digests (of canonical JSON, of byte chunks, and of typed parts such as arrays),
:func:`package_versions` the versions that can change a result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import time
import uuid
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = [
    "PACKAGES",
    "atomic_directory",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "digest",
    "digest_bytes",
    "hash_key",
    "package_versions",
    "remove_stale_temporaries",
    "temporary_name",
]

# Temporaries of this package: ".llmrad-tmp-<host>-<pid>-<32 hex>-<name>". The
# host tag (8 hex digits of the host name's hash) tells whether the pid can be
# checked here: on a shared file system another machine's pids mean nothing.
TEMPORARY_PREFIX = ".llmrad-tmp-"
_TMP_PATTERN = re.compile(r"\.llmrad-tmp-([0-9a-f]{8})-([0-9]{1,10})-[0-9a-f]{32}-.+")

#: Distributions whose versions can change a result.
PACKAGES = (
    "sklearn-llmrad",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "pyradiomics",
    "SimpleITK",
    "torch",
    "torchvision",
    "skorch",
    "transformers",
)


def _host_tag():
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temporary_name(name):
    """A unique temporary name for ``name``: ``.llmrad-tmp-<host>-<pid>-<random>-<name>``.

    Concurrent writers never share one, and :func:`remove_stale_temporaries`
    recognizes only names of this pattern.
    """
    return f"{TEMPORARY_PREFIX}{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex}-{name}"


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


def _remove_stale(folder, here, now, older_than):
    try:
        entries = list(Path(folder).iterdir())
    except OSError:  # missing, or not a folder
        return 0
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


def remove_stale_temporaries(*folders, older_than=None):
    """Delete the temporaries no writer will finish; return how many.

    Only files directly in ``folders`` (missing ones skipped) named by
    :func:`temporary_name` are considered, never another file or a link. One
    goes when its writer, on this machine, has ended, or (``older_than`` in
    seconds, None: never) when it is that old; this process's own never go.
    """
    here, now = _host_tag(), time.time()
    return sum(_remove_stale(folder, here, now, older_than) for folder in folders)


@contextlib.contextmanager
def atomic_open(path):
    """A binary handle on a temporary beside ``path``, synced and renamed over it once the block ends.

    If the block raises, the temporary goes and ``path`` keeps its old content
    (or stays absent). The folder of ``path`` is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temporary_name(path.name))
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as handle:
        handle.write(data)


def atomic_write_text(path, text, *, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically, in ``encoding`` whatever the locale."""
    atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_directory(path):
    """Yield an empty temporary folder beside ``path``, renamed to ``path`` once the block ends.

    If ``path`` appeared meanwhile (another process stored the same folder), it
    is kept. The temporary folder is removed whatever happens.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temporary_name(path.name))
    try:
        tmp.mkdir()
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError:
            if not path.is_dir():  # not "another run stored the same folder meanwhile"
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; a failed write's leftovers


def digest(obj, *, length=16):
    """SHA-256 of ``obj`` as JSON with sorted keys, the first ``length`` hex digits (None: all 64).

    Values JSON cannot hold are written by their ``repr``, without object
    addresses (``at 0x...``), which change between runs.
    """
    text = json.dumps(obj, sort_keys=True, default=repr)
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)  # object addresses change between runs
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def digest_bytes(*chunks, length=16):
    """SHA-256 of the byte chunks joined as they are (use :func:`hash_key` to keep parts apart)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:length]


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
    """64-hex-digit SHA-256 key of ``parts``: arrays by dtype, shape and content, bytes, or canonical JSON.

    Each part is tagged with its type and length, so parts never run into each other.
    """
    h = hashlib.sha256()
    for part in parts:
        _update(h, part)
    return h.hexdigest()


def package_versions(packages=PACKAGES):
    """``{distribution: installed version or None}`` of the packages that shape the numbers."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
