"""Compare the LLM-radiomics method with its ablations and baselines on the same folds.

:func:`run_benchmark` answers the question researchers bring to this library:
does the LLM-enhanced model beat the baselines on my data? It

1. splits the lesions into patient-grouped, stratified folds (or a 7:2:1 holdout);
2. runs the stateless image stages once per dataset (CLAHE, then PyRadiomics with
   the on-disk cache) and shares them between every model and every fold;
3. fits each model's learned part on the training fold only and stores its
   out-of-fold probabilities, one file per (model, fold), written atomically, so
   an interrupted benchmark resumes from the finished folds;
4. reports AUC, sensitivity, specificity, F1 and accuracy with stratified-bootstrap
   95% confidence intervals, the false-negative rate, Brier score and expected
   calibration error, and a DeLong test of each model's AUC against the full method.

A model that fails is reported in the table with its error; the others go on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

__all__ = [
    "ModelSpec",
    "register_model",
    "available_models",
    "default_models",
    "make_splits",
    "run_benchmark",
    "BenchmarkResult",
]

REFERENCE_MODEL = "llmrad"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the benchmark.

    Parameters
    ----------
    name : str
        Short identifier used on the command line and in file names.
    label : str
        Name printed in the results table.
    factory : callable
        ``factory(**settings) -> estimator``; called once per fold so every fold
        starts from an unfitted model.
    input : {"features", "crops", "raw"}
        What the estimator consumes: the shared radiomics table (the pipeline
        from its ``topk`` step on), the shared CLAHE crops, or the raw ``X``.
    """

    name: str
    label: str
    factory: object
    input: str = "raw"


_USER_MODELS: dict = {}


def register_model(name, factory, *, input="raw", label=None):
    """Add a model of your own to every later benchmark run.

    Parameters
    ----------
    name : str
        Identifier (``--models`` name).
    factory : callable
        ``factory(**settings) -> estimator`` with ``fit`` and ``predict_proba``.
        Unknown settings must be accepted (``**kwargs``).
    input : {"features", "crops", "raw"}, default="raw"
        See :class:`ModelSpec`.
    label : str, default=None
        Display name; defaults to ``name``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.impute import SimpleImputer
    >>> from sklearn_llmrad.benchmark import register_model, available_models
    >>> def make_logreg(random_state=None, **_):
    ...     return make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500))
    >>> register_model("logreg", make_logreg, input="features", label="Logistic regression")
    >>> "logreg" in available_models()
    True
    """
    if input not in {"features", "crops", "raw"}:
        raise ValueError(f"input must be 'features', 'crops' or 'raw', got {input!r}")
    _USER_MODELS[name] = ModelSpec(name=name, label=label or name, factory=factory, input=input)


def _tail(pipeline, first_step):
    names = [name for name, _ in pipeline.steps]
    return pipeline[names.index(first_step) :]


def default_models():
    """The built-in models: the method, its ablations and the baselines.

    Returns
    -------
    dict of str -> ModelSpec

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import default_models
    >>> list(default_models())
    ['llmrad', 'radiomics-svc', 'resnet50', 'efficientnet-b3', 'wo-biobert', 'wo-attention']
    """
    from . import pipelines as p

    def fusion(*, language_model=True, attention=True):
        """The method (or an ablation) from its Top-K step on."""

        def factory(*, k, encoder, encoder_params, classifier_params, random_state, device, **_):
            pipe = p.make_llmrad_pipeline(
                k=k,
                encoder=encoder if language_model else None,
                encoder_params=encoder_params if language_model else None,
                attention=attention,
                classifier_params=classifier_params,
                random_state=random_state,
                device=device,
            )
            return _tail(pipe, "topk")

        return factory

    def svc(*, k, random_state, **_):
        return _tail(p.make_radiomics_svc_pipeline(k=k, random_state=random_state), "topk")

    def cnn(arch):
        def factory(*, cnn_size, cnn_params, random_state, device, **_):
            return _tail(
                p.make_cnn_pipeline(
                    arch,
                    size=cnn_size,
                    classifier_params=cnn_params,
                    random_state=random_state,
                    device=device,
                ),
                "tensor",
            )

        return factory

    specs = [
        ModelSpec("llmrad", "LLM-radiomics (full method)", fusion(), "features"),
        ModelSpec("radiomics-svc", "Radiomics + SVC", svc, "features"),
        ModelSpec("resnet50", "ResNet-50", cnn("resnet50"), "crops"),
        ModelSpec("efficientnet-b3", "EfficientNet-B3", cnn("efficientnet_b3"), "crops"),
        ModelSpec("wo-biobert", "w/o BioBERT", fusion(language_model=False), "features"),
        ModelSpec("wo-attention", "w/o attention", fusion(attention=False), "features"),
    ]
    return {spec.name: spec for spec in specs}


def available_models():
    """Names of the built-in and registered models.

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import available_models
    >>> available_models()[:2]
    ['llmrad', 'radiomics-svc']
    """
    return list(default_models()) + [n for n in _USER_MODELS if n not in default_models()]


def _resolve_models(names):
    known = {**default_models(), **_USER_MODELS}
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; available: {sorted(known)}")
    return [known[n] for n in names]


def make_splits(y, groups, *, cv=5, holdout=None, random_state=0):
    """Patient-grouped, stratified train/test splits.

    Parameters
    ----------
    y : array-like of shape (n,)
    groups : array-like of shape (n,)
        Patient ids: all lesions of a patient land on the same side.
    cv : int, default=5
        Number of folds of a :class:`~sklearn.model_selection.StratifiedGroupKFold`.
    holdout : tuple of three numbers, default=None
        ``(train, validation, test)`` proportions, e.g. ``(7, 2, 1)``; replaces ``cv``.
        Models are fitted on the training part; the table reports the test part,
        and validation predictions are stored beside it.
    random_state : int, default=0

    Returns
    -------
    list of dict with keys "train", "test" (and "validation" for a holdout)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_llmrad.benchmark import make_splits
    >>> y = np.array([0, 1] * 10); groups = np.repeat(np.arange(10), 2)
    >>> splits = make_splits(y, groups, cv=5)
    >>> len(splits), sorted(np.concatenate([s["test"] for s in splits]).tolist()) == list(range(20))
    (5, True)
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    idx = np.arange(len(y))
    if holdout is None:
        splitter = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=random_state)
        return [
            {"train": train, "test": test} for train, test in splitter.split(idx, y, groups)
        ]
    train_w, val_w, test_w = (float(v) for v in holdout)
    total = train_w + val_w + test_w
    outer = GroupShuffleSplit(n_splits=1, test_size=test_w / total, random_state=random_state)
    rest, test = next(outer.split(idx, y, groups))
    inner = GroupShuffleSplit(
        n_splits=1, test_size=val_w / (train_w + val_w), random_state=random_state
    )
    train_r, val_r = next(inner.split(rest, y[rest], groups[rest]))
    return [{"train": rest[train_r], "validation": rest[val_r], "test": test}]


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
        The full method's per-feature contributions, aggregated over folds.
    out_dir : pathlib.Path or None
    """

    table: pd.DataFrame
    predictions: dict
    explanations: pd.DataFrame | None = None
    out_dir: Path | None = None
    excluded: list = field(default_factory=list)


def _fingerprint(X, y, groups, splits):
    h = hashlib.sha256()
    h.update(json.dumps([str(i) for i in X.index]).encode())
    h.update(np.asarray(y).astype(np.int64).tobytes())
    h.update(json.dumps([str(g) for g in groups]).encode())
    for split in splits:
        for part in sorted(split):
            h.update(part.encode())
            h.update(np.asarray(split[part], dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _atomic_write_csv(frame, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


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


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _explain_fold(pipeline, X_test, top_n):
    """Per-feature contributions of the fitted full method on one test fold."""
    final = pipeline[-1]
    if not hasattr(final, "explain"):  # a user's replacement for the full method
        return None
    return pd.DataFrame(final.explain(pipeline[:-1].transform(X_test), top_n=top_n).contributions)


def run_benchmark(
    X,
    y,
    groups,
    *,
    models=None,
    cv=5,
    holdout=None,
    out_dir=None,
    cache_dir=None,
    n_jobs=None,
    k=500,
    encoder="dmis-lab/biobert-base-cased-v1.2",
    encoder_params=None,
    classifier_params=None,
    cnn_size=224,
    cnn_params=None,
    device="auto",
    n_bootstraps=2000,
    random_state=0,
    extractor_params=None,
    preprocessor_params=None,
    log=print,
):
    """Run the method, its ablations and the baselines on the same grouped folds.

    Parameters
    ----------
    X : pandas.DataFrame
        Lesions in the data contract (``image``, ``mask``, clinical columns).
    y : array-like of shape (n,)
        0 benign, 1 malignant.
    groups : array-like of shape (n,)
        Patient ids.
    models : list of str, default=None
        Model names (see :func:`available_models`); all by default.
    cv : int, default=5
    holdout : tuple of 3 numbers, default=None
        E.g. ``(7, 2, 1)``: one train/validation/test split instead of ``cv`` folds.
    out_dir : str or path-like, default=None
        Where predictions, tables and plots go. Finished folds found there are
        reused (resume); predictions from different folds or data are refused.
    cache_dir : str or path-like, default=None
        Radiomics and embedding cache (defaults to ``out_dir/cache``).
    n_jobs : int, default=None
        Parallel radiomics extraction.
    k : int, default=500
        Selected radiomics features (capped by the number available).
    encoder, encoder_params, classifier_params
        Language model and settings of the fusion models (see
        :func:`~sklearn_llmrad.pipelines.make_llmrad_pipeline`).
    cnn_size, cnn_params
        Input size and classifier settings of the CNN baselines.
    device : str, default="auto"
    n_bootstraps : int, default=2000
        Bootstrap resamples for the confidence intervals.
    random_state : int, default=0
        Seeds the folds, the models and the bootstrap.
    extractor_params, preprocessor_params : dict, default=None
        Settings of the shared image stages.
    log : callable, default=print
        Receives one progress line at a time.

    Returns
    -------
    BenchmarkResult
    """
    from .metrics import delong_test, summarize_predictions
    from .preprocessing import CLAHEPreprocessor
    from .radiomics import RadiomicsExtractor

    y = np.asarray(y).astype(int)
    groups = np.asarray(groups)
    specs = _resolve_models(models)
    out_dir = None if out_dir is None else Path(out_dir)
    if cache_dir is None and out_dir is not None:
        cache_dir = out_dir / "cache"
    if cache_dir is not None and encoder is not None:
        encoder_params = {"cache_dir": str(Path(cache_dir) / "embeddings"), **(encoder_params or {})}

    splits = make_splits(y, groups, cv=cv, holdout=holdout, random_state=random_state)
    fingerprint = _fingerprint(X, y, groups, splits)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = out_dir / "splits.json"
        if stamp.exists():
            previous = json.loads(stamp.read_text())
            if previous.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"{out_dir} holds predictions for other data or folds "
                    f"(fingerprint {previous.get('fingerprint')} != {fingerprint}); "
                    "use another --out directory or delete it"
                )
        else:
            stamp.write_text(json.dumps({"fingerprint": fingerprint, "n_splits": len(splits)}))

    needs = {spec.input for spec in specs}
    inputs = {"raw": X}
    excluded = []
    if needs & {"features", "crops"}:
        t0 = time.perf_counter()
        log(f"[shared] CLAHE preprocessing of {len(X)} lesions")
        crops = CLAHEPreprocessor(**(preprocessor_params or {})).fit_transform(X)
        inputs["crops"] = crops
        if "features" in needs:
            log("[shared] radiomics extraction (cached, shared by all radiomics models and folds)")
            extractor = RadiomicsExtractor(
                cache_dir=None if cache_dir is None else str(Path(cache_dir) / "radiomics"),
                n_jobs=n_jobs,
                on_error="nan",
                **(extractor_params or {}),
            )
            features = extractor.fit_transform(crops)
            feature_cols = [c for c in features.columns if c not in {"age", "density", "history"}]
            failed = features[feature_cols].isna().all(axis=1)
            for case in features.index[failed]:
                excluded.append((case, "radiomics extraction failed"))
            inputs["features"] = features
            k = min(k, len(feature_cols))
            log(
                f"[shared] {len(feature_cols)} features per lesion "
                f"({time.perf_counter() - t0:.1f} s incl. preprocessing)"
            )
        if excluded:
            raise ValueError(
                "radiomics extraction failed for "
                + ", ".join(f"{c!r}" for c, _ in excluded)
                + "; fix or remove these lesions (the extractor's warnings say why)"
            )

    settings = dict(
        k=k,
        encoder=encoder,
        encoder_params=encoder_params,
        classifier_params=classifier_params,
        cnn_size=cnn_size,
        cnn_params=cnn_params,
        random_state=random_state,
        device=device,
    )
    parts = ["test"] + (["validation"] if holdout is not None else [])
    predictions, failures, explanations = {}, {}, []
    for m, spec in enumerate(specs, start=1):
        data = inputs[spec.input]
        fold_frames = []
        if out_dir is not None:
            _forget_stale_folds(spec, settings, out_dir / "predictions" / spec.name, log)
        for fold, split in enumerate(splits, start=1):
            tag = f"[{m}/{len(specs)} {spec.name}] fold {fold}/{len(splits)}"
            path = None if out_dir is None else out_dir / "predictions" / spec.name / f"fold{fold}.csv"
            if path is not None and path.exists():
                fold_frames.append(pd.read_csv(path))
                log(f"{tag}: finished earlier, reused")
                continue
            t0 = time.perf_counter()
            try:
                estimator = clone(spec.factory(**settings))
                estimator.fit(_take(data, split["train"]), y[split["train"]])
                frame = _fold_predictions(estimator, data, y, split, fold, parts)
                if spec.name == REFERENCE_MODEL:
                    contrib = _explain_fold(estimator, _take(data, split["test"]), top_n=10)
                    if contrib is not None and out_dir is not None:
                        _atomic_write_csv(
                            contrib, out_dir / "explanations" / spec.name / f"fold{fold}.csv"
                        )
                    if contrib is not None:
                        explanations.append(contrib)
            except Exception as exc:  # a failed model is reported, the others go on
                failures[spec.name] = f"{type(exc).__name__}: {exc}"
                log(f"{tag}: FAILED ({failures[spec.name]})")
                if out_dir is not None:
                    (out_dir / "errors").mkdir(exist_ok=True)
                    (out_dir / "errors" / f"{spec.name}.txt").write_text(traceback.format_exc())
                break
            if path is not None:
                _atomic_write_csv(frame, path)
            fold_frames.append(frame)
            test = frame[frame["part"] == "test"]
            auc = _safe_auc(test["y_true"], test["y_prob"])
            log(f"{tag}: AUC {auc:.3f} ({time.perf_counter() - t0:.1f} s)")
        if spec.name not in failures and fold_frames:
            predictions[spec.name] = pd.concat(fold_frames, ignore_index=True)

    if out_dir is not None and not explanations:
        for path in sorted((out_dir / "explanations" / REFERENCE_MODEL).glob("fold*.csv")):
            explanations.append(pd.read_csv(path))
    explanation_table = _aggregate_explanations(explanations)

    rows = []
    # DeLong against the full method; without it, against the first model that ran
    reference_name = REFERENCE_MODEL if REFERENCE_MODEL in predictions else next(iter(predictions), None)
    reference = predictions.get(reference_name)
    for spec in specs:
        row = {"model": spec.label, "name": spec.name}
        if spec.name in failures:
            row["status"] = "failed: " + failures[spec.name]
            rows.append(row)
            continue
        pred = predictions[spec.name]
        test = pred[pred["part"] == "test"]
        summary = summarize_predictions(
            test["y_true"].to_numpy(),
            test["y_prob"].to_numpy(),
            n_bootstraps=n_bootstraps,
            random_state=random_state,
        )
        row.update(dict(summary))
        if reference is not None and spec.name != reference_name:
            ref = reference[reference["part"] == "test"].set_index("case")
            common = test.set_index("case").join(ref["y_prob"], rsuffix="_ref", how="inner")
            result = delong_test(
                common["y_true"].to_numpy(),
                common["y_prob_ref"].to_numpy(),
                common["y_prob"].to_numpy(),
            )
            row["delong_p"] = float(_get(result, "p_value"))
        row["status"] = "ok"
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["delong_reference"] = reference_name
    result = BenchmarkResult(
        table=table,
        predictions=predictions,
        explanations=explanation_table,
        out_dir=out_dir,
        excluded=excluded,
    )
    if out_dir is not None:
        from .report import write_report

        write_report(result, out_dir)
    return result


def _settings_hash(spec, settings):
    """Fingerprint of a model's configuration: its unfitted estimator's parameters."""
    try:
        params = spec.factory(**settings).get_params(deep=True)
    except Exception:  # the fit will fail and be reported; nothing to compare
        return None
    text = repr(sorted((key, repr(value)) for key, value in params.items()))
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)  # object addresses change between runs
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _forget_stale_folds(spec, settings, folder, log):
    """Drop stored folds of ``spec`` computed with other settings, so they are redone."""
    digest = _settings_hash(spec, settings)
    stamp = folder / "settings.sha"
    if folder.exists() and stamp.exists() and stamp.read_text() != digest:
        stale = list(folder.glob("fold*.csv"))
        for path in stale:
            path.unlink()
        if stale:
            log(f"[{spec.name}] settings changed since the stored folds; recomputing {len(stale)} fold(s)")
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(str(digest))


def _get(result, name):
    return result[name] if isinstance(result, dict) else getattr(result, name)


def _safe_auc(y_true, y_prob):
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return roc_auc_score(y_true, y_prob)


def _aggregate_explanations(frames):
    """Mean |contribution| of each feature over the lesions it drove, most important first."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    return (
        table.assign(abs_contribution=table["contribution"].abs())
        .groupby(["feature", "description"], sort=False)
        .agg(mean_abs_contribution=("abs_contribution", "mean"), n=("abs_contribution", "size"))
        .sort_values("mean_abs_contribution", ascending=False)
        .reset_index()
    )
