"""``llmrad pretrain``: learn a semantic prior from public radiomics tables."""

from __future__ import annotations

import time

from .common import resolve_language_model, study_list

COMMANDS = ("pretrain",)


def add_parsers(sub, common):
    """Add ``pretrain`` to the subcommands ``sub``."""
    pre = sub.add_parser("pretrain", parents=[common], help="learn a semantic prior from radMLBench tables")
    pre.add_argument("--tables", required=True, help="folder of radMLBench <study>.gz tables")
    pre.add_argument("--include", default=None, help="comma-separated studies to use (default: all)")
    pre.add_argument("--exclude", default=None, help="comma-separated studies to leave out")
    pre.add_argument("--language-model", default=None, help="hub id or local dir (default: as for benchmark)")
    pre.add_argument("--revision", default=None, help="hub revision of the language model")
    pre.add_argument(
        "--name-vectors",
        default="language_model",
        choices=("language_model", "random"),
        help="embed feature names with the language model, or random vectors per name (a control)",
    )
    pre.add_argument(
        "--vocabulary",
        default="identity",
        choices=("cleaned", "identity", "family"),
        help="what the prior learns on: each name's IBSI identity (filter, class, feature; names the rules "
        "cannot map fall back to their cleaned words), the cleaned names themselves, or the family only "
        "(filter x class; a control) (default: identity)",
    )
    pre.add_argument("--cache-dir", default=None, help="embedding cache folder")
    pre.add_argument("--device", default="cpu", help="torch device of the language model (default cpu)")
    pre.add_argument("--out", required=True, help="output folder of the prior")


def run(args):
    """Learn and write the prior; returns the exit status."""
    from ..prior import pretrain_prior

    started = time.perf_counter()
    if args.name_vectors == "random":
        language_model = args.language_model or "random-name-vectors"
    else:
        language_model, note = resolve_language_model(args.language_model)
        print(note, flush=True)
    prior = pretrain_prior(
        args.tables,
        include=study_list(args.include),
        exclude=study_list(args.exclude),
        language_model=language_model,
        revision=args.revision,
        name_vectors=args.name_vectors,
        vocabulary=args.vocabulary,
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
