"""Same folds, same seed: AUC of the factorised fusion network against the plain reference and the presets.

The factorised forward (issue 12) computes the same maths as the plain
per-token implementation (:func:`sklearn_llmrad._testing.reference_fusion_forward`);
this benchmark checks that training with it gives the same AUC within its
confidence interval on a real radiomics table, and measures the cheaper,
explicitly chosen variants side by side:

- ``reference``: plain per-token network, published width 768, 8 heads;
- ``factorised``: the default :class:`~sklearn_llmrad.models.fusion.FusionModule`
  (same architecture, same dropout);
- ``fast preset``: ``module__token_dropout=0`` (lets the first feed-forward
  layer factorise in training too) and ``hidden_size=128``;
- ``no token dropout``: width 768 with ``module__token_dropout=0`` only;
- ``group tokens``: width 768, ``feature_tokens="group"`` (a token per image
  type and feature class);
- ``class tokens``: width 768, ``feature_tokens="class"`` (a token per feature class).

Each variant is 5-fold stratified cross-validated on the same folds (standard
scaling fitted on the training folds) with the same ``random_state``; the
out-of-fold AUCs get DeLong 95% CIs and a paired DeLong test against the
reference. The input is a numeric radMLBench table (the "w/o BioBERT" input:
learned name embeddings and context tokens), which exercises the same fusion
block. Wall and CPU seconds per variant are reported (shared machine).

Run ``python benchmarks/bench_fusion_auc.py [--study Ahn2021] [--epochs 20]``;
needs ``../shared/data/radmlbench``. Writes
``benchmarks/results/bench_fusion_auc.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_llmrad._testing import ReferenceFusionModule
from sklearn_llmrad.metrics import delong_ci, delong_test
from sklearn_llmrad.models import LLMRadiomicsClassifier

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "radmlbench"

VARIANTS = {
    "reference": {"module": ReferenceFusionModule},
    "factorised": {},
    "fast preset": {"hidden_size": 128, "module__token_dropout": 0.0},
    "no token dropout": {"module__token_dropout": 0.0},
    "group tokens": {"feature_tokens": "group"},
    "class tokens": {"feature_tokens": "class"},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="Ahn2021")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument(
        "--out",
        default=str(RESULTS / "bench_fusion_auc.json"),
        help="JSON written after each variant (with its out-of-fold scores); "
        "variants already in it are kept, so variants can run in separate processes",
    )
    parser.add_argument("--merge", nargs="*", default=[], help="other --out files whose variants join the comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not (DATA / f"{args.study}.gz").is_file():
        print(f"skipped: {DATA / (args.study + '.gz')} not found (shared radMLBench data)")
        return
    table = pd.read_csv(DATA / f"{args.study}.gz")
    y = table["Target"].to_numpy().astype(int)
    X = table.drop(columns=["ID", "Target"]).astype(float)
    X = X.loc[:, X.std() > 0]
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, y))
    out = Path(args.out)
    previous = {}
    for path in [out, *map(Path, args.merge)]:
        if path.is_file():
            previous.update(json.loads(path.read_text()).get("variants", {}))
    scores = {name: np.asarray(row["oof"]) for name, row in previous.items()}
    timing = {name: {"wall_s": row["wall_s"], "cpu_s": row["cpu_s"]} for name, row in previous.items()}
    for name in args.variants:
        oof = np.zeros(len(y))
        wall, cpu = time.perf_counter(), time.process_time()
        for train, test in folds:
            scaler = StandardScaler().fit(X.iloc[train])
            clf = LLMRadiomicsClassifier(
                max_epochs=args.epochs,
                batch_size=32,
                device="cpu",
                random_state=0,
                **VARIANTS[name],
            )
            clf.fit(pd.DataFrame(scaler.transform(X.iloc[train]), columns=X.columns), y[train])
            oof[test] = clf.predict_proba(pd.DataFrame(scaler.transform(X.iloc[test]), columns=X.columns))[:, 1]
        timing[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        scores[name] = oof
        auc, low, high = delong_ci(y, oof)
        print(
            f"{name:18s} AUC {auc:.3f} [{low:.3f}, {high:.3f}]  wall {timing[name]['wall_s']:.0f} s "
            f"cpu {timing[name]['cpu_s']:.0f} s",
            flush=True,
        )
        _write(out, args, y, X, scores, timing)
    report = _write(out, args, y, X, scores, timing)
    print(json.dumps({k: {a: b for a, b in v.items() if a != "oof"} for k, v in report["variants"].items()}, indent=1))


def _write(out, args, y, X, scores, timing):
    report = {
        "benchmark": "bench_fusion_auc",
        "study": args.study,
        "n": len(y),
        "n_features": int(X.shape[1]),
        "epochs": args.epochs,
        "folds": args.folds,
        "load_average_at_end": os.getloadavg(),
        "variants": {},
    }
    # the plain reference when it ran, else the published network (same maths)
    base = "reference" if "reference" in scores else "factorised"
    for name, oof in scores.items():
        auc, low, high = delong_ci(y, oof)
        row = {"auc": float(auc), "ci95": [float(low), float(high)], **timing[name], "oof": [float(v) for v in oof]}
        if name != base and base in scores:
            test = delong_test(y, scores[base], oof)
            row[f"delong_p_vs_{base}"] = float(test.p_value)
            row[f"cpu_ratio_{base}_over_this"] = timing[base]["cpu_s"] / timing[name]["cpu_s"]
        report["variants"][name] = row
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
