"""Leave-one-study-out benchmark of the semantic prior on public radiomics tables.

Does knowledge of *which features to trust*, learned from other studies through the
language model's reading of the feature names, help a model on a new study?
:func:`run_transfer_benchmark` answers it the only honest way: for each target study

1. a :class:`~sklearn_llmrad.prior.SemanticPrior` is fitted on all *other* studies
   (and a control prior with random name vectors), cached in the output folder under a
   key made of the studies used, their data, the language model and the settings;
   a prior that contains the target study, or another table of the same paper
   (:func:`related_studies`), is refused;
2. every model is evaluated by the same seeded, stratified 5-fold cross-validation
   on the target, fitted on the training folds only;
3. each (study, model, fold) result is stored like a lesion benchmark's folds
   (:mod:`~sklearn_llmrad.benchmark.store`: atomic, checksummed, with a fingerprint of
   the settings, table, folds, prior key and package versions) and reused on a rerun
   only when intact and the fingerprint matches; one fold runner serves both modes.

The summary follows Demšar (2006, JMLR 7:1-30): per-study AUC with stratified-bootstrap
95% confidence intervals, the mean rank of every model over studies, a Friedman test,
and Wilcoxon signed-rank tests over studies between every pair of models.

The models (:func:`~sklearn_llmrad.benchmark.study_models`) are the fusion network with and without the prior
and with a random-names prior, the default pipeline (``llmrad-choice``: the network
with prior against its linear path, by inner CV), the prior-weighted logistic
regression, the same with random name vectors (the control
that shows the gain comes from the names), plain logistic regression with the same
inner-CV tuning of ``C``, Radiomics + SVC and a random forest. Tables hold features
only (no images), so the image stages are skipped: the full method starts at Top-K.
Statistics: :func:`~sklearn_llmrad.significance.summarize_studies`; report:
:func:`~sklearn_llmrad.report.write_transfer_report`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .. import _files
from ..prior import SemanticPrior
from . import store
from .fold_runs import run_model_folds, safe_auc
from .folds import make_splits
from .priors import fit_study_prior, prior_key, related_studies
from .registry import ModelRegistry, study_models
from .settings import STUDY_SETTINGS

__all__ = ["DEFAULT_MODELS", "TransferResult", "collect_transfer_results", "load_tables", "run_transfer_benchmark"]

#: Models run by default, in table order.
DEFAULT_MODELS = (
    "llmrad-prior",
    "llmrad",
    "llmrad-random-prior",
    "llmrad-choice",
    "prior-lr",
    "random-prior-lr",
    "lr",
    "radiomics-svc",
    "random-forest",
    # the stronger baselines (issue 22): about 16 % more model time than the nine above
    "lightgbm",
    "extra-trees",
    "elastic-net",
    "size-lr",
)


# -- tables -------------------------------------------------------------------------
def _as_table(name, table):
    if hasattr(table, "data") and hasattr(table, "target"):
        X, y = table.data, table.target
    else:
        try:
            X, y = table
        except (TypeError, ValueError):
            raise TypeError(
                f"table {name!r}: expected a Bunch with data/target or an (X, y) pair, got {type(table).__name__}"
            ) from None
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"table {name!r}: X must be a DataFrame with feature-name columns")
    y = np.asarray(y)
    values = set(np.unique(y).tolist())
    if not values <= {0, 1} or len(values) != 2:
        raise ValueError(f"table {name!r}: the target must be binary 0/1, got values {sorted(values)}")
    if len(y) != len(X):
        raise ValueError(f"table {name!r}: {len(X)} rows but {len(y)} targets")
    return X, y.astype(int)


def load_tables(root=None, *, studies=None):
    """Load radMLBench studies as ``{name: (X, y)}``.

    Parameters
    ----------
    root : str or path-like, default=None
        Folder of the radMLBench files (see
        :func:`~sklearn_llmrad.datasets.load_radmlbench`).
    studies : list of str, default=None
        Names to load; all studies found by default.

    Returns
    -------
    dict of str -> (DataFrame, ndarray)

    Examples
    --------
    Two tiny tables in radMLBench's format (gzip CSV with ``ID``, ``Target`` and the
    features) under real study names (the loader knows no others):

    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from sklearn_llmrad.benchmark import load_tables
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for study in ("Ahn2021", "HNSCC"):
    ...         frame = pd.DataFrame({"ID": range(4), "Target": [0, 1, 0, 1],
    ...                               "original_glcm_Idmn": [0.1, 0.9, 0.2, 0.8]})
    ...         frame.to_csv(Path(root) / f"{study}.gz", index=False)
    ...     tables = load_tables(root)
    >>> sorted(tables)
    ['Ahn2021', 'HNSCC']
    >>> X, y = tables["HNSCC"]
    >>> list(X.columns), y.tolist()
    (['original_glcm_Idmn'], [0, 1, 0, 1])
    """
    from ..datasets.radmlbench import list_radmlbench, load_radmlbench

    names = list_radmlbench(data_home=root) if studies is None else list(studies)
    tables = {}
    for name in names:
        bunch = load_radmlbench(name, data_home=root)
        tables[name] = _as_table(name, bunch)
    return tables


@dataclass
class TransferResult:
    """What :func:`run_transfer_benchmark` returns.

    Attributes
    ----------
    per_study : DataFrame
        One row per (study, model): ``auc`` with ``auc_low``/``auc_high`` (95%
        stratified bootstrap over the pooled out-of-fold predictions), ``fold_auc_mean``,
        ``n``, ``n_positive``, ``seconds``, ``cpu_seconds``, ``cached``, ``status``.
    aucs : DataFrame
        Studies x models AUC.
    summary, pairs, friedman_p
        See :func:`~sklearn_llmrad.significance.summarize_studies`.
    priors : dict of str -> dict
        Per target: the studies of its priors (``"language_model"``, ``"random"``)
        and their cache keys.
    labels : dict of str -> str
    timing : dict
        Wall and CPU seconds of the whole run and of the prior fits.
    settings : dict
    out_dir : pathlib.Path or None
    """

    per_study: pd.DataFrame
    aucs: pd.DataFrame
    summary: pd.DataFrame
    pairs: pd.DataFrame
    friedman_p: float
    priors: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    out_dir: Path | None = None


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


def _study_row(frame, notes, *, n_bootstraps, random_state):
    """The result row of one (study, model) from its out-of-fold predictions (rows in table order)."""
    from ..metrics import bootstrap_ci

    frame = frame.iloc[np.argsort(frame["case"].astype(int).to_numpy(), kind="stable")]
    y, proba, fold = frame["y_true"].to_numpy(), frame["y_prob"].to_numpy(dtype=float), frame["fold"].to_numpy()
    ci = bootstrap_ci(y, proba, "roc_auc", n_bootstraps=n_bootstraps, random_state=random_state)
    choices = pd.Series([n.get("choice") for n in notes]).dropna().value_counts()
    return {
        "seconds": sum(n.get("seconds", 0.0) for n in notes),
        "cpu_seconds": sum(n.get("cpu_seconds", 0.0) for n in notes),
        "cached": all(n.get("reused", False) for n in notes),
        "auc": ci.estimate,
        "auc_low": ci.low,
        "auc_high": ci.high,
        "fold_auc_mean": float(np.nanmean([safe_auc(y[fold == i], proba[fold == i]) for i in np.unique(fold)])),
        "n": len(y),
        "n_positive": int(y.sum()),
        "choices": ", ".join(f"{name} {int(n)}" for name, n in choices.items()) or None,
        "status": "ok",
    }


def _run_study_model(target, X, y, spec, prior, key, run):
    """All folds of one model on one target study (its table is the only one that travels to a worker)."""
    s, out_dir = run["settings"], run["out_dir"]
    data = X.reset_index(drop=True)  # case ids: row positions, so results come back in table order
    splits = make_splits(y, None, cv=s.cv, random_state=s.random_state)
    kwargs = s.factory_kwargs(n_features=X.shape[1], prior=prior)
    params = (s.model_params or {}).get(spec.name)
    # the model's settings with an unfitted stand-in for the prior: the prior is named by its cache key
    stand_in = s.factory_kwargs(k=kwargs["k"], prior=None if prior is None else SemanticPrior())
    fingerprint = store.fingerprint(
        model=store.settings_digest(lambda: spec.build(stand_in, params)),
        prior=key,
        table=store.table_digest(X, y),
        folds=store.data_fingerprint(data.index, y, data.index, splits),
        versions=run["versions"],
    )
    folders = None
    if out_dir is not None:
        study, model = _safe_name(target), _safe_name(spec.name)
        errors = out_dir / "errors" / f"{study}__{model}.txt"
        folders = (out_dir / "predictions" / study / model, out_dir / "explanations" / study / model, errors)
    tag = f"[{run['position'][target]}/{len(run['position'])} {target}] {spec.name}"
    frame, failure, _, notes = run_model_folds(
        spec,
        kwargs,
        data,
        y,
        splits,
        parts=["test"],
        folders=folders,
        fingerprint=fingerprint,
        tag=tag,
        log=run["log"],
        explain=False,
        params=params,
        notes={"study": target, "model": spec.name},
    )
    row = {"study": target, "model": spec.name}
    if failure is not None:
        return {**row, "status": "failed: " + failure}
    row.update(_study_row(frame, notes, n_bootstraps=s.n_bootstraps, random_state=s.random_state))
    if not row["cached"]:
        run["log"](
            f"{tag}: AUC {row['auc']:.3f} [{row['auc_low']:.3f}, {row['auc_high']:.3f}] ({row['seconds']:.1f} s)"
        )
    return row


def _loso_priors(tables, targets, kinds, s, groups, prior_cache, log):
    """The leave-one-study-out priors of every kind for every target: ``{(target, kind): (prior, key)}``,
    the studies and keys of each target's priors, and their CPU seconds."""
    hashes = {name: store.table_digest(*table) for name, table in tables.items()} if kinds else {}
    prior_kwargs = dict(language_model=s.language_model, prior_params=s.prior_params, random_state=s.random_state)

    def fit_priors(target):
        c0 = time.process_time()
        fitted = {}
        for kind in kinds:
            fitted[kind] = fit_study_prior(
                tables,
                target,
                name_vectors=kind,
                cache_dir=prior_cache,
                log=log,
                leave_out=groups.get(target, ()),
                table_digests=hashes,
                **prior_kwargs,
            )
            # embed the target's names here, once: the model tasks need no language model for the prior
            fitted[kind][0].embed_names(list(tables[target][0].columns))
        return target, fitted, time.process_time() - c0

    def cached(target):
        """Every prior of the target is in the cache: loaded here, no table needs to travel to a worker."""
        keys = [
            prior_key(tables, target, kind, leave_out=groups.get(target, ()), hashes=hashes, **prior_kwargs)[2]
            for kind in kinds
        ]
        return prior_cache is not None and all(
            (prior_cache / "priors" / k / "transfer_key.json").is_file() for k in keys
        )

    ready = [target for target in targets if kinds and cached(target)]
    to_fit = [target for target in targets if kinds and target not in ready]
    fitted_priors, priors, cpu = {}, {}, 0.0
    loaded = [fit_priors(target) for target in ready]
    for target, fitted, seconds in loaded + Parallel(n_jobs=s.n_jobs)(delayed(fit_priors)(t) for t in to_fit):
        for kind, (prior, key) in fitted.items():
            fitted_priors[target, kind] = (prior, key)
            priors.setdefault(target, {})[kind] = {"studies": [str(x) for x in prior.studies_], "key": key}
        cpu += seconds
    return fitted_priors, priors, cpu


def run_transfer_benchmark(
    tables, *, studies=None, models=None, registry=None, settings=None, out_dir=None, log=print, **options
):
    """Leave-one-study-out evaluation of the semantic prior and the baselines.

    Parameters
    ----------
    tables : dict of str -> (DataFrame, array) or Bunch
        The studies (e.g. :func:`load_tables`). Every study is a target and, for the
        other targets, a source of the prior.
    studies : list of str, default=None
        Evaluate only these targets (their priors still use all other tables).
    models : list of str, default=None
        Names from the registry (:func:`~sklearn_llmrad.benchmark.study_models`);
        :data:`DEFAULT_MODELS` by default.
    registry : ModelRegistry, default=None
        Where model names are looked up; ``ModelRegistry(mode="studies")`` by default.
    settings : BenchmarkSettings, default=None
        :data:`STUDY_SETTINGS` by default. Read here: ``cv`` (stratified folds on each
        target, shuffled and seeded by ``random_state``, the same for every model),
        ``k`` (capped per study), ``language_model`` (the encoder's and the priors'),
        ``encoder_params``, ``classifier_params``, ``prior_params``, ``model_params``,
        ``related`` (the studies left out of a target's prior with it:
        :func:`related_studies`, tables of the same paper, by default; ``{}``: the
        target only), ``device``, ``n_bootstraps``, ``random_state`` and ``n_jobs``
        (target studies in parallel, joblib processes; results equal a serial run's
        up to floating-point summation order; ``log`` runs in the workers then).
    out_dir : str or path-like, default=None
        Results, cached priors, embeddings and the report. A rerun reuses every
        stored fold whose fingerprint matches and every cached prior.
    log : callable, default=print
    **options
        Fields of :class:`BenchmarkSettings` replacing those of ``settings``
        (``cv=``, ``k=``, ``n_bootstraps=``, ...).

    Returns
    -------
    TransferResult

    Examples
    --------
    Plain logistic regression (one ``C``) on two tiny studies, 2-fold CV, no output
    folder:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def table(n=20):
    ...     y = np.tile([0, 1], n // 2)
    ...     X = pd.DataFrame({"original_shape_VoxelVolume": y + rng.normal(size=n),
    ...                       "original_glcm_Idmn": rng.normal(size=n)})
    ...     return X, y
    >>> from sklearn_llmrad.benchmark import run_transfer_benchmark
    >>> result = run_transfer_benchmark(
    ...     {"A": table(), "B": table()}, models=["lr"], cv=2, n_bootstraps=20,
    ...     model_params={"lr": {"model__Cs": (1.0,)}}, log=lambda line: None)
    >>> result.aucs.shape, list(result.per_study["status"])
    ((2, 1), ['ok', 'ok'])
    """
    from ..report import display_model_name, write_transfer_report
    from ..significance import summarize_studies

    started, cpu_started = time.perf_counter(), time.process_time()
    s = (settings or STUDY_SETTINGS).replace(**options)
    names = list(DEFAULT_MODELS if models is None else models)
    registry = ModelRegistry(mode="studies") if registry is None else registry
    unknown = [n for n in s.model_params or {} if n not in registry.specs()]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown} in model_params; available: {registry.names()}")
    specs = registry.resolve(names)
    tables = {str(name): _as_table(name, table) for name, table in tables.items()}
    if len(tables) < 2:
        raise ValueError(f"leave-one-study-out needs at least two tables, got {len(tables)}")
    targets = sorted(tables) if studies is None else list(studies)
    missing = [t for t in targets if t not in tables]
    if missing:
        raise ValueError(f"unknown target study(ies) {missing}; tables: {sorted(tables)}")
    out_dir = None if out_dir is None else Path(out_dir)
    if out_dir is not None:
        s = s.replace(encoder_params={"cache_dir": str(out_dir / "cache" / "embeddings"), **(s.encoder_params or {})})
        if any((out_dir / "results").glob("*/*.json")):
            log(f"{out_dir / 'results'} holds results of an older version (one file per study and model): not reused")
    groups = related_studies(tables) if s.related is None else {t: list(s.related.get(t, ())) for t in tables}
    for target in targets:  # refuse what cannot be run before any work
        if not set(tables) - {target, *groups.get(target, ())}:
            raise ValueError(
                f"study {target!r}: no study is left for its prior once it and its related studies "
                f"{groups.get(target, [])} are left out"
            )
        n_pos = int(tables[target][1].sum())
        if min(n_pos, len(tables[target][1]) - n_pos) < s.cv:
            raise ValueError(
                f"study {target!r}: {n_pos} positives and {len(tables[target][1]) - n_pos} negatives; "
                f"{s.cv}-fold stratified CV needs at least {s.cv} of each"
            )

    # 1. the priors: cached ones loaded here, the others fitted one task per target
    p0 = time.perf_counter()
    kinds = list(dict.fromkeys(spec.prior for spec in specs if spec.prior is not None))
    prior_cache = None if out_dir is None else out_dir / "cache"
    fitted, priors, prior_cpu = _loso_priors(tables, targets, kinds, s, groups, prior_cache, log)
    prior_seconds = time.perf_counter() - p0

    # 2. every (target, model), costliest first so that parallel workers finish together:
    # larger tables first, and the inner-CV choice (several fits per fold) before the rest
    def cost(task):
        X = tables[task[0]][0]
        return -(X.shape[0] * X.shape[1] * (4 if task[1].name == "llmrad-choice" else 1))

    tasks = sorted(((target, spec) for target in targets for spec in specs), key=cost)
    run = dict(
        settings=s,
        versions=_files.package_versions(),
        out_dir=out_dir,
        log=log,
        position={target: t for t, target in enumerate(targets, start=1)},
    )
    done = Parallel(n_jobs=s.n_jobs)(
        delayed(_run_study_model)(target, *tables[target], spec, *fitted.get((target, spec.prior), (None, None)), run)
        for target, spec in tasks
    )
    position = {(target, spec.name): i for i, (target, spec) in enumerate((t, sp) for t in targets for sp in specs)}
    per_study = pd.DataFrame(sorted(done, key=lambda row: position[row["study"], row["model"]]))
    ok = per_study[per_study["status"] == "ok"] if len(per_study) else per_study
    aucs = (
        ok.pivot(index="study", columns="model", values="auc").reindex(index=targets, columns=names)
        if len(ok)
        else pd.DataFrame(index=targets, columns=names, dtype=float)
    )
    # with n_jobs > 1 the models and priors ran in workers: add the CPU time measured there
    worker_cpu = 0.0
    if s.n_jobs not in (None, 1) and "cpu_seconds" in per_study:
        worker_cpu = float(per_study.loc[per_study["cached"].eq(False), "cpu_seconds"].sum()) + prior_cpu
    result = TransferResult(
        per_study,
        aucs,
        *summarize_studies(aucs),
        priors=priors,
        labels={spec.name: spec.label for spec in specs},
        timing={
            "wall_seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started + worker_cpu,
            "prior_wall_seconds": prior_seconds,
            "prior_cpu_seconds": prior_cpu,
            "n_cached_results": int(per_study.get("cached", pd.Series(dtype=bool)).fillna(False).sum()),
            "n_results": int(len(per_study)),
        },
        settings={
            "cv": s.cv,
            "k": s.k,
            "classifier_params": s.classifier_params,
            "language_model": display_model_name(s.language_model),  # no absolute path of this machine
            "random_state": s.random_state,
            "n_bootstraps": s.n_bootstraps,
            "models": names,
            "studies": targets,
        },
        out_dir=out_dir,
    )
    if out_dir is not None:
        write_transfer_report(result, out_dir)
    return result


def collect_transfer_results(out_dir, *, models=None, n_bootstraps=2000, random_state=0, labels=None, settings=None):
    """Summarise the (study, model) results stored in ``out_dir`` without computing any.

    For a report on a run that is still going or was stopped: every (study, model)
    whose folds are all stored is read as it is (fingerprints are not checked against
    any settings), so use it on a folder written by one configuration.

    Parameters
    ----------
    out_dir : str or path-like
        A folder written by :func:`run_transfer_benchmark`.
    models : list of str, default=None
        Models to include (in this order); all found by default.
    n_bootstraps, random_state
        As in :func:`run_transfer_benchmark`.
    labels : dict, default=None
        Display names (those of :func:`~sklearn_llmrad.benchmark.study_models` by default).
    settings : dict, default=None
        Run settings for the report (``cv``, ``k``, ...); by default those the last
        finished run wrote to ``transfer_settings.json``.

    Returns
    -------
    TransferResult

    Raises
    ------
    ValueError
        If ``out_dir`` holds no stored result.

    Examples
    --------
    Two stored folds of one model on two studies, in the layout
    :func:`run_transfer_benchmark` writes (``predictions/<study>/<model>/fold<i>.csv``):

    >>> import tempfile
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> from sklearn_llmrad.benchmark import collect_transfer_results, store
    >>> with tempfile.TemporaryDirectory() as out_dir:
    ...     for study in ("A", "B"):
    ...         for fold, (p0, p1) in enumerate([(0.2, 0.7), (0.6, 0.4)], start=1):
    ...             frame = pd.DataFrame({"case": [f"{2 * fold - 2}", f"{2 * fold - 1}"], "fold": fold,
    ...                                   "part": "test", "y_true": [0, 1], "y_prob": [p0, p1]})
    ...             path = Path(out_dir) / "predictions" / study / "lr" / f"fold{fold}.csv"
    ...             store.write_fold(path, frame, {}, notes={"study": study, "model": "lr"})
    ...     result = collect_transfer_results(out_dir, n_bootstraps=20)
    >>> result.aucs["lr"].tolist()
    [0.75, 0.75]
    """
    from ..significance import summarize_studies

    out_dir = Path(out_dir)
    rows = []
    for folder in sorted(p for p in (out_dir / "predictions").glob("*/*") if p.is_dir()):
        paths = sorted(folder.glob("fold*.csv"), key=lambda p: int(p.stem[4:]))
        try:
            frames = [store.read_fold(path, None, dtype={"case": str}) for path in paths]
        except store.FoldUnusable:
            continue
        notes = [frame.attrs["notes"] for frame in frames]
        study, model = (notes[0].get("study"), notes[0].get("model")) if notes else (None, None)
        if not frames or (models is not None and model not in models):
            continue
        frame = pd.concat(frames, ignore_index=True)
        if sorted(frame["case"].astype(int)) != list(range(len(frame))):  # a fold still missing: no result yet
            continue
        row = _study_row(
            frame, [{**n, "reused": True} for n in notes], n_bootstraps=n_bootstraps, random_state=random_state
        )
        rows.append({"study": study, "model": model, **row})
    per_study = pd.DataFrame(rows)
    if not len(per_study):
        raise ValueError(f"no stored results in {out_dir / 'predictions'}")
    found = list(dict.fromkeys(per_study["model"]))
    order = list(models or DEFAULT_MODELS)
    names = [m for m in order if m in found] + [m for m in found if m not in order]
    aucs = per_study.pivot(index="study", columns="model", values="auc").reindex(columns=names)
    return TransferResult(
        per_study,
        aucs,
        *summarize_studies(aucs),
        priors=store.read_json(out_dir / "transfer_priors.json") or {},
        labels={**{n: spec.label for n, spec in study_models().items()}, **(labels or {})},
        timing={
            "n_results": len(per_study),
            "n_cached_results": len(per_study),
            "model_wall_seconds": float(per_study["seconds"].sum()),
            "model_cpu_seconds": float(per_study["cpu_seconds"].sum()),
        },
        settings={
            **(store.read_json(out_dir / "transfer_settings.json") or {}),
            **(settings or {}),
            "n_bootstraps": n_bootstraps,
            "models": names,
            "studies": list(aucs.index),
        },
        out_dir=out_dir,
    )
