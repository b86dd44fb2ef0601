"""Extrapolate the wall time of a full ``llmrad benchmark`` from measured per-epoch and per-ROI times.

Setting (issue 12): 1,000 synthetic lesions, 5 folds (800 training lesions per
fold), the published configuration (200 epochs, K=500, width 768, 8 heads),
2 CPU cores. Nothing is run for hours: the estimate combines

- seconds per training epoch per variant: the reference network's epoch on
  an idle machine (``--reference-epoch-s``, 118 s for 1,000 lesions as
  measured for issue 12) divided by each variant's speed-up over the
  reference measured in the same run of ``results/bench_training.json``
  (CPU-time ratio), scaled to 800 lesions;
- extraction CPU seconds per ROI from ``results/bench_extraction.json``
  (``RadiomicsExtractor(n_jobs=2)``; 1,000 ROIs over 2 workers);
- the language-model encoding, from ``results/bench_encoder.json`` (cold
  transform of 1,000 lesions, scaled x5 for the folds).

Models: the method alone (``llmrad``) and the method with its two fusion
ablations (``wo-biobert``, ``wo-attention``, same network cost). The default
method lets a 3-fold inner CV choose between the network and its linear path
(``make_llmrad_pipeline(fallback="linear")``): three network fits on 2/3 of
the training data plus the refit, i.e. about 3 times the network's cost;
``hours_*_inner_cv_choice`` include it, the other columns are the network alone. The CNN
baselines and the SVC are not included (their cost does not depend on this
network; run ``llmrad benchmark --models ...`` without them for the fusion
comparison).

Run ``python benchmarks/estimate_full_benchmark.py [--epochs 200]``; writes
``results/estimate_full_benchmark.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-cv", type=int, default=3, help="inner folds of the default method's choice")
    parser.add_argument("--lesions", type=int, default=1000)
    parser.add_argument(
        "--reference-epoch-s",
        type=float,
        default=118.0,
        help="idle-machine seconds per epoch of the reference network, 1,000 lesions",
    )
    args = parser.parse_args(argv)
    training = json.loads((RESULTS / "bench_training.json").read_text())
    ref_cpu = next(r for r in training["runs"] if r["variant"] == "reference")["fit_cpu_seconds_per_epoch_scaled"]
    scale = (args.lesions * (args.folds - 1) / args.folds) / training["setting"]["n_lesions"]
    extraction = json.loads((RESULTS / "bench_extraction.json").read_text())["throughput"]
    cpu_per_roi = extraction["cpu_s_per_roi"]["n_jobs_2"]
    extraction_h = cpu_per_roi * args.lesions / 2 / 3600
    try:
        encoder = json.loads((RESULTS / "bench_encoder.json").read_text())
        encode_s = encoder["scenarios"]["random-clinical"]["by_n"]["1000"]["transform_cold_s"]
    except (OSError, KeyError):
        encode_s = 0.0
    encoder_h = encode_s * args.folds / 3600
    rows = {}
    print(
        f"extraction {extraction_h:.2f} h, language model {encoder_h:.2f} h "
        f"({args.folds} folds x {args.epochs} epochs x {args.lesions * (args.folds - 1) // args.folds} lesions)"
    )
    print(
        f"{'variant':17s} {'s/epoch idle':>12s} {'method h':>9s} {'+2 ablations h':>15s} "
        f"{'choice h':>9s} {'choice+abl. h':>15s}"
    )
    for run in training["runs"]:
        epoch_idle = args.reference_epoch_s * run["fit_cpu_seconds_per_epoch_scaled"] / ref_cpu * scale
        epoch_wall = run["seconds_per_epoch"] * scale
        fusion_h = epoch_idle * args.epochs * args.folds / 3600
        method_h = extraction_h + encoder_h + fusion_h
        all_h = extraction_h + encoder_h + 3 * fusion_h
        choice = 1 + (args.inner_cv - 1)  # inner_cv fits on (inner_cv - 1)/inner_cv of the data, + the refit
        rows[run["variant"]] = {
            "seconds_per_epoch_800_lesions_idle": epoch_idle,
            "seconds_per_epoch_800_lesions_wall_shared": epoch_wall,
            "hours_method_only": method_h,
            "hours_method_and_fusion_ablations": all_h,
            "hours_method_only_inner_cv_choice": extraction_h + encoder_h + choice * fusion_h,
            "hours_method_and_fusion_ablations_inner_cv_choice": extraction_h + encoder_h + 3 * choice * fusion_h,
        }
        print(
            f"{run['variant']:17s} {epoch_idle:12.1f} {method_h:9.1f} {all_h:15.1f} "
            f"{rows[run['variant']]['hours_method_only_inner_cv_choice']:9.1f} "
            f"{rows[run['variant']]['hours_method_and_fusion_ablations_inner_cv_choice']:15.1f}"
        )
    report = {
        "setting": vars(args),
        "extraction_hours": extraction_h,
        "language_model_hours": encoder_h,
        "variants": rows,
        "target_hours": 3.0,
        "note": "extrapolated from measured per-epoch and per-ROI times; CNN baselines excluded",
    }
    (RESULTS / "estimate_full_benchmark.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
