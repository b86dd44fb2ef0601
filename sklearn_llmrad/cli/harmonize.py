"""``llmrad harmonize``: each column of a radiomics table mapped to its IBSI identity, as CSV."""

from __future__ import annotations

import sys

from .common import UserError

COMMANDS = ("harmonize",)


def add_parsers(sub, common):
    """Add ``harmonize`` to the subcommands ``sub``."""
    har = sub.add_parser(
        "harmonize",
        parents=[common],
        help="map a radiomics table's feature names to filter, class, feature and IBSI code",
        description="Reads the column names of TABLE (CSV, gzip CSV as radMLBench ships them) and writes one "
        "row per feature: prefix, filter, feature_class, feature, ibsi_code, method (rule, language_model or "
        "unmapped) and confidence; see sklearn_llmrad.harmonize_feature_names.",
    )
    har.add_argument("table", help="CSV file whose header names the features")
    har.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    har.add_argument("--skip", default="ID,Target", help="comma-separated columns that are no features")
    har.add_argument(
        "--language-model",
        default=None,
        help="hub id or local folder of a language model that maps what the rules cannot (default: rules only)",
    )
    har.add_argument(
        "--threshold", type=float, default=0.6, help="least cosine similarity a language-model match needs"
    )
    har.add_argument("--device", default="cpu", help="torch device of the language model (default cpu)")


def run(args):
    """Write the mapping; returns the exit status."""
    import pandas as pd

    from ..harmonize import harmonize_feature_names

    try:
        columns = pd.read_csv(args.table, nrows=0).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{args.table}: not a CSV table with a header row ({exc})") from exc
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    names = [c for c in columns if c not in skip]
    if not names:
        raise UserError(f"{args.table}: no feature columns (all of {list(columns)} are skipped)")
    mapping = harmonize_feature_names(
        names, language_model=args.language_model, threshold=args.threshold, device=args.device
    )
    if args.out is None:
        mapping.to_csv(sys.stdout)
    else:
        mapping.to_csv(args.out)
        counts = mapping["method"].value_counts().to_dict()
        print(f"{len(mapping)} names -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0
