"""Radiomics extraction and model selection on a real Dask cluster.

A ``LocalCluster`` with two worker *processes* is started once for the module;
work reaches it through ``joblib.parallel_config(backend="dask")``, exactly as a
user would run it (see docs/distributed.md). Results must equal a local,
single-process run: features bit for bit, grid-search choices and scores.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

# dask.distributed is the optional `distributed` extra: skip without it.
distributed = pytest.importorskip("distributed")
import joblib  # noqa: E402  (a hard dependency: fails when missing)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_llmrad import RadiomicsExtractor, TopKSelector  # noqa: E402
from sklearn_llmrad.exceptions import MaskError  # noqa: E402

SETTINGS = dict(image_types=["Original", "Wavelet"], feature_classes=["firstorder", "glcm"], progress=False)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _lesions(n=16, size=32, seed=0, tmp_path=None):
    """Small synthetic ROIs (malignant ones rougher); with tmp_path every 4th as PNG files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, masks, y = [], [], []
    for i in range(n):
        label = i % 2
        smooth = np.sin(xx / 4.0 + i) + 0.02 * yy
        image = smooth + (0.3 + 0.9 * label) * rng.normal(size=(size, size))
        r = 8 + (i % 4)
        mask = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= r * r).astype(np.uint8)
        images.append(image)
        masks.append(mask)
        y.append(label)
    X = pd.DataFrame(
        {"image": images, "mask": masks, "age": rng.integers(40, 80, n).astype(float)},
        index=[f"synthetic_{i:04d}" for i in range(n)],
    )
    if tmp_path is not None:
        # a few lesions as files, as they would sit on a shared file system
        from PIL import Image

        for i in range(0, n, 4):
            img = np.clip((images[i] - images[i].min()) / np.ptp(images[i]) * 255, 0, 255).astype(np.uint8)
            path = tmp_path / f"lesion_{i}.png"
            Image.fromarray(img).save(path)
            mpath = tmp_path / f"lesion_{i}_mask.png"
            Image.fromarray(masks[i]).save(mpath)  # label 1, as the extractor expects
            X.at[X.index[i], "image"] = str(path)
            X.at[X.index[i], "mask"] = str(mpath)
    return X, np.asarray(y)


def _worker_keys(ts):
    return {t.get("worker") for t in ts.data}


def test_extraction_on_cluster_equals_local(client, tmp_path):
    X, _ = _lesions(n=8, tmp_path=tmp_path)
    local = RadiomicsExtractor(**SETTINGS, n_jobs=1, cache_dir=tmp_path / "cache-local").fit_transform(X)

    shared = tmp_path / "cache-shared"
    extractor = RadiomicsExtractor(**SETTINGS, cache_dir=shared)
    with distributed.get_task_stream(client) as ts, joblib.parallel_config(backend="dask"):
        remote = extractor.fit_transform(X)
    # the work ran on the cluster's worker processes, not in this one
    assert len(ts.data) > 0
    assert _worker_keys(ts) <= set(client.scheduler_info()["workers"])
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert remote.attrs["radiomics_failures"] == []
    # the workers filled the shared cache: one entry per lesion (+ the feature names)
    entries = [p for p in shared.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]
    assert len(entries) >= len(X)

    # a second run on the cluster is served from the shared cache: identical
    # output and no entry written again
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    with joblib.parallel_config(backend="dask"):
        again = RadiomicsExtractor(**SETTINGS, cache_dir=shared).fit_transform(X)
    pd.testing.assert_frame_equal(again, local, check_exact=True)
    after = [p for p in shared.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]
    assert {p: p.stat().st_mtime_ns for p in after} == stamps


def test_bad_lesion_error_crosses_the_cluster_with_its_case(client, tmp_path):
    X, _ = _lesions(n=6)
    X.at["synthetic_0003", "mask"] = np.zeros((32, 32), np.uint8)
    extractor = RadiomicsExtractor(**SETTINGS, cache_dir=tmp_path / "cache")
    with joblib.parallel_config(backend="dask"), pytest.raises(MaskError) as info:
        extractor.fit_transform(X)
    assert info.value.case == "synthetic_0003"
    assert "empty" in str(info.value)
    # on_error="nan": the other lesions are still extracted, and equal the local result
    with joblib.parallel_config(backend="dask"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        remote = RadiomicsExtractor(**SETTINGS, on_error="nan", cache_dir=tmp_path / "cache").fit_transform(X)
        local = RadiomicsExtractor(**SETTINGS, on_error="nan", n_jobs=1).fit_transform(X)
    assert [f["case"] for f in remote.attrs["radiomics_failures"]] == ["synthetic_0003"]
    assert remote.loc["synthetic_0003"].drop("age").isna().all()
    pd.testing.assert_frame_equal(remote, local, check_exact=True)


def _search(cache_dir, n_jobs):
    pipe = make_pipeline(
        RadiomicsExtractor(**SETTINGS, n_jobs=1, cache_dir=cache_dir),
        TopKSelector(k=5, passthrough=None),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )
    grid = {"topkselector__k": [3, 8], "logisticregression__C": [0.1, 1.0]}
    return GridSearchCV(pipe, grid, cv=StratifiedKFold(3), scoring="roc_auc", n_jobs=n_jobs)


def test_grid_search_and_cross_validate_on_cluster_equal_local(client, tmp_path):
    X, y = _lesions(n=12, seed=1)
    local = _search(tmp_path / "cache-local", n_jobs=1).fit(X, y)

    with distributed.get_task_stream(client) as ts, joblib.parallel_config(backend="dask"):
        remote = _search(tmp_path / "cache-shared", n_jobs=-1).fit(X, y)
    assert len(ts.data) > 0
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(remote.best_score_, local.best_score_, rtol=1e-12)
    for key in ("mean_test_score", "std_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key], rtol=1e-12, err_msg=key)
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), rtol=1e-10)

    best = local.best_estimator_
    cv_local = cross_validate(best, X, y, cv=StratifiedKFold(3), scoring=["roc_auc", "accuracy"], n_jobs=1)
    with joblib.parallel_config(backend="dask"):
        cv_remote = cross_validate(best, X, y, cv=StratifiedKFold(3), scoring=["roc_auc", "accuracy"], n_jobs=-1)
    for key in ("test_roc_auc", "test_accuracy"):
        np.testing.assert_allclose(cv_remote[key], cv_local[key], rtol=1e-12, err_msg=key)


def test_encoder_and_fusion_cross_validate_on_cluster_equal_local(client, tiny_bert_dir, tmp_path):
    """The language-model stage and the fusion network under a Dask-backed cross_validate."""
    from sklearn.model_selection import cross_validate

    from sklearn_llmrad.pipelines import make_llmrad_pipeline

    X, y = _lesions(n=24)
    features = RadiomicsExtractor(**SETTINGS).fit_transform(X)

    def run():
        tail = make_llmrad_pipeline(
            k=6,
            language_model=str(tiny_bert_dir),
            encoder_params={"device": "cpu", "cache_dir": str(tmp_path / "embeddings")},
            classifier_params={"hidden_size": 8, "n_heads": 2, "max_epochs": 3, "batch_size": 8},
            device="cpu",
            random_state=0,
            fallback=None,  # the network alone keeps this test short
        )[2:]
        return cross_validate(tail, features, y, cv=3, scoring="roc_auc", n_jobs=2)["test_score"]

    local = run()
    with distributed.get_task_stream(client) as ts, joblib.parallel_config(backend="dask"):
        remote = run()
    assert _worker_keys(ts), "no task ran on the cluster"
    np.testing.assert_allclose(remote, local)
