"""The archive format of model files and saved priors: a zip within bounds, its manifest, and data values.

Model files (:mod:`sklearn_llmrad.io`) and saved semantic priors
(:mod:`sklearn_llmrad.prior_files`) are one format: a zip archive holding
``manifest.json`` (strict JSON: no duplicate keys, no ``NaN`` constants) and
safetensors members. This module is that format, below both of its users:

- the container: :func:`write_archive` (atomic), :func:`open_archive` and
  :func:`read_member`, which check every member's name (no traversal) and
  size (declared and decompressed, no bombs) before reading it;
- tensors: :func:`read_tensors` reads a member only as safetensors, never
  unpickles (a pickle or ``torch.save`` file is refused unread);
- data values: :class:`DataEncoder` and :class:`DataDecoder` turn numbers,
  strings, lists, tuples, dicts and arrays into JSON and back (arrays as
  references into the safetensors member); the decoder builds no class,
  function or object (:mod:`sklearn_llmrad.io` extends them with its
  allow-listed classes).

Errors are :class:`ModelFileError` (malformed) and :class:`UnsafeModelError`
(asks for something unsafe); :mod:`sklearn_llmrad.io` re-exports both.
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from ._files import atomic_open

__all__ = [
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "MAX_MEMBER_BYTES",
    "MAX_VALUE_DEPTH",
    "DataDecoder",
    "DataEncoder",
    "ModelFileError",
    "UnsafeModelError",
    "check_archive_infos",
    "iter_values",
    "loads_strict",
    "open_archive",
    "read_member",
    "read_tensors",
    "write_archive",
]


class UnsafeModelError(ValueError):
    """A model file asks for something that could run code, or touch files, on load.

    Raised before anything from the file is imported, constructed or executed:
    a class outside the allow-list, a parameter value its class does not allow,
    a skops payload with untrusted types, or pickle data inside the archive.

    Examples
    --------
    >>> err = UnsafeModelError("manifest names 'os.system', which is not allow-listed")
    >>> isinstance(err, ValueError)
    True
    """


class ModelFileError(ValueError):
    """A model file is not a valid sklearn-llmrad archive (corrupt, truncated, wrong version)."""


MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_MEMBER_BYTES = 4 * 2**30
_MAX_TOTAL_BYTES = 8 * 2**30
_MAX_RATIO = 100  # uncompressed/compressed, for members above _RATIO_FLOOR
_RATIO_FLOOR = 16 * 2**20
# How deep a JSON-encoded value may nest (a file nesting deeper is malformed).
MAX_VALUE_DEPTH = 32
# At most this many elements in one inline string array, each of at most this many bytes.
_MAX_INLINE_ITEMS = 2**20
_MAX_INLINE_ITEM_BYTES = 2**20


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


def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name):
    raise ValueError(f"non-finite number {name} is not allowed")


def loads_strict(text, *, constant=_no_constant):
    """JSON ``text`` without duplicate keys; ``NaN``/``Infinity`` only as ``constant(name)`` allows (ValueError)."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=constant)


def open_archive(path, kind="sklearn-llmrad model file"):
    """The archive and its manifest (a JSON object), after checking every member's name and size.

    ``kind`` names the file in messages. The manifest is strict JSON: a duplicate
    key or a ``NaN``/``Infinity`` constant (never written) makes it corrupt.
    """
    where = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(f"{where!s} is not a {kind} (not a zip archive)") from exc
    try:
        check_archive_infos(zf.infolist(), where, manifest_limit=MAX_MANIFEST_BYTES)
        if MANIFEST not in zf.namelist():
            raise ModelFileError(f"{where!s} has no {MANIFEST}; not a {kind}")
        try:
            raw = read_member(zf, MANIFEST, MAX_MANIFEST_BYTES).decode("utf-8")
            manifest = loads_strict(raw)
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError, RecursionError) as exc:
            raise ModelFileError(f"{where!s}: {MANIFEST} is corrupt ({exc})") from exc
        if not isinstance(manifest, dict):
            raise ModelFileError(f"{where!s} is not a {kind}")
        return zf, manifest
    except BaseException:
        zf.close()
        raise


def read_tensors(zf, name, *, framework="pt"):
    """The tensors of one safetensors member (torch, or numpy with ``framework="np"``); pickle is refused unread."""
    from safetensors import SafetensorError

    if framework == "np":
        from safetensors.numpy import load as st_load
    else:
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
    except (SafetensorError, ValueError, OSError, TypeError) as exc:
        raise ModelFileError(f"{name} is not a valid safetensors file ({exc})") from exc


class DataEncoder:
    """Data values to JSON: numbers, strings, None, lists, tuples, dicts; arrays to ``tensors``, by key.

    A non-finite float is ``{"$type": "float"}`` (the manifest is strict JSON);
    a string array is written inline. :meth:`encode_other` is what a subclass
    adds (the model files' classes and objects); here anything else is refused.
    """

    def __init__(self):
        self.tensors = {}

    def tensor_ref(self, key, value):
        if value.dtype.kind in "OUS":
            return {
                "$type": "ndarray",
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "data": [self.encode(v, key) for v in value.ravel().tolist()],
            }
        self.tensors[key] = np.ascontiguousarray(value)
        return {"$type": "tensor", "key": key, "origin": "numpy"}

    def encode(self, value, key=""):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"$type": "float", "value": repr(value)}
        if isinstance(value, np.ndarray):
            return self.tensor_ref(key, value)
        if isinstance(value, list):
            return [self.encode(v, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"$type": "tuple", "items": [self.encode(v, f"{key}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            return {
                "$type": "dict",
                "items": [[self.encode(k, key), self.encode(v, f"{key}.{k}")] for k, v in value.items()],
            }
        return self.encode_other(value, key)

    def encode_other(self, value, key):
        raise TypeError(f"cannot save a value of type {type(value).__name__!r} ({key}): data only")


class DataDecoder:
    """JSON data values back to Python: numbers, strings, containers, inline string arrays, tensors by key.

    Every other ``$type`` goes to :meth:`decode_other`, which here refuses it:
    data holds no class, function or object.
    """

    def __init__(self, tensors, *, where):
        self.tensors = tensors
        self.where = where

    def decode(self, value, depth=0):
        if depth > MAX_VALUE_DEPTH:
            raise ModelFileError(f"{self.where}: a value nests more than {MAX_VALUE_DEPTH} levels")
        if value is None or type(value) in (bool, int, float, str):
            return value
        if type(value) is list:
            return [self.decode(v, depth + 1) for v in value]
        if type(value) is not dict or "$type" not in value:
            raise ModelFileError(f"{self.where}: unexpected value in manifest: {value!r:.80}")
        t = value["$type"]
        if t == "float":
            if value.get("value") not in ("nan", "inf", "-inf"):
                raise ModelFileError(f"{self.where}: invalid float {value.get('value')!r:.40}")
            return float(value["value"])
        if t in ("tuple", "dict"):
            items = value.get("items")
            if type(items) is not list:
                raise ModelFileError(f"{self.where}: malformed {t} in manifest")
            if t == "tuple":
                return tuple(self.decode(v, depth + 1) for v in items)
            out = {}
            for item in items:
                if type(item) is not list or len(item) != 2:
                    raise ModelFileError(f"{self.where}: malformed dict item in manifest")
                k = self.decode(item[0], depth + 1)
                try:  # a tuple holding a list is a tuple, yet unhashable
                    hash(k)
                except TypeError:
                    raise ModelFileError(f"{self.where}: unhashable dict key in manifest") from None
                if not isinstance(k, (str, int, float, bool, tuple, type(None))):
                    raise ModelFileError(f"{self.where}: unhashable dict key in manifest")
                out[k] = self.decode(item[1], depth + 1)
            return out
        if t == "ndarray":
            return self.inline_array(value, depth)
        if t == "tensor":
            key = value.get("key")
            if type(key) is not str or key not in self.tensors:
                raise ModelFileError(f"{self.where}: tensor {key!r:.60} is missing from the model file")
            return self.tensor_value(self.tensors[key], value.get("origin"))
        return self.decode_other(t, value, depth)

    def tensor_value(self, tensor, origin):
        return tensor

    def decode_other(self, t, value, depth):
        raise UnsafeModelError(
            f"{self.where}: fitted state may hold only numbers, strings and arrays, not a {t!r:.40}; refusing to load"
        )

    def inline_array(self, value, depth):
        try:
            dtype = np.dtype(str(value.get("dtype")))
        except TypeError as exc:
            raise ModelFileError(f"{self.where}: invalid inline array dtype {value.get('dtype')!r:.40}") from exc
        if dtype.kind not in "OUS":
            raise ModelFileError(f"{self.where}: inline arrays must hold strings/objects, not {dtype}")
        if dtype.itemsize > _MAX_INLINE_ITEM_BYTES:
            # "<U100000000" would allocate 400 MB per element
            raise UnsafeModelError(
                f"{self.where}: inline array dtype {dtype.str!r} has {dtype.itemsize}-byte elements; "
                "refusing to allocate it"
            )
        data, shape = value.get("data"), value.get("shape")
        if (
            type(data) is not list
            or len(data) > _MAX_INLINE_ITEMS
            or type(shape) is not list
            or len(shape) > 8
            or not all(type(n) is int and n >= 0 for n in shape)
            or math.prod(shape) != len(data)
        ):
            raise ModelFileError(f"{self.where}: malformed inline array in manifest")
        data = [self.decode(v, depth + 1) for v in data]
        if not all(v is None or type(v) in (str, int, float, bool) for v in data):
            raise ModelFileError(f"{self.where}: inline arrays hold only strings, numbers and None")
        out = np.empty(len(data), dtype=dtype)
        try:
            out[:] = data
        except (ValueError, TypeError, OverflowError) as exc:
            raise ModelFileError(f"{self.where}: inline array values do not fit {dtype}") from exc
        return out.reshape(shape)


def iter_values(value, depth=0):
    """Every ``$type`` node of a JSON-encoded value: (type, node); nested estimators not entered."""
    if depth > MAX_VALUE_DEPTH:
        raise ModelFileError(f"a value in the manifest nests more than {MAX_VALUE_DEPTH} levels")
    if type(value) is list:
        for v in value:
            yield from iter_values(v, depth + 1)
    elif type(value) is dict:
        t = value.get("$type")
        if t is not None:
            yield t, value
        if t == "estimator":
            return
        for v in value.values():
            yield from iter_values(v, depth + 1)
