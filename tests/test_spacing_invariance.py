"""The same lesions at 50 um and at 200 um give the same features once resampled (issue 21).

A small version of ``benchmarks/bench_spacing_invariance.py`` (which runs 24
lesions and every feature): 16 synthetic lesions, area-averaged 4 x 4 for the
200 um rendering, CLAHE off (the benchmark shows that CLAHE's small contextual
regions, not the resampling, are what remains resolution-dependent).
"""

import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

from sklearn_llmrad import CLAHEPreprocessor, RadiomicsExtractor
from sklearn_llmrad.datasets import coarsen_mammograms, make_synthetic_mammograms

SETTINGS = dict(
    image_types=["Original", "LoG"],
    feature_classes=["firstorder", "shape2D", "glcm", "glrlm"],
    log_sigma=(0.5, 1.0),
    progress=False,
)


@pytest.fixture(scope="module")
def renderings():
    fine, _ = make_synthetic_mammograms(
        16, image_size=1024, lesions_per_patient=1, pixel_size=0.05, return_X_y=True, random_state=3
    )
    return fine, coarsen_mammograms(fine, 4)


def _features(X, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        crops = CLAHEPreprocessor(resample_to=target, clip_limit=None).fit_transform(X)
        out = RadiomicsExtractor(resample_to=target, **SETTINGS).fit_transform(crops)
    return out.drop(columns=["age", "density", "history"])


def _agreement(a, b):
    rho, rel = [], []
    for name in a.columns:
        x, y = a[name].to_numpy(float), b[name].to_numpy(float)
        if np.isnan(x).any() or np.isnan(y).any() or np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        rho.append(spearmanr(x, y).statistic)
        scale = (np.abs(x) + np.abs(y)) / 2
        rel.append(np.median(np.abs(x - y) / np.where(scale > 0, scale, 1)))
    return np.median(rho), np.mean(np.asarray(rho) >= 0.8), np.median(rel), len(rho)


def test_resampling_makes_features_agree_across_pixel_sizes(renderings):
    fine, coarse = renderings
    with_rho, with_share, with_rel, n = _agreement(_features(fine, 0.1), _features(coarse, 0.1))
    without_rho, _, without_rel, _ = _agreement(_features(fine, None), _features(coarse, None))
    # the targets (here: 0.92, 88 % of 183 features; without: 0.76, relative difference 0.43 vs 0.017)
    assert n > 150
    assert with_rho >= 0.9 and with_share >= 0.8
    assert with_rho > without_rho + 0.1
    assert with_rel < without_rel / 5
