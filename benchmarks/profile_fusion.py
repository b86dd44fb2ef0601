"""Profile one training step of the fusion network at the published size (torch.profiler).

Batch of 32 lesions, K=500 feature tokens, width 768, 8 heads, T=4 clinical
tokens of width 768, AdamW step included. Profiles the plain per-token
reference (:class:`sklearn_llmrad._testing.ReferenceFusionModule`) and the
factorised default :class:`~sklearn_llmrad.models.fusion.FusionModule`, and
writes the operator tables (sorted by self CPU time) to
``benchmarks/results/profile_fusion.txt``.

Run ``python benchmarks/profile_fusion.py [--variants reference factorised]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from sklearn_llmrad._testing import ReferenceFusionModule
from sklearn_llmrad.models.fusion import FusionModule

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {
    "reference": (ReferenceFusionModule, {}),
    "factorised": (FusionModule, {}),
    "no-token-dropout": (FusionModule, {"token_dropout": 0.0}),
    "fast-preset (width 128)": (FusionModule, {"token_dropout": 0.0, "hidden_size": 128}),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="unprofiled timed steps per variant")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n, K, D, T = 32, 500, 768, 4
    g = torch.Generator().manual_seed(0)
    feature_embeddings = torch.randn(K, D, generator=g)
    values, clinical = torch.randn(n, K, generator=g), torch.randn(n, T, D, generator=g)
    mask = torch.rand(n, T, generator=g) > 0.2
    lines = [
        (
            f"profile_fusion: batch {n}, K={K}, D={D}, T={T}, 8 heads, {args.threads} threads, "
            f"load average {os.getloadavg()[0]:.1f} (shared machine)"
        )
    ]
    timings = {}
    for name in args.variants:
        cls, extra = VARIANTS[name]
        kwargs = {
            "n_features": K,
            "feature_embeddings": feature_embeddings,
            "clinical_dim": D,
            "hidden_size": 768,
            "n_heads": 8,
        }
        kwargs.update(extra)
        torch.manual_seed(0)
        module = cls(**kwargs).train()
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)

        def step(module=module, optimizer=optimizer):
            logits, embedding, _ = module(values, clinical, mask)
            loss = torch.nn.functional.cross_entropy(logits, (values[:, 0] > 0).long())
            loss = loss + embedding.square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()  # warm-up
        # unprofiled steps: best CPU and wall seconds (the profiler's own
        # overhead inflates variants made of many small operations)
        best_cpu = best_wall = float("inf")
        for _ in range(args.steps):
            cpu, wall = time.process_time(), time.perf_counter()
            step()
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
        timings[name] = (best_cpu, best_wall)
        cpu = time.process_time()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step()
        cpu = time.process_time() - cpu
        table = prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total",
            row_limit=15,
            max_name_column_width=28,
            max_shapes_column_width=60,
        )
        lines += [
            "",
            (
                f"== {name}: {best_cpu:.2f} CPU s, {best_wall:.2f} wall s per training step "
                f"(best of {args.steps} unprofiled); {cpu:.2f} CPU s profiled"
            ),
            table,
        ]
        print(lines[-2], flush=True)
    if "reference" in timings:
        ref_cpu, ref_wall = timings["reference"]
        lines.insert(
            1,
            "speed-up per training step vs reference (CPU, wall): "
            + "; ".join(f"{name} {ref_cpu / c:.2f}x, {ref_wall / w:.2f}x" for name, (c, w) in timings.items()),
        )
        print(lines[1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profile_fusion.txt").write_text("\n".join(lines) + "\n")
    print(f"written to {RESULTS / 'profile_fusion.txt'}")


if __name__ == "__main__":
    main()
