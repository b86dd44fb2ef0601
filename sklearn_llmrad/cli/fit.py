"""``llmrad fit``: train one benchmark model on all lesions of a dataset, save it and write its model card.

The model is built exactly as ``llmrad benchmark`` builds it (the same
:class:`~sklearn_llmrad.benchmark.BenchmarkSettings`, the same registry entry,
Top-K capped as the benchmark caps it), preceded by the image stages it needs
(CLAHE, PyRadiomics), so the saved file predicts from images. With ``--cv N``
the benchmark itself (:func:`~sklearn_llmrad.benchmark.run_benchmark`, the same
patient-grouped folds) gives the cross-validated estimate, and the decision
threshold is the one that maximises Youden's J on its out-of-fold
probabilities; without it the threshold is 0.5. The threshold is stored in the
model file (:func:`sklearn_llmrad.io.read_metadata`) and in the card.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from .common import (
    DATASETS,
    UserError,
    add_dataset_options,
    add_model_options,
    dataset_from_args,
    model_settings,
    positive_int,
    resolve_language_model,
)

COMMANDS = ("fit",)


def add_parsers(sub, common):
    """Add ``fit`` to the subcommands ``sub``."""
    fit = sub.add_parser(
        "fit",
        parents=[common],
        help="train one model on all lesions of a dataset and save it with its model card",
        description="Trains one model of `llmrad models` on every lesion of a dataset, with the benchmark's "
        "settings, and saves it (io.save: no pickle) together with its image stages, so `llmrad predict` "
        "scores new lesions from their images. Beside the file: a model card, MODEL.md and MODEL.json "
        "(data, class balance, spacings, settings, versions, language model, inner-CV choice, "
        "cross-validated estimate with --cv, decision threshold, the file's SHA-256).",
    )
    fit.add_argument(
        "--dataset", required=True, choices=[n for n in DATASETS if n != "radmlbench"], help="the training lesions"
    )
    fit.add_argument("--root", default=None, help="dataset folder (or CSV file for --dataset csv)")
    fit.add_argument("--model", default="llmrad", help="which model (see `llmrad models`; default: llmrad)")
    fit.add_argument("--out", required=True, help="model file to write, e.g. model.llmrad (card: <out>.md, .json)")
    fit.add_argument(
        "--cv",
        type=positive_int,
        default=None,
        help="also estimate performance on N patient-grouped folds (the benchmark's), with a bootstrap CI, "
        "and choose the decision threshold by Youden's J on the out-of-fold probabilities (default: no "
        "estimate, threshold 0.5)",
    )
    fit.add_argument("--language-model", default=None, help="hub id or local folder (default: BioBERT, else MiniLM)")
    fit.add_argument(
        "--include-language-model",
        action="store_true",
        help="store the language model inside the model file (predict then needs no copy of it)",
    )
    add_model_options(fit, k_help="selected radiomics features (default 500)")
    fit.add_argument(
        "--network-only",
        action="store_true",
        help="deprecated, no effect: --model llmrad is the fusion network alone, --model llmrad-choice the "
        "inner-CV choice between it and its linear path (as the rows of llmrad benchmark)",
    )
    fit.add_argument("--bootstraps", type=positive_int, default=2000, help="bootstrap resamples of the --cv CI")
    fit.add_argument("--cache-dir", default=None, help="radiomics and embedding cache folder (reused by reruns)")
    fit.add_argument("--n-jobs", type=int, default=None, help="parallel extraction processes (-1: all cores)")
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    fit.add_argument("--seed", type=int, default=0, help="seeds the folds, the models and --dataset synthetic")
    add_dataset_options(fit)


def check(args):
    """Refuse option values that cannot work (raises :class:`UserError`)."""
    from ..benchmark import available_models

    if args.cv is not None and args.cv < 2:
        raise UserError(f"--cv {args.cv}: cross-validation needs at least 2 folds")
    if args.model not in available_models():
        raise UserError(f"--model {args.model!r} is not a model; available: {', '.join(available_models())}")
    if Path(args.out).is_dir():
        raise UserError(f"--out {args.out!r} is a folder; give the model file to write, e.g. {args.out}/model.llmrad")


def settings_from_args(args, language_model):
    """The :class:`~sklearn_llmrad.benchmark.BenchmarkSettings` of ``llmrad fit`` (as ``llmrad benchmark``'s)."""
    import warnings

    if args.network_only:
        warnings.warn(
            "--network-only is deprecated and has no effect: --model llmrad is the network alone, "
            "--model llmrad-choice the inner-CV choice",
            FutureWarning,
            stacklevel=2,
        )
    return model_settings(args, language_model, cv=args.cv or 5)


def image_stages(settings, X, inputs, *, cache_dir=None, log=print):
    """The benchmark's image stages on ``X`` with ``settings``' parameters, up to the ``inputs`` the models take
    (:func:`~sklearn_llmrad.benchmark.prepare_shared_inputs`), for :func:`fit_model`'s ``shared``."""
    from ..benchmark import prepare_shared_inputs

    params = {name: getattr(settings, name) for name in ("preprocessor_params", "extractor_params", "n_jobs")}
    return prepare_shared_inputs(X, inputs, cache_dir=cache_dir, log=log, **params)


def fit_model(spec, settings, X, y, *, cache_dir=None, shared=None, log=print):
    """Fit ``spec``'s model on all lesions, as a pipeline that starts from images.

    The image stages run once, as in the benchmark
    (:func:`~sklearn_llmrad.benchmark.prepare_shared_inputs`), or not at all when
    ``shared`` holds their outputs already (``--save-models`` refits several
    models on the same lesions); lesions they fail on are left out (at most
    ``settings.max_failed_fraction``). The learned part
    is ``spec.build`` with the benchmark's factory settings; the returned
    pipeline is the fitted image stages followed by it.

    Returns
    -------
    model : Pipeline or estimator
    failed : pandas.DataFrame
        The lesions left out (``case``, ``stage``, ``error``, ``reason``, ``file``).
    kept : pandas.Index
        The lesions the model was trained on.
    """
    import numpy as np
    import pandas as pd
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from ..preprocessing import CLAHEPreprocessor
    from ..radiomics import RadiomicsExtractor

    if shared is None:
        shared = image_stages(settings, X, {spec.input}, cache_dir=cache_dir, log=log)
    kept = shared.kept
    if len(shared.failed):
        log(f"[fit] {len(shared.failed)} of {len(X)} lesion(s) failed in the image stages and are left out")
        if len(shared.failed) > settings.max_failed_fraction * len(X):
            first = shared.failed.iloc[0]
            raise ValueError(
                f"{len(shared.failed)} of {len(X)} lesions failed in the image stages; "
                f"first: {first['case']!r}: {first['reason']}"
            )
    y_kept = np.asarray(y)[X.index.get_indexer(kept)]
    if len(np.unique(y_kept)) < 2:
        raise ValueError("the training lesions hold one class only; a classifier needs both")
    kwargs = settings.factory_kwargs(n_features=len(shared.feature_columns))
    learned = clone(spec.build(kwargs, (settings.model_params or {}).get(spec.name)))
    log(f"[fit] training {spec.label} on {len(kept)} lesions")
    t0 = time.perf_counter()
    learned.fit(shared.inputs[spec.input], y_kept)
    log(f"[fit] trained in {time.perf_counter() - t0:.1f} s")
    head = []
    if spec.input in ("crops", "features"):
        clahe = CLAHEPreprocessor(**(settings.preprocessor_params or {})).fit(shared.inputs["raw"])
        head.append(("clahe", clahe))
    if spec.input == "features":
        # the shared stage keeps no crops for a features model (a chunk at a time): fit on CLAHE's columns
        crops = shared.inputs.get("crops", pd.DataFrame(columns=clahe.get_feature_names_out()))
        radiomics = RadiomicsExtractor(**(settings.extractor_params or {})).fit(crops)
        head.append(("radiomics", radiomics))
    if not head:
        return learned, shared.failed, kept
    tail = learned.steps if isinstance(learned, Pipeline) else [("model", learned)]
    return Pipeline(head + list(tail)), shared.failed, kept


def save_with_card(
    path,
    spec,
    settings,
    fitted,
    data,
    *,
    dataset,
    language_note,
    threshold=0.5,
    rule,
    cv_summary=None,
    include_language_model=False,
):
    """Save ``fitted``, the ``(model, failed, kept)`` of :func:`fit_model` on
    ``data`` ``(X, y, groups)``, to ``path`` (``io.save``) with its model card beside it.

    The file's metadata holds the decision ``threshold`` and its ``rule``, the
    model's name and the language models its encoders name (read by ``llmrad
    predict``); the card (:func:`~sklearn_llmrad.model_card.write_model_card`)
    describes the ``kept`` lesions it was trained on and the ``failed`` ones.
    ``llmrad fit`` and ``llmrad benchmark --save-models`` both save this way.

    Returns
    -------
    metadata : dict
        What the model file's metadata holds.
    card : tuple of pathlib.Path
        The card's Markdown and JSON files.
    """
    import numpy as np

    from .. import io
    from ..model_card import language_models, write_model_card

    model, failed, kept = fitted
    X, y, groups = data
    metadata = {
        "threshold": threshold,
        "threshold_rule": rule,
        "model": spec.name,
        # which language model the encoders name: read by predict to say what --language-model needs
        "language_models": [lm["id"] for lm in language_models(model)],
        "language_model_bundled": bool(include_language_model),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.save(model, path, include_language_model=include_language_model, metadata=metadata)
    positions = X.index.get_indexer(kept)
    card = write_model_card(
        model_path=path,
        model=model,
        name=spec.name,
        label=spec.label,
        X=X.loc[kept],
        y=np.asarray(y)[positions],
        groups=np.asarray(groups, dtype=object)[positions],
        dataset=dataset,
        settings=settings,
        language_model=language_note,
        threshold=threshold,
        threshold_rule=rule,
        cross_validation=cv_summary,
        excluded=list(failed["case"]),
    )
    return metadata, card


def oof_threshold(result, name):
    """Youden's J threshold on model ``name``'s out-of-fold probabilities in a benchmark ``result``."""
    from ..model_card import youden_threshold

    oof = result.predictions[name]
    oof = oof[oof["part"] == "test"]
    return youden_threshold(oof["y_true"], oof["y_prob"])


def cross_validated_summary(row, settings, threshold, *, n_bootstraps=None, excluded=None):
    """A model's benchmark row as a model card's cross-validated estimate (metrics at 0.5, the Youden threshold).

    ``n_bootstraps`` and ``excluded`` (and the row's ``n``) are recorded when given: ``llmrad fit --cv``
    has them; ``--save-models`` states its benchmark's elsewhere in the card.
    """
    keep = ["auc", "auc_low", "auc_high", "sensitivity", "specificity", "f1", "accuracy", "brier", "ece"]
    if excluded is not None:  # llmrad fit --cv: the lesions counted beside the ones left out
        keep.append("n")
    summary = {key: row[key] for key in keep if key in row}
    summary.update(folds=settings.cv, grouping="patient", metrics_threshold=0.5)
    if n_bootstraps is not None:
        summary["n_bootstraps"] = n_bootstraps
    summary["youden_threshold"] = threshold
    if excluded is not None:
        summary["excluded"] = excluded
    return summary


def cross_validate(spec, settings, X, y, groups, *, cache_dir, log):
    """The benchmark's cross-validated estimate of ``spec`` (same folds): ``(summary dict, threshold)``."""
    from ..benchmark import run_benchmark

    result = run_benchmark(X, y, groups, settings=settings, models=[spec.name], cache_dir=cache_dir, log=log)
    row = result.table.iloc[0].to_dict()
    if row["status"] != "ok":
        raise UserError(f"--cv: the model failed in cross-validation ({row['status']})")
    threshold = oof_threshold(result, spec.name)
    summary = cross_validated_summary(
        row,
        settings,
        threshold,
        n_bootstraps=settings.n_bootstraps,
        excluded=[str(c) for c in result.excluded["case"]],
    )
    return summary, threshold


def run(args):
    """``llmrad fit``: train, save, write the card; returns the exit status."""
    import numpy as np

    from ..benchmark import DEFAULT_REGISTRY

    started = time.perf_counter()
    spec = DEFAULT_REGISTRY.resolve([args.model])[0]
    if not spec.saveable:
        raise UserError(
            f"--model {spec.name}: this benchmark baseline holds code (a column selector) that a model file "
            "may not store, so it cannot be saved; it runs in llmrad benchmark only"
        )
    language_model, note = resolve_language_model(args.language_model)
    print(note, file=sys.stderr, flush=True)
    X, y, groups, description = dataset_from_args(args, labels_for="training", stream=sys.stderr)
    if len(X) == 0:
        raise UserError(f"--dataset {args.dataset}: no lesions found")
    y = np.asarray(y)
    settings = settings_from_args(args, language_model)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="llmrad-fit-") as scratch:
        cache_dir = args.cache_dir or scratch  # the CV's extraction is reused by the final fit
        cv_summary, threshold = None, 0.5
        rule = "0.5: no cross-validated estimate to choose it on (llmrad fit --cv N chooses one)"
        if args.cv is not None:
            from .benchmark import check_split

            check_split(SimpleNamespace(cv=args.cv, holdout=None), args.dataset, groups)
            cv_summary, threshold = cross_validate(spec, settings, X, y, groups, cache_dir=cache_dir, log=log)
            rule = (
                f"Youden's J (sensitivity + specificity - 1) maximised on the out-of-fold probabilities of "
                f"{args.cv} patient-grouped folds"
            )
        fitted = fit_model(spec, settings, X, y, cache_dir=cache_dir, log=log)
    out = Path(args.out)
    metadata, (md, js) = save_with_card(
        out,
        spec,
        settings,
        fitted,
        (X, y, groups),
        include_language_model=args.include_language_model,
        dataset=f"{args.dataset}: {description}",
        language_note=note,
        threshold=threshold,
        rule=rule,
        cv_summary=cv_summary,
    )
    if cv_summary is not None:
        print(
            f"Cross-validated AUC {cv_summary['auc']:.3f} (95% CI {cv_summary['auc_low']:.3f}-"
            f"{cv_summary['auc_high']:.3f}), {args.cv} patient-grouped folds; threshold {threshold:.3f} (Youden)"
        )
    print(f"Model: {out} (card: {md.name}, {js.name}); {time.perf_counter() - started:.0f} s")
    local = [lm for lm in metadata["language_models"] if Path(lm).expanduser().is_dir()]
    if local and not args.include_language_model:
        print(
            f"Note: the model names the local language model {local[0]}, which the file does not hold; "
            f"`llmrad predict` will need --language-model {local[0]} (or refit with --include-language-model)"
        )
    return 0
