"""numpydoc validation of the public API.

The public API is what ``docs/build_api.py`` documents: the ``__all__`` of each
of its modules, plus the public methods and properties those classes define
themselves. The checks are ``[tool.numpydoc_validation] checks`` from
``pyproject.toml`` (each excluded code carries its reason there), plus:

* ``EX01`` (an Examples section) for top-level functions and classes, except
  result records (dataclasses, named tuples) and exceptions;
* a record (dataclass / named tuple) may document its fields under
  ``Attributes`` instead of ``Parameters``;
* a method that overrides a parent's method without a docstring of its own
  keeps the parent's contract and is not checked (``inspect.getdoc`` shows the
  parent's text).

``KNOWN_FAILURES`` lists what failed when the check was introduced, with the
owner of the file; it may only shrink: an entry that passes makes
``test_known_failures_are_still_real`` fail, so delete it then.
"""

import dataclasses
import inspect
import sys
import tomllib
from pathlib import Path

import pytest
from numpydoc.docscrape import NumpyDocString
from numpydoc.validate import get_validation_checks, validate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
try:
    import build_api
finally:
    sys.path.pop(0)

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["numpydoc_validation"]
CHECKS = get_validation_checks(set(CONFIG["checks"]))
TOP_LEVEL_ONLY = {"EX01"}

# name -> codes that failed when the check was introduced (owner in brackets).
KNOWN_FAILURES = {
    # [prior] encoding.py / descriptions.py / pipelines.py
    "sklearn_llmrad.pipelines.make_biobert_svc_pipeline": {"PR01", "RT01"},
    "sklearn_llmrad.pipelines.make_cnn_pipeline": {"RT01"},
    "sklearn_llmrad.pipelines.make_no_attention_pipeline": {"PR01", "RT01"},
    "sklearn_llmrad.pipelines.make_no_biobert_pipeline": {"PR01", "RT01"},
    # [models] models/svm.py, models/losses.py
    "sklearn_llmrad.models.svm.CalibratedSVC.decision_function": {"PR01", "RT01"},
    "sklearn_llmrad.models.svm.CalibratedSVC.fit": {"PR01", "RT01"},
    "sklearn_llmrad.models.svm.CalibratedSVC.predict": {"PR01", "RT01"},
    "sklearn_llmrad.models.svm.CalibratedSVC.predict_proba": {"PR01", "RT01"},
    "sklearn_llmrad.models.losses.CrossEntropyInfoNCELoss.forward": {"PR01", "RT01"},
    "sklearn_llmrad.models.losses.SupervisedContrastiveLoss.forward": {"PR01", "RT01"},
    # [speed] models/fusion.py
    "sklearn_llmrad.models.fusion.FusionModule.feature_tokens": {"PR01", "RT01"},
}


def _is_record(obj):
    return dataclasses.is_dataclass(obj) or (issubclass(obj, tuple) and hasattr(obj, "_fields"))


def _inherits_contract(cls, name, member):
    """A method overriding a parent's without a docstring of its own."""
    func = member.fget if isinstance(member, property) else member
    if getattr(func, "__doc__", None):
        return False
    return any(name in vars(base) for base in cls.__mro__[1:])


def _public_api():
    """(qualified name, object, kind) for every documented public object."""
    seen = {}
    for module_name in build_api.MODULES:
        for _, obj in build_api.public_objects(module_name):
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and scorer objects
            qualname = f"{obj.__module__}.{obj.__qualname__}"
            seen[qualname] = (obj, "top")
            if not inspect.isclass(obj):
                continue
            for name, member in vars(obj).items():
                if name.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                    continue
                if _inherits_contract(obj, name, member):
                    continue
                seen[f"{qualname}.{name}"] = (member, "member")
    return seen


API = _public_api()


def _errors(qualname, obj, kind):
    codes = CHECKS | (TOP_LEVEL_ONLY if kind == "top" else set())
    errors = {code: msg for code, msg in validate(qualname)["errors"] if code in codes}
    if kind == "top" and inspect.isclass(obj):
        if _is_record(obj) or issubclass(obj, BaseException):
            errors.pop("EX01", None)
        if _is_record(obj) and "PR01" in errors:
            doc = NumpyDocString(inspect.getdoc(obj) or "")
            documented = {n.strip() for p in doc["Parameters"] + doc["Attributes"] for n in p.name.split(",")}
            fields = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else obj._fields
            missing = [f for f in fields if f not in documented]
            if missing:
                errors["PR01"] = f"fields {missing} documented neither under Parameters nor Attributes"
            else:
                errors.pop("PR01")
        if "__init__" not in vars(obj) and not _is_record(obj):
            errors.pop("PR01", None)  # the parameters are documented where __init__ is defined
    return errors


def test_public_api_is_found():
    names = set(API)
    for expected in (
        "sklearn_llmrad.preprocessing.CLAHEPreprocessor",
        "sklearn_llmrad.radiomics.RadiomicsExtractor.transform",
        "sklearn_llmrad.imageio.read_image",
        "sklearn_llmrad.significance.delong_test",
    ):
        assert expected in names
    assert len(names) > 60


@pytest.mark.parametrize("qualname", sorted(API))
def test_docstring(qualname):
    obj, kind = API[qualname]
    errors = _errors(qualname, obj, kind)
    new = {code: msg for code, msg in errors.items() if code not in KNOWN_FAILURES.get(qualname, set())}
    assert not new, "\n".join(f"{qualname}: {code} {msg}" for code, msg in sorted(new.items()))


def test_known_failures_are_still_real():
    stale = []
    for qualname, codes in KNOWN_FAILURES.items():
        if qualname not in API:
            stale.append(f"{qualname}: no longer public (delete its KNOWN_FAILURES entry)")
            continue
        fixed = codes - set(_errors(qualname, *API[qualname]))
        if fixed:
            stale.append(f"{qualname}: {sorted(fixed)} pass now (delete them from KNOWN_FAILURES)")
    assert not stale, "\n".join(stale)
