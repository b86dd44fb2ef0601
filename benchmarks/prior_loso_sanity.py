"""Leave-one-study-out sanity check of the semantic prior on radMLBench tables.

For each target study (a fixed, pre-declared subset: every 4th study in
alphabetical order, nothing chosen by results), the prior is fitted on all
*other* studies of the folder, then on the target:

* transfer of informativeness: Spearman between the prior's prediction and the
  target's own rank of |AUC - 0.5| (language-model names vs random name vectors);
* the same Spearman on the target's names that no training study has (after
  cleaning: prefixes kept, so ``CT_original_glcm_Idmn`` is unseen when only
  ``T2_original_glcm_Idmn`` was seen) and on those some training study has:
  random name vectors can only recall names seen before; what the language
  model adds beyond that shows on the unseen ones;
* transfer of sign: a ridge from the same name vectors to the signed AUC - 0.5
  (per study, scaled to unit spread), Spearman with the target's signed AUC;
* 5-fold stratified CV AUC (same folds for every model) of
  SemanticPriorLogisticRegression with the language-model prior, with random
  name vectors, and without prior (gamma = 0 only: the plain tuned L2 LR).

Usage::

    python benchmarks/prior_loso_sanity.py --tables ../shared/data/radmlbench \
        --language-model MINILM_DIR --cache-dir /tmp/emb [--every 4] [--no-models]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.stats import spearmanr, wilcoxon
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from sklearn_llmrad.benchmark import related_studies
from sklearn_llmrad.datasets.radmlbench import list_radmlbench, load_radmlbench
from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
from sklearn_llmrad.prior import SemanticPrior, clean_feature_name, univariate_informativeness


def sign_transfer(prior, train, target):
    """Spearman of predicted vs actual signed AUC on the target, ridge fitted on ``train``."""
    E, t, w = [], [], []
    for bunch in train:
        _, auc = univariate_informativeness(bunch.data, bunch.target)
        keep = np.isfinite(auc)
        signed = auc[keep] - 0.5
        signed = signed / (signed.std() or 1.0)
        E.append(prior.embed_names(np.asarray(bunch.feature_names)[keep]))
        t.append(signed)
        w.append(np.full(keep.sum(), 1.0 / keep.sum()))
    model = Ridge(alpha=1.0).fit(np.vstack(E), np.concatenate(t), sample_weight=np.concatenate(w))
    _, auc = univariate_informativeness(target.data, target.target)
    keep = np.isfinite(auc)
    pred = model.predict(prior.embed_names(np.asarray(target.feature_names)[keep]))
    return float(spearmanr(pred, auc[keep] - 0.5).statistic)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", required=True)
    parser.add_argument("--language-model", required=True)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--offset", type=int, default=0, help="targets: names[offset::every]")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-models", action="store_true", help="name transfer only (Spearman), no CV AUCs")
    parser.add_argument(
        "--embeddings-from",
        default=None,
        help="a saved prior made with the same language model: its stored name vectors are reused "
        "(they depend on the names only, not on any label); the ridge is refitted per target",
    )
    args = parser.parse_args(argv)

    names = list_radmlbench(args.tables)
    bunches = {n: load_radmlbench(n, data_home=args.tables, download_if_missing=False) for n in names}
    targets = names[args.offset :: args.every]
    siblings = related_studies(names)
    print(f"{len(names)} studies; targets: {targets}", flush=True)
    if args.embeddings_from:
        lm = SemanticPrior.load(args.embeddings_from, cache_dir=args.cache_dir)
        assert lm.language_model_ == args.language_model, (lm.language_model_, args.language_model)
    else:
        lm = SemanticPrior(language_model=args.language_model, cache_dir=args.cache_dir)
    rnd = SemanticPrior(name_vectors="random")
    rows = []
    started = time.perf_counter()
    for target in targets:
        # the target and the other tables of its paper stay out of its prior, as in the transfer benchmark
        left_out = {target, *siblings.get(target, ())}
        train = [bunches[n] for n in names if n not in left_out]
        lm.fit(train)
        rnd.fit(train)
        assert target not in lm.studies_ and target not in rnd.studies_
        b = bunches[target]
        info, _ = univariate_informativeness(b.data, b.target)
        keep = np.isfinite(info)
        feats = list(np.asarray(b.feature_names)[keep])
        rho_lm = float(spearmanr(lm.predict(feats), info[keep]).statistic)
        rho_rnd = float(spearmanr(rnd.predict(feats), info[keep]).statistic)
        rho_sign = sign_transfer(lm, train, b)
        seen_names = {clean_feature_name(str(n)) for bunch in train for n in bunch.feature_names}
        seen = np.array([clean_feature_name(f) in seen_names for f in feats])
        split_rhos = {}
        for part, mask in (("seen", seen), ("unseen", ~seen)):
            for key, prior in (("lm", lm), ("random", rnd)):
                subset = [f for f, m in zip(feats, mask) if m]
                enough = mask.sum() >= 10 and np.ptp(info[keep][mask]) > 0
                split_rhos[f"rho_{key}_{part}"] = (
                    float(spearmanr(prior.predict(subset), info[keep][mask]).statistic) if enough else None
                )
        if args.no_models:
            row = {"study": target, "n": len(b.target), "p": int(keep.sum()), "unseen": float((~seen).mean())}
            row.update(rho_lm=rho_lm, rho_random=rho_rnd, rho_sign=rho_sign, **split_rhos)
            rows.append(row)
            print(json.dumps(row), f"({time.perf_counter() - started:.0f} s)", flush=True)
            continue
        X = b.data.loc[:, keep]
        y = b.target.to_numpy()
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
        models = {
            "prior_lr": SemanticPriorLogisticRegression(prior=lm, random_state=0),
            "prior_lr_random": SemanticPriorLogisticRegression(prior=rnd, random_state=0),
            "plain_lr": SemanticPriorLogisticRegression(prior=None, random_state=0),
        }
        aucs, gammas = {}, {}
        for key, model in models.items():
            scores = np.empty(len(y))
            chosen = []
            for tr, te in folds:
                model.fit(X.iloc[tr], y[tr])
                scores[te] = model.predict_proba(X.iloc[te])[:, 1]
                chosen.append(model.gamma_)
            aucs[key] = float(roc_auc_score(y, scores))  # pooled out-of-fold AUC
            gammas[key] = chosen
        row = {
            "study": target,
            "n": len(y),
            "p": int(keep.sum()),
            "rho_lm": rho_lm,
            "rho_random": rho_rnd,
            "rho_sign": rho_sign,
            "unseen": float((~seen).mean()),
            **split_rhos,
            **aucs,
            "gammas_lm": gammas["prior_lr"],
            "gammas_random": gammas["prior_lr_random"],
            "alpha_lm": lm.alpha_,
        }
        rows.append(row)
        print(json.dumps(row), f"({time.perf_counter() - started:.0f} s)", flush=True)

    def mean(key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return float(np.mean(values)) if values else float("nan")

    print(
        f"\nmean Spearman informativeness: LM {mean('rho_lm'):.3f}  random {mean('rho_random'):.3f} ; "
        f"sign {mean('rho_sign'):.3f}"
    )
    for part in ("seen", "unseen"):
        both = [r for r in rows if r.get(f"rho_lm_{part}") is not None and r.get(f"rho_random_{part}") is not None]
        if both:
            d = np.array([r[f"rho_lm_{part}"] - r[f"rho_random_{part}"] for r in both])
            p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
            print(
                f"names {part} in the prior's studies ({len(both)} targets with >= 10 such names): "
                f"LM {np.mean([r[f'rho_lm_{part}'] for r in both]):.3f}  "
                f"random {np.mean([r[f'rho_random_{part}'] for r in both]):.3f}  "
                f"(LM - random {d.mean():+.3f}, wins {int((d > 0).sum())}/{len(d)}, Wilcoxon p={p:.3f})"
            )
    print(f"share of target names unseen in the prior's studies: {mean('unseen'):.2f} (mean over targets)")
    if args.no_models:
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(rows, fh, indent=1)
        return
    print(
        f"mean AUC: prior LR {mean('prior_lr'):.3f}  random-name prior LR {mean('prior_lr_random'):.3f}  "
        f"plain LR {mean('plain_lr'):.3f}"
    )
    for other in ("plain_lr", "prior_lr_random"):
        d = np.array([r["prior_lr"] - r[other] for r in rows])
        p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
        print(
            f"prior LR vs {other}: wins {int((d > 0).sum())}/{len(d)}, ties {int((d == 0).sum())}, "
            f"mean diff {d.mean():+.3f}, Wilcoxon p={p:.3f}"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
