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


def _guide_section(title):
    """The ``bash`` and ``python`` code blocks of one ``##`` section of docs/user_guide.md, in order."""
    import re

    text = (ROOT / "docs" / "user_guide.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return re.findall(r"```(bash|python)\n(.*?)```", section, flags=re.S)


def test_user_guide_use_a_trained_model_on_new_lesions_runs(tmp_path, monkeypatch, capsys):
    """Every command and Python block of the section runs, in order, in an empty folder."""
    import shlex
    import warnings

    from sklearn_llmrad.cli import main

    blocks = _guide_section("Use a trained model on new lesions")
    assert [kind for kind, _ in blocks] == ["bash", "python"]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, "user_guide.md", "exec"), namespace)
            continue
        for command in code.replace("\\\n", " ").splitlines():
            argv = shlex.split(command, comments=True)
            assert argv[0] == "llmrad", command
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                assert main(argv[1:]) == 0, command
    printed = capsys.readouterr().out
    assert "Cross-validated AUC" in printed and "AUC" in printed.split("Cross-validated AUC")[1]
    assert (tmp_path / "models" / "llmrad.llmrad.md").is_file()
    assert namespace["table"]["text"].iloc[0].startswith("Probability of malignancy")
