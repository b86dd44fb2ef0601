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

:func:`digest` and :func:`hash_key` give stable SHA-256 digests (of canonical
JSON, and of typed parts such as arrays), :func:`package_versions` the versions
that can change a result.
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
    "hash_key",
    "package_versions",
    "remove_stale_temporaries",
    "temporary_name",
]

# Temporaries of this package: ".llmrad-tmp-<host>-<pid>-<32 hex>-<name>". The
# host tag (8 hex digits of the host name's hash) tells whether the pid can be
# checked here: on a shared file system another machine's pids mean nothing.
_TMP_PREFIX = ".llmrad-tmp-"
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
    """Delete the temporaries of :func:`temporary_name` that no writer will finish.

    Only files directly in ``folders`` (no subfolders) whose name matches the
    pattern of :func:`temporary_name` are considered; any other file, a user's
    ``notes.tmp`` included, is never touched. One is deleted when the process
    that wrote it, on this machine, no longer runs, or when it was last
    modified at least ``older_than`` seconds ago. The temporaries of this
    process are never deleted.

    Parameters
    ----------
    *folders : path-like
        Folders this package writes into; missing ones are skipped.
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
    >>> import os, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> dead = temporary_name("fold1.csv").replace(f"-{os.getpid()}-", "-999999999-")
    >>> for name in (dead, temporary_name("fold2.csv"), ".notes.tmp"):
    ...     _ = (d / name).write_text("x")
    >>> remove_stale_temporaries(d, d / "missing")
    1
    >>> sorted(p.name.startswith(".llmrad-tmp-") for p in d.iterdir())  # the user's file and ours stay
    [False, True]
    """
    here, now = _host_tag(), time.time()
    return sum(_remove_stale(folder, here, now, older_than) for folder in folders)


@contextlib.contextmanager
def atomic_open(path):
    """Open a binary handle whose content appears at ``path`` only once complete.

    The handle writes a temporary beside ``path`` (named by
    :func:`temporary_name`); on leaving the ``with`` block it is flushed, synced
    to disk and renamed over ``path``. If the block raises, the temporary is
    deleted and ``path`` keeps its old content (or stays absent). The folder of
    ``path`` is created.

    Parameters
    ----------
    path : path-like
        The file to write.

    Yields
    ------
    file object
        Open for binary writing.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> with atomic_open(p) as handle:
    ...     _ = handle.write(b"head"); _ = handle.write(b"body")
    >>> p.read_bytes()
    b'headbody'
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
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`).

    Parameters
    ----------
    path : path-like
        The file to write; its folder is created.
    data : bytes
        The whole content.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a" / "x.txt"
    >>> atomic_write_bytes(p, b"hello"); p.read_bytes()
    b'hello'
    >>> [f.name for f in p.parent.iterdir()]  # no temporary left behind
    ['x.txt']
    """
    with atomic_open(path) as handle:
        handle.write(data)


def atomic_write_text(path, text, *, encoding="utf-8"):
    """Write the string ``text`` to ``path`` atomically, as :func:`atomic_write_bytes` does.

    Parameters
    ----------
    path : path-like
        Where; the folder is created.
    text : str
        Encoded with ``encoding`` (default UTF-8, whatever the locale).
    encoding : str, default="utf-8"
        The encoding.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "results.md"
    >>> atomic_write_text(p, "| AUC |\\n"); p.read_text()
    '| AUC |\\n'
    """
    atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_directory(path):
    """Build a folder under a temporary name; it appears at ``path`` only once complete.

    Yields the temporary folder (beside ``path``, named by
    :func:`temporary_name`) to fill; on leaving the ``with`` block it is
    renamed to ``path``. If ``path`` exists meanwhile (another process stored
    the same folder), the existing one is kept. The temporary folder is
    removed whatever happens.

    Parameters
    ----------
    path : path-like
        The folder to create.

    Yields
    ------
    pathlib.Path
        The temporary folder, created and empty.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "prior"
    >>> with atomic_directory(target) as tmp:
    ...     _ = (tmp / "prior.json").write_text("{}")
    >>> sorted(p.name for p in target.iterdir()), [p.name for p in target.parent.iterdir()]
    (['prior.json'], ['prior'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temporary_name(path.name))
    try:
        tmp.mkdir()
        yield tmp
        with contextlib.suppress(OSError):  # another run stored the same folder meanwhile
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; a failed write's leftovers


def digest(obj, *, length=16):
    """Stable SHA-256 digest of a JSON-able object (dict order does not matter).

    The object is written as JSON with sorted keys; values JSON cannot hold are
    written by their ``repr``, with object addresses (``at 0x...``) left out,
    since they change between runs.

    Parameters
    ----------
    obj : object
        Usually dicts, lists, strings and numbers.
    length : int or None, default=16
        Hexadecimal digits kept; None keeps all 64.

    Returns
    -------
    str

    Examples
    --------
    >>> digest({"a": 1, "b": [2, 3]}) == digest({"b": [2, 3], "a": 1})
    True
    >>> len(digest("x")), len(digest("x", length=None))
    (16, 64)
    """
    text = json.dumps(obj, sort_keys=True, default=repr)
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)  # object addresses change between runs
    return hashlib.sha256(text.encode()).hexdigest()[:length]


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
        Arrays are hashed by dtype, shape and content; bytes by content; other
        objects by their canonical JSON (sorted keys). Each part is tagged with
        its type and length, so parts never run into each other.

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


def package_versions(packages=PACKAGES):
    """Installed versions of the packages that shape the numbers (``None`` when absent).

    Parameters
    ----------
    packages : iterable of str, default=PACKAGES
        Distribution names.

    Returns
    -------
    dict
        Name -> version string or None.

    Examples
    --------
    >>> package_versions(["numpy", "no-such-distribution"])["no-such-distribution"] is None
    True
    """
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
