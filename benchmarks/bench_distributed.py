"""Benchmark: radiomics extraction on a Dask cluster against local joblib.

Measures extraction throughput (ROIs per second) of :class:`RadiomicsExtractor`
for the same synthetic ROIs and settings, each run with a fresh, empty cache:

- ``local n_jobs=1``: one process, no parallelism (reference);
- ``local n_jobs=2``: joblib's default (loky) backend with two workers;
- ``dask 1 worker``: ``LocalCluster(n_workers=1, threads_per_worker=1)``;
- ``dask 2 workers``: ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``,

the Dask runs through ``joblib.parallel_config(backend="dask")``. Cluster
start-up time is reported separately and not included in the throughput.
Each configuration runs ``--repeats`` times; the median is reported, and the
features of every run are checked to equal the sequential reference.

Caveat: the development machine has 2 cores *shared with other jobs*; numbers
from it bound scaling from below and vary run to run. On a dedicated machine,
2 workers should approach 2x the single-worker throughput for ROIs this size,
and Dask should match loky minus a small per-task scheduling overhead.

Run: ``python benchmarks/bench_distributed.py [--n 48] [--size 96] [--repeats 3]``.
Writes ``benchmarks/results/bench_distributed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SETTINGS = dict(image_types=["Original", "Wavelet", "LoG"], log_sigma=(1.0, 2.0),
                feature_classes=["firstorder", "glcm", "glrlm"], progress=False)


def make_rois(n, size, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, masks = [], []
    for i in range(n):
        images.append(np.sin(xx / (3.0 + i % 5)) + 0.02 * yy + rng.normal(scale=0.5 + (i % 2), size=(size, size)))
        r = size // 3 + i % 5
        masks.append((((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= r * r).astype(np.uint8))
    return pd.DataFrame({"image": images, "mask": masks}, index=[f"roi_{i:04d}" for i in range(n)])


def timed(X, *, n_jobs=None, backend=None):
    import joblib

    from sklearn_llmrad import RadiomicsExtractor

    with tempfile.TemporaryDirectory() as cache:
        extractor = RadiomicsExtractor(**SETTINGS, n_jobs=n_jobs, cache_dir=cache)
        extractor._config()  # feature-name discovery is not part of the throughput
        start = time.perf_counter()
        if backend is None:
            out = extractor.fit_transform(X)
        else:
            with joblib.parallel_config(backend=backend):
                out = extractor.fit_transform(X)
        return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48, help="number of ROIs")
    parser.add_argument("--size", type=int, default=96, help="ROI side in pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_distributed.json"))
    args = parser.parse_args()

    from dask.distributed import Client, LocalCluster

    X = make_rois(args.n, args.size)
    results = {}

    def run(name, **kwargs):
        times, reference = [], results.get("_reference")
        for _ in range(args.repeats):
            elapsed, out = timed(X, **kwargs)
            if reference is None:
                results["_reference"] = reference = out
            pd.testing.assert_frame_equal(out, reference, check_exact=True)
            times.append(elapsed)
        median = statistics.median(times)
        results[name] = {"seconds": times, "median_s": median, "rois_per_s": args.n / median}
        print(f"{name:<18} median {median:7.2f} s   {args.n / median:6.2f} ROI/s   runs {[round(t, 2) for t in times]}")

    run("local n_jobs=1", n_jobs=1)
    run("local n_jobs=2", n_jobs=2)
    for workers in (1, 2):
        start = time.perf_counter()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        startup = time.perf_counter() - start
        try:
            run(f"dask {workers} worker" + ("s" if workers > 1 else ""), backend="dask")
        finally:
            client.close()
            cluster.close()
        results[f"dask {workers} worker" + ("s" if workers > 1 else "")]["cluster_startup_s"] = startup
        print(f"  (cluster start-up {startup:.1f} s, not included)")
    results.pop("_reference")

    def ratio(a, b):
        return results[a]["rois_per_s"] / results[b]["rois_per_s"]

    summary = {
        "dask_2_vs_1_worker": ratio("dask 2 workers", "dask 1 worker"),
        "dask_2_workers_vs_local_n_jobs_2": ratio("dask 2 workers", "local n_jobs=2"),
        "local_n_jobs_2_vs_1": ratio("local n_jobs=2", "local n_jobs=1"),
    }
    for key, value in summary.items():
        print(f"{key:<36} {value:5.2f}x")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    report = {
        "benchmark": "bench_distributed",
        "n_rois": args.n,
        "roi_size": args.size,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in SETTINGS.items()},
        "repeats": args.repeats,
        "results": results,
        "summary": summary,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_at_end": load,
                    "note": "shared 2-core machine, other jobs running: numbers are noisy lower bounds"},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
