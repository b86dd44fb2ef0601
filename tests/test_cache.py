"""Tests for the content-addressed on-disk cache."""

import os
import pickle
import time

import numpy as np
import pytest

from sklearn_llmrad._cache import CacheCorruptionWarning, DiskCache
from sklearn_llmrad._files import hash_key
from sklearn_llmrad._testing import ended_process_id, temporary_name_of

PREFIX = ".llmrad-tmp-"  # the documented name of our temporaries


def test_hash_key_is_deterministic_and_content_sensitive():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    base = hash_key(a, {"b": 2, "a": 1})
    assert base == hash_key(a.copy(), {"a": 1, "b": 2})  # dict order is irrelevant
    assert base == hash_key(np.asfortranarray(a), {"a": 1, "b": 2})  # memory layout too
    others = {
        hash_key(a.astype(np.float64), {"a": 1, "b": 2}),  # dtype
        hash_key(a.reshape(4, 3), {"a": 1, "b": 2}),  # shape
        hash_key(a + 1e-6, {"a": 1, "b": 2}),  # content
        hash_key(a, {"a": 1, "b": 3}),  # settings
        hash_key({"a": 1, "b": 2}, a),  # order of parts
    }
    assert base not in others and len(others) == 5
    assert hash_key("ab", "c") != hash_key("a", "bc")
    assert hash_key(b"ab") != hash_key("ab")


def test_roundtrip_bytes_and_arrays(tmp_path):
    cache = DiskCache(tmp_path)
    key = hash_key("x")
    assert cache.get(key) is None and key not in cache and len(cache) == 0
    cache.set(key, b"\x00payload\xff")
    assert cache.get(key) == b"\x00payload\xff"
    assert key in cache and len(cache) == 1 and cache.keys() == [key]
    key2 = hash_key("y")
    cache.set_arrays(key2, {"v": np.linspace(0, 1, 5), "names": np.array(["a", "bc"])})
    got = cache.get_arrays(key2)
    np.testing.assert_array_equal(got["v"], np.linspace(0, 1, 5))
    assert got["names"].tolist() == ["a", "bc"]
    # no temporary files are left behind by successful writes
    assert not list(tmp_path.rglob(f"{PREFIX}*"))


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError, match="object dtype"):
        DiskCache(tmp_path).set_arrays(hash_key("o"), {"x": np.array([{"a": 1}], dtype=object)})


def test_namespaces_are_isolated(tmp_path):
    key = hash_key("same")
    DiskCache(tmp_path, namespace="radiomics").set(key, b"r")
    assert DiskCache(tmp_path, namespace="embeddings").get(key) is None
    assert DiskCache(tmp_path, namespace="radiomics").get(key) == b"r"


@pytest.mark.parametrize("bad_key", ["../../etc/passwd", "ABCDEF0123", "abc", "mdb005_1"])
def test_keys_must_be_hex_digests(tmp_path, bad_key):
    with pytest.raises(ValueError, match="hex"):
        DiskCache(tmp_path).path_for(bad_key)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b[:20], "truncated header"),
        (lambda b: b[:-3], "truncated payload"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 0x01]), "checksum mismatch"),
        (lambda b: b"XXXXXXXX" + b[8:], "unknown format"),
        (lambda b: b"", "truncated header"),
    ],
)
def test_corrupt_entries_are_detected_warned_and_deleted(tmp_path, damage, reason):
    cache = DiskCache(tmp_path)
    key = hash_key("entry")
    cache.set(key, b"0123456789" * 10)
    path = cache.path_for(key)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(CacheCorruptionWarning, match=reason):
        assert cache.get(key) is None
    assert not path.exists()
    cache.set(key, b"fresh")
    assert cache.get(key) == b"fresh"


def test_failed_write_leaves_no_entry_and_notemporary_name_of(tmp_path, monkeypatch):
    cache = DiskCache(tmp_path)
    key = hash_key("k")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        cache.set(key, b"data" * 1000)
    assert key not in cache
    assert not list(tmp_path.rglob(f"{PREFIX}*"))


def test_stale_temporaries_are_never_read_and_can_be_removed(tmp_path):
    cache = DiskCache(tmp_path)
    key = hash_key("k")
    cache.set(key, b"good")
    # what a writer killed between open() and os.replace() leaves behind
    (cache.path_for(key).parent / temporary_name_of(f"{key}.bin", pid=ended_process_id())).write_bytes(b"half")
    assert cache.get(key) == b"good" and len(cache) == 1
    assert cache.remove_stale_temporaries() == 1
    assert cache.get(key) == b"good"


def test_temporaries_are_named_as_ours_and_never_counted_as_entries(tmp_path, monkeypatch):
    cache = DiskCache(tmp_path)
    key = hash_key("k")
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(src), real_replace(src, dst)))
    cache.set(key, b"x")
    (tmp,) = seen
    assert tmp.parent == cache.path_for(key).parent
    assert tmp.name.startswith(PREFIX) and f"-{os.getpid()}-" in tmp.name
    # a temporary beside the entries, even one ending in ".bin", is no entry
    (tmp.parent / temporary_name_of(f"{key}.bin")).write_bytes(b"half")
    assert len(cache) == 1 and cache.keys() == [key]


def test_sweep_spares_user_files_and_live_writers(tmp_path):
    """Only our own temporaries, in the cache's own entry folders, of ended writers, are deleted."""
    cache = DiskCache(tmp_path, namespace="ns")
    key = hash_key("k")
    cache.set(key, b"good")
    entry_folder = cache.path_for(key).parent
    users = [
        tmp_path / ".notes.tmp",
        tmp_path / "ns" / ".x.tmp",
        entry_folder / ".x.tmp",
        entry_folder / ".tmp-draft",  # the cache's old prefix, but a user's file
        tmp_path / "ns" / "mine" / ".tmp-draft",
        tmp_path / "ns" / "mine" / temporary_name_of("notes", pid=ended_process_id()),  # not an entry folder
    ]
    for path in users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's")
    live = entry_folder / temporary_name_of(key)  # this process, writing right now
    elsewhere = entry_folder / temporary_name_of(key, host="0badc0de", pid=1)  # another machine's writer
    stale = entry_folder / temporary_name_of(key, pid=ended_process_id())
    for path in (live, elsewhere, stale):
        path.write_bytes(b"half")

    assert cache.remove_stale_temporaries() == 1
    assert not stale.exists()
    assert live.exists() and elsewhere.exists()
    # an age limit also removes another machine's leftovers, never this process's
    old = time.time() - 3600
    for path in (live, elsewhere, *users):
        os.utime(path, (old, old))
    assert cache.remove_stale_temporaries(older_than=600) == 1
    assert live.exists() and not elsewhere.exists()
    assert all(path.read_text() == "the user's" for path in users)
    assert cache.get(key) == b"good"


def test_cache_object_pickles(tmp_path):
    cache = pickle.loads(pickle.dumps(DiskCache(tmp_path, namespace="n")))
    assert cache.root == tmp_path / "n"
    assert "DiskCache(" in repr(cache)


def test_home_relative_cache_directory_is_expanded(tmp_path, monkeypatch):
    from sklearn_llmrad._cache import DiskCache

    monkeypatch.setenv("HOME", str(tmp_path))
    cache = DiskCache("~/llmrad-cache", namespace="t")
    assert cache.directory == tmp_path / "llmrad-cache"


def test_next_run_removes_a_crashed_runs_temporaries(tmp_path):
    first = DiskCache(tmp_path)
    key = hash_key("k")
    first.set(key, b"good")
    folder = first.path_for(key).parent
    # a writer killed an hour ago on another machine (a shared cache folder), one
    # killed a moment ago here, and one writing right now on another machine
    stale = folder / temporary_name_of(key, host="0badc0de", pid=999)
    stale.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    killed = folder / temporary_name_of(key, pid=ended_process_id())
    killed.write_bytes(b"half")
    live = folder / temporary_name_of(key, host="0badc0de", pid=1000)
    live.write_bytes(b"in progress")
    # the next run's first write cleans up, without touching the live writer's file
    DiskCache(tmp_path).set(hash_key("other"), b"x")
    assert not stale.exists() and not killed.exists()
    assert live.exists()
    assert DiskCache(tmp_path).get(key) == b"good"
    assert DiskCache(tmp_path).remove_stale_temporaries(older_than=3600) == 0
