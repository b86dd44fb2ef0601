"""Results tables and plots of a benchmark (lesions) and of a transfer benchmark (studies):
terminal, Markdown, CSV and PNG.

The table has one row per model. Columns ``<metric>``, ``<metric>_low`` and
``<metric>_high`` hold the estimate and its 95% stratified-bootstrap confidence
interval for ``auc``, ``sensitivity``, ``specificity``, ``f1`` and ``accuracy``;
``fnr`` is the false-negative rate, ``brier`` and ``ece`` measure calibration,
and ``delong_p`` is the two-sided DeLong p-value of the model's AUC against the
full method's on the same lesions. A transfer benchmark's report
(:func:`write_transfer_report`) has per-study AUCs with CIs, mean ranks, a Friedman
test and pairwise Wilcoxon tests over studies.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import atomic_write_bytes

__all__ = [
    "METRICS",
    "format_table",
    "to_markdown",
    "write_report",
    "results_html",
    "exclusion_note",
    "plot_roc_curves",
    "plot_reliability",
    "plot_top_features",
    "plot_transfer",
    "transfer_markdown",
    "write_transfer_report",
]

#: Metrics reported with a confidence interval, in table order.
METRICS = (
    ("auc", "AUC"),
    ("sensitivity", "Sensitivity"),
    ("specificity", "Specificity"),
    ("f1", "F1"),
    ("accuracy", "Accuracy"),
)


def _ci(row, key):
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    if low is None or high is None or any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _plain(row, key, fmt="{:.3f}"):
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _format_p(p):
    if p is None or not np.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _p(row, reference):
    value = row.get("delong_p")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(reference)" if row.get("name") == reference else "-"
    return _format_p(value)


def _display_rows(table):
    reference = table.attrs.get("delong_reference", "llmrad")
    versus = "full" if reference == "llmrad" else str(reference)
    header = (
        ["Model"] + [label + " (95% CI)" for _, label in METRICS] + ["FNR", "Brier", "ECE", f"DeLong p vs {versus}"]
    )
    rows = []
    for row in table.to_dict("records"):
        if str(row.get("status", "ok")) != "ok":
            rows.append([row["model"]] + [str(row["status"])] + [""] * (len(header) - 2))
            continue
        rows.append(
            [row["model"]]
            + [_ci(row, key) for key, _ in METRICS]
            + [_plain(row, "fnr"), _plain(row, "brier"), _plain(row, "ece"), _p(row, reference)]
        )
    return header, rows


def format_table(table):
    """The results table as fixed-width text for the terminal.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`BenchmarkResult.table <sklearn_llmrad.benchmark.BenchmarkResult>`.

    Returns
    -------
    str
        One line per model; metrics as ``value [low, high]``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.report import format_table
    >>> t = pd.DataFrame([{"model": "SVC", "name": "svc", "auc": 0.8, "auc_low": 0.7,
    ...                    "auc_high": 0.9, "status": "ok"}])
    >>> "0.800 [0.700, 0.900]" in format_table(t)
    True
    """
    header, rows = _display_rows(table)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def to_markdown(table):
    """The results table as a Markdown table.

    Parameters
    ----------
    table : pandas.DataFrame
        The table :func:`format_table` takes (one row per model).

    Returns
    -------
    str
        A Markdown table, one row per model.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.report import to_markdown
    >>> t = pd.DataFrame([{"model": "SVC", "name": "svc", "status": "failed: boom"}])
    >>> to_markdown(t).splitlines()[2].startswith("| SVC | failed: boom")
    True
    """
    return _table(*_display_rows(table))


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_roc_curves(predictions, labels, path):
    """ROC curves of all models on one figure (out-of-fold test predictions).

    Parameters
    ----------
    predictions : dict of str to pandas.DataFrame
        Out-of-fold predictions per model (``part``, ``y_true``, ``y_prob``);
        models with one class in their test part are left out.
    labels : dict of str to str
        Display name of each model.
    path : path-like
        Where the PNG is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_llmrad.report import plot_roc_curves
    >>> import numpy as np, pandas as pd
    >>> y = np.array([0, 1] * 10)
    >>> pred = pd.DataFrame({"part": "test", "y_true": y, "y_prob": np.linspace(0.1, 0.9, 20)})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
    >>> plot_roc_curves({"svc": pred}, {"svc": "SVC"}, path)
    >>> path.stat().st_size > 0
    True
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, pred in predictions.items():
        test = pred[pred["part"] == "test"]
        if test["y_true"].nunique() < 2:
            continue
        fpr, tpr, _ = roc_curve(test["y_true"], test["y_prob"])
        auc = roc_auc_score(test["y_true"], test["y_prob"])
        ax.plot(fpr, tpr, label=f"{labels.get(name, name)} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="1 - specificity", ylabel="Sensitivity", title="ROC curves (out-of-fold)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(predictions, labels, path, *, n_bins=10):
    """Reliability diagram: mean predicted probability against observed frequency.

    Parameters
    ----------
    predictions : dict of str to pandas.DataFrame
        Out-of-fold predictions per model (``part``, ``y_true``, ``y_prob``).
    labels : dict of str to str
        Display name of each model.
    path : path-like
        Where the PNG is written.
    n_bins : int, default=10
        Equal-width probability bins.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_llmrad.report import plot_reliability
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=200)
    >>> calibrated = pd.DataFrame({"part": "test", "y_prob": p, "y_true": (rng.uniform(size=200) < p).astype(int)})
    >>> overconfident = calibrated.assign(y_prob=np.clip(2 * p - 0.5, 0, 1))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "reliability.png"
    >>> plot_reliability({"a": calibrated, "b": overconfident}, {"a": "Calibrated"}, path, n_bins=5)
    >>> path.stat().st_size > 0
    True
    """
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    edges = np.linspace(0, 1, n_bins + 1)
    for name, pred in predictions.items():
        test = pred[pred["part"] == "test"]
        which = np.clip(np.digitize(test["y_prob"], edges[1:-1]), 0, n_bins - 1)
        frame = pd.DataFrame({"bin": which, "p": test["y_prob"], "y": test["y_true"]})
        stats = frame.groupby("bin").agg(p=("p", "mean"), y=("y", "mean"))
        ax.plot(stats["p"], stats["y"], marker="o", label=labels.get(name, name))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="Mean predicted probability",
        ylabel="Observed fraction malignant",
        title="Reliability diagram",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_top_features(explanations, path, *, top_n=15, title=None, xlabel=None):
    """Bar chart of the features behind one model's decisions.

    Parameters
    ----------
    explanations : pandas.DataFrame
        One row per feature, most important first, with ``mean_abs_contribution``
        and ``description`` (or ``feature``) columns.
    path : path-like
        Where the PNG is written.
    top_n : int, default=15
        How many features are shown.
    title : str, default=None
        The plot's title: which model (and estimator) the features drove;
        ``"Features behind the model's decisions"`` when None.
    xlabel : str, default=None
        What a contribution is; the malignancy logit's when None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from sklearn_llmrad.report import plot_top_features
    >>> explanations = pd.DataFrame({"feature": ["glcm_Contrast", "age"],
    ...                              "mean_abs_contribution": [0.4, 0.1]})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "top.png"
    >>> plot_top_features(explanations, path, top_n=2)
    >>> path.stat().st_size > 0
    True
    """
    plt = _figure()
    top = explanations.head(top_n).iloc[::-1]
    label_col = "description" if "description" in top.columns else "feature"
    labels = [str(t) if len(str(t)) <= 70 else str(t)[:67] + "..." for t in top[label_col]]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.5))
    ax.barh(labels, top["mean_abs_contribution"], color="#4477aa")
    ax.set(
        xlabel=xlabel or "Mean |contribution| to the malignancy logit",
        title=title or "Features behind the model's decisions",
    )
    ax.tick_params(axis="y", labelsize=7)
    ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def exclusion_note(result):
    """One line saying how many lesions were left out and why, or ``""`` when none were.

    Parameters
    ----------
    result : BenchmarkResult
        Its ``excluded`` frame (``case``, ``stage``, ``reason``) and ``n_lesions``
        are read; the first 5 exclusions are named.

    Returns
    -------
    str
        Markdown text, empty when no lesion was left out.

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> failed = pd.DataFrame({"case": ["c7"], "stage": ["preprocessing"], "reason": ["image file not found"]})
    >>> note = exclusion_note(SimpleNamespace(excluded=failed, n_lesions=40))
    >>> note.startswith("**1 of 40 lesions were left out**"), note.endswith("c7 (preprocessing: image file not found)")
    (True, True)
    """
    failed = getattr(result, "excluded", None)
    if failed is None or len(failed) == 0:
        return ""
    shown = [f"{r['case']} ({r['stage']}: {r['reason']})" for r in failed.head(5).to_dict("records")]
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return (
        f"**{len(failed)} of {result.n_lesions} lesions were left out** because an image stage failed on them "
        f"(failed.csv): " + "; ".join(shown) + more
    )


def _predicted_by(rationales, name):
    """How many of a model's explained test lesions each estimator predicted (``{"network": 40}``)."""
    if rationales is None or not len(rationales):
        return {}
    return rationales.loc[rationales["name"] == name, "estimator"].value_counts().to_dict()


def _top_feature_plots(result, labels, out_dir):
    """``top_features.csv`` and one ``top_features_<name>.png`` per model that explains itself.

    Returns ``[(file name, caption)]`` in table order.
    """
    explained = result.explanations
    if explained is None or not len(explained):
        return []
    atomic_write_bytes(out_dir / "top_features.csv", explained.to_csv(index=False).encode())
    if "name" not in explained.columns:  # one model's table, as results before version 0.2 held
        plot_top_features(explained, out_dir / "top_features.png")
        return [("top_features.png", "Top features")]
    rationales = getattr(result, "rationales", None)
    plots = []
    for name in [n for n in labels if n in set(explained["name"])]:
        counts = _predicted_by(rationales, name)
        by = ", ".join(f"{kind} ({n} lesion{'s' if n != 1 else ''})" for kind, n in counts.items())
        svc = set(counts) == {"svc"}
        caption = f"{labels[name]}: features behind its decisions" + (f"\npredicted by: {by}" if by else "")
        path = f"top_features_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
        plot_top_features(
            explained[explained["name"] == name],
            out_dir / path,
            title=caption,
            xlabel="Mean |change of probability| with the feature at its training median" if svc else None,
        )
        plots.append((path, caption.replace("\n", "; ")))
    return plots


_EXTERNAL_NOTE = (
    "External validation: every model was trained on all lesions of the training dataset "
    "and tested once on the lesions of the other dataset (`predictions/`, part `test`)."
)


def write_report(result, out_dir):
    """Write ``results.csv``, ``results.md``, ``results.html`` and the PNG plots of a benchmark.

    The tables are written atomically (a reader never sees half a file). Each
    model that explains itself (see :func:`~sklearn_llmrad.explain`) gets its
    plot ``top_features_<name>.png``, titled with the model and the estimator
    that predicted its lesions; ``results.html`` is :func:`results_html`.

    Parameters
    ----------
    result : BenchmarkResult
        What :func:`~sklearn_llmrad.benchmark.run_benchmark` returned.
    out_dir : path-like
        An existing folder; files of the same name are replaced.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn_llmrad.benchmark import BenchmarkResult
    >>> from sklearn_llmrad.report import write_report
    >>> y = np.array([0, 1] * 10)
    >>> pred = pd.DataFrame({"case": [f"c{i}" for i in range(20)], "fold": 0, "part": "test",
    ...                      "y_true": y, "y_prob": np.linspace(0.1, 0.9, 20)})
    >>> table = pd.DataFrame([{"model": "SVC", "name": "svc", "auc": 0.8, "status": "ok"}])
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_report(BenchmarkResult(table=table, predictions={"svc": pred}), out)
    >>> sorted(p.name for p in out.iterdir())
    ['reliability.png', 'results.csv', 'results.html', 'results.md', 'roc.png']
    """
    out_dir = Path(out_dir)
    atomic_write_bytes(out_dir / "results.csv", result.table.to_csv(index=False).encode())
    labels = dict(zip(result.table["name"], result.table["model"]))
    md = ["# Benchmark results", ""]
    excluded = exclusion_note(result)
    if excluded:
        md += [excluded, ""]
    md += [_EXTERNAL_NOTE, ""] if getattr(result, "external", False) else []
    md += [to_markdown(result.table), "", _table_note(result), ""]
    figures = []
    if result.predictions:
        plot_roc_curves(result.predictions, labels, out_dir / "roc.png")
        plot_reliability(result.predictions, labels, out_dir / "reliability.png")
        figures += [("roc.png", "ROC curves"), ("reliability.png", "Reliability diagram")]
    figures += _top_feature_plots(result, labels, out_dir)
    for path, caption in figures:
        md += [f"![{caption}]({path})", ""]
    atomic_write_bytes(out_dir / "results.md", "\n".join(md).encode())
    page = results_html(result, [(out_dir / path, caption) for path, caption in figures])
    atomic_write_bytes(out_dir / "results.html", page.encode())


def _table_note(result):
    over = "the test dataset's predictions" if getattr(result, "external", False) else "out-of-fold predictions"
    return (
        f"95% CIs: stratified bootstrap over {over}. "
        "DeLong p: paired test of the AUC against the reference model (the full method when it ran) "
        "on the same lesions. "
        "FNR: false-negative rate at threshold 0.5. ECE: expected calibration error (10 bins)."
    )


def _rationale_sample(result, n):
    """The same ``n`` test lesions (drawn with the benchmark's seed) for each model that explains itself."""
    rationales = getattr(result, "rationales", None)
    if rationales is None or not len(rationales):
        return rationales
    cases = pd.unique(rationales["case"])
    seed = (getattr(result, "settings", None) or {}).get("random_state", 0)
    picked = set(np.random.default_rng(seed).choice(cases, size=min(n, len(cases)), replace=False))
    sample = rationales[rationales["case"].isin(picked)]
    truth = {
        (name, str(case)): label
        for name, frame in result.predictions.items()
        for case, label in zip(frame["case"], frame["y_true"])
    }
    labels = [truth.get((name, case), "") for name, case in zip(sample["name"], sample["case"])]
    return sample.assign(y_true=labels).sort_values(["case", "name"], kind="stable")


def _html_table(header, rows, *, keys=None):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        key = "" if keys is None else f' data-model="{html.escape(str(keys[i]))}"'
        body.append(f"<tr{key}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _plain_text(markdown):
    return html.escape(markdown.replace("**", "").replace("`", ""))


def results_html(result, figures=(), *, n_rationales=6):
    """The benchmark's report as one self-contained HTML page.

    Everything is in the page: the results table (one ``<tr data-model="name">``
    per model), the figures as base64 PNG, the settings and package versions,
    and the rationales of :func:`~sklearn_llmrad.explain` for a sample of test
    lesions; it links to nothing and runs no script.

    Parameters
    ----------
    result : BenchmarkResult
        What :func:`~sklearn_llmrad.benchmark.run_benchmark` returned.
    figures : sequence of (path-like, str), default=()
        PNG files to embed, each with its caption.
    n_rationales : int, default=6
        Test lesions whose rationales are shown (the same lesions for every model).

    Returns
    -------
    str
        The HTML text.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.benchmark import BenchmarkResult
    >>> from sklearn_llmrad.report import results_html
    >>> table = pd.DataFrame([{"model": "SVC", "name": "svc", "auc": 0.8, "status": "ok"}])
    >>> page = results_html(BenchmarkResult(table=table, predictions={}, versions={"numpy": "2.0"}))
    >>> '<tr data-model="svc"><td>SVC</td><td>0.800</td>' in page, "<script" in page
    (True, False)
    """
    versions = getattr(result, "versions", None) or {}
    parts = ["<h1>Benchmark results</h1>"]
    excluded = exclusion_note(result)
    parts += [f"<p>{_plain_text(excluded)}</p>"] if excluded else []
    parts += [f"<p>{_plain_text(_EXTERNAL_NOTE)}</p>"] if getattr(result, "external", False) else []
    header, rows = _display_rows(result.table)
    parts += [_html_table(header, rows, keys=list(result.table["name"])), f"<p>{_plain_text(_table_note(result))}</p>"]
    for path, caption in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    sample = _rationale_sample(result, n_rationales)
    if sample is not None and len(sample):
        labels = dict(zip(result.table["name"], result.table["model"]))
        parts += [
            "<h2>Rationales for a sample of test lesions</h2>",
            "<p>What each model said about the same lesions, out of fold (sklearn_llmrad.explain).</p>",
            _html_table(
                ["Lesion", "Label", "Model", "Fold", "Estimator", "Probability", "Rationale"],
                [
                    [r.case, r.y_true, labels.get(r.name, r.name), r.fold, r.estimator, f"{r.probability:.3f}", r.text]
                    for r in sample.itertuples(index=False)
                ],
            ),
        ]
    settings = getattr(result, "settings", None) or {}
    parts += [
        "<h2>Settings</h2>",
        _html_table(["Setting", "Value"], [[k, json.dumps(v, default=str)] for k, v in settings.items()]),
        "<h2>Versions</h2>",
        _html_table(["Package", "Version"], [[k, v or "-"] for k, v in versions.items()]),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:90%;text-align:left;vertical-align:top}"
        "img{max-width:100%}figure{margin:1em 0}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Benchmark results</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


# -- transfer benchmark (studies) --------------------------------------------------
def _choice_lines(result):
    """What the inner-CV choices picked, over all outer folds, per model that makes one."""
    table = result.per_study
    if "choices" not in table:
        return []
    lines = []
    for model, cells in table.dropna(subset=["choices"]).groupby("model", sort=False)["choices"]:
        counts = {}
        for cell in cells:
            for part in str(cell).split(", "):
                name, n = part.rsplit(" ", 1)
                counts[name] = counts.get(name, 0) + int(n)
        total = sum(counts.values())
        picked = ", ".join(f"{name} in {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        lines += [
            f"Inner-CV choice of {result.labels.get(model, model)} (`{model}`): {picked} of {total} "
            "outer training folds (`choices` in `transfer_per_study.csv`).",
            "",
        ]
    return lines


def display_model_name(name):
    """A language model id as a report shows it: a local copy by its last two folders, not its absolute path."""
    path = Path(str(name))
    if path.is_absolute():
        return f"{path.parent.name}/{path.name} (local copy)"
    return str(name)


def transfer_markdown(result):
    """The report of a transfer benchmark as Markdown text.

    Parameters
    ----------
    result : TransferResult
        What :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark` or
        :func:`~sklearn_llmrad.benchmark.collect_transfer_results` returned.

    Returns
    -------
    str
        Settings, the summary (mean AUC, mean rank, Friedman p), the Wilcoxon
        tests, the per-study AUCs with their CIs and any failures.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_llmrad.benchmark import TransferResult
    >>> from sklearn_llmrad.report import transfer_markdown
    >>> from sklearn_llmrad.significance import summarize_studies
    >>> aucs = pd.DataFrame({"lr": [0.7, 0.8, 0.9], "svc": [0.6, 0.75, 0.9]}, index=["A", "B", "C"])
    >>> per_study = aucs.rename_axis(index="study", columns="model").stack().rename("auc").reset_index()
    >>> per_study = per_study.assign(auc_low=0.5, auc_high=1.0, status="ok")
    >>> text = transfer_markdown(TransferResult(per_study, aucs, *summarize_studies(aucs)))
    >>> "0.700 [0.500, 1.000]" in text
    True
    """
    labels = result.labels
    lines = ["# Leave-one-study-out transfer benchmark", ""]
    s = result.settings
    lines += [
        f"{len(result.aucs)} target studies, {s.get('cv')}-fold stratified CV on each (same seeded "
        f"folds for every model). Language model: `{display_model_name(s.get('language_model'))}`. Top-K: "
        f"{s.get('k')}; fusion network: {s.get('classifier_params')}.",
        "",
        "## Summary",
        "",
    ]
    n_complete = int(result.aucs.dropna(axis=0, how="any").shape[0])
    header = ["Model", "name", "Mean AUC", f"Mean AUC ({n_complete} complete studies)", "Median AUC", "Mean rank"]
    rows = [
        [labels.get(m, m), m, *(f"{r[c]:.3f}" for c in ("mean_auc", "mean_auc_complete", "median_auc"))]
        + [f"{r.mean_rank:.2f}" if np.isfinite(r.mean_rank) else "-", int(r.n_studies)]
        for m, r in result.summary.iterrows()
    ]
    lines += [_table(header + ["Studies"], rows), ""]
    lines += [
        f"Friedman test over studies: p = {_format_p(result.friedman_p)}. Mean rank: 1 = best "
        "AUC within a study, over the studies where every model ran (Demšar 2006).",
        "",
    ]
    lines += _choice_lines(result)
    models = list(result.aucs.columns)
    if len(models) > 1 and len(result.pairs):
        pairs = result.pairs.set_index(["model", "versus"])
        lines += [
            "## Wilcoxon signed-rank tests over studies",
            "",
            "Row model vs column model: two-sided p, and wins/ties/losses of the row model.",
            "",
        ]
        rows = []
        for a in models:
            cells = [labels.get(a, a)]
            for b in models:
                if a == b:
                    cells.append("")
                    continue
                r = pairs.loc[(a, b)]
                cells.append(f"{_format_p(r.p_value)} ({r.wins:.0f}/{r.ties:.0f}/{r.losses:.0f})")
            rows.append(cells)
        lines += [_table(["Model"] + models, rows), ""]
    lines += ["## Per-study AUC (95% CI)", ""]
    table = result.per_study
    rows = []
    cells = {(r["study"], r["model"]): r for r in table.to_dict("records")}
    for study in result.aucs.index:
        found = [cells.get((study, m)) for m in models]
        rows.append([study] + ["-" if r is None else _ci(r, "auc") if r["status"] == "ok" else "failed" for r in found])
    lines += [_table(["Study"] + models, rows), ""]
    failures = table[table["status"] != "ok"] if len(table) else table
    for _, r in failures.iterrows():
        lines.append(f"- {r.study} / {r.model}: {r.status}")
    t = result.timing
    lines += [
        "",
        f"Time: {t.get('wall_seconds', 0):.0f} s wall, {t.get('cpu_seconds', 0):.0f} s CPU "
        f"(priors {t.get('prior_wall_seconds', 0):.0f} s wall); "
        f"{t.get('n_cached_results', 0)} of {t.get('n_results', 0)} results reused from cache.",
        "",
        "CIs: stratified bootstrap over each study's pooled out-of-fold predictions.",
        "",
        "![Transfer benchmark](transfer.png)",
        "",
    ]
    return "\n".join(lines)


def plot_transfer(result, path):
    """Per-study AUC of every model, and the mean ranks, on one figure.

    Parameters
    ----------
    result : TransferResult
        What :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark` or
        :func:`~sklearn_llmrad.benchmark.collect_transfer_results` returned.
    path : str or path-like
        The image file (its suffix sets the format, e.g. ``.png``).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> from sklearn_llmrad.benchmark import TransferResult
    >>> from sklearn_llmrad.report import plot_transfer
    >>> from sklearn_llmrad.significance import summarize_studies
    >>> aucs = pd.DataFrame({"lr": [0.7, 0.8], "svc": [0.6, 0.75]}, index=["A", "B"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "transfer.png"
    >>> plot_transfer(TransferResult(None, aucs, *summarize_studies(aucs)), path)
    >>> path.stat().st_size > 0
    True
    """
    plt = _figure()

    aucs = result.aucs
    models = list(aucs.columns)
    fig, (ax, ax_rank) = plt.subplots(
        1, 2, figsize=(11, 0.28 * len(aucs) + 0.2 * len(models) + 3), gridspec_kw={"width_ratios": [3, 1.2]}
    )
    ys = np.arange(len(aucs))
    for j, m in enumerate(models):
        ax.scatter(aucs[m], ys, s=18, label=result.labels.get(m, m), marker="os^vDP*Xh"[j % 9])
    ax.set_yticks(ys, aucs.index, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="AUC (out-of-fold)", title="Leave-one-study-out: AUC per target study")
    # below the axes, so that no study's points are hidden behind it
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, frameon=False)
    summary = result.summary.iloc[::-1]
    ax_rank.barh([result.labels.get(m, m) for m in summary.index], summary["mean_rank"], color="#4477aa")
    ax_rank.set(xlabel="Mean rank (1 = best)", title="Mean rank over studies")
    ax_rank.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_transfer_report(result, out_dir):
    """Write ``transfer.md``, ``transfer.png`` and the CSV tables into ``out_dir``.

    :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark` calls it when given an ``out_dir``.

    Parameters
    ----------
    result : TransferResult
        What :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark` or
        :func:`~sklearn_llmrad.benchmark.collect_transfer_results` returned.
    out_dir : str or path-like
        Created if needed; existing report files are overwritten.

    Examples
    --------
    The report of a run on two tiny studies (see
    :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark`):

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np, pandas as pd
    >>> from sklearn_llmrad.benchmark import run_transfer_benchmark
    >>> from sklearn_llmrad.report import write_transfer_report
    >>> y = np.tile([0, 1], 10)
    >>> noise = np.random.default_rng(0).normal(size=(2, 20))
    >>> tables = {s: (pd.DataFrame({"original_glcm_Idmn": y + e}), y) for s, e in zip("AB", noise)}
    >>> result = run_transfer_benchmark(tables, models=["radiomics-svc"], cv=2, n_bootstraps=20, log=print)
    [1/2 A] radiomics-svc fold 1/2: AUC ...
    >>> with tempfile.TemporaryDirectory() as out_dir:
    ...     write_transfer_report(result, out_dir)
    ...     written = sorted(p.name for p in Path(out_dir).iterdir())
    >>> written  # doctest: +NORMALIZE_WHITESPACE
    ['transfer.md', 'transfer.png', 'transfer_auc.csv', 'transfer_per_study.csv',
     'transfer_priors.json', 'transfer_settings.json', 'transfer_summary.csv',
     'transfer_timing.json', 'transfer_wilcoxon.csv']
    """
    out_dir = Path(out_dir)
    summary = result.summary.assign(label=[result.labels.get(m, m) for m in result.summary.index])
    texts = {
        "transfer_per_study.csv": result.per_study.to_csv(index=False),
        "transfer_auc.csv": result.aucs.to_csv(),
        "transfer_summary.csv": summary.to_csv(index_label="model"),
        "transfer_wilcoxon.csv": result.pairs.to_csv(index=False),
        "transfer_priors.json": json.dumps(result.priors, indent=1),
        "transfer_timing.json": json.dumps(result.timing, indent=1),
        "transfer_settings.json": json.dumps(result.settings, indent=1, default=str),
    }
    for name, text in texts.items():
        atomic_write_bytes(out_dir / name, text.encode())
    if result.aucs.notna().any().any():
        plot_transfer(result, out_dir / "transfer.png")
    atomic_write_bytes(out_dir / "transfer.md", transfer_markdown(result).encode())
