"""``llmrad demo``, ``llmrad benchmark`` (lesions, external validation, ``--transfer``) and ``llmrad models``."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from .common import (
    DATASETS,
    DEMO_SETTINGS,
    UserError,
    add_dataset_options,
    add_model_options,
    dataset_from_args,
    load_dataset,
    model_settings,
    network_params,
    positive_int,
    resolve_language_model,
    study_list,
)

COMMANDS = ("demo", "benchmark", "models")


def parse_holdout(text):
    """``--holdout 7:2:1``: three positive proportions."""
    try:
        parts = tuple(float(v) for v in text.split(":"))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"--holdout wants three positive numbers like 7:2:1, got {text!r}")
    return parts


def add_parsers(sub, common):
    """Add ``demo``, ``benchmark`` and ``models`` to the subcommands ``sub``."""
    demo = sub.add_parser("demo", parents=[common], help="benchmark on the embedded synthetic dataset (demo-sized)")
    demo.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")
    demo.add_argument("--models", default=None, help="comma-separated subset of models")
    demo.add_argument("--language-model", default=None, help="hub id or local dir")
    demo.add_argument(
        "--n-jobs", type=int, default=2, help="processes for extraction and for folds and models (default 2)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic data, the folds and the models")

    bench = sub.add_parser("benchmark", parents=[common], help="compare all models on one dataset")
    bench.add_argument("--dataset", required=True, choices=list(DATASETS), help="the lesions (or tables) to compare on")
    bench.add_argument("--root", default=None, help="dataset folder (or CSV file for --dataset csv)")
    bench.add_argument(
        "--test-dataset",
        default=None,
        choices=[name for name in DATASETS if name != "radmlbench"],
        help="external validation: train every model on all of --dataset and report on this dataset "
        "(--cv/--holdout are not used; --test-dataset synthetic takes --n-samples and the seed --seed + 1)",
    )
    bench.add_argument(
        "--test-root", default=None, help="folder (or CSV file) of --test-dataset; its other options are --dataset's"
    )
    split = bench.add_mutually_exclusive_group()
    split.add_argument("--cv", type=positive_int, default=5, help="number of grouped folds (default 5)")
    split.add_argument("--holdout", type=parse_holdout, default=None, help="train:val:test, e.g. 7:2:1")
    bench.add_argument("--models", default=None, help="comma-separated subset of models")
    bench.add_argument("--out", default=None, help="output folder (default: results/<dataset>)")
    bench.add_argument("--language-model", default=None, help="hub id or local dir")
    add_model_options(bench, k_help="selected radiomics features (default 500; 100 with --transfer)")
    bench.add_argument(
        "--network-only",
        action="store_true",
        help="deprecated: the method and its ablations are the fusion networks by default now; "
        "this only leaves out the model llmrad-choice (the inner-CV choice between the network "
        "and its linear path) when --models is not given",
    )
    bench.add_argument(
        "--save-models",
        action="store_true",
        help="also refit each model that ran on all lesions of --dataset and save it as OUT/models/NAME.llmrad "
        "(io.save, no pickle; the image stages in front, as llmrad fit saves it) with its model card "
        "NAME.llmrad.md and .json (the benchmark's estimate; threshold: Youden's J on the out-of-fold "
        "probabilities, 0.5 with --holdout or --test-dataset)",
    )
    bench.add_argument(
        "--bootstraps", type=positive_int, default=2000, help="bootstrap resamples of the CIs (default 2000)"
    )
    bench.add_argument(
        "--n-jobs", type=int, default=None, help="processes for extraction and for folds and models (-1: all cores)"
    )
    bench.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda, cuda:N or mps")
    bench.add_argument("--seed", type=int, default=0, help="seed of the folds, the models and synthetic data")
    add_dataset_options(bench)

    bench.add_argument(
        "--transfer",
        action="store_true",
        help="leave-one-study-out transfer benchmark of the semantic prior (--dataset radmlbench)",
    )
    bench.add_argument(
        "--studies", default=None, help="with --transfer: comma-separated target studies (default: all in --root)"
    )

    sub.add_parser("models", parents=[common], help="list the models a benchmark can run")


def check(args):
    """Refuse option values that cannot work, before any data is read (raises :class:`UserError`)."""
    if args.command != "benchmark":
        return
    if args.holdout is None and args.cv < 2:
        raise UserError(f"--cv {args.cv}: cross-validation needs at least 2 folds")
    if args.test_root is not None and args.test_dataset is None:
        raise UserError("--test-root needs --test-dataset NAME")
    if args.test_dataset is not None and (args.transfer or args.dataset == "radmlbench"):
        raise UserError("--test-dataset is an external validation on lesions, not with --transfer or radmlbench")
    if args.test_dataset is not None and DATASETS[args.test_dataset].needs_root:
        if args.test_root is None:
            raise UserError(f"--test-dataset {args.test_dataset} needs --test-root PATH")
        if not Path(args.test_root).exists():
            raise UserError(f"--test-root {args.test_root!r} does not exist")
    if args.save_models and (args.transfer or args.dataset == "radmlbench"):
        raise UserError("--save-models saves the lesion benchmark's models, not the --transfer study mode's")
    if args.transfer and args.dataset != "radmlbench":
        raise UserError("--transfer needs --dataset radmlbench (a folder of radMLBench tables)")
    if args.dataset == "radmlbench":
        if not args.transfer:
            raise UserError(
                "--dataset radmlbench is a collection of studies: add --transfer for the "
                "leave-one-study-out benchmark (or use --dataset csv on one table)"
            )
        if args.holdout is not None:
            raise UserError("--transfer uses --cv folds on each study, not --holdout")
        if args.root is None:
            raise UserError("--dataset radmlbench needs --root DIR (the radMLBench files)")


def check_split(args, dataset, groups):
    """Refuse ``--cv``/``--holdout`` that the loaded dataset's patients cannot fill (raises :class:`UserError`)."""
    n_groups = len(set(groups))
    if args.holdout is None and args.cv > n_groups:
        raise UserError(
            f"--cv {args.cv}: dataset {dataset!r} has {n_groups} patients (groups), too few for "
            f"{args.cv} patient-grouped folds; use --cv {n_groups} or fewer"
            if n_groups >= 2
            else f"--cv {args.cv}: dataset {dataset!r} has {n_groups} patient (group); folds need at least 2"
        )
    if args.holdout is not None and n_groups < 3:
        raise UserError(
            f"--holdout: dataset {dataset!r} has {n_groups} patients (groups); "
            "a train/validation/test split needs at least 3"
        )


def print_result(result, note, started):
    from ..report import exclusion_note, format_table

    print()
    print("=" * len(note))
    print(note)
    print("=" * len(note))
    excluded = exclusion_note(result)
    if excluded:
        print(excluded.replace("**", ""))
    print(format_table(result.table))
    if result.out_dir is not None:
        print(
            f"\nTables and plots: {result.out_dir}/ (results.html, results.md, results.csv, roc.png, "
            "reliability.png, top_features_<model>.png)"
        )
    print(f"Total time: {time.perf_counter() - started:.0f} s")


def run(args):
    """Run ``demo``, ``benchmark`` or ``models``; returns the exit status."""
    from ..benchmark import available_models, run_benchmark

    if args.command == "models":
        for name in available_models():
            print(name)
        return 0
    started = time.perf_counter()
    models = study_list(args.models)
    language_model, note = resolve_language_model(args.language_model)
    print(note, flush=True)

    if args.command == "demo":
        s = DEMO_SETTINGS
        X, y, groups, description = load_dataset(
            "synthetic", n_samples=s["n_samples"], image_size=s["image_size"], random_state=args.seed
        )
        print(
            f"Dataset: {description} ({len(y)} lesions, {len(set(groups))} patients, "
            f"{int(sum(y))} malignant); demo-sized settings (see sklearn_llmrad.cli.DEMO_SETTINGS)",
            flush=True,
        )
        settings = {k: v for k, v in s.items() if k not in ("n_samples", "image_size", "models")}
        result = run_benchmark(
            X,
            y,
            groups,
            models=models or list(s["models"]),
            out_dir=args.out,
            n_jobs=args.n_jobs,
            language_model=language_model,
            random_state=args.seed,
            log=lambda line: print(line, flush=True),
            **settings,
        )
        print_result(result, note, started)
        return 0

    if args.transfer or args.dataset == "radmlbench":
        return _transfer(args, models, language_model, note, started)
    models = _network_only(args, models, available_models())

    X, y, groups, description = dataset_from_args(args, labels_for="a benchmark")
    test, out = None, args.out or f"results/{args.dataset}"
    if args.test_dataset is None:
        check_split(args, args.dataset, groups)
    else:
        test = dataset_from_args(args, test=True, labels_for="a benchmark")[:3]
        out = args.out or f"results/{args.dataset}-on-{args.test_dataset}"
    settings = model_settings(args, language_model, cv=args.cv if args.holdout is None else None, holdout=args.holdout)

    def log(line):
        print(line, flush=True)

    result = run_benchmark(X, y, groups, settings=settings, models=models, out_dir=out, test=test, log=log)
    print_result(result, note, started)
    if args.save_models:
        dataset = f"{args.dataset}: {description}"
        for path in save_models(result, settings, X, y, groups, dataset=dataset, language_note=note, log=log):
            print(f"Saved: {path} (card: {path.name}.md, {path.name}.json)")
    return 0


def save_models(result, settings, X, y, groups, *, dataset, language_note, log=print):
    """``--save-models``: each model that ran, refitted on all lesions, saved with its model card.

    ``OUT/models/<name>.llmrad`` holds the image stages and the model, as
    ``llmrad fit`` saves it (:func:`~sklearn_llmrad.cli.fit.fit_model`); its card
    (:func:`~sklearn_llmrad.model_card.write_model_card`) states the benchmark's
    cross-validated row for that model and the threshold: Youden's J on its
    out-of-fold probabilities, or 0.5 after a holdout or an external validation
    (whose test lesions are not for tuning). Returns the model files' paths.
    """
    from ..benchmark import DEFAULT_REGISTRY
    from .fit import cross_validated_summary, fit_model, image_stages, oof_threshold, save_with_card

    folder, cache = Path(result.out_dir) / "models", Path(result.out_dir) / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    settings = settings.with_embedding_cache(cache)  # the benchmark's embedding cache, as run_benchmark uses it
    rows = result.table.set_index("name")
    cross_validated = not result.external and settings.holdout is None
    specs = []
    for spec in DEFAULT_REGISTRY.resolve([name for name in rows.index if name in result.predictions]):
        if spec.saveable:
            specs.append(spec)
        else:
            log(f"[save] {spec.name}: not saved (it holds code that a model file may not store)")
    if not specs:
        return []
    # the image stages once for every model refitted (their features come from the benchmark's cache)
    shared = image_stages(settings, X, {spec.input for spec in specs}, cache_dir=cache, log=log)
    saved = []
    for spec in specs:
        cv_summary, threshold, rule = None, 0.5, "0.5: the benchmark ran no cross-validation to choose it on"
        if cross_validated:
            threshold = oof_threshold(result, spec.name)
            rule = f"Youden's J maximised on the out-of-fold probabilities of the benchmark's {settings.cv} folds"
            cv_summary = cross_validated_summary(rows.loc[spec.name], settings, threshold)
        log(f"[save-models] {spec.name}: refitting on all lesions")
        path = folder / f"{spec.name}.llmrad"
        save_with_card(
            path,
            spec,
            settings,
            fit_model(spec, settings, X, y, shared=shared, log=log),
            (X, y, groups),
            dataset=dataset,
            language_note=language_note,
            threshold=threshold,
            rule=rule,
            cv_summary=cv_summary,
        )
        saved.append(path)
    return saved


def _network_only(args, models, names):
    """The models of the deprecated ``--network-only``: all but the inner-CV choice ``llmrad-choice``."""
    if not args.network_only:
        return models
    warnings.warn(
        "--network-only is deprecated and will be removed in a future release: the method and its ablations "
        "are the fusion networks by default; it only leaves out llmrad-choice (use --models)",
        FutureWarning,
        stacklevel=2,
    )
    return models if models is not None else [name for name in names if name != "llmrad-choice"]


def _transfer(args, models, language_model, note, started):
    """``llmrad benchmark --dataset radmlbench --root DIR --transfer`` (checked by :func:`_check_arguments`)."""
    from ..benchmark import STUDY_SETTINGS, load_tables, run_transfer_benchmark
    from ..report import transfer_markdown

    tables = load_tables(args.root)
    out = Path(args.out or "results/radmlbench-transfer")
    print(f"Dataset: {len(tables)} radMLBench tables from {args.root}", flush=True)
    result = run_transfer_benchmark(
        tables,
        studies=study_list(args.studies),
        models=models,
        out_dir=out,
        cv=args.cv or 5,
        language_model=language_model,
        k=STUDY_SETTINGS.k if args.k is None else args.k,
        classifier_params=network_params(args, STUDY_SETTINGS.classifier_params),
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
