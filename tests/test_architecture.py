"""The module map of docs/architecture.md holds: imports point down the layers,
and no module imports another module's private names.

A new module goes into ``LAYERS`` (and into docs/architecture.md) at the level
of what it is; the test names any module it does not know.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_llmrad"

# Lower layers never import higher ones (same layer is allowed; Python refuses cycles).
LAYERS = {
    # 0 foundations: errors, column names, geometry, caches, small mixins
    "sklearn_llmrad": 0,  # the package root holds __version__ and lazy names only
    "exceptions": 0,
    "_columns": 0,
    "_lazy": 0,
    "_output": 0,
    "_files": 0,
    "_progress": 0,
    "_deprecation": 0,
    "_cache": 0,
    "_embedding_cache": 0,
    "roi": 0,
    # 1 rules and readers: one place for each check or format
    "imageio": 1,
    "dicom_masks": 1,
    "clinical": 1,
    "labels": 1,
    "lesions": 1,
    "resampling": 1,
    "scaling": 1,
    "metrics": 1,
    "_binary": 1,
    "significance": 1,
    "descriptions": 1,
    "report": 1,  # tables and plots of results: data in, files out (no study code)
    "vocabulary": 1,
    "ibsi": 1,  # the IBSI reference manual's feature table (data)
    "harmonize": 1,  # feature names -> IBSI identity; language model through language_model.py
    "inner_cv": 1,
    "language_model": 1,
    "semantic_features": 1,
    "informativeness": 1,  # per-feature univariate AUC ranks of one study (the prior's target)
    "_archive": 1,  # the archive format of model files and saved priors (container, bounds, data codec)
    "provenance": 1,  # diagnostics_* columns of extracted features: reads files through imageio
    # 2 data: loaders return DataFrames (they read files through imageio, never run stages)
    "datasets": 2,
    # 3 estimators: the pipeline stages, the prior, the models
    "preprocessing": 3,
    "radiomics": 3,
    "encoding": 3,
    "prior": 3,
    "prior_files": 3,
    "selection": 3,
    "columns": 3,  # column selectors by name rules (the table baselines'), as estimators
    "models": 3,
    # 4 composition: pipelines of stages, model files, test helpers
    "pipelines": 4,
    "explanation": 4,  # knows the pipelines' stages and the inner-CV choice
    "io": 4,
    "model_card": 4,  # a saved model's card: reads the fitted model's estimators
    "_testing": 4,
    # 5 studies: benchmarks run pipelines on datasets; their tables and plots
    "benchmark": 5,
    "transfer": 5,
    # 6 entry point
    "cli": 6,
}

# Cross-module imports of private names that predate this test (owner: fix, then delete).
KNOWN_PRIVATE_IMPORTS = set()


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _layer(module):
    parts = module.split(".")
    if len(parts) == 1:
        return LAYERS[module]
    return LAYERS.get(parts[1])


def _imports(module, path):
    """(imported module, names) for every import of a package module."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "sklearn_llmrad":
                target = node.module
            else:
                continue
            names = [a.name for a in node.names]
            if not node.module:  # `from . import pipelines`
                for name in names:
                    yield f"{target}.{name}", []
            else:
                yield target, names
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sklearn_llmrad":
                    yield alias.name, []


MODULES = list(_modules())


def test_every_module_has_a_layer():
    unknown = [m for m, _ in MODULES if _layer(m) is None]
    assert not unknown, f"add {unknown} to LAYERS in tests/test_architecture.py and to docs/architecture.md"


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_down_the_layers(module, path):
    mine = _layer(module)
    if mine is None:
        pytest.fail(f"{module} has no layer (see test_every_module_has_a_layer)")
    upward = []
    for target, _ in _imports(module, path):
        # `from .. import __version__` reads the root's constant, not the API
        theirs = 0 if target == "sklearn_llmrad.__version__" else _layer(target)
        if theirs is not None and theirs > mine:
            upward.append(f"{target} (layer {theirs})")
    assert not upward, f"{module} (layer {mine}) imports upward: {upward}"


def test_no_private_names_across_modules():
    found = set()
    for module, path in MODULES:
        for target, names in _imports(module, path):
            if target == module:
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    found.add((module, target, name))
    new = found - KNOWN_PRIVATE_IMPORTS
    assert not new, f"imports of another module's private names (make the name public in its owner): {sorted(new)}"
    stale = KNOWN_PRIVATE_IMPORTS - found
    assert not stale, f"fixed, delete from KNOWN_PRIVATE_IMPORTS: {sorted(stale)}"


def test_the_checks_can_fail(tmp_path):
    bad = tmp_path / "sklearn_llmrad" / "metrics.py"
    bad.parent.mkdir()
    bad.write_text("from .pipelines import make_llmrad_pipeline\nfrom .encoding import _private\n")
    imports = list(_imports("sklearn_llmrad.metrics", bad))
    assert imports == [
        ("sklearn_llmrad.pipelines", ["make_llmrad_pipeline"]),
        ("sklearn_llmrad.encoding", ["_private"]),
    ]
    assert _layer("sklearn_llmrad.pipelines") > _layer("sklearn_llmrad.metrics")


@pytest.mark.parametrize("module, path", MODULES, ids=[m for m, _ in MODULES])
def test_no_module_above_800_lines(module, path):
    # a module a researcher can read in one sitting; split a longer one by what it holds
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= 800, f"{module} has {n_lines} lines; split it by what it holds (see docs/architecture.md)"
