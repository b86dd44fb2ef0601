"""Generate ``docs/api.md``, the API reference, from the docstrings.

Run ``python docs/build_api.py`` (the test suite runs it too and checks that
every public name has a docstring with an Examples section or is listed as a
data class/constant).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

MODULES = [
    "sklearn_llmrad.datasets",
    "sklearn_llmrad.datasets.ddsm",
    "sklearn_llmrad.datasets.radmlbench",
    "sklearn_llmrad.preprocessing",
    "sklearn_llmrad.radiomics",
    "sklearn_llmrad.provenance",
    "sklearn_llmrad.selection",
    "sklearn_llmrad.prior",
    "sklearn_llmrad.prior_files",
    "sklearn_llmrad.inner_cv",
    "sklearn_llmrad.encoding",
    "sklearn_llmrad.vocabulary",
    "sklearn_llmrad.harmonize",
    "sklearn_llmrad.ibsi",
    "sklearn_llmrad.language_model",
    "sklearn_llmrad.descriptions",
    "sklearn_llmrad.models",
    "sklearn_llmrad.scaling",
    "sklearn_llmrad.columns",
    "sklearn_llmrad.metrics",
    "sklearn_llmrad.significance",
    "sklearn_llmrad.informativeness",
    "sklearn_llmrad.pipelines",
    "sklearn_llmrad.explanation",
    "sklearn_llmrad.benchmark",
    "sklearn_llmrad.report",
    "sklearn_llmrad.io",
    "sklearn_llmrad.io.values",
    "sklearn_llmrad.model_card",
    "sklearn_llmrad.imageio",
    "sklearn_llmrad.dicom_masks",
    "sklearn_llmrad.roi",
    "sklearn_llmrad.lesions",
    "sklearn_llmrad.resampling",
    "sklearn_llmrad.labels",
    "sklearn_llmrad.clinical",
    "sklearn_llmrad.exceptions",
]

# Public modules whose names are not a library API, with the reason.
# tests/test_api_docs.py fails on any other public module missing from MODULES.
NOT_DOCUMENTED = {
    "sklearn_llmrad.cli": "the `llmrad` command (a module per subcommand); see `llmrad --help` and the README",
    "sklearn_llmrad.benchmark.shared": "a step of run_benchmark (shared image stages); documented in its module",
    "sklearn_llmrad.benchmark.fold_runs": "a step of run_benchmark (one model's folds, stored and resumed); "
    "run_fold is documented under benchmark",
    "sklearn_llmrad.benchmark.store": "a step of run_benchmark (fold files and fingerprints); documented in its module",
    "sklearn_llmrad.transfer": "the old home of the transfer benchmark; its names are re-exported from benchmark, "
    "report and significance, and documented there",
}


def public_objects(module_name):
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, o in vars(module).items()
            if not n.startswith("_") and getattr(o, "__module__", None) == module_name
        ]
    for name in names:
        yield name, getattr(module, name)


def _signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def render():
    lines = ["# API reference", "", "Generated from the docstrings by `docs/build_api.py`; do not edit by hand.", ""]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        lines += [f"## `{module_name}`", ""]
        summary = (inspect.getdoc(module) or "").split("\n\n")[0]
        if summary:
            lines += [summary, ""]
        for name, obj in public_objects(module_name):
            obj = inspect.unwrap(obj) if callable(obj) and hasattr(obj, "__wrapped__") else obj  # e.g. lru_cache
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                shown = (
                    f"{type(obj).__name__}({sorted(obj, key=repr)!r})"
                    if isinstance(obj, set | frozenset)
                    else repr(obj)
                )
                lines += [f"### `{name}`", "", f"`{shown}`"[:300], ""]  # a constant or a scorer (sets sorted)
                continue
            lines += [f"### `{name}{_signature(obj)}`", ""]
            lines += ["```text", inspect.getdoc(obj) or "(no docstring)", "```", ""]
    return "\n".join(lines)


def main(out=None):
    out = Path(out) if out else Path(__file__).with_name("api.md")
    out.write_text(render())
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))
