"""How fast can one epoch of the published fusion network be on this CPU? A lower bound.

Whatever is factorised (see :class:`~sklearn_llmrad.models.fusion.FusionModule`),
the per-token feed-forward block keeps a part that no rewriting of the same
maths removes: the second feed-forward layer ``W2 @ GELU(.)`` feeds the final
layer norm, whose variance needs ``||W2 a||^2`` for every (lesion, feature)
token, i.e. the matrix product itself. Training adds its two backward products
(input and weight gradients). With the published element-wise token dropout
the first layer also runs per token. So one epoch needs at least

- ``6 n K H F`` multiply-adds x 2 FLOPs for the second layer, and
- another ``6 n K H F`` x 2 for the first layer while token dropout is active,

with ``n`` lesions, ``K`` feature tokens, width ``H`` and feed-forward width
``F = 2 H``. This script counts them for the published configuration (1,000
lesions, K = 500, H = 768) and measures what the machine's BLAS achieves on
exactly that matrix shape (float32, ``--threads`` threads), giving the time an
epoch cannot beat. It also counts the grouped-token variants
(``feature_tokens="group"`` / ``"class"``) with the token counts of the
published feature mix.

Run ``python benchmarks/fusion_flop_bound.py``; writes
``benchmarks/results/fusion_flop_bound.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def measured_gflops(m, k, n, *, repeats=5):
    """Best float32 GFLOP/s of an (m, k) @ (k, n) product, plus the backward shapes."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    g = torch.randn(m, n)
    torch.mm(a, b)  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)  # forward
        torch.mm(g, b.T)  # gradient of the input
        torch.mm(a.T, g)  # gradient of the weight
        best = min(best, time.perf_counter() - start)
    return 3 * 2 * m * k * n / best / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--ffn-factor", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", type=float, default=12.0, help="seconds per epoch asked for")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    H, F = args.hidden, round(args.ffn_factor * args.hidden)
    tokens_per_batch = args.batch_size * args.k
    gflops = measured_gflops(tokens_per_batch, F, H)
    rows = {}
    for name, tokens, layers in (
        ("published (token dropout: both layers per token)", args.k, 2),
        ("no token dropout (first layer factorised)", args.k, 1),
        ("group tokens (92 of 500)", 92, 2),
        ("class tokens (7 of 500)", 7, 2),
    ):
        flops = layers * 3 * 2 * args.n * tokens * H * F
        rows[name] = {"tokens": tokens, "tflop_per_epoch": flops / 1e12, "lower_bound_s": flops / (gflops * 1e9)}
    print(
        f"float32 matmul at the block's shape ({tokens_per_batch} x {F} x {H}, forward + 2 backward), "
        f"{args.threads} threads: {gflops:.0f} GFLOP/s"
    )
    for name, row in rows.items():
        verdict = "can" if row["lower_bound_s"] <= args.target else "cannot"
        print(
            f"{name:50s} {row['tflop_per_epoch']:6.2f} TFLOP/epoch  >= {row['lower_bound_s']:7.1f} s/epoch "
            f"({verdict} reach {args.target:g} s)"
        )
    report = {
        "benchmark": "fusion_flop_bound",
        "setting": vars(args),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "measured_gflops": gflops,
        "variants": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fusion_flop_bound.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
