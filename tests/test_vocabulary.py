"""The feature-name vocabulary (sklearn_llmrad.vocabulary): one set of patterns, the same words.

Saved priors record the cleaning version and the encoder caches descriptions by
text: a change of any output would silently change stored results. The digests
below pin every output of ``clean_feature_name`` and ``describe_feature`` over the
package's own extracted names and every radMLBench column name, as the two modules
gave them before they became one (``descriptions.py`` and ``prior.py``).
"""

import csv
import gzip
import hashlib
import itertools
import json
from pathlib import Path

import pytest

from sklearn_llmrad import descriptions, prior, vocabulary

RADMLBENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radmlbench"

# sha256 of the JSON {name: [cleaned, description]}; computed with the code before the merge
EXTRACTED_DIGEST = "5add9f0c3da95b4c2bc16a4cfa6148b4f581b606aba7e378353508f9ee3138db"
RADMLBENCH_DIGEST = "10ea7e3bafec5bc436e913d95fc46f8f1183768e65ead8b2c690613147020d08"


def extracted_names():
    """PyRadiomics-style names: every image type x class x feature (+ unknown ones), bare and prefixed."""
    types = ["original", "square", "squareroot", "logarithm", "exponential", "gradient", "lbp-2D", "lbp-3D-k"]
    types += ["lbp-3D-m1", "log-sigma-1-mm-3D", "log-sigma-3-0-mm-3D", "log-sigma-0-5-mm-2D", "log-sigma-3-mm-4D"]
    types += ["LOG-SIGMA-1-0-MM-3D", "wavelet.LH", "wavelet_LH", "wavelet12-LH", "wavelet-LHLL", "unknowntype"]
    types += [
        f"wavelet{level}-{''.join(b)}"
        for level in ("", "2")
        for n in (1, 2, 3)
        for b in itertools.product("LH", repeat=n)
    ]
    classes = {**vocabulary.FEATURE_DESCRIPTIONS, "diagnostics": {"Versions": 0}, "GLCMcontrast": {"x": 0}}
    names = [
        f"{prefix}{t}_{cls}_{feature}"
        for prefix in ("", "MR_", "T1gd_CC_")
        for t in types
        for cls, table in classes.items()
        for feature in [*table, "UnknownFeature"]
    ]
    return names + ["customScore_v2", "", "x0", "V427", "FLAIR_edema_GLCMcontrast_2", "GLRLM_LRE_LLH_25HUgl", "a.b.1.5"]


def radmlbench_names():
    names = []
    for path in sorted(RADMLBENCH.glob("*.gz")):
        with gzip.open(path, "rt") as fh:
            names += next(csv.reader(fh))
    return names


def digest(names):
    out = {n: [prior.clean_feature_name(n), descriptions.describe_feature(n)] for n in dict.fromkeys(names)}
    return hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()


def test_outputs_on_extracted_names_are_unchanged():
    assert digest(extracted_names()) == EXTRACTED_DIGEST


def test_outputs_on_radmlbench_names_are_unchanged():
    if not RADMLBENCH.is_dir():
        pytest.skip("radMLBench tables not present at ../shared/data/radmlbench")
    names = radmlbench_names()
    assert len(names) > 10_000
    assert digest(names) == RADMLBENCH_DIGEST


def test_old_homes_hand_out_the_same_objects():
    assert prior.clean_feature_name is vocabulary.clean_feature_name
    assert prior.NAME_CLEANING_VERSION == vocabulary.NAME_CLEANING_VERSION == "1"
    for name in ("describe_feature", "explain_feature", "FEATURE_DESCRIPTIONS", "FeatureDescription"):
        assert getattr(descriptions, name) is getattr(vocabulary, name)


@pytest.mark.parametrize(
    "name, cleaned, described",
    [
        # PyRadiomics writes filters in lower case with "-": only those are described, any case is cleaned
        ("LOG-sigma-1-0-mm-3D_glcm_Idmn", "Laplacian of Gaussian sigma 1.0 mm 3D", "image feature LOG sigma"),
        (
            "log-sigma-1-0-mm-3D_glcm_Idmn",
            "Laplacian of Gaussian sigma 1.0 mm 3D",
            "after a Laplacian-of-Gaussian filter, sigma 1 mm",
        ),
        ("wavelet.LH_glcm_Contrast", "wavelet LH", "image feature wavelet.LH"),
        ("wavelet2-LH_glcm_Contrast", "wavelet level 2 LH", "level-2 wavelet LH sub-band"),
        # a two-digit level is kept as written by the cleaning (version 1)
        ("wavelet12-LH_glcm_Contrast", "wavelet12 LH", "level-12 wavelet LH sub-band"),
    ],
)
def test_one_filter_pattern_two_rules(name, cleaned, described):
    assert cleaned in vocabulary.clean_feature_name(name)
    assert described in vocabulary.describe_feature(name)


def test_camel_case_is_split_the_same_way_by_both():
    assert vocabulary.describe_feature("HTTPServerLoad") == "image feature HTTP Server Load of the lesion"
    assert vocabulary.clean_feature_name("HTTPServerLoad") == "HTTP Server Load"
