"""Loader for a researcher's own dataset described by a CSV file."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import validate_params

from ..exceptions import DatasetFormatError
from ..resampling import as_spacing
from ._common import make_bunch, map_density, parse_age, safe_join

__all__ = ["load_csv"]

_REQUIRED = ("image", "mask")
_OPTIONAL = ("label", "age", "density", "history", "patient", "case", "spacing")
_LOG = logging.getLogger(__name__)

_DESCR = """\
User dataset from {path}
{underline}

Loaded by ``load_csv``: one row per lesion with ``image`` and ``mask`` paths
(relative to {base}), optional ``label`` 0 (benign) / 1 (malignant; without
the column the lesions have no labels, ``target`` None), and optional
``age``, ``density`` (A-D or 1-4), ``history``, ``patient``, ``case`` and
``spacing`` (pixel size in mm: ``0.07``, or ``0.07 0.08`` for row and column;
empty: read from the image file's header where it has one) columns. Groups
are the ``patient`` column, or one group per row when it is absent. {n} lesions, {n_pos}.
"""


def _blank(value):
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


@validate_params(
    {
        "path": [str, os.PathLike],
        "root": [str, os.PathLike, None],
        "allow_outside_root": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_csv(path, *, root=None, allow_outside_root=False, return_X_y=False):
    """Load lesions listed in a CSV file.

    Its columns: ``image,mask[,label,age,density,history,patient,case,spacing]``
    (``spacing``: the pixel size in mm, one number or ``row col``). Without a
    ``label`` column the lesions are loaded for prediction: ``target`` is None
    (logged at INFO level) and ``frame`` is built exactly as with labels.

    Parameters
    ----------
    path : path-like
        The CSV file (comma-separated, header on the first line).
    root : path-like, default=None
        Folder that relative ``image`` / ``mask`` paths start from; default the
        CSV's folder.
    allow_outside_root : bool, default=False
        Accept paths that leave ``root`` (``..`` or absolute paths elsewhere).
        Off by default so a shared CSV cannot point the loader at arbitrary files.
    return_X_y : bool, default=False
        Return ``(frame, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``frame`` (index: the ``case`` column, else ``row_<n>`` with ``n`` the
        1-based data row), ``target``, ``groups`` (``patient`` column, else the
        case id), ``DESCR``, ``feature_names``, ``target_names``, ``excluded``
        (empty), ``metadata`` (any extra columns of the CSV).
    (frame, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    DatasetFormatError
        Missing required columns, or malformed rows: every bad row is reported
        in one message with its row number (1-based, header excluded) and what
        is wrong (label not 0/1, missing file, path outside the root, bad age or
        density, duplicated case id).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a.png", "a_mask.png", "b.png", "b_mask.png"):
    ...     _ = (d / name).write_bytes(b"")
    >>> _ = (d / "lesions.csv").write_text(
    ...     "image,mask,label,age,patient\\n"
    ...     "a.png,a_mask.png,1,61,P1\\n"
    ...     "b.png,b_mask.png,0,,P2\\n")
    >>> X, y = load_csv(d / "lesions.csv", return_X_y=True)
    >>> X.index.tolist(), y.tolist(), X["age"].tolist()
    (['row_1', 'row_2'], [1, 0], [61.0, nan])
    >>> _ = (d / "new.csv").write_text("image,mask,age\\na.png,a_mask.png,61\\n")
    >>> X_new, y_new = load_csv(d / "new.csv", return_X_y=True)
    >>> X_new["age"].tolist(), y_new is None
    ([61.0], True)
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"CSV file {str(path)!r} not found")
    base = Path(root) if root is not None else path.parent
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatasetFormatError(f"file {str(path)!r}: not a readable CSV ({exc})") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise DatasetFormatError(
            f"file {str(path)!r}: missing required column(s) {missing}; "
            f"found {list(table.columns)}, expected image, mask[, label, age, density, history, patient, case, spacing]"
        )
    labelled = "label" in table.columns
    if not labelled:
        _LOG.info(
            "file %r has no label column: %d lesion(s) loaded without labels (target None)", str(path), len(table)
        )
    if table.empty:
        raise DatasetFormatError(f"file {str(path)!r}: no data rows")

    errors, rows, target, groups, seen = [], [], [], [], {}
    for i, record in enumerate(table.to_dict("records"), start=1):
        problems = []
        case = record.get("case", "").strip() if "case" in record else ""
        case = case or f"row_{i}"
        if case in seen:
            problems.append(f"case id {case!r} already used on row {seen[case]}")
        seen.setdefault(case, i)
        resolved = {}
        for column in ("image", "mask"):
            value = record[column].strip()
            if not value:
                problems.append(f"{column} is empty")
                continue
            try:
                file = safe_join(base, value, allow_outside_root=allow_outside_root)
            except DatasetFormatError as exc:
                problems.append(f"{column}: {exc}")
                continue
            if not file.is_file():
                problems.append(f"{column} file {str(file)!r} does not exist")
            resolved[column] = str(file)
        label = record["label"].strip() if labelled else None
        if label in ("0", "1", "0.0", "1.0"):
            label = int(float(label))
        elif labelled:
            problems.append(f"label {record['label']!r} is not 0 or 1")
        try:
            age = parse_age(record.get("age", ""))
        except ValueError as exc:
            problems.append(str(exc))
            age = np.nan
        try:
            density = map_density(record.get("density", ""))
        except ValueError as exc:
            problems.append(str(exc))
            density = None
        try:
            spacing = as_spacing(record.get("spacing", ""))
        except ValueError as exc:
            problems.append(str(exc))
        history = record.get("history", "")
        history = None if _blank(history) else history.strip()
        patient = record.get("patient", "")
        patient = case if _blank(patient) else patient.strip()
        if problems:
            errors.append(f"  row {i} (line {i + 1}, case {case!r}): " + "; ".join(problems))
            continue
        rows.append({"case": case, **resolved, "spacing": spacing, "age": age, "density": density, "history": history})
        target.append(label)
        groups.append(patient)

    if errors:
        raise DatasetFormatError(f"file {str(path)!r}: {len(errors)} malformed row(s):\n" + "\n".join(errors))
    frame = pd.DataFrame(rows).set_index("case")
    frame.index.name = None
    extra = [c for c in table.columns if c not in _REQUIRED + _OPTIONAL]
    metadata = table[extra].set_axis(frame.index) if extra else None
    descr = _DESCR.format(
        path=path,
        underline="-" * (len(str(path)) + 18),
        base=base,
        n=len(frame),
        n_pos=f"{int(np.sum(target))} malignant" if labelled else "no labels",
    )
    return make_bunch(
        frame=frame,
        target=target if labelled else None,
        groups=groups,
        descr=descr,
        return_X_y=return_X_y,
        metadata=metadata,
    )
