"""Two-level (memory, then disk) cache of text embeddings.

A key hashes everything that determines an embedding: the identity of the
language model (hub id and revision, or resolved local path with
:func:`model_directory_digest` of its files: config, tokenizer, weights), the
pooling, the ``max_length`` and the text itself. The disk level is the project's
:class:`~sklearn_llmrad._cache.DiskCache` (atomic, checksummed writes), so a
second cross-validation run or another process does no language-model work.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ._cache import DiskCache
from ._files import hash_key

__all__ = ["EmbeddingCache", "model_directory_digest"]

#: Bump when the way embeddings are computed changes, to invalidate old entries.
_FORMAT = "sklearn_llmrad.text-embedding.v1"

#: Files up to this size are hashed in full (config, tokenizer files, small weights).
_FULL_HASH_BYTES = 64 * 2**20
#: How much of each end of a larger file (the weights) is hashed.
_SAMPLE_BYTES = 2**20


def _file_fingerprint(path, stat):
    if stat.st_size <= _FULL_HASH_BYTES:
        with open(path, "rb") as f:
            return ["sha256", hashlib.file_digest(f, "sha256").hexdigest()]
    # Weights: hashing gigabytes would cost seconds for each new encoder, on runs
    # where every embedding is a cache hit and the model is never read. Size,
    # mtime and both ends are what changes in practice: safetensors starts with
    # its header (every tensor's name, dtype, shape and offset), re-saving
    # in place changes mtime, and the tail holds the last tensors' values. Not
    # caught: same-size weights whose first and last MiB are unchanged, written
    # with their mtime set back.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_SAMPLE_BYTES))
        f.seek(stat.st_size - _SAMPLE_BYTES)
        h.update(f.read(_SAMPLE_BYTES))
    return ["ends-sha256", h.hexdigest(), stat.st_mtime_ns]


def model_directory_digest(root):
    """SHA-256 over the top-level files of a local language model (what ``from_pretrained`` reads).

    By name, size and content: files up to 64 MiB in full, larger ones (weights)
    by size, mtime and their first and last MiB. Hidden files, sub-folders and
    model cards (``*.md``) are left out; links are followed (a hub snapshot).
    """
    entries = []
    with os.scandir(root) as it:
        for entry in it:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(".md") or not entry.is_file():
                continue
            stat = entry.stat()  # follows symbolic links
            entries.append([name, stat.st_size, *_file_fingerprint(Path(root) / name, stat)])
    entries.sort()
    return hashlib.sha256(json.dumps(entries, separators=(",", ":")).encode()).hexdigest()


class EmbeddingCache:
    """Look up text embeddings in memory, then on disk, then compute them.

    ``identity`` (the JSON-able model setup) is part of every key. ``memory`` is
    the in-memory level (key -> float32 vector), owned by the encoder so that it
    survives pickling; ``directory`` the disk level's root (None: memory only);
    ``stats`` the counters ``computed``, ``memory_hits`` and ``disk_hits`` the
    encoder keeps across calls (a new dict when None).
    """

    def __init__(self, identity, memory, directory=None, stats=None):
        self.identity = identity
        self.memory = memory
        self.disk = None if directory is None else DiskCache(directory, namespace="text-embeddings")
        self.stats = {"computed": 0, "memory_hits": 0, "disk_hits": 0} if stats is None else stats
        for name in ("computed", "memory_hits", "disk_hits"):
            self.stats.setdefault(name, 0)

    def key(self, text):
        """Cache key of ``text`` under this model setup."""
        return hash_key(_FORMAT, self.identity, str(text))

    def lookup(self, texts, compute):
        """``{text: vector}`` of the distinct ``texts``; ``compute(texts) -> (m, D)`` gets, once, those not cached."""
        found = {}
        missing = []
        for text in dict.fromkeys(texts):
            key = self.key(text)
            vector = self.memory.get(key)
            if vector is not None:
                self.stats["memory_hits"] += 1
            elif self.disk is not None:
                arrays = self.disk.get_arrays(key)
                if arrays is not None:
                    vector = arrays["embedding"]
                    self.memory[key] = vector
                    self.stats["disk_hits"] += 1
            if vector is None:
                missing.append(text)
            else:
                found[text] = vector
        if missing:
            vectors = np.asarray(compute(missing), dtype=np.float32)
            if vectors.shape[0] != len(missing):
                raise RuntimeError(f"embedding function returned {vectors.shape[0]} rows for {len(missing)} texts")
            self.stats["computed"] += len(missing)
            for text, vector in zip(missing, vectors, strict=True):
                vector = np.array(vector, dtype=np.float32)  # own copy, not a view of the batch
                key = self.key(text)
                self.memory[key] = vector
                if self.disk is not None:
                    self.disk.set_arrays(key, {"embedding": vector})
                found[text] = vector
        return found
