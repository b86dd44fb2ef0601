"""``llmrad extract``: radiomics features of a dataset, or of one IMAGE MASK pair, with provenance, as CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import DATASETS, UserError, add_dataset_options, dataset_from_args

COMMANDS = ("extract",)


def add_parsers(sub, common):
    """Add ``extract`` to the subcommands ``sub``."""
    ext = sub.add_parser(
        "extract",
        parents=[common],
        help="radiomics features of every lesion, with provenance, as CSV",
        description="Radiomics features as the default pipeline computes them (CLAHE, then PyRadiomics with "
        "the package's settings), one row per lesion (index: case id), the label when the dataset has one, and "
        "diagnostics_* provenance columns (library versions, settings hash, image SHA-256, ROI box, spacing). "
        "Either --dataset [--root] or IMAGE MASK.",
    )
    add_lesion_arguments(ext, dataset_help="the lesions of a dataset, as for llmrad benchmark")
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
    add_dataset_options(ext)


def add_lesion_arguments(parser, *, dataset_help):
    """The lesions a command reads: ``--dataset [--root]``, or one ``IMAGE MASK`` with ``--spacing``/``--case``.

    Read by :func:`check_lesion_input` and :func:`one_lesion` (``llmrad extract`` and ``llmrad predict``).
    """
    parser.add_argument("image", nargs="?", default=None, help="one lesion: its image file (then MASK too)")
    parser.add_argument("mask", nargs="?", default=None, help="one lesion: its mask file (non-zero pixels: the lesion)")
    parser.add_argument(
        "--dataset", default=None, choices=[name for name in DATASETS if name != "radmlbench"], help=dataset_help
    )
    parser.add_argument("--root", default=None, help="dataset folder (or CSV file for --dataset csv)")
    parser.add_argument(
        "--spacing",
        default=None,
        help="IMAGE MASK only: pixel size in mm ('0.07', or '0.07 0.08' for row and column); "
        "default: the image file's header",
    )
    parser.add_argument("--case", default=None, help="IMAGE MASK only: the case id (default: the image file's name)")


def check(args):
    """Either ``--dataset`` or ``IMAGE MASK`` (raises :class:`UserError`)."""
    check_lesion_input(args, files={"--params": args.params})


def check_lesion_input(args, *, files=None):
    """``--dataset`` or ``IMAGE MASK`` (with ``--spacing``, ``--case``), and ``files`` (option -> path) exist.

    Shared by the commands that take lesions either way (``extract``, ``predict``);
    raises :class:`UserError` naming the command.
    """
    if (args.dataset is None) == (args.image is None):
        raise UserError(f"{args.command} needs either --dataset NAME [--root PATH] or IMAGE MASK")
    if args.image is not None and args.mask is None:
        raise UserError(f"{args.command} IMAGE MASK: the mask file is missing")
    if args.dataset is not None and (args.spacing is not None or args.case is not None):
        raise UserError("--spacing and --case are for one lesion (IMAGE MASK), not --dataset")
    for option, value in {**(files or {}), "IMAGE": args.image, "MASK": args.mask}.items():
        if value is not None and not Path(value).is_file():
            raise UserError(f"{option} {value!r}: no such file")


def one_lesion(args):
    """The frame of ``llmrad extract IMAGE MASK``: one lesion in the data contract."""
    import pandas as pd

    from ..resampling import as_spacing

    try:
        spacing = as_spacing(args.spacing)
    except ValueError as exc:
        raise UserError(f"--spacing {args.spacing!r}: {exc}") from None
    case = args.case or Path(args.image).name
    row = {"image": str(Path(args.image)), "mask": str(Path(args.mask)), "spacing": spacing}
    frame = pd.DataFrame([{**row, "age": float("nan"), "density": None, "history": None}], index=[case])
    frame["spacing"] = frame["spacing"].astype(object)
    return frame, None


def run(args):
    """``llmrad extract``: features, labels and provenance of every lesion as CSV."""
    import pandas as pd

    from ..benchmark.shared import transform_in_chunks
    from ..pipelines import make_feature_extraction_pipeline
    from ..provenance import lesion_provenance

    if args.image is not None:
        X, y = one_lesion(args)
    else:
        X, y, _, _ = dataset_from_args(args, stream=sys.stderr)
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
    features = transform_in_chunks(head, X)  # a chunk of lesions' crops held at a time, not all
    clahe, radiomics = head.named_steps["clahe"], head.named_steps["radiomics"]
    provenance = lesion_provenance(
        X,
        settings=extraction_settings(clahe=clahe, radiomics=radiomics),
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


def extraction_settings(**stages):
    """What shapes the numbers: both stages' parameters (the PyRadiomics file's content, not its path)."""
    import yaml

    skip = ("n_jobs", "cache_dir", "progress", "on_error")  # how, not what, is computed
    settings = {stage: {k: v for k, v in est.get_params().items() if k not in skip} for stage, est in stages.items()}
    params = settings["radiomics"]["params"]
    if params is not None and not isinstance(params, dict):
        settings["radiomics"]["params"] = yaml.safe_load(Path(params).read_text())
    return settings
