"""Benchmark feature selection and the statistics module.

(a) ``TopKSelector`` fit time on a radiomics-sized table (1,500 features x 300
    lesions, 1% missing, clinical columns, k=500) for ANOVA, mutual information
    and mRMR (target for mRMR with F relevance: a few seconds);
(b) ``summarize_predictions`` (2,000 paired stratified bootstraps, 5 metrics)
    and ``delong_test`` on 500 and 5,000 cases.

Run ``python benchmarks/bench_selection.py [--quick]``; the numbers are printed
and written to ``benchmarks/results/bench_selection.json``. Timings depend on
the machine and on its load: the JSON records the CPU count and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_llmrad.metrics import delong_test, summarize_predictions
from sklearn_llmrad.selection import TopKSelector

RESULTS = Path(__file__).resolve().parent / "results"


def radiomics_table(n, p, *, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = rng.normal(size=(n, p // 10))
    # correlated feature families, as filters of one image produce
    X = np.repeat(base, 10, axis=1) + rng.normal(0, 0.5, (n, p))
    X[:, :60] += 0.6 * y[:, None]
    X[rng.random((n, p)) < 0.01] = np.nan
    frame = pd.DataFrame(X, columns=[f"wavelet-{i // 100}_glcm_F{i}" for i in range(p)])
    frame["age"] = rng.integers(40, 80, n).astype(float)
    frame["density"] = rng.choice(list("ABCD"), n)
    return frame, y


def timed(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--out", default=str(RESULTS / "bench_selection.json"))
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    n, p, k = (100, 500, 200) if args.quick else (300, 1500, 500)

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0],
            "python": platform.python_version(),
        },
        "selection": {"n_samples": n, "n_features": p, "k": k},
        "metrics": {},
    }
    X, y = radiomics_table(n, p)
    configs = {
        "anova": dict(score_func="anova"),
        "mrmr_anova_quotient": dict(score_func="mrmr"),
        "mrmr_anova_difference": dict(score_func="mrmr", mrmr_scheme="difference"),
        "mutual_info": dict(score_func="mutual_info", random_state=0),
    }
    for name, params in configs.items():
        reps = 1 if name == "mutual_info" else repeats
        seconds = timed(lambda: TopKSelector(k, **params).fit(X, y), reps)
        result["selection"][f"{name}_fit_s"] = seconds
        print(f"TopKSelector({name}) fit {n}x{p} k={k}: {seconds:.2f} s")

    rng = np.random.default_rng(1)
    for size in (500, 5000):
        yy = rng.integers(0, 2, size)
        a = 1 / (1 + np.exp(-(rng.normal(size=size) + yy)))
        b = 1 / (1 + np.exp(-(rng.normal(size=size) + 0.8 * yy)))
        n_boot = 200 if args.quick else 2000
        s_sum = timed(lambda: summarize_predictions(yy, a, n_bootstraps=n_boot, random_state=0), 1)
        s_del = timed(lambda: delong_test(yy, a, b), repeats)
        result["metrics"][f"n{size}"] = {
            "summarize_predictions_s": s_sum,
            "n_bootstraps": n_boot,
            "delong_test_s": s_del,
        }
        print(f"n={size}: summarize_predictions ({n_boot} bootstraps) {s_sum:.2f} s, delong_test {1000 * s_del:.1f} ms")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"written {out}")


if __name__ == "__main__":
    main()
