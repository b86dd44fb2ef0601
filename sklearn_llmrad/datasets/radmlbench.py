"""Public radiomics tables of radMLBench.

radMLBench (A. Demircioglu, "radMLBench: A dataset collection for benchmarking
in radiomics", Computers in Biology and Medicine 2024; the ``radMLBench``
package on PyPI) collects 50 published radiomics studies as one table each: an
``ID`` column, a binary ``Target`` and the study's radiomics features, under the
study's own feature names. These tables are what
:class:`~sklearn_llmrad.prior.SemanticPrior` learns from: which features tend
to matter, through their names, across studies.

Files are read by ``radMLBench.loadData`` itself (one gzip-compressed CSV per
study, ``<data_home>/<name>.gz``); this module only checks the table and wraps
it in a :class:`~sklearn.utils.Bunch`.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..exceptions import DatasetFormatError

__all__ = ["check_radiomics_table", "list_radmlbench", "load_radmlbench", "radmlbench_home"]

_SUFFIX = ".gz"
_ENV = "LLMRAD_RADMLBENCH"


def radmlbench_home(data_home=None):
    """The directory holding the radMLBench tables.

    ``data_home`` if given, else ``$LLMRAD_RADMLBENCH``, else
    ``~/llmrad_data/radmlbench``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The directory; ``~`` is expanded.

    Returns
    -------
    pathlib.Path
        The directory (it need not exist).

    Examples
    --------
    >>> radmlbench_home("/data/radmlbench").as_posix()
    '/data/radmlbench'
    """
    if data_home is None:
        data_home = os.environ.get(_ENV) or Path("~") / "llmrad_data" / "radmlbench"
    return Path(os.path.expanduser(os.fspath(data_home)))


def list_radmlbench(data_home=None):
    """Names of the radMLBench studies present in ``data_home``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`radmlbench_home`.

    Returns
    -------
    list of str
        Sorted study names, one per ``<name>.gz`` file.

    Examples
    --------
    >>> list_radmlbench("/nonexistent")
    []
    """
    root = radmlbench_home(data_home)
    if not root.is_dir():
        return []
    return sorted(p.name[: -len(_SUFFIX)] for p in root.glob("*" + _SUFFIX) if p.is_file())


def _header(path):
    with gzip.open(path, "rt", newline="") as fh:
        return next(csv.reader(fh), [])


def check_radiomics_table(frame, *, name, columns=None):
    """Check a study table; raise :class:`DatasetFormatError` naming table and column.

    Parameters
    ----------
    frame : DataFrame
        The table with a ``Target`` column and feature columns.
    name : str
        Table name used in messages.
    columns : list of str, default=None
        The column names as written in the file (duplicates are renamed by
        pandas when reading, so they are checked on this list when given).

    Examples
    --------
    >>> check_radiomics_table(pd.DataFrame({"Target": [0, 1], "a": [1.0, 2.0]}), name="toy")
    >>> check_radiomics_table(pd.DataFrame({"a": [1.0]}), name="toy")
    Traceback (most recent call last):
    ...
    sklearn_llmrad.exceptions.DatasetFormatError: radiomics table 'toy' has no 'Target' column ...
    """
    names = list(frame.columns) if columns is None else list(columns)
    seen = set()
    for col in names:
        if col in seen:
            raise DatasetFormatError(
                f"radiomics table {name!r}: duplicate column name {col!r}; feature names must be unique."
            )
        seen.add(col)
    if "Target" not in frame.columns:
        raise DatasetFormatError(
            f"radiomics table {name!r} has no 'Target' column (columns: {names[:5]}"
            f"{' ...' if len(names) > 5 else ''}); radMLBench tables hold the binary outcome in 'Target'."
        )
    target = frame["Target"]
    values = set(pd.unique(target.dropna()))
    if target.isna().any() or not values <= {0, 1} or len(values) != 2:
        raise DatasetFormatError(
            f"radiomics table {name!r}: column 'Target' must be binary 0/1 with both classes and no "
            f"missing value, found values {sorted(map(str, values))[:6]}"
            f"{' and missing values' if target.isna().any() else ''}."
        )
    for col in frame.columns:
        if col in ("ID", "Target"):
            continue
        column = frame[col]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            raise DatasetFormatError(f"radiomics table {name!r}: column {col!r} is not numeric (dtype {column.dtype}).")
        if column.isna().all():
            raise DatasetFormatError(f"radiomics table {name!r}: column {col!r} is entirely missing (all NaN).")


def load_radmlbench(name, *, data_home=None, return_X_y=False, as_frame=True, download_if_missing=True):
    """Load one radMLBench study through the ``radMLBench`` package.

    Parameters
    ----------
    name : str
        Study name, e.g. ``"Song2020"`` (``radMLBench.listDatasets()``).
    data_home : str or path-like, default=None
        Directory of the ``<name>.gz`` files (see :func:`radmlbench_home`).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default=True
        Features as a DataFrame (named columns, what the prior needs); False
        gives NumPy arrays.
    download_if_missing : bool, default=True
        When the file is absent, let radMLBench download it into
        ``data_home``; False (or no network) raises an error saying where to
        put the file.

    Returns
    -------
    Bunch or tuple
        ``frame`` (the whole table), ``data`` (features), ``target`` (0/1),
        ``feature_names``, ``ids``, ``name`` and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        No local copy and it could not be downloaded.
    DatasetFormatError
        The table is not a binary radiomics table (message names table and column).

    Examples
    --------
    >>> bunch = load_radmlbench("Song2020", data_home="../shared/data/radmlbench")  # doctest: +SKIP
    >>> bunch.data.shape, bunch.target.mean().round(2)  # doctest: +SKIP
    ((260, 264), 0.5)
    """
    import radMLBench

    root = radmlbench_home(data_home)
    path = root / f"{name}{_SUFFIX}"
    known = radMLBench.listDatasets()
    if name not in known:
        raise ValueError(
            f"{name!r} is not a radMLBench study; known studies: {', '.join(sorted(known)[:8])} ... "
            f"({len(known)} in all, radMLBench.listDatasets())."
        )
    where = (
        f"Put {name}{_SUFFIX} (from https://github.com/aydindemircioglu/radMLBench/tree/main/datasets) "
        f"into {root}, or pass data_home=DIR / set ${_ENV}."
    )
    if not path.is_file():
        if not download_if_missing:
            raise FileNotFoundError(f"radMLBench study {name!r} is not available locally. {where}")
        try:
            frame = radMLBench.loadData(name, local_cache_dir=str(root))
        except Exception as exc:  # requests' connection errors, HTTP errors
            raise FileNotFoundError(
                f"radMLBench study {name!r} is not available locally and could not be downloaded "
                f"({type(exc).__name__}: {exc}). {where}"
            ) from exc
    else:
        try:
            frame = radMLBench.loadData(name, local_cache_dir=str(root))
        except (OSError, EOFError, ValueError, pd.errors.ParserError) as exc:
            raise DatasetFormatError(f"radiomics table {name!r} ({path}) cannot be read: {exc}") from exc
    columns = _header(path) if path.is_file() else None
    check_radiomics_table(frame, name=name, columns=columns)
    features = [c for c in frame.columns if c not in ("ID", "Target")]
    X = frame[features].astype(float)
    y = frame["Target"].astype(int).rename("Target")
    ids = frame["ID"] if "ID" in frame.columns else pd.Series(np.arange(len(frame)), name="ID")
    if not as_frame:
        X, y = X.to_numpy(), y.to_numpy()
    if return_X_y:
        return X, y
    descr = (
        f"radMLBench study {name}: {len(frame)} rows, {len(features)} features, "
        f"{int(frame['Target'].sum())} positives (Demircioglu, Comput Biol Med 2024)."
    )
    return Bunch(
        frame=frame,
        data=X,
        target=y,
        feature_names=np.asarray(features, dtype=object),
        ids=ids,
        name=name,
        DESCR=descr,
    )
