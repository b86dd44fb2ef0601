"""One feature vocabulary across studies: map radiomics feature names to their identity.

Studies name the same feature differently (``MR_wavelet-HHL_glcm_JointEnergy``,
``wavelet.HLL_glcm_SumEntropy``, ``GLCM_IBSI_DIFFERENCE_AVERAGE_2DS_HU``,
``GLRLM_SRHGLE_LLL_25HUgl``). :func:`harmonize_feature_names` maps each name to what it
measures: an identity ``(filter, feature_class, feature)`` in PyRadiomics' vocabulary
(:data:`~sklearn_llmrad.vocabulary.FEATURE_DESCRIPTIONS`), or in the IBSI family's where
PyRadiomics has none, and the IBSI code (:mod:`sklearn_llmrad.ibsi`).

Rules come first: filters (PyRadiomics' image types and other software's spellings of
Laplacian-of-Gaussian and wavelet filters), class words (``glcm``, ``GLRLM``, ``NGLDM``,
``IH``, ``Stats``, ``FOS``, ``Histogram``, ``Morphologic``), and the feature word matched,
separators and case aside, against every PyRadiomics and IBSI name, their common
abbreviations (``SRHGE``, ``LGRE``, ``infoCorr1``, ``IDMN``) and spellings (``grey``,
``GL``, ``NONUNIF``, ``NORMALISED``). A word several classes share (``GrayLevelVariance``)
without a class word takes the class of its neighbours in the table. What the rules cannot
read a language model may map to the nearest IBSI definition, above a similarity threshold.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

from .ibsi import IBSI_FEATURES, ibsi_code
from .vocabulary import FEATURE_DESCRIPTIONS, clean_feature_name

__all__ = ["COLUMNS", "feature_identities", "harmonize_feature_names"]

#: The columns of :func:`harmonize_feature_names`' table.
COLUMNS = ("prefix", "filter", "feature_class", "feature", "ibsi_code", "method", "confidence")

# -- the vocabulary: identity -> the words that name it -------------------------------------------

_IDENTITIES = {}  # (class, feature) -> description text for the language model
for _cls, _table in FEATURE_DESCRIPTIONS.items():
    for _feature, (_label, _meaning) in _table.items():
        _IDENTITIES[(_cls, _feature)] = f"{_label}: {_meaning}"
for _row in IBSI_FEATURES:  # IBSI's definitions; a histogram feature only where no other names it
    _ident = (_row.feature_class, _row.feature)
    if _row.family != "intensity histogram" or _ident not in _IDENTITIES:
        _IDENTITIES[_ident] = f"{_row.name}: {_row.definition}"


def _key(text):
    return re.sub(r"[^a-z0-9]", "", str(text).lower().replace("grey", "gray"))


# Spellings of the words of feature names (canonical -> variants), applied to every name's key.
_SPELLINGS = (
    ("graylevel", ("gl", "gray", "")),
    ("nonuniformity", ("nonunif", "nonuniform", "noneuniformity", "nu")),
    ("normalized", ("normalised", "norm", "normalize")),
    ("emphasis", ("emph", "emphasise")),
    ("dependence", ("dep", "dependency")),
    ("distance", ("dist",)),
    ("variance", ("var", "varianc", "varian")),
    ("entropy", ("entr", "ent", "entrop", "entroy")),
    ("difference", ("diff", "dif")),
    ("inverse", ("inv",)),
    ("moment", ("mom",)),
    ("correlation", ("corr", "correl", "correllation")),
    ("average", ("avg",)),
    ("maximum", ("max",)),
    ("minimum", ("min",)),
    ("percentage", ("perc", "pcent", "percent")),
    ("run", ("runs",)),
    ("probability", ("prob",)),
)
# Whole names of other software (key -> feature), per class; None: any class that has it.
_ALIASES = {
    "firstorder": {
        "sd": "StandardDeviation",
        "std": "StandardDeviation",
        "stdev": "StandardDeviation",
        "stddeviation": "StandardDeviation",
        "istd": "StandardDeviation",
        "var": "Variance",
        "mean": "Mean",
        "imean": "Mean",
        "meanvalue": "Mean",
        "avg": "Mean",
        "median": "Median",
        "imedian": "Median",
        "med": "Median",
        "medianintensity": "Median",
        "max": "Maximum",
        "imax": "Maximum",
        "maxintensity": "Maximum",
        "min": "Minimum",
        "imin": "Minimum",
        "minintensity": "Minimum",
        "mode": "Mode",
        "imode": "Mode",
        "kurt": "Kurtosis",
        "skew": "Skewness",
        "ener": "Energy",
        "entr": "Entropy",
        "iqr": "InterquartileRange",
        "range": "Range",
        "rms": "RootMeanSquared",
        "rootmeansquare": "RootMeanSquared",
        "mad": "MeanAbsoluteDeviation",
        "imeanabsdev": "MeanAbsoluteDeviation",
        "meandeviation": "MeanAbsoluteDeviation",
        "mediandeviation": "MedianAbsoluteDeviation",
        "robustmeandeviation": "RobustMeanAbsoluteDeviation",
        "meanrobustdeviation": "RobustMeanAbsoluteDeviation",
        "robustmeanabsolutedeviation1090": "RobustMeanAbsoluteDeviation",
        "cv": "CoefficientOfVariation",
        "cov": "CoefficientOfVariation",
        "qcod": "QuartileCoefficientOfDispersion",
        "quartilecoefficientofvariation": "QuartileCoefficientOfDispersion",
        "tenthpercentile": "10Percentile",
        "ninetiethpercentile": "90Percentile",
        "percentile10": "10Percentile",
        "percentile90": "90Percentile",
        "p10": "10Percentile",
        "p90": "90Percentile",
        "x10percentile": "10Percentile",
        "x90percentile": "90Percentile",
        "histogramenergy": "Uniformity",
        "histogramentropy": "Entropy",
    },
    "shape": {
        "vol": "MeshVolume",
        "volume": "MeshVolume",
        "totalvolume": "MeshVolume",
        "totalvol": "MeshVolume",
        "approximatevolume": "VoxelVolume",
        "surfacearea": "SurfaceArea",
        "totalsurfacearea": "SurfaceArea",
        "totalsurfarea": "SurfaceArea",
        "surface2volumeratio": "SurfaceVolumeRatio",
        "surfacetovolumeratio": "SurfaceVolumeRatio",
        "satovratio": "SurfaceVolumeRatio",
        "compactness01": "Compactness1",
        "compactness02": "Compactness2",
        "sphericaldisporoportion": "SphericalDisproportion",
        "spherdisprop": "SphericalDisproportion",
        "shiftcenterofmass": "CentreOfMassShift",
        "majoraxis": "MajorAxisLength",
        "minoraxis": "MinorAxisLength",
        "leastaxis": "LeastAxisLength",
        "areadensityaabb": "AreaDensityAABB",
        "areadensityaee": "AreaDensityAEE",
        "volumedensityaabb": "VolumeDensityAABB",
        "volumedensityaee": "VolumeDensityAEE",
        "s2v": "SurfaceVolumeRatio",
        "sph": "Sphericity",
        "sphdis": "SphericalDisproportion",
        "max3d": "Maximum3DDiameter",
        "area": "SurfaceArea",
        "com1": "Compactness1",
        "com2": "Compactness2",
        "volumecc": "VoxelVolume",
        "volumemm": "VoxelVolume",
    },
    "glcm": {
        "energy": "JointEnergy",
        "asm": "JointEnergy",
        "angsmo": "JointEnergy",
        "entropy": "JointEntropy",
        "entrop": "JointEntropy",
        "haraentroy": "JointEntropy",
        "variance": "SumSquares",
        "varian": "SumSquares",
        "haravariance": "SumSquares",
        "sumofsquaresvariance": "SumSquares",
        "jointmaximum": "MaximumProbability",
        "mxprob": "MaximumProbability",
        "homogeneity": "Idm",
        "homogeniety": "Idm",
        "homogenerity": "Idm",
        "homoge": "Idm",
        "homoge1": "Id",
        "homogeneity1": "Id",
        "homogeneity2": "Idm",
        "inverse": "Id",
        "haralickcorrelation": "Correlation",
        "correllation": "Correlation",
        "inertia": "Contrast",
        "contra": "Contrast",
        "dissim": "Dissimilarity",
        "autocorr": "Autocorrelation",
        "autocorrel": "Autocorrelation",
        "clprom": "ClusterProminence",
        "clshad": "ClusterShade",
        "cltend": "ClusterTendency",
        "infco1": "Imc1",
        "infco2": "Imc2",
        "infocorr1": "Imc1",
        "infocorr2": "Imc2",
        "fmic": "Imc1",
        "smic": "Imc2",
        "informationmeasureofcorrelation1": "Imc1",
        "informationmeasureofcorrelation2": "Imc2",
        "informationalmeasureofcorrelation1": "Imc1",
        "informationalmeasureofcorrelation2": "Imc2",
        "invdiff": "Id",
        "invdiffnorm": "Idn",
        "invdiffmom": "Idm",
        "invdiffmomnorm": "Idmn",
        "inversedifferencemoment": "Idm",
        "inversedifference": "Id",
        "normalizedinversedifference": "Idn",
        "normalizedinversedifferencemoment": "Idmn",
        "invvar": "InverseVariance",
        "sumavg": "SumAverage",
        "sument": "SumEntropy",
        "sumvar": "SumVariance",
        "difent": "DifferenceEntropy",
        "difvar": "DifferenceVariance",
        "jointvariance": "SumSquares",
        "maximalcorrelationcoefficient": "MCC",
        "averageintensity": "JointAverage",
    },
    "glrlm": {
        "hrge": "HighGrayLevelRunEmphasis",
        "lrge": "LowGrayLevelRunEmphasis",
        "rlv": "RunVariance",
        "runlengthvariance": "RunVariance",
        "rv": "RunVariance",
    },
    "glszm": {
        "largezone": "LargeAreaEmphasis",
        "smallzone": "SmallAreaEmphasis",
        "lzonehigl": "LargeAreaHighGrayLevelEmphasis",
        "lzonelogl": "LargeAreaLowGrayLevelEmphasis",
        "szonehigl": "SmallAreaHighGrayLevelEmphasis",
        "szonelogl": "SmallAreaLowGrayLevelEmphasis",
        "zonehigl": "HighGrayLevelZoneEmphasis",
        "zonelogl": "LowGrayLevelZoneEmphasis",
        "zonepcent": "ZonePercentage",
        "sznonunif": "SizeZoneNonUniformity",
        "szvarianc": "ZoneVariance",
        "zsentropy": "ZoneEntropy",
        "zsvariance": "ZoneVariance",
        "zsnonunif": "SizeZoneNonUniformity",
        "zsnonunifnormalised": "SizeZoneNonUniformityNormalized",
        "zonesizeentropy": "ZoneEntropy",
        "zonesizevariance": "ZoneVariance",
        "zonesizenonuniformity": "SizeZoneNonUniformity",
        "zonesizenonuniformitynormalized": "SizeZoneNonUniformityNormalized",
        "zonesizenoneuniformitynormalized": "SizeZoneNonUniformityNormalized",
        "highgraylevelemphasis": "HighGrayLevelZoneEmphasis",
        "lowgraylevelemphasis": "LowGrayLevelZoneEmphasis",
        "highintensityemphasis": "HighGrayLevelZoneEmphasis",
        "lowintensityemphasis": "LowGrayLevelZoneEmphasis",
        "highintensitylargeareaemphasis": "LargeAreaHighGrayLevelEmphasis",
        "highintensitysmallareaemphasis": "SmallAreaHighGrayLevelEmphasis",
        "lowintensitylargeareaemphasis": "LargeAreaLowGrayLevelEmphasis",
        "lowintensitysmallareaemphasis": "SmallAreaLowGrayLevelEmphasis",
        "sizezonevariability": "SizeZoneNonUniformity",
        "intensityvariability": "GrayLevelNonUniformity",
    },
    "gldm": {
        "depcountpercentage": "DependencePercentage",
        "depenergy": "DependenceEnergy",
        "dcenergy": "DependenceEnergy",
        "dcentropy": "DependenceEntropy",
    },
    "ngtdm": {
        "contra": "Contrast",
        "coarse": "Coarseness",
        "coarsness": "Coarseness",
        "complex": "Complexity",
        "streng": "Strength",
    },
    "gldzm": {
        "intensityvariability": "GrayLevelNonUniformity",
        "intensityvariabilitynormalized": "GrayLevelNonUniformityNormalized",
        "distancezonevariability": "ZoneDistanceNonUniformity",
        "distancezonevariabilitynormalized": "ZoneDistanceNonUniformityNormalized",
        "lowintensityemphasis": "LowGrayLevelZoneEmphasis",
        "highintensityemphasis": "HighGrayLevelZoneEmphasis",
        "lowintensitysmalldistanceemphasis": "SmallDistanceLowGrayLevelEmphasis",
        "highintensitysmalldistanceemphasis": "SmallDistanceHighGrayLevelEmphasis",
        "lowintensitylargedistanceemphasis": "LargeDistanceLowGrayLevelEmphasis",
        "highintensitylargedistanceemphasis": "LargeDistanceHighGrayLevelEmphasis",
    },
    "ivh": {
        "intatvolfrac10": "IntensityAtVolumeFraction",
        "intatvolfrac90": "IntensityAtVolumeFraction",
        "volatintfrac10": "VolumeAtIntensityFraction",
        "volatintfrac90": "VolumeAtIntensityFraction",
        "intatvolfracdiff": "IntensityFractionDifference",
        "volatintfracdiff": "VolumeFractionDifference",
    },
    "diagnostics": {"voxelnum": "VoxelNum", "volumenum": "VolumeNum", "nvoxels": "VoxelNum"},
}
# Words that name a class (key -> (class, histogram variant)).
_CLASS_WORDS = {
    "glcm": ("glcm", False),
    "glrlm": ("glrlm", False),
    "glszm": ("glszm", False),
    "gldm": ("gldm", False),
    "ngldm": ("gldm", False),
    "ngtdm": ("ngtdm", False),
    "gldzm": ("gldzm", False),
    "firstorder": ("firstorder", False),
    "fos": ("firstorder", False),
    "stats": ("firstorder", False),
    "stat": ("firstorder", False),
    "statistics": ("firstorder", False),
    "intensity": ("firstorder", False),
    "ih": ("firstorder", True),
    "histogram": ("firstorder", True),
    "intensityhistogram": ("firstorder", True),
    "shape": ("shape", False),
    "shape2d": ("shape2D", False),
    "morph": ("shape", False),
    "morphology": ("shape", False),
    "morphologic": ("shape", False),
    "morphological": ("shape", False),
    "sns": ("shape", False),
    "ivh": ("ivh", False),
    "diagnostics": ("diagnostics", False),
}
_NOISE = {"ibsi", "hu", "mm", "ml", "mm3", "voxels", "2ds", "2df", "2dv", "3df", "3dv", "3d", "2d"}
_COMPATIBLE = {("shape", "shape2D"), ("firstorder", "ivh")}  # a class word and the classes it admits
_PRIMARY = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")  # preferred when a word is shared


def _acronyms(feature):
    """Initials of a CamelCase name (``ShortRunHighGrayLevelEmphasis`` -> srhgle, srhge)."""
    words = re.findall(r"[A-Z][a-z]*|\d+", feature)
    options = []
    i = 0
    while i < len(words):
        pair = "".join(words[i : i + 2])
        if pair in ("GrayLevel", "NonUniformity"):
            options.append(("gl", "g") if pair == "GrayLevel" else ("nu", "n"))
            i += 2
        else:
            options.append((words[i][0].lower(),))
            i += 1
    return {"".join(c) for c in itertools.product(*options)} if len(options) > 1 else set()


def _variants(key):
    out = {key}
    for canonical, spellings in _SPELLINGS:
        if canonical in key:
            out |= {k.replace(canonical, s) for k in out for s in spellings}
    return out


def _build_lexicon():
    lexicon = {}  # key -> set of (class, feature)
    acronyms = {}

    def add(table, key, ident):
        if key:
            table.setdefault(key, set()).add(ident)

    for cls, feature in _IDENTITIES:
        for key in _variants(_key(feature)):
            add(lexicon, key, (cls, feature))
        if cls in ("glrlm", "glszm", "gldm", "gldzm", "ngtdm"):
            for acro in _acronyms(feature):
                add(acronyms, acro, (cls, feature))
    for row in IBSI_FEATURES:
        ibsi_name = re.sub(r"\(.*?\)|'s", "", row.name)
        for key in _variants(_key(ibsi_name)):
            add(lexicon, key, (row.feature_class, row.feature))
        if row.feature_class in ("glrlm", "glszm", "gldm", "gldzm"):
            words = re.sub(r"grey level", "greylevel", ibsi_name.replace("-", "")).split()
            camel = "".join(w[:1].upper() + w[1:] for w in words).replace("Greylevel", "GrayLevel")
            camel = camel.replace("Nonuniformity", "NonUniformity")
            for acro in _acronyms(camel):
                add(acronyms, acro, (row.feature_class, row.feature))
    for cls, table in _ALIASES.items():  # the aliases of a class replace what that class generated
        for key, feature in table.items():
            lexicon[key] = {x for x in lexicon.get(key, set()) if x[0] != cls} | {(cls, feature)}
    for key, idents in acronyms.items():
        if key not in lexicon and len(key) >= 2:
            lexicon[key] = idents
    return lexicon


_LEXICON = _build_lexicon()

# -- filters ---------------------------------------------------------------------------------------

_FILTER_PATTERNS = (
    # PyRadiomics (log-sigma-3-0-mm-3D) and its separator variants
    (re.compile(r"log[-_.]sigma[-_.](\d+)(?:[-_.](\d+))?[-_.]mm(?:[-_.][23]D)?", re.I), "log"),
    # "LOG_2D_MEAN_2_5MM": a Laplacian-of-Gaussian sigma written after the feature
    (re.compile(r"^LOG_[23]D_(?P<rest>.+?)_(\d+)_(\d+)MM", re.I), "log_after"),
    (re.compile(r"wavelet(\d*)[-_.]?([LH]{1,3})(?![A-Za-z])", re.I), "wavelet"),
    (re.compile(r"(?<![A-Za-z])([LH]{3})(?![A-Za-z])"), "band"),
    (re.compile(r"lbp-(2D|3D-m\d+|3D-k)"), "lbp"),
    (re.compile(r"LBP(\d)((?:_ri)?(?:_u)?)"), "lbp_other"),
    (re.compile(r"(Gabor|Sobel|prewitt)(\d*)", re.I), "edge"),
)
_SIMPLE_FILTERS = {"original", "square", "squareroot", "logarithm", "exponential", "gradient"}


def _sigma(whole, decimals):
    return f"log-sigma-{float(f'{whole}.{decimals or 0}'):g}-mm"


def _find_filter(name):
    """``(filter or None, name with the filter removed)``."""
    for pattern, kind in _FILTER_PATTERNS:
        m = pattern.search(name)
        if m is None:
            continue
        if kind == "log":
            return _sigma(m.group(1), m.group(2)), name[: m.start()] + "_" + name[m.end() :]
        if kind == "log_after":
            return _sigma(m.group(2), m.group(3)), m.group("rest") + name[m.end() :]
        if kind == "wavelet":
            return f"wavelet{m.group(1)}-{m.group(2).upper()}", name[: m.start()] + "_" + name[m.end() :]
        if kind == "band":
            return f"wavelet-{m.group(1)}", name[: m.start()] + "_" + name[m.end() :]
        if kind == "lbp":
            return f"lbp-{m.group(1)}", name[: m.start()] + "_" + name[m.end() :]
        if kind == "lbp_other":
            return f"lbp{m.group(1)}{m.group(2).replace('_', '-')}", name[: m.start()] + "_" + name[m.end() :]
        filt = m.group(1).lower() + (f"-{m.group(2)}" if m.group(2) else "")
        return filt, name[: m.start()] + "_" + name[m.end() :]
    return None, name


# -- one name --------------------------------------------------------------------------------------

_GLUED_CLASS_RE = re.compile(r"^(GLCM|GLRLM|GLSZM|GLDZM|NGTDM|NGLDM|GLDM)(?=[A-Za-z])")
_DUPLICATE_RE = re.compile(r"\.(\d+)$")  # pandas' suffix of a repeated column name


def _tokens(text):
    """Tokens of a name and where each starts in ``text``."""
    out, starts = [], []
    for match in re.finditer(r"[^\s_.,;:+()/\-]+", text):
        token = match.group(0)
        m = _GLUED_CLASS_RE.match(token)
        if m:
            out += [m.group(1), token[m.end() :]]
            starts += [match.start(), match.start() + m.end()]
        else:
            out.append(token)
            starts.append(match.start())
    return out, starts


def _parse(name):
    """Rule reading of one name: dict of the columns, with ``candidates`` when the class is open."""
    text = str(name).strip()
    duplicate = _DUPLICATE_RE.search(text) if re.search(r"[A-Za-z]", text) else None
    if duplicate:
        text = text[: duplicate.start()]
    m = re.search(r"(?:^|_)(diagnostics|general_info)_(.+)$", text)
    if m:
        item = m.group(2).split("_")
        feature = next((t for t in item if _key(t) in _ALIASES["diagnostics"]), "_".join(item))
        prefix = text[: m.start()] or None
        return {"prefix": prefix, "filter": None, "candidates": {("diagnostics", feature)}, "hist": False, "hint": True}
    filt, rest = _find_filter(text)
    tokens, starts = _tokens(rest)
    keys = [_key(tok) for tok in tokens]
    kinds = []  # per token: "class", "filter", "noise" or None
    hint, hist = None, False
    for k in keys:
        if k in _CLASS_WORDS:
            cls, h = _CLASS_WORDS[k]
            if hint is None or cls != "firstorder":  # "Intensity_Histogram" keeps firstorder
                hint = cls if hint in (None, "firstorder") else hint
            hist = hist or h
            kinds.append("class")
        elif k in _SIMPLE_FILTERS:
            filt = k if filt is None else filt
            kinds.append("filter")
        elif k in _NOISE or re.fullmatch(r"\d+hugl|bins\d+|radius\d+|\d+mm", k):
            kinds.append("noise")
        else:
            kinds.append(None)
    best = None
    for i in range(len(tokens)):
        if kinds[i] is not None or not re.search(r"[A-Za-z]", tokens[i]):
            continue
        key = ""
        for j in range(i, len(tokens)):
            if kinds[j] is not None:
                break
            step = keys[j]
            if step.isdigit() and key in _LEXICON:
                break  # "GLCMenergy_3": the 3 is an offset, not part of the name
            key += step
            idents = _LEXICON.get(key)
            if idents and hint is not None:
                idents = {x for x in idents if x[0] == hint or (hint, x[0]) in _COMPATIBLE}
            if idents and (best is None or j - i > best[1] - best[0]):
                best = (i, j, idents)
    if best is None:
        return {"prefix": None, "filter": filt, "candidates": set(), "hist": hist, "hint": hint is not None}
    i, j, idents = best
    first = next((n for n, k in enumerate(kinds) if k is not None), i)
    lead = rest[: starts[min(first, i)]].strip("_-. ")
    trail = [
        t
        for t, k in zip(tokens[j + 1 :], kinds[j + 1 :], strict=True)
        if k is None and not re.fullmatch(r"\d+|\d*D[FSV]?", t)
    ]
    prefix = lead or "_".join(trail) or None
    if duplicate is not None and filt is None:
        filt = "unknown"
    return {
        "prefix": prefix,
        "filter": filt or "original",
        "candidates": idents,
        "hist": hist,
        "hint": hint is not None,
    }


def _resolve(parsed):
    """Pick one identity per name; shared words take their neighbours' class."""
    chosen = [None] * len(parsed)
    for n, p in enumerate(parsed):
        c = p["candidates"]
        if len(c) > 1:
            primary = {x for x in c if x[0] in _PRIMARY}
            if len(primary) == 1:
                chosen[n] = (next(iter(primary)), 0.9 if p["hint"] else 0.8)
                continue
        if len(c) == 1:
            chosen[n] = (next(iter(c)), 1.0 if p["hint"] else 0.9)
    for n, p in enumerate(parsed):
        c = p["candidates"]
        if chosen[n] is not None or not c:
            continue
        for dist in range(1, len(parsed)):
            near = [chosen[m] for m in (n - dist, n + dist) if 0 <= m < len(parsed) and chosen[m] is not None]
            hit = [x for x in c if any(x[0] == nb[0][0] and nb[1] >= 0.9 for nb in near)]
            if len(hit) == 1:
                chosen[n] = (hit[0], 0.75)
                break
            if near and dist > 10:
                break
        if chosen[n] is None:
            primary = sorted(x for x in c if x[0] in _PRIMARY)
            if primary and all(x[1] == primary[0][1] for x in primary) and primary[0][0] == "firstorder":
                chosen[n] = (primary[0], 0.6)
    return chosen


def _language_model_map(texts, language_model, *, device, batch_size=64):
    """Nearest identity description for each text: ``[(identity, cosine)]``."""
    from .language_model import embed, load_language_model

    tokenizer, model, device = load_language_model(language_model, device=device)
    idents = list(_IDENTITIES)
    targets = [f"{clean_feature_name(f'{c}_{f}')}: {_IDENTITIES[(c, f)]}" for c, f in idents]
    kw = {"batch_size": batch_size, "max_length": 128, "pooling": "mean"}
    E = embed(tokenizer, model, device, targets, **kw)
    Q = embed(tokenizer, model, device, list(texts), **kw)
    E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    Q /= np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
    S = Q @ E.T
    best = S.argmax(axis=1)
    return [(idents[b], float(S[i, b])) for i, b in enumerate(best)]


def harmonize_feature_names(names, *, language_model=None, threshold=0.6, device="cpu"):
    """Map radiomics feature names to their identity: filter, class, feature and IBSI code.

    Parameters
    ----------
    names : sequence of str
        Feature names, in the order of their table (a shared word without a class word
        takes the class of its neighbours).
    language_model : str or path-like, default=None
        A language model (hub id or local folder) that maps what the rules cannot to the
        nearest IBSI or PyRadiomics feature description; None: rules only.
    threshold : float, default=0.6
        Cosine similarity below which a language-model match is refused (the name stays
        ``unmapped``).
    device : str, default="cpu"
        Device of the language model.

    Returns
    -------
    pandas.DataFrame
        One row per name (index: the names), columns ``prefix`` (modality, sequence, ROI:
        ``MR``, ``T2``, ``GTV-1``), ``filter`` (``original``, ``wavelet-HLL``,
        ``log-sigma-3-mm``; ``unknown`` for a repeated column whose filter the name does
        not say), ``feature_class`` (PyRadiomics class, or the IBSI family where PyRadiomics
        has none: ``gldzm``, ``ivh``), ``feature`` (the PyRadiomics name where one exists),
        ``ibsi_code`` (None where the IBSI manual defines no such feature), ``method``
        (``rule``, ``language_model`` or ``unmapped``) and ``confidence`` (1 for a rule with
        a class word, 0.9 without, 0.75 when the class came from the neighbours; the cosine
        similarity for the language model; 0 when unmapped).

    Examples
    --------
    >>> table = harmonize_feature_names(["MR_wavelet-HHL_glcm_JointEnergy",
    ...     "Wavelet_HLL_GLCM_infoCorr1", "GLRLM_SRHGLE_LLL_25HUgl", "V427"])
    >>> table["feature"].tolist()
    ['JointEnergy', 'Imc1', 'ShortRunHighGrayLevelEmphasis', None]
    >>> table["filter"].tolist(), table["ibsi_code"].tolist()
    (['wavelet-HHL', 'wavelet-HLL', 'wavelet-LLL', None], ['8ZQL', 'R8DG', 'GD3A', None])
    >>> table["prefix"].tolist(), table["method"].tolist()
    (['MR', None, None, None], ['rule', 'rule', 'rule', 'unmapped'])
    """
    names = [str(n) for n in names]
    parsed = [_parse(n) for n in names]
    chosen = _resolve(parsed)
    rows = []
    for p, pick in zip(parsed, chosen, strict=True):
        if pick is None:
            rows.append([p["prefix"], None, None, None, None, "unmapped", 0.0])
            continue
        (cls, feature), conf = pick
        filt = None if cls == "diagnostics" else p["filter"]
        code = ibsi_code(cls, feature, histogram=p["hist"])
        rows.append([p["prefix"], filt, cls, feature, code, "rule", conf])
    frame = pd.DataFrame(rows, columns=list(COLUMNS), index=pd.Index(names, name="name"))
    text = list(COLUMNS[:5])
    frame[text] = frame[text].astype(object).where(frame[text].notna(), None)  # missing: None, never NaN
    todo = [i for i, row in enumerate(rows) if row[5] == "unmapped" and re.search(r"[A-Za-z]{2}", names[i])]
    if language_model is not None and todo:
        matches = _language_model_map([clean_feature_name(names[i]) for i in todo], language_model, device=device)
        for i, ((cls, feature), sim) in zip(todo, matches, strict=True):
            if sim < threshold:
                frame.iloc[i, frame.columns.get_loc("confidence")] = sim
                continue
            frame.iloc[i, 1:] = [
                parsed[i]["filter"] or "original",
                cls,
                feature,
                ibsi_code(cls, feature),
                "language_model",
                sim,
            ]
    return frame


def feature_identities(mapping):
    """``filter/class/feature`` of each mapped row of a harmonised table; None where unmapped.

    Parameters
    ----------
    mapping : pandas.DataFrame
        The output of :func:`harmonize_feature_names`.

    Returns
    -------
    pandas.Series of str or None

    Examples
    --------
    >>> feature_identities(harmonize_feature_names(["CT_original_glcm_Idmn", "x"])).tolist()
    ['original/glcm/Idmn', None]
    """
    mapped = mapping["method"] != "unmapped"
    filt = mapping["filter"].fillna("-").astype(str)
    ident = filt + "/" + mapping["feature_class"].astype(str) + "/" + mapping["feature"].astype(str)
    return ident.astype(object).where(mapped, None)
