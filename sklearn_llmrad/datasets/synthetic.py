"""A synthetic mammography dataset: the package's embedded default data.

The generative model is described in ``_DESCR`` below (and returned as
``DESCR``). It aims at the properties that matter for testing a radiomics
pipeline, not at photorealism: a textured fibroglandular background whose
brightness depends on breast density (dense tissue masks lesions), benign
lesions that are mostly oval and circumscribed, malignant lesions that are mostly
irregular or spiculated with a heterogeneous interior and sometimes
microcalcifications, overlap between the two classes, physically motivated
quantum noise and detector blur, and two views of each lesion.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._columns import IMAGE, MASK, SPACING
from ..resampling import as_spacing
from ._common import make_bunch

__all__ = ["coarsen_mammograms", "make_synthetic_mammograms", "write_synthetic_cbis_ddsm"]

_DENSITIES = ("A", "B", "C", "D")
#: Fraction of the breast covered by fibroglandular tissue per BI-RADS density.
_GLANDULAR_FRACTION = {"A": 0.12, "B": 0.32, "C": 0.58, "D": 0.82}
#: P(density) for benign / malignant patients: dense breasts carry a modestly
#: higher risk (relative risk ~1.5-2 for C/D vs B; Boyd et al., NEJM 2007).
_DENSITY_P = {0: (0.12, 0.42, 0.36, 0.10), 1: (0.08, 0.34, 0.42, 0.16)}
_HISTORIES = ("family history of breast cancer", "prior benign biopsy", "no relevant history", None)
_HISTORY_P = {0: (0.12, 0.20, 0.53, 0.15), 1: (0.26, 0.14, 0.45, 0.15)}
#: Lesion archetypes and their probabilities per class. Some malignant lesions
#: are circumscribed (medullary / mucinous carcinomas) and some benign lesions
#: are irregular (fat necrosis, radial scars): this is where the classes overlap.
_SHAPES = ("oval", "lobulated", "irregular", "spiculated")
_SHAPE_P = {0: (0.60, 0.25, 0.11, 0.04), 1: (0.20, 0.16, 0.38, 0.26)}
# Boundary harmonic amplitudes (relative to the radius) per archetype:
# (low orders 2-4, high orders 5-12).
_HARMONICS = {
    "oval": (0.035, 0.008),
    "lobulated": (0.11, 0.015),
    "irregular": (0.12, 0.05),
    "spiculated": (0.10, 0.04),
}
_ATTENUATION_SCALE = 3.0  # transmission = exp(-3 * tissue), 0 <= tissue <~ 1
_PHOTONS = 1500.0  # mean detected quanta per pixel behind air
_MAX_VALUE = 4095  # 12-bit detector

_DESCR = """\
Synthetic mammograms (NOT real patient data)
--------------------------------------------

Every image is generated; no patient is depicted. Use this dataset to test and
demonstrate pipelines, never to draw clinical conclusions.

Generative model, per patient (``lesions_per_patient`` views of one lesion):
- Label: a fixed share ``malignant_fraction`` of patients is malignant.
- Clinical data, weakly related to the label: age ~ N(52, 11) benign vs
  N(60, 11) malignant (28-90 years, ~7 % missing); BI-RADS density A-D with
  denser breasts slightly more frequent in malignant cases (~5 % missing);
  history "family history of breast cancer" / "prior benign biopsy" /
  "no relevant history" / missing (None), family history twice as frequent
  in malignant cases.
- Breast: a half-ellipse against the chest wall (left or right), with tissue
  thickness falling off towards the skin line. Fibroglandular tissue is a
  thresholded Gaussian random field with a power-law spectrum P(f) ~ 1/f^3
  (the spectrum measured on real mammograms, Burgess et al., Med Phys 2001),
  the threshold set so that the glandular fraction matches the density
  (A 12 %, B 32 %, C 58 %, D 82 %): dense breasts are brighter and mask lesions.
- Lesion: a closed contour r(theta) = r0 (1 + sum_k a_k cos(k theta + phi_k))
  with elliptic elongation. Archetypes: oval (smooth), lobulated (low-order
  harmonics), irregular (high-order harmonics, ill-defined margin), spiculated
  (irregular core with 6-16 radiating spicules). Benign: 60 % oval, 25 %
  lobulated, 11 % irregular, 4 % spiculated; malignant: 20 %, 16 %, 38 %, 26 %.
  Malignant lesions have a heterogeneous interior (1/f^2 texture), a blurrier
  margin and are slightly denser; 35 % carry a cluster of fine pleomorphic
  microcalcifications (benign 8 %, fewer and coarser).
- Views: the views of one patient share the lesion (shape, size, texture
  parameters, label) but differ in rotation, scale (+-10 %), position and
  background, like CC and MLO projections.
- Acquisition: Beer-Lambert transmission with Poisson quantum noise
  (1500 quanta/pixel behind air), log transform, Gaussian detector blur
  (sigma 0.6 px), 12-bit quantisation (uint16, 0-4095). Dense tissue is bright.

Columns: ``image`` (uint16 array), ``mask`` (uint8 0/1 array: the lesion
contour, spicule tips excluded as in typical manual outlines), ``spacing``
(``pixel_size`` when given, else None: the images have no physical size),
``age``, ``density``, ``history``. ``metadata`` holds the generative truth (archetype,
calcifications, true density, view, laterality, radius): do not use it as
features. A radiomics classifier typically reaches an AUC of about 0.75-0.9.
"""


@lru_cache(maxsize=8)
def _spectral_filter(size, beta):
    """Amplitude filter f^(-beta/2) on the rfft2 grid (cached: pure function of its arguments)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0 / size  # the DC term would be infinite; the mean is removed anyway
    amplitude = (f ** (-beta / 2.0)).astype(np.float32)
    amplitude.flags.writeable = False
    return amplitude


def _power_law_field(rng, size, beta):
    """Zero-mean, unit-variance Gaussian random field with power ~ 1/f^beta."""
    noise = np.fft.rfft2(rng.standard_normal((size, size), dtype=np.float32))
    field = np.fft.irfft2(noise * _spectral_filter(size, beta), s=(size, size))
    field -= field.mean()
    return field / field.std()


def _patient(rng, label):
    """Everything the views of one patient share."""
    density = _DENSITIES[rng.choice(4, p=_DENSITY_P[label])]
    age = float(np.clip(np.round(rng.normal(60.0 if label else 52.0, 11.0)), 28, 90))
    history = _HISTORIES[rng.choice(4, p=_HISTORY_P[label])]
    shape = _SHAPES[rng.choice(4, p=_SHAPE_P[label])]
    low, high = _HARMONICS[shape]
    orders = np.arange(2, 13)
    amplitude = np.where(orders <= 4, low, high) * rng.uniform(0.5, 1.5, orders.size)
    amplitude /= np.where(orders <= 4, 1.0, np.sqrt(orders / 5.0))
    return {
        "label": label,
        "density": density,
        "reported_density": None if rng.random() < 0.05 else density,
        "age": np.nan if rng.random() < 0.07 else age,
        "history": history,
        "shape": shape,
        "laterality": "L" if rng.random() < 0.5 else "R",
        "radius": float(np.exp(rng.normal(np.log(0.05), 0.25 if label else 0.2))),
        "elongation": float(rng.uniform(1.0, 1.5) if shape in ("oval", "lobulated") else rng.uniform(1.0, 1.25)),
        "amplitude": amplitude,
        "phase": rng.uniform(0, 2 * np.pi, orders.size),
        "orders": orders,
        "contrast": float(np.clip(rng.normal(0.23 if label else 0.17, 0.05), 0.06, None)),
        # exponent of the edge profile (1 - rho^2)^p: small p = sharp margin
        "edge": float(np.clip(rng.normal(0.6 if label else 0.35, 0.15), 0.1, 1.2)),
        "margin_blur": float(np.clip(rng.normal(1.4 if label else 0.9, 0.45), 0.3, 3.0)),
        "heterogeneity": float(np.clip(rng.normal(0.35 if label else 0.15, 0.1), 0.02, 0.7)),
        "n_spicules": int(rng.integers(6, 17)) if shape == "spiculated" else 0,
        "calcifications": rng.random() < (0.35 if label else 0.08),
    }


def _breast(rng, size, laterality):
    """Normalised elliptic radius ``d`` (breast where d < 1), relative tissue
    thickness (1 inside, 0 at the skin) and distance from the chest wall."""
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    if laterality == "R":
        cols = size - 1 - cols
    centre = size * rng.uniform(0.47, 0.53)
    a = size * rng.uniform(0.8, 0.95)
    b = size * rng.uniform(0.43, 0.5)
    d = np.sqrt((cols / a) ** 2 + ((rows - centre) / b) ** 2, dtype=np.float32)
    cols = np.broadcast_to(cols, (size, size))
    thickness = np.clip((1.0 - d) * 6.0, 0.0, 1.0) ** 0.7
    return d, thickness, cols


def _lesion_layers(rng, size, p, centre, scale, angle):
    """Lesion signal (before acquisition), its mask and the calcification
    layer, computed on a window around the lesion for speed."""
    r0 = p["radius"] * size * scale
    blur = p["margin_blur"] * size / 256.0
    half = int(np.ceil(r0 * 3.0 + 4.0 * blur)) + 2
    r_lo, c_lo = max(int(centre[0]) - half, 0), max(int(centre[1]) - half, 0)
    r_hi, c_hi = min(int(centre[0]) + half + 1, size), min(int(centre[1]) + half + 1, size)
    rows, cols = np.mgrid[r_lo:r_hi, c_lo:c_hi].astype(np.float64)
    dy, dx = rows - centre[0], cols - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, (-sin * dx + cos * dy) * p["elongation"]
    theta = np.arctan2(v, u)
    boundary = 1.0 + np.tensordot(
        p["amplitude"], np.cos(p["orders"][:, None, None] * theta + p["phase"][:, None, None]), axes=1
    )
    rho = np.hypot(u, v) / (r0 * np.clip(boundary, 0.4, None))
    window = (slice(r_lo, r_hi), slice(c_lo, c_hi))
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[window] = rho <= 1.0
    profile = np.clip(1.0 - rho**2, 0.0, 1.0) ** p["edge"]
    texture = _power_law_field(rng, max(r_hi - r_lo, c_hi - c_lo), 2.0)[: r_hi - r_lo, : c_hi - c_lo]
    local = profile * (1.0 + p["heterogeneity"] * texture)
    for _ in range(p["n_spicules"]):
        phi = angle + rng.uniform(-np.pi, np.pi)
        length = r0 * rng.uniform(0.7, 1.8)
        t = np.linspace(0.8, 1.0 + length / r0, int(4 * length) + 8)
        bend = rng.normal(0, 0.05)
        weight = np.clip(1.0 - (t - 1.0) * r0 / length, 0.0, 1.0) ** 0.7 * 0.9
        for offset in (-0.5, 0.5):  # two pixels wide before blur
            pr = centre[0] + r0 * t * np.sin(phi + bend * t) + offset * np.cos(phi) - r_lo
            pc = centre[1] + r0 * t * np.cos(phi + bend * t) - offset * np.sin(phi) - c_lo
            pr, pc = np.round(pr).astype(int), np.round(pc).astype(int)
            keep = (pr >= 0) & (pr < r_hi - r_lo) & (pc >= 0) & (pc < c_hi - c_lo)
            np.maximum.at(local, (pr[keep], pc[keep]), weight[keep])
    signal = np.zeros((size, size))
    signal[window] = ndimage.gaussian_filter(local, blur)
    calcs = np.zeros((size, size))
    if p["calcifications"]:
        malignant = p["label"] == 1
        n = int(rng.integers(6, 20) if malignant else rng.integers(2, 6))
        spread = r0 * (0.6 if malignant else 0.8)
        pts = np.asarray(centre) + rng.normal(0, spread / 2.0, (n, 2))
        pts = np.clip(np.round(pts), 0, size - 1).astype(int)
        calcs[pts[:, 0], pts[:, 1]] = rng.uniform(0.6, 1.0, n) * (0.5 if malignant else 0.9)
        if not malignant:  # coarse "popcorn" calcifications
            calcs = ndimage.grey_dilation(calcs, size=(2, 2))
    return p["contrast"] * signal, mask, calcs


def _view(rng, size, p, view_index):
    d, thickness, from_wall = _breast(rng, size, p["laterality"])
    field = _power_law_field(rng, size, 3.0)
    # glandular tissue concentrates behind the nipple, away from the skin line
    field = field + 1.2 * np.clip(1.0 - d, 0, 1) - 0.4 * np.clip(d - 0.6, 0, None)
    inside = d < 1.0
    threshold = np.quantile(field[inside], 1.0 - _GLANDULAR_FRACTION[p["density"]])
    glandular = 1.0 / (1.0 + np.exp(-(field - threshold) / 0.45))
    # fine trabecular / ductal structure on top of the coarse glandular pattern
    fine = _power_law_field(rng, size, 2.0)
    tissue = (0.22 + 0.42 * glandular + 0.035 * fine * (0.3 + glandular)) * thickness

    # place the lesion well inside the breast, off the chest wall
    candidates = np.argwhere((d < 0.7) & (from_wall > 0.12 * size))
    centre = candidates[rng.integers(len(candidates))].astype(np.float64)
    scale = rng.uniform(0.9, 1.1)
    angle = rng.uniform(0, 2 * np.pi) if view_index else rng.uniform(-0.3, 0.3)
    lesion, mask, calcs = _lesion_layers(rng, size, p, centre, scale, angle)
    tissue = tissue + (lesion + calcs) * (thickness > 0)

    expected = _PHOTONS * np.exp(-_ATTENUATION_SCALE * tissue)
    counts = np.maximum(rng.poisson(expected), 1)
    image = -np.log(counts / _PHOTONS) / _ATTENUATION_SCALE
    image = ndimage.gaussian_filter(image, 0.6 * size / 256.0)
    image = np.clip(np.round(image / 1.2 * _MAX_VALUE), 0, _MAX_VALUE).astype(np.uint16)
    return image, mask * (thickness > 0).astype(np.uint8)


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "image_size": [Interval(Integral, 64, 4096, closed="both")],
        "malignant_fraction": [Interval(Real, 0, 1, closed="both")],
        "lesions_per_patient": [Interval(Integral, 1, None, closed="left")],
        "pixel_size": [Interval(Real, 0, None, closed="neither"), None],
        "labels": ["boolean"],
        "return_X_y": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_synthetic_mammograms(
    n_samples=200,
    *,
    image_size=256,
    malignant_fraction=0.5,
    lesions_per_patient=2,
    pixel_size=None,
    labels=True,
    return_X_y=False,
    random_state=None,
):
    """Generate a synthetic mammography dataset (images, masks, clinical data).

    Read the full generative model in the returned ``DESCR``. The images are
    synthetic: use them to test and demonstrate pipelines only.

    Parameters
    ----------
    n_samples : int, default=200
        Number of images (lesions). Patients contribute ``lesions_per_patient``
        views each; the last patient may have fewer.
    image_size : int, default=256
        Side of the square images in pixels (64-4096); lesion size, blur and
        texture scale with it.
    malignant_fraction : float, default=0.5
        Share of malignant patients.
    lesions_per_patient : int, default=2
        Views per patient (e.g. CC and MLO of the same lesion): same label and
        lesion, different projection. Use ``groups`` for cross-validation.
    pixel_size : float, default=None
        Pixel size in mm the images are declared to have (their ``spacing``
        column); the rendering itself does not change (lesions measure about
        5 % of ``image_size``). None leaves ``spacing`` unknown.
    labels, return_X_y : bool
        Shared by the lesion loaders: see :mod:`sklearn_llmrad.datasets`.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible datasets.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame`` (index ``synthetic_0000``...; columns ``image`` uint16 2-D
        array, ``mask`` uint8 0/1 array, ``spacing``, ``age``, ``density``,
        ``history``),
        ``target`` (0/1), ``groups`` (patient ids), ``DESCR``,
        ``feature_names``, ``target_names``, ``excluded`` (empty),
        ``metadata`` (generative truth; not for use as features).
    (frame, target) : tuple
        With ``return_X_y=True``.

    Examples
    --------
    >>> from sklearn_llmrad.datasets import make_synthetic_mammograms
    >>> X, y = make_synthetic_mammograms(8, image_size=64, return_X_y=True, random_state=0)
    >>> X.shape, X["image"].iloc[0].shape, X["image"].iloc[0].dtype.name
    ((8, 6), (64, 64), 'uint16')
    >>> sorted(set(y.tolist()))
    [0, 1]
    """
    rs = check_random_state(random_state)
    n_patients = -(-n_samples // lesions_per_patient)
    n_malignant = int(round(malignant_fraction * n_patients))
    patient_labels = np.zeros(n_patients, dtype=np.int64)
    patient_labels[rs.permutation(n_patients)[:n_malignant]] = 1
    seeds = rs.randint(0, 2**31 - 1, size=n_patients)
    view_names = (
        ("CC", "MLO") if lesions_per_patient == 2 else tuple(f"view{k + 1}" for k in range(lesions_per_patient))
    )

    rows, target, groups, meta = [], [], [], []
    for patient_index in range(n_patients):
        rng = np.random.default_rng(seeds[patient_index])
        p = _patient(rng, int(patient_labels[patient_index]))
        for view_index in range(lesions_per_patient):
            case_number = patient_index * lesions_per_patient + view_index
            if case_number >= n_samples:
                break
            image, mask = _view(rng, image_size, p, view_index)
            case = f"synthetic_{case_number:04d}"
            rows.append(
                {
                    "case": case,
                    "image": image,
                    "mask": mask,
                    "spacing": None if pixel_size is None else (float(pixel_size), float(pixel_size)),
                    "age": p["age"],
                    "density": p["reported_density"],
                    "history": p["history"],
                }
            )
            target.append(p["label"])
            groups.append(f"synthetic_patient_{patient_index:04d}")
            meta.append(
                {
                    "case": case,
                    "view": view_names[view_index],
                    "laterality": p["laterality"],
                    "archetype": p["shape"],
                    "calcifications": bool(p["calcifications"]),
                    "true_density": p["density"],
                    "radius_px": p["radius"] * image_size,
                }
            )
    frame = pd.DataFrame(rows).set_index("case")
    frame.index.name = None
    metadata = pd.DataFrame(meta).set_index("case")
    metadata.index.name = None
    return make_bunch(
        frame=frame,
        target=target,
        groups=groups,
        descr=_DESCR,
        return_X_y=return_X_y,
        labels=labels,
        metadata=metadata,
    )


def coarsen_mammograms(X, factor):
    """The same mammograms acquired with ``factor`` times larger pixels.

    Each image is averaged over blocks of ``factor x factor`` pixels (what a
    detector with larger pixels integrates), each mask becomes the blocks at
    least half covered by the lesion, and ``spacing`` is multiplied by
    ``factor``. Rows and columns beyond a multiple of ``factor`` are dropped.
    Used to check that features in mm do not depend on the pixel size
    (``benchmarks/bench_spacing_invariance.py``).

    Parameters
    ----------
    X : DataFrame
        Columns ``image`` and ``mask`` (2-D arrays) and ``spacing`` (known for
        every row), as :func:`make_synthetic_mammograms` with ``pixel_size``
        returns them.
    factor : int
        Block size, >= 1.

    Returns
    -------
    DataFrame
        A copy of ``X``; ``image`` float32.

    Examples
    --------
    >>> X, _ = make_synthetic_mammograms(2, image_size=64, pixel_size=0.05, return_X_y=True, random_state=0)
    >>> coarse = coarsen_mammograms(X, 4)
    >>> coarse["image"].iloc[0].shape, coarse["spacing"].iloc[0]
    ((16, 16), (0.2, 0.2))
    """
    if not isinstance(factor, Integral) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    out = X.copy()

    def blocks(array):
        rows, cols = (n // factor * factor for n in array.shape)
        array = np.asarray(array, dtype=np.float64)[:rows, :cols]
        return array.reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))

    images, masks, spacings = [], [], []
    for case, image, mask, spacing in zip(X.index, X[IMAGE], X[MASK], X[SPACING]):
        spacing = as_spacing(spacing)
        if spacing is None:
            raise ValueError(f"case {case!r}: spacing unknown; coarsening needs it")
        images.append(blocks(image).astype(np.float32))
        masks.append((blocks(np.asarray(mask) > 0) >= 0.5).astype(np.uint8))
        spacings.append((spacing[0] * factor, spacing[1] * factor))
    for column, values in ((IMAGE, images), (MASK, masks), (SPACING, spacings)):
        cells = np.empty(len(values), dtype=object)
        cells[:] = values
        out[column] = cells
    return out


# ------------------------------------------------------------------ CBIS-DDSM-shaped films on disk
#: CBIS-DDSM in round numbers (Lee et al., Scientific Data 4:170177, 2017):
#: 3,568 ROIs (1,696 masses, 1,872 calcification clusters) on about 3,100
#: full films (about 1.15 ROIs per film, each lesion seen on a CC and an MLO
#: film), about 41 % malignant, 16-bit films of about 3,000 x 5,000 pixels.
_CBIS_MASS_FRACTION = 0.475
_CBIS_MALIGNANT = 0.41
#: Lesions per patient (each on both views): mean ~1.15 ROIs per film.
_CBIS_LESIONS_P = (0.88, 0.09, 0.03)
#: Lesion radius in mm, log-normal (median, sigma) per kind: masses are
#: 5-40 mm across; calcification clusters are outlined more loosely and vary more.
_CBIS_RADIUS_MM = {"mass": (7.0, 0.45), "calcification": (8.0, 0.6)}
_MAX_16BIT = 65535


def _film_tissue(rng, shape, density, laterality, factor=8):
    """Tissue thickness-weighted attenuation of a whole film (float32) and the
    low-resolution normalised breast radius ``d`` (for placing lesions).

    The breast, its glandular pattern (1/f^3 field) and its fine structure
    (1/f^2 field) are drawn on a grid ``factor`` times coarser and upsampled
    (linear): a full-size FFT per film would dominate the writing time, and the
    pixel-level texture comes from the quantum noise added afterwards.
    """
    low = (-(-shape[0] // factor), -(-shape[1] // factor))
    rows = np.arange(low[0], dtype=np.float32)[:, None]
    cols = np.arange(low[1], dtype=np.float32)[None, :]
    if laterality == "R":
        cols = low[1] - 1 - cols
    centre = low[0] * rng.uniform(0.45, 0.55)
    a, b = low[1] * rng.uniform(0.75, 0.92), low[0] * rng.uniform(0.38, 0.46)
    d = np.sqrt((cols / a) ** 2 + ((rows - centre) / b) ** 2, dtype=np.float32)
    thickness = np.clip((1.0 - d) * 6.0, 0.0, 1.0) ** 0.7
    side = max(low)
    field = _power_law_field(rng, side, 3.0)[: low[0], : low[1]]
    field = field + 1.2 * np.clip(1.0 - d, 0, 1) - 0.4 * np.clip(d - 0.6, 0, None)
    threshold = np.quantile(field[d < 1.0], 1.0 - _GLANDULAR_FRACTION[density])
    glandular = 1.0 / (1.0 + np.exp(-(field - threshold) / 0.45))
    fine = _power_law_field(rng, side, 2.0)[: low[0], : low[1]]
    tissue = ((0.22 + 0.42 * glandular + 0.035 * fine * (0.3 + glandular)) * thickness).astype(np.float32)
    tissue = ndimage.zoom(tissue, factor, order=1)[: shape[0], : shape[1]]
    return tissue, d, np.broadcast_to(cols, low) * factor


def _paste_lesion(rng, tissue, p, centre, radius_px, angle):
    """Render one lesion on a patch around ``centre`` (``_lesion_layers``),
    add it to ``tissue`` in place and return the film-size 0/1 mask."""
    size = int(7 * radius_px) + 10  # the layers' window (3 radii + blur) fits in the patch
    lesion, mask, calcs = _lesion_layers(rng, size, {**p, "radius": radius_px / size}, (size / 2, size / 2), 1.0, angle)
    if p["kind"] == "calcification":  # fine calcifications of 2-4 pixels (0.1-0.2 mm) at 50 um
        calcs = ndimage.grey_dilation(calcs, size=(3, 3))
    top, left = int(centre[0]) - size // 2, int(centre[1]) - size // 2
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + size, tissue.shape[0]), min(left + size, tissue.shape[1])
    patch = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
    region = tissue[r0:r1, c0:c1]
    inside = region > 0
    region += ((lesion + calcs)[patch] * inside).astype(np.float32)
    film_mask = np.zeros(tissue.shape, dtype=np.uint8)
    film_mask[r0:r1, c0:c1] = mask[patch] * inside
    return film_mask


def _film_pixels(rng, tissue):
    """Acquisition of a film: transmission, quantum noise (Gaussian approximation
    of Poisson at 1500 quanta), log, detector blur, 16-bit quantisation."""
    expected = _PHOTONS * np.exp(-_ATTENUATION_SCALE * tissue)
    counts = expected + np.sqrt(expected) * rng.standard_normal(tissue.shape, dtype=np.float32)
    np.maximum(counts, 1.0, out=counts)
    image = np.log(counts / np.float32(_PHOTONS)) * np.float32(-1.0 / _ATTENUATION_SCALE)
    image = ndimage.gaussian_filter(image, 0.8)
    return np.clip(np.round(image * np.float32(_MAX_16BIT / 1.2)), 0, _MAX_16BIT).astype(np.uint16)


def _write_png(array, path):
    import SimpleITK as sitk

    tmp = path.with_name(path.name + ".tmp.png")
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp), True, 1)  # zlib level 1: fast
    os.replace(tmp, path)


@validate_params(
    {
        "root": [str, os.PathLike],
        "n_lesions": [Interval(Integral, 1, None, closed="left")],
        "film_shape": [tuple, list],
        "pixel_size": [Interval(Real, 0, None, closed="neither")],
        "lesions_per_film": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def write_synthetic_cbis_ddsm(
    root, n_lesions=3500, *, film_shape=(5000, 3000), pixel_size=0.05, lesions_per_film=None, random_state=None
):
    """Write a synthetic dataset shaped like CBIS-DDSM to disk, as a CSV dataset.

    Full-size 16-bit films (PNG, default 5,000 x 3,000 pixels of 0.05 mm) and
    one full-size mask per lesion (PNG, 0/255, as CBIS-DDSM's ROI masks), listed
    in ``root/lesions.csv`` in the data contract of
    :func:`~sklearn_llmrad.datasets.load_csv`. Made to test extraction at the
    scale of CBIS-DDSM (memory, time per lesion), not to draw conclusions: the
    images are generated (the model of :func:`make_synthetic_mammograms`,
    drawn at film size; see its ``DESCR``).

    As in CBIS-DDSM, a patient's lesions appear on a CC and an MLO film, a film
    holds all its patient's lesions (about 1.15 per film), 47.5 % of the lesions
    are masses and 52.5 % calcification clusters, about 41 % are malignant,
    and lesions measure 5-40 mm across (masses) or are looser clusters.
    A film is about 25 MB: 3,500 lesions take about 75 GB; pass
    ``lesions_per_film`` to share films between more lesions.

    Parameters
    ----------
    root : path-like
        Folder to write (created): ``films/``, ``masks/`` and ``lesions.csv``.
    n_lesions : int, default=3500
        Number of lesions (rows of the CSV); CBIS-DDSM has 3,568.
    film_shape : (int, int), default=(5000, 3000)
        Film size in pixels, (rows, columns); at least 64 each.
    pixel_size : float, default=0.05
        Pixel size in mm (the ``spacing`` column); lesion sizes are drawn in mm
        (and capped to fit the film).
    lesions_per_film : int, default=None
        Lesions drawn on each film (each seen on two films, CC and MLO); None
        draws CBIS-DDSM's 1-3 per patient (mean about 1.15).
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible datasets.

    Returns
    -------
    pathlib.Path
        The CSV file; :func:`~sklearn_llmrad.datasets.load_csv` loads it
        (groups: patients; ``metadata``: kind, view, laterality, radius_mm).

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_llmrad.datasets import load_csv
    >>> path = write_synthetic_cbis_ddsm(tempfile.mkdtemp(), 3, film_shape=(300, 200), pixel_size=0.5, random_state=0)
    >>> data = load_csv(path)
    >>> data.frame.shape[0], data.frame["spacing"].iloc[0], sorted(data.metadata["view"].unique())
    (3, (0.5, 0.5), ['CC', 'MLO'])
    """
    if len(film_shape) != 2 or not all(isinstance(n, Integral) and n >= 64 for n in film_shape):
        raise ValueError(f"film_shape must be two ints >= 64, got {film_shape!r}")
    shape = (int(film_shape[0]), int(film_shape[1]))
    root = Path(root)
    for folder in ("films", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rs = check_random_state(random_state)
    max_radius_px = (min(shape) / 2 - 10) / 7  # the lesion's patch fits in the film
    fields = ["image", "mask", "label", "age", "density", "history", "patient", "case", "spacing"]
    fields += ["kind", "view", "laterality", "radius_mm"]
    rows, patient_index = [], 0
    while len(rows) < n_lesions:
        rng = np.random.default_rng(rs.randint(0, 2**31 - 1))
        patient = f"P_{patient_index:05d}"
        patient_index += 1
        label = int(rng.random() < _CBIS_MALIGNANT)
        base = _patient(rng, label)
        k = lesions_per_film or 1 + int(rng.choice(3, p=_CBIS_LESIONS_P))
        lesions = []
        for _ in range(k):
            kind = "mass" if rng.random() < _CBIS_MASS_FRACTION else "calcification"
            median, sigma = _CBIS_RADIUS_MM[kind]
            radius_mm = float(np.exp(rng.normal(np.log(median), sigma)))
            lesion = {**_patient(rng, label), "kind": kind, "label": label}
            if kind == "calcification":  # a loose cluster: faint mass, many calcifications
                lesion.update(contrast=0.03, calcifications=True, n_spicules=0)
            lesions.append((lesion, radius_mm))
        side = "LEFT" if base["laterality"] == "L" else "RIGHT"
        for view_index, view in enumerate(("CC", "MLO")):
            if len(rows) >= n_lesions:
                break
            film_name = f"{patient}_{side}_{view}"
            tissue, d, from_wall = _film_tissue(rng, shape, base["density"], base["laterality"])
            candidates = np.argwhere((d < 0.7) & (from_wall > 0.12 * shape[1]))
            if len(candidates) == 0:
                candidates = np.argwhere(d < 1.0)
            factor = shape[0] / d.shape[0]
            masks = []
            for lesion, radius_mm in lesions:
                radius_px = min(radius_mm / pixel_size, max_radius_px) * rng.uniform(0.9, 1.1)
                centre = (candidates[rng.integers(len(candidates))] + 0.5) * factor
                angle = rng.uniform(0, 2 * np.pi) if view_index else rng.uniform(-0.3, 0.3)
                masks.append((_paste_lesion(rng, tissue, lesion, centre, radius_px, angle), lesion, radius_px))
            image_path = root / "films" / f"{film_name}.png"
            _write_png(_film_pixels(rng, tissue), image_path)
            del tissue
            for number, (mask, lesion, radius_px) in enumerate(masks, start=1):
                if len(rows) >= n_lesions:
                    break
                case = f"{'Mass' if lesion['kind'] == 'mass' else 'Calc'}_{film_name}_{number}"
                mask_path = root / "masks" / f"{case}.png"
                _write_png(mask * np.uint8(255), mask_path)
                rows.append(
                    {
                        "image": f"films/{image_path.name}",
                        "mask": f"masks/{mask_path.name}",
                        "label": label,
                        "age": "" if np.isnan(base["age"]) else int(base["age"]),
                        "density": base["reported_density"] or "",
                        "history": base["history"] or "",
                        "patient": patient,
                        "case": case,
                        "spacing": f"{pixel_size:g}",
                        "kind": lesion["kind"],
                        "view": view,
                        "laterality": base["laterality"],
                        "radius_mm": round(radius_px * pixel_size, 3),
                    }
                )
            del masks
    path = root / "lesions.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path
