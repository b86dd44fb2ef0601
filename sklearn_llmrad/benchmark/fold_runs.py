"""One model on its folds: fit, predict, explain, store and resume, one at a time or in parallel.

The fold-level half of the benchmark, shared by both modes (lesions in
:mod:`~sklearn_llmrad.benchmark.runner`, studies in
:mod:`~sklearn_llmrad.benchmark.transfer`): :func:`run_fold` fits one model's
learned part on a training fold and predicts its test part; :func:`run_model_folds`
and :func:`run_fold_jobs` run a model's folds, reuse the intact ones a stopped run
stored, write the new ones atomically, and run several models' folds in worker
processes when ``n_jobs`` allows.
"""

from __future__ import annotations

import os
import time
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from .. import _files
from .._progress import progress_bar
from . import store

__all__ = ["FoldJob", "run_fold", "run_fold_jobs", "run_model_folds", "safe_auc"]

PREDICTION_COLUMNS = ["case", "fold", "part", "y_true", "y_prob"]


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _fold_predictions(estimator, X, y, split, fold, parts):
    rows = []
    for part in parts:
        idx = split[part]
        proba = estimator.predict_proba(_take(X, idx))[:, 1]
        rows.append(
            pd.DataFrame(
                {
                    "case": [str(c) for c in X.index[idx]],
                    "fold": fold,
                    "part": part,
                    "y_true": np.asarray(y)[idx],
                    "y_prob": proba,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _explain_fold(estimator, X_test, top_n, fold):
    """What :func:`~sklearn_llmrad.explain` says about a fitted model on one test fold.

    One row per lesion and driver: ``fold``, ``case``, ``estimator`` (what predicted:
    ``linear``, ``network``, ``average`` or ``svc``), ``probability``,
    ``feature``, ``description``, ``value``, ``percentile``, ``contribution`` and
    the rationale ``text``; a lesion without a driver has one row with no feature.
    None for a model ``explain`` does not know (the CNNs, a user's model).
    """
    from ..explanation import estimator_kind, explain
    from ..vocabulary import describe_feature

    if estimator_kind(estimator) is None:  # not a model explain knows: nothing to explain
        return None
    table = explain(estimator, X_test, top_n=top_n)
    rows = []
    for case, lesion in zip(X_test.index, table.itertuples(index=False), strict=True):
        said = {"fold": fold, "case": str(case), "estimator": lesion.estimator, "probability": lesion.probability}
        for feature, value, percentile, contribution in lesion.drivers or [(None, np.nan, np.nan, np.nan)]:
            rows.append(
                {
                    **said,
                    "feature": feature,
                    "description": None if feature is None else describe_feature(feature),
                    "value": value,
                    "percentile": percentile,
                    "contribution": contribution,
                    "text": lesion.text,
                }
            )
    return pd.DataFrame(rows)


def run_fold(spec, settings, data, y, split, *, fold, parts, explain=False, params=None):
    """Fit one model on one fold's training part and predict its other parts.

    Parameters
    ----------
    spec : ModelSpec
        The model; ``spec.factory(**settings)`` is cloned, so every fold starts
        from an unfitted estimator.
    settings : dict
        Keyword arguments of the factory.
    data : pandas.DataFrame
        The model's input (raw lesions, crops or features), one row per lesion.
    y : ndarray of shape (n,)
        Labels (0/1).
    split : dict of str to ndarray
        Row positions of each part (``"train"``, ``"test"``, maybe ``"validation"``).
    fold : int
        Fold number written in the predictions.
    parts : list of str
        The parts to predict.
    explain : bool, default=False
        Also return what :func:`~sklearn_llmrad.explain` says about the fitted
        model on the test part.
    params : dict, default=None
        Set on the model with ``set_params`` (see :meth:`ModelSpec.build`).

    Returns
    -------
    predictions : pandas.DataFrame
        ``case``, ``fold``, ``part``, ``y_true``, ``y_prob``; ``attrs["choice"]`` is
        what an inner-CV choice at the end of the model chose (None for other models).
    contributions : pandas.DataFrame or None
        Per test lesion and driver, the fitted model's contributions and
        rationale, with the ``fold`` (when ``explain`` and the model is one
        :func:`~sklearn_llmrad.explain` knows).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_llmrad.benchmark import ModelSpec, run_fold
    >>> spec = ModelSpec("logreg", "LogReg", factory=lambda **_: LogisticRegression(), input="features")
    >>> X = pd.DataFrame({"f": np.arange(8.0)}, index=[f"c{i}" for i in range(8)])
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> split = {"train": np.array([0, 1, 2, 4, 5, 6]), "test": np.array([3, 7])}
    >>> predictions, _ = run_fold(spec, {}, X, y, split, fold=0, parts=["test"])
    >>> predictions[["case", "part", "y_true"]].values.tolist()
    [['c3', 'test', 0], ['c7', 'test', 1]]
    """
    estimator = clone(spec.build(settings, params))
    estimator.fit(_take(data, split["train"]), y[split["train"]])
    frame = _fold_predictions(estimator, data, y, split, fold, parts)
    frame.attrs["choice"] = getattr(estimator[-1] if hasattr(estimator, "steps") else estimator, "choice_", None)
    contrib = _explain_fold(estimator, _take(data, split["test"]), top_n=10, fold=fold) if explain else None
    return frame, contrib


def _prediction_check(data, y, split, fold, parts):
    """A check that a stored fold holds exactly this fold's lesions, labels and valid probabilities."""
    want = pd.concat(
        [
            pd.DataFrame(
                {
                    "case": [str(c) for c in data.index[split[p]]],
                    "part": p,
                    "y_true": y[split[p]],
                }
            )
            for p in parts
        ],
        ignore_index=True,
    )
    want = want.sort_values(["part", "case"]).reset_index(drop=True)

    def check(frame):
        if list(frame.columns) != PREDICTION_COLUMNS:
            raise ValueError(f"columns {list(frame.columns)} instead of {PREDICTION_COLUMNS}")
        got = frame.sort_values(["part", "case"]).reset_index(drop=True)
        if len(got) != len(want) or not (got["case"].astype(str) == want["case"]).all():
            raise ValueError(f"{len(got)} rows for other lesions than the fold's {len(want)}")
        if not (got["part"] == want["part"]).all() or not (got["y_true"].to_numpy() == want["y_true"]).all():
            raise ValueError("labels or parts differ from the fold's")
        if (frame["fold"] != fold).any():
            raise ValueError(f"rows of another fold than {fold}")
        prob = pd.to_numeric(frame["y_prob"], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(prob) & (prob >= 0) & (prob <= 1)).all():
            raise ValueError("probabilities missing or outside [0, 1]")

    return check


def _stored_fold(data, y, split, *, fold, parts, folders, fingerprint, explain):
    """A fold stored earlier, intact and under this fingerprint: ``(frame, contributions)``; raises FoldUnusable."""
    folder, explain_folder, _ = folders
    check = _prediction_check(data, y, split, fold, parts)
    frame = store.read_fold(folder / f"fold{fold}.csv", fingerprint, check=check, dtype={"case": str})
    contrib = None
    if explain:
        try:
            contrib = store.read_fold(explain_folder / f"fold{fold}.csv", fingerprint)
        except store.FoldUnusable:
            pass
    return frame, contrib


def _timed_fold(spec, settings, data, y, split, fold, parts, explain, params):
    """:func:`run_fold` timed, its error returned as data (it may run in a worker process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        frame, contrib = run_fold(
            spec, settings, data, y, split, fold=fold, parts=parts, explain=explain, params=params
        )
    except Exception as exc:  # noqa: BLE001 -- a failed model is reported, the others go on
        return None, None, {"failure": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    note = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    return frame, contrib, {**note, "choice": frame.attrs["choice"]}


@dataclass
class FoldJob:
    """One model's folds to run, as :func:`run_model_folds` and :func:`run_fold_jobs` take them.

    ``folders``: ``(predictions, explanations, error file)`` paths, or None to store nothing.
    """

    spec: object
    settings: dict
    data: pd.DataFrame
    y: np.ndarray
    splits: list
    parts: list
    folders: tuple | None
    fingerprint: dict
    tag: str
    explain: bool = False
    params: dict | None = None
    notes: dict | None = None


@dataclass
class _Outcome:
    """What became of one :class:`FoldJob`: its folds by number, its explanations, notes and failure."""

    frames: dict = field(default_factory=dict)
    explanations: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    failure: str | None = None

    def result(self):
        order = sorted(self.frames)
        frames = pd.concat([self.frames[f] for f in order], ignore_index=True) if order else None
        return (None if self.failure else frames), self.failure, self.explanations, [self.notes[f] for f in order]


def _reuse(job, outcome, log):
    """Take the job's intact stored folds into ``outcome``; return the fold numbers left to compute."""
    todo, announced = [], False
    for fold, split in enumerate(job.splits, start=1):
        if job.folders is None:
            todo.append(fold)
            continue
        try:
            frame, contrib = _stored_fold(
                job.data,
                job.y,
                split,
                fold=fold,
                parts=job.parts,
                folders=job.folders,
                fingerprint=job.fingerprint,
                explain=job.explain,
            )
        except store.FoldUnusable as why:
            if (job.folders[0] / f"fold{fold}.csv").exists() and not announced:
                log(f"{job.tag}: {why}; recomputing")
                announced = bool(why.changed)  # say a settings change once per model
            todo.append(fold)
            continue
        outcome.frames[fold] = frame
        outcome.notes[fold] = {**frame.attrs["notes"], "reused": True}
        if contrib is not None:
            outcome.explanations.append(contrib)
        log(f"{job.tag} fold {fold}/{len(job.splits)}: finished earlier, reused")
    return todo


def _record(job, fold, result, outcome, log):
    """Store, log and keep one computed fold of ``job`` (or its failure)."""
    frame, contrib, note = result
    label = f"{job.tag} fold {fold}/{len(job.splits)}"
    folder, explain_folder, errors = job.folders or (None, None, None)
    if frame is None:
        if outcome.failure is None:  # the first failure of the model is the one reported
            outcome.failure = note["failure"]
            log(f"{label}: FAILED ({outcome.failure})")
            if errors is not None:
                _files.atomic_write_bytes(errors, note["traceback"].encode())
        return
    note = {**(job.notes or {}), **note}
    outcome.notes[fold] = note
    if folder is not None:
        store.write_fold(folder / f"fold{fold}.csv", frame, job.fingerprint, notes=note)
        if contrib is not None:
            store.write_fold(explain_folder / f"fold{fold}.csv", contrib, job.fingerprint)
    if contrib is not None:
        outcome.explanations.append(contrib)
    outcome.frames[fold] = frame
    test = frame[frame["part"] == "test"]
    log(f"{label}: AUC {safe_auc(test['y_true'], test['y_prob']):.3f} ({note['seconds']:.1f} s)")


def _fold_workers(n_jobs, n_tasks, *, per_worker_bytes=2 << 30):
    """How many folds run at once: ``n_jobs`` (joblib's meaning), at most one per task and per ``per_worker_bytes``.

    Each worker holds its own copy of a model (a language model, a network) and of
    the fold's data; the default budget of 2 GiB a worker fits the default models.

    Parameters
    ----------
    n_jobs : int or None
        None or 1: one at a time; -1: one per CPU core.
    n_tasks : int
        Folds to compute.
    per_worker_bytes : int, default=2 GiB
        Memory one worker may need.

    Returns
    -------
    int

    Examples
    --------
    >>> _fold_workers(None, 10), _fold_workers(4, 2, per_worker_bytes=1), _fold_workers(2, 10, per_worker_bytes=1)
    (1, 2, 2)
    """
    from joblib import effective_n_jobs

    workers = max(1, min(effective_n_jobs(n_jobs), n_tasks))
    available = _available_memory()
    if available is None:  # unknown: no memory bound
        return workers
    return max(1, min(workers, available // per_worker_bytes))


def _available_memory():
    """Bytes the system can give new processes: Linux's ``MemAvailable`` (free memory plus the
    page cache it can reclaim), else free pages (POSIX), else None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def run_fold_jobs(jobs, *, n_jobs=None, log=print, progress=True):
    """Every fold of every job: stored folds reused, the others computed, ``n_jobs`` at a time.

    Folds run in worker processes (joblib) when more than one runs at once, the
    costliest models' first (in the order of ``jobs``); each finished fold is
    stored and logged as it comes back. A model whose fold fails is reported as
    failed; its other folds are not started where they are still to come.

    Parameters
    ----------
    jobs : list of FoldJob
    n_jobs : int or None, default=None
        Folds at once (see :func:`_fold_workers`).
    log : callable, default=print
        Receives one line per fold (the progress where no bar is drawn).
    progress : bool, default=True
        Draw a bar over the folds (:func:`~sklearn_llmrad._progress.progress_bar`).

    Returns
    -------
    list of tuple
        Per job: ``(predictions or None, failure message or None, explanation frames, notes)``;
        ``notes`` holds per fold its ``seconds``, ``cpu_seconds``, inner-CV ``choice``
        and whether it was ``reused``.
    """
    outcomes = [_Outcome() for _ in jobs]
    tasks = [(j, fold) for j, job in enumerate(jobs) for fold in _reuse(job, outcomes[j], log)]
    workers = _fold_workers(n_jobs, len(tasks))

    def pending():
        for j, fold in tasks:
            if outcomes[j].failure is None:  # a failed model starts no further folds
                job = jobs[j]
                args = (job.spec, job.settings, job.data, job.y, job.splits[fold - 1], fold, job.parts)
                yield (j, fold), (*args, job.explain, job.params)

    total = sum(len(job.splits) for job in jobs)
    with warnings.catch_warnings():
        # loky measures a worker's memory after its first task and replaces the worker,
        # with this warning, once it has grown by 300 MB: a light fold (an SVC) followed
        # by a network's fold in the same worker does that by design, not by a leak. The
        # fold is run to its end by the new worker; the warning only alarms the user.
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
        if workers == 1:
            results = ((key, _timed_fold(*args)) for key, args in pending())
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=workers, return_as="generator_unordered")(
                delayed(_indexed)(key, *args) for key, args in pending()
            )
        with progress_bar(total=total, desc="folds", unit="fold", initial=total - len(tasks), enabled=progress) as bar:
            for (j, fold), result in results:
                _record(jobs[j], fold, result, outcomes[j], log)
                bar.update()
    return [outcome.result() for outcome in outcomes]


def _indexed(key, *args):
    return key, _timed_fold(*args)


def run_model_folds(
    spec, settings, data, y, splits, *, parts, folders, fingerprint, tag, log, explain, params=None, notes=None
):
    """All folds of one model, one at a time: reuse intact stored folds, compute the others.

    Shared by both modes of the benchmark (see :func:`run_fold_jobs` for its arguments).
    Returns ``(predictions or None, failure message or None, explanation frames, notes)``:
    ``notes`` holds per fold its ``seconds``, ``cpu_seconds``, inner-CV ``choice`` and
    whether it was ``reused`` (as stored, with the given ``notes``; folds written by
    older versions stored none).
    """
    job = FoldJob(spec, settings, data, y, splits, parts, folders, fingerprint, tag, explain, params, notes)
    return run_fold_jobs([job], n_jobs=None, log=log, progress=False)[0]


def safe_auc(y_true, y_prob):
    """ROC AUC, or NaN when ``y_true`` holds one class."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return roc_auc_score(y_true, y_prob)
