"""The benchmark's shared image stages in chunks: same features, bounded crops, resume, bad lesions."""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sklearn_llmrad
from sklearn_llmrad import CLAHEPreprocessor, RadiomicsExtractor
from sklearn_llmrad.benchmark import prepare_shared_inputs
from sklearn_llmrad.benchmark.shared import transform_in_chunks
from sklearn_llmrad.datasets import load_csv, write_synthetic_cbis_ddsm
from sklearn_llmrad.pipelines import make_feature_extraction_pipeline

FAST = {"image_types": ["Original"], "feature_classes": ["firstorder", "glcm"], "progress": False}
QUIET = {"progress": False}


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """14 CBIS-shaped lesions, 2 per film (small films), with a missing film and an empty mask."""
    root = tmp_path_factory.mktemp("cbis")
    path = write_synthetic_cbis_ddsm(
        root, 14, film_shape=(360, 240), pixel_size=0.25, lesions_per_film=2, random_state=0
    )
    X = load_csv(path).frame
    X = X.drop(columns=[c for c in X.columns if c not in ("image", "mask", "spacing", "age", "density")])
    X.iat[3, X.columns.get_loc("image")] = str(root / "films" / "missing.png")  # fails in CLAHE
    empty = root / "empty_mask.png"
    from PIL import Image

    Image.fromarray(np.zeros((360, 240), dtype=np.uint8)).save(empty)
    X.iat[8, X.columns.get_loc("mask")] = str(empty)  # fails in CLAHE too (no lesion)
    return X


def _shared(X, chunk_size, needs=frozenset({"features"}), **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bad lesions' warnings
        return prepare_shared_inputs(
            X,
            set(needs),
            extractor_params=FAST,
            preprocessor_params=QUIET,
            chunk_size=chunk_size,
            log=lambda _: None,
            **kwargs,
        )


def _bits(frame):
    return frame.to_numpy(dtype=np.float64).view(np.uint64)


def test_chunks_give_the_features_of_one_pass_to_the_bit_and_the_same_failures(films):
    whole = _shared(films, None, {"features", "crops"})
    assert sorted(whole.failed["case"]) == sorted(films.index[[3, 8]])
    for chunk_size in (1, 4, 5):
        chunked = _shared(films, chunk_size, {"features", "crops"})
        pd.testing.assert_frame_equal(chunked.inputs["features"], whole.inputs["features"], check_exact=True)
        cols = whole.feature_columns
        assert chunked.feature_columns == cols
        assert np.array_equal(_bits(chunked.inputs["features"][cols]), _bits(whole.inputs["features"][cols]))
        pd.testing.assert_frame_equal(chunked.failed, whole.failed)
        crops, want = chunked.inputs["crops"], whole.inputs["crops"]
        assert list(crops.index) == list(want.index)
        assert all(np.array_equal(a, b) for a, b in zip(crops["image"], want["image"]))
    assert whole.inputs["features"][cols].notna().all().all()  # the others are not touched by the bad ones


def test_lesions_of_one_film_stay_in_one_chunk(films, monkeypatch):
    seen = []
    fit_transform = CLAHEPreprocessor.fit_transform

    def record(self, X, y=None, **params):
        seen.append(list(X["image"]))
        return fit_transform(self, X, y, **params)

    monkeypatch.setattr(CLAHEPreprocessor, "fit_transform", record)
    _shared(films, 3, {"crops"})
    assert sum(len(chunk) for chunk in seen) == len(films)
    assert all(len(chunk) <= 4 for chunk in seen)  # 3, widened to the end of a film of 2
    files = [set(chunk) for chunk in seen]
    assert all(not (a & b) for i, a in enumerate(files) for b in files[i + 1 :])  # no film read twice


class _CropCounter:
    """Weak references to every crop CLAHE made; ``peak``: most of them alive when an extraction starts."""

    def __init__(self, monkeypatch):
        self.refs, self.peak = [], 0
        transform, extract = CLAHEPreprocessor.transform, RadiomicsExtractor.transform
        counter = self

        def clahe(self, X):
            out = transform(self, X)
            counter.refs += [weakref.ref(crop) for crop in out["image"] if isinstance(crop, np.ndarray)]
            return out

        def radiomics(self, X):
            counter.peak = max(counter.peak, counter.alive())
            return extract(self, X)

        monkeypatch.setattr(CLAHEPreprocessor, "transform", clahe)
        monkeypatch.setattr(RadiomicsExtractor, "transform", radiomics)

    def alive(self):
        gc.collect()
        return sum(ref() is not None for ref in self.refs)


def test_only_a_chunk_of_crops_is_held(films, monkeypatch):
    counter = _CropCounter(monkeypatch)
    shared = _shared(films, 4)
    made = len(counter.refs)
    assert made == len(films) - 2 and len(shared.inputs["features"]) == made
    assert 0 < counter.peak <= 4  # this chunk's, none of the previous chunks'
    assert counter.alive() == 0 and "crops" not in shared.inputs  # and none once the features are made

    counter = _CropCounter(monkeypatch)  # the counter sees crops held: in one pass, all of them
    _shared(films, None)
    assert counter.peak == len(films) - 2


def test_the_cnns_crops_are_all_kept(films, monkeypatch):
    counter = _CropCounter(monkeypatch)
    shared = _shared(films, 4, {"features", "crops"})
    assert counter.alive() == len(shared.inputs["crops"]) == len(films) - 2


def test_a_killed_chunked_run_resumes_from_the_cache(films, tmp_path):
    """SIGKILL after the first chunks' features are cached: the rerun extracts only the rest."""
    data = tmp_path / "lesions.pkl"
    films.to_pickle(data)
    cache = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
        import sys, time
        import pandas as pd
        from sklearn_llmrad import RadiomicsExtractor
        from sklearn_llmrad.benchmark import prepare_shared_inputs

        transform = RadiomicsExtractor.transform
        def slow(self, X):  # a pause after each chunk, for the kill to land in
            out = transform(self, X)
            time.sleep(float(sys.argv[1]))
            return out
        RadiomicsExtractor.transform = slow
        prepare_shared_inputs(pd.read_pickle({str(data)!r}), {{"features"}}, extractor_params={FAST!r},
                              preprocessor_params={QUIET!r}, cache_dir={str(cache)!r}, chunk_size=4)
        """
        )
    )
    entries = cache / "radiomics" / "radiomics"
    env = {**os.environ, "PYTHONPATH": str(Path(sklearn_llmrad.__file__).parents[1])}  # this package, not another
    proc = subprocess.Popen(
        [sys.executable, str(script), "30"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(list(entries.glob("*/[0-9a-f]*.bin"))) < 4:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # still running: killed mid-run
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in entries.glob("*/[0-9a-f]*.bin")}
    assert 4 <= len(before) < len(films) - 2 + 1  # some lesions (and the feature names), not all

    resumed = _shared(films, 4, cache_dir=cache)
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in entries.glob("*/[0-9a-f]*.bin")}
    assert {p: after[p] for p in before} == before  # nothing cached before was computed again
    assert len(after) == len(films) - 2 + 1  # every good lesion, and the feature names
    fresh = _shared(films, None)
    pd.testing.assert_frame_equal(resumed.inputs["features"], fresh.inputs["features"], check_exact=True)


def test_transform_in_chunks_equals_one_call_and_joins_the_failures(films):
    head = make_feature_extraction_pipeline(
        preprocessor_params={"on_error": "nan", **QUIET}, extractor_params={"on_error": "nan", **FAST}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = head.fit_transform(films)
        chunked = transform_in_chunks(head, films, chunk_size=5)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    assert chunked.attrs["radiomics_failures"] == whole.attrs["radiomics_failures"]
    assert [f["case"] for f in chunked.attrs["radiomics_failures"]] == list(films.index[[3, 8]])
    with pytest.raises(ValueError, match="chunk_size"):
        transform_in_chunks(head, films, chunk_size=0)


def _keep_a_model_loaded(i):
    """A fold's first call in a process loads what stays (torch, a model): here 400 MB, once per process."""
    import sys as module

    if not hasattr(module, "_llmrad_test_ballast"):
        module._llmrad_test_ballast = np.ones(50_000_000)
    time.sleep(1.2)  # past loky's 1 s between two memory checks
    return os.getpid()


def test_fold_workers_after_a_parallel_extraction_are_not_stopped_by_loky(films):
    """loky measured the workers after an extraction batch and took a fold's model for a memory leak."""
    from joblib import Parallel, delayed

    _shared(films.iloc[:6], None, n_jobs=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Parallel(n_jobs=2)(delayed(_keep_a_model_loaded)(i) for i in range(6))
    assert not [w for w in caught if "A worker stopped" in str(w.message)]
