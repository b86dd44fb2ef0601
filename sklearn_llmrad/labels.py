"""Checks on the target ``y`` of a binary benign/malignant study, done before any work.

Every entry point that trains on user labels calls :func:`check_binary_labels`
first, so a typo in a label column fails in a second with the offending rows
named, instead of after an hour of feature extraction (or, worse, silently:
``0.7`` truncated to ``0``, NaN cast to a huge integer, ``{1, 2}`` read as
two classes of which "1" is the negative one).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .clinical import is_missing_value

__all__ = ["check_binary_labels", "check_training_folds"]

_SHOWN = 8


def _rows_text(rows, values=None):
    shown = [repr(r) for r in rows[:_SHOWN]]
    if values is not None:
        shown = [f"{r} ({v!r})" for r, v in zip(shown, values[:_SHOWN], strict=False)]
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return ", ".join(shown) + more


def check_binary_labels(y, *, index=None, pos_label=None):
    """Return ``y`` as an int64 array of 0 (benign) / 1 (malignant), or raise.

    Parameters
    ----------
    y : array-like of shape (n,)
        The labels.
    index : array-like of shape (n,), default=None
        Row names (e.g. ``X.index``) used in error messages; row positions
        otherwise. A pandas Series ``y`` brings its own index.
    pos_label : object, default=None
        The malignant label when the labels are not 0/1 (e.g. ``2`` for
        ``{1, 2}`` or ``"malignant"``); the other value present becomes 0.
        Without it only 0/1 (ints, integral floats, bools) are accepted: any
        other pair is refused rather than guessed.

    Returns
    -------
    ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        Missing labels (None/NaN), non-integral numbers (``0.7``), labels other
        than 0/1 without ``pos_label``, more than two classes, or a single
        class; the message names the offending rows.

    Examples
    --------
    >>> check_binary_labels([0, 1, 1.0, True]).tolist()
    [0, 1, 1, 1]
    >>> check_binary_labels([1, 2, 2], pos_label=2).tolist()
    [0, 1, 1]
    >>> check_binary_labels([0, 1, 0.7], index=["a", "b", "c"])
    Traceback (most recent call last):
    ...
    ValueError: y holds non-integral label(s) at row(s) 'c' (0.7); labels must be 0 (benign) or 1 (malignant)
    """
    if isinstance(y, pd.Series) and index is None:
        index = y.index
    values = np.asarray(y, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per lesion), got shape {values.shape}")
    n = len(values)
    rows = np.arange(n) if index is None else np.asarray(list(index), dtype=object)
    if len(rows) != n:
        raise ValueError(f"y has {n} labels but there are {len(rows)} rows")
    if n == 0:
        raise ValueError("y is empty (0 lesions)")

    missing = [i for i, v in enumerate(values) if is_missing_value(v)]
    if missing:
        raise ValueError(f"y has {len(missing)} missing label(s) (None/NaN) at row(s) {_rows_text(rows[missing])}")

    if pos_label is not None:
        present = list(dict.fromkeys(values.tolist()))
        if pos_label not in present:
            raise ValueError(f"pos_label={pos_label!r} does not occur in y; its labels are {present[:_SHOWN]}")
        others = [v for v in present if v != pos_label]
        if len(others) > 1:
            extra = [i for i, v in enumerate(values) if v != pos_label and v != others[0]]
            raise ValueError(
                f"y holds {len(present)} classes {present[:_SHOWN]}, a binary study needs two; "
                f"rows beyond {pos_label!r} and {others[0]!r}: {_rows_text(rows[extra], values[extra])}"
            )
        out = np.array([1 if v == pos_label else 0 for v in values], dtype=np.int64)
    else:
        bad_type = [i for i, v in enumerate(values) if not isinstance(v, numbers.Real | np.bool_)]
        if bad_type:
            raise ValueError(
                f"y holds non-numeric label(s) at row(s) {_rows_text(rows[bad_type], values[bad_type])}; "
                "labels must be 0 (benign) or 1 (malignant), or pass pos_label= to name the malignant one"
            )
        numeric = np.array([float(v) for v in values])
        fractional = np.flatnonzero(~np.isfinite(numeric) | (numeric != np.round(numeric)))
        if fractional.size:
            raise ValueError(
                f"y holds non-integral label(s) at row(s) {_rows_text(rows[fractional], values[fractional])}; "
                "labels must be 0 (benign) or 1 (malignant)"
            )
        other = np.flatnonzero((numeric != 0) & (numeric != 1))
        if other.size:
            seen = sorted({int(v) for v in numeric})
            raise ValueError(
                f"y holds labels {seen}, not 0/1, at row(s) {_rows_text(rows[other], values[other])}; "
                "labels must be 0 (benign) or 1 (malignant); pass pos_label= to map another pair "
                "(e.g. pos_label=2 for {1, 2})"
            )
        out = numeric.astype(np.int64)
    if np.unique(out).size < 2:
        raise ValueError(f"y holds one class only ({int(out[0])} for all {n} lesions); both 0 and 1 are needed")
    return out


def check_training_folds(y, splits, *, part="train"):
    """Raise unless every split's training part holds both classes.

    Parameters
    ----------
    y : array-like of 0/1
    splits : list of dict
        As returned by :func:`~sklearn_llmrad.benchmark.make_splits`.
    part : str, default="train"

    Examples
    --------
    >>> import numpy as np
    >>> check_training_folds(np.array([0, 1, 1]), [{"train": np.array([1, 2]), "test": np.array([0])}])
    Traceback (most recent call last):
    ...
    ValueError: training part of fold 1 holds only class 1 (2 lesions); use fewer folds or more lesions of class 0
    """
    y = np.asarray(y)
    for fold, split in enumerate(splits, start=1):
        held = np.unique(y[split[part]])
        if held.size < 2:
            missing = 1 - int(held[0]) if held.size else 0
            raise ValueError(
                f"training part of fold {fold} holds only class {int(held[0]) if held.size else '-'} "
                f"({len(split[part])} lesions); use fewer folds or more lesions of class {missing}"
            )
