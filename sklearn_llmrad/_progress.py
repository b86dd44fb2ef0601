"""Progress bars: ``tqdm.auto`` (a terminal or a notebook), or nothing.

Every long loop of the package (extraction, epochs, the inner CV, the benchmark's
folds) shows its bar through :func:`progress_bar`, so that one rule decides when a
bar is drawn:

- ``enabled=False`` (a stage's ``progress=False``): never;
- nothing left to do (every lesion came from the cache): never, so that a grid
  search does not print a "100% 10/10" line per candidate;
- otherwise a ``tqdm.auto`` bar, which is a widget in a notebook and a text bar on
  a terminal. Where standard error is neither (a log file, CI), tqdm draws nothing
  (``disable=None``); the benchmark writes its one line per fold there instead.
"""

from __future__ import annotations

__all__ = ["progress_bar"]


class _NoBar:
    """What :func:`progress_bar` returns when no bar is drawn: the same methods, doing nothing."""

    def update(self, n=1):
        return None

    def set_postfix_str(self, text, refresh=True):
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
        Whether the finished bar stays on screen (False for inner loops).

    Returns
    -------
    bar : tqdm.auto.tqdm or a do-nothing object with the same ``update``,
        ``set_postfix_str`` and ``close`` methods; both are context managers.

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
