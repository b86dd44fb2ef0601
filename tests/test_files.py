"""Tests for the package's one file-writing foundation (``sklearn_llmrad._files``)."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from sklearn_llmrad import _files
from sklearn_llmrad._files import (
    atomic_directory,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
    digest,
    digest_bytes,
    hash_key,
    package_versions,
    remove_stale_temporaries,
    temporary_name,
)
from sklearn_llmrad._testing import ended_process_id, temporary_name_of

PREFIX = ".llmrad-tmp-"  # the documented name of our temporaries


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_write_bytes_and_text(tmp_path):
    atomic_write_bytes(tmp_path / "deep" / "x.bin", b"\x00\xff")
    atomic_write_text(tmp_path / "x.md", "Größe ≥ 3\n")
    atomic_write_text(tmp_path / "x.txt", "é", encoding="latin-1")
    assert (tmp_path / "deep" / "x.bin").read_bytes() == b"\x00\xff"
    assert (tmp_path / "x.md").read_text(encoding="utf-8") == "Größe ≥ 3\n"
    assert (tmp_path / "x.txt").read_bytes() == b"\xe9"
    assert _names(tmp_path) == ["deep", "x.md", "x.txt"]


def test_an_exception_inside_the_write_leaves_the_old_file_and_notemporary_name_of(tmp_path):
    path = tmp_path / "results.csv"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(path) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert _names(tmp_path) == ["results.csv"]


def test_a_failed_sync_leaves_no_file_and_notemporary_name_of(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(tmp_path / "new.json", "{}")
    assert _names(tmp_path) == []


def test_the_temporary_lies_beside_the_file_under_our_name(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append((src, dst)), real_replace(src, dst)))
    atomic_write_bytes(tmp_path / "fold1.csv", b"a,b\n")
    ((src, dst),) = seen
    assert dst == tmp_path / "fold1.csv" and src.parent == tmp_path
    assert _files._TMP_PATTERN.fullmatch(src.name) and src.name.endswith("-fold1.csv")


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "prior"
    with pytest.raises(ValueError, match="bad"):
        with atomic_directory(target) as tmp:
            (tmp / "prior.json").write_text("{}")
            raise ValueError("bad")
    assert _names(tmp_path) == []
    with atomic_directory(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(PREFIX) and tmp.is_dir()
        (tmp / "prior.json").write_text("{}")
    assert _names(tmp_path) == ["prior"] and _names(target) == ["prior.json"]
    # another run stored the same folder meanwhile: the existing one stays, nothing is left over
    with atomic_directory(target) as tmp:
        (tmp / "other.json").write_text("{}")
    assert _names(tmp_path) == ["prior"] and _names(target) == ["prior.json"]


# ----------------------------------------------------------------------------- temporaries
def test_temporary_names_are_unique_and_name_this_process():
    a, b = temporary_name("x.csv"), temporary_name("x.csv")
    assert a != b
    for name in (a, b):
        match = _files._TMP_PATTERN.fullmatch(name)
        assert match and int(match.group(2)) == os.getpid() and name.endswith("-x.csv")


def test_sweep_removes_only_our_stale_temporaries(tmp_path):
    live_child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        users = [
            tmp_path / ".notes.tmp",
            tmp_path / "fold1.csv",
            tmp_path / ".llmrad-tmp-notes",  # our prefix, but not our pattern
            tmp_path / ".tmp-fold1.csv",
            tmp_path / "sub" / temporary_name_of("x.csv", pid=ended_process_id()),  # a subfolder: not swept
        ]
        for path in users:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("the user's")
        mine = tmp_path / temporary_name_of("a.csv")  # this process, writing right now
        running = tmp_path / temporary_name_of("b.csv", pid=live_child.pid)  # another live process
        elsewhere = tmp_path / temporary_name_of("c.csv", host="0badc0de", pid=1)  # another machine
        dead = tmp_path / temporary_name_of("d.csv", pid=ended_process_id())
        for path in (mine, running, elsewhere, dead):
            path.write_bytes(b"half")
        folder_named_like_ours = tmp_path / temporary_name_of("e", pid=ended_process_id())
        folder_named_like_ours.mkdir()

        assert remove_stale_temporaries(tmp_path, tmp_path / "missing") == 1
        assert not dead.exists()
        assert mine.exists() and running.exists() and elsewhere.exists() and folder_named_like_ours.is_dir()

        old = time.time() - 3600
        for path in (mine, running, elsewhere, *users):
            os.utime(path, (old, old))
        assert remove_stale_temporaries(tmp_path, older_than=1800) == 2
        assert mine.exists() and not running.exists() and not elsewhere.exists()
        assert all(path.read_text() == "the user's" for path in users)
    finally:
        live_child.kill()
        live_child.wait()


def test_sweep_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("the user's")
    folder = tmp_path / "out"
    folder.mkdir()
    link = folder / temporary_name_of("x.csv", pid=ended_process_id())
    link.symlink_to(outside)
    assert remove_stale_temporaries(folder, older_than=0) == 0
    assert link.is_symlink() and outside.read_text() == "the user's"


# ----------------------------------------------------------------------------- digests
def test_digest_is_stable_across_dict_order_and_runs():
    a = digest({"model": {"k": 10, "C": 1.0}, "seed": 0})
    assert a == digest({"seed": 0, "model": {"C": 1.0, "k": 10}})
    assert a != digest({"model": {"k": 11, "C": 1.0}, "seed": 0})
    assert len(a) == 16 and len(digest([], length=None)) == 64
    # pinned: stored fingerprints must keep their values across versions
    assert digest({"k": 10}) == "84fe6ceb17e13f11"
    # object addresses differ between runs and are left out
    first, second = object(), object()
    assert digest({"x": first}) == digest({"x": second})


def test_digests_give_the_benchmark_stores_values():
    """The fold fingerprints stored beside users' results keep their values once the store uses _files."""
    from sklearn_llmrad.benchmark.store import data_fingerprint, fingerprint

    parts = {"model": {"k": 10, "C": [1.0, 2.0]}, "versions": {"numpy": "2.0"}}
    assert fingerprint(**parts) == {key: digest(value) for key, value in parts.items()}
    y = [0, 1, 1]
    assert data_fingerprint(["a", "b", "c"], y, ["p", "p", "q"], [])["labels"] == digest_bytes(
        np.asarray(y, dtype=np.int64).tobytes()
    )
    assert digest_bytes(b"ab", b"c") == digest_bytes(b"abc") != digest_bytes(b"abd")


def test_hash_key_tags_parts_and_is_pinned():
    assert hash_key("ab", "c") != hash_key("a", "bc")
    assert hash_key(b"ab") != hash_key("ab")
    assert hash_key(np.arange(3, dtype=np.uint8)) != hash_key(np.arange(3, dtype=np.int8))
    # pinned: every cache entry on users' disks is keyed by this
    assert hash_key("radiomics-case", np.zeros((2, 2)), {"a": 1}) == (
        "c46c7ad0d793de0426ea7bc4db81eeabf00b0adfb14abc7a3898c638b7eed63a"
    )


def test_package_versions():
    versions = package_versions()
    assert list(versions) == list(_files.PACKAGES)
    assert versions["numpy"] == np.__version__
    assert package_versions(["no-such-distribution-llmrad"]) == {"no-such-distribution-llmrad": None}
