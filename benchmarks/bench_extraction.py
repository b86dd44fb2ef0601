"""Benchmark the radiomics extraction stage.

(a) throughput of ``RadiomicsExtractor(n_jobs=2)`` against a plain sequential
    PyRadiomics loop over the same 60 small ROIs with the same settings
    (target >= 1.8x, issue 12); best of ``--repeats`` interleaved rounds, with
    the spread, since the machine is shared;
(b) warm-cache re-extraction against a cold run (target >= 50x);
(c) memory while extracting many ROIs in one ``transform`` call (target: flat,
    i.e. RSS growth per case of the order of the output row, a few kB).

Run ``python benchmarks/bench_extraction.py [--quick]``; the numbers are
printed and written to ``benchmarks/results/bench_extraction.json``.
Timings depend on the machine and on what else runs on it: the JSON records
the CPU count and the load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_llmrad.radiomics import RadiomicsExtractor, _make_extractor, _pyradiomics_params, _quiet

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_rois(n, *, seed=0, low=64, high=128):
    """z-scored float32 ROIs of 64-128 px with an elliptical lesion mask."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        size = int(rng.integers(low, high + 1))
        yy, xx = np.mgrid[:size, :size]
        image = rng.normal(size=(size, size)) + 2 * np.sin(xx / rng.uniform(2, 6)) + 0.02 * yy
        a, b = rng.uniform(0.2, 0.4, size=2) * size
        mask = (((yy - size / 2) / a) ** 2 + ((xx - size / 2) / b) ** 2 <= 1).astype(np.uint8)
        images.append(((image - image.mean()) / image.std()).astype(np.float32))
        masks.append(mask)
    return pd.DataFrame(
        {"image": images, "mask": masks, "age": rng.uniform(40, 80, n)},
        index=[f"synthetic_{i:04d}" for i in range(n)],
    )


def plain_pyradiomics_loop(X, est):
    """The baseline: one PyRadiomics extractor, a sequential loop, same settings."""
    import SimpleITK as sitk

    params = _pyradiomics_params(est)
    rows = []
    with _quiet():
        extractor = _make_extractor(params)
        for image, mask in zip(X["image"], X["mask"]):
            result = extractor.execute(
                sitk.GetImageFromArray(image.astype(np.float64)), sitk.GetImageFromArray(mask), label=1
            )
            rows.append({k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")})
    return pd.DataFrame(rows, index=X.index)


def _cpu_seconds():
    """User + system CPU time of this process and its live children (the workers)."""
    try:
        import psutil
    except ImportError:  # psutil is optional; then only this process is counted
        t = os.times()
        return t.user + t.system
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_throughput(n, settings, repeats=3):
    X = synthetic_rois(n, seed=1)
    est = RadiomicsExtractor(**settings, n_jobs=2, progress=False)
    # Start the worker pool and compute the feature names once, untimed: both
    # are one-off costs per session, reported separately.
    t0 = time.perf_counter()
    est.fit_transform(synthetic_rois(2, seed=99))
    startup = time.perf_counter() - t0

    seq = RadiomicsExtractor(**settings, n_jobs=1, progress=False)
    seq.fit(X.iloc[:1]).get_feature_names_out()
    runs = {
        "plain": lambda: plain_pyradiomics_loop(X, est),
        "n_jobs_2": lambda: est.transform(X),
        "n_jobs_1": lambda: seq.transform(X),
    }
    # The machine may be shared: alternate the variants over `repeats` rounds
    # (rotating their order) and keep each one's fastest time, so a burst of
    # outside load does not land on one variant only.
    times = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    outputs = {}
    order = list(runs)
    for r in range(repeats):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            c0 = _cpu_seconds()
            t0 = time.perf_counter()
            outputs[name] = runs[name]()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(_cpu_seconds() - c0)
    base, ours = outputs["plain"], outputs["n_jobs_2"]
    t_loop, t_par, t_seq = (min(times[k]) for k in ("plain", "n_jobs_2", "n_jobs_1"))
    features = ours.columns[:-1]
    same = np.allclose(base[features].to_numpy(), ours[features].to_numpy(), equal_nan=True)
    return {
        "n_rois": n,
        "n_features": int(len(features)),
        "plain_loop_s": t_loop,
        "extractor_n_jobs_2_s": t_par,
        "extractor_n_jobs_1_s": t_seq,
        "pool_and_names_startup_s": startup,
        "rois_per_s_plain": n / t_loop,
        "rois_per_s_n_jobs_2": n / t_par,
        "speedup_n_jobs_2_vs_plain": t_loop / t_par,
        "speedup_spread": [min(times["plain"]) / max(times["n_jobs_2"]), max(times["plain"]) / min(times["n_jobs_2"])],
        "overhead_n_jobs_1_vs_plain": t_seq / t_loop,
        "same_values_as_plain_loop": bool(same),
        "all_times_s": times,
        # CPU seconds per ROI (this process + its worker processes): unlike wall
        # time this hardly depends on outside load, and shows the per-ROI
        # overhead of RadiomicsExtractor over the plain loop.
        "cpu_s_per_roi": {k: min(v) / n for k, v in cpu.items()},
        "repeats": repeats,
        "target_speedup": 1.8,
    }


def bench_cache(n, settings):
    X = synthetic_rois(n, seed=2)
    with tempfile.TemporaryDirectory() as cache_dir:
        est = RadiomicsExtractor(**settings, cache_dir=cache_dir, progress=False)
        t0 = time.perf_counter()
        cold = est.fit_transform(X)
        t_cold = time.perf_counter() - t0
        # a fresh instance, as in the next CV fold or grid-search candidate
        warm_est = RadiomicsExtractor(**settings, cache_dir=cache_dir, progress=False)
        t0 = time.perf_counter()
        warm = warm_est.fit_transform(X)
        t_warm = time.perf_counter() - t0
    return {
        "n_rois": n,
        "cold_s": t_cold,
        "warm_s": t_warm,
        "speedup_warm_vs_cold": t_cold / t_warm,
        "identical": bool(cold.equals(warm)),
        "target_speedup": 50.0,
    }


def bench_memory(n, settings):
    X = synthetic_rois(n, seed=3)
    est = RadiomicsExtractor(**settings, n_jobs=1, progress=False)
    est.fit_transform(X.iloc[:3])  # imports, names: not part of the steady state
    samples = []
    stop = threading.Event()

    def sample():
        t_start = time.perf_counter()
        while not stop.is_set():
            samples.append((time.perf_counter() - t_start, _rss_bytes()))
            time.sleep(0.05)

    rss_before = _rss_bytes()
    tracemalloc.start()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    out = est.transform(X)
    elapsed = time.perf_counter() - t0
    stop.set()
    thread.join()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    t, rss = np.array(samples).T
    # Steady state: skip the first 20 % (allocator warm-up), fit RSS against
    # time, and convert to bytes per case with the measured throughput.
    keep = t >= 0.2 * t[-1]
    slope_per_s = np.polyfit(t[keep], rss[keep], 1)[0] if keep.sum() >= 3 else float("nan")
    per_case = slope_per_s * elapsed / n
    row_bytes = 8 * (out.shape[1] - 1)  # the float64 features of one output row
    return {
        "n_rois": n,
        "n_features": int(out.shape[1] - 1),
        "elapsed_s": elapsed,
        "rss_before_mb": rss_before / 2**20,
        "rss_peak_mb": float(rss.max()) / 2**20,
        "rss_growth_total_mb": float(rss.max() - rss_before) / 2**20,
        "rss_growth_per_case_kb": per_case / 1024,
        "output_row_kb": row_bytes / 1024,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "n_samples": int(len(samples)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ROIs (a smoke run)")
    parser.add_argument("--out", default=str(RESULTS / "bench_extraction.json"))
    parser.add_argument(
        "--parts",
        default="abc",
        help="which parts to run (a: throughput, b: cache, c: memory); the others are kept from an existing --out",
    )
    parser.add_argument("--n-throughput", type=int, default=60, help="ROIs in (a)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds in (a)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.is_file() and args.parts != "abc" else {}

    parser_n = args.n_throughput
    n_throughput, n_cache, n_memory = (12, 12, 150) if args.quick else (parser_n, 40, 1000)
    full = {}  # the default settings: every 2-D image type and feature class
    # The memory run extracts many ROIs; a reduced set keeps it within minutes
    # while exercising the same code path.
    reduced = {"image_types": ["Original", "Wavelet"]}

    info = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "quick": args.quick,
        "parts_run": args.parts,
    }
    print(f"machine: {info['cpu_count']} CPUs, load average {info['load_average_at_start']}")

    result["info"] = info
    if "a" in args.parts:
        load = os.getloadavg()
        throughput = result["throughput"] = {
            "load_average_before": load,
            **bench_throughput(n_throughput, full, repeats=args.repeats),
        }
        print(
            f"(a) {throughput['n_rois']} ROIs, {throughput['n_features']} features: plain loop "
            f"{throughput['plain_loop_s']:.1f}s, RadiomicsExtractor(n_jobs=2) "
            f"{throughput['extractor_n_jobs_2_s']:.1f}s -> {throughput['speedup_n_jobs_2_vs_plain']:.2f}x "
            f"(target 1.8x; rounds spread {throughput['speedup_spread'][0]:.2f}-"
            f"{throughput['speedup_spread'][1]:.2f}x); "
            f"n_jobs=1 overhead {throughput['overhead_n_jobs_1_vs_plain']:.2f}x; "
            f"same values: {throughput['same_values_as_plain_loop']}; CPU s/ROI "
            + ", ".join(f"{k} {v:.3f}" for k, v in throughput["cpu_s_per_roi"].items())
        )
    if "b" in args.parts:
        cache = result["cache"] = {"load_average_before": os.getloadavg(), **bench_cache(n_cache, full)}
        print(
            f"(b) {cache['n_rois']} ROIs: cold {cache['cold_s']:.1f}s, warm {cache['warm_s']:.3f}s "
            f"-> {cache['speedup_warm_vs_cold']:.0f}x (target 50x); identical: {cache['identical']}"
        )
    if "c" in args.parts:
        memory = result["memory"] = {"load_average_before": os.getloadavg(), **bench_memory(n_memory, reduced)}
        print(
            f"(c) {memory['n_rois']} ROIs ({memory['n_features']} features) in {memory['elapsed_s']:.0f}s: RSS "
            f"{memory['rss_before_mb']:.0f} -> peak {memory['rss_peak_mb']:.0f} MB, growth "
            f"{memory['rss_growth_per_case_kb']:.1f} kB/case (output row {memory['output_row_kb']:.1f} kB); "
            f"tracemalloc peak {memory['tracemalloc_peak_mb']:.1f} MB"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
