"""Tests for RadiomicsExtractor (real PyRadiomics on tiny synthetic ROIs)."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from sklearn_llmrad._cache import CacheCorruptionWarning, DiskCache
from sklearn_llmrad.exceptions import ExtractionError, ImageReadError, LesionError, MaskError
from sklearn_llmrad.radiomics import FEATURE_CLASSES, RadiomicsExtractor
from sklearn_llmrad.roi import CircleROI

# Small settings for most tests: two image types and three classes keep a
# 48x48 ROI well under 0.1 s.
SMALL = dict(image_types=["Original", "Wavelet"], feature_classes=["firstorder", "shape2D", "glcm"], progress=False)
N_SMALL = 5 * (18 + 24) + 9  # 5 images x (firstorder + glcm) + shape2D


def _roi(seed, n=48):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    image = rng.normal(size=(n, n)) + np.sin(xx / (2 + seed % 3)) + 0.03 * yy
    r = n / 4 + seed % 5
    mask = (((yy - n / 2) / r) ** 2 + ((xx - n / 2) / (r * 1.2)) ** 2 <= 1).astype(np.uint8)
    return ((image - image.mean()) / image.std()).astype(np.float32), mask


def _frame(n=4, start=0):
    rois = [_roi(i) for i in range(start, start + n)]
    return pd.DataFrame(
        {
            "image": [r[0] for r in rois],
            "mask": [r[1] for r in rois],
            "source": [f"/data/img_{i}.pgm" for i in range(start, start + n)],
            "age": np.arange(start, start + n, dtype=float) + 40,
            "density": pd.Series(list("ABCD" * n)[:n], dtype=object),
            "history": [True, False, None, "mother"][:n] * (n // 4) + [True, False, None, "mother"][: n % 4],
        },
        index=[f"synthetic_{i:04d}" for i in range(start, start + n)],
    )


def _count_executions(monkeypatch):
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    calls = []
    real = RadiomicsFeatureExtractor.execute

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RadiomicsFeatureExtractor, "execute", counting)
    return calls


def _forbid_extraction(monkeypatch):
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    def forbidden(self, *args, **kwargs):
        raise AssertionError("PyRadiomics was called although every case is cached")

    monkeypatch.setattr(RadiomicsFeatureExtractor, "execute", forbidden)


# ---------------------------------------------------------------------------
# feature names
# ---------------------------------------------------------------------------
def test_full_default_feature_set_on_one_roi():
    X = _frame(1)
    ext = RadiomicsExtractor(progress=False).fit(X)
    Xt = ext.transform(X)
    names = list(ext.get_feature_names_out())
    assert list(Xt.columns) == names
    features = names[:-3]
    assert names[-3:] == ["age", "density", "history"]
    print(f"default RadiomicsExtractor: {len(features)} features")
    assert 1300 <= len(features) <= 1900
    assert not any(n.startswith("diagnostics") for n in names)
    prefixes = {n.split("_")[0] for n in features}
    expected = {"original", "square", "squareroot", "logarithm", "exponential", "gradient", "lbp-2D"}
    expected |= {f"wavelet-{b}" for b in ("LL", "LH", "HL", "HH")}
    expected |= {f"log-sigma-{s}-0-mm-3D" for s in range(1, 6)}
    assert prefixes == expected
    for prefix in expected:  # every texture class on every image type
        classes = {n.split("_")[1] for n in features if n.split("_")[0] == prefix}
        assert classes >= set(FEATURE_CLASSES) - {"shape2D"}, prefix
    assert sum("_shape2D_" in n for n in features) == 9
    assert all(Xt[c].dtype == np.float64 for c in features)
    assert np.isfinite(Xt[features].to_numpy()).mean() > 0.99


def test_wavelet_gives_the_four_2d_bands():
    X = _frame(1)
    Xt = RadiomicsExtractor(image_types=["Wavelet"], feature_classes=["firstorder"], progress=False).fit_transform(X)
    bands = {c.split("_")[0] for c in Xt.columns if c.startswith("wavelet")}
    assert bands == {"wavelet-LL", "wavelet-LH", "wavelet-HL", "wavelet-HH"}
    # the four bands are different images, not copies
    energy = Xt[[f"{b}_firstorder_Energy" for b in sorted(bands)]].to_numpy()
    assert len(np.unique(energy)) == 4


def test_small_settings_names_and_set_params_invalidate_memo():
    X = _frame(1)
    ext = RadiomicsExtractor(**SMALL).fit(X)
    assert len(ext.get_feature_names_out()) == N_SMALL + 3
    ext.set_params(feature_classes=["firstorder"])
    assert len(ext.get_feature_names_out()) == 5 * 18 + 3
    assert ext.transform(X).shape == (1, 5 * 18 + 3)


def test_column_order_is_canonical_and_set_output_works():
    X = _frame(1)
    a = RadiomicsExtractor(**SMALL).fit_transform(X)
    swapped = {**SMALL, "image_types": ["Wavelet", "Original"], "feature_classes": ["glcm", "shape2D", "firstorder"]}
    b = RadiomicsExtractor(**swapped).fit_transform(X)
    pd.testing.assert_frame_equal(a, b)
    c = RadiomicsExtractor(**SMALL).set_output(transform="pandas").fit_transform(X)
    pd.testing.assert_frame_equal(a, c)


def test_get_feature_names_out_needs_fit_or_input_features():
    ext = RadiomicsExtractor(**SMALL)
    with pytest.raises(NotFittedError):
        ext.get_feature_names_out()
    names = ext.get_feature_names_out(["image", "mask", "source", "age"])
    assert len(names) == N_SMALL + 1 and names[-1] == "age"


# ---------------------------------------------------------------------------
# output frame
# ---------------------------------------------------------------------------
def test_passthrough_columns_and_index():
    X = _frame(4)
    X.index = ["b", "a", "a", "c"]  # order kept, duplicates allowed
    Xt = RadiomicsExtractor(**SMALL).fit_transform(X)
    assert list(Xt.index) == ["b", "a", "a", "c"]
    assert list(Xt.columns[-3:]) == ["age", "density", "history"]
    assert "image" not in Xt and "mask" not in Xt and "source" not in Xt
    for col in ("age", "density", "history"):
        assert Xt[col].dtype == X[col].dtype
        assert Xt[col].tolist() == X[col].tolist() or col == "history"
    assert Xt["history"].iloc[:2].tolist() == [True, False] and Xt["history"].iloc[3] == "mother"
    assert Xt.attrs["radiomics_failures"] == []


def test_transform_without_fit_and_column_check():
    X = _frame(2)
    Xt = RadiomicsExtractor(**SMALL).transform(X)  # stateless
    assert Xt.shape == (2, N_SMALL + 3)
    empty = RadiomicsExtractor(**SMALL).transform(X.iloc[:0])
    assert empty.shape == (0, N_SMALL + 3) and list(empty.columns) == list(Xt.columns)
    with pytest.raises(TypeError, match="DataFrame"):
        RadiomicsExtractor(**SMALL).transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mask"):
        RadiomicsExtractor(**SMALL).transform(X.drop(columns="mask"))
    clash = X.assign(original_firstorder_Mean=1.0)
    with pytest.raises(ValueError, match="collide"):
        RadiomicsExtractor(**SMALL).transform(clash)


def test_deterministic_and_n_jobs_2_equals_n_jobs_1():
    X = _frame(6)
    a = RadiomicsExtractor(**SMALL).fit_transform(X)
    b = RadiomicsExtractor(**SMALL).fit_transform(X)
    c = RadiomicsExtractor(**SMALL, n_jobs=2).fit_transform(X)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    # rows differ between lesions (no row was copied onto another)
    assert len({tuple(r) for r in a.iloc[:, :N_SMALL].to_numpy().round(8)}) == 6


def test_roi_masks_and_label_other_than_one():
    image, _ = _roi(0)
    X = pd.DataFrame({"image": [image, image], "mask": [CircleROI(24, 24, 12), CircleROI(24, 24, 12)]})
    a = RadiomicsExtractor(**SMALL).fit_transform(X)
    raster = CircleROI(24, 24, 12).rasterize(image.shape) * 255
    b = RadiomicsExtractor(**SMALL, label=255).fit_transform(pd.DataFrame({"image": [image], "mask": [raster]}))
    np.testing.assert_array_equal(a.iloc[0].to_numpy(), b.iloc[0].to_numpy())


def test_params_dict_and_yaml_file(tmp_path):
    import yaml

    params = {
        "setting": {"binCount": 16, "preCrop": True},
        "imageType": {"Original": {}, "LoG": {"sigma": [1.5]}},
        "featureClass": {"firstorder": None, "glrlm": ["RunEntropy", "ShortRunEmphasis"]},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    X = _frame(2)
    a = RadiomicsExtractor(params=params, progress=False).fit_transform(X)
    b = RadiomicsExtractor(params=str(path), progress=False).fit_transform(X)
    pd.testing.assert_frame_equal(a, b)
    assert "log-sigma-1-5-mm-3D_glrlm_RunEntropy" in a.columns
    assert sum("_glrlm_" in c for c in a.columns) == 4
    # binCount matters: the default (32) gives different texture values
    c = RadiomicsExtractor(params={**params, "setting": {"binCount": 32}}, progress=False).fit_transform(X)
    assert not np.allclose(a["original_glrlm_RunEntropy"], c["original_glrlm_RunEntropy"])
    with pytest.raises(ValueError, match="PyRadiomics params"):
        RadiomicsExtractor(params={"imageType": {"NoSuchFilter": {}}}, progress=False).transform(X)


def test_bin_width_and_spacing_change_results():
    X = _frame(1)
    base = RadiomicsExtractor(**SMALL, resample_to=None).fit_transform(X)
    width = RadiomicsExtractor(**SMALL, resample_to=None, bin_width=0.25).fit_transform(X)
    spaced = RadiomicsExtractor(**SMALL, resample_to=None, pixel_spacing=0.5).fit_transform(X)
    assert base["original_glcm_Contrast"].iloc[0] != width["original_glcm_Contrast"].iloc[0]
    np.testing.assert_allclose(
        spaced["original_shape2D_PixelSurface"].iloc[0], base["original_shape2D_PixelSurface"].iloc[0] * 0.25
    )


def test_path_inputs(tmp_path):
    import SimpleITK as sitk

    image, mask = _roi(3)
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "img.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(tmp_path / "mask.nrrd"))
    from_paths = pd.DataFrame({"image": [str(tmp_path / "img.nrrd")], "mask": [str(tmp_path / "mask.nrrd")]})
    # the NRRD header states 1 mm pixels: the arrays say so in their spacing column
    from_arrays = pd.DataFrame({"image": [image], "mask": [mask], "spacing": [(1.0, 1.0)]})
    a = RadiomicsExtractor(**SMALL).fit_transform(from_paths)
    b = RadiomicsExtractor(**SMALL).fit_transform(from_arrays)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy())
    bad = from_paths.assign(mask=[CircleROI(500, 500, 3)])  # ROI outside the image: empty mask
    with pytest.raises(MaskError) as info:
        RadiomicsExtractor(**SMALL).fit_transform(bad)
    assert info.value.file == str(tmp_path / "img.nrrd")


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def _empty(image, mask):
    return image, np.zeros_like(mask)


def _one_pixel(image, mask):
    m = np.zeros_like(mask)
    m[10, 10] = 1
    return image, m


def _line(image, mask):
    m = np.zeros_like(mask)
    m[10, 5:30] = 1
    return image, m


def _label_255(image, mask):
    return image, mask * 255


def _shape_mismatch(image, mask):
    return image, mask[:40]


def _nan_image(image, mask):
    image = image.copy()
    image[3, 3] = np.nan
    return image, mask


ERROR_CASES = [
    (_empty, MaskError, r"mask is empty"),
    (_one_pixel, MaskError, r"single pixel"),
    (_line, MaskError, r"1x25 pixels"),
    (_label_255, MaskError, r"label 1 is not present.*\{0, 255\}"),
    (_shape_mismatch, MaskError, r"mask shape \(40, 48\) does not match image shape \(48, 48\)"),
    (_nan_image, ImageReadError, r"1 NaN"),
]


def _with_bad_row(make_bad, row=1):
    X = _frame(4)
    image, mask = make_bad(X["image"].iloc[row], X["mask"].iloc[row])
    X.iat[row, X.columns.get_loc("image")] = image
    X.iat[row, X.columns.get_loc("mask")] = mask
    return X


@pytest.mark.parametrize("make_bad, error, message", ERROR_CASES, ids=[c[0].__name__ for c in ERROR_CASES])
def test_errors_raise_naming_case_and_file(make_bad, error, message):
    X = _with_bad_row(make_bad)
    with pytest.raises(error, match=message) as info:
        RadiomicsExtractor(**SMALL).fit_transform(X)
    assert info.value.case == "synthetic_0001"
    assert info.value.file == "/data/img_1.pgm"
    assert "case 'synthetic_0001'" in str(info.value) and "/data/img_1.pgm" in str(info.value)


@pytest.mark.parametrize("make_bad, error, message", ERROR_CASES, ids=[c[0].__name__ for c in ERROR_CASES])
def test_errors_nan_mode_keeps_other_cases(make_bad, error, message):
    X = _with_bad_row(make_bad)
    with pytest.warns(UserWarning, match=rf"case 'synthetic_0001' \(file '/data/img_1.pgm'\): .*{message}"):
        Xt = RadiomicsExtractor(**SMALL, on_error="nan").fit_transform(X)
    clean = RadiomicsExtractor(**SMALL).fit_transform(X.drop(index="synthetic_0001"))
    assert Xt.iloc[1, :N_SMALL].isna().all()
    assert Xt.loc["synthetic_0001", "age"] == 41.0  # clinical data is kept
    pd.testing.assert_frame_equal(Xt.drop(index="synthetic_0001"), clean, check_like=False)
    (failure,) = Xt.attrs["radiomics_failures"]
    assert failure["case"] == "synthetic_0001" and failure["file"] == "/data/img_1.pgm"
    assert failure["error"] == error.__name__


def test_pyradiomics_failure_becomes_extraction_error(monkeypatch):
    # A mock only to check our own wrapping of PyRadiomics' bare exceptions.
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    real = RadiomicsFeatureExtractor.execute

    def fail_on_constant(self, image, mask, **kwargs):
        import SimpleITK as sitk

        if np.all(sitk.GetArrayFromImage(image) == 7.0):
            raise RuntimeError("synthetic PyRadiomics failure")
        return real(self, image, mask, **kwargs)

    monkeypatch.setattr(RadiomicsFeatureExtractor, "execute", fail_on_constant)
    X = _frame(3)
    X.iat[2, 0] = np.full((48, 48), 7.0)
    with pytest.raises(ExtractionError, match="RuntimeError: synthetic PyRadiomics failure") as info:
        RadiomicsExtractor(**SMALL).transform(X)
    assert info.value.case == "synthetic_0002"
    with pytest.warns(UserWarning, match="synthetic_0002"):
        Xt = RadiomicsExtractor(**SMALL, on_error="nan").transform(X)
    assert Xt.iloc[2, :N_SMALL].isna().all() and Xt.iloc[:2, :N_SMALL].notna().all().all()


def test_errors_from_worker_processes_keep_case_and_file():
    X = _with_bad_row(_empty, row=3)
    with pytest.raises(MaskError) as info:
        RadiomicsExtractor(**SMALL, n_jobs=2).fit_transform(X)
    assert isinstance(info.value, LesionError)
    assert (info.value.case, info.value.file) == ("synthetic_0003", "/data/img_3.pgm")


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------
def test_cache_hit_does_not_call_pyradiomics(tmp_path, monkeypatch):
    X = _frame(4)
    ext = RadiomicsExtractor(**SMALL, cache_dir=tmp_path)
    first = ext.fit_transform(X)
    cache = DiskCache(tmp_path, namespace="radiomics")
    assert len(cache) == 4 + 1  # one entry per case, plus the feature names
    _forbid_extraction(monkeypatch)
    second = clone(ext).fit_transform(X)  # a fresh instance: names come from the cache too
    pd.testing.assert_frame_equal(first, second)
    # keys are content hashes only: no case id or file name in the cache
    listing = " ".join(str(p) for p in tmp_path.rglob("*"))
    assert "synthetic" not in listing and "img_" not in listing


def test_cache_hit_for_roi_masks_in_worker_path(tmp_path, monkeypatch):
    image, _ = _roi(2)
    X = pd.DataFrame({"image": [image], "mask": [CircleROI(24, 24, 10)]}, index=["roi_case"])
    first = RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X)
    _forbid_extraction(monkeypatch)
    pd.testing.assert_frame_equal(first, RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X))


def test_cache_key_depends_on_settings_and_content(tmp_path, monkeypatch):
    X = _frame(2)
    RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X)
    calls = _count_executions(monkeypatch)
    RadiomicsExtractor(**SMALL, cache_dir=tmp_path, bin_count=16).fit_transform(X)
    assert len(calls) == 1 + 2  # names for the new settings (synthetic ROI), then both cases
    X2 = X.copy()
    X2.iat[0, 0] = X2["image"].iloc[0] + np.float32(0.01)
    RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X2)
    assert len(calls) == 4  # only the changed image is recomputed


def test_resume_after_partial_run(tmp_path, monkeypatch):
    X = _frame(6)
    reference = RadiomicsExtractor(**SMALL).fit_transform(X)
    RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X.iloc[:3])
    calls = _count_executions(monkeypatch)
    resumed = RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X)
    assert len(calls) == 3
    pd.testing.assert_frame_equal(resumed, reference)


def test_failures_are_not_cached(tmp_path, monkeypatch):
    X = _with_bad_row(_empty)
    with pytest.warns(UserWarning):
        RadiomicsExtractor(**SMALL, cache_dir=tmp_path, on_error="nan").fit_transform(X)
    assert len(DiskCache(tmp_path, namespace="radiomics")) == 3 + 1


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_corrupt_cache_entry_is_recomputed(tmp_path, monkeypatch, n_jobs):
    X = _frame(3)
    X["mask"] = [CircleROI(24, 24, 9 + i) for i in range(3)] if n_jobs == 2 else X["mask"]
    first = RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X)
    cache = DiskCache(tmp_path, namespace="radiomics")
    # per-case entries hold N_SMALL float64 values after a 48-byte header
    victim = next(p for p in sorted(cache.root.glob("*/*.bin")) if p.stat().st_size == 48 + 8 * N_SMALL)
    victim.write_bytes(victim.read_bytes()[:-100])  # truncated, as after a crash mid-copy
    with pytest.warns(CacheCorruptionWarning, match="truncated"):
        second = RadiomicsExtractor(**SMALL, cache_dir=tmp_path, n_jobs=n_jobs).fit_transform(X)
    pd.testing.assert_frame_equal(first, second)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheCorruptionWarning)
        _forbid_extraction(monkeypatch)
        pd.testing.assert_frame_equal(first, RadiomicsExtractor(**SMALL, cache_dir=tmp_path).fit_transform(X))


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd
    sys.path.insert(0, {tests!r})
    from radiomics.featureextractor import RadiomicsFeatureExtractor
    from test_radiomics import SMALL, _frame
    from sklearn_llmrad.radiomics import RadiomicsExtractor

    real = RadiomicsFeatureExtractor.execute
    def slow(self, *a, **k):  # real extraction, slowed so the kill lands mid-run
        time.sleep(0.1)
        return real(self, *a, **k)
    RadiomicsFeatureExtractor.execute = slow
    RadiomicsExtractor(**SMALL, cache_dir={cache!r}).fit_transform(_frame({n}))
    print("finished")
    """
)


def test_sigkill_mid_run_then_resume(tmp_path, monkeypatch):
    n = 12
    cache_dir = tmp_path / "cache"
    script = _KILL_SCRIPT.format(tests=os.path.dirname(__file__), cache=str(cache_dir), n=n)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = DiskCache(cache_dir, namespace="radiomics")
    deadline = time.monotonic() + 120
    try:
        while len(cache) < 1 + 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, err
    written = len(cache) - 1
    assert 4 <= written < n
    # every entry under a real key is complete: no warning, no corruption
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheCorruptionWarning)
        assert all(cache.get(k) is not None for k in cache.keys())
    calls = _count_executions(monkeypatch)
    resumed = RadiomicsExtractor(**SMALL, cache_dir=cache_dir).fit_transform(_frame(n))
    assert len(calls) == n - written
    monkeypatch.undo()
    pd.testing.assert_frame_equal(resumed, RadiomicsExtractor(**SMALL).fit_transform(_frame(n)))


# ---------------------------------------------------------------------------
# sklearn conventions (this estimator's input is not a numeric matrix, so
# parametrize_with_checks would skip it: run the applicable checks by hand)
# ---------------------------------------------------------------------------
def test_sklearn_checks():
    name = RadiomicsExtractor.__name__
    check_parameters_default_constructible(name, RadiomicsExtractor())
    check_no_attributes_set_in_init(name, RadiomicsExtractor(**SMALL))
    check_get_params_invariance(name, RadiomicsExtractor(**SMALL))
    check_set_params(name, RadiomicsExtractor(**SMALL))
    tags = RadiomicsExtractor().__sklearn_tags__()
    assert tags.requires_fit is False and tags.input_tags.two_d_array is False


def test_clone_repr_pickle(tmp_path):
    X = _frame(2)
    ext = RadiomicsExtractor(**SMALL, cache_dir=tmp_path, n_jobs=1).fit(X)
    Xt = ext.transform(X)
    cloned = clone(ext)
    assert cloned.get_params() == ext.get_params()
    assert not hasattr(cloned, "feature_names_in_") and not hasattr(cloned, "_config_memo")
    assert "RadiomicsExtractor(" in repr(ext) and "n_jobs=1" in repr(ext)
    restored = pickle.loads(pickle.dumps(ext))
    pd.testing.assert_frame_equal(restored.transform(X), Xt)
    assert list(restored.get_feature_names_out()) == list(Xt.columns)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(on_error="ignore"), "on_error"),
        (dict(bin_count=1), "bin_count"),
        (dict(image_types=["Original", "LBP3D"]), "image_types"),
        (dict(feature_classes=["shape"]), "feature_classes"),
        (dict(image_types=[]), "image_types"),
    ],
)
def test_invalid_parameters(bad, match):
    with pytest.raises(ValueError, match=match):
        RadiomicsExtractor(**{**SMALL, **bad}).fit_transform(_frame(1))


# -- parallel extraction: warm, reused extractors and balanced tasks (issue 12) --
def test_extractor_is_built_once_per_thread_and_settings(monkeypatch):
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    import sklearn_llmrad.radiomics as radiomics_module

    built = []
    real_init = RadiomicsFeatureExtractor.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        real_init(self, *args, **kwargs)

    radiomics_module._thread_extractor.cache_clear()
    monkeypatch.setattr(RadiomicsFeatureExtractor, "__init__", counting_init)
    X = _frame(17)  # two sequential batches: 16 + 1 cases
    ext = RadiomicsExtractor(**SMALL)
    ext._config()
    built.clear()  # feature-name discovery builds its own
    first = ext.transform(X)
    second = ext.transform(X.iloc[:2])
    assert len(built) == 1
    pd.testing.assert_frame_equal(first.iloc[:2], second)
    RadiomicsExtractor(**{**SMALL, "bin_count": 16}).transform(X.iloc[:2])
    assert len(built) == 3  # new settings: names + one extractor


def test_parallel_tasks_are_largest_first_and_cover_every_case_once():
    import sklearn_llmrad.radiomics as radiomics_module

    rng = np.random.default_rng(0)
    sizes = rng.integers(8, 200, size=37)
    todo = [(i, f"c{i}", None, np.zeros((s, s)), None) for i, s in enumerate(sizes)]
    batches = radiomics_module._batches(todo, 2)
    flat = [item[0] for batch in batches for item in batch]
    assert sorted(flat) == list(range(37))
    costs = [todo[i][3].size for i in flat]
    assert costs == sorted(costs, reverse=True)
    assert len(batches) >= 8 and max(len(b) for b in batches) <= 16
    # sequentially the order is kept (progress and first-error order)
    assert [item[0] for b in radiomics_module._batches(todo, 1) for item in b] == list(range(37))


def test_a_settings_file_is_stored_by_its_content_in_a_model_file(tmp_path):
    # a model file never holds a path: the YAML is stored as the dict it holds
    import warnings

    import yaml

    from sklearn_llmrad.io import load, save

    params = {"setting": {"binCount": 16}, "imageType": {"Original": {}}, "featureClass": {"firstorder": None}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    X = _frame(1)
    extractor = RadiomicsExtractor(params=str(path), progress=False).fit(X)
    expected = extractor.transform(X)
    model = save(extractor, tmp_path / "m.llmrad")
    path.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load(model)
    assert loaded.params == params and extractor.params == str(path)
    pd.testing.assert_frame_equal(loaded.transform(X), expected)
