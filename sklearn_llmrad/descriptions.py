"""Clinical sentences: age, density and history as the encoder's statements.

Turns ``age``, ``density`` and ``history`` into short statements ("62-year-old
woman.", "Heterogeneously dense breasts (BI-RADS density C).") and one sentence
joining them. The feature-name half of this module (:func:`describe_feature`,
:func:`explain_feature`, :data:`FEATURE_DESCRIPTIONS`) lives in
:mod:`sklearn_llmrad.vocabulary`, with the cleaning of feature names; it stays
importable from here.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .clinical import is_missing_value, normalize_density, parse_age
from .exceptions import LesionError
from .vocabulary import FEATURE_DESCRIPTIONS, FeatureDescription, describe_feature, explain_feature

__all__ = [
    "FeatureDescription",
    "explain_feature",
    "describe_feature",
    "FEATURE_DESCRIPTIONS",
    "ClinicalStatements",
    "clinical_statements",
    "clinical_sentence",
    "normalize_density",
    "is_missing_value",
    "NO_CLINICAL_INFORMATION",
    "DENSITY_STATEMENTS",
]

# -- Clinical statements ---------------------------------------------------------------------------

#: The sentence used when a lesion has no clinical information at all.
NO_CLINICAL_INFORMATION = "No clinical information available."

#: BI-RADS 5th edition breast composition categories (ACR, 2013).
DENSITY_STATEMENTS = {
    "A": "Almost entirely fatty breasts (BI-RADS density A).",
    "B": "Scattered areas of fibroglandular density (BI-RADS density B).",
    "C": "Heterogeneously dense breasts (BI-RADS density C).",
    "D": "Extremely dense breasts (BI-RADS density D).",
}
_MISSING_STRINGS = {"", "nan", "none", "null", "na", "n/a", "<na>", "nat", "missing", "unknown", "?"}
_TRUE_STRINGS = {"yes", "y", "true", "1"}
_FALSE_STRINGS = {"no", "n", "false", "0"}


def _age_statement(age, case):
    years = parse_age(age, case=case)  # the one rule, shared with the dataset loaders
    if math.isnan(years):
        return None
    # Completed years, as ages are reported clinically.
    return f"{int(math.floor(years))}-year-old woman."


def _history_statement(history, case):
    if is_missing_value(history):
        return None
    if isinstance(history, bool | np.bool_):
        flag = bool(history)
    elif isinstance(history, numbers.Real):
        if float(history) not in (0.0, 1.0):
            raise LesionError(f"invalid history {history!r}; expected free text, a bool, 0/1 or missing", case=case)
        flag = bool(history)
    else:
        text = " ".join(str(history).split())
        low = text.lower().rstrip(".")
        if low in _MISSING_STRINGS:
            return None
        if low in _TRUE_STRINGS:
            flag = True
        elif low in _FALSE_STRINGS:
            flag = False
        else:
            text = text[0].upper() + text[1:]
            return text if text.endswith((".", "!", "?")) else text + "."
    return "History of breast disease." if flag else "No relevant history of breast disease."


class ClinicalStatements(NamedTuple):
    """One statement per clinical field (None where missing) and the sentence.

    Attributes
    ----------
    age, density, history : str or None
        The statement of each field; None where the field is missing.
    sentence : str
        The statements joined, or :data:`NO_CLINICAL_INFORMATION`.
    """

    age: str | None
    density: str | None
    history: str | None
    sentence: str


def clinical_statements(age=None, density=None, history=None, *, case=None):
    """Turn one lesion's clinical fields into statements and a sentence.

    Parameters
    ----------
    age : float, int, str or None
        Age in years (``62``, ``62.7``, ``"062Y"``); missing as None/NaN.
    density : str, int or None
        Breast density, see :func:`normalize_density`.
    history : str, bool or None
        Free text ("family history of breast cancer"), a bool (True: "History
        of breast disease.", False: "No relevant history of breast
        disease."), 0/1, yes/no, or missing.
    case : object, default=None
        Case id, named in error messages.

    Returns
    -------
    ClinicalStatements
        ``age``, ``density``, ``history`` statements (None where missing) and
        ``sentence``, their concatenation, or :data:`NO_CLINICAL_INFORMATION`
        when all are missing.

    Raises
    ------
    LesionError
        For an unusable value, naming the case.

    Examples
    --------
    >>> s = clinical_statements(62, "C", float("nan"))
    >>> s.age, s.density, s.history
    ('62-year-old woman.', 'Heterogeneously dense breasts (BI-RADS density C).', None)
    """
    letter = normalize_density(density, case=case)
    parts = (
        _age_statement(age, case),
        None if letter is None else DENSITY_STATEMENTS[letter],
        _history_statement(history, case),
    )
    present = [p for p in parts if p]
    sentence = " ".join(present) if present else NO_CLINICAL_INFORMATION
    return ClinicalStatements(*parts, sentence)


def clinical_sentence(age=None, density=None, history=None, *, case=None):
    """Return one lesion's clinical information as one sentence.

    Missing fields are left out; when all are missing the sentence is
    :data:`NO_CLINICAL_INFORMATION`.

    Parameters
    ----------
    age, density, history, case
        See :func:`clinical_statements`.

    Returns
    -------
    str

    Examples
    --------
    >>> clinical_sentence(62, "C", "family history of breast cancer")
    '62-year-old woman. Heterogeneously dense breasts (BI-RADS density C).
    Family history of breast cancer.'
    >>> clinical_sentence(None, float("nan"), None)
    'No clinical information available.'
    """
    return clinical_statements(age, density, history, case=case).sentence
