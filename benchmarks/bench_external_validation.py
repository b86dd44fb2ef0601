"""Does a model trained at one pixel size keep its AUC at another? (issue 21, item 4)

External validation on a synthetic pair (``run_benchmark(test=...)``): models are
trained on all of ``--n`` synthetic lesions rendered with 50 um pixels
(``make_synthetic_mammograms(pixel_size=0.05)``) and tested on ``--n`` other
lesions (another seed), once rendered at the training resolution (the held-out
AUC) and once area-averaged 4 x 4 to 200 um pixels (``coarsen_mammograms``: what
a detector with 4x larger pixels records). Each pair is run with resampling to
the package default (``resample_to=0.1`` mm, CLAHE and radiomics) and without
(``resample_to=None``: pixel units, the behaviour before issue 21).

Target (issue 21): with resampling, AUC drop from 50 um to 200 um <= 0.03.

Run ``python benchmarks/bench_external_validation.py [--quick]``; numbers are
printed and written to ``benchmarks/results/external_validation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

from sklearn_llmrad.benchmark import run_benchmark
from sklearn_llmrad.datasets import coarsen_mammograms, make_synthetic_mammograms

RESULTS = Path(__file__).resolve().parent / "results"
FINE_MM = 0.05
FACTOR = 4
#: A cheap extraction (the invariance benchmark covers every image type and class).
EXTRACTOR = {
    "image_types": ["Original", "LoG"],
    "feature_classes": ["firstorder", "shape2D", "glcm", "glrlm"],
    "log_sigma": (0.5, 1.0),
    "progress": False,
}


def synthetic_pair(n, image_size, seed):
    """Training lesions at 50 um; other lesions at 50 um and the same ones at 200 um."""
    kwargs = {"image_size": image_size, "lesions_per_patient": 1, "pixel_size": FINE_MM}
    train = make_synthetic_mammograms(n, random_state=seed, **kwargs)
    held_out = make_synthetic_mammograms(n, random_state=seed + 1, **kwargs)
    return train, held_out, coarsen_mammograms(held_out.frame, FACTOR)


def external_aucs(train, held_out, coarse, *, models, resample_to, n_bootstraps=200, seed=0):
    """AUC of each model on the held-out lesions at 50 um and at 200 um."""
    settings = {
        "models": models,
        "extractor_params": {**EXTRACTOR, "resample_to": resample_to},
        "preprocessor_params": {"resample_to": resample_to},
        "language_model": None,
        "n_bootstraps": n_bootstraps,
        "random_state": seed,
        "log": lambda _: None,
    }
    aucs = {}
    for name, X_test in (("50um", held_out.frame), ("200um", coarse)):
        with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = run_benchmark(
                train.frame,
                train.target,
                train.groups,
                test=(X_test, held_out.target),
                out_dir=out,
                **settings,
            )
        for _, row in result.table.iterrows():
            aucs.setdefault(row["name"], {})[name] = round(float(row["auc"]), 4)
    for model in aucs.values():
        model["drop"] = round(model["50um"] - model["200um"], 4)
    return aucs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120, help="lesions in each dataset")
    parser.add_argument("--image-size", type=int, default=1024, help="pixels per side at 50 um")
    parser.add_argument("--models", default="radiomics-svc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="40 lesions of 512 px")
    parser.add_argument("--out", type=Path, default=RESULTS / "external_validation.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.image_size = 40, 512
        args.out = args.out.with_name(args.out.stem + "_quick.json")
    models = args.models.split(",")
    start = time.perf_counter()
    train, held_out, coarse = synthetic_pair(args.n, args.image_size, args.seed)
    results = {
        "setup": {
            "lesions_per_dataset": args.n,
            "image_size_px_at_50um": args.image_size,
            "train": f"make_synthetic_mammograms(random_state={args.seed}, pixel_size={FINE_MM})",
            "test": f"random_state={args.seed + 1}: at {FINE_MM} mm and coarsened {FACTOR}x4 to {FINE_MM * FACTOR} mm",
            "extractor": EXTRACTOR,
            "models": models,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "target": "with resampling: AUC(50um) - AUC(200um) <= 0.03",
    }
    for label, target in (("resample_to_0.1mm", 0.1), ("without_resampling", None)):
        results[label] = external_aucs(train, held_out, coarse, models=models, resample_to=target, seed=args.seed)
        print(label, results[label], flush=True)
    results["seconds"] = round(time.perf_counter() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.out}")
    return results


if __name__ == "__main__":
    main()
