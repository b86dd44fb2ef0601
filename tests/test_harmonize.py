"""Feature names mapped to their IBSI identity (sklearn_llmrad.harmonize, sklearn_llmrad.ibsi, llmrad harmonize)."""

import re

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from radiomics import featureextractor

import sklearn_llmrad
from sklearn_llmrad.cli import main
from sklearn_llmrad.harmonize import COLUMNS, feature_identities, harmonize_feature_names
from sklearn_llmrad.ibsi import IBSI_FEATURES, ibsi_code, ibsi_feature

# name -> (prefix, filter, feature_class, feature, ibsi_code): the issue's examples and other software's spellings
EXAMPLES = {
    "MR_wavelet-HHL_glcm_JointEnergy": ("MR", "wavelet-HHL", "glcm", "JointEnergy", "8ZQL"),
    "wavelet_LLH_firstorder_Skewness": (None, "wavelet-LLH", "firstorder", "Skewness", "KE2A"),
    "wavelet.HLL_glcm_SumEntropy": (None, "wavelet-HLL", "glcm", "SumEntropy", "P6QZ"),
    "Wavelet_HLL_GLCM_infoCorr1": (None, "wavelet-HLL", "glcm", "Imc1", "R8DG"),
    "GLCM_IBSI_DIFFERENCE_AVERAGE_2DS_HU": (None, "original", "glcm", "DifferenceAverage", "TF7R"),
    "GLRLM_SRHGLE_LLL_25HUgl": (None, "wavelet-LLL", "glrlm", "ShortRunHighGrayLevelEmphasis", "GD3A"),
    "T2_original_shape_Elongation": ("T2", "original", "shape", "Elongation", "Q3CK"),
    "GTV-1_original_glcm_Idn": ("GTV-1", "original", "glcm", "Idn", "NDRX"),
    "Portal_original_glszm_SmallAreaLowGrayLevelEmphasis": (
        "Portal",
        "original",
        "glszm",
        "SmallAreaLowGrayLevelEmphasis",
        "5RAI",
    ),
    "ADC_log-sigma-3-0-mm-3D_glrlm_RunEntropy": ("ADC", "log-sigma-3-mm", "glrlm", "RunEntropy", "HJ9O"),
    "log-sigma-0-5-mm-3D_gldm_DependenceEntropy_t1c": ("t1c", "log-sigma-0.5-mm", "gldm", "DependenceEntropy", "FCBV"),
    "SRHGE_CC": ("CC", "original", "glrlm", "ShortRunHighGrayLevelEmphasis", "GD3A"),
    "LGRE_MLOb": ("MLOb", "original", "glrlm", "LowGrayLevelRunEmphasis", "V3SW"),
    "GLN_GLSZM_CC": ("CC", "original", "glszm", "GrayLevelNonUniformity", "JNSA"),
    "IH_Mean": (None, "original", "firstorder", "Mean", "X6K6"),
    "Stats_Mean": (None, "original", "firstorder", "Mean", "Q4LE"),
    "NGLDM_IBSI_LOW_DEP_HIGH_GL_EMPH_2DF_HU": (
        None,
        "original",
        "gldm",
        "SmallDependenceHighGrayLevelEmphasis",
        "JA6D",
    ),
    "GLDZM_IBSI_SMALL_DIST_LOW_GL_EMPH_3D_HU": (None, "original", "gldzm", "SmallDistanceLowGrayLevelEmphasis", "RUVG"),
    "GLSZM_IBSI_LOW_GL_ZONE_EMPH_3D_HU": (None, "original", "glszm", "LowGrayLevelZoneEmphasis", "XMSY"),
    "LOG_2D_QCOD_2_5MM_HU": (None, "log-sigma-2.5-mm", "firstorder", "QuartileCoefficientOfDispersion", "9S40"),
    "FLAIR_edema_GLCMcontrast_2": ("FLAIR_edema", "original", "glcm", "Contrast", "ACUI"),
    "FOS_Istd_LHH": (None, "wavelet-LHH", "firstorder", "StandardDeviation", None),
    "T1_E_GLRLM_Bins-128_Radius-3_LongRunHighGreyLevelEmphasis": (
        "T1_E",
        "original",
        "glrlm",
        "LongRunHighGrayLevelEmphasis",
        "3KUM",
    ),
    "FA.Information.Measure.of.Correlation.2_Avg_1": ("FA", "original", "glcm", "Imc2", "JN9H"),
    "squareroot_gldzm_ZonePercentage": (None, "squareroot", "gldzm", "ZonePercentage", "VIWW"),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rules_read_the_issue_examples_and_other_software(name):
    row = harmonize_feature_names([name]).iloc[0]
    got = (row["prefix"], row["filter"], row["feature_class"], row["feature"], row["ibsi_code"])
    assert got == EXAMPLES[name]
    assert row["method"] == "rule" and row["confidence"] >= 0.9


def test_one_row_per_name_in_order_with_the_columns():
    names = ["CT_original_glcm_Idmn", "V427", "CT_original_glcm_Idmn"]
    table = harmonize_feature_names(names)
    assert list(table.columns) == list(COLUMNS)
    assert table.index.tolist() == names
    assert table["method"].tolist() == ["rule", "unmapped", "rule"]
    assert table.loc["V427"].isna()[["feature_class", "feature", "ibsi_code"]].all()
    assert table["confidence"].iloc[1] == 0.0


@pytest.fixture(scope="module")
def extracted_names():
    """The feature columns of a real PyRadiomics extraction (original, LoG and wavelet images, every class)."""
    rng = np.random.default_rng(0)
    image = rng.normal(100, 20, (12, 24, 24))
    image[3:9, 6:18, 6:18] += 60
    mask = np.zeros(image.shape, np.uint8)
    mask[2:10, 5:19, 5:19] = 1
    extractor = featureextractor.RadiomicsFeatureExtractor(binCount=8, sigma=[1.0, 2.5])
    extractor.enableAllFeatures()
    extractor.enableImageTypes(Original={}, LoG={}, Wavelet={})
    result = extractor.execute(sitk.GetImageFromArray(image), sitk.GetImageFromArray(mask))
    return [k for k in result if not k.startswith("diagnostics_")]


def _expected_filter(image_type):
    m = re.fullmatch(r"log-sigma-(\d+)-(\d+)-mm-3D", image_type)
    return f"log-sigma-{float(f'{m.group(1)}.{m.group(2)}'):g}-mm" if m else image_type


@pytest.mark.parametrize("style", ["plain", "prefix", "dots"])
def test_every_name_of_a_real_extraction_maps_to_its_own_identity(extracted_names, style):
    assert len(extracted_names) > 500
    parts = [name.split("_") for name in extracted_names]
    if style == "plain":
        names = extracted_names
    elif style == "prefix":
        names = [f"MR_T2_{n}" for n in extracted_names]
    else:  # "wavelet.HLL_glcm_SumEntropy": the image type written with a dot
        names = [n.replace("wavelet-", "wavelet.") for n in extracted_names]
    table = harmonize_feature_names(names)
    assert (table["method"] == "rule").all()
    expected = [(_expected_filter(img), cls, feat) for img, cls, feat in parts]
    got = list(zip(table["filter"], table["feature_class"], table["feature"], strict=True))
    assert got == expected
    assert set(table["prefix"].dropna()) == ({"MR_T2"} if style == "prefix" else set())
    codes = table["ibsi_code"].tolist()
    assert codes == [ibsi_code(cls, feat) for _, cls, feat in parts]
    assert sum(c is not None for c in codes) > 0.8 * len(codes)


def test_a_shared_word_takes_the_class_of_its_neighbours():
    names = ["LongRunEmphasis", "ShortRunEmphasis", "GrayLevelVariance", "RunEntropy", "ZoneEntropy"]
    table = harmonize_feature_names(names)
    assert table.loc["GrayLevelVariance", "feature_class"] == "glrlm"
    assert table.loc["GrayLevelVariance", "confidence"] == 0.75
    assert table.loc["GrayLevelVariance", "ibsi_code"] == "8CE5"
    alone = harmonize_feature_names(["GrayLevelVariance"])
    assert alone["method"].iloc[0] == "unmapped"  # glrlm, glszm, gldm, gldzm: no way to tell


def test_ibsi_table_codes_and_the_errors_it_corrects():
    codes = [row.code for row in IBSI_FEATURES]
    assert len(codes) == len(set(codes)) and all(re.fullmatch(r"[0-9A-Z]{4}", c) for c in codes)
    identities = [(r.feature_class, r.feature, r.family == "intensity histogram") for r in IBSI_FEATURES]
    assert len(identities) == len(set(identities))
    # pyradiomics-dcm tags the GLSZM zone emphases as glcm and swaps the inverse differences
    assert {ibsi_code("glcm", f) for f in ("Id", "Idn", "Idm", "Idmn")} == {"IB1Z", "NDRX", "WF0Z", "1QCO"}
    assert ibsi_code("glcm", "Idn") == "NDRX" and ibsi_code("glcm", "Idmn") == "1QCO"
    assert ibsi_feature("5RAI").feature_class == "glszm"
    assert ibsi_feature("S1RA").feature_class == "gldzm" and ibsi_code("glszm", "LowGrayLevelZoneEmphasis") == "XMSY"
    assert ibsi_code("firstorder", "Entropy") == "TLU2"  # PyRadiomics' entropy is the histogram's
    with pytest.raises(KeyError, match="ZZZZ"):
        ibsi_feature("ZZZZ")


def test_language_model_maps_only_above_the_threshold(tiny_bert_dir):
    names = ["CT_original_glcm_Idmn", "tumour blob heterogeneity score", "V427"]
    refused = harmonize_feature_names(names, language_model=tiny_bert_dir, threshold=1.01)
    assert refused["method"].tolist() == ["rule", "unmapped", "unmapped"]
    assert 0 < refused["confidence"].iloc[1] < 1.01  # the similarity that was refused is reported
    assert refused.iloc[1][["feature_class", "feature"]].isna().all()
    accepted = harmonize_feature_names(names, language_model=tiny_bert_dir, threshold=-1.0)
    assert accepted["method"].tolist() == ["rule", "language_model", "unmapped"]  # V427 has no words to read
    row = accepted.iloc[1]
    assert row["feature_class"] in {
        "firstorder",
        "shape",
        "shape2D",
        "glcm",
        "glrlm",
        "glszm",
        "gldm",
        "ngtdm",
        "gldzm",
        "ivh",
        "localintensity",
    }
    assert row["confidence"] == pytest.approx(refused["confidence"].iloc[1])
    assert row["filter"] == "original"
    pd.testing.assert_series_equal(accepted.iloc[0], refused.iloc[0])


def test_feature_identities_and_the_package_export():
    table = sklearn_llmrad.harmonize_feature_names(["CT_original_glcm_Idmn", "Wavelet_HLL_GLCM_infoCorr1", "x"])
    assert feature_identities(table).tolist() == ["original/glcm/Idmn", "wavelet-HLL/glcm/Imc1", None]


def test_cli_writes_the_mapping(tmp_path, capsys):
    table = tmp_path / "study.csv"
    pd.DataFrame({"ID": [1, 2], "Target": [0, 1], "T2_original_shape_Elongation": [0.5, 0.6], "V7": [1, 2]}).to_csv(
        table, index=False
    )
    out = tmp_path / "mapping.csv"
    assert main(["harmonize", str(table), "--out", str(out)]) == 0
    mapping = pd.read_csv(out, index_col="name")
    assert mapping.index.tolist() == ["T2_original_shape_Elongation", "V7"]
    assert mapping.loc["T2_original_shape_Elongation", "ibsi_code"] == "Q3CK"
    assert mapping.loc["V7", "method"] == "unmapped"
    assert "2 names" in capsys.readouterr().out
    assert main(["harmonize", str(table)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "name," + ",".join(COLUMNS) and "Q3CK" in printed


def test_cli_refuses_a_table_without_features(tmp_path, capsys):
    table = tmp_path / "empty.csv"
    pd.DataFrame({"ID": [1], "Target": [0]}).to_csv(table, index=False)
    assert main(["harmonize", str(table)]) == 2
    assert "no feature columns" in capsys.readouterr().err
    assert main(["harmonize", str(tmp_path / "missing.csv")]) == 2
