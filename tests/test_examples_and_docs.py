"""The examples run, and the API reference is generated from the docstrings."""

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_examples_have_a_rest_title():
    assert len(EXAMPLES) >= 4
    for script in EXAMPLES:
        doc = script.read_text().split('"""')[1].strip().splitlines()
        assert len(doc) >= 2 and set(doc[1]) == {"="} and len(doc[1]) >= len(doc[0]), script.name


def test_api_reference_covers_public_api(tmp_path):
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import build_api
    finally:
        sys.path.pop(0)
    out = build_api.main(tmp_path / "api.md")
    text = out.read_text()
    for name in (
        "CLAHEPreprocessor",
        "RadiomicsExtractor",
        "TopKSelector",
        "BioBERTEncoder",
        "SemanticFeatures",
        "LLMRadiomicsClassifier",
        "ResNet50Classifier",
        "delong_test",
        "bootstrap_ci",
        "expected_calibration_error",
        "run_benchmark",
        "make_llmrad_pipeline",
        "load_mias",
        "load_cbis_ddsm",
        "save",
        "load",
    ):
        assert f"### `{name}" in text, name
    assert "(no docstring)" not in text
