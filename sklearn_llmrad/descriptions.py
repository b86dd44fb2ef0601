"""Plain-language descriptions of radiomics feature names and clinical data.

The language-model encoder (:class:`~sklearn_llmrad.BioBERTEncoder`) does not
embed the raw PyRadiomics name ``wavelet-LH_glcm_Contrast``, whose tokens mean
little to a biomedical language model, but a short clinical-language
description of it. Two datasets that name a feature the same way get the same
description, hence the same embedding: this is what links a value to the
*meaning* of its feature.

PyRadiomics names a feature ``<image type>_<feature class>_<feature>``
(see ``radiomics.featureextractor``); image types carry their parameters
(``log-sigma-3-0-mm-3D``, ``wavelet2-HLH``, ``lbp-3D-m1``). A user prefix in
front (``MR_original_shape_Elongation``, ``CC_original_...``) is kept and
named in the description.

The clinical half turns ``age``, ``density`` and ``history`` into short
statements ("62-year-old woman.", "Heterogeneously dense breasts (BI-RADS
density C).") and one sentence joining them.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from .clinical import normalize_density, parse_age
from .exceptions import LesionError

__all__ = [
    "FeatureDescription",
    "explain_feature",
    "describe_feature",
    "FEATURE_DESCRIPTIONS",
    "ClinicalStatements",
    "clinical_statements",
    "clinical_sentence",
    "normalize_density",
    "is_missing_value",
    "NO_CLINICAL_INFORMATION",
    "DENSITY_STATEMENTS",
]

# ---------------------------------------------------------------------------
# Feature classes. Each entry: feature -> (label, meaning). Meanings follow the
# PyRadiomics documentation of each feature ("Radiomic Features", pyradiomics
# readthedocs) and Zwanenburg et al., IBSI reference manual (2020), restated
# in clinical terms. The lists cover every name `getFeatureNames()` returns,
# deprecated ones included; tests check this against the installed package.
# ---------------------------------------------------------------------------

_CLASS_LABELS = {
    "firstorder": "first-order",
    "shape": "3-D shape",
    "shape2D": "2-D shape",
    "glcm": "GLCM",
    "glrlm": "GLRLM",
    "glszm": "GLSZM",
    "gldm": "GLDM",
    "ngtdm": "NGTDM",
}

_FIRSTORDER = {
    "10Percentile": ("10th percentile of intensity", "brightness of the darkest tissue in the lesion"),
    "90Percentile": ("90th percentile of intensity", "brightness of the densest, brightest tissue"),
    "Energy": ("intensity energy", "sum of squared intensities, grows with lesion size and brightness"),
    "Entropy": ("intensity entropy", "randomness of intensities, heterogeneity of the lesion"),
    "InterquartileRange": ("interquartile range of intensity", "spread of the middle half of intensities"),
    "Kurtosis": ("intensity kurtosis", "peakedness of the histogram, outlying very dark or bright pixels"),
    "Maximum": ("maximum intensity", "brightest value in the lesion, such as a calcification"),
    "MeanAbsoluteDeviation": ("mean absolute deviation of intensity", "average distance from the mean, heterogeneity"),
    "Mean": ("mean intensity", "average brightness, the overall density of the lesion"),
    "Median": ("median intensity", "typical brightness of the lesion"),
    "Minimum": ("minimum intensity", "darkest value in the lesion"),
    "Range": ("intensity range", "difference between the brightest and darkest values"),
    "RobustMeanAbsoluteDeviation": (
        "robust mean absolute deviation of intensity",
        "spread of intensities between the 10th and 90th percentiles",
    ),
    "RootMeanSquared": ("root mean square intensity", "overall magnitude of brightness"),
    "Skewness": ("intensity skewness", "asymmetry of the histogram towards dark or bright values"),
    "StandardDeviation": ("standard deviation of intensity", "variability of brightness, heterogeneity"),
    "TotalEnergy": ("total intensity energy", "energy scaled by pixel size, grows with lesion size"),
    "Uniformity": ("intensity uniformity", "homogeneity of the histogram, the opposite of entropy"),
    "Variance": ("intensity variance", "spread of brightness around the mean, heterogeneity"),
}

_SHAPE = {
    "Compactness1": ("compactness 1", "how closely the lesion volume approaches a sphere"),
    "Compactness2": ("compactness 2", "how closely the lesion volume approaches a sphere"),
    "Elongation": ("elongation", "ratio of minor to major axis; low values mean an elongated lesion"),
    "Flatness": ("flatness", "ratio of least to major axis; low values mean a flat lesion"),
    "LeastAxisLength": ("least axis length", "smallest principal axis, the lesion thickness"),
    "MajorAxisLength": ("major axis length", "largest principal axis, the lesion length"),
    "Maximum2DDiameterColumn": ("maximum coronal diameter", "largest distance across the lesion in the coronal plane"),
    "Maximum2DDiameterRow": ("maximum sagittal diameter", "largest distance across the lesion in the sagittal plane"),
    "Maximum2DDiameterSlice": ("maximum axial diameter", "largest distance across the lesion in the axial plane"),
    "Maximum3DDiameter": ("maximum 3-D diameter", "largest distance across the lesion, its size"),
    "MeshVolume": ("mesh volume", "lesion volume from its surface mesh, lesion size"),
    "MinorAxisLength": ("minor axis length", "second principal axis, the lesion width"),
    "SphericalDisproportion": (
        "spherical disproportion",
        "surface relative to a sphere of equal volume; high values mean an irregular margin",
    ),
    "Sphericity": ("sphericity", "roundness of the lesion; low values mean an irregular, lobulated margin"),
    "SurfaceArea": ("surface area", "area of the lesion surface"),
    "SurfaceVolumeRatio": (
        "surface to volume ratio",
        "surface relative to volume; high values mean an irregular or small lesion",
    ),
    "VoxelVolume": ("voxel volume", "lesion volume from the voxel count, lesion size"),
}

_SHAPE2D = {
    "Elongation": ("elongation", "ratio of minor to major axis; low values mean an elongated lesion"),
    "MajorAxisLength": ("major axis length", "longest principal axis, the lesion length"),
    "MaximumDiameter": ("maximum diameter", "largest distance across the lesion outline, its size"),
    "MeshSurface": ("mesh area", "area enclosed by the lesion outline, lesion size"),
    "MinorAxisLength": ("minor axis length", "shortest principal axis, the lesion width"),
    "Perimeter": ("perimeter", "length of the lesion margin"),
    "PerimeterSurfaceRatio": (
        "perimeter to area ratio",
        "margin length relative to area; high values mean an irregular or spiculated margin",
    ),
    "PixelSurface": ("pixel area", "lesion area from the pixel count, lesion size"),
    "SphericalDisproportion": (
        "circular disproportion",
        "perimeter relative to a circle of equal area; high values mean an irregular margin",
    ),
    "Sphericity": ("circularity", "roundness of the outline; low values mean an irregular or spiculated margin"),
}

_GLCM = {
    "Autocorrelation": ("co-occurrence autocorrelation", "coarseness and brightness of the texture"),
    "ClusterProminence": ("cluster prominence", "asymmetry of the texture; high values mean marked heterogeneity"),
    "ClusterShade": ("cluster shade", "skewness and uniformity of the texture"),
    "ClusterTendency": ("cluster tendency", "grouping of neighbouring pixels with similar gray levels"),
    "Contrast": ("co-occurrence contrast", "intensity differences between neighbouring pixels, texture heterogeneity"),
    "Correlation": ("co-occurrence correlation", "linear dependence of neighbouring gray levels"),
    "DifferenceAverage": ("difference average", "mean intensity difference between neighbouring pixels"),
    "DifferenceEntropy": ("difference entropy", "randomness of neighbouring intensity differences"),
    "DifferenceVariance": ("difference variance", "heterogeneity of neighbouring intensity differences"),
    "Dissimilarity": ("dissimilarity", "mean intensity difference between neighbouring pixels"),
    "Homogeneity1": ("homogeneity 1", "local similarity of neighbouring gray levels"),
    "Homogeneity2": ("homogeneity 2", "local similarity of neighbouring gray levels"),
    "Id": ("inverse difference", "local homogeneity of the texture"),
    "Idm": ("inverse difference moment", "local homogeneity, weighting similar neighbours most"),
    "Idmn": ("normalized inverse difference moment", "local homogeneity independent of the gray-level count"),
    "Idn": ("normalized inverse difference", "local homogeneity independent of the gray-level count"),
    "Imc1": ("informational measure of correlation 1", "complexity of the texture from neighbour dependence"),
    "Imc2": ("informational measure of correlation 2", "complexity of the texture from neighbour dependence"),
    "InverseVariance": ("inverse variance", "local homogeneity of the texture"),
    "JointAverage": ("joint average", "mean gray level of neighbouring pixel pairs"),
    "JointEnergy": ("joint energy", "uniformity of the texture; high values mean an orderly, homogeneous pattern"),
    "JointEntropy": ("joint entropy", "randomness of the texture, heterogeneity"),
    "MCC": ("maximal correlation coefficient", "complexity of the texture"),
    "MaximumProbability": ("maximum probability", "dominance of the most frequent neighbouring gray-level pair"),
    "SumAverage": ("sum average", "balance of dark and bright neighbouring pixel pairs"),
    "SumEntropy": ("sum entropy", "randomness of neighbouring gray-level sums"),
    "SumSquares": ("sum of squares", "spread of neighbouring gray levels around the mean"),
    "SumVariance": ("sum variance", "spread of neighbouring gray-level sums, heterogeneity"),
}

_GLRLM = {
    "GrayLevelNonUniformity": ("run gray-level non-uniformity", "variability of gray levels across runs"),
    "GrayLevelNonUniformityNormalized": (
        "normalized run gray-level non-uniformity",
        "variability of gray levels across runs, size independent",
    ),
    "GrayLevelVariance": ("run gray-level variance", "spread of gray levels of runs"),
    "HighGrayLevelRunEmphasis": ("high gray-level run emphasis", "concentration of bright runs"),
    "LongRunEmphasis": ("long run emphasis", "coarse texture with long runs of equal gray level"),
    "LongRunHighGrayLevelEmphasis": ("long run high gray-level emphasis", "long runs of bright pixels"),
    "LongRunLowGrayLevelEmphasis": ("long run low gray-level emphasis", "long runs of dark pixels"),
    "LowGrayLevelRunEmphasis": ("low gray-level run emphasis", "concentration of dark runs"),
    "RunEntropy": ("run entropy", "randomness of run lengths and gray levels, texture heterogeneity"),
    "RunLengthNonUniformity": ("run-length non-uniformity", "variability of run lengths"),
    "RunLengthNonUniformityNormalized": (
        "normalized run-length non-uniformity",
        "variability of run lengths, size independent",
    ),
    "RunPercentage": ("run percentage", "runs per pixel; high values mean a fine texture"),
    "RunVariance": ("run variance", "spread of run lengths"),
    "ShortRunEmphasis": ("short run emphasis", "fine texture with short runs of equal gray level"),
    "ShortRunHighGrayLevelEmphasis": ("short run high gray-level emphasis", "short runs of bright pixels"),
    "ShortRunLowGrayLevelEmphasis": ("short run low gray-level emphasis", "short runs of dark pixels"),
}

_GLSZM = {
    "GrayLevelNonUniformity": ("zone gray-level non-uniformity", "variability of gray levels across zones"),
    "GrayLevelNonUniformityNormalized": (
        "normalized zone gray-level non-uniformity",
        "variability of gray levels across zones, size independent",
    ),
    "GrayLevelVariance": ("zone gray-level variance", "spread of gray levels of zones"),
    "HighGrayLevelZoneEmphasis": ("high gray-level zone emphasis", "concentration of bright zones"),
    "LargeAreaEmphasis": ("large area emphasis", "coarse texture with large zones of equal gray level"),
    "LargeAreaHighGrayLevelEmphasis": ("large area high gray-level emphasis", "large zones of bright pixels"),
    "LargeAreaLowGrayLevelEmphasis": ("large area low gray-level emphasis", "large zones of dark pixels"),
    "LowGrayLevelZoneEmphasis": ("low gray-level zone emphasis", "concentration of dark zones"),
    "SizeZoneNonUniformity": ("zone-size non-uniformity", "variability of zone sizes"),
    "SizeZoneNonUniformityNormalized": (
        "normalized zone-size non-uniformity",
        "variability of zone sizes, size independent",
    ),
    "SmallAreaEmphasis": ("small area emphasis", "fine texture with small zones of equal gray level"),
    "SmallAreaHighGrayLevelEmphasis": ("small area high gray-level emphasis", "small zones of bright pixels"),
    "SmallAreaLowGrayLevelEmphasis": ("small area low gray-level emphasis", "small zones of dark pixels"),
    "ZoneEntropy": ("zone-size entropy", "randomness of zone sizes and gray levels, texture heterogeneity"),
    "ZonePercentage": ("zone percentage", "zones per pixel; high values mean a fine texture"),
    "ZoneVariance": ("zone variance", "spread of zone sizes"),
}

_GLDM = {
    "DependenceEntropy": ("dependence entropy", "randomness of local gray-level dependence, heterogeneity"),
    "DependenceNonUniformity": ("dependence non-uniformity", "variability of local dependence"),
    "DependenceNonUniformityNormalized": (
        "normalized dependence non-uniformity",
        "variability of local dependence, size independent",
    ),
    "DependencePercentage": ("dependence percentage", "fraction of pixels with dependent neighbours"),
    "DependenceVariance": ("dependence variance", "spread of local dependence sizes"),
    "GrayLevelNonUniformity": ("dependence gray-level non-uniformity", "variability of gray levels"),
    "GrayLevelNonUniformityNormalized": (
        "normalized dependence gray-level non-uniformity",
        "variability of gray levels, size independent",
    ),
    "GrayLevelVariance": ("dependence gray-level variance", "spread of gray levels"),
    "HighGrayLevelEmphasis": ("high gray-level emphasis", "concentration of bright pixels"),
    "LargeDependenceEmphasis": (
        "large dependence emphasis",
        "homogeneous texture where many neighbours share a gray level",
    ),
    "LargeDependenceHighGrayLevelEmphasis": (
        "large dependence high gray-level emphasis",
        "homogeneous regions of bright pixels",
    ),
    "LargeDependenceLowGrayLevelEmphasis": (
        "large dependence low gray-level emphasis",
        "homogeneous regions of dark pixels",
    ),
    "LowGrayLevelEmphasis": ("low gray-level emphasis", "concentration of dark pixels"),
    "SmallDependenceEmphasis": (
        "small dependence emphasis",
        "heterogeneous texture where few neighbours share a gray level",
    ),
    "SmallDependenceHighGrayLevelEmphasis": (
        "small dependence high gray-level emphasis",
        "heterogeneous bright texture",
    ),
    "SmallDependenceLowGrayLevelEmphasis": (
        "small dependence low gray-level emphasis",
        "heterogeneous dark texture",
    ),
}

_NGTDM = {
    "Busyness": ("busyness", "rapid intensity changes between neighbouring regions"),
    "Coarseness": ("coarseness", "slow spatial change of intensity; high values mean a coarse, uniform texture"),
    "Complexity": ("complexity", "many abrupt intensity changes, visually complex texture"),
    "Contrast": ("neighbourhood contrast", "range and frequency of intensity changes, texture heterogeneity"),
    "Strength": ("strength", "large, distinct regions of different intensity"),
}

#: ``{feature class: {feature: (label, meaning)}}`` for every PyRadiomics feature.
FEATURE_DESCRIPTIONS = {
    "firstorder": _FIRSTORDER,
    "shape": _SHAPE,
    "shape2D": _SHAPE2D,
    "glcm": _GLCM,
    "glrlm": _GLRLM,
    "glszm": _GLSZM,
    "gldm": _GLDM,
    "ngtdm": _NGTDM,
}

# ---------------------------------------------------------------------------
# Image types (radiomics.imageoperations.get*Image yield these names).
# ---------------------------------------------------------------------------

_SIMPLE_IMAGE_TYPES = {
    "original": ("in the original image", None),
    "square": ("after a square intensity transform", "emphasises bright, dense tissue"),
    "squareroot": ("after a square-root intensity transform", "emphasises dark, fatty tissue"),
    "logarithm": ("after a logarithm intensity transform", "emphasises differences among dark tissue"),
    "exponential": ("after an exponential intensity transform", "emphasises differences among dense tissue"),
    "gradient": ("in the gradient magnitude image", "emphasises edges and local intensity change"),
    "lbp-2D": ("in the local binary pattern image", "encodes micro-texture around each pixel"),
    "lbp-3D-k": ("in the local binary pattern kurtosis image", "encodes micro-texture around each voxel"),
}

_LOG_RE = re.compile(r"^log-sigma-(\d+(?:-\d+)?)-mm-([23])D$")
_WAVELET_RE = re.compile(r"^wavelet(\d*)-([LH]{1,3})$")
_LBP3D_RE = re.compile(r"^lbp-3D-m(\d+)$")
_AXIS_NAMES = ("x", "y", "z")
# PyRadiomics orders sub-band letters x, y, z (see _swt3 in imageoperations).
# In 2-D, high-pass along y responds to horizontal edges and along x to
# vertical ones.
_WAVELET_2D_FOCUS = {
    "LL": "smoothed coarse structure",
    "LH": "horizontal edges and detail",
    "HL": "vertical edges and detail",
    "HH": "diagonal fine detail",
}


def _sigma_text(code):
    # "3-0" -> "3", "0-5" -> "0.5", "1" -> "1" (PyRadiomics writes str(sigma)
    # with "." replaced by "-").
    value = float(code.replace("-", "."))
    return (f"{value:g}", value)


def _describe_image_type(image_type):
    """Return (phrase, emphasis) or None for an unknown image type."""
    if image_type in _SIMPLE_IMAGE_TYPES:
        return _SIMPLE_IMAGE_TYPES[image_type]
    m = _LOG_RE.match(image_type)
    if m:
        text, value = _sigma_text(m.group(1))
        scale = "fine" if value < 2 else ("medium" if value < 4 else "coarse")
        return (
            f"after a Laplacian-of-Gaussian filter, sigma {text} mm",
            f"highlights {scale} blob-like structures",
        )
    m = _WAVELET_RE.match(image_type)
    if m:
        level, band = m.group(1), m.group(2)
        level_text = f"level-{level} " if level else ""
        phrase = f"in the {level_text}wavelet {band} sub-band"
        if len(band) == 2:
            return phrase, f"shows {_WAVELET_2D_FOCUS[band]}"
        # One letter: a 2-D image with force2D keeps a single filtered axis.
        high = [_AXIS_NAMES[i] for i, c in enumerate(band) if c == "H"]
        if not high:
            return phrase, "shows smoothed coarse structure"
        return phrase, f"shows edges and detail along {' and '.join(high)}"
    m = _LBP3D_RE.match(image_type)
    if m:
        return (
            f"in the level-{m.group(1)} 3-D local binary pattern image",
            "encodes micro-texture around each voxel",
        )
    return None


# ---------------------------------------------------------------------------
# Public feature-name API
# ---------------------------------------------------------------------------


class FeatureDescription(NamedTuple):
    """A parsed feature name and its description.

    ``generic`` is True when the name is not a PyRadiomics name this module
    knows; ``text`` is then only a readable rewording of the name.
    """

    text: str
    generic: bool
    prefix: str | None = None
    image_type: str | None = None
    feature_class: str | None = None
    feature: str | None = None


_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _words(name):
    parts = [p for p in re.split(r"[_\-\s]+", str(name)) if p]
    return " ".join(_CAMEL_RE.sub(" ", p) for p in parts).strip()


def _generic(name):
    words = _words(name) or "unnamed"
    return FeatureDescription(f"image feature {words} of the lesion", True)


def _describe_diagnostic(name, prefix):
    # radiomics.featureextractor adds diagnostics_<group>_<item> entries
    # (versions, settings, image/mask properties); they are not features of
    # the lesion texture but the extractor can emit them.
    _, group, item = name.split("_", 2)
    text = f"extraction diagnostic {_words(item)} ({_words(group)}), not a lesion feature"
    if prefix:
        text = f"{_words(prefix)}: {text}"
    return FeatureDescription(text, False, prefix, None, "diagnostics", item)


def explain_feature(name):
    """Parse a PyRadiomics feature name and describe it in clinical language.

    Parameters
    ----------
    name : str
        A feature name such as ``"wavelet-LH_glcm_Contrast"``, optionally
        preceded by a user prefix (``"MR_original_shape_Elongation"``).

    Returns
    -------
    FeatureDescription
        ``text`` (the description), ``generic`` (True when the name was not
        recognised and ``text`` only rewords it), and the parsed ``prefix``,
        ``image_type``, ``feature_class`` and ``feature``.

    Examples
    --------
    >>> info = explain_feature("MR_original_shape2D_Sphericity")
    >>> info.prefix, info.image_type, info.feature_class, info.feature, info.generic
    ('MR', 'original', 'shape2D', 'Sphericity', False)
    >>> explain_feature("tumour_size_cm").generic
    True
    """
    name = str(name)
    parts = name.split("_")
    if "diagnostics" in parts[:-2]:
        i = parts.index("diagnostics")
        return _describe_diagnostic("_".join(parts[i:]), "_".join(parts[:i]) or None)
    if len(parts) < 3:
        return _generic(name)
    image_type, feature_class, feature = parts[-3:]
    prefix = "_".join(parts[:-3]) or None
    table = FEATURE_DESCRIPTIONS.get(feature_class)
    image = _describe_image_type(image_type)
    if table is None or feature not in table or image is None:
        return _generic(name)
    label, meaning = table[feature]
    class_label = _CLASS_LABELS[feature_class]
    phrase, emphasis = image
    if feature_class.startswith("shape"):
        # Shape depends on the mask only (PyRadiomics computes it on the
        # original image alone): the image type adds nothing.
        text = f"{label} ({class_label}) of the lesion outline: {meaning}"
    else:
        text = f"{label} ({class_label}) of the lesion {phrase}: {meaning}"
        if emphasis:
            text += f"; the filter {emphasis}"
    if prefix:
        text = f"{_words(prefix)}: {text}"
    return FeatureDescription(text, False, prefix, image_type, feature_class, feature)


def describe_feature(name):
    """Return a short clinical-language description of a feature name.

    Unknown names still get a readable text (the name split into words); use
    :func:`explain_feature` to know whether the description is generic.

    Parameters
    ----------
    name : str
        A PyRadiomics feature name, optionally with a user prefix.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_feature("log-sigma-3-0-mm-3D_glszm_ZoneEntropy")
    'zone-size entropy (GLSZM) of the lesion after a Laplacian-of-Gaussian filter,
    sigma 3 mm: randomness of zone sizes and gray levels, texture heterogeneity;
    the filter highlights medium blob-like structures'
    >>> describe_feature("original_shape2D_Elongation")
    'elongation (2-D shape) of the lesion outline: ratio of minor to major axis;
    low values mean an elongated lesion'
    >>> describe_feature("customScore_v2")
    'image feature custom Score v2 of the lesion'
    """
    return explain_feature(name).text


# ---------------------------------------------------------------------------
# Clinical statements
# ---------------------------------------------------------------------------

#: The sentence used when a lesion has no clinical information at all.
NO_CLINICAL_INFORMATION = "No clinical information available."

#: BI-RADS 5th edition breast composition categories (ACR, 2013).
DENSITY_STATEMENTS = {
    "A": "Almost entirely fatty breasts (BI-RADS density A).",
    "B": "Scattered areas of fibroglandular density (BI-RADS density B).",
    "C": "Heterogeneously dense breasts (BI-RADS density C).",
    "D": "Extremely dense breasts (BI-RADS density D).",
}
_MISSING_STRINGS = {"", "nan", "none", "null", "na", "n/a", "<na>", "nat", "missing", "unknown", "?"}
_TRUE_STRINGS = {"yes", "y", "true", "1"}
_FALSE_STRINGS = {"no", "n", "false", "0"}


def is_missing_value(value):
    """True for None and NaN-like scalars (NaN, ``pd.NA``, NaT); strings are never missing here.

    Missing-looking strings (``"unknown"``, ``""``) are judged per clinical field by
    :func:`clinical_statements`, so this check leaves them alone.

    Parameters
    ----------
    value : object
        A clinical value as found in a DataFrame cell.

    Returns
    -------
    bool
        Whether ``value`` is a missing scalar.

    Examples
    --------
    >>> [is_missing_value(v) for v in (None, float("nan"), "unknown", 62)]
    [True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, str):
        return False  # missing-looking strings are handled per field
    try:
        result = pd.isna(value)  # NaN, pd.NA, pd.NaT, numpy NaT
    except (TypeError, ValueError):
        return False
    return isinstance(result, bool | np.bool_) and bool(result)


def _age_statement(age, case):
    years = parse_age(age, case=case)  # the one rule, shared with the dataset loaders
    if math.isnan(years):
        return None
    # Completed years, as ages are reported clinically.
    return f"{int(math.floor(years))}-year-old woman."


def _history_statement(history, case):
    if is_missing_value(history):
        return None
    if isinstance(history, bool | np.bool_):
        flag = bool(history)
    elif isinstance(history, numbers.Real):
        if float(history) not in (0.0, 1.0):
            raise LesionError(
                f"invalid history {history!r}; expected free text, a bool, 0/1 or missing",
                case=case,
            )
        flag = bool(history)
    else:
        text = " ".join(str(history).split())
        low = text.lower().rstrip(".")
        if low in _MISSING_STRINGS:
            return None
        if low in _TRUE_STRINGS:
            flag = True
        elif low in _FALSE_STRINGS:
            flag = False
        else:
            text = text[0].upper() + text[1:]
            return text if text.endswith((".", "!", "?")) else text + "."
    return "History of breast disease." if flag else "No relevant history of breast disease."


class ClinicalStatements(NamedTuple):
    """One statement per clinical field (None where missing) and the sentence."""

    age: str | None
    density: str | None
    history: str | None
    sentence: str


def clinical_statements(age=None, density=None, history=None, *, case=None):
    """Turn one lesion's clinical fields into statements and a sentence.

    Parameters
    ----------
    age : float, int, str or None
        Age in years (``62``, ``62.7``, ``"062Y"``); missing as None/NaN.
    density : str, int or None
        Breast density, see :func:`normalize_density`.
    history : str, bool or None
        Free text ("family history of breast cancer"), a bool (True: "History
        of breast disease.", False: "No relevant history of breast
        disease."), 0/1, yes/no, or missing.
    case : object, default=None
        Case id, named in error messages.

    Returns
    -------
    ClinicalStatements
        ``age``, ``density``, ``history`` statements (None where missing) and
        ``sentence``, their concatenation, or :data:`NO_CLINICAL_INFORMATION`
        when all are missing.

    Raises
    ------
    LesionError
        For an unusable value, naming the case.

    Examples
    --------
    >>> s = clinical_statements(62, "C", float("nan"))
    >>> s.age, s.density, s.history
    ('62-year-old woman.', 'Heterogeneously dense breasts (BI-RADS density C).', None)
    """
    letter = normalize_density(density, case=case)
    parts = (
        _age_statement(age, case),
        None if letter is None else DENSITY_STATEMENTS[letter],
        _history_statement(history, case),
    )
    present = [p for p in parts if p]
    sentence = " ".join(present) if present else NO_CLINICAL_INFORMATION
    return ClinicalStatements(*parts, sentence)


def clinical_sentence(age=None, density=None, history=None, *, case=None):
    """Return one lesion's clinical information as one sentence.

    Missing fields are left out; when all are missing the sentence is
    :data:`NO_CLINICAL_INFORMATION`.

    Parameters
    ----------
    age, density, history, case
        See :func:`clinical_statements`.

    Returns
    -------
    str

    Examples
    --------
    >>> clinical_sentence(62, "C", "family history of breast cancer")
    '62-year-old woman. Heterogeneously dense breasts (BI-RADS density C).
    Family history of breast cancer.'
    >>> clinical_sentence(None, float("nan"), None)
    'No clinical information available.'
    """
    return clinical_statements(age, density, history, case=case).sentence
