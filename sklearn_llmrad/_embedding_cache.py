"""Two-level (memory, then disk) cache of text embeddings.

A key hashes everything that determines an embedding: the identity of the
language model (hub id and revision, or resolved local path with a hash of
its config and the size/mtime of its weight files), the pooling, the
``max_length`` and the text itself. The disk level is the project's
:class:`~sklearn_llmrad._cache.DiskCache` (atomic, checksummed writes), so a
second cross-validation run or another process does no language-model work.
"""

from __future__ import annotations

import numpy as np

from ._cache import DiskCache, hash_key

__all__ = ["EmbeddingCache"]

#: Bump when the way embeddings are computed changes, to invalidate old entries.
_FORMAT = "sklearn_llmrad.text-embedding.v1"


class EmbeddingCache:
    """Look up text embeddings in memory, then on disk, then compute them.

    Parameters
    ----------
    identity : dict
        JSON-able description of the model setup; part of every key.
    memory : dict
        The in-memory level (key -> float32 vector). The encoder owns it, so
        it survives pickling of the encoder while the model does not.
    directory : str, os.PathLike or None
        Root of the disk level; None for memory only.
    stats : dict or None
        Counters to update (the encoder keeps them across calls); a new dict
        when None.

    Attributes
    ----------
    stats : dict
        ``computed`` (texts sent to the model), ``memory_hits``, ``disk_hits``.

    Examples
    --------
    >>> import numpy as np
    >>> cache = EmbeddingCache({"model": "demo"}, {}, None)
    >>> embed = lambda texts: np.ones((len(texts), 3), dtype=np.float32)
    >>> out = cache.lookup(["a", "b", "a"], embed)
    >>> sorted(out), cache.stats["computed"]
    (['a', 'b'], 2)
    >>> out = cache.lookup(["a"], embed)
    >>> cache.stats["computed"], cache.stats["memory_hits"]
    (2, 1)
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
        """Return ``{text: vector}`` for the distinct ``texts``.

        ``compute(list_of_texts) -> (m, D) array`` is called at most once,
        with the texts found neither in memory nor on disk (each once).
        """
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
