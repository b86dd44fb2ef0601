"""Results table and plots of a benchmark: terminal, Markdown, CSV and PNG.

The table has one row per model. Columns ``<metric>``, ``<metric>_low`` and
``<metric>_high`` hold the estimate and its 95% stratified-bootstrap confidence
interval for ``auc``, ``sensitivity``, ``specificity``, ``f1`` and ``accuracy``;
``fnr`` is the false-negative rate, ``brier`` and ``ece`` measure calibration,
and ``delong_p`` is the two-sided DeLong p-value of the model's AUC against the
full method's on the same lesions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "METRICS",
    "format_table",
    "to_markdown",
    "write_report",
    "exclusion_note",
    "plot_roc_curves",
    "plot_reliability",
    "plot_top_features",
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


def _p(row, reference):
    value = row.get("delong_p")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(reference)" if row.get("name") == reference else "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


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
    header, rows = _display_rows(table)
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


def plot_top_features(explanations, path, *, top_n=15):
    """Bar chart of the features behind the full method's decisions.

    Parameters
    ----------
    explanations : pandas.DataFrame
        One row per feature, most important first, with ``mean_abs_contribution``
        and ``description`` (or ``feature``) columns.
    path : path-like
        Where the PNG is written.
    top_n : int, default=15
        How many features are shown.

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
    ax.set(xlabel="Mean |contribution| to the malignancy logit", title="Full method: features behind its decisions")
    ax.tick_params(axis="y", labelsize=7)
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


def write_report(result, out_dir):
    """Write ``results.csv``, ``results.md`` and the PNG plots of a benchmark.

    The tables are written atomically (a reader never sees half a file).

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
    ['reliability.png', 'results.csv', 'results.md', 'roc.png']
    """
    from pathlib import Path

    from .benchmark.store import atomic_write_bytes

    out_dir = Path(out_dir)
    atomic_write_bytes(out_dir / "results.csv", result.table.to_csv(index=False).encode())
    labels = dict(zip(result.table["name"], result.table["model"]))
    md = ["# Benchmark results", ""]
    excluded = exclusion_note(result)
    if excluded:
        md += [excluded, ""]
    md += [
        to_markdown(result.table),
        "",
        "95% CIs: stratified bootstrap over out-of-fold predictions. "
        "DeLong p: paired test of the AUC against the reference model (the full method when it ran) "
        "on the same lesions. "
        "FNR: false-negative rate at threshold 0.5. ECE: expected calibration error (10 bins).",
        "",
    ]
    if result.predictions:
        plot_roc_curves(result.predictions, labels, out_dir / "roc.png")
        plot_reliability(result.predictions, labels, out_dir / "reliability.png")
        md += ["![ROC curves](roc.png)", "", "![Reliability diagram](reliability.png)", ""]
    if result.explanations is not None and len(result.explanations):
        atomic_write_bytes(out_dir / "top_features.csv", result.explanations.to_csv(index=False).encode())
        plot_top_features(result.explanations, out_dir / "top_features.png")
        md += ["![Top features](top_features.png)", ""]
    atomic_write_bytes(out_dir / "results.md", "\n".join(md).encode())
