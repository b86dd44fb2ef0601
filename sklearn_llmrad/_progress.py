"""Progress bars: ``tqdm.auto`` (a terminal or a notebook), or nothing.

Every long loop of the package (CLAHE, extraction, epochs, the inner CV, the
benchmark's folds) shows its bar through :func:`progress_bar`, so that one rule
decides when a bar is drawn:

- ``enabled=False`` (a stage's ``progress=False``): never;
- nothing left to do (every lesion came from the cache, ``max_epochs=0``): never,
  so that a grid search does not print a "100% 10/10" line per candidate;
- otherwise a ``tqdm.auto`` bar, which is a widget in a notebook and a text bar on
  a terminal. Where standard error is neither (a log file, CI), tqdm draws nothing
  (``disable=None``); the benchmark writes its one line per fold there instead.

Nested loops:

- the bar of a loop that is one step of a bigger one closes when it is done
  (``leave=False``): a network's epoch bar (its fit is one fold, one inner-CV
  split or one grid-search candidate) leaves no line behind, so only the bars
  still moving are on screen;
- the bars of what the user waits on (CLAHE and extraction of a dataset, the
  benchmark's folds) stay (``leave=True``);
- a fit an outer loop repeats many times with a bar of its own (the inner-CV
  choice's candidates) runs with its bars off: :func:`without_progress` sets
  every ``progress`` parameter of an estimator, nested ones included, to False.
"""

from __future__ import annotations

__all__ = ["progress_bar", "without_progress"]


class _NoBar:
    """What :func:`progress_bar` returns when no bar is drawn: the same methods, doing nothing."""

    n = total = 0

    def update(self, n=1):
        return None

    def set_postfix_str(self, s="", refresh=True):
        return None

    def refresh(self):
        return None

    def close(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def progress_bar(*, total, desc, unit="it", initial=0, enabled=True, leave=True):
    """A progress bar for a loop of ``total`` steps, ``initial`` of them already done.

    Parameters
    ----------
    total : int
        Number of steps.
    desc : str
        What is counted, shown left of the bar ("radiomics", "epochs", "folds").
    unit : str, default="it"
        The unit of a step ("ROI", "epoch", "fold").
    initial : int, default=0
        Steps already done (read from a cache).
    enabled : bool, default=True
        False draws nothing (a stage's ``progress=False``).
    leave : bool, default=True
        Whether the finished bar stays on screen (False for a loop nested in
        another, see the module's docstring).

    Returns
    -------
    bar : tqdm.auto.tqdm or a do-nothing object with the same ``update``,
        ``set_postfix_str``, ``refresh`` and ``close`` methods (and ``n``,
        ``total``); both are context managers.

    Examples
    --------
    >>> with progress_bar(total=3, desc="folds", unit="fold", enabled=False) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    """
    if not enabled or initial >= total:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave, disable=None)


def without_progress(estimator):
    """Switch off every ``progress`` parameter of ``estimator``, nested ones included; return it.

    For fits an outer loop repeats (the inner-CV choice's candidates, a
    benchmark fold's refits) that should not draw bars of their own. Works on
    anything with scikit-learn's ``get_params``/``set_params``; an estimator
    without such a parameter is returned unchanged.

    Parameters
    ----------
    estimator : estimator
        Changed in place (clone it first to keep the original).

    Returns
    -------
    estimator

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_llmrad import RadiomicsExtractor
    >>> pipe = without_progress(make_pipeline(RadiomicsExtractor()))
    >>> pipe.get_params()["radiomicsextractor__progress"]
    False
    """
    names = [k for k in estimator.get_params(deep=True) if k == "progress" or k.endswith("__progress")]
    if names:
        estimator.set_params(**dict.fromkeys(names, False))
    return estimator
