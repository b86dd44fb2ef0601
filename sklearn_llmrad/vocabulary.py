"""The feature-name vocabulary: what a radiomics feature name means, in words.

One place for the words and patterns of feature names (feature classes and
their features, filters such as ``log-sigma-3-0-mm-3D`` and ``wavelet-LLH``,
modality prefixes, abbreviations, CamelCase), used two ways: the clinical-language
description of a PyRadiomics name that :class:`~sklearn_llmrad.BioBERTEncoder`
embeds instead of the raw name (:func:`describe_feature`, :func:`explain_feature`),
and any study's name turned into the words a
:class:`~sklearn_llmrad.prior.SemanticPrior` embeds (:func:`clean_feature_name`).

PyRadiomics names a feature ``<image type>_<feature class>_<feature>``
(see ``radiomics.featureextractor``); image types carry their parameters
(``log-sigma-3-0-mm-3D``, ``wavelet2-HLH``, ``lbp-3D-m1``). A user prefix in
front (``MR_original_shape_Elongation``, ``CC_original_...``) is kept and
named in the description.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "NAME_CLEANING_VERSION",
    "FeatureDescription",
    "clean_feature_name",
    "describe_feature",
    "explain_feature",
    "is_placeholder_names",
    "placeholder_names",
]


def placeholder_names(n):
    """``x0, x1, ...``: what an array without column names calls its ``n`` features.

    Parameters
    ----------
    n : int

    Returns
    -------
    list of str

    Examples
    --------
    >>> placeholder_names(3)
    ['x0', 'x1', 'x2']
    """
    return [f"x{i}" for i in range(n)]


def is_placeholder_names(names):
    """Whether ``names`` are none or only the placeholders ``x0, x1, ...`` (no feature names to read).

    Parameters
    ----------
    names : sequence of str or None

    Returns
    -------
    bool

    Examples
    --------
    >>> is_placeholder_names(["x0", "x1"]), is_placeholder_names(["original_firstorder_Mean", "x1"])
    (True, False)
    """
    return names is None or [str(n) for n in names] == placeholder_names(len(names))


# Feature classes. Each entry: feature -> (label, meaning). Meanings follow the
# PyRadiomics documentation of each feature ("Radiomic Features", pyradiomics
# readthedocs) and Zwanenburg et al., IBSI reference manual (2020), restated
# in clinical terms. The lists cover every name `getFeatureNames()` returns,
# deprecated ones included; tests check this against the installed package.

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
    "SmallDependenceLowGrayLevelEmphasis": ("small dependence low gray-level emphasis", "heterogeneous dark texture"),
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

# -- Image types (radiomics.imageoperations.get*Image yield these names). --------------------------

# The patterns of names, one of each (descriptions and cleaning use the same):
# CamelCase word boundaries ("GrayLevelNonUniformity", "HTTPServer" -> "HTTP Server");
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# the Laplacian-of-Gaussian filter: sigma (units, decimals) and dimension (PyRadiomics
# writes it in lower case; the cleaning accepts any case, as other software writes);
_LOG_SIGMA = r"log-sigma-(\d+)(?:-(\d+))?-mm-([23])D"
# the wavelet filter: level, separator ("-" in PyRadiomics names) and sub-band letters;
_WAVELET_RE = re.compile(r"wavelet(\d*)([-_.])([LH]{1,3})(?![A-Za-z])")
# separators of the words of a name ("." only where it is not a decimal point).
_SPLIT_RE = re.compile(r"(?:[_\s,;:()/\-\[\]]|\.(?!\d)|(?<!\d)\.)+")

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


def _describe_image_type(image_type):
    """Return (phrase, emphasis) or None for an unknown image type."""
    if image_type in _SIMPLE_IMAGE_TYPES:
        return _SIMPLE_IMAGE_TYPES[image_type]
    m = re.fullmatch(_LOG_SIGMA, image_type)  # in the case PyRadiomics writes
    if m:
        # PyRadiomics writes str(sigma) with "." replaced by "-": "3-0" -> 3, "0-5" -> 0.5
        value = float(f"{m.group(1)}.{m.group(2) or 0}")
        text = f"{value:g}"
        scale = "fine" if value < 2 else ("medium" if value < 4 else "coarse")
        return (f"after a Laplacian-of-Gaussian filter, sigma {text} mm", f"highlights {scale} blob-like structures")
    m = _WAVELET_RE.fullmatch(image_type)
    if m and m.group(2) == "-":  # the separator PyRadiomics writes
        level, _, band = m.groups()
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
        return (f"in the level-{m.group(1)} 3-D local binary pattern image", "encodes micro-texture around each voxel")
    return None


# -- Public feature-name API -----------------------------------------------------------------------


class FeatureDescription(NamedTuple):
    """A parsed feature name and its description.

    Attributes
    ----------
    text : str
        The description.
    generic : bool
        True when the name is not a PyRadiomics name this module knows;
        ``text`` is then only a readable rewording of the name.
    prefix, image_type, feature_class, feature : str or None
        The parts of a PyRadiomics name (``MR``, ``wavelet-LH``, ``glcm``,
        ``Contrast``); None where absent or unknown.
    """

    text: str
    generic: bool
    prefix: str | None = None
    image_type: str | None = None
    feature_class: str | None = None
    feature: str | None = None


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


# -- Cleaning: any study's feature name -> words a language model knows ----------------------------

#: Version of :func:`clean_feature_name`, recorded in saved priors (a prior
#: applied with another cleaning would embed names differently).
NAME_CLEANING_VERSION = "1"

_CLASS_WORDS = {
    "glcm": "GLCM gray level co-occurrence matrix",
    "glrlm": "GLRLM gray level run length matrix",
    "glszm": "GLSZM gray level size zone matrix",
    "gldm": "GLDM gray level dependence matrix",
    "ngtdm": "NGTDM neighbouring gray tone difference matrix",
    "gldzm": "GLDZM gray level distance zone matrix",
    "ngldm": "NGLDM neighbouring gray level dependence matrix",
    "firstorder": "first order intensity statistics",
    "shape": "shape",
    "shape2d": "2D shape",
    "fos": "first order statistics",
    "fd": "fractal dimension",
}
_CLASS_TABLES = {name.lower(): name for name in FEATURE_DESCRIPTIONS}  # "shape2d" -> "shape2D"
# Modality and sequence prefixes: kept, as words a language model knows.
_MODALITY_WORDS = {
    "t1": "T1 weighted MRI",
    "t2": "T2 weighted MRI",
    "t1gd": "contrast enhanced T1 weighted MRI",
    "t1c": "contrast enhanced T1 weighted MRI",
    "t1ce": "contrast enhanced T1 weighted MRI",
    "flair": "FLAIR MRI",
    "adc": "ADC apparent diffusion coefficient",
    "dwi": "diffusion weighted MRI",
    "dce": "dynamic contrast enhanced MRI",
    "ct": "CT",
    "pet": "PET",
    "mr": "MRI",
    "mri": "MRI",
    "hu": "Hounsfield units",
    "suv": "standardized uptake value",
    "rcbv": "relative cerebral blood volume",
    "md": "mean diffusivity",
    "fa": "fractional anisotropy",
    "gtv": "gross tumour volume",
    "cc": "craniocaudal view",
    "mlo": "mediolateral oblique view",
}
# Feature abbreviations of PyRadiomics, IBSI and older software.
# (PyRadiomics' own short names, Idmn, Imc1, MCC..., are read from FEATURE_DESCRIPTIONS)
_ABBREVIATIONS = {
    "asm": "angular second moment",
    "log": "Laplacian of Gaussian",
    "lbp": "local binary pattern",
    "sre": "short run emphasis",
    "lre": "long run emphasis",
    "lrge": "long run high gray level emphasis",
    "gln": "gray level non uniformity",
    "glnu": "gray level non uniformity",
    "glnn": "normalized gray level non uniformity",
    "rln": "run length non uniformity",
    "rlnu": "run length non uniformity",
    "rp": "run percentage",
    "rv": "run variance",
    "lglre": "low gray level run emphasis",
    "hglre": "high gray level run emphasis",
    "srlgle": "short run low gray level emphasis",
    "srhgle": "short run high gray level emphasis",
    "lrlgle": "long run low gray level emphasis",
    "lrhgle": "long run high gray level emphasis",
    "sae": "small area emphasis",
    "lae": "large area emphasis",
    "sze": "small zone emphasis",
    "lze": "large zone emphasis",
    "szn": "size zone non uniformity",
    "zsn": "zone size non uniformity",
    "zsnu": "zone size non uniformity",
    "zsv": "zone size variance",
    "zp": "zone percentage",
    "szlge": "small zone low gray level emphasis",
    "szhge": "small zone high gray level emphasis",
    "lzlge": "large zone low gray level emphasis",
    "lzhge": "large zone high gray level emphasis",
    "lglze": "low gray level zone emphasis",
    "hglze": "high gray level zone emphasis",
    "glv": "gray level variance",
    "sde": "small dependence emphasis",
    "lde": "large dependence emphasis",
    "dn": "dependence non uniformity",
    "imin": "minimum intensity",
    "imax": "maximum intensity",
    "qcod": "quartile coefficient of dispersion",
    "sd": "standard deviation",
    "std": "standard deviation",
    "var": "variance",
    "avg": "average",
    "homogenerity": "homogeneity",
    "ibsi": "",
    "3dv": "3D volume",
    "3df": "3D",
    "2df": "2D",
    "roi": "region of interest",
    "gl": "gray level",
    "squareroot": "square root",
}
# a matrix class glued to its feature ("GLCMcontrast")
_MATRICES = "|".join(short.upper() for short, words in _CLASS_WORDS.items() if words.endswith("matrix"))
_CLASS_PREFIX_RE = re.compile(rf"^({_MATRICES})([A-Za-z].*)$")
_LOG_SIGMA_ANY_CASE = re.compile(_LOG_SIGMA, re.IGNORECASE)
_FEATURE_LABELS = {}
for _table in FEATURE_DESCRIPTIONS.values():
    for _feature, (_label, _meaning) in _table.items():
        _FEATURE_LABELS.setdefault(_feature.lower(), _label)


def _expand_token(token, table):
    low = token.lower()
    if table is not None and token in FEATURE_DESCRIPTIONS[table]:
        return FEATURE_DESCRIPTIONS[table][token][0], None
    if low in _CLASS_WORDS:
        return _CLASS_WORDS[low], _CLASS_TABLES.get(low)
    if low in _MODALITY_WORDS:
        return _MODALITY_WORDS[low], None
    if low in _ABBREVIATIONS:
        return _ABBREVIATIONS[low], None
    if low in _FEATURE_LABELS:
        return _FEATURE_LABELS[low], None
    m = _CLASS_PREFIX_RE.match(token)
    if m:
        head, _ = _expand_token(m.group(1), None)
        rest, _ = _expand_token(m.group(2), _CLASS_TABLES.get(m.group(1).lower()))
        return f"{head} {rest}", None
    words = _CAMEL_RE.sub(" ", token).split()
    if len(words) > 1:
        return " ".join(_expand_token(w, None)[0] for w in words), None
    return token, None


def _wavelet_words(m):
    level, _, band = m.groups()
    if len(level) > 1:  # version 1 of the cleaning reads a one-digit level only
        return m.group(0)
    return f" wavelet{' level ' + level if level else ''} {band} "


def clean_feature_name(name):
    """Turn a radiomics feature name into words a language model understands.

    Separators become spaces, camel case is split, PyRadiomics features get
    their labels from :data:`FEATURE_DESCRIPTIONS`,
    feature classes and common abbreviations (GLCM, GLRLM, GLSZM, GLDM, NGTDM,
    Idmn, LRE, ...) are expanded, filters are spelled out (wavelet sub-bands,
    Laplacian-of-Gaussian sigma) and modality/sequence prefixes are kept as
    words (``T2`` -> "T2 weighted MRI").

    Parameters
    ----------
    name : str

    Returns
    -------
    str

    Examples
    --------
    >>> clean_feature_name("T2_wavelet-LLH_glcm_Idmn")
    'T2 weighted MRI wavelet LLH GLCM gray level co-occurrence matrix normalized inverse difference moment'
    >>> clean_feature_name("log-sigma-3-0-mm-3D_firstorder_Kurtosis")
    'Laplacian of Gaussian sigma 3.0 mm 3D first order intensity statistics intensity kurtosis'
    >>> clean_feature_name("FLAIR_edema_GLCMcontrast_2")
    'FLAIR MRI edema GLCM gray level co-occurrence matrix co-occurrence contrast 2'
    """
    text = str(name)
    text = _LOG_SIGMA_ANY_CASE.sub(
        lambda m: f" log sigma {m.group(1)}{'.' + m.group(2) if m.group(2) else ''} mm {m.group(3)}D ", text
    )
    text = _WAVELET_RE.sub(_wavelet_words, text)
    out = []
    table = None
    for token in _SPLIT_RE.split(text):
        if not token:
            continue
        if re.fullmatch(r"\d+(\.\d+)?D?", token):
            out.append(token)
            continue
        words, new_table = _expand_token(token, table)
        table = new_table if new_table is not None else table
        if words:
            out.append(words)
    return " ".join(" ".join(out).split()) or "unnamed feature"
