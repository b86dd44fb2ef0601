"""Scale: CBIS-DDSM-shaped films on disk, extraction that reads a lesion's box of a
film only, and the GPU check script's dry run (benchmarks/gpu_check.py)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sklearn_llmrad.radiomics as radiomics_module
from sklearn_llmrad import RadiomicsExtractor
from sklearn_llmrad.datasets import load_csv, write_synthetic_cbis_ddsm
from sklearn_llmrad.imageio import read_image, read_mask
from sklearn_llmrad.resampling import resample_roi

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(image_types=["Original"], feature_classes=["firstorder", "glcm"], progress=False)


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """Five lesions on small films (0.25 mm pixels keep the files tiny)."""
    root = tmp_path_factory.mktemp("cbis")
    return write_synthetic_cbis_ddsm(root, 5, film_shape=(320, 224), pixel_size=0.25, random_state=0)


def test_films_follow_the_csv_contract_and_cbis_layout(films):
    data = load_csv(films)
    X, meta = data.frame, data.metadata
    assert len(X) == 5 and set(data.target) <= {0, 1}
    assert all(s == (0.25, 0.25) for s in X["spacing"])
    for case, row in X.iterrows():
        film = read_image(row["image"])
        assert film.dtype == np.uint16 and film.shape == (320, 224)
        assert film.max() > 4095  # 16-bit range, as CBIS-DDSM's films
        mask = read_mask(row["mask"], film.shape)
        assert set(np.unique(mask)) == {0, 255}
        # the outline's area matches the recorded radius (irregular shapes: loose bounds)
        area = np.count_nonzero(mask) * 0.25**2
        radius = float(meta.loc[case, "radius_mm"])
        assert 0.3 * np.pi * radius**2 < area < 2.0 * np.pi * radius**2, case
        assert meta.loc[case, "kind"] in {"mass", "calcification"}
    # each patient's lesions appear on its CC and MLO films, each film holding all of them
    # (the last patient may be cut short by n_lesions)
    patients = pd.Series(data.groups, index=X.index)
    assert patients.nunique() >= 2
    for patient in patients.unique()[:-1]:
        rows = X[patients == patient]
        assert sorted(meta.loc[rows.index, "view"].unique()) == ["CC", "MLO"]
        assert rows.groupby("image").size().nunique() == 1, patient


def test_films_are_reproducible_and_shared_when_asked(tmp_path):
    a = write_synthetic_cbis_ddsm(tmp_path / "a", 6, film_shape=(256, 192), lesions_per_film=3, random_state=1)
    b = write_synthetic_cbis_ddsm(tmp_path / "b", 6, film_shape=(256, 192), lesions_per_film=3, random_state=1)
    Xa, Xb = load_csv(a).frame, load_csv(b).frame
    assert Xa.index.equals(Xb.index)
    assert Xa["image"].nunique() == 2  # 6 lesions, 3 per film
    for image_a, image_b in zip(Xa["image"], Xb["image"]):
        np.testing.assert_array_equal(read_image(image_a), read_image(image_b))


def test_film_shape_is_checked(tmp_path):
    with pytest.raises(ValueError, match="film_shape"):
        write_synthetic_cbis_ddsm(tmp_path, 1, film_shape=(32, 512))


def test_a_lesion_on_a_film_is_resampled_from_its_box_only(tmp_path, monkeypatch):
    path = write_synthetic_cbis_ddsm(tmp_path, 2, film_shape=(600, 400), pixel_size=0.05, random_state=3)
    X = load_csv(path).frame
    seen = []

    def spy(image, mask, *args, **kwargs):
        seen.append(np.shape(image))
        return resample_roi(image, mask, *args, **kwargs)

    monkeypatch.setattr(radiomics_module, "resample_roi", spy)
    features = RadiomicsExtractor(label=255, **FAST).fit_transform(X[["image", "mask", "spacing"]])
    monkeypatch.undo()
    assert len(seen) == 2
    for shape, mask_file in zip(seen, X["mask"]):
        rows, cols = np.nonzero(read_mask(mask_file, (600, 400)))
        # the box plus 8 target pixels (at 2x) and 32 pixels of margin on each side
        assert shape[0] <= rows.max() - rows.min() + 1 + 2 * 48
        assert shape[1] <= cols.max() - cols.min() + 1 + 2 * 48
        assert shape[0] * shape[1] < 600 * 400 / 4

    # the same features as resampling the whole film first (what the extractor did before)
    whole = []
    for image_file, mask_file in zip(X["image"], X["mask"]):
        film = read_image(image_file)
        image, mask = resample_roi(film, read_mask(mask_file, film.shape) > 0, 0.05, 0.1)
        whole.append((image, mask))
    reference = pd.DataFrame(
        {"image": [w[0] for w in whole], "mask": [w[1] for w in whole], "spacing": [(0.1, 0.1)] * 2},
        index=X.index,
    )
    expected = RadiomicsExtractor(**FAST).fit_transform(reference)
    np.testing.assert_allclose(features.to_numpy(), expected.to_numpy(), rtol=1e-7, atol=1e-9)


def test_gpu_check_dry_run_on_cpu():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-dry-run"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "device: cpu" in out
    assert "epoch fp32" in out and "epoch amp" in out
    assert "amp vs fp32 max |dp|" in out
    assert "pipeline end to end" in out


def test_gpu_check_without_cuda_says_so():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no device, even on a machine with one
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 3
    assert "no CUDA device" in result.stderr and "--cpu-dry-run" in result.stderr
