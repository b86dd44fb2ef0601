"""The IBSI feature table: each feature's 4-character code, family, name and definition.

The codes, names and families are facts of the IBSI reference manual: A. Zwanenburg et al.,
"The Image Biomarker Standardization Initiative: standardized quantitative radiomics for
high-throughput image-based phenotyping", Radiology 295 (2020) 328-338, and its reference
manual (arXiv:1612.07003). The definitions are short restatements in our own words.

Each row also names the feature's identity as :func:`~sklearn_llmrad.harmonize_feature_names`
writes it: the PyRadiomics class and feature where PyRadiomics computes the feature
(``glcm``/``JointEnergy``), else the IBSI family and a CamelCase form of the IBSI name
(``gldzm``/``SmallDistanceEmphasis``). Two things the table in PyRadiomics'
``labs/pyradiomics-dcm`` gets wrong are right here: the GLSZM zone emphases belong to
``glszm`` (not ``glcm``), the grey level zone emphases S1RA/K26C belong to the grey level
*distance* zone matrix, and ``Id``/``Idn``/``Idm``/``Idmn`` carry IB1Z/NDRX/WF0Z/1QCO.

Intensity-histogram features (IBSI family "intensity histogram", computed on the discretised
intensities) share the first-order identity of their statistic (``firstorder``/``Mean``)
but have their own code; :func:`ibsi_code` picks it with ``histogram=True``. PyRadiomics
computes ``Entropy`` and ``Uniformity`` on the discretised intensities, so their codes are
the histogram ones.
"""

# ruff: noqa: E501  (the table below is data: one IBSI feature a line)
from __future__ import annotations

from typing import NamedTuple

__all__ = ["IBSI_FEATURES", "IBSIFeature", "ibsi_code", "ibsi_feature"]


class IBSIFeature(NamedTuple):
    """One IBSI feature.

    Attributes
    ----------
    code : str
        The IBSI reference manual's 4-character identifier.
    family : str
        The IBSI feature family (``morphology``, ``statistics``, ``intensity histogram``, ...).
    name : str
        The IBSI name.
    feature_class, feature : str
        The identity: PyRadiomics class and feature where PyRadiomics has one, else the
        IBSI family's short name and a CamelCase form of the IBSI name.
    definition : str
        What the feature measures, in a sentence.
    """

    code: str
    family: str
    name: str
    feature_class: str
    feature: str
    definition: str


# code | class | feature | IBSI name | definition  (one family per block)
_TABLE = {
    "morphology": """
RNU0|shape|MeshVolume|volume|volume enclosed by the triangle mesh of the region of interest
YEKZ|shape|VoxelVolume|approximate volume|volume as the number of voxels times the voxel volume
C0JK|shape|SurfaceArea|surface area|area of the triangle mesh surface of the region
2PR5|shape|SurfaceVolumeRatio|surface to volume ratio|surface area divided by volume
SKGS|shape|Compactness1|compactness 1|how compact the volume is relative to its surface, a sphere is most compact
BQWJ|shape|Compactness2|compactness 2|squared compactness relating volume and surface area to a sphere
KRCK|shape|SphericalDisproportion|spherical disproportion|surface area relative to that of a sphere of equal volume
QCFX|shape|Sphericity|sphericity|how close the region is to a sphere, from volume and surface area
25C7|shape|Asphericity|asphericity|deviation of the region from a sphere
KLMA|shape|CentreOfMassShift|centre of mass shift|distance between the geometric and the intensity-weighted centre of mass
L0JK|shape|Maximum3DDiameter|maximum 3D diameter|largest distance between two vertices of the surface mesh
TDIC|shape|MajorAxisLength|major axis length|length of the largest principal component axis of the region
P9VJ|shape|MinorAxisLength|minor axis length|length of the second principal component axis
7J51|shape|LeastAxisLength|least axis length|length of the smallest principal component axis
Q3CK|shape|Elongation|elongation|ratio of the minor to the major principal axis
N17B|shape|Flatness|flatness|ratio of the least to the major principal axis
PBX1|shape|VolumeDensityAABB|volume density (axis-aligned bounding box)|volume divided by the volume of the axis-aligned bounding box
R59B|shape|AreaDensityAABB|area density (axis-aligned bounding box)|surface area divided by the surface of the axis-aligned bounding box
ZH1A|shape|VolumeDensityOMBB|volume density (oriented minimum bounding box)|volume divided by the volume of the oriented minimum bounding box
IQYR|shape|AreaDensityOMBB|area density (oriented minimum bounding box)|surface area divided by the surface of the oriented minimum bounding box
6BDE|shape|VolumeDensityAEE|volume density (approximate enclosing ellipsoid)|volume divided by the volume of the approximate enclosing ellipsoid
RDD2|shape|AreaDensityAEE|area density (approximate enclosing ellipsoid)|surface area divided by the surface of the approximate enclosing ellipsoid
SWZ1|shape|VolumeDensityMVEE|volume density (minimum volume enclosing ellipsoid)|volume divided by the volume of the minimum volume enclosing ellipsoid
BRI8|shape|AreaDensityMVEE|area density (minimum volume enclosing ellipsoid)|surface area divided by the surface of the minimum volume enclosing ellipsoid
R3ER|shape|VolumeDensityConvexHull|volume density (convex hull)|volume divided by the volume of the convex hull, solidity
7T7F|shape|AreaDensityConvexHull|area density (convex hull)|surface area divided by the surface of the convex hull
99N0|shape|IntegratedIntensity|integrated intensity|mean intensity times volume
N365|shape|MoransI|Moran's I index|spatial autocorrelation of intensities within the region
NPT7|shape|GearysC|Geary's C measure|spatial autocorrelation of intensities from squared neighbour differences
""",
    "local intensity": """
VJGA|localintensity|LocalIntensityPeak|local intensity peak|mean intensity in a 1 cm3 sphere around the brightest voxel
0F91|localintensity|GlobalIntensityPeak|global intensity peak|largest mean intensity in a 1 cm3 sphere around any voxel
""",
    "statistics": """
Q4LE|firstorder|Mean|mean|average intensity in the region
ECT3|firstorder|Variance|variance|spread of intensities around the mean
KE2A|firstorder|Skewness|skewness|asymmetry of the intensity distribution
IPH6|firstorder|Kurtosis|kurtosis|peakedness of the intensity distribution (excess kurtosis)
Y12H|firstorder|Median|median|median intensity
1GSF|firstorder|Minimum|minimum|lowest intensity
QG58|firstorder|10Percentile|10th percentile|10th percentile of intensity
8DWT|firstorder|90Percentile|90th percentile|90th percentile of intensity
84IY|firstorder|Maximum|maximum|highest intensity
SALO|firstorder|InterquartileRange|interquartile range|difference between the 75th and 25th intensity percentiles
2OJQ|firstorder|Range|range|difference between maximum and minimum intensity
4FUA|firstorder|MeanAbsoluteDeviation|mean absolute deviation|mean distance of intensities from the mean
1128|firstorder|RobustMeanAbsoluteDeviation|robust mean absolute deviation|mean absolute deviation of intensities between the 10th and 90th percentiles
N72L|firstorder|MedianAbsoluteDeviation|median absolute deviation|mean distance of intensities from the median
7TET|firstorder|CoefficientOfVariation|coefficient of variation|standard deviation divided by the mean intensity
9S40|firstorder|QuartileCoefficientOfDispersion|quartile coefficient of dispersion|interquartile range relative to the sum of the quartiles
N8CA|firstorder|Energy|energy|sum of squared intensities
5ZWQ|firstorder|RootMeanSquared|root mean square|square root of the mean squared intensity
""",
    "intensity histogram": """
X6K6|firstorder|Mean|intensity histogram mean|mean of the discretised intensities
CH89|firstorder|Variance|intensity histogram variance|variance of the discretised intensities
88K1|firstorder|Skewness|intensity histogram skewness|skewness of the discretised intensities
C3I7|firstorder|Kurtosis|intensity histogram kurtosis|excess kurtosis of the discretised intensities
WIFQ|firstorder|Median|intensity histogram median|median of the discretised intensities
1PR8|firstorder|Minimum|intensity histogram minimum grey level|lowest discretised grey level
GPMT|firstorder|10Percentile|intensity histogram 10th percentile|10th percentile of the discretised intensities
OZ0C|firstorder|90Percentile|intensity histogram 90th percentile|90th percentile of the discretised intensities
3NCY|firstorder|Maximum|intensity histogram maximum grey level|highest discretised grey level
AMMC|firstorder|Mode|intensity histogram mode|most frequent discretised grey level
WR0O|firstorder|InterquartileRange|intensity histogram interquartile range|interquartile range of the discretised intensities
5Z3W|firstorder|Range|intensity histogram range|range of the discretised intensities
D2ZX|firstorder|MeanAbsoluteDeviation|intensity histogram mean absolute deviation|mean absolute deviation of the discretised intensities
WRZB|firstorder|RobustMeanAbsoluteDeviation|intensity histogram robust mean absolute deviation|robust mean absolute deviation of the discretised intensities
4RNL|firstorder|MedianAbsoluteDeviation|intensity histogram median absolute deviation|median absolute deviation of the discretised intensities
CWYJ|firstorder|CoefficientOfVariation|intensity histogram coefficient of variation|coefficient of variation of the discretised intensities
SLWD|firstorder|QuartileCoefficientOfDispersion|intensity histogram quartile coefficient of dispersion|quartile coefficient of dispersion of the discretised intensities
TLU2|firstorder|Entropy|intensity histogram entropy|Shannon entropy of the grey-level histogram, randomness of intensities
BJ5W|firstorder|Uniformity|intensity histogram uniformity|sum of squared grey-level probabilities, homogeneity of the histogram
12CE|firstorder|MaximumHistogramGradient|maximum histogram gradient|largest increase of the grey-level histogram
8E6O|firstorder|MaximumHistogramGradientGreyLevel|maximum histogram gradient grey level|grey level of the largest histogram increase
VQB3|firstorder|MinimumHistogramGradient|minimum histogram gradient|largest decrease of the grey-level histogram
RHQZ|firstorder|MinimumHistogramGradientGreyLevel|minimum histogram gradient grey level|grey level of the largest histogram decrease
""",
    "intensity-volume histogram": """
BC2M|ivh|VolumeAtIntensityFraction|volume at intensity fraction|fraction of the volume with at least a given fraction of the intensity range
GBPN|ivh|IntensityAtVolumeFraction|intensity at volume fraction|lowest intensity found in a given fraction of the volume
DDTU|ivh|VolumeFractionDifference|volume fraction difference between intensity fractions|difference of the volume fractions at two intensity fractions
CNV2|ivh|IntensityFractionDifference|intensity fraction difference between volume fractions|difference of the intensities at two volume fractions
9CMM|ivh|AreaUnderIVHCurve|area under the IVH curve|area under the intensity-volume histogram
""",
    "grey level co-occurrence matrix": """
GYBY|glcm|MaximumProbability|joint maximum|probability of the most frequent pair of neighbouring grey levels
60VM|glcm|JointAverage|joint average|grey-level weighted sum of the co-occurrence probabilities
UR99|glcm|SumSquares|joint variance|variance of grey levels in the co-occurrence matrix, sum of squares
TU9B|glcm|JointEntropy|joint entropy|entropy of the co-occurrence probabilities, randomness of the texture
TF7R|glcm|DifferenceAverage|difference average|mean absolute grey-level difference of neighbouring voxels
D3YU|glcm|DifferenceVariance|difference variance|variance of the grey-level differences of neighbouring voxels
NTRS|glcm|DifferenceEntropy|difference entropy|entropy of the grey-level differences of neighbouring voxels
ZGXS|glcm|SumAverage|sum average|mean of the grey-level sums of neighbouring voxels
OEEB|glcm|SumVariance|sum variance|variance of the grey-level sums of neighbouring voxels
P6QZ|glcm|SumEntropy|sum entropy|entropy of the grey-level sums of neighbouring voxels
8ZQL|glcm|JointEnergy|angular second moment|sum of squared co-occurrence probabilities, energy, uniformity of the texture
ACUI|glcm|Contrast|contrast|squared grey-level differences of neighbouring voxels, local variation
8S9J|glcm|Dissimilarity|dissimilarity|absolute grey-level differences of neighbouring voxels
IB1Z|glcm|Id|inverse difference|homogeneity, co-occurrences weighted by the inverse absolute grey-level difference
NDRX|glcm|Idn|normalised inverse difference|inverse difference normalised by the number of grey levels
WF0Z|glcm|Idm|inverse difference moment|homogeneity, co-occurrences weighted by the inverse squared grey-level difference
1QCO|glcm|Idmn|normalised inverse difference moment|inverse difference moment normalised by the number of grey levels
E8JP|glcm|InverseVariance|inverse variance|co-occurrences of different grey levels weighted by the inverse squared difference
NI2N|glcm|Correlation|correlation|linear dependence of the grey levels of neighbouring voxels
QWB0|glcm|Autocorrelation|autocorrelation|mean product of the grey levels of neighbouring voxels, coarseness
DG8W|glcm|ClusterTendency|cluster tendency|grouping of voxels with similar grey levels
7NFM|glcm|ClusterShade|cluster shade|skewness of the co-occurrence matrix
AE86|glcm|ClusterProminence|cluster prominence|asymmetry and peakedness of the co-occurrence matrix
R8DG|glcm|Imc1|information correlation 1|first informational measure of correlation of neighbouring grey levels
JN9H|glcm|Imc2|information correlation 2|second informational measure of correlation of neighbouring grey levels
""",
    "grey level run length matrix": """
22OV|glrlm|ShortRunEmphasis|short runs emphasis|emphasis on short runs of equal grey level, fine texture
W4KF|glrlm|LongRunEmphasis|long runs emphasis|emphasis on long runs of equal grey level, coarse texture
V3SW|glrlm|LowGrayLevelRunEmphasis|low grey level run emphasis|emphasis on runs of low grey level
G3QZ|glrlm|HighGrayLevelRunEmphasis|high grey level run emphasis|emphasis on runs of high grey level
HTZT|glrlm|ShortRunLowGrayLevelEmphasis|short run low grey level emphasis|emphasis on short runs of low grey level
GD3A|glrlm|ShortRunHighGrayLevelEmphasis|short run high grey level emphasis|emphasis on short runs of high grey level
IVPO|glrlm|LongRunLowGrayLevelEmphasis|long run low grey level emphasis|emphasis on long runs of low grey level
3KUM|glrlm|LongRunHighGrayLevelEmphasis|long run high grey level emphasis|emphasis on long runs of high grey level
R5YN|glrlm|GrayLevelNonUniformity|grey level non-uniformity|how unevenly runs are distributed over grey levels
OVBL|glrlm|GrayLevelNonUniformityNormalized|normalised grey level non-uniformity|grey level non-uniformity of runs divided by the number of runs
W92Y|glrlm|RunLengthNonUniformity|run length non-uniformity|how unevenly runs are distributed over run lengths
IC23|glrlm|RunLengthNonUniformityNormalized|normalised run length non-uniformity|run length non-uniformity divided by the number of runs
9ZK5|glrlm|RunPercentage|run percentage|number of runs relative to the number of voxels, fineness of texture
8CE5|glrlm|GrayLevelVariance|grey level variance|variance of the grey levels of runs
SXLW|glrlm|RunVariance|run length variance|variance of the run lengths
HJ9O|glrlm|RunEntropy|run entropy|entropy of the joint distribution of run lengths and grey levels
""",
    "grey level size zone matrix": """
5QRC|glszm|SmallAreaEmphasis|small zone emphasis|emphasis on small zones of equal grey level, fine texture
48P8|glszm|LargeAreaEmphasis|large zone emphasis|emphasis on large zones of equal grey level, coarse texture
XMSY|glszm|LowGrayLevelZoneEmphasis|low grey level zone emphasis|emphasis on zones of low grey level
5GN9|glszm|HighGrayLevelZoneEmphasis|high grey level zone emphasis|emphasis on zones of high grey level
5RAI|glszm|SmallAreaLowGrayLevelEmphasis|small zone low grey level emphasis|emphasis on small zones of low grey level
HW1V|glszm|SmallAreaHighGrayLevelEmphasis|small zone high grey level emphasis|emphasis on small zones of high grey level
YH51|glszm|LargeAreaLowGrayLevelEmphasis|large zone low grey level emphasis|emphasis on large zones of low grey level
J17V|glszm|LargeAreaHighGrayLevelEmphasis|large zone high grey level emphasis|emphasis on large zones of high grey level
JNSA|glszm|GrayLevelNonUniformity|grey level non-uniformity|how unevenly zones are distributed over grey levels
Y1RO|glszm|GrayLevelNonUniformityNormalized|normalised grey level non-uniformity|grey level non-uniformity of zones divided by the number of zones
4JP3|glszm|SizeZoneNonUniformity|zone size non-uniformity|how unevenly zones are distributed over zone sizes
VB3A|glszm|SizeZoneNonUniformityNormalized|normalised zone size non-uniformity|zone size non-uniformity divided by the number of zones
P30P|glszm|ZonePercentage|zone percentage|number of zones relative to the number of voxels
BYLV|glszm|GrayLevelVariance|grey level variance|variance of the grey levels of zones
3NSA|glszm|ZoneVariance|zone size variance|variance of the zone sizes
GU8N|glszm|ZoneEntropy|zone size entropy|entropy of the joint distribution of zone sizes and grey levels
""",
    "grey level distance zone matrix": """
0GBI|gldzm|SmallDistanceEmphasis|small distance emphasis|emphasis on zones close to the region border
MB4I|gldzm|LargeDistanceEmphasis|large distance emphasis|emphasis on zones far from the region border
S1RA|gldzm|LowGrayLevelZoneEmphasis|low grey level zone emphasis|emphasis on distance zones of low grey level
K26C|gldzm|HighGrayLevelZoneEmphasis|high grey level zone emphasis|emphasis on distance zones of high grey level
RUVG|gldzm|SmallDistanceLowGrayLevelEmphasis|small distance low grey level emphasis|emphasis on low grey level zones close to the border
DKNJ|gldzm|SmallDistanceHighGrayLevelEmphasis|small distance high grey level emphasis|emphasis on high grey level zones close to the border
A7WM|gldzm|LargeDistanceLowGrayLevelEmphasis|large distance low grey level emphasis|emphasis on low grey level zones far from the border
KLTH|gldzm|LargeDistanceHighGrayLevelEmphasis|large distance high grey level emphasis|emphasis on high grey level zones far from the border
VFT7|gldzm|GrayLevelNonUniformity|grey level non-uniformity|how unevenly distance zones are distributed over grey levels
7HP3|gldzm|GrayLevelNonUniformityNormalized|normalised grey level non-uniformity|grey level non-uniformity of distance zones divided by their number
V294|gldzm|ZoneDistanceNonUniformity|zone distance non-uniformity|how unevenly zones are distributed over border distances
IATH|gldzm|ZoneDistanceNonUniformityNormalized|normalised zone distance non-uniformity|zone distance non-uniformity divided by the number of zones
VIWW|gldzm|ZonePercentage|zone percentage|number of distance zones relative to the number of voxels
QK93|gldzm|GrayLevelVariance|grey level variance|variance of the grey levels of distance zones
7WT1|gldzm|ZoneDistanceVariance|zone distance variance|variance of the zone distances to the border
GBDU|gldzm|ZoneDistanceEntropy|zone distance entropy|entropy of the joint distribution of zone distances and grey levels
""",
    "neighbourhood grey tone difference matrix": """
QCDE|ngtdm|Coarseness|coarseness|slow spatial change of intensity, coarse texture
65HE|ngtdm|Contrast|contrast|dynamic range and spatial frequency of intensity changes
NQ30|ngtdm|Busyness|busyness|rapid intensity changes between neighbouring regions
HDEZ|ngtdm|Complexity|complexity|many abrupt intensity changes, complex texture
1X9X|ngtdm|Strength|strength|large distinct regions of different intensity
""",
    "neighbouring grey level dependence matrix": """
SODN|gldm|SmallDependenceEmphasis|low dependence emphasis|emphasis on voxels with few similar neighbours, heterogeneous texture
IMOQ|gldm|LargeDependenceEmphasis|high dependence emphasis|emphasis on voxels with many similar neighbours, homogeneous texture
TL9H|gldm|LowGrayLevelEmphasis|low grey level count emphasis|emphasis on low grey levels
OAE7|gldm|HighGrayLevelEmphasis|high grey level count emphasis|emphasis on high grey levels
EQ3F|gldm|SmallDependenceLowGrayLevelEmphasis|low dependence low grey level emphasis|emphasis on low grey level voxels with few similar neighbours
JA6D|gldm|SmallDependenceHighGrayLevelEmphasis|low dependence high grey level emphasis|emphasis on high grey level voxels with few similar neighbours
NBZI|gldm|LargeDependenceLowGrayLevelEmphasis|high dependence low grey level emphasis|emphasis on low grey level voxels with many similar neighbours
9QMG|gldm|LargeDependenceHighGrayLevelEmphasis|high dependence high grey level emphasis|emphasis on high grey level voxels with many similar neighbours
FP8K|gldm|GrayLevelNonUniformity|grey level non-uniformity|how unevenly dependences are distributed over grey levels
5SPA|gldm|GrayLevelNonUniformityNormalized|normalised grey level non-uniformity|grey level non-uniformity of dependences divided by their number
Z87G|gldm|DependenceNonUniformity|dependence count non-uniformity|how unevenly voxels are distributed over dependence counts
OKJI|gldm|DependenceNonUniformityNormalized|dependence count non-uniformity normalised|dependence count non-uniformity divided by the number of voxels
6XV8|gldm|DependencePercentage|dependence count percentage|fraction of voxels with a dependence count
1PFV|gldm|GrayLevelVariance|grey level variance|variance of the grey levels of dependences
DNX2|gldm|DependenceVariance|dependence count variance|variance of the dependence counts
FCBV|gldm|DependenceEntropy|dependence count entropy|entropy of the joint distribution of dependence counts and grey levels
CAS9|gldm|DependenceEnergy|dependence count energy|sum of squared dependence probabilities
""",
}


def _parse():
    rows = []
    for family, block in _TABLE.items():
        for line in block.strip().splitlines():
            code, feature_class, feature, name, definition = line.split("|")
            rows.append(IBSIFeature(code, family, name, feature_class, feature, definition))
    return tuple(rows)


#: Every feature of the IBSI reference manual's feature chapters, in the manual's order.
IBSI_FEATURES = _parse()
_BY_CODE = {row.code: row for row in IBSI_FEATURES}
_BY_IDENTITY = {}
for _row in IBSI_FEATURES:
    _BY_IDENTITY.setdefault((_row.feature_class, _row.feature, _row.family == "intensity histogram"), _row.code)


def ibsi_code(feature_class, feature, *, histogram=False):
    """The IBSI code of an identity, or None where the manual defines no such feature.

    Parameters
    ----------
    feature_class, feature : str
        The identity (``"glcm"``, ``"JointEnergy"``).
    histogram : bool, default=False
        For first-order features: the intensity-histogram variant (computed on discretised
        intensities) rather than the intensity statistic; features only the histogram family
        has (``Entropy``, ``Uniformity``, ``Mode``) get their histogram code either way.

    Returns
    -------
    str or None

    Examples
    --------
    >>> ibsi_code("glcm", "JointEnergy"), ibsi_code("gldm", "SmallDependenceEmphasis")
    ('8ZQL', 'SODN')
    >>> ibsi_code("firstorder", "Mean"), ibsi_code("firstorder", "Mean", histogram=True)
    ('Q4LE', 'X6K6')
    >>> ibsi_code("shape", "Maximum2DDiameterSlice") is None
    True
    """
    key = (feature_class, feature)
    return _BY_IDENTITY.get((*key, bool(histogram))) or _BY_IDENTITY.get((*key, not histogram))


def ibsi_feature(code):
    """The :class:`IBSIFeature` of a code.

    Parameters
    ----------
    code : str

    Returns
    -------
    IBSIFeature

    Raises
    ------
    KeyError
        The manual has no feature of that code.

    Examples
    --------
    >>> ibsi_feature("S1RA").feature_class, ibsi_feature("S1RA").name
    ('gldzm', 'low grey level zone emphasis')
    """
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"no IBSI feature has the code {code!r}") from None
