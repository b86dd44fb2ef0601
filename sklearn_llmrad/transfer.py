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
3. each (study, model) result is written atomically with a fingerprint (settings,
   data, folds, prior key, package versions) and reused on a rerun only when the
   fingerprint matches.

The summary follows Demšar (2006, JMLR 7:1-30): per-study AUC with stratified-bootstrap
95% confidence intervals, the mean rank of every model over studies, a Friedman test,
and Wilcoxon signed-rank tests over studies between every pair of models.

The models (:func:`transfer_models`) are the fusion network with and without the prior
and with a random-names prior, the default pipeline (``llmrad-choice``: the network
with prior against its linear path, by inner CV), the prior-weighted logistic
regression, the same with random name vectors (the control
that shows the gain comes from the names), plain logistic regression with the same
inner-CV tuning of ``C``, Radiomics + SVC and a random forest. Tables hold features
only (no images), so the image stages are skipped: the full method starts at Top-K.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from ._cache import temporary_name
from .benchmark.store import atomic_write_bytes, package_versions
from .prior import SemanticPrior

__all__ = [
    "TRANSFER_SETTINGS",
    "TransferModel",
    "TransferResult",
    "transfer_models",
    "load_tables",
    "fit_study_prior",
    "related_studies",
    "summarize_studies",
    "run_transfer_benchmark",
    "collect_transfer_results",
    "write_transfer_report",
    "plot_transfer",
]

#: Settings of the fusion network and selection in the transfer benchmark: small enough
#: for 32 studies x 5 folds on 2 CPU cores (about 3 s per fold), as in the issue's
#: single-study measurements (K=100, 60 epochs, early stopping), with width 32.
TRANSFER_SETTINGS = {
    "k": 100,
    "classifier_params": {
        "hidden_size": 32,
        "n_heads": 4,
        "max_epochs": 60,
        "batch_size": 32,
        "lr": 1e-3,
        "early_stopping": True,
        "patience": 10,
    },
}

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
)

_PRIORS = ("language_model", "random")


@dataclass(frozen=True)
class TransferModel:
    """One model of the transfer benchmark.

    Parameters
    ----------
    name : str
        Identifier (``--models``), file names.
    label : str
        Name printed in the tables.
    factory : callable
        ``factory(*, prior, k, language_model, encoder_params, classifier_params,
        device, random_state) -> estimator``, fitted on the study's feature table.
    prior : {"language_model", "random"} or None
        Which leave-one-study-out prior the factory receives (None: none).
    """

    name: str
    label: str
    factory: object
    prior: str | None = None


def _tail(pipeline, first_step):
    names = [name for name, _ in pipeline.steps]
    return pipeline[names.index(first_step) :]


def _imputed(estimator):
    """Median imputation keeping the column names (priors and selectors read them)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    imputer = SimpleImputer(strategy="median").set_output(transform="pandas")
    return Pipeline([("impute", imputer), ("model", estimator)])


def transfer_models():
    """The models of the transfer benchmark.

    Returns
    -------
    dict of str -> TransferModel

    Examples
    --------
    >>> from sklearn_llmrad.transfer import transfer_models
    >>> list(transfer_models())  # doctest: +NORMALIZE_WHITESPACE
    ['llmrad-prior', 'llmrad', 'llmrad-random-prior', 'llmrad-prior-pooling', 'llmrad-choice',
     'prior-lr', 'random-prior-lr', 'lr', 'radiomics-svc', 'random-forest']
    >>> transfer_models()["random-prior-lr"].prior
    'random'
    """

    def fusion(with_prior, fallback=None, pooling=None):
        def factory(*, prior, k, language_model, encoder_params, classifier_params, device, random_state, **_):
            from .pipelines import make_llmrad_pipeline

            extra = {"pretrained": prior} if with_prior else {}
            if pooling is not None:
                classifier_params = {**classifier_params, "prior_pooling": pooling}
            pipe = make_llmrad_pipeline(
                k=k,
                encoder=language_model,
                encoder_params=encoder_params,
                classifier_params=classifier_params,
                device=device,
                random_state=random_state,
                fallback=fallback,
                **extra,
            )
            return pipe[2:]  # after CLAHE and radiomics: the study's table is the input

        return factory

    def prior_lr(*, prior, random_state, **_):
        from .models.linear import SemanticPriorLogisticRegression

        return _imputed(SemanticPriorLogisticRegression(prior=prior, random_state=random_state))

    def plain_lr(*, random_state, **_):
        from .models.linear import SemanticPriorLogisticRegression

        # the same estimator and inner-CV grid of C, without a prior (gamma = 0)
        return _imputed(SemanticPriorLogisticRegression(prior=None, random_state=random_state))

    def svc(*, k, random_state, **_):
        from .pipelines import make_radiomics_svc_pipeline

        return _tail(make_radiomics_svc_pipeline(k=k, random_state=random_state), "topk")

    def forest(*, random_state, **_):
        from sklearn.ensemble import RandomForestClassifier

        return _imputed(RandomForestClassifier(n_estimators=300, n_jobs=1, random_state=random_state))

    specs = [
        TransferModel("llmrad-prior", "Fusion network, with prior", fusion(True), "language_model"),
        TransferModel("llmrad", "Fusion network, without prior", fusion(False), None),
        TransferModel("llmrad-random-prior", "Fusion network, random-names prior", fusion(True), "random"),
        # not run by default (--models): the prior also biases the attention pooling (prior_pooling=2,
        # fixed in advance like the linear path's prior_gamma=2, not tuned on these studies)
        TransferModel(
            "llmrad-prior-pooling",
            "Fusion network, prior also on the pooling",
            fusion(True, pooling=2.0),
            "language_model",
        ),
        TransferModel(
            "llmrad-choice",
            "Full method: network with prior or its linear path",
            fusion(True, "linear"),
            "language_model",
        ),
        TransferModel("prior-lr", "Prior-weighted LR", prior_lr, "language_model"),
        TransferModel("random-prior-lr", "Prior-weighted LR, random names", prior_lr, "random"),
        TransferModel("lr", "Logistic regression", plain_lr, None),
        TransferModel("radiomics-svc", "Radiomics + SVC", svc, None),
        TransferModel("random-forest", "Random forest", forest, None),
    ]
    return {spec.name: spec for spec in specs}


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
    >>> from sklearn_llmrad.transfer import load_tables
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
    from .datasets.radmlbench import list_radmlbench, load_radmlbench

    names = list_radmlbench(data_home=root) if studies is None else list(studies)
    tables = {}
    for name in names:
        bunch = load_radmlbench(name, data_home=root)
        tables[name] = _as_table(name, bunch)
    return tables


def _table_hash(X, y):
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in X.columns]).encode())
    if all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes):  # radiomics tables: one pass over the values
        h.update(X.to_numpy(dtype=np.float64, na_value=np.nan).tobytes())
    else:  # column by column (slow on wide tables)
        h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _describe(value):
    """A stable, complete description of a parameter value (no truncated reprs)."""
    if isinstance(value, SemanticPrior) and hasattr(value, "coef_"):  # fitted: named by its state
        state = [
            value.coef_.tobytes().hex(),
            value.intercept_,
            list(value.studies_),
            value.name_vectors,
            value.language_model_,
            value.revision_,
            value.alpha_,
        ]
        return ["SemanticPrior(fitted)", _digest(state)]
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        return [type(value).__name__, {k: _describe(v) for k, v in sorted(params.items())}]
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -- priors -------------------------------------------------------------------------
def _prior_estimator(*, name_vectors, language_model, prior_params, cache_dir, random_state):
    params = {"random_state": random_state, **(prior_params or {})}
    if cache_dir is not None:
        params.setdefault("cache_dir", str(Path(cache_dir) / "embeddings"))
    if language_model is not None:  # None: the prior's own default language model
        params["language_model"] = language_model
    return SemanticPrior(name_vectors=name_vectors, **params)


def _prior_key(tables, target, name_vectors, language_model, prior_params, random_state, leave_out, hashes=None):
    """What :func:`fit_study_prior` fits on and its cache key: (excluded, others, key, prior kwargs).

    ``hashes``: the tables' :func:`_table_hash` values when the caller computed them once for many keys.
    """
    excluded = {str(target), *map(str, leave_out)}
    others = {name: table for name, table in tables.items() if name not in excluded}
    if not others:
        raise ValueError(f"no study other than {target!r} to fit its prior on")
    kwargs = dict(language_model=language_model, prior_params=prior_params, random_state=random_state)
    template = _prior_estimator(name_vectors=name_vectors, cache_dir=None, **kwargs)
    if language_model is None:
        kwargs["language_model"] = template.language_model
    params = template.get_params(deep=False)
    params.pop("cache_dir", None)
    key = _digest(
        {
            "studies": {name: (hashes or {}).get(name) or _table_hash(*others[name]) for name in sorted(others)},
            "prior": type(template).__name__,
            "params": _describe(params),
            "versions": package_versions(),
        }
    )
    return excluded, others, key, kwargs


def fit_study_prior(
    tables,
    target,
    *,
    name_vectors="language_model",
    language_model=None,
    prior_params=None,
    cache_dir=None,
    random_state=0,
    log=None,
    leave_out=(),
):
    """The prior for evaluating ``target``: fitted on every other table, cached.

    Parameters
    ----------
    tables : dict of str -> (DataFrame, array)
        All studies; ``target`` is left out of the prior.
    target : str
        The study the prior will be evaluated on (need not be in ``tables``).
    name_vectors : {"language_model", "random"}, default="language_model"
        ``"random"``: the control prior with random name vectors.
    language_model : str, default=None
        Language model id or directory (the prior's default when None).
    prior_params : dict, default=None
        Further :class:`~sklearn_llmrad.prior.SemanticPrior` parameters.
    cache_dir : str or path-like, default=None
        Where fitted priors are stored (``priors/<key>/``) and found again; the key
        covers the studies used and their data, the language model, the settings and
        the package versions. Name embeddings are cached in ``embeddings/``.
    random_state : int, default=0
    log : callable, default=None
    leave_out : iterable of str, default=()
        Further studies kept out of the prior together with ``target``: tables of
        the same paper (e.g. ``Hosny2018B`` for ``Hosny2018C``), which share
        feature definitions and often patients' institutions (see
        :func:`related_studies`).

    Returns
    -------
    prior : SemanticPrior
    key : str
        The cache key.

    Raises
    ------
    RuntimeError
        If the prior (fitted or loaded) names ``target`` or a ``leave_out`` study
        among its studies.

    Examples
    --------
    The control prior (random name vectors, no language model is loaded) for target
    ``"C"``, fitted on the other two tables:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def table(n=20):
    ...     y = np.tile([0, 1], n // 2)
    ...     X = pd.DataFrame({"original_shape_VoxelVolume": y + rng.normal(size=n),
    ...                       "original_glcm_Idmn": rng.normal(size=n)})
    ...     return X, y
    >>> from sklearn_llmrad.transfer import fit_study_prior
    >>> tables = {"A": table(), "B": table(), "C": table()}
    >>> prior, key = fit_study_prior(tables, "C", name_vectors="random",
    ...                              language_model="dmis-lab/biobert-base-cased-v1.2")
    >>> prior.studies_
    ['A', 'B']
    """
    log = log or (lambda line: None)
    return _study_prior(
        tables,
        target,
        name_vectors=name_vectors,
        language_model=language_model,
        prior_params=prior_params,
        cache_dir=cache_dir,
        random_state=random_state,
        log=log,
        leave_out=leave_out,
    )


def _study_prior(
    tables, target, *, name_vectors, language_model, prior_params, cache_dir, random_state, log, leave_out, hashes=None
):
    """:func:`fit_study_prior`, with the tables' hashes computed once by the caller (``hashes``)."""
    excluded, others, key, kwargs = _prior_key(
        tables, target, name_vectors, language_model, prior_params, random_state, leave_out, hashes
    )
    folder = None if cache_dir is None else Path(cache_dir) / "priors" / key
    prior = None
    if folder is not None and (folder / "transfer_key.json").is_file():
        embeddings = None if cache_dir is None else str(Path(cache_dir) / "embeddings")
        prior = SemanticPrior.load(
            folder, cache_dir=embeddings, language_model=None if name_vectors == "random" else language_model
        )
        log(f"[prior] {name_vectors} prior without {target!r}: cached ({key})")
    if prior is None:
        t0 = time.perf_counter()
        prior = _prior_estimator(name_vectors=name_vectors, cache_dir=cache_dir, **kwargs)
        prior.fit(others)
        log(
            f"[prior] {name_vectors} prior without {target!r} on {len(others)} studies: "
            f"{time.perf_counter() - t0:.1f} s"
        )
        if folder is not None:
            _save_prior(
                prior, folder, {"key": key, "target": target, "studies": sorted(others), "name_vectors": name_vectors}
            )
    studies = [str(s) for s in prior.studies_]
    seen = sorted(excluded & set(studies))
    if seen:
        raise RuntimeError(
            f"the prior for target study {target!r} was fitted on {seen} (studies_={studies}); "
            "refusing to evaluate a prior on a study it has seen"
        )
    return prior, key


def related_studies(names):
    """Studies of the same paper, to be left out of each other's priors.

    radMLBench names a paper's several tables by author and year with a letter
    suffix (``Hosny2018A``, ``Hosny2018B``, ...). Such tables share feature
    definitions and extraction settings, so a prior that saw one of them is not a
    prior from *other* studies for its sibling.

    Parameters
    ----------
    names : iterable of str
        Study names.

    Returns
    -------
    dict of str -> list of str
        For every study, its siblings (possibly none).

    Examples
    --------
    >>> from sklearn_llmrad.transfer import related_studies
    >>> related_studies(["Hosny2018B", "Hosny2018C", "HNSCC", "Zhang2024B"])
    {'Hosny2018B': ['Hosny2018C'], 'Hosny2018C': ['Hosny2018B'], 'HNSCC': [], 'Zhang2024B': []}
    """
    names = [str(n) for n in names]

    def paper(name):
        match = re.fullmatch(r"(.*\d{4})[A-Z]", name)
        return match.group(1) if match else name

    return {n: [m for m in names if m != n and paper(m) == paper(n)] for n in names}


def _save_prior(prior, folder, meta):
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(temporary_name(folder.name))  # unique: nothing of the user's is there
    try:
        prior.save(tmp)
        (tmp / "transfer_key.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, folder)
        except OSError:  # another run stored the same prior meanwhile
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; a failed write's leftovers


# -- aggregation --------------------------------------------------------------------
def summarize_studies(aucs):
    """Mean AUC, mean rank, Friedman and pairwise Wilcoxon tests over studies.

    Follows Demšar (2006): models are ranked within each study (1 = best AUC, ties
    share the average rank) and ranks averaged over the studies where every model
    has a result; each pair of models is compared with a two-sided Wilcoxon
    signed-rank test of their per-study AUC differences (zero differences split
    between the two signs, ``zero_method="zsplit"``).

    Parameters
    ----------
    aucs : DataFrame
        One row per study, one column per model; NaN where a model has no result.

    Returns
    -------
    summary : DataFrame
        Per model: ``mean_auc`` (over its studies), ``mean_auc_complete`` (over the
        studies where every model has a result), ``median_auc``, ``mean_rank`` and
        ``n_studies``, best mean rank first.
    pairs : DataFrame
        Per ordered pair ``(model, versus)``: ``n_studies``, ``wins``, ``ties``,
        ``losses``, ``mean_diff`` (model minus versus), ``statistic``, ``p_value``.
    friedman_p : float
        Friedman test p-value over the complete studies (NaN if fewer than three
        models or two studies).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.transfer import summarize_studies
    >>> aucs = pd.DataFrame({"a": [0.8, 0.7, 0.9], "b": [0.6, 0.7, 0.5]})
    >>> summary, pairs, _ = summarize_studies(aucs)
    >>> float(summary.loc["a", "mean_rank"]), float(summary.loc["b", "mean_rank"])
    (1.1666666666666667, 1.8333333333333333)
    >>> pairs.set_index(["model", "versus"]).loc[("a", "b"), ["wins", "ties", "losses"]].tolist()
    [2, 1, 0]
    """
    from scipy import stats

    aucs = aucs.astype(float)
    complete = aucs.dropna(axis=0, how="any")
    ranks = complete.rank(axis=1, ascending=False, method="average")
    summary = pd.DataFrame(
        {
            "mean_auc": aucs.mean(axis=0),
            "mean_auc_complete": complete.mean(axis=0) if len(complete) else np.nan,
            "median_auc": aucs.median(axis=0),
            "mean_rank": ranks.mean(axis=0) if len(complete) else np.nan,
            "n_studies": aucs.notna().sum(axis=0).astype(int),
        }
    )
    summary = summary.sort_values(["mean_rank", "mean_auc"], ascending=[True, False])
    rows = []
    for a, b in ((a, b) for a in aucs.columns for b in aucs.columns if a != b):
        d = (aucs[a] - aucs[b]).dropna().to_numpy()
        row = {
            "model": a,
            "versus": b,
            "n_studies": len(d),
            "wins": int((d > 0).sum()),
            "ties": int((d == 0).sum()),
            "losses": int((d < 0).sum()),
            "mean_diff": float(d.mean()) if len(d) else np.nan,
            "statistic": np.nan,
            "p_value": np.nan,
        }
        if len(d) and np.all(d == 0):
            row["p_value"] = 1.0
        elif len(d) >= 2:
            test = stats.wilcoxon(d, zero_method="zsplit", alternative="two-sided")
            row["statistic"], row["p_value"] = float(test.statistic), float(test.pvalue)
        rows.append(row)
    pairs = pd.DataFrame(
        rows, columns=["model", "versus", "n_studies", "wins", "ties", "losses", "mean_diff", "statistic", "p_value"]
    )
    friedman_p = np.nan
    if complete.shape[1] >= 3 and complete.shape[0] >= 2:
        friedman_p = float(stats.friedmanchisquare(*complete.to_numpy().T).pvalue)
    return summary, pairs, friedman_p


# -- the benchmark ------------------------------------------------------------------
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
        See :func:`summarize_studies`.
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


def _write_json(obj, path):
    atomic_write_bytes(path, json.dumps(obj).encode())


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


def _build(spec, settings, params):
    """The unfitted estimator of ``spec`` with the user's ``model_params`` set."""
    estimator = spec.factory(**settings)
    return estimator.set_params(**params) if params else estimator


def _evaluate(spec, X, y, splits, settings, params):
    """Out-of-fold probabilities of one model on one study, and per fold its inner-CV choice.

    ``choices`` lists, per fold, what an :class:`~sklearn_llmrad.models.choice.InnerCVChoiceClassifier`
    at the end of the model chose (``"linear"``, ``"llmrad"``, ``"average"``); None for other models.
    """
    proba = np.full(len(y), np.nan)
    fold = np.zeros(len(y), dtype=int)
    choices = []
    for i, (train, test) in enumerate(splits, start=1):
        estimator = clone(_build(spec, settings, params))
        estimator.fit(X.iloc[train], y[train])
        p = estimator.predict_proba(X.iloc[test])
        classes = list(getattr(estimator, "classes_", [0, 1]))
        proba[test] = p[:, classes.index(1)]
        fold[test] = i
        final = estimator[-1] if hasattr(estimator, "steps") else estimator
        choices.append(getattr(final, "choice_", None))
    return proba, fold, (choices if any(c is not None for c in choices) else None)


def _count_choices(choices):
    """``"linear 3, llmrad 2"`` from per-fold choices (None: the model makes none)."""
    if not choices:
        return None
    counts = pd.Series(choices).value_counts()
    return ", ".join(f"{name} {int(n)}" for name, n in counts.items())


def _run_model(target, X, y, spec, prior, prior_key, run):
    """One model on one target study: its result row (computed, or reused when its fingerprint matches).

    ``run`` holds the benchmark's settings (``cv``, ``random_state``, ``base``,
    ``k``, ``model_params``, ``versions``, ``out_dir``, ``n_bootstraps``, ``log``,
    ``position``, ``n_targets``); only the target's own table travels to a worker.
    """
    from .metrics import bootstrap_ci

    cv, random_state, out_dir, log = run["cv"], run["random_state"], run["out_dir"], run["log"]
    n_pos = int(y.sum())
    splits = list(StratifiedKFold(cv, shuffle=True, random_state=random_state).split(X, y))
    data_key = _digest(
        {"table": _table_hash(X, y), "cv": cv, "seed": random_state, "splits": [s[1].tolist() for s in splits]}
    )
    tag = f"[{run['position'][target]}/{run['n_targets']} {target}] {spec.name}"
    model_settings = dict(run["base"], k=int(min(run["k"], X.shape[1])), prior=prior)
    params = run["model_params"].get(spec.name, {})
    described = _describe(_build(spec, model_settings, params))
    fingerprint = _digest(
        {"model": spec.name, "params": described, "prior": prior_key, "data": data_key, "versions": run["versions"]}
    )
    path = None if out_dir is None else (out_dir / "results" / _safe_name(target) / f"{_safe_name(spec.name)}.json")
    stored = None if path is None or not path.is_file() else _read_json(path)
    row = {"study": target, "model": spec.name}
    if stored is not None and stored.get("fingerprint") == fingerprint:
        proba = np.asarray(stored["y_prob"], dtype=float)
        fold = np.asarray(stored["fold"], dtype=int)
        choices = stored.get("choices")
        row.update(seconds=stored["seconds"], cpu_seconds=stored["cpu_seconds"], cached=True)
        log(f"{tag}: finished earlier, reused")
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            proba, fold, choices = _evaluate(spec, X, y, splits, model_settings, params)
        except Exception as exc:  # reported in the table; the other models go on
            message = f"{type(exc).__name__}: {exc}"
            log(f"{tag}: FAILED ({message})")
            if out_dir is not None:
                err = out_dir / "errors" / f"{_safe_name(target)}__{_safe_name(spec.name)}.txt"
                err.parent.mkdir(parents=True, exist_ok=True)
                err.write_text(traceback.format_exc())
            return {**row, "status": "failed: " + message}
        row.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0, cached=False)
        if path is not None:
            _write_json(
                {
                    "fingerprint": fingerprint,
                    "study": target,
                    "model": spec.name,
                    "y_true": y.tolist(),
                    "y_prob": proba.tolist(),
                    "fold": fold.tolist(),
                    "choices": choices,
                    "seconds": row["seconds"],
                    "cpu_seconds": row["cpu_seconds"],
                    "versions": run["versions"],
                },
                path,
            )
    ci = bootstrap_ci(y, proba, "roc_auc", n_bootstraps=run["n_bootstraps"], random_state=random_state)
    fold_aucs = [_auc(y[fold == i], proba[fold == i]) for i in range(1, cv + 1)]
    row.update(
        auc=ci.estimate,
        auc_low=ci.low,
        auc_high=ci.high,
        fold_auc_mean=float(np.nanmean(fold_aucs)),
        n=len(y),
        n_positive=n_pos,
        choices=_count_choices(choices),
        status="ok",
    )
    if not row["cached"]:
        log(f"{tag}: AUC {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] ({row['seconds']:.1f} s)")
    return row


def run_transfer_benchmark(
    tables,
    *,
    studies=None,
    models=None,
    cv=5,
    out_dir=None,
    language_model=None,
    k=TRANSFER_SETTINGS["k"],
    classifier_params=None,
    encoder_params=None,
    prior_params=None,
    model_params=None,
    device="cpu",
    n_bootstraps=2000,
    random_state=0,
    log=print,
    n_jobs=None,
    related=None,
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
        Names from :func:`transfer_models`; :data:`DEFAULT_MODELS` by default.
    cv : int, default=5
        Stratified folds on each target (shuffled, seeded by ``random_state``; the
        same folds for every model).
    out_dir : str or path-like, default=None
        Results, cached priors, embeddings and the report. A rerun reuses every
        (study, model) result whose fingerprint matches and every cached prior.
    language_model : str, default=None
        Hub id or directory of the language model (the encoder's and the prior's).
    k : int, default=100
        Features kept by Top-K in the full method and the SVC (capped per study).
    classifier_params : dict, default=None
        Fusion network settings; :data:`TRANSFER_SETTINGS` by default.
    encoder_params, prior_params : dict, default=None
        Extra settings of the encoder and the prior.
    model_params : dict of str -> dict, default=None
        Per model name, parameters set on its estimator with ``set_params``, e.g.
        ``{"random-forest": {"model__n_estimators": 100}}``.
    device : str, default="cpu"
    n_bootstraps : int, default=2000
        Bootstrap replicates of the per-study AUC intervals.
    random_state : int, default=0
        Seeds the folds, the models, the priors and the bootstrap.
    log : callable, default=print
    n_jobs : int, default=None
        Target studies evaluated in parallel (joblib processes; each caches its
        priors and results in ``out_dir`` as a serial run would). Results equal
        a serial run's up to floating-point summation order (workers get fewer
        BLAS threads). ``log`` runs in the workers then: printing works, a
        callable that collects lines in the calling process sees only the
        summary. ``None``: one at a time.
    related : dict of str -> list of str, default=None
        Per study, the studies left out of its prior with it;
        :func:`related_studies` (tables of the same paper) by default. ``{}``:
        leave out the target only.

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
    >>> from sklearn_llmrad.transfer import run_transfer_benchmark
    >>> result = run_transfer_benchmark(
    ...     {"A": table(), "B": table()}, models=["lr"], cv=2, n_bootstraps=20,
    ...     model_params={"lr": {"model__Cs": (1.0,)}}, log=lambda line: None)
    >>> result.aucs.shape, list(result.per_study["status"])
    ((2, 1), ['ok', 'ok'])
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    known = transfer_models()
    names = list(DEFAULT_MODELS if models is None else models)
    model_params = dict(model_params or {})
    unknown = [n for n in list(names) + list(model_params) if n not in known]
    if unknown:
        raise ValueError(f"unknown transfer model(s) {unknown}; available: {list(known)}")
    specs = [known[n] for n in names]
    tables = {str(name): _as_table(name, table) for name, table in tables.items()}
    if len(tables) < 2:
        raise ValueError(f"leave-one-study-out needs at least two tables, got {len(tables)}")
    targets = sorted(tables) if studies is None else list(studies)
    missing = [s for s in targets if s not in tables]
    if missing:
        raise ValueError(f"unknown target study(ies) {missing}; tables: {sorted(tables)}")
    out_dir = None if out_dir is None else Path(out_dir)
    if classifier_params is None:
        classifier_params = dict(TRANSFER_SETTINGS["classifier_params"])
    encoder_params = dict(encoder_params or {})
    if out_dir is not None:
        encoder_params.setdefault("cache_dir", str(out_dir / "cache" / "embeddings"))
    prior_cache = None if out_dir is None else out_dir / "cache"
    base = dict(
        language_model=language_model,
        encoder_params=encoder_params,
        classifier_params=classifier_params,
        device=device,
        random_state=random_state,
    )
    versions = package_versions()

    groups = related_studies(tables) if related is None else {s: list(related.get(s, ())) for s in tables}
    for target in targets:  # refuse what cannot be run before any work
        if not set(tables) - {target, *groups.get(target, ())}:
            raise ValueError(
                f"study {target!r}: no study is left for its prior once it and its related studies "
                f"{groups.get(target, [])} are left out"
            )
        n_pos = int(tables[target][1].sum())
        if min(n_pos, len(tables[target][1]) - n_pos) < cv:
            raise ValueError(
                f"study {target!r}: {n_pos} positives and {len(tables[target][1]) - n_pos} negatives; "
                f"{cv}-fold stratified CV needs at least {cv} of each"
            )

    kinds = list(dict.fromkeys(spec.prior for spec in specs if spec.prior is not None))

    def fit_priors(target):
        """The leave-one-study-out priors of every kind for one target, with their CPU time."""
        c0 = time.process_time()
        fitted = {}
        for kind in kinds:
            fitted[kind] = _study_prior(
                tables,
                target,
                name_vectors=kind,
                language_model=language_model,
                prior_params=prior_params,
                cache_dir=prior_cache,
                random_state=random_state,
                log=log,
                leave_out=groups.get(target, ()),
                hashes=hashes,
            )
            # embed the target's names here, once: the model tasks need no language model for the prior
            fitted[kind][0].embed_names(list(tables[target][0].columns))
        return target, fitted, time.process_time() - c0

    # 1. the priors: cached ones loaded here, the others fitted one task per target (all
    # tables travel to that task: the prior learns from them)
    fitted_priors, priors = {}, {}
    prior_cpu = 0.0
    p0 = time.perf_counter()
    hashes = {name: _table_hash(*table) for name, table in tables.items()} if kinds else {}

    def cached(target):
        """Every prior of the target is in the cache: loaded here, no table needs to travel to a worker."""
        if prior_cache is None:
            return False
        return all(
            (prior_cache / "priors" / key / "transfer_key.json").is_file()
            for key in (
                _prior_key(
                    tables, target, kind, language_model, prior_params, random_state, groups.get(target, ()), hashes
                )[2]
                for kind in kinds
            )
        )

    ready = [target for target in targets if kinds and cached(target)]
    to_fit = [target for target in targets if kinds and target not in ready]
    loaded = [fit_priors(target) for target in ready]
    for target, fitted, cpu in loaded + Parallel(n_jobs=n_jobs)(delayed(fit_priors)(target) for target in to_fit):
        for kind, (prior, key) in fitted.items():
            fitted_priors[target, kind] = (prior, key)
            priors.setdefault(target, {})[kind] = {"studies": [str(s) for s in prior.studies_], "key": key}
        prior_cpu += cpu
    prior_seconds = time.perf_counter() - p0

    # 2. every (target, model), costliest first so that parallel workers finish together:
    # larger tables first, and the inner-CV choice (several fits per fold) before the rest
    def cost(task):
        target, spec = task
        X, _ = tables[target]
        return -(X.shape[0] * X.shape[1] * (4 if spec.name == "llmrad-choice" else 1))

    tasks = sorted(((target, spec) for target in targets for spec in specs), key=cost)
    run = dict(
        cv=cv,
        random_state=random_state,
        base=base,
        k=k,
        model_params=model_params,
        versions=versions,
        out_dir=out_dir,
        n_bootstraps=n_bootstraps,
        log=log,
        position={target: t for t, target in enumerate(targets, start=1)},
        n_targets=len(targets),
    )
    done = Parallel(n_jobs=n_jobs)(
        delayed(_run_model)(target, *tables[target], spec, *fitted_priors.get((target, spec.prior), (None, None)), run)
        for target, spec in tasks
    )
    position = {(target, spec.name): i for i, (target, spec) in enumerate((t, s) for t in targets for s in specs)}
    rows = sorted(done, key=lambda row: position[row["study"], row["model"]])

    per_study = pd.DataFrame(rows)
    ok = per_study[per_study["status"] == "ok"] if len(per_study) else per_study
    aucs = (
        ok.pivot(index="study", columns="model", values="auc").reindex(index=targets, columns=names)
        if len(ok)
        else pd.DataFrame(index=targets, columns=names, dtype=float)
    )
    summary, pairs, friedman_p = summarize_studies(aucs)
    # with n_jobs > 1 the models and priors ran in workers: add the CPU time measured there
    worker_cpu = 0.0
    if n_jobs not in (None, 1) and "cpu_seconds" in per_study:
        worker_cpu = float(per_study.loc[per_study["cached"].eq(False), "cpu_seconds"].sum()) + prior_cpu
    timing = {
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started + worker_cpu,
        "prior_wall_seconds": prior_seconds,
        "prior_cpu_seconds": prior_cpu,
        "n_cached_results": int(per_study.get("cached", pd.Series(dtype=bool)).fillna(False).sum()),
        "n_results": int(len(per_study)),
    }
    result = TransferResult(
        per_study=per_study,
        aucs=aucs,
        summary=summary,
        pairs=pairs,
        friedman_p=friedman_p,
        priors=priors,
        labels={s.name: s.label for s in specs},
        timing=timing,
        settings={
            "cv": cv,
            "k": k,
            "classifier_params": classifier_params,
            "language_model": _display_model(language_model),  # no absolute path of this machine in the reports
            "random_state": random_state,
            "n_bootstraps": n_bootstraps,
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

    For a report on a run that is still going or was stopped: every stored result is
    read as it is (fingerprints are not checked against any settings), so use it on a
    folder written by one configuration.

    Parameters
    ----------
    out_dir : str or path-like
        A folder written by :func:`run_transfer_benchmark`.
    models : list of str, default=None
        Models to include (in this order); all found by default.
    n_bootstraps, random_state
        As in :func:`run_transfer_benchmark`.
    labels : dict, default=None
        Display names (those of :func:`transfer_models` by default).
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
    Two stored results (one model, two studies) in the layout
    :func:`run_transfer_benchmark` writes (``results/<study>/<model>.json``):

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from sklearn_llmrad.transfer import collect_transfer_results
    >>> with tempfile.TemporaryDirectory() as out_dir:
    ...     for study in ("A", "B"):
    ...         path = Path(out_dir) / "results" / study / "lr.json"
    ...         path.parent.mkdir(parents=True)
    ...         stored = {"study": study, "model": "lr", "y_true": [0, 1, 0, 1],
    ...                   "y_prob": [0.2, 0.7, 0.6, 0.4], "fold": [1, 1, 2, 2],
    ...                   "seconds": 0.1, "cpu_seconds": 0.1}
    ...         _ = path.write_text(json.dumps(stored))
    ...     result = collect_transfer_results(out_dir, n_bootstraps=20)
    >>> result.aucs["lr"].tolist()
    [0.75, 0.75]
    """
    from .metrics import bootstrap_ci

    out_dir = Path(out_dir)
    rows = []
    for path in sorted((out_dir / "results").glob("*/*.json")):
        stored = _read_json(path)
        if stored is None or (models is not None and stored["model"] not in models):
            continue
        y, proba = np.asarray(stored["y_true"]), np.asarray(stored["y_prob"], dtype=float)
        fold = np.asarray(stored["fold"])
        ci = bootstrap_ci(y, proba, "roc_auc", n_bootstraps=n_bootstraps, random_state=random_state)
        rows.append(
            {
                "study": stored["study"],
                "model": stored["model"],
                "seconds": stored["seconds"],
                "cpu_seconds": stored["cpu_seconds"],
                "cached": True,
                "auc": ci.estimate,
                "auc_low": ci.low,
                "auc_high": ci.high,
                "fold_auc_mean": float(np.nanmean([_auc(y[fold == i], proba[fold == i]) for i in np.unique(fold)])),
                "n": len(y),
                "n_positive": int(y.sum()),
                "choices": _count_choices(stored.get("choices")),
                "status": "ok",
            }
        )
    per_study = pd.DataFrame(rows)
    if not len(per_study):
        raise ValueError(f"no stored results in {out_dir / 'results'}")
    found = list(dict.fromkeys(per_study["model"]))
    names = [m for m in (models or DEFAULT_MODELS) if m in found] + [
        m for m in found if m not in (models or DEFAULT_MODELS)
    ]
    aucs = per_study.pivot(index="study", columns="model", values="auc").reindex(columns=names)
    summary, pairs, friedman_p = summarize_studies(aucs)
    known = {n: s.label for n, s in transfer_models().items()}
    return TransferResult(
        per_study=per_study,
        aucs=aucs,
        summary=summary,
        pairs=pairs,
        friedman_p=friedman_p,
        priors=_read_json(out_dir / "transfer_priors.json") or {},
        labels={**known, **(labels or {})},
        timing={
            "n_results": len(per_study),
            "n_cached_results": len(per_study),
            "model_wall_seconds": float(per_study["seconds"].sum()),
            "model_cpu_seconds": float(per_study["cpu_seconds"].sum()),
        },
        settings={
            **(_read_json(out_dir / "transfer_settings.json") or {}),
            **(settings or {}),
            "n_bootstraps": n_bootstraps,
            "models": names,
            "studies": list(aucs.index),
        },
        out_dir=out_dir,
    )


def _auc(y, p):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, p) if len(np.unique(y)) == 2 else np.nan


# -- report -------------------------------------------------------------------------
def _fmt_p(p):
    if p is None or not np.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _choice_lines(result):
    """What the inner-CV choices picked, over all outer folds, per model that makes one."""
    table = result.per_study
    if "choices" not in table:
        return []
    lines = []
    for model, cells in table.dropna(subset=["choices"]).groupby("model", sort=False)["choices"]:
        counts = {}
        for cell in cells:
            for part in str(cell).split(", "):
                name, n = part.rsplit(" ", 1)
                counts[name] = counts.get(name, 0) + int(n)
        total = sum(counts.values())
        picked = ", ".join(f"{name} in {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        lines += [
            f"Inner-CV choice of {result.labels.get(model, model)} (`{model}`): {picked} of {total} "
            "outer training folds (`choices` in `transfer_per_study.csv`).",
            "",
        ]
    return lines


def _display_model(name):
    """A language model id as the report shows it: a local copy by its last two folders, not its absolute path."""
    path = Path(str(name))
    if path.is_absolute():
        return f"{path.parent.name}/{path.name} (local copy)"
    return str(name)


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def transfer_markdown(result):
    """The report of a transfer benchmark as Markdown text."""
    labels = result.labels
    lines = ["# Leave-one-study-out transfer benchmark", ""]
    s = result.settings
    lines += [
        f"{len(result.aucs)} target studies, {s.get('cv')}-fold stratified CV on each (same seeded "
        f"folds for every model). Language model: `{_display_model(s.get('language_model'))}`. Top-K: "
        f"{s.get('k')}; fusion network: {s.get('classifier_params')}.",
        "",
        "## Summary",
        "",
    ]
    n_complete = int(result.aucs.dropna(axis=0, how="any").shape[0])
    rows = [
        [
            labels.get(m, m),
            m,
            f"{r.mean_auc:.3f}",
            f"{r.mean_auc_complete:.3f}",
            f"{r.median_auc:.3f}",
            f"{r.mean_rank:.2f}" if np.isfinite(r.mean_rank) else "-",
            int(r.n_studies),
        ]
        for m, r in result.summary.iterrows()
    ]
    lines += [
        _markdown(
            [
                "Model",
                "name",
                "Mean AUC",
                f"Mean AUC ({n_complete} complete studies)",
                "Median AUC",
                "Mean rank",
                "Studies",
            ],
            rows,
        ),
        "",
    ]
    lines += [
        f"Friedman test over studies: p = {_fmt_p(result.friedman_p)}. Mean rank: 1 = best "
        "AUC within a study, over the studies where every model ran (Demšar 2006).",
        "",
    ]
    lines += _choice_lines(result)
    models = list(result.aucs.columns)
    if len(models) > 1 and len(result.pairs):
        pairs = result.pairs.set_index(["model", "versus"])
        lines += [
            "## Wilcoxon signed-rank tests over studies",
            "",
            "Row model vs column model: two-sided p, and wins/ties/losses of the row model.",
            "",
        ]
        rows = []
        for a in models:
            cells = [labels.get(a, a)]
            for b in models:
                if a == b:
                    cells.append("")
                    continue
                r = pairs.loc[(a, b)]
                cells.append(f"{_fmt_p(r.p_value)} ({r.wins:.0f}/{r.ties:.0f}/{r.losses:.0f})")
            rows.append(cells)
        lines += [_markdown(["Model"] + models, rows), ""]
    lines += ["## Per-study AUC (95% CI)", ""]
    table = result.per_study
    rows = []
    for study in result.aucs.index:
        cells = [study]
        for m in models:
            r = table[(table["study"] == study) & (table["model"] == m)]
            if not len(r):
                cells.append("-")
            elif r.iloc[0]["status"] != "ok":
                cells.append("failed")
            else:
                r = r.iloc[0]
                cells.append(f"{r.auc:.3f} [{r.auc_low:.3f}, {r.auc_high:.3f}]")
        rows.append(cells)
    lines += [_markdown(["Study"] + models, rows), ""]
    failures = table[table["status"] != "ok"] if len(table) else table
    for _, r in failures.iterrows():
        lines.append(f"- {r.study} / {r.model}: {r.status}")
    t = result.timing
    lines += [
        "",
        f"Time: {t.get('wall_seconds', 0):.0f} s wall, {t.get('cpu_seconds', 0):.0f} s CPU "
        f"(priors {t.get('prior_wall_seconds', 0):.0f} s wall); "
        f"{t.get('n_cached_results', 0)} of {t.get('n_results', 0)} results reused from cache.",
        "",
        "CIs: stratified bootstrap over each study's pooled out-of-fold predictions.",
        "",
        "![Transfer benchmark](transfer.png)",
        "",
    ]
    return "\n".join(lines)


def plot_transfer(result, path):
    """Per-study AUC of every model, and the mean ranks, on one figure.

    Parameters
    ----------
    result : TransferResult
        What :func:`run_transfer_benchmark` or :func:`collect_transfer_results`
        returned.
    path : str or path-like
        The image file (its suffix sets the format, e.g. ``.png``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def table(n=20):
    ...     y = np.tile([0, 1], n // 2)
    ...     X = pd.DataFrame({"original_shape_VoxelVolume": y + rng.normal(size=n),
    ...                       "original_glcm_Idmn": rng.normal(size=n)})
    ...     return X, y
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_llmrad.transfer import plot_transfer, run_transfer_benchmark
    >>> result = run_transfer_benchmark(
    ...     {"A": table(), "B": table()}, models=["lr"], cv=2, n_bootstraps=20,
    ...     model_params={"lr": {"model__Cs": (1.0,)}}, log=lambda line: None)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     plot_transfer(result, Path(tmp) / "transfer.png")
    ...     written = (Path(tmp) / "transfer.png").stat().st_size > 0
    >>> written
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    aucs = result.aucs
    models = list(aucs.columns)
    fig, (ax, ax_rank) = plt.subplots(
        1, 2, figsize=(11, 0.28 * len(aucs) + 0.2 * len(models) + 3), gridspec_kw={"width_ratios": [3, 1.2]}
    )
    ys = np.arange(len(aucs))
    for j, m in enumerate(models):
        ax.scatter(aucs[m], ys, s=18, label=result.labels.get(m, m), marker="os^vDP*Xh"[j % 9])
    ax.set_yticks(ys, aucs.index, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="AUC (out-of-fold)", title="Leave-one-study-out: AUC per target study")
    # below the axes, so that no study's points are hidden behind it
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, frameon=False)
    summary = result.summary.iloc[::-1]
    ax_rank.barh([result.labels.get(m, m) for m in summary.index], summary["mean_rank"], color="#4477aa")
    ax_rank.set(xlabel="Mean rank (1 = best)", title="Mean rank over studies")
    ax_rank.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_transfer_report(result, out_dir):
    """Write ``transfer.md``, ``transfer.png`` and the CSV tables into ``out_dir``.

    :func:`run_transfer_benchmark` calls it when given an ``out_dir``.

    Parameters
    ----------
    result : TransferResult
        What :func:`run_transfer_benchmark` or :func:`collect_transfer_results`
        returned.
    out_dir : str or path-like
        Created if needed; existing report files are overwritten.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def table(n=20):
    ...     y = np.tile([0, 1], n // 2)
    ...     X = pd.DataFrame({"original_shape_VoxelVolume": y + rng.normal(size=n),
    ...                       "original_glcm_Idmn": rng.normal(size=n)})
    ...     return X, y
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_llmrad.transfer import run_transfer_benchmark, write_transfer_report
    >>> result = run_transfer_benchmark(
    ...     {"A": table(), "B": table()}, models=["lr"], cv=2, n_bootstraps=20,
    ...     model_params={"lr": {"model__Cs": (1.0,)}}, log=lambda line: None)
    >>> with tempfile.TemporaryDirectory() as out_dir:
    ...     write_transfer_report(result, out_dir)
    ...     written = sorted(p.name for p in Path(out_dir).iterdir())
    >>> written  # doctest: +NORMALIZE_WHITESPACE
    ['transfer.md', 'transfer.png', 'transfer_auc.csv', 'transfer_per_study.csv',
     'transfer_priors.json', 'transfer_settings.json', 'transfer_summary.csv',
     'transfer_timing.json', 'transfer_wilcoxon.csv']
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.per_study.to_csv(out_dir / "transfer_per_study.csv", index=False)
    result.aucs.to_csv(out_dir / "transfer_auc.csv")
    result.summary.assign(label=[result.labels.get(m, m) for m in result.summary.index]).to_csv(
        out_dir / "transfer_summary.csv", index_label="model"
    )
    result.pairs.to_csv(out_dir / "transfer_wilcoxon.csv", index=False)
    (out_dir / "transfer_priors.json").write_text(json.dumps(result.priors, indent=1))
    (out_dir / "transfer_timing.json").write_text(json.dumps(result.timing, indent=1))
    (out_dir / "transfer_settings.json").write_text(json.dumps(result.settings, indent=1, default=str))
    if result.aucs.notna().any().any():
        plot_transfer(result, out_dir / "transfer.png")
    (out_dir / "transfer.md").write_text(transfer_markdown(result))


# -- command line -------------------------------------------------------------------
def add_transfer_arguments(parser):
    """Add ``--transfer`` and ``--studies`` to the ``llmrad benchmark`` parser."""
    parser.add_argument(
        "--transfer",
        action="store_true",
        help="leave-one-study-out transfer benchmark of the semantic prior (--dataset radmlbench)",
    )
    parser.add_argument(
        "--studies", default=None, help="with --transfer: comma-separated target studies (default: all in --root)"
    )


def run_transfer_command(args, language_model, note):
    """``llmrad benchmark --dataset radmlbench --root DIR --transfer`` (parsed ``args``)."""
    if args.dataset != "radmlbench":
        raise SystemExit("--transfer needs --dataset radmlbench (a folder of radMLBench tables)")
    if not args.transfer:
        raise SystemExit(
            "--dataset radmlbench is a collection of studies: add --transfer for the "
            "leave-one-study-out benchmark (or use --dataset csv on one table)"
        )
    if getattr(args, "holdout", None) is not None:
        raise SystemExit("--transfer uses --cv folds on each study, not --holdout")
    if args.root is None:
        raise SystemExit("--dataset radmlbench needs --root DIR (the radMLBench files)")
    started = time.perf_counter()
    tables = load_tables(args.root)
    studies = None if args.studies is None else [s.strip() for s in args.studies.split(",") if s.strip()]
    models = None if args.models is None else [m.strip() for m in args.models.split(",") if m.strip()]
    classifier_params = dict(TRANSFER_SETTINGS["classifier_params"])
    if args.epochs is not None:
        classifier_params["max_epochs"] = args.epochs
    if args.hidden_size is not None:
        classifier_params["hidden_size"] = args.hidden_size
        classifier_params["n_heads"] = min(classifier_params["n_heads"], args.hidden_size)
    if args.feature_tokens is not None:
        classifier_params["feature_tokens"] = args.feature_tokens
    out = Path(args.out or "results/radmlbench-transfer")
    print(f"Dataset: {len(tables)} radMLBench tables from {args.root}", flush=True)
    result = run_transfer_benchmark(
        tables,
        studies=studies,
        models=models,
        cv=args.cv or 5,
        out_dir=out,
        language_model=language_model,
        k=TRANSFER_SETTINGS["k"] if args.k is None else args.k,
        classifier_params=classifier_params,
        device="cpu" if args.device == "auto" else args.device,
        n_bootstraps=args.bootstraps,
        random_state=args.seed,
        log=lambda line: print(line, flush=True),
        n_jobs=args.n_jobs,
    )
    print()
    print(note)
    print(transfer_markdown(result).split("## Per-study")[0])
    print(f"Tables and plot: {out}/ (transfer.md, transfer_*.csv, transfer.png)")
    print(f"Total time: {time.perf_counter() - started:.0f} s")
    return 0
