"""A model file's metadata block: small facts about the model (its decision threshold, its card's summary).

The block is JSON in the manifest, under ``"metadata"``. It is data only and
checked the same way on save and on load: a dict with string keys whose values
are ``None``, booleans, integers, finite floats, strings, lists of those and
dicts with string keys of those, nested at most :data:`MAX_METADATA_DEPTH`
levels. Nothing in it is ever imported, called or used as a path by ``io``.
"""

from __future__ import annotations

import copy
import math

from .values import ModelFileError

#: How deep metadata may nest (the manifest's values nest at most 32 levels too).
MAX_METADATA_DEPTH = 16
#: At most this many bytes of metadata (as JSON) in one model file.
MAX_METADATA_BYTES = 2**20


def _problem(value, where, depth):
    """What is wrong with ``value`` (a string naming its place), or None."""
    if depth > MAX_METADATA_DEPTH:
        return f"{where}: nested more than {MAX_METADATA_DEPTH} levels"
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return None
    if kind is float:
        return None if math.isfinite(value) else f"{where}: {value!r} is not a finite number"
    if kind is list:
        for i, item in enumerate(value):
            problem = _problem(item, f"{where}[{i}]", depth + 1)
            if problem:
                return problem
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f"{where}: key {key!r} is not a string"
            problem = _problem(item, f"{where}[{key!r}]", depth + 1)
            if problem:
                return problem
        return None
    return f"{where}: a {kind.__name__} is not metadata (None, bool, int, finite float, str, list, dict)"


def check_metadata(metadata, *, where="metadata", error=ValueError):
    """``metadata`` as a deep copy, after checking it is a dict of plain JSON data.

    ``error`` is raised naming the first offending place: ``ValueError`` for a
    caller's argument, :class:`ModelFileError` for what a file holds.
    """
    import json

    if type(metadata) is not dict:
        raise error(f"{where} must be a dict, got {type(metadata).__name__}")
    problem = _problem(metadata, where, 0)
    if problem:
        raise error(problem)
    size = len(json.dumps(metadata, allow_nan=False).encode())
    if size > MAX_METADATA_BYTES:
        raise error(f"{where} takes {size} bytes as JSON, more than the limit of {MAX_METADATA_BYTES}")
    return copy.deepcopy(metadata)


def manifest_metadata(manifest, path):
    """The checked metadata of a read manifest (``{}`` when the file has none)."""
    if "metadata" not in manifest:
        return {}
    return check_metadata(manifest["metadata"], where=f"{path}: metadata", error=ModelFileError)
