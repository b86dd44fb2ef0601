"""Do the features depend on the pixel size? (issue 21, physical units)

The same synthetic lesions (``make_synthetic_mammograms``) are rendered with
50 um pixels and, area-averaged over 4 x 4 blocks (``coarsen_mammograms``),
with 200 um pixels: what a detector with 4x larger pixels would record. Both
renderings go through the default image stages (``CLAHEPreprocessor`` then
``RadiomicsExtractor``, all image types and feature classes):

* without resampling (``resample_to=None``: pixel units, the behaviour before
  issue 21), and
* with resampling to each target in ``--targets`` (default 0.1 mm, the
  package default, and 0.2 mm).

Each condition is run with the default CLAHE (``clip_limit=0.01``), with
CLAHE's contextual regions at least 4 mm (``min_tile_mm=4``, resampled
conditions only) and with CLAHE off (``clip_limit=None``: crop, rescale, z-score only), which
isolates the resampling and extraction from CLAHE's own sensitivity to the
pixel noise (its contextual regions are 1/8 of the crop: a few pixels for a
small lesion).

For each feature: Spearman's rank correlation over the lesions between the two
renderings, and the median relative difference ``|a - b| / ((|a| + |b|) / 2)``;
summarised overall, by feature class (firstorder, shape2D, glcm, ...) and by
image type (original, log, wavelet, ...). Features constant over the lesions in
either rendering (no ranks) or missing (NaN: a LoG sigma larger than the ROI)
are counted and left out. Targets: with resampling, median Spearman >= 0.9 and
>= 80 % of features >= 0.8.

Time: the two stages on the same lesions (both renderings), without and with
resampling, interleaved rounds, best of ``--repeats``; the ratio with/without
(target <= 1.3).

Run ``python benchmarks/bench_spacing_invariance.py [--quick]``; numbers are
printed and written to ``benchmarks/results/bench_spacing_invariance.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from sklearn_llmrad import CLAHEPreprocessor, RadiomicsExtractor
from sklearn_llmrad.datasets import coarsen_mammograms, make_synthetic_mammograms

RESULTS = Path(__file__).resolve().parent / "results"
FINE_MM = 0.05
FACTOR = 4


def lesions(n, image_size, seed):
    """``n`` lesions at 50 um and the same at 200 um (one view per patient: independent lesions)."""
    fine, _ = make_synthetic_mammograms(
        n, image_size=image_size, lesions_per_patient=1, pixel_size=FINE_MM, return_X_y=True, random_state=seed
    )
    return fine, coarsen_mammograms(fine, FACTOR)


def extract(X, target, clahe=None, **extractor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        crops = CLAHEPreprocessor(resample_to=target, **(clahe or {})).fit_transform(X)
        return RadiomicsExtractor(resample_to=target, progress=False, **extractor).fit_transform(crops)


def feature_class(name):
    image_type, klass = name.split("_")[:2]
    return image_type.split("-")[0], klass


def compare(fine, coarse):
    """Per-feature Spearman and relative difference between two renderings."""
    rows = []
    for name in fine.columns:
        if name in ("age", "density", "history"):
            continue
        a, b = fine[name].to_numpy(float), coarse[name].to_numpy(float)
        image_type, klass = feature_class(name)
        row = {"feature": name, "image_type": image_type, "class": klass}
        if np.isnan(a).any() or np.isnan(b).any():
            row["status"] = "missing"
        elif np.ptp(a) == 0 or np.ptp(b) == 0:
            row["status"] = "constant"
        else:
            row["status"] = "ok"
            row["spearman"] = float(spearmanr(a, b).statistic)
            scale = (np.abs(a) + np.abs(b)) / 2
            rel = np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1), 0.0)
            row["relative_difference"] = float(np.median(rel))
        rows.append(row)
    return pd.DataFrame(rows)


def summary(table):
    ok = table[table["status"] == "ok"]

    def stats(part):
        rho = part["spearman"]
        return {
            "n_features": int(len(part)),
            "median_spearman": round(float(rho.median()), 4),
            "share_spearman_ge_0_8": round(float((rho >= 0.8).mean()), 4),
            "median_relative_difference": round(float(part["relative_difference"].median()), 4),
        }

    return {
        "overall": stats(ok),
        "n_missing": int((table["status"] == "missing").sum()),
        "n_constant": int((table["status"] == "constant").sum()),
        "by_class": {k: stats(v) for k, v in ok.groupby("class")},
        "by_image_type": {k: stats(v) for k, v in ok.groupby("image_type")},
    }


def timing(fine, coarse, targets, repeats):
    both = pd.concat([fine, coarse.set_axis([f"{c}_coarse" for c in coarse.index])])
    best = {str(t): np.inf for t in targets}
    for _ in range(repeats):  # interleaved rounds: the machine is shared
        for target in targets:
            start = time.perf_counter()
            extract(both, target)
            best[str(target)] = min(best[str(target)], time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="lesions (>= 20 for the issue's targets)")
    parser.add_argument("--image-size", type=int, default=1024, help="pixels per side at 50 um")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="8 lesions of 512 px, one timing round")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_spacing_invariance.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.image_size, args.repeats = 8, 512, 1
        args.out = args.out.with_name(args.out.stem + "_quick.json")

    fine, coarse = lesions(args.n, args.image_size, args.seed)
    results = {
        "setup": {
            "lesions": args.n,
            "image_size_px_at_50um": args.image_size,
            "fine_mm": FINE_MM,
            "coarse_mm": FINE_MM * FACTOR,
            "stages": "CLAHEPreprocessor() -> RadiomicsExtractor() defaults (all image types and classes)",
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "invariance": {},
    }
    conditions = (
        ("clahe", {}, [None, *args.targets]),
        ("clahe_min_tile_4mm", {"min_tile_mm": 4.0}, args.targets),  # no effect without resampling
        ("no_clahe", {"clip_limit": None}, [None, *args.targets]),
    )
    for name, clahe, targets in conditions:
        for target in targets:
            label = f"{name}/" + ("without_resampling" if target is None else f"resample_to_{target:g}mm")
            table = compare(extract(fine, target, clahe), extract(coarse, target, clahe))
            results["invariance"][label] = summary(table)
            overall = results["invariance"][label]["overall"]
            print(
                f"{label:33s} median Spearman {overall['median_spearman']:.3f}, "
                f">= 0.8: {overall['share_spearman_ge_0_8']:.1%} of {overall['n_features']} features, "
                f"median relative difference {overall['median_relative_difference']:.3f}",
                flush=True,
            )
    seconds = timing(fine, coarse, [None, *args.targets], args.repeats)
    base = seconds["None"]
    results["time_s"] = {
        "without_resampling": round(base, 2),
        **{f"resample_to_{t:g}mm": round(seconds[str(t)], 2) for t in args.targets},
    }
    results["time_ratio_vs_without"] = {f"resample_to_{t:g}mm": round(seconds[str(t)] / base, 3) for t in args.targets}
    print("time (s):", results["time_s"], "ratio:", results["time_ratio_vs_without"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")
    return results


if __name__ == "__main__":
    main()
