"""Dataset loaders. Each returns a :class:`sklearn.utils.Bunch` with ``frame``,
``target``, ``groups`` (patient ids) and ``DESCR``, or ``(X, y)`` with
``return_X_y=True``. The lesion loaders (and the synthetic generator) share
these keyword switches: ``labels`` (bool, default=True) returns the labels as
``target``, and False gives ``target`` None (lesions to predict) with the same
``frame``; ``return_X_y`` (bool, default=False) returns ``(frame, target)``
instead of the Bunch; ``allow_outside_root`` (bool, default=False; the loaders
that read file names or ids from a table) accepts names that would make paths
leave ``root``."""

from .._lazy import lazy_exports

_API = {
    "make_synthetic_mammograms": "sklearn_llmrad.datasets.synthetic",
    "coarsen_mammograms": "sklearn_llmrad.datasets.synthetic",
    "write_synthetic_cbis_ddsm": "sklearn_llmrad.datasets.synthetic",
    "load_mias": "sklearn_llmrad.datasets.mias",
    "load_cbis_ddsm": "sklearn_llmrad.datasets.cbis_ddsm",
    "load_ddsm": "sklearn_llmrad.datasets.ddsm",
    "load_vindr_mammo": "sklearn_llmrad.datasets.vindr",
    "load_inbreast": "sklearn_llmrad.datasets.inbreast",
    "load_csv": "sklearn_llmrad.datasets.csv",
    "load_radmlbench": "sklearn_llmrad.datasets.radmlbench",
    "list_radmlbench": "sklearn_llmrad.datasets.radmlbench",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _API)
