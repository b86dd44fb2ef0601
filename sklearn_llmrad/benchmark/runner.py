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
   interrupted benchmark resumes the same job (:func:`~sklearn_llmrad.benchmark.run_fold`,
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
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _files
from ..labels import check_binary_labels
from . import store
from .fold_runs import FoldJob, run_fold_jobs
from .folds import plan_folds
from .registry import DEFAULT_REGISTRY, REFERENCE_MODEL
from .settings import BenchmarkSettings
from .shared import prepare_shared_inputs

__all__ = ["BenchmarkResult", "run_benchmark", "summarize_models"]


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


def summarize_models(specs, predictions, failures, *, n_bootstraps, random_state):
    """The results table: one row per model with metrics, CIs, DeLong p and status.

    Parameters
    ----------
    specs : list of ModelSpec
        The models, in table order.
    predictions : dict of str to pandas.DataFrame
        Out-of-fold predictions of each model that ran (see :func:`~sklearn_llmrad.benchmark.run_fold`).
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
    if cache_dir is not None:
        s = s.with_embedding_cache(cache_dir)
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
    kwargs = s.factory_kwargs(n_features=len(shared.feature_columns))
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
            FoldJob(
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
        specs, run_fold_jobs(jobs, n_jobs=s.n_jobs, log=log), strict=True
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
    explained = _explained(explanations)
    result = BenchmarkResult(
        table=table,
        predictions=predictions,
        explanations=_aggregate_explanations(explained),
        out_dir=out_dir,
        excluded=shared.failed,
        n_lesions=len(X),
        external=test is not None,
        rationales=_rationales(explained),
        settings=json.loads(json.dumps(dataclasses.asdict(s), default=str)),
        versions=_files.package_versions(),
        timings=timings,
    )
    if out_dir is not None:
        from ..report import write_report

        write_report(result, out_dir)
        _files.atomic_write_bytes(out_dir / "timings.csv", timings.to_csv(index=False).encode())
    return result


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


def _explained(frames):
    """The stored and new explanation frames of the models, in one table (None when there are none)."""
    frames = [f for f in frames if f is not None and len(f) and {"name", "case", "feature"} <= set(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _aggregate_explanations(table):
    """Per model, the mean |contribution| of each feature over the lesions it drove, most important first."""
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


def _rationales(table):
    """One row per model and explained test lesion: what predicted it, its probability and the rationale."""
    if table is None:
        return None
    columns = ["name", "case", "fold", "estimator", "probability", "text"]
    return table.assign(case=table["case"].astype(str)).drop_duplicates(["name", "case", "fold"])[columns]
