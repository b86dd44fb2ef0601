"""Benchmark one training epoch of :class:`LLMRadiomicsClassifier` on the CPU, old vs new.

Setting (the published scale): 1,000 lesions, K=500 selected features, language
model width D=768 (BioBERT), T=4 clinical tokens, batch size 32, 2 CPU
threads; hidden size 768 (the published default) and 128. Reports seconds per
training epoch (skorch's ``EpochTimer``; no internal validation), the fit's
wall time (including building the network) and the time to predict the 1,000
lesions.

Variants (issue 12), timed in the same run, interleaved over ``--repeats``
rounds (fastest round kept), each reported as a ratio to ``reference``:

- ``reference``: the plain per-token network (the pre-issue-12 forward,
  :class:`sklearn_llmrad._testing.ReferenceFusionModule`), width 768;
- ``factorised``: the default network (same maths, factorised forward), width 768;
- ``no-token-dropout``: width 768, ``module__token_dropout=0``;
- ``fast-preset``: width 128, ``module__token_dropout=0`` (see the AUC
  comparison in ``bench_fusion_auc.py``);
- ``narrow-ffn``: width 768, ``module__token_dropout=0``, ``module__ffn_factor=0.25``;
- ``group-tokens``: width 768, ``feature_tokens="group"`` (one token per image
  type and feature class: about 90 tokens for 500 features);
- ``class-tokens``: width 768, ``feature_tokens="class"`` (one token per
  feature class: 7 tokens).

The features are named as PyRadiomics names them (a seeded sample of the
1,497 names :class:`~sklearn_llmrad.radiomics.RadiomicsExtractor` produces),
so the grouped variants see the published feature mix.

Run ``python benchmarks/bench_training.py [--quick] [--variants ...]
[--subset 96]``; ``--subset`` times the epoch on fewer lesions and scales
seconds/epoch linearly to ``--n`` (flagged in the JSON). The
numbers are printed and written to ``benchmarks/results/bench_training.json``.
Timings depend on what else runs on the machine: the JSON records the CPU
count and the load average before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from sklearn_llmrad._testing import ReferenceFusionModule
from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.models import LLMRadiomicsClassifier

RESULTS = Path(__file__).resolve().parent / "results"

VARIANTS = {
    "reference": dict(hidden_size=768, module=ReferenceFusionModule),
    "factorised": dict(hidden_size=768),
    "no-token-dropout": dict(hidden_size=768, module__token_dropout=0.0),
    "fast-preset": dict(hidden_size=128, module__token_dropout=0.0),
    "narrow-ffn": dict(hidden_size=768, module__token_dropout=0.0, module__ffn_factor=0.25),
    "group-tokens": dict(hidden_size=768, feature_tokens="group"),
    "class-tokens": dict(hidden_size=768, feature_tokens="class"),
}


def radiomics_names(k, *, seed=0):
    """``k`` of the 1,497 PyRadiomics feature names the extractor produces (seeded sample)."""
    import pandas as pd

    from sklearn_llmrad.radiomics import RadiomicsExtractor

    extractor = RadiomicsExtractor(progress=False).fit(pd.DataFrame({"image": ["-"], "mask": ["-"]}))
    names = [n for n in extractor.get_feature_names_out() if n.count("_") >= 2]
    pick = np.random.default_rng(seed).choice(len(names), size=min(k, len(names)), replace=False)
    return [names[i] for i in sorted(pick)]


def synthetic_semantic(n, k, d, t, *, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, k)).astype(np.float32)
    y = (values[:, 0] + values[:, 1] > 0).astype(int)
    X = SemanticFeatures(
        values,
        rng.normal(size=(k, d)).astype(np.float32),
        rng.normal(size=(n, t, d)).astype(np.float32),
        rng.random((n, t)) > 0.2,
        radiomics_names(k, seed=seed),
    )
    return X, y


def run(variant, X, y, *, epochs, batch_size, subset=None):
    n = len(y)
    if subset is not None and subset < n:
        # Time an epoch over the first `subset` lesions and scale to n: the
        # cost is linear in the number of batches (same K, T, batch size).
        X, y = X[:subset], y[:subset]
    scale = n / len(y)
    clf = LLMRadiomicsClassifier(
        n_heads=8,
        max_epochs=epochs,
        batch_size=batch_size,
        early_stopping=False,
        device="cpu",
        random_state=0,
        **VARIANTS[variant],
    )
    load = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    clf.fit(X, y)
    fit_s = time.perf_counter() - start
    # CPU seconds of this process (all threads): less sensitive than wall
    # time to other jobs on a shared machine; / threads ~ unloaded wall time.
    fit_cpu_s = time.process_time() - cpu_start
    start = time.perf_counter()
    clf.predict_proba(X)
    predict_s = time.perf_counter() - start
    epoch_s = [float(d) for d in clf.history[:, "dur"]]
    n_params = sum(p.numel() for p in clf.module_.parameters())
    return {
        "variant": variant,
        "hidden_size": VARIANTS[variant]["hidden_size"],
        "seconds_per_epoch": float(np.median(epoch_s)) * scale,
        "extrapolated_from_lesions": None if scale == 1 else len(y),
        "epoch_seconds": epoch_s,
        "fit_wall_seconds": fit_s,
        "fit_cpu_seconds": fit_cpu_s,
        "fit_cpu_seconds_per_epoch_scaled": fit_cpu_s / epochs * scale,
        "predict_seconds": predict_s,
        "n_parameters": int(n_params),
        "load_average_before": load,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--t", type=int, default=4)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        help="train the timed epoch on only this many lesions and scale seconds/epoch to "
        "--n; for the slow reference on a shared machine",
    )
    parser.add_argument("--quick", action="store_true", help="200 lesions, K=100 (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.k = 200, 100
    torch.set_num_threads(args.threads)
    X, y = synthetic_semantic(args.n, args.k, args.d, args.t)
    rounds = {v: [] for v in args.variants}
    for r in range(args.repeats):
        # rotate the order so that a burst of outside load does not hit one variant only
        order = args.variants[r % len(args.variants) :] + args.variants[: r % len(args.variants)]
        for variant in order:
            result = run(variant, X, y, epochs=args.epochs, batch_size=args.batch_size, subset=args.subset)
            rounds[variant].append(result)
            print(
                f"round {r}  {variant:17s} {result['seconds_per_epoch']:8.2f} s/epoch  cpu/epoch "
                f"{result['fit_cpu_seconds_per_epoch_scaled']:8.1f} s  (load {result['load_average_before']:.1f})",
                flush=True,
            )
    runs = []
    for results in rounds.values():
        best = min(results, key=lambda r: r["seconds_per_epoch"])
        best = dict(best)
        best["seconds_per_epoch_all_rounds"] = [r["seconds_per_epoch"] for r in results]
        best["fit_cpu_seconds_per_epoch_scaled"] = min(r["fit_cpu_seconds_per_epoch_scaled"] for r in results)
        runs.append(best)
    ref = next((r for r in runs if r["variant"] == "reference"), None)
    print(
        f"\n{'variant':17s} {'s/epoch':>9s} {'cpu s/ep':>9s} {'x wall':>7s} {'x cpu':>7s}  (scaled to {args.n} lesions)"
    )
    for r in runs:
        if ref is not None:
            r["speedup_vs_reference_wall"] = ref["seconds_per_epoch"] / r["seconds_per_epoch"]
            r["speedup_vs_reference_cpu"] = (
                ref["fit_cpu_seconds_per_epoch_scaled"] / r["fit_cpu_seconds_per_epoch_scaled"]
            )
        print(
            f"{r['variant']:17s} {r['seconds_per_epoch']:9.2f} {r['fit_cpu_seconds_per_epoch_scaled']:9.1f} "
            f"{r.get('speedup_vs_reference_wall', float('nan')):7.2f} "
            f"{r.get('speedup_vs_reference_cpu', float('nan')):7.2f}"
        )
    report = {
        "benchmark": "bench_training",
        "setting": {
            "n_lesions": args.n,
            "K": args.k,
            "D": args.d,
            "T": args.t,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "threads": args.threads,
            "subset": args.subset,
            "repeats": args.repeats,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "note": "shared machine (other processes running); ratios within the run are "
            "what counts, CPU seconds are less load-sensitive than wall seconds",
        },
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "bench_training_quick.json" if args.quick else "bench_training.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    print(f"written to {RESULTS / name}")
    return report


if __name__ == "__main__":
    main()
