"""Compare the LLM-radiomics method with its ablations and baselines on the same folds.

:func:`run_benchmark` answers the question researchers bring to this library:
does the LLM-enhanced model beat the baselines on my data? It runs these steps,
each a function of its own:

1. check the labels and plan patient-grouped, stratified folds (or a 7:2:1
   holdout) before any work (:func:`~sklearn_llmrad.labels.check_binary_labels`,
   :func:`~sklearn_llmrad.benchmark.plan_folds`);
2. run the stateless image stages once per dataset (CLAHE, then PyRadiomics with
   the on-disk cache) and share them between every model and every fold; lesions
   that fail are listed in ``failed.csv`` and left out
   (:func:`~sklearn_llmrad.benchmark.prepare_shared_inputs`);
3. fit each model's learned part on the training fold only and store its
   out-of-fold probabilities, one file per (model, fold), written atomically with
   a checksum and the fingerprint of everything that determined it, so an
   interrupted benchmark resumes the same job (:func:`run_fold`,
   :mod:`~sklearn_llmrad.benchmark.store`);
4. aggregate: AUC, sensitivity, specificity, F1 and accuracy with
   stratified-bootstrap 95% confidence intervals, the false-negative rate, Brier
   score and expected calibration error, and a DeLong test of each model's AUC
   against the full method (:func:`summarize_models`);
5. write the report (:func:`~sklearn_llmrad.report.write_report`).

With ``test=(X_test, y_test)`` the same steps run as an external validation:
every model is fitted once on all of ``X`` (with its own inner CV where it has
one) and reports on the lesions of another dataset, ``X_test``; the image
stages run once on each lesion of both.

A model that fails is reported in the table with its error; the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from .. import _files
from .._progress import progress_bar
from ..labels import check_binary_labels
from . import store
from .folds import plan_folds
from .registry import DEFAULT_REGISTRY, REFERENCE_MODEL
from .settings import BenchmarkSettings
from .shared import prepare_shared_inputs

__all__ = ["BenchmarkResult", "run_benchmark", "run_fold", "summarize_models"]

_PREDICTION_COLUMNS = ["case", "fold", "part", "y_true", "y_prob"]

#: Columns of :attr:`BenchmarkResult.timings` and ``timings.csv``.
TIMING_COLUMNS = ["stage", "seconds", "cpu_seconds", "folds_computed", "folds_reused"]


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model: metrics with 95% CIs, DeLong p-value, calibration, status.
    predictions : dict of str -> pandas.DataFrame
        Out-of-fold predictions per model (columns ``case``, ``fold``, ``y_true``, ``y_prob``).
    explanations : pandas.DataFrame or None
        Per model that can explain itself (``name``: the method, its ablations,
        the inner-CV choice, the SVC) and feature, the mean ``|contribution|``
        over the test lesions it drove (``mean_abs_contribution``, ``n``), from
        :func:`~sklearn_llmrad.explain` on each fold's fitted model.
    rationales : pandas.DataFrame or None
        One row per model and test lesion: ``name``, ``case``, ``fold``,
        ``estimator`` (what predicted it: ``linear``, ``network``, ``average``,
        ``svc``), ``probability`` and the rationale ``text`` of
        :func:`~sklearn_llmrad.explain`.
    settings : dict
        The :class:`BenchmarkSettings` the models ran with, as JSON data.
    versions : dict
        Installed versions of the packages that shape the numbers.
    out_dir : pathlib.Path or None
    external : bool
        Whether the models were trained on one dataset and tested on another
        (``run_benchmark(test=...)``) rather than cross-validated.
    excluded : pandas.DataFrame
        Lesions left out because an image stage failed on them (``case``,
        ``stage``, ``error``, ``reason``, ``file``; also ``failed.csv``).
    n_lesions : int
        Lesions given, before exclusions (training and test lesions together
        in an external validation).
    timings : pandas.DataFrame
        Seconds by stage: ``stage`` (``extraction``, each model, ``total (wall)``),
        ``seconds``, ``cpu_seconds``, ``folds_computed``, ``folds_reused``; also
        ``timings.csv``.
    """

    table: pd.DataFrame
    predictions: dict
    explanations: pd.DataFrame | None = None
    out_dir: Path | None = None
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["case", "stage", "error", "reason"]))
    n_lesions: int = 0
    external: bool = False
    rationales: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    timings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TIMING_COLUMNS))


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
    from ..explanation import explain
    from ..vocabulary import describe_feature

    try:
        table = explain(estimator, X_test, top_n=top_n)
    except TypeError:  # not a model the package builds: nothing to explain
        return None
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
        if list(frame.columns) != _PREDICTION_COLUMNS:
            raise ValueError(f"columns {list(frame.columns)} instead of {_PREDICTION_COLUMNS}")
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


def _check_out_dir(out_dir, data_parts, n_splits):
    """Refuse an output folder holding predictions for other lesions, labels, patients or folds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / "splits.json"
    combined = store.fingerprint(data=data_parts)["data"]
    if stamp.exists():
        try:
            previous = json.loads(stamp.read_text())
            old, old_parts = previous.get("fingerprint"), previous.get("parts") or {}
        except (ValueError, AttributeError):
            old, old_parts = "unreadable", {}
        if old != combined:
            differ = [k for k in data_parts if old_parts.get(k) != data_parts[k]] if old_parts else []
            what = f"; {', '.join(differ)} differ" if differ else ""
            raise ValueError(
                f"{out_dir} holds predictions for other data or folds "
                f"(fingerprint {old} != {combined}{what}); use another --out directory or delete it"
            )
    else:
        record = {"fingerprint": combined, "parts": data_parts, "n_splits": n_splits}
        _files.atomic_write_bytes(stamp, json.dumps(record, indent=1).encode())


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
class _FoldJob:
    """One model's folds to run, as :func:`run_model_folds` and :func:`_run_fold_jobs` take them.

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
    """What became of one :class:`_FoldJob`: its folds by number, its explanations, notes and failure."""

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
    >>> _fold_workers(None, 10), _fold_workers(4, 2), _fold_workers(2, 10, per_worker_bytes=1)
    (1, 2, 2)
    """
    from joblib import effective_n_jobs

    workers = max(1, min(effective_n_jobs(n_jobs), n_tasks))
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no memory bound
        return workers
    return max(1, min(workers, available // per_worker_bytes))


def _run_fold_jobs(jobs, *, n_jobs=None, log=print, progress=True):
    """Every fold of every job: stored folds reused, the others computed, ``n_jobs`` at a time.

    Folds run in worker processes (joblib) when more than one runs at once, the
    costliest models' first (in the order of ``jobs``); each finished fold is
    stored and logged as it comes back. A model whose fold fails is reported as
    failed; its other folds are not started where they are still to come.

    Parameters
    ----------
    jobs : list of _FoldJob
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

    if workers == 1:
        results = ((key, _timed_fold(*args)) for key, args in pending())
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=workers, return_as="generator_unordered")(
            delayed(_indexed)(key, *args) for key, args in pending()
        )
    total = sum(len(job.splits) for job in jobs)
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

    Shared by both modes of the benchmark (see :func:`_run_fold_jobs` for its arguments).
    Returns ``(predictions or None, failure message or None, explanation frames, notes)``:
    ``notes`` holds per fold its ``seconds``, ``cpu_seconds``, inner-CV ``choice`` and
    whether it was ``reused`` (as stored, with the given ``notes``; folds written by
    older versions stored none).
    """
    job = _FoldJob(spec, settings, data, y, splits, parts, folders, fingerprint, tag, explain, params, notes)
    return _run_fold_jobs([job], n_jobs=None, log=log, progress=False)[0]


def summarize_models(specs, predictions, failures, *, n_bootstraps, random_state):
    """The results table: one row per model with metrics, CIs, DeLong p and status.

    Parameters
    ----------
    specs : list of ModelSpec
        The models, in table order.
    predictions : dict of str to pandas.DataFrame
        Out-of-fold predictions of each model that ran (see :func:`run_fold`).
    failures : dict of str to str
        The error of each model that failed.
    n_bootstraps : int
        Bootstrap resamples of the confidence intervals.
    random_state : int
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per model; ``attrs["delong_reference"]`` names the model the
        DeLong tests compare against (the full method when it ran).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_llmrad.benchmark import ModelSpec, summarize_models
    >>> rng = np.random.default_rng(0)
    >>> y = np.array([0, 1] * 20)
    >>> frame = pd.DataFrame({"case": [f"c{i}" for i in range(40)], "fold": 0, "part": "test",
    ...                       "y_true": y, "y_prob": np.clip(0.3 * y + rng.uniform(0, 0.7, 40), 0, 1)})
    >>> specs = [ModelSpec("a", "Model A", factory=None), ModelSpec("b", "Model B", factory=None)]
    >>> table = summarize_models(specs, {"a": frame}, {"b": "ValueError: boom"},
    ...                          n_bootstraps=20, random_state=0)
    >>> table["status"].tolist()
    ['ok', 'failed: ValueError: boom']
    """
    from ..metrics import delong_test, summarize_predictions

    # DeLong against the full method; without it, against the first model that ran
    reference_name = REFERENCE_MODEL if REFERENCE_MODEL in predictions else next(iter(predictions), None)
    reference = predictions.get(reference_name)
    rows = []
    for spec in specs:
        row = {"model": spec.label, "name": spec.name}
        if spec.name in failures:
            row["status"] = "failed: " + failures[spec.name]
            rows.append(row)
            continue
        test = predictions[spec.name][predictions[spec.name]["part"] == "test"]
        summary = summarize_predictions(
            test["y_true"].to_numpy(),
            test["y_prob"].to_numpy(),
            n_bootstraps=n_bootstraps,
            random_state=random_state,
        )
        row.update(dict(summary))
        if reference is not None and spec.name != reference_name:
            ref = reference.loc[reference["part"] == "test", ["case", "y_prob"]]
            common = test.merge(ref.rename(columns={"y_prob": "y_prob_ref"}), on="case", how="inner")
            result = delong_test(
                common["y_true"].to_numpy(),
                common["y_prob_ref"].to_numpy(),
                common["y_prob"].to_numpy(),
            )
            row["delong_p"] = float(result.p_value)
        row["status"] = "ok"
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["delong_reference"] = reference_name
    return table


def _write_failed(out_dir, failed):
    path = out_dir / "failed.csv"
    if len(failed):
        _files.atomic_write_bytes(path, failed.to_csv(index=False).encode())
    elif path.exists():
        path.unlink()


def run_benchmark(
    X,
    y,
    groups,
    *,
    settings=None,
    models=None,
    registry=None,
    out_dir=None,
    cache_dir=None,
    test=None,
    log=print,
    **options,
):
    """Run the method, its ablations and the baselines on the same grouped folds.

    Parameters
    ----------
    X : pandas.DataFrame
        Lesions in the data contract (``image``, ``mask``, clinical columns).
    y : array-like of shape (n,)
        0 benign, 1 malignant (see ``pos_label`` for other codings). Checked
        before any work: missing, fractional or non-binary labels are refused
        naming their rows.
    groups : array-like of shape (n,)
        Patient ids.
    settings : BenchmarkSettings, default=None
        Folds, models' settings, bootstrap, image stages (see
        :class:`BenchmarkSettings`); its defaults when None.
    models : list of str, default=None
        Model names (see :func:`available_models`); all by default.
    registry : ModelRegistry, default=None
        Where model names are looked up; :data:`DEFAULT_REGISTRY` by default.
    out_dir : str or path-like, default=None
        Where predictions, tables and plots go. Finished folds found there are
        reused (resume) only when intact and computed with the same settings,
        image stages, image files, language model and package versions (the
        others are recomputed, saying what changed); predictions for other
        lesions, labels, patients or folds are refused. Files are written
        through ``.llmrad-tmp-...`` temporaries; those a killed run left in
        the folders this run writes to are deleted, nothing else.
    cache_dir : str or path-like, default=None
        Radiomics and embedding cache (defaults to ``out_dir/cache``).
    test : tuple ``(X_test, y_test)`` or ``(X_test, y_test, groups_test)``, default=None
        External validation: each model is fitted once on all of ``X`` (its
        own inner CV where it has one; ``cv`` and ``holdout`` are not used) and
        its predictions on ``X_test``, lesions of another dataset in the data
        contract, make the table. ``X_test`` keeps the columns of ``X`` (a
        column ``X`` has and ``X_test`` lacks is missing for every test lesion);
        its case ids that also are in ``X`` are prefixed ``"test:"``.
    log : callable, default=print
        Receives one progress line at a time.
    **options
        Fields of :class:`BenchmarkSettings` replacing those of ``settings``
        (``k=``, ``cv=``, ``holdout=``, ``language_model=``, ``n_bootstraps=``, ...);
        ``encoder=`` is the deprecated name of ``language_model=``.

    Returns
    -------
    BenchmarkResult

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import run_benchmark
    >>> run_benchmark(None, [0, 1, 2], None)
    Traceback (most recent call last):
    ...
    TypeError: X must be a pandas DataFrame of lesions, got NoneType
    """
    started = time.perf_counter()
    s = (settings or BenchmarkSettings()).replace(**options)
    # 1. everything that can be checked without touching an image
    y, groups = _check_inputs(X, y, groups, pos_label=s.pos_label)
    specs = (DEFAULT_REGISTRY if registry is None else registry).resolve(models)
    if test is None:
        plan_folds(y, groups, cv=s.cv, holdout=s.holdout, random_state=s.random_state)
    else:  # one frame of both datasets; the split is which dataset a lesion came from
        X, y, groups, in_test = _join_test(X, y, groups, test, pos_label=s.pos_label, log=log)
    out_dir = None if out_dir is None else Path(out_dir)
    if cache_dir is None and out_dir is not None:
        cache_dir = out_dir / "cache"
    if cache_dir is not None and s.language_model is not None:
        s = s.replace(encoder_params={"cache_dir": str(Path(cache_dir) / "embeddings"), **(s.encoder_params or {})})
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        # only the folders this run writes into, never the rest of the user's tree
        _files.remove_stale_temporaries(
            out_dir,
            out_dir / "errors",
            *(out_dir / kind / spec.name for spec in specs for kind in ("predictions", "explanations")),
        )

    # 2. shared image stages; failed lesions are left out, all of them listed
    shared = prepare_shared_inputs(
        X,
        {spec.input for spec in specs},
        preprocessor_params=s.preprocessor_params,
        extractor_params=s.extractor_params,
        cache_dir=cache_dir,
        n_jobs=s.n_jobs,
        log=log,
    )
    y, groups = _leave_out_failed(shared, X, y, groups, out_dir=out_dir, max_fraction=s.max_failed_fraction, log=log)
    if test is None:
        splits = plan_folds(y, groups, cv=s.cv, holdout=s.holdout, random_state=s.random_state)
    else:
        splits = [_external_split(in_test.loc[shared.kept].to_numpy(), y, out_dir)]
    kwargs = s.factory_kwargs(k=min(s.k, len(shared.feature_columns)) if shared.feature_columns else s.k)
    if out_dir is not None:
        _check_out_dir(out_dir, store.data_fingerprint(shared.kept, y, groups, splits), len(splits))

    # 3. every model on every fold
    fingerprint_of = _fingerprinter(shared, s, kwargs)
    parts = ["test"] + (["validation"] if s.holdout is not None and test is None else [])
    jobs = []
    for m, spec in enumerate(specs, start=1):
        folders = None
        if out_dir is not None:
            errors = out_dir / "errors" / f"{spec.name}.txt"
            folders = (out_dir / "predictions" / spec.name, out_dir / "explanations" / spec.name, errors)
        jobs.append(
            _FoldJob(
                spec,
                kwargs,
                shared.inputs[spec.input],
                y,
                splits,
                parts,
                folders,
                fingerprint_of(spec),
                tag=f"[{m}/{len(specs)} {spec.name}]",
                explain=spec.input == "features",  # every model explain() may know
                params=(s.model_params or {}).get(spec.name),
            )
        )
    predictions, failures, explanations, seconds = {}, {}, [], {}
    for spec, (frame, failure, explained, notes) in zip(
        specs, _run_fold_jobs(jobs, n_jobs=s.n_jobs, log=log), strict=True
    ):
        if failure is not None:
            failures[spec.name] = failure
        elif frame is not None:
            predictions[spec.name] = frame
        explanations += [frame.assign(name=spec.name) for frame in explained]
        seconds[spec.name] = notes
    timings = stage_timings(shared.seconds, specs, seconds, wall=time.perf_counter() - started)
    log("[timings] " + "; ".join(f"{row.stage} {row.seconds:.1f} s" for row in timings.itertuples()))

    # 4. aggregate, 5. report
    table = summarize_models(specs, predictions, failures, n_bootstraps=s.n_bootstraps, random_state=s.random_state)
    result = BenchmarkResult(
        table=table,
        predictions=predictions,
        explanations=_aggregate_explanations(explanations),
        out_dir=out_dir,
        excluded=shared.failed,
        n_lesions=len(X),
        external=test is not None,
        rationales=_rationales(explanations),
        settings=json.loads(json.dumps(dataclasses.asdict(s), default=str)),
        versions=_files.package_versions(),
        timings=timings,
    )
    if out_dir is not None:
        from ..report import write_report

        write_report(result, out_dir)
        _files.atomic_write_bytes(out_dir / "timings.csv", timings.to_csv(index=False).encode())
    return result


def _check_inputs(X, y, groups, *, pos_label):
    """Labels, patients and case ids, checked before any image is read; returns ``(y, groups)``."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame of lesions, got {type(X).__name__}")
    y = check_binary_labels(y, index=X.index, pos_label=pos_label)
    groups = np.asarray(groups, dtype=object)
    if len(groups) != len(X):
        raise ValueError(f"groups has {len(groups)} entries for {len(X)} lesions")
    no_patient = [case for case, g in zip(X.index, groups, strict=True) if pd.isna(g) or str(g).strip() == ""]
    if no_patient:
        raise ValueError(f"{len(no_patient)} lesion(s) have no patient id in groups: {no_patient[:8]}")
    if not X.index.is_unique:
        duplicated = X.index[X.index.duplicated()].unique().tolist()
        raise ValueError(f"case ids (X.index) are not unique: {duplicated[:8]}")
    return y, groups


def _join_test(X, y, groups, test, *, pos_label, log):
    """``X`` and the external test set in one frame: ``(X, y, groups, in_test)``, ``in_test`` a boolean Series."""
    if not isinstance(test, tuple) or len(test) not in (2, 3):
        raise TypeError("test must be a tuple (X_test, y_test) or (X_test, y_test, groups_test)")
    X_test, y_test = test[0], test[1]
    groups_test = test[2] if len(test) == 3 else (None if X_test is None else X_test.index.astype(str))
    y_test, groups_test = _check_inputs(X_test, y_test, groups_test, pos_label=pos_label)
    clash = X_test.index.astype(str).isin(X.index.astype(str))
    if clash.any():
        log(f"[external] {int(clash.sum())} test case id(s) also name training lesions: prefixed 'test:'")
        X_test = X_test.set_axis([f"test:{c}" if hit else c for c, hit in zip(X_test.index, clash, strict=True)])
    missing = [c for c in X.columns if c not in X_test.columns]
    if missing:
        log(f"[external] the test dataset lacks column(s) {missing}: missing for every test lesion")
    joined = pd.concat([X, X_test.reindex(columns=X.columns)])
    in_test = pd.Series(np.r_[np.zeros(len(X), bool), np.ones(len(X_test), bool)], index=joined.index)
    log(f"[external] training on all {len(X)} lesions, testing on {len(X_test)} lesions of the other dataset")
    return joined, np.r_[y, y_test], np.r_[groups, groups_test], in_test


def _external_split(in_test, y, out_dir):
    """The one split of an external validation; both datasets must keep both classes after exclusions."""
    for part, rows in (("training", ~in_test), ("test", in_test)):
        if len(np.unique(y[rows])) < 2:
            where = f" (see {out_dir / 'failed.csv'})" if out_dir is not None else ""
            raise ValueError(f"the {part} dataset has one class left after the image stages{where}")
    return {"train": np.flatnonzero(~in_test), "test": np.flatnonzero(in_test)}


def _leave_out_failed(shared, X, y, groups, *, out_dir, max_fraction, log):
    """Write ``failed.csv``, refuse if too many failed, return ``(y, groups)`` of the others."""
    if out_dir is not None:
        _write_failed(out_dir, shared.failed)
    n_failed = len(shared.failed)
    if not n_failed:
        return y, groups
    where = f" (listed in {out_dir / 'failed.csv'})" if out_dir is not None else ""
    log(f"[shared] {n_failed} of {len(X)} lesion(s) failed and are left out{where}")
    if n_failed > max_fraction * len(X):
        first = shared.failed.iloc[0]
        raise ValueError(
            f"{n_failed} of {len(X)} lesions failed in the image stages{where}, more than "
            f"max_failed_fraction={max_fraction}; first: {first['case']!r}: {first['reason']}"
        )
    keep = X.index.get_indexer(shared.kept)
    y, groups = y[keep], groups[keep]
    check_binary_labels(y, index=shared.kept)
    return y, groups


def _fingerprinter(shared, s, kwargs):
    """``fingerprint_of(spec)``: what determines a fold's result for that model."""
    common = {"images": store.lesion_sources_digest(shared.inputs["raw"]), "versions": _files.package_versions()}
    features = {"preprocessing": s.preprocessor_params, "extraction": s.extractor_params}
    stages = {"raw": None, "crops": {"preprocessing": s.preprocessor_params}, "features": features}
    lm_digest = store.language_model_digest(s.language_model)

    def fingerprint_of(spec):
        params = (s.model_params or {}).get(spec.name)
        return store.fingerprint(
            model=store.settings_digest(lambda: spec.build(kwargs, params)),
            image_stages=stages[spec.input],
            language_model=lm_digest if spec.input == "features" else None,
            **common,
        )

    return fingerprint_of


def stage_timings(extraction_seconds, specs, notes, *, wall):
    """Seconds by stage: the shared image stages, each model (its folds' seconds summed), the whole run.

    Parameters
    ----------
    extraction_seconds : float
        The shared image stages (CLAHE and radiomics extraction).
    specs : list of ModelSpec
        The models, in table order.
    notes : dict of str -> list of dict
        Per model name, its folds' notes (``seconds``, ``cpu_seconds``, ``reused``).
        A reused fold counts the seconds it took when it was computed.
    wall : float
        Wall-clock seconds of the whole run (less than the sum of the stages when
        folds run in parallel).

    Returns
    -------
    pandas.DataFrame
        Columns ``stage``, ``seconds``, ``cpu_seconds``, ``folds_computed``,
        ``folds_reused``; rows ``extraction``, one per model, ``total (wall)``.

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import ModelSpec
    >>> specs = [ModelSpec("a", "Model A", factory=None)]
    >>> notes = {"a": [{"seconds": 2.0, "cpu_seconds": 1.5}, {"seconds": 3.0, "reused": True}]}
    >>> stage_timings(10.0, specs, notes, wall=16.0)[["stage", "seconds", "folds_reused"]].values.tolist()
    [['extraction', 10.0, 0], ['a', 5.0, 1], ['total (wall)', 16.0, 0]]
    """
    rows = [{"stage": "extraction", "seconds": float(extraction_seconds)}]
    for spec in specs:
        folds = notes.get(spec.name, [])
        rows.append(
            {
                "stage": spec.name,
                "seconds": float(sum(n.get("seconds", 0.0) for n in folds)),
                "cpu_seconds": float(sum(n.get("cpu_seconds", 0.0) for n in folds)),
                "folds_computed": sum(not n.get("reused", False) for n in folds),
                "folds_reused": sum(bool(n.get("reused", False)) for n in folds),
            }
        )
    rows.append({"stage": "total (wall)", "seconds": float(wall)})
    table = pd.DataFrame(rows, columns=TIMING_COLUMNS)
    counts = ["folds_computed", "folds_reused"]
    table[counts] = table[counts].fillna(0).astype(int)
    return table


def safe_auc(y_true, y_prob):
    """ROC AUC, or NaN when ``y_true`` holds one class."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return roc_auc_score(y_true, y_prob)


def _explained(frames):
    """The stored and new explanation frames of the models, in one table (None when there are none)."""
    frames = [f for f in frames if f is not None and len(f) and {"name", "case", "feature"} <= set(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _aggregate_explanations(frames):
    """Per model, the mean |contribution| of each feature over the lesions it drove, most important first."""
    table = _explained(frames)
    if table is None:
        return None
    order = {name: i for i, name in enumerate(pd.unique(table["name"]))}  # the models' table order
    return (
        table.dropna(subset=["feature"])
        .assign(abs_contribution=lambda t: t["contribution"].abs(), description=lambda t: t["description"].fillna(""))
        .groupby(["name", "feature", "description"], sort=False)
        .agg(mean_abs_contribution=("abs_contribution", "mean"), n=("abs_contribution", "size"))
        .reset_index()
        .sort_values(
            ["name", "mean_abs_contribution"],
            ascending=[True, False],
            key=lambda column: column.map(order) if column.name == "name" else column,
        )
        .reset_index(drop=True)
    )


def _rationales(frames):
    """One row per model and explained test lesion: what predicted it, its probability and the rationale."""
    table = _explained(frames)
    if table is None:
        return None
    columns = ["name", "case", "fold", "estimator", "probability", "text"]
    return table.assign(case=table["case"].astype(str)).drop_duplicates(["name", "case", "fold"])[columns]
