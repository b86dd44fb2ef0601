"""``llmrad predict``: score new lesions with a saved model, labels optional, rationales on request."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from .common import UserError, add_dataset_options, dataset_from_args, positive_int
from .extract import add_lesion_arguments, check_lesion_input, one_lesion

COMMANDS = ("predict",)


def add_parsers(sub, common):
    """Add ``predict`` to the subcommands ``sub``."""
    pred = sub.add_parser(
        "predict",
        parents=[common],
        help="probability of malignancy of new lesions with a saved model (llmrad fit)",
        description="Scores every lesion of a dataset (or one IMAGE MASK pair) with a model saved by "
        "`llmrad fit` (read with io.load: no pickle, every value checked). One row per lesion: case, "
        "probability of malignancy, predicted class at the threshold saved in the model file, the estimator "
        "that produced it (linear, network, average, svc, or the model's class), the label when the dataset "
        "has one, and with --explain the rationale and its top drivers. With labels it also prints the AUC "
        "with a 95%% bootstrap CI.",
    )
    add_lesion_arguments(pred, dataset_help="the lesions to score")
    pred.add_argument("--model", required=True, help="model file written by llmrad fit (or sklearn_llmrad.io.save)")
    pred.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    pred.add_argument("--explain", action="store_true", help="add each lesion's rationale and top drivers")
    pred.add_argument("--top", type=positive_int, default=5, help="drivers per lesion with --explain (default 5)")
    pred.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="decision threshold replacing the one saved in the model file",
    )
    pred.add_argument(
        "--language-model",
        default=None,
        help="local folder (or hub id) of the language model the model file names but does not hold",
    )
    pred.add_argument(
        "--on-error",
        choices=("raise", "nan"),
        default="raise",
        help="a lesion that cannot be read or extracted: stop with an error naming it (raise, the default), "
        "or warn and write its row with an empty probability and the reason in the error column (nan)",
    )
    pred.add_argument("--bootstraps", type=positive_int, default=2000, help="bootstrap resamples of the AUC's CI")
    pred.add_argument("--cache-dir", default=None, help="on-disk radiomics cache (a rerun reads instead of extracting)")
    pred.add_argument("--n-jobs", type=int, default=None, help="parallel extraction processes (-1: all cores)")
    pred.add_argument("--device", default=None, help="device of the networks (default: as saved, else the CPU)")
    pred.add_argument("--seed", type=int, default=0, help="seed of --dataset synthetic and of the bootstrap")
    add_dataset_options(pred)


def check(args):
    """Either ``--dataset`` or ``IMAGE MASK``; the files exist (raises :class:`UserError`)."""

    check_lesion_input(args, files={"--model": args.model})
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold {args.threshold}: a probability threshold lies in [0, 1]")


def load_model(args):
    """The model, its threshold and the rule that chose it, from the model file (raises ``ModelFileError``)."""
    from .. import io

    metadata = io.read_metadata(args.model)
    named = [lm for lm in metadata.get("language_models", []) if isinstance(lm, str)]
    local = [lm for lm in named if lm.startswith(("/", ".", "~")) or Path(lm).is_absolute()]
    if local and args.language_model is None and not metadata.get("language_model_bundled"):
        # a folder named by a file is never opened (docs/security.md): the user names it
        raise UserError(
            f"{args.model} was trained with the local language model {local[0]!r}, which the file does not "
            "hold; pass --language-model FOLDER (that model), or refit with --include-language-model"
        )
    model = io.load(args.model, device=args.device, language_model=args.language_model)
    if not hasattr(model, "predict_proba"):
        raise UserError(f"--model {args.model!r} holds a {type(model).__name__}, not a classifier")
    threshold, rule = metadata.get("threshold"), metadata.get("threshold_rule")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        threshold, rule = 0.5, "0.5: the model file states no threshold"
    if args.threshold is not None:
        threshold, rule = args.threshold, "--threshold"
    return model, float(threshold), rule


def image_stages(model):
    """``(head, learned part)``: the model's leading image stages (CLAHE, PyRadiomics) and the rest."""
    from sklearn.pipeline import Pipeline

    from ..preprocessing import CLAHEPreprocessor
    from ..radiomics import RadiomicsExtractor

    if not isinstance(model, Pipeline):
        return None, model
    n = 0
    while n < len(model.steps) - 1 and isinstance(model.steps[n][1], (CLAHEPreprocessor, RadiomicsExtractor)):
        n += 1
    return (model[:n] if n else None), (model[n:] if n < len(model.steps) - 1 else model.steps[-1][1])


def _failures(frame):
    out = {}
    for key in ("preprocessing_failures", "radiomics_failures"):
        for failure in frame.attrs.get(key, []):
            out.setdefault(str(failure["case"]), f"{failure.get('error', 'error')}: {failure['reason']}")
    return out


def score(model, X, *, on_error="raise", explain=False, top_n=5, cache_dir=None, n_jobs=None):
    """Each lesion's probability, estimator and (with ``explain``) rationale; failed lesions get NaN.

    With ``explain`` the columns come from :func:`sklearn_llmrad.explain`; without,
    the probability is ``predict_proba``'s and the estimator's name
    :func:`~sklearn_llmrad.explanation.estimator_kind`'s (no attributions computed).

    Returns a DataFrame indexed by case with ``probability``, ``estimator``,
    ``drivers``, ``text`` and ``error`` (empty for lesions that were scored).
    """
    import numpy as np
    import pandas as pd

    from ..explanation import estimator_kind
    from ..explanation import explain as explain_model

    head, learned = image_stages(model)
    features, errors = X, {}
    if head is not None:
        params = {f"{name}__on_error": on_error for name, _ in head.steps}
        if "radiomics" in head.named_steps:
            params.update(radiomics__cache_dir=cache_dir, radiomics__n_jobs=n_jobs)
        head.set_params(**params)
        for _, stage in head.steps:  # stage by stage: each one's failures are in its own output's attrs
            features = stage.transform(features)
            errors = {**_failures(features), **errors}
    good = [str(case) not in errors for case in X.index]
    kept = features.loc[[case for case, ok in zip(X.index, good, strict=True) if ok]]
    table = pd.DataFrame(index=X.index, columns=["probability", "estimator", "drivers", "text", "error"], dtype=object)
    table["error"] = [errors.get(str(case), "") for case in X.index]
    if len(kept):
        final = learned.steps[-1][1] if hasattr(learned, "steps") else learned
        kind = estimator_kind(learned)
        if explain and kind is not None:
            explained = explain_model(learned, kept, top_n=top_n)
        else:  # the probability alone; the estimator's name read from the fitted model
            explained = pd.DataFrame(
                {
                    "probability": learned.predict_proba(kept)[:, 1],
                    "estimator": kind or type(final).__name__,
                    "drivers": None,
                    "text": None,
                },
                index=kept.index,
            )
            if explain:
                print(f"llmrad: note: no rationale for a {type(final).__name__}", file=sys.stderr)
        explained.index = kept.index
        for column in ("probability", "estimator", "drivers", "text"):
            table.loc[kept.index, column] = explained[column].to_numpy()
    table["probability"] = pd.to_numeric(table["probability"]).astype(float)
    table.loc[~np.asarray(good), "estimator"] = ""
    return table


def _number(value):
    return None if value is None or not math.isfinite(value) else float(value)


def drivers_json(drivers):
    """A lesion's drivers (explain's tuples) as a JSON list of ``{feature, value, percentile, contribution}``."""
    if not isinstance(drivers, list):
        return ""
    keys = ("feature", "value", "percentile", "contribution")
    return json.dumps([{k: (v if k == "feature" else _number(v)) for k, v in zip(keys, d)} for d in drivers])


def report_auc(y, probability, threshold, *, n_bootstraps, random_state, stream):
    """Print AUC with its 95% bootstrap CI (and sensitivity, specificity at the threshold) for labelled lesions."""
    import numpy as np

    from ..metrics import summarize_predictions

    scored = np.isfinite(probability)
    y, p = np.asarray(y)[scored], probability[scored]
    if len(np.unique(y)) < 2:
        print(f"Labels present but one class only ({len(y)} lesions): no AUC", file=stream)
        return None
    row = summarize_predictions(y, p, threshold=threshold, n_bootstraps=n_bootstraps, random_state=random_state)
    print(
        f"AUC {row['auc']:.3f} (95% CI {row['auc_low']:.3f}-{row['auc_high']:.3f}) on {row['n']} lesions "
        f"({row['n_positive']} malignant); at threshold {threshold:.3f}: sensitivity {row['sensitivity']:.3f}, "
        f"specificity {row['specificity']:.3f}",
        file=stream,
    )
    return row


def run(args):
    """``llmrad predict``: one row per lesion as CSV; AUC with CI when the lesions have labels."""
    import numpy as np
    import pandas as pd

    model, threshold, rule = load_model(args)
    if args.image is not None:
        X, y = one_lesion(args)
    else:
        X, y, _, _ = dataset_from_args(args, stream=sys.stderr)
    if len(X) == 0:
        raise UserError("no lesions to predict")
    table = score(
        model,
        X,
        on_error=args.on_error,
        explain=args.explain,
        top_n=args.top,
        cache_dir=args.cache_dir,
        n_jobs=args.n_jobs,
    )
    scored = table["probability"].notna()
    out = pd.DataFrame(index=pd.Index(X.index, name="case"))
    out["probability"] = table["probability"]
    out["predicted"] = pd.array(np.where(table["probability"] >= threshold, 1, 0), dtype="Int64")
    out.loc[~scored.to_numpy(), "predicted"] = pd.NA
    out["estimator"] = table["estimator"]
    if y is not None:
        out["label"] = np.asarray(y)
    if args.explain:
        out["rationale"] = table["text"].fillna("")
        out["drivers"] = [drivers_json(d) for d in table["drivers"]]
    if args.on_error == "nan":
        out["error"] = table["error"]
    stream = sys.stderr if args.out is None else sys.stdout
    if args.out is None:
        out.to_csv(sys.stdout, float_format="%.10g")
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(args.out, float_format="%.10g")
        print(f"{int(scored.sum())} of {len(out)} lesions scored -> {args.out}", file=stream)
    print(f"Threshold {threshold:.4f} ({rule})", file=stream)
    if y is not None:
        report_auc(
            y, table["probability"].to_numpy(), threshold, n_bootstraps=args.bootstraps, random_state=args.seed,
            stream=stream,
        )  # fmt: skip
    return 0
