"""Helpers shared by the dataset loaders: reading their tables, collecting
lesions, Bunch assembly, path safety, density and age parsing.

Every loader returns the same shape of result (see ``docs/architecture.md``):
a ``frame`` with the contract columns only, so that no dataset-specific
descriptor (a radiologist's margin description, an assessment) can reach a
model by accident. Such descriptors live in a separate ``metadata`` frame.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .._columns import CLINICAL, IMAGE, MASK, SPACING
from ..clinical import normalize_density as map_density  # the package's one rules, named as the loaders use them
from ..clinical import parse_age
from ..exceptions import DatasetFormatError
from ..resampling import as_spacing

__all__ = [
    "FRAME_COLUMNS",
    "LOADER_CONSTRAINTS",
    "TARGET_NAMES",
    "Lesions",
    "make_bunch",
    "map_density",
    "parse_age",
    "read_table",
    "reported_at",
    "safe_join",
    "where",
]

#: ``spacing`` is ``(row_mm, col_mm)`` or None: unknown to the loader, read
#: from the image file's header (DICOM) by the stages, or warned about.
FRAME_COLUMNS = (IMAGE, MASK, SPACING, *CLINICAL)
TARGET_NAMES = np.array(["benign", "malignant"])
#: ``validate_params`` constraints of the parameters every lesion loader takes
#: (``labels`` and ``return_X_y`` are documented once, in the package docstring).
LOADER_CONSTRAINTS = {"root": [str, os.PathLike], "labels": ["boolean"], "return_X_y": ["boolean"]}


def where(file, line=None, row=None):
    """Return ``"file 'x', line n"`` for error messages.

    Examples
    --------
    >>> where("Info.txt", line=3)
    "file 'Info.txt', line 3"
    """
    text = f"file {str(file)!r}"
    if line is not None:
        text += f", line {line}"
    if row is not None:
        text += f", row {row}"
    return text


def safe_join(root, relative, *, allow_outside_root=False, context=""):
    """Join ``relative`` (from a CSV or metadata file) onto ``root`` and refuse
    results that leave ``root`` (``..`` components, absolute paths elsewhere).

    The check is lexical: ``..`` is collapsed but symbolic links inside the
    root are trusted, since datasets are often symlinked onto data drives by
    their owner.

    Parameters
    ----------
    root : path-like
        The dataset root.
    relative : str or path-like
        The path as written in the dataset's file.
    allow_outside_root : bool, default=False
        Accept paths outside ``root``.
    context : str, default=""
        Where the path was read (file and row), for the error message.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> str(safe_join("/data/mias", "a/b.pgm"))
    '/data/mias/a/b.pgm'
    >>> safe_join("/data/mias", "../../etc/passwd", context="row 1")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: row 1: path '../../etc/passwd' ...
    """
    root_abs = os.path.normpath(os.path.abspath(os.fspath(root)))
    text = os.fspath(relative)
    joined = os.path.normpath(os.path.join(root_abs, os.path.expanduser(text)))
    if not allow_outside_root:
        inside = joined == root_abs or joined.startswith(root_abs.rstrip(os.sep) + os.sep)
        if not inside:
            prefix = f"{context}: " if context else ""
            raise DatasetFormatError(
                f"{prefix}path {text!r} resolves to {joined!r}, outside the dataset root "
                f"{root_abs!r}; pass allow_outside_root=True (llmrad: --allow-outside-root) if this is intended"
            )
    return Path(joined)


def make_bunch(
    *,
    frame,
    target,
    groups,
    descr,
    return_X_y=False,
    excluded=None,
    metadata=None,
    labels=True,
    **extra,
):
    """Check a loader's output against the data contract and package it.

    ``target`` None, or ``labels=False``, packages lesions without labels
    (for prediction): ``target`` is None and the frame is built exactly as
    with labels.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"image": ["a.pgm"], "mask": ["m.png"]}, index=["c1"])
    >>> b = make_bunch(frame=frame, target=[1], groups=["p1"], descr="demo")
    >>> list(b.frame.columns), b.target.tolist(), b.groups.tolist()
    (['image', 'mask', 'spacing', 'age', 'density', 'history'], [1], ['p1'])
    >>> print(b.frame.loc["c1", "spacing"])
    None
    >>> print(make_bunch(frame=frame, target=None, groups=["p1"], descr="demo").target)
    None
    """
    frame = frame.copy()
    for column in (SPACING, *CLINICAL):
        if column not in frame.columns:
            frame[column] = np.nan if column == "age" else None
    frame = frame[list(FRAME_COLUMNS)]
    # object dtype, not pandas' string dtype: later stages put arrays in these cells
    frame[IMAGE] = frame[IMAGE].astype(object)
    frame[MASK] = frame[MASK].astype(object)
    spacing = np.empty(len(frame), dtype=object)
    spacing[:] = [as_spacing(value) for value in frame[SPACING]]
    frame[SPACING] = spacing
    frame["age"] = frame["age"].astype("float64")
    for column in ("density", "history"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    if not frame.index.is_unique:
        duplicated = frame.index[frame.index.duplicated()].unique().tolist()
        raise DatasetFormatError(f"case ids are not unique: {duplicated[:5]}")
    groups = np.asarray(groups, dtype=object).reshape(-1)
    if target is None or not labels:
        target = None
    else:
        target = np.asarray(target, dtype=np.int64).reshape(-1)
        if len(target) != len(frame) or not set(np.unique(target)) <= {0, 1}:
            raise AssertionError("target must be 0/1, one per lesion")
    if len(groups) != len(frame):
        raise AssertionError("frame and groups differ in length")
    if metadata is not None:
        metadata = metadata.loc[frame.index]
    if return_X_y:
        return frame, target
    return Bunch(
        frame=frame,
        target=target,
        groups=groups,
        DESCR=descr,
        feature_names=list(FRAME_COLUMNS),
        target_names=TARGET_NAMES.copy(),
        excluded=list(excluded or []),
        metadata=metadata,
        **extra,
    )


def _by_case(records):
    table = pd.DataFrame(records).set_index("case")
    table.index.name = None
    return table


@contextlib.contextmanager
def reported_at(context):
    """Turn a ``ValueError`` of a parsing rule into a
    :class:`~sklearn_llmrad.exceptions.DatasetFormatError` naming ``context``.

    Examples
    --------
    >>> with reported_at("file 'a.csv', line 3"):
    ...     map_density("dense-ish")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: file 'a.csv', line 3: ...
    """
    try:
        yield
    except DatasetFormatError:
        raise
    except ValueError as exc:
        raise DatasetFormatError(f"{context}: {exc}") from None


def read_table(file, required, *, sep=",", aliases=None):
    """Read a dataset's CSV as text (empty cells stay ``""``) and check its columns.

    Column names are stripped of spaces; ``aliases`` renames other spellings
    (``{"breast density": "breast_density"}``) when the canonical name is
    absent. An unreadable file or a missing column raises a
    :class:`~sklearn_llmrad.exceptions.DatasetFormatError` naming the file.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = f.write_text("a; b\\n1;\\n")
    >>> read_table(f, ["a", "b"], sep=";").to_dict("records")
    [{'a': '1', 'b': ''}]
    >>> read_table(f, ["a", "c"], sep=";")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: file '...t.csv': missing column(s) ['c']; ...
    """
    kind = "CSV" if sep == "," else f"{sep!r}-separated CSV"
    try:
        table = pd.read_csv(file, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DatasetFormatError(f"{where(file)}: not a readable {kind} ({exc})") from exc
    table.columns = [c.strip() for c in table.columns]
    for alias, name in (aliases or {}).items():
        if alias in table.columns and name not in table.columns:
            table = table.rename(columns={alias: name})
    missing = [c for c in required if c not in table.columns]
    if missing:
        hint = "" if sep == "," else f" ({Path(file).name} is {kind[:-4]})"
        raise DatasetFormatError(f"{where(file)}: missing column(s) {missing}; found {list(table.columns)}{hint}")
    return table


class Lesions:
    """The lesions one load collects, and the entries it left out, as a Bunch.

    Each :meth:`add` gives one row of ``frame`` (the contract columns), its
    label, its patient and its ``metadata`` row (dataset descriptors: never
    features); :meth:`exclude` lists an entry with the reason; :meth:`bunch`
    packages them (indexed by case id, checked by :func:`make_bunch`), or
    raises when nothing was found.

    Examples
    --------
    >>> lesions = Lesions()
    >>> lesions.add("c1", image="a.pgm", mask="m.png", label=1, group="p1", age=50.0, view="CC")
    >>> lesions.exclude("c2", "normal image: no lesion")
    >>> b = lesions.bunch(descr="demo", nothing_found="no lesion")
    >>> b.frame.index.tolist(), b.target.tolist(), b.metadata.loc["c1", "view"], b.excluded
    (['c1'], [1], 'CC', [('c2', 'normal image: no lesion')])
    >>> lesions.loaded("lesions")
    '1 lesions loaded (1 malignant), 1 excluded'
    >>> Lesions().bunch(descr="demo", nothing_found="no lesion under '/data'")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: no lesion under '/data'
    """

    def __init__(self):
        self.rows, self.target, self.groups, self.meta, self.excluded = [], [], [], [], []

    def __len__(self):
        return len(self.rows)

    def add(self, case, *, image, mask, label, group, age=np.nan, density=None, spacing=None, **metadata):
        """Add one lesion: its contract columns (``spacing`` in mm), label, patient and metadata."""
        self.rows.append(
            {"case": case, "image": str(image), "mask": mask, "spacing": spacing, "age": age, "density": density}
        )
        self.target.append(label)
        self.groups.append(group)
        self.meta.append({"case": case, **metadata})

    def exclude(self, case, reason):
        """List ``case`` as left out, with the reason."""
        self.excluded.append((case, reason))

    @property
    def n_positive(self):
        """Lesions labelled 1."""
        return int(np.sum(self.target))

    def loaded(self, what, positive="malignant", excluded="excluded"):
        """``"<n> <what> loaded (<n labelled 1> <positive>), <n excluded> <excluded>"``, for ``DESCR``."""
        return f"{len(self)} {what} loaded ({self.n_positive} {positive}), {len(self.excluded)} {excluded}"

    def first_reason(self, default="none"):
        """The reason of the first exclusion (``default`` when there is none)."""
        return self.excluded[0][1] if self.excluded else default

    def bunch(self, *, descr, nothing_found, return_X_y=False, labels=True, **extra):
        """The Bunch of :func:`make_bunch` (or ``(frame, target)``); ``labels=False``: ``target`` None.

        Raises :class:`~sklearn_llmrad.exceptions.DatasetFormatError` with
        ``nothing_found`` (say where was looked and why entries were left out)
        when no lesion was added; ``extra`` are further Bunch attributes.
        """
        if not self.rows:
            raise DatasetFormatError(nothing_found)
        return make_bunch(
            frame=_by_case(self.rows),
            target=self.target,
            groups=self.groups,
            descr=descr,
            return_X_y=return_X_y,
            labels=labels,
            excluded=self.excluded,
            metadata=_by_case(self.meta),
            **extra,
        )
