"""Feature-name descriptions and clinical statements (sklearn_llmrad.descriptions)."""

import logging

import numpy as np
import pandas as pd
import pytest
import radiomics  # hard dependency: a missing one fails, never skips
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_llmrad.descriptions import (  # noqa: E402
    DENSITY_STATEMENTS,
    FEATURE_DESCRIPTIONS,
    NO_CLINICAL_INFORMATION,
    clinical_sentence,
    clinical_statements,
    describe_feature,
    explain_feature,
    normalize_density,
)
from sklearn_llmrad.exceptions import LesionError  # noqa: E402


def _pyradiomics_features():
    """{class: [features]} from the installed PyRadiomics, deprecated ones included."""
    return {name: sorted(cls.getFeatureNames()) for name, cls in radiomics.getFeatureClasses().items()}


def _image_type_names():
    """Every image-type name PyRadiomics' image filters can yield (radiomics.imageoperations)."""
    names = ["original", "square", "squareroot", "logarithm", "exponential", "gradient", "lbp-2D", "lbp-3D-k"]
    # getLoGImage: 'log-sigma-%s-mm-3D' % str(sigma).replace('.', '-')
    names += [f"log-sigma-{str(s).replace('.', '-')}-mm-3D" for s in (0.5, 1.0, 1, 2.5, 3.0, 5.0, 10.0)]
    bands1d = ["L", "H"]  # a 2-D image with force2D
    bands2d = [a + b for a in "LH" for b in "LH"]
    bands3d = [a + b + c for a in "LH" for b in "LH" for c in "LH"]
    for level in ("", "2", "3"):
        names += [f"wavelet{level}-{band}" for band in bands1d + bands2d + bands3d]
    names += [f"lbp-3D-m{level}" for level in (1, 2, 3)]
    return names


def _all_extractor_names():
    features = _pyradiomics_features()
    return [
        f"{image}_{cls}_{feat}" for image in _image_type_names() for cls, feats in features.items() for feat in feats
    ]


def test_every_pyradiomics_feature_has_a_description():
    installed = _pyradiomics_features()
    assert set(installed) == set(FEATURE_DESCRIPTIONS)
    for cls, feats in installed.items():
        assert sorted(FEATURE_DESCRIPTIONS[cls]) == feats, cls
        labels = [label for label, _ in FEATURE_DESCRIPTIONS[cls].values()]
        assert len(set(labels)) == len(labels), f"duplicate labels in {cls}"


def test_no_enumerated_name_falls_back_to_generic():
    names = _all_extractor_names()
    assert len(names) > 5000
    generic = [n for n in names if explain_feature(n).generic]
    assert generic == []
    # Non-shape descriptions differ whenever image type, class or feature
    # differ ("log-sigma-1-mm" and "log-sigma-1-0-mm" are the same sigma).
    texts = {}
    for n in names:
        info = explain_feature(n)
        if not info.feature_class.startswith("shape") and info.image_type != "log-sigma-1-mm-3D":
            texts.setdefault(info.text, set()).add(n)
    clashes = {t: ns for t, ns in texts.items() if len(ns) > 1}
    assert clashes == {}
    assert describe_feature("log-sigma-1-mm-3D_glcm_Idm") == describe_feature("log-sigma-1-0-mm-3D_glcm_Idm")


@pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern`")
@pytest.mark.parametrize("force2d", [False, True])
def test_real_extractor_names_are_all_described(force2d):
    import SimpleITK as sitk
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    radiomics.setVerbosity(logging.ERROR)
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.integers(0, 255, (24, 24)).astype(np.float32))
    mask = np.zeros((24, 24), np.uint8)
    mask[3:-3, 4:-4] = 1
    extractor = RadiomicsFeatureExtractor(force2D=force2d, binCount=8, sigma=[1.0, 3.0])
    extractor.enableAllFeatures()
    extractor.enableImageTypeByName("Wavelet", customArgs={"level": 2})
    if not force2d:
        for image_type in ("LoG", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient", "LBP2D"):
            extractor.enableImageTypeByName(image_type)
    result = extractor.execute(image, sitk.GetImageFromArray(mask))
    names = list(result)
    prefixes = {n.split("_")[0] for n in names}
    if force2d:  # a 2-D image with force2D gives one-letter wavelet bands
        assert {"wavelet-H", "wavelet2-L"} <= prefixes
    else:
        assert {"wavelet-LH", "wavelet2-HH", "log-sigma-3-0-mm-3D", "lbp-2D", "diagnostics"} <= prefixes
    assert [n for n in names if explain_feature(n).generic] == []


def test_example_from_the_specification():
    text = describe_feature("log-sigma-3-0-mm-3D_glszm_ZoneEntropy")
    assert text.startswith("zone-size entropy (GLSZM) of the lesion after a Laplacian-of-Gaussian filter, sigma 3 mm")
    assert "heterogeneity" in text and "blob-like" in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("original_firstorder_Mean", ["mean intensity", "first-order", "original image"]),
        ("original_shape2D_Elongation", ["elongation", "2-D shape", "outline"]),
        ("wavelet-LH_glcm_Contrast", ["GLCM", "wavelet LH sub-band", "horizontal edges"]),
        ("wavelet-HL_glcm_Contrast", ["vertical edges"]),
        ("wavelet2-LLH_glrlm_RunEntropy", ["level-2 wavelet LLH", "along z"]),
        ("wavelet-LLL_firstorder_Mean", ["smoothed coarse structure"]),
        ("log-sigma-0-5-mm-3D_ngtdm_Busyness", ["sigma 0.5 mm", "fine blob-like"]),
        ("log-sigma-1-mm-3D_gldm_DependenceEntropy", ["sigma 1 mm"]),
        ("squareroot_firstorder_Skewness", ["square-root"]),
        ("square_firstorder_Skewness", ["after a square intensity"]),
        ("lbp-2D_glszm_SmallAreaEmphasis", ["local binary pattern"]),
        ("lbp-3D-m2_glszm_SmallAreaEmphasis", ["level-2 3-D local binary pattern"]),
        ("gradient_glcm_JointEntropy", ["gradient magnitude"]),
        ("exponential_firstorder_Maximum", ["exponential"]),
        ("logarithm_firstorder_Minimum", ["logarithm"]),
    ],
)
def test_descriptions_name_image_type_and_feature(name, expected):
    info = explain_feature(name)
    assert not info.generic
    for fragment in expected:
        assert fragment in info.text, (name, info.text)


def test_prefixed_names_keep_the_feature_meaning():
    plain = explain_feature("original_shape_Elongation")
    prefixed = explain_feature("MR_original_shape_Elongation")
    assert not prefixed.generic
    assert prefixed.prefix == "MR"
    assert prefixed.text == "MR: " + plain.text
    multi = explain_feature("site_A_CC_wavelet-HH_glcm_Idm")
    assert (multi.prefix, multi.image_type, multi.feature_class, multi.feature) == (
        "site_A_CC",
        "wavelet-HH",
        "glcm",
        "Idm",
    )


@pytest.mark.parametrize(
    "name",
    ["tumourSize_cm", "age", "original_glcm_NotAFeature", "blurred_glcm_Contrast", "original_foo_Mean", ""],
)
def test_unknown_names_get_a_readable_generic_text(name):
    info = explain_feature(name)
    assert info.generic
    assert info.text.startswith("image feature ")
    assert "_" not in info.text


def test_generic_text_splits_camel_case_and_separators():
    assert describe_feature("tumourSize_max-diameter") == "image feature tumour Size max diameter of the lesion"


def test_diagnostics_are_recognised():
    info = explain_feature("diagnostics_Mask-original_VoxelNum")
    assert not info.generic and "not a lesion feature" in info.text


# ---------------------------------------------------------------------------
# clinical
# ---------------------------------------------------------------------------


def test_clinical_sentence_full():
    assert clinical_sentence(62, "C", "family history of breast cancer") == (
        "62-year-old woman. Heterogeneously dense breasts (BI-RADS density C). Family history of breast cancer."
    )


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA, pd.NaT, "", "nan", "None", "  "])
def test_missing_fields_are_left_out(missing):
    s = clinical_statements(missing, missing, missing)
    assert (s.age, s.density, s.history) == (None, None, None)
    assert s.sentence == NO_CLINICAL_INFORMATION
    assert clinical_sentence(missing, "b", missing) == DENSITY_STATEMENTS["B"]


_MISSING = st.sampled_from([None, float("nan"), pd.NA, "", "nan", "None", "NaN"])


@settings(max_examples=80, deadline=None)
@given(
    age=st.one_of(_MISSING, st.floats(1, 110), st.integers(1, 110)),
    density=st.one_of(_MISSING, st.sampled_from(["A", "b", "DENSITY C", 4, 2.0, "3"])),
    history=st.one_of(_MISSING, st.booleans(), st.sampled_from(["family history", "prior biopsy"])),
)
def test_sentences_never_contain_nan_or_none(age, density, history):
    s = clinical_statements(age, density, history)
    words = s.sentence.replace(".", " ").lower().split()
    assert "nan" not in words and "none" not in words and "<na>" not in words
    present = [p for p in (s.age, s.density, s.history) if p is not None]
    assert s.sentence == (" ".join(present) if present else NO_CLINICAL_INFORMATION)
    assert all(p.endswith(".") for p in present)


@pytest.mark.parametrize(
    ("value", "letter"),
    [
        ("A", "A"),
        ("a", "A"),
        ("  d ", "D"),
        ("DENSITY C", "C"),
        ("density: b", "B"),
        ("BI-RADS D", "D"),
        ("birads a", "A"),
        ("ACR C", "C"),
        (1, "A"),
        (np.int64(2), "B"),
        (3.0, "C"),
        ("4", "D"),
        ("heterogeneously dense", "C"),
        ("Extremely dense", "D"),
        ("scattered fibroglandular", "B"),
        (None, None),
        (float("nan"), None),
    ],
)
def test_density_spellings(value, letter):
    assert normalize_density(value) == letter


@pytest.mark.parametrize("value", ["E", "F", "G", 0, 5, 2.5, "dense", True, "BI-RADS 5"])
def test_unseen_density_raises_a_clear_error(value):
    with pytest.raises(LesionError) as info:
        normalize_density(value, case="mdb005_1")
    message = str(info.value)
    assert "mdb005_1" in message and repr(value) in message
    assert "'A'-'D'" in message and "1-4" in message
    assert info.value.case == "mdb005_1"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("history", "statement"),
    [
        (True, "History of breast disease."),
        (np.bool_(False), "No relevant history of breast disease."),
        (1, "History of breast disease."),
        (0.0, "No relevant history of breast disease."),
        ("yes", "History of breast disease."),
        ("No", "No relevant history of breast disease."),
        ("prior benign biopsy, left breast", "Prior benign biopsy, left breast."),
        ("Mother had breast cancer.", "Mother had breast cancer."),
        ("  two   spaces ", "Two spaces."),
    ],
)
def test_history_values(history, statement):
    assert clinical_statements(history=history).history == statement


def test_invalid_history_number_names_the_case():
    with pytest.raises(LesionError, match="case 'x1'.*history 7"):
        clinical_statements(history=7, case="x1")


@pytest.mark.parametrize(("age", "years"), [(62, 62), (62.9, 62), ("062Y", 62), ("48", 48), (np.float32(55.5), 55)])
def test_age_values(age, years):
    assert clinical_statements(age=age).age == f"{years}-year-old woman."


@pytest.mark.parametrize("age", [-3, 0, 200, "old", True])
def test_invalid_age_names_the_case(age):
    with pytest.raises(LesionError, match="case 'c7'"):
        clinical_statements(age=age, case="c7")


def test_statements_are_joined_in_field_order():
    s = clinical_statements(age=70, density=None, history=False)
    assert s.sentence == "70-year-old woman. No relevant history of breast disease."


def test_every_name_of_the_project_extractor_is_described():
    from sklearn_llmrad.radiomics import RadiomicsExtractor

    columns = ["image", "mask", "age", "density", "history"]
    names = RadiomicsExtractor().get_feature_names_out(columns)
    features = [n for n in names if n not in ("age", "density", "history")]
    assert len(features) > 1000
    assert [n for n in features if explain_feature(n).generic] == []
