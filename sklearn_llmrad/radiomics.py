"""PyRadiomics feature extraction as a stateless scikit-learn transformer.

:class:`RadiomicsExtractor` turns a DataFrame of 2-D images and lesion masks
(usually the output of :class:`~sklearn_llmrad.CLAHEPreprocessor`) into a
DataFrame of PyRadiomics features, with the clinical columns passed through.

Design notes
------------
* **2-D extraction.** Images are handed to PyRadiomics as *2-D* SimpleITK
  images with ``force2D=False``. Then the wavelet filter decomposes both axes
  (``wavelet-LL``, ``-LH``, ``-HL``, ``-HH``), the LoG filter and the 2-D LBP
  work, and ``shape2D`` is computed. The alternatives were tried and rejected:
  a 2-D image with ``force2D=True`` removes axis 0 from the wavelet axes and
  yields only ``wavelet-L``/``wavelet-H``; a 3-D image with one slice and
  ``force2D=True, force2Ddimension=0`` gives the full 2-D wavelet bands but
  PyRadiomics then skips every LoG image (it needs >= 4 voxels along every axis).
  PyRadiomics names LoG images ``log-sigma-<s>-mm-3D`` whatever the dimension.
* **Discretisation.** The preprocessor outputs z-scored intensities (mean 0,
  s.d. 1, arbitrary units), and the filtered images span very different
  ranges (squared, exponential, LoG and wavelet images differ by orders of
  magnitude). PyRadiomics' default fixed bin *width* of 25 would put a whole
  z-scored ROI into one bin, and no single bin width suits every filter. We
  therefore default to a fixed bin *count* (32 grey levels per image),
  the usual choice for modalities without calibrated intensity units (IBSI,
  Zwanenburg et al., Radiology 2020, sec. 3.4), which also bounds the size of
  the GLCM/GLSZM/... matrices and so the time per ROI. Pass ``bin_width`` for
  fixed-width binning instead.
* **Cache.** With ``cache_dir`` each case's features are stored as soon as
  they are computed, keyed by a hash of the pixel content, the mask content,
  all extraction settings and the library versions (see
  :mod:`sklearn_llmrad._cache`): cross-validation folds and grid searches
  do not re-extract, and a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import math
import multiprocessing
import os
import threading
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._cache import CacheCorruptionWarning, DiskCache
from ._columns import IMAGE, MASK, SOURCE, SPACING
from ._files import hash_key
from ._progress import progress_bar
from .exceptions import ExtractionError, ImageReadError, LesionError, MaskError
from .lesions import check_lesion
from .resampling import DEFAULT_SPACING_MM, as_spacing, grid_for, resample_roi, spacing_column, warn_unknown_spacing

__all__ = ["RadiomicsExtractor", "IMAGE_TYPES", "FEATURE_CLASSES"]

#: Image types (PyRadiomics filters) that make sense on a 2-D image.
IMAGE_TYPES = (
    "Original",
    "Wavelet",
    "LoG",
    "Square",
    "SquareRoot",
    "Logarithm",
    "Exponential",
    "Gradient",
    "LBP2D",
)
#: Feature classes valid for 2-D input (``shape`` is 3-D only).
FEATURE_CLASSES = ("firstorder", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")

# Bumped whenever what we store under a key changes meaning.
_CACHE_FORMAT = 1
_CACHE_NAMESPACE = "radiomics"
_ARRAY_SOURCE = "<array>"


# ----------------------------------------------------------------------------
# settings
# ----------------------------------------------------------------------------
def _library_versions():
    import pywt
    import radiomics
    import SimpleITK as sitk
    import skimage

    return {
        "radiomics": str(radiomics.__version__),
        "SimpleITK": str(sitk.Version_VersionString()),
        "pywt": str(pywt.__version__),
        "numpy": str(np.__version__),
        "skimage": str(skimage.__version__),
        "format": _CACHE_FORMAT,
    }


def _pyradiomics_params(est):
    """The PyRadiomics parameter dict (``setting``/``imageType``/``featureClass``)."""
    if est.params is not None:
        if isinstance(est.params, dict):
            params = copy.deepcopy(est.params)
        else:
            import yaml

            path = Path(est.params)
            if not path.is_file():
                raise FileNotFoundError(f"PyRadiomics parameter file not found: {path}")
            params = yaml.safe_load(path.read_text()) or {}
        params.setdefault("setting", {})
        # PyRadiomics orders its output by these dicts; a canonical order makes
        # the columns (and the cache fingerprint, which sorts keys) independent
        # of how the YAML file or dict happened to be ordered.
        for section, known in (("imageType", IMAGE_TYPES), ("featureClass", FEATURE_CLASSES)):
            if isinstance(params.get(section), dict):
                rank = {name: i for i, name in enumerate(known)}
                params[section] = dict(
                    sorted(params[section].items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
                )
        return params

    def pick(value, allowed, what):
        if isinstance(value, str):  # only "all" passes parameter validation
            return list(allowed)
        unknown = [v for v in value if v not in allowed]
        if unknown or not value:
            raise ValueError(f"{what} must be 'all' or a non-empty subset of {list(allowed)}, got {value!r}")
        # canonical order, so that the cache fingerprint (which sorts keys)
        # determines the column order
        return [name for name in allowed if name in value]

    image_types = {}
    for name in pick(est.image_types, IMAGE_TYPES, "image_types"):
        image_types[name] = {"sigma": [float(s) for s in est.log_sigma]} if name == "LoG" else {}
    setting = {
        "label": 1,
        "force2D": False,
        # Filters run on the bounding box plus a margin instead of the whole
        # image: identical features for small crops, far faster on full mammograms.
        "preCrop": True,
        "additionalInfo": False,
    }
    if est.bin_width is not None:
        setting["binWidth"] = float(est.bin_width)
    else:
        setting["binCount"] = int(est.bin_count)
    return {
        "setting": setting,
        "imageType": image_types,
        "featureClass": {c: None for c in pick(est.feature_classes, FEATURE_CLASSES, "feature_classes")},
    }


def _make_extractor(params):
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    params = copy.deepcopy(params)
    # We binarise the mask ourselves (after checking the label), so PyRadiomics
    # always sees label 1.
    params.setdefault("setting", {})["label"] = 1
    return RadiomicsFeatureExtractor(params)


@contextlib.contextmanager
def _quiet():
    """Silence PyRadiomics' logger and known harmless warnings, then restore them."""
    import radiomics  # noqa: F401  (its import resets the logger level, so import first)

    logger = logging.getLogger("radiomics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # skimage warns about LBP on float images; z-scored ROIs are float by design.
            warnings.filterwarnings("ignore", message=".*local_binary_pattern.*")
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


# ----------------------------------------------------------------------------
# per-case work (module level, so that loky and dask can pickle it)
# ----------------------------------------------------------------------------
def _is_pathlike(obj):
    return isinstance(obj, str | os.PathLike)


def _resolve(case, image, mask, source, spacing=None):
    """Turn paths / ROIs into arrays; raise LesionError subclasses naming the case.

    Returns the image, the mask and the spacing: ``spacing`` when given, else
    the one the image file states (None for an array or a file without one).
    """
    if _is_pathlike(image):
        from .imageio import read_image_info

        image, info = read_image_info(image, case=case)
        spacing = spacing or info.spacing
    if isinstance(image, np.ndarray) and image.ndim == 3 and 1 in image.shape:
        image = np.squeeze(image)
    if not isinstance(image, np.ndarray):
        raise ImageReadError(f"image must be a 2-D array or a path, got {type(image).__name__}", case=case, file=source)
    if image.ndim != 2:
        raise ImageReadError(f"image must be 2-D, got shape {image.shape}", case=case, file=source)
    if _is_pathlike(mask):
        from .imageio import read_mask

        mask = read_mask(mask, image.shape, case=case, image_file=source)
    elif hasattr(mask, "rasterize"):
        from .roi import rasterize_roi

        mask = rasterize_roi(mask, image.shape)
    if isinstance(mask, np.ndarray) and mask.ndim == 3 and 1 in mask.shape:
        mask = np.squeeze(mask)
    if not isinstance(mask, np.ndarray):
        raise MaskError(
            f"mask must be a 2-D array, a path or an ROI, got {type(mask).__name__}", case=case, file=source
        )
    return image, mask, spacing


def _check(case, image, mask, label, source):
    """Validate one ROI; return the binary uint8 mask of ``label``."""
    _, roi = check_lesion(image, mask, label=label, min_pixels=2, case=case, file=source)
    return roi.astype(np.uint8)


def _case_key(image, mask, fingerprint, spacing=None):
    """The cache key of one ROI; with a resampling target, its spacing is part of it."""
    if spacing is None:
        return hash_key("radiomics-case", image, mask, fingerprint)
    return hash_key("radiomics-case", image, mask, fingerprint, list(spacing))


def _roi_grid(config, spacing):
    """``grid_for``'s ``(resample_from, spacing, assumed)`` of one ROI, and the spacings its cache key holds."""
    origin, grid, assumed = grid_for(spacing, config["target"], config["spacing"], config["pixel_spacing_given"])
    return origin, grid, assumed, None if config["target"] is None else [*(origin or grid), *grid]


def _load_cached(cache, key, n_features):
    payload = cache.get(key)
    if payload is None:
        return None
    if len(payload) != 8 * n_features:
        warnings.warn(
            f"cache entry {cache.path_for(key)} holds {len(payload) // 8} values, expected {n_features}; recomputing",
            CacheCorruptionWarning,
            stacklevel=2,
        )
        return None
    return np.frombuffer(payload, dtype="<f8").copy()


def _sitk_pair(image, mask, spacing):
    """Image and mask as SimpleITK images of ``spacing`` (row, col)."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(np.asarray(image, dtype=np.float64)), sitk.GetImageFromArray(mask)
    for item in out:
        item.SetSpacing((spacing[1], spacing[0]))  # SimpleITK orders (x=column, y=row)
    return out


def _extract_one(extractor, config, cache, item):
    pos, case, source, image, mask, spacing = item
    assumed = False
    try:
        image, mask, spacing = _resolve(case, image, mask, source, spacing)
        origin, grid, assumed, key_spacing = _roi_grid(config, spacing)
        key = None
        if cache is not None:
            key = _case_key(image, mask, config["fingerprint"], key_spacing)
            hit = _load_cached(cache, key, len(config["names"]))
            if hit is not None:
                return pos, hit, None, assumed
        roi = _check(case, image, mask, config["label"], source)
        if origin is not None:  # and check what is left of the lesion on the new grid
            image, roi = resample_roi(image, roi, origin, grid)
            roi = _check(case, image, roi, 1, source)
        try:
            result = extractor.execute(*_sitk_pair(image, roi, grid), label=1)
        except Exception as exc:  # PyRadiomics raises bare ValueError/RuntimeError etc.
            raise ExtractionError(f"PyRadiomics failed: {type(exc).__name__}: {exc}", case=case, file=source) from exc
        values = np.array([float(result.get(name, np.nan)) for name in config["names"]], dtype=np.float64)
        if cache is not None:
            cache.set(key, values.astype("<f8").tobytes())
        return pos, values, None, assumed
    except LesionError as exc:
        return pos, None, exc, assumed


@functools.lru_cache(maxsize=8)
def _thread_extractor(params_json, thread_id):
    """This thread's PyRadiomics extractor for one settings string.

    Built (and PyRadiomics imported, its settings validated) once per worker
    thread and settings, then reused by every batch it runs: a warm worker
    pays neither the import nor the settings parsing again. A bounded
    per-process memo keyed by the canonical JSON of the settings and the
    thread (an extractor is never shared between threads).
    """
    return _make_extractor(json.loads(params_json))


def _extract_batch(items, config, cache_dir, worker_threads=None):
    """Extract a batch of cases in one process with its (reused) extractor.

    ``worker_threads``: when set, SimpleITK's own thread pool is limited to
    that many threads in this process (in a worker of a parallel run, the
    workers already occupy the cores; ITK's threads would only compete).

    Returns ``(results, relayed_warnings)``; warnings raised in a worker process
    would otherwise never reach the user, so they are sent back as strings.
    """
    if worker_threads is not None and multiprocessing.parent_process() is not None:
        # Only in a worker process (loky, dask): never change the caller's own settings.
        import SimpleITK as sitk

        if sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() != worker_threads:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(worker_threads)
    cache = None if cache_dir is None else DiskCache(cache_dir, namespace=_CACHE_NAMESPACE)
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheCorruptionWarning)
        with _quiet():
            extractor = _thread_extractor(json.dumps(config["params"], sort_keys=True), threading.get_ident())
            for item in items:
                results.append(_extract_one(extractor, config, cache, item))
    relayed = [str(w.message) for w in caught if issubclass(w.category, CacheCorruptionWarning)]
    return results, relayed


def _cost(item):
    """Relative cost of a case for scheduling: its pixel count (0 when read from a file)."""
    image = item[3]
    return int(image.size) if isinstance(image, np.ndarray) else 0


def _batches(todo, n_workers):
    """Split the cases into tasks for ``n_workers`` processes.

    Sequentially: batches of 16 (progress moves). In parallel: the cases are
    ordered largest first and dealt into ~8 tasks per worker (at most 16 cases
    each), so the workers finish together (small tasks last) while the
    per-task cost (pickling a few ROIs, one scheduler round-trip) stays far
    below the extraction time of the task.
    """
    if n_workers == 1:
        return [todo[i : i + 16] for i in range(0, len(todo), 16)]
    ordered = sorted(todo, key=_cost, reverse=True)
    size = max(1, min(16, math.ceil(len(ordered) / (8 * n_workers))))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _synthetic_roi(spacing, sigmas):
    # Big enough that every LoG sigma fits in the pre-cropped region (PyRadiomics
    # skips a sigma when the image is smaller than sigma / spacing + 1).
    reach = max([0.0] + [s / min(spacing) for s in sigmas])
    n = max(48, int(math.ceil(reach)) * 2 + 8)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:n, :n]
    image = rng.normal(size=(n, n)) + np.sin(xx / 3.0) + 0.05 * yy
    mask = (((yy - n / 2) / (n / 3)) ** 2 + ((xx - n / 2) / (n / 3.5)) ** 2 <= 1).astype(np.uint8)
    return image, mask


def _sigmas(params):
    log = (params.get("imageType") or {}).get("LoG") or {}
    return list(log.get("sigma", [])) if isinstance(log, dict) else []


# ----------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------
class RadiomicsExtractor(TransformerMixin, BaseEstimator):
    """Extract PyRadiomics features from 2-D lesion ROIs.

    Stateless: ``fit`` only records the input columns; ``transform`` can be
    called on any DataFrame with ``image`` and ``mask`` columns.

    Parameters
    ----------
    params : dict, str or os.PathLike, default=None
        A PyRadiomics parameter dict or YAML file (``setting``, ``imageType``,
        ``featureClass``). When given, it replaces ``image_types``,
        ``feature_classes``, ``bin_count``, ``bin_width`` and ``log_sigma``;
        ``label``, ``resample_to`` and ``pixel_spacing`` still apply (our
        resampling replaces PyRadiomics' ``resampledPixelSpacing``: leave it
        unset in ``params``).
    image_types : "all" or list of str, default="all"
        Subset of :data:`IMAGE_TYPES`: Original, Wavelet, LoG, Square,
        SquareRoot, Logarithm, Exponential, Gradient, LBP2D.
    feature_classes : "all" or list of str, default="all"
        Subset of :data:`FEATURE_CLASSES`: firstorder, shape2D, glcm, glrlm,
        glszm, gldm, ngtdm.
    bin_count : int, default=32
        Number of grey levels each (filtered) image is discretised into; the
        right default for z-scored intensities (see the module notes).
    bin_width : float, default=None
        Fixed bin width in intensity units; overrides ``bin_count`` when set.
    log_sigma : tuple of float, default=(1.0, 2.0, 3.0, 4.0, 5.0)
        Laplacian-of-Gaussian sigmas in mm (in pixels for ROIs of unknown
        spacing, and for every ROI when ``resample_to`` is None and
        ``pixel_spacing`` is None).
    resample_to : float, (float, float) or None, default=0.1
        Pixel size in mm, ``(row, col)``, every ROI is resampled to first
        (:func:`~sklearn_llmrad.resampling.resample_roi`), so LoG sigmas,
        shape and texture are in mm whatever the scanner. A ROI's spacing is
        its ``spacing`` column, else its image file's; a ROI of unknown spacing
        keeps ``pixel_spacing`` and is named in a warning. ``None``: every ROI
        has ``pixel_spacing`` (the behaviour, and the meaning in model files,
        from before this parameter). Default:
        :data:`~sklearn_llmrad.resampling.DEFAULT_SPACING_MM` (why: there).
    pixel_spacing : float or (float, float), default=None
        (row, column) pixel size in mm of ROIs whose spacing is unknown (with
        ``resample_to``), or of every ROI (without); None means 1 (pixel units)
        and, with ``resample_to``, a warning naming those ROIs.
    label : int, default=1
        Mask value of the lesion.
    n_jobs : int, default=None
        Number of joblib workers (None: 1 unless inside
        ``joblib.parallel_config``; -1: all cores). Each worker builds one
        PyRadiomics extractor per batch of cases.
    cache_dir : str or os.PathLike, default=None
        Directory of the on-disk feature cache (None: no cache).
    on_error : {"raise", "nan"}, default="raise"
        On a bad lesion, raise a :class:`~sklearn_llmrad.exceptions.LesionError`
        naming the case and file, or warn and output a row of NaN. Failures are
        listed in ``Xt.attrs["radiomics_failures"]`` of the returned frame.
    progress : bool, default=True
        A progress bar (:func:`tqdm.auto.tqdm`: a terminal or a notebook) while
        lesions are extracted; none when every lesion comes from the cache.

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Input column names seen in ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> mask = np.zeros((32, 32), np.uint8); mask[8:24, 10:26] = 1
    >>> X = pd.DataFrame({"image": [rng.normal(size=(32, 32))], "mask": [mask], "spacing": [(0.1, 0.1)],
    ...                   "age": [61.0]}, index=["case_1"])
    >>> ext = RadiomicsExtractor(image_types=["Original"], feature_classes=["firstorder"],
    ...                          progress=False)
    >>> Xt = ext.fit_transform(X)
    >>> Xt.shape
    (1, 19)
    >>> list(Xt.columns[:2]), Xt.columns[-1], Xt.index[0]
    (['original_firstorder_10Percentile', 'original_firstorder_90Percentile'], 'age', 'case_1')
    """

    _parameter_constraints: dict = {
        "params": [None, dict, str, os.PathLike],
        "image_types": [StrOptions({"all"}), list, tuple],
        "feature_classes": [StrOptions({"all"}), list, tuple],
        "bin_count": [Interval(Integral, 2, None, closed="left")],
        "bin_width": [Interval(Real, 0, None, closed="neither"), None],
        "log_sigma": [list, tuple],
        "resample_to": [Interval(Real, 0, None, closed="neither"), list, tuple, None],
        "pixel_spacing": [Interval(Real, 0, None, closed="neither"), list, tuple, None],
        "label": [Interval(Integral, None, None, closed="neither")],
        "n_jobs": [Integral, None],
        "cache_dir": [str, os.PathLike, None],
        "on_error": [StrOptions({"raise", "nan"})],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        *,
        params=None,
        image_types="all",
        feature_classes="all",
        bin_count=32,
        bin_width=None,
        log_sigma=(1.0, 2.0, 3.0, 4.0, 5.0),
        resample_to=DEFAULT_SPACING_MM,
        pixel_spacing=None,
        label=1,
        n_jobs=None,
        cache_dir=None,
        on_error="raise",
        progress=True,
    ):
        self.params = params
        self.image_types = image_types
        self.feature_classes = feature_classes
        self.bin_count = bin_count
        self.bin_width = bin_width
        self.log_sigma = log_sigma
        self.resample_to = resample_to
        self.pixel_spacing = pixel_spacing
        self.label = label
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.on_error = on_error
        self.progress = progress

    #: What a model file saved before ``resample_to`` existed means (its state
    #: is restored without ``__init__``, so this class value is read): none.
    resample_to = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False  # a DataFrame of images, not a numeric matrix
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- configuration ---------------------------------------------------------
    def _config(self):
        """Settings, cache fingerprint and feature names for the current params.

        The names are obtained by extracting once on a small synthetic ROI and
        memoised on the instance (a private attribute, so ``clone`` and
        ``check_is_fitted`` ignore it), keyed by the settings so that
        ``set_params`` invalidates it.
        """
        params = _pyradiomics_params(self)
        if "resampledPixelSpacing" in (params.get("setting") or {}):
            raise ValueError(
                "params sets PyRadiomics' resampledPixelSpacing; use RadiomicsExtractor(resample_to=...) instead "
                "(it knows each ROI's spacing)"
            )
        spacing = as_spacing(self.pixel_spacing, what="pixel_spacing") or (1.0, 1.0)
        target = as_spacing(self.resample_to, what="resample_to")
        settings = {"params": params, "spacing": list(spacing), "label": int(self.label)}
        if target is not None:  # without a target, the keys of caches written before resample_to existed
            settings["resample_to"] = list(target)
            settings["resampling"] = "bspline, mask linear >= 0.5, aperture anti-aliasing"
        fingerprint = hash_key({**settings, "versions": _library_versions()})
        memo = getattr(self, "_config_memo", None)
        if memo is not None and memo["fingerprint"] == fingerprint:
            return memo
        cache = None if self.cache_dir is None else DiskCache(self.cache_dir, namespace=_CACHE_NAMESPACE)
        names_key = hash_key("radiomics-feature-names", fingerprint)
        names = None
        if cache is not None:
            payload = cache.get(names_key)
            if payload is not None:
                names = json.loads(payload.decode("utf-8"))
        if names is None:
            names = self._names_from_synthetic(params, target or spacing)
            if cache is not None:
                cache.set(names_key, json.dumps(names).encode("utf-8"))
        self._config_memo = {
            "params": params,
            "spacing": spacing,
            "target": target,
            "pixel_spacing_given": self.pixel_spacing is not None,
            "label": self.label,
            "fingerprint": fingerprint,
            "names": names,
        }
        return self._config_memo

    @staticmethod
    def _names_from_synthetic(params, spacing):
        image, mask = _synthetic_roi(spacing, _sigmas(params))
        with _quiet():
            try:
                extractor = _make_extractor(params)
            except Exception as exc:  # pykwalify schema errors are opaque; say where they come from
                raise ValueError(f"invalid PyRadiomics params: {type(exc).__name__}: {exc}") from exc
            result = extractor.execute(*_sitk_pair(image, mask, spacing), label=1)
        return [k for k in result if not k.startswith("diagnostics_")]

    # -- sklearn API -----------------------------------------------------------
    def _check_frame(self, X):
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"RadiomicsExtractor expects a pandas DataFrame with {IMAGE!r} and {MASK!r} columns, "
                f"got {type(X).__name__}"
            )
        missing = [c for c in (IMAGE, MASK) if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks column(s) {missing}; it has {list(X.columns)}")

    @staticmethod
    def _passthrough(columns):
        return [c for c in columns if c not in (IMAGE, MASK, SOURCE, SPACING)]

    @_fit_context(prefer_skip_nested_validation=True)
    def params_for_file(self):
        """Parameters as a model file stores them: a settings file by its content.

        A model file never holds a path (``sklearn_llmrad.io``), so a PyRadiomics
        YAML file given as ``params`` is stored as the dict it holds, and the
        loaded extractor computes the same features without the file.

        Returns
        -------
        dict
            ``{"params": dict}`` when ``params`` is a file, else empty.

        Examples
        --------
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "params.yaml")
        >>> _ = open(path, "w").write("setting: {binCount: 16}")
        >>> RadiomicsExtractor(params=path).params_for_file()
        {'params': {'setting': {'binCount': 16}}}
        """
        if self.params is None or isinstance(self.params, dict):
            return {}
        import yaml

        path = Path(self.params)
        if not path.is_file():
            raise FileNotFoundError(f"PyRadiomics parameter file not found: {path}")
        return {"params": yaml.safe_load(path.read_text()) or {}}

    def fit(self, X, y=None):
        """Record the input columns; nothing is learned.

        Parameters
        ----------
        X : DataFrame
            Columns ``image``, ``mask``, optional ``source`` and clinical columns.
        y : ignored

        Returns
        -------
        self : RadiomicsExtractor
        """
        self._check_frame(X)
        validate_data(self, X, skip_check_array=True, reset=True)
        return self

    def get_feature_names_out(self, input_features=None):
        """PyRadiomics feature names followed by the passthrough (clinical) columns.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input columns; defaults to those seen in ``fit``.

        Returns
        -------
        names : ndarray of str
        """
        if input_features is None:
            check_is_fitted(self, "feature_names_in_")
            input_features = self.feature_names_in_
        elif hasattr(self, "feature_names_in_") and list(input_features) != list(self.feature_names_in_):
            raise ValueError("input_features differ from the columns seen in fit")
        self._validate_params()
        names = self._config()["names"] + self._passthrough(list(input_features))
        return np.asarray(names, dtype=object)

    def transform(self, X):
        """Extract features for every row of ``X``.

        Parameters
        ----------
        X : DataFrame
            Columns ``image`` and ``mask`` (arrays, paths or ROIs), optional
            ``source`` (file named in errors) and passthrough columns.

        Returns
        -------
        Xt : DataFrame
            float64 feature columns (PyRadiomics names), then the passthrough
            columns unchanged; same index as ``X``. ``Xt.attrs["radiomics_failures"]``
            lists ``{"case", "file", "error", "reason"}`` for each failed case.
        """
        self._validate_params()
        self._check_frame(X)
        if hasattr(self, "feature_names_in_"):
            validate_data(self, X, skip_check_array=True, reset=False)
        config = self._config()
        names = config["names"]
        passthrough = self._passthrough(X.columns)
        clash = sorted(set(passthrough) & set(names))
        if clash:
            raise ValueError(f"passthrough column(s) {clash} collide with radiomics feature names")

        values = np.full((len(X), len(names)), np.nan, dtype=np.float64)
        failures, unknown = [], []
        todo = self._lookup_cached(X, config, values, unknown)

        with (
            progress_bar(
                total=len(X), initial=len(X) - len(todo), desc="radiomics", unit="ROI", enabled=self.progress
            ) as bar,
            warnings.catch_warnings(),
            contextlib.closing(self._run(todo, config)) as batches,
        ):
            # joblib warns that it cancelled the remaining batches when we
            # raise for a bad lesion; that is the intended fail-fast behaviour
            # (closing() makes the cancellation happen inside this block).
            warnings.filterwarnings("ignore", message=r".*tasks which were still being processed")
            for results, relayed in batches:
                for message in relayed:
                    warnings.warn(message, CacheCorruptionWarning, stacklevel=2)
                for pos, vec, err, assumed in results:
                    if assumed:
                        unknown.append(pos)
                    if err is None:
                        values[pos] = vec
                        continue
                    if self.on_error == "raise":
                        raise err
                    failures.append(
                        (pos, {"case": err.case, "file": err.file, "error": type(err).__name__, "reason": err.reason})
                    )
                    warnings.warn(f"{err}; its features are set to NaN", UserWarning, stacklevel=2)
                bar.update(len(results))

        if unknown:
            warn_unknown_spacing(
                [X.index[pos] for pos in sorted(unknown)],
                config["target"],
                f"their pixels are taken as {config['spacing']} mm (pixel units; set pixel_spacing=)",
            )
        out = pd.DataFrame(values, index=X.index, columns=names)
        if passthrough:
            out = pd.concat([out, X[passthrough].set_axis(out.index, axis=0)], axis=1)
        out.attrs["radiomics_failures"] = [info for _, info in sorted(failures, key=lambda f: f[0])]
        return out

    # -- helpers ---------------------------------------------------------------
    def _rows(self, X):
        sources = X[SOURCE] if SOURCE in X.columns else None
        spacings = spacing_column(X)
        for pos, (case, image, mask) in enumerate(zip(X.index, X[IMAGE], X[MASK])):
            spacing = spacings[pos]
            source = None
            if sources is not None:
                s = sources.iloc[pos]
                if isinstance(s, str | os.PathLike) and str(s) != _ARRAY_SOURCE:
                    source = str(s)
            if source is None and _is_pathlike(image):
                source = str(image)
            yield pos, case, source, image, mask, spacing

    def _lookup_cached(self, X, config, values, unknown):
        """Fill ``values`` from the cache where inputs are in-memory arrays.

        Done in this process so that a warm run starts no workers at all;
        rows with paths or ROIs are looked up by the workers after reading.
        """
        if self.cache_dir is None:
            return list(self._rows(X))
        cache = DiskCache(self.cache_dir, namespace=_CACHE_NAMESPACE)
        todo = []
        for item in self._rows(X):
            pos, _, _, image, mask, spacing = item
            if isinstance(image, np.ndarray) and isinstance(mask, np.ndarray):
                origin, grid, assumed, key_spacing = _roi_grid(config, spacing)
                key = _case_key(image, mask, config["fingerprint"], key_spacing)
                hit = _load_cached(cache, key, len(config["names"]))
                if hit is not None:
                    values[pos] = hit
                    if assumed:
                        unknown.append(pos)
                    continue
            todo.append(item)
        return todo

    def _run(self, todo, config):
        """Yield ``(results, relayed_warnings)`` per batch, as batches finish."""
        if not todo:
            return
        n_workers = max(1, effective_n_jobs(self.n_jobs))
        cache_dir = None if self.cache_dir is None else str(self.cache_dir)
        threads = None if n_workers == 1 else 1
        tasks = (delayed(_extract_batch)(batch, config, cache_dir, threads) for batch in _batches(todo, n_workers))
        try:
            parallel = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")
        except ValueError:  # backends such as multiprocessing cannot stream results
            parallel = Parallel(n_jobs=self.n_jobs)
        yield from parallel(tasks)
