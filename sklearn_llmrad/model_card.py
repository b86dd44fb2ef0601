"""Model cards: what a saved model was trained on, how, and how well it is expected to do.

A card is two files beside the model file ``model.llmrad``: ``model.llmrad.json``
(for programs: :func:`read_model_card`) and ``model.llmrad.md`` (for people),
written by ``llmrad fit`` and ``llmrad benchmark --save-models``. It records,
in the spirit of Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019):

- the model: its registry name, the estimators it holds, the model file's SHA-256;
- the training data: dataset, lesions, patients, class balance, pixel spacings;
- the settings it was built with, the language model it uses, the package versions;
- the inner-CV choice (which estimator was kept and the inner AUCs), when the model has one;
- a cross-validated estimate (AUC with a bootstrap CI on patient-grouped folds), when one was run;
- the decision threshold and how it was chosen.

The threshold the predictions use is also stored in the model file itself
(:func:`sklearn_llmrad.io.read_metadata`), so a lost card loses no behaviour.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path

import numpy as np

from . import _files
from .encoding import BioBERTEncoder
from .models.choice import InnerCVChoiceClassifier
from .provenance import file_sha256
from .resampling import spacing_column

__all__ = ["CARD_VERSION", "card_paths", "language_models", "read_model_card", "write_model_card", "youden_threshold"]

#: Version of the card's JSON layout.
CARD_VERSION = 1

_INTENDED_USE = (
    "Research use: estimating the probability of malignancy of a segmented mammographic lesion. "
    "Not a medical device; not validated for clinical decisions. Expect lower performance on "
    "scanners, populations and lesion types unlike the training data."
)


def card_paths(model_path):
    """The card's two files for a model file: ``(model.llmrad.md, model.llmrad.json)``.

    Parameters
    ----------
    model_path : str or os.PathLike
        The model file.

    Returns
    -------
    tuple of pathlib.Path

    Examples
    --------
    >>> [p.name for p in card_paths("out/model.llmrad")]
    ['model.llmrad.md', 'model.llmrad.json']
    """
    path = Path(model_path)
    return path.with_name(path.name + ".md"), path.with_name(path.name + ".json")


def _plain(value):
    """``value`` as JSON data: tuples to lists, numpy to Python, anything else by its ``repr``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


def _estimators(model):
    """Every estimator inside ``model`` (pipelines' steps, an inner-CV choice's candidates), depth first."""
    yield model
    for _, step in getattr(model, "steps", None) or ():
        yield from _estimators(step)
    if isinstance(model, InnerCVChoiceClassifier) and hasattr(model, "estimators_"):
        for candidate in model.estimators_.values():
            yield from _estimators(candidate)


def language_models(model):
    """The language models a fitted model's text encoders use.

    Parameters
    ----------
    model : estimator
        A fitted model (pipelines and inner-CV choices are searched).

    Returns
    -------
    list of dict
        ``{"id": hub id or folder, "revision": str or None}`` per encoder, in pipeline order.

    Examples
    --------
    >>> from sklearn_llmrad.pipelines import make_radiomics_svc_pipeline
    >>> language_models(make_radiomics_svc_pipeline())
    []
    """
    encoders = [e for e in _estimators(model) if isinstance(e, BioBERTEncoder)]
    return [{"id": str(e.language_model), "revision": e.revision} for e in encoders]


def youden_threshold(y_true, y_prob):
    """The probability threshold that maximises Youden's J (sensitivity + specificity - 1).

    A lesion is called malignant when its probability is ``>= threshold``; the
    threshold is one of the observed probabilities, the ROC point farthest above
    the chance diagonal (Youden, Cancer 1950). Ties: the highest threshold.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        0/1 labels (both classes present).
    y_prob : array-like of shape (n,)
        Predicted probabilities of class 1, e.g. out-of-fold.

    Returns
    -------
    float

    Examples
    --------
    >>> youden_threshold([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.35, 0.8, 0.4, 0.9])
    0.8
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(np.asarray(y_true), np.asarray(y_prob, dtype=float), drop_intermediate=False)
    j = np.where(np.isfinite(thresholds), np.round(tpr - fpr, 12), -np.inf)  # ties are ties, not float noise
    return float(thresholds[int(np.argmax(j))])


def _data_summary(X, y, groups, dataset, excluded):
    y = np.asarray(y)
    n_malignant = int((y == 1).sum())
    spacings = spacing_column(X)
    known = [s for s in spacings if s is not None]
    counts = {}
    for row_mm, col_mm in known:
        key = f"{row_mm:.4g} x {col_mm:.4g}"
        counts[key] = counts.get(key, 0) + 1
    return {
        "dataset": dataset,
        "n_lesions": len(X),
        "n_patients": None if groups is None else len(set(map(str, groups))),
        "n_malignant": n_malignant,
        "n_benign": int(len(y) - n_malignant),
        "malignant_fraction": float(n_malignant / len(y)) if len(y) else None,
        "spacing_mm": {
            "known": len(known),
            "unknown": len(spacings) - len(known),
            "values": counts,
            "min": float(min(min(s) for s in known)) if known else None,
            "max": float(max(max(s) for s in known)) if known else None,
        },
        "excluded": [str(case) for case in (excluded or ())],
    }


def _model_summary(model, model_path, name, label):
    found = list(_estimators(model))
    choice = next((e for e in found if isinstance(e, InnerCVChoiceClassifier) and hasattr(e, "choice_")), None)
    inner_cv = None
    if choice is not None:
        inner_cv = {
            "choice": str(choice.choice_),
            "candidates": [str(n) for n, _ in choice.estimators],
            "scores": {str(k): float(v) for k, v in choice.cv_scores_.items()},
            "metric": "mean inner-fold ROC AUC on the training lesions",
        }
    encoders = language_models(model)
    steps = [type(e).__name__ for e in found if not hasattr(e, "steps")]
    return (
        {
            "name": name,
            "label": label or name,
            "file": Path(model_path).name,
            "sha256": file_sha256(model_path),
            "estimators": list(dict.fromkeys(steps)),
        },
        inner_cv,
        encoders,
    )


def write_model_card(
    *,
    model_path,
    model,
    name,
    X,
    y,
    groups=None,
    dataset=None,
    settings=None,
    language_model=None,
    threshold=0.5,
    threshold_rule="0.5 (no cross-validated estimate to choose it on)",
    cross_validation=None,
    excluded=None,
    label=None,
):
    """Write ``model.llmrad.md`` and ``model.llmrad.json`` beside a saved model file.

    Parameters
    ----------
    model_path : str or os.PathLike
        The model file, already written (its SHA-256 goes into the card).
    model : estimator
        The fitted model saved there (its inner-CV choice and language model are read from it).
    name : str
        The model's name (e.g. the benchmark registry's ``"llmrad"``).
    X : pandas.DataFrame
        The training lesions (data contract; the ``spacing`` column is summarised).
    y : array-like of shape (n,)
        Their labels, 0/1.
    groups : array-like of shape (n,), default=None
        Patient ids.
    dataset : str, default=None
        What the data is (e.g. ``"mias: mini-MIAS ..."``).
    settings : BenchmarkSettings or dict, default=None
        The settings the model was built with (stored as JSON data).
    language_model : str, default=None
        A line saying which language model was picked and why.
    threshold : float, default=0.5
        The decision threshold predictions use.
    threshold_rule : str, default="0.5 (no cross-validated estimate to choose it on)"
        How it was chosen.
    cross_validation : dict, default=None
        A cross-validated estimate: ``folds``, ``auc``, ``auc_low``, ``auc_high``
        and any other plain numbers (e.g. a row of the benchmark's table).
    excluded : list of str, default=None
        Cases left out of training (an image stage failed on them).
    label : str, default=None
        Display name (defaults to ``name``).

    Returns
    -------
    tuple of pathlib.Path
        The Markdown and JSON files.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_llmrad import io
    >>> from sklearn_llmrad.model_card import read_model_card, write_model_card
    >>> X = pd.DataFrame({"f": [0.0, 1.0, 2.0, 3.0], "spacing": [0.1] * 4}, index=list("abcd"))
    >>> y = [0, 0, 1, 1]
    >>> model = LogisticRegression().fit(X[["f"]], y)
    >>> path = io.save(model, os.path.join(tempfile.mkdtemp(), "model.llmrad"))
    >>> md, js = write_model_card(model_path=path, model=model, name="lr", X=X, y=y, groups=list("abcd"))
    >>> card = read_model_card(js)
    >>> card["data"]["n_patients"], card["data"]["spacing_mm"]["values"], card["threshold"]["value"]
    (4, {'0.1 x 0.1': 4}, 0.5)
    """
    summary, inner_cv, encoders = _model_summary(model, model_path, name, label)
    card = {
        "card_version": CARD_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": summary,
        "intended_use": _INTENDED_USE,
        "data": _data_summary(X, y, groups, dataset, excluded),
        "settings": _plain(settings),
        "language_model": {"note": language_model, "encoders": encoders},
        "inner_cv": inner_cv,
        "cross_validation": _plain(cross_validation),
        "threshold": {"value": float(threshold), "rule": threshold_rule},
        "versions": _files.package_versions(),
    }
    md_path, json_path = card_paths(model_path)
    _files.atomic_write_text(json_path, json.dumps(card, indent=1, allow_nan=False) + "\n")
    _files.atomic_write_text(md_path, _markdown(card))
    return md_path, json_path


def read_model_card(path):
    """The card of a model: its JSON file, or the JSON beside a model file or its Markdown card.

    Parameters
    ----------
    path : str or os.PathLike
        ``model.llmrad.json``, ``model.llmrad.md`` or ``model.llmrad``.

    Returns
    -------
    dict
        What :func:`write_model_card` wrote.

    Raises
    ------
    FileNotFoundError
        No card there.
    ValueError
        The file is not a model card.

    Examples
    --------
    >>> read_model_card("no-such-model.llmrad")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no model card at no-such-model.llmrad.json
    """
    path = Path(path)
    if path.suffix == ".md":
        path = path.with_suffix(".json")
    elif path.suffix != ".json":
        path = card_paths(path)[1]
    if not path.is_file():
        raise FileNotFoundError(f"no model card at {path}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a model card ({exc})") from None
    if not isinstance(card, dict) or not isinstance(card.get("card_version"), int):
        raise ValueError(f"{path}: not a model card (no card_version)")
    return card


def _number(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _markdown(card):
    model, data, spacing = card["model"], card["data"], card["data"]["spacing_mm"]
    lines = [
        f"# Model card: {model['label']}",
        "",
        f"- Model file: `{model['file']}` (SHA-256 `{model['sha256']}`), written {card['created']}",
        f"- Registry name: `{model['name']}`; estimators: {', '.join(model['estimators'])}",
        f"- Intended use: {card['intended_use']}",
        "",
        "## Training data",
        "",
        f"- Dataset: {data['dataset'] or 'n/a'}",
        f"- Lesions: {data['n_lesions']}; patients: {data['n_patients'] if data['n_patients'] is not None else 'n/a'}",
        f"- Class balance: {data['n_malignant']} malignant, {data['n_benign']} benign "
        f"({_number(100 * data['malignant_fraction'] if data['malignant_fraction'] is not None else None, 1)}% "
        "malignant)",
        f"- Pixel spacing (mm): {', '.join(f'{k} ({n})' for k, n in spacing['values'].items()) or 'none stated'}"
        + (f"; unknown for {spacing['unknown']} lesion(s)" if spacing["unknown"] else ""),
    ]
    if data["excluded"]:
        lines.append(f"- Left out (an image stage failed): {', '.join(data['excluded'])}")
    lines += ["", "## Language model", ""]
    lm = card["language_model"]
    if lm["note"]:
        lines.append(f"- {lm['note']}")
    for enc in lm["encoders"]:
        lines.append(f"- Encoder: `{enc['id']}`" + (f" (revision `{enc['revision']}`)" if enc["revision"] else ""))
    if not lm["encoders"]:
        lines.append("- This model uses no language model.")
    lines += ["", "## Inner-CV choice", ""]
    inner = card["inner_cv"]
    if inner is None:
        lines.append("- None: the model is a single estimator.")
    else:
        scores = ", ".join(f"{k} {v:.3f}" for k, v in inner["scores"].items())
        lines.append(f"- Chosen: **{inner['choice']}** among {', '.join(inner['candidates'])} (and their average)")
        lines.append(f"- {inner['metric']}: {scores}")
    lines += ["", "## Cross-validated estimate", ""]
    cv = card["cross_validation"]
    if cv is None:
        lines.append("- Not run (`llmrad fit --cv N` runs one). Nothing here says how well this model does.")
    else:
        lines.append(
            f"- AUC {_number(cv.get('auc'))} (95% CI {_number(cv.get('auc_low'))}-{_number(cv.get('auc_high'))}), "
            f"{cv.get('folds')} patient-grouped folds, out-of-fold probabilities of models refitted per fold"
        )
        at = cv.get("metrics_threshold", 0.5)
        for key in ("sensitivity", "specificity"):
            if cv.get(key) is not None:
                lines.append(f"- {key.capitalize()} at threshold {at}: {_number(cv[key])}")
        if cv.get("brier") is not None:
            lines.append(f"- Brier score: {_number(cv['brier'])}")
    threshold = card["threshold"]
    lines += [
        "",
        "## Decision threshold",
        "",
        f"- {threshold['value']:.4f}: {threshold['rule']}",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(card["settings"], indent=1),
        "```",
        "",
        "## Package versions",
        "",
        ", ".join(f"{k} {v}" for k, v in card["versions"].items() if v),
        "",
    ]
    return "\n".join(lines)
