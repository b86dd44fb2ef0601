"""GPU readiness: the published network and the default pipeline on a CUDA device.

On a machine with CUDA this script

1. times one training epoch of the published fusion network
   (:class:`~sklearn_llmrad.LLMRadiomicsClassifier` at its defaults: hidden size
   768, 8 heads, batch 32; K = 500 features with 768-d name and clinical
   embeddings, ``--n`` lesions of random inputs) in float32 and under automatic
   mixed precision (``mixed_precision=True``, the default on CUDA), and the same
   epoch on the CPU in float32 (timed on at most 256 lesions, scaled); the ratios are printed;
2. checks AMP against float32: both networks are trained for ``--epochs``
   epochs from the same seed on a learnable synthetic task and their
   held-out probabilities compared (max and mean ``|dp|``, AUC of each); the
   check fails when the AUCs differ by more than 0.02 or the mean ``|dp|``
   exceeds 0.05 (fp16 rounding changes the trajectory, not the answer);
3. runs the default pipeline (:func:`~sklearn_llmrad.pipelines.make_llmrad_pipeline`:
   CLAHE, PyRadiomics, Top-K, BioBERT encoder, the network against its linear
   path by inner CV) end to end with ``device="cuda"`` on synthetic mammograms,
   and prints the time per stage and the held-out AUC.

It prints the device name first. Exit status: 0 when every check passed, 1 when
a check failed, 3 when no CUDA device is visible (nothing was run: the message
says so). ``--cpu-dry-run`` runs every step on the CPU at toy sizes (a tiny
BERT, a 64-wide network) so that the script itself is tested without a GPU
(``tests/test_scale.py``); its numbers mean nothing about speed, and AMP is
inactive on the CPU (the "amp" run then equals float32).

The language model of step 3 is BioBERT by default (downloaded by the Hugging
Face hub, or from its cache); pass ``--language-model PATH`` on a machine
without network access.

Run: ``python benchmarks/gpu_check.py [--n 2000] [--epochs 20] [--lesions 120]``;
writes ``benchmarks/results/gpu_check.json`` (not in the dry run unless
``--out`` is given).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NO_CUDA = 3


def _inputs(n, k, dim, *, seed, informative=10):
    """Random SemanticFeatures with a label that depends on a few features."""
    from sklearn_llmrad.semantic_features import SemanticFeatures

    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, k)).astype(np.float32)
    weights = np.zeros(k, dtype=np.float32)
    weights[:informative] = rng.standard_normal(informative)
    y = (values @ weights + 0.5 * rng.standard_normal(n) > 0).astype(np.int64)
    names = [f"original_firstorder_Feature{i}" for i in range(k)]
    embeddings = np.random.default_rng(0).standard_normal((k, dim)).astype(np.float32)
    clinical = rng.standard_normal((n, dim)).astype(np.float32)
    return SemanticFeatures(values, embeddings, clinical, feature_names=names), y


def _network(device, amp, sizes, epochs, seed=0):
    from sklearn_llmrad import LLMRadiomicsClassifier

    return LLMRadiomicsClassifier(
        device=device,
        mixed_precision=amp,
        max_epochs=epochs,
        hidden_size=sizes["hidden"],
        n_heads=sizes["heads"],
        random_state=seed,
    )


def _sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def epoch_seconds(device, amp, sizes, X, y, epochs=3):
    """Median duration of an epoch (skorch's per-epoch ``dur``), after a warm-up fit."""
    _network(device, amp, sizes, 1).fit(X, y)  # CUDA context, kernels, allocator
    _sync(device)
    net = _network(device, amp, sizes, epochs).fit(X, y)
    _sync(device)
    return float(np.median(net.history[:, "dur"]))


def amp_vs_fp32(device, sizes, X, y, X_test, y_test, epochs):
    from sklearn.metrics import roc_auc_score

    out = {}
    for name, amp in (("fp32", False), ("amp", True)):
        proba = _network(device, amp, sizes, epochs).fit(X, y).predict_proba(X_test)[:, 1]
        out[name] = proba
    dp = np.abs(out["amp"] - out["fp32"])
    auc = {name: float(roc_auc_score(y_test, p)) for name, p in out.items()}
    return {
        "max_abs_dp": float(dp.max()),
        "mean_abs_dp": float(dp.mean()),
        "auc_fp32": auc["fp32"],
        "auc_amp": auc["amp"],
        "passed": bool(abs(auc["amp"] - auc["fp32"]) <= 0.02 and dp.mean() <= 0.05),
    }


def pipeline_end_to_end(device, args, tmp):
    """The default pipeline on synthetic mammograms, fitted on two thirds of the patients (stratified, grouped)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    from sklearn_llmrad.datasets import make_synthetic_mammograms
    from sklearn_llmrad.pipelines import make_llmrad_pipeline

    dry = args.cpu_dry_run
    data = make_synthetic_mammograms(
        args.lesions, image_size=64 if dry else 256, pixel_size=0.4 if dry else 0.1, random_state=0
    )
    X, y, groups = data.frame, np.asarray(data.target), np.asarray(data.groups)
    train, test = next(StratifiedGroupKFold(3, shuffle=True, random_state=0).split(X, y, groups))
    kwargs = {}
    if dry:
        kwargs = dict(
            k=10,
            inner_cv=2,
            classifier_params={"max_epochs": 2, "hidden_size": 32, "n_heads": 2},
            extractor_params={"image_types": ["Original"], "feature_classes": ["firstorder", "glcm"]},
        )
    pipe = make_llmrad_pipeline(
        language_model=args.language_model,
        device=device,
        random_state=0,
        refit="all",  # both candidates fitted: the network is checked on the device whichever is chosen
        cache_dir=str(Path(tmp) / "cache"),
        n_jobs=args.n_jobs,
        **kwargs,
    )
    head = pipe[:2]  # CLAHE and radiomics: CPU stages, timed apart
    start = time.perf_counter()
    head.fit_transform(X)
    extraction = time.perf_counter() - start
    start = time.perf_counter()
    pipe.fit(X.iloc[train], y[train])  # extraction now reads the cache
    _sync(device)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    proba = pipe.predict_proba(X.iloc[test])[:, 1]
    predict = time.perf_counter() - start
    choice = pipe.named_steps["choice"]
    network = choice.estimators_["llmrad"].named_steps["fusion"]
    return {
        "lesions": len(X),
        "extraction_s": extraction,
        "fit_s_after_extraction": fit,
        "predict_s": predict,
        "auc_held_out": float(roc_auc_score(y[test], proba)),
        "chosen": str(choice.choice_),
        "network_device": str(next(network.module_.parameters()).device),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-dry-run", action="store_true", help="every step on the CPU at toy sizes")
    parser.add_argument("--n", type=int, default=2000, help="lesions of the epoch timing")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the AMP vs fp32 check")
    parser.add_argument("--lesions", type=int, default=120, help="synthetic mammograms of the pipeline run")
    parser.add_argument("--language-model", default=None, help="language model id or folder (default BioBERT)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="extraction workers of the pipeline run")
    parser.add_argument("--out", default=None, help="JSON results file")
    args = parser.parse_args(argv)

    import torch

    if args.cpu_dry_run:
        device, name = "cpu", "dry run: toy sizes, AMP inactive"
        sizes = {"k": 32, "dim": 32, "hidden": 64, "heads": 4}
        args.n, args.epochs, args.lesions = min(args.n, 64), min(args.epochs, 2), min(args.lesions, 24)
        args.n_jobs = 1
    elif not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); nothing was run. "
            "Run it on a machine with a GPU, or with --cpu-dry-run to test the script itself.",
            file=sys.stderr,
        )
        return NO_CUDA
    else:
        device, name = "cuda", torch.cuda.get_device_name(0)
        sizes = {"k": 500, "dim": 768, "hidden": 768, "heads": 8}
    print(f"device: {device} ({name}); torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        if args.language_model is None:
            if args.cpu_dry_run:
                from sklearn_llmrad._testing import save_tiny_bert

                args.language_model = str(save_tiny_bert(Path(tmp) / "tiny-bert"))
            else:
                from sklearn_llmrad.language_model import BIOBERT_MODEL

                args.language_model = BIOBERT_MODEL

        X, y = _inputs(args.n, sizes["k"], sizes["dim"], seed=1)
        # the CPU epoch on at most 256 lesions (minutes otherwise), scaled to args.n: an epoch is linear in them
        n_cpu = min(args.n, 256)
        timings = {
            "fp32": epoch_seconds(device, False, sizes, X, y),
            "amp": epoch_seconds(device, True, sizes, X, y),
            "cpu_fp32": epoch_seconds("cpu", False, sizes, X[:n_cpu], y[:n_cpu], epochs=1) * args.n / n_cpu,
        }
        for key, seconds in timings.items():
            print(f"epoch {key:<8} {seconds:8.3f} s  ({args.n} lesions, K={sizes['k']}, hidden {sizes['hidden']})")
        if n_cpu < args.n:
            print(f"  (cpu_fp32 timed on {n_cpu} lesions and scaled)")
        ratios = {
            "epoch_fp32_over_amp": timings["fp32"] / timings["amp"],
            "epoch_cpu_fp32_over_device_amp": timings["cpu_fp32"] / timings["amp"],
        }
        for key, value in ratios.items():
            print(f"ratio {key:<32} {value:6.2f}x")

        X_test, y_test = _inputs(max(args.n // 2, 32), sizes["k"], sizes["dim"], seed=2)
        check = amp_vs_fp32(device, sizes, X, y, X_test, y_test, args.epochs)
        print(
            f"amp vs fp32 max |dp| {check['max_abs_dp']:.4f}, mean |dp| {check['mean_abs_dp']:.4f}, "
            f"AUC fp32 {check['auc_fp32']:.3f} amp {check['auc_amp']:.3f}: "
            f"{'PASS' if check['passed'] else 'FAIL'}"
        )

        pipeline = pipeline_end_to_end(device, args, tmp)
        print(
            f"pipeline end to end on {device}: {pipeline['lesions']} lesions, "
            f"extraction {pipeline['extraction_s']:.1f} s, "
            f"fit {pipeline['fit_s_after_extraction']:.1f} s, predict {pipeline['predict_s']:.1f} s, "
            f"held-out AUC {pipeline['auc_held_out']:.3f}, chosen {pipeline['chosen']}, "
            f"network on {pipeline['network_device']}"
        )

    report = {
        "benchmark": "gpu_check",
        "device": device,
        "device_name": name,
        "dry_run": args.cpu_dry_run,
        "sizes": sizes,
        "n": args.n,
        "epoch_seconds": timings,
        "ratios": ratios,
        "amp_vs_fp32": check,
        "pipeline": pipeline,
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    out = args.out
    if out is None and not args.cpu_dry_run:
        out = str(Path(__file__).parent / "results" / "gpu_check.json")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2))
        print(f"wrote {out}")
    return 0 if check["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
