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
``llmrad fit --dataset NAME --root PATH --model NAME --out model.llmrad [--cv N]``
    One model trained on every lesion, saved, with a model card beside it
    (``model.llmrad.md`` and ``.json``) and its decision threshold in the file.
``llmrad predict --model model.llmrad --dataset NAME --root PATH --out predictions.csv [--explain]``
    A saved model on new lesions (labels optional): probability, class at the
    saved threshold, the estimator that predicted and, with ``--explain``, why.

User mistakes (a missing folder, a dataset in the wrong layout, an unreadable
CSV, bad labels, a language model that is not there) print one
``llmrad: error: ...`` message and exit with status 2; ``--debug`` shows the
traceback instead. Options that cannot work (an unknown ``--device``, fewer
than two ``--cv`` folds, or more folds than the dataset has patients) are
refused the same way before any model is fitted.

``llmrad pretrain --tables DIR --out DIR``
    Learns a semantic prior (which feature names tend to matter) from public
    radiomics tables; see :mod:`sklearn_llmrad.prior`.
``llmrad harmonize TABLE [--out mapping.csv]``
    Maps a table's feature names to filter, class, feature and IBSI code
    (:func:`sklearn_llmrad.harmonize_feature_names`).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import benchmark, extract, fit, harmonize, predict, pretrain
from .common import (
    DATASETS,
    DEMO_SETTINGS,
    USER_ERROR,
    DatasetEntry,
    UserError,
    check_device,
    load_dataset,
    resolve_language_model,
)

__all__ = ["main", "resolve_language_model", "load_dataset", "DEMO_SETTINGS", "DATASETS", "DatasetEntry"]

#: The modules of the subcommands, in ``llmrad --help`` order; each has ``COMMANDS``,
#: ``add_parsers(sub, common)``, ``check(args)`` (optional) and ``run(args)``.
_COMMAND_MODULES = (benchmark, extract, fit, predict, pretrain, harmonize)


def _version():
    from .. import __version__

    return __version__


def _build_parser():
    parser = argparse.ArgumentParser(prog="llmrad", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}", help="show the version")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _COMMAND_MODULES:
        module.add_parsers(sub, common)
    return parser


def _command_module(command):
    return next(module for module in _COMMAND_MODULES if command in module.COMMANDS)


def _check_arguments(args):
    """Refuse option values that cannot work, before any data is read (raises :class:`UserError`)."""
    if getattr(args, "device", None) is not None:
        check_device(args.device)
    if getattr(args, "n_jobs", None) == 0:
        raise UserError("--n-jobs 0: use a positive number of processes, or -1 for all cores")
    check = getattr(_command_module(args.command), "check", None)
    if check is not None:
        check(args)


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
    return _command_module(args.command).run(args)
