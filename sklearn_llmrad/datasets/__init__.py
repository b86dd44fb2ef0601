"""Dataset loaders. Each returns a :class:`sklearn.utils.Bunch` with ``frame``,
``target``, ``groups`` (patient ids) and ``DESCR``, or ``(X, y)`` with
``return_X_y=True``."""

from importlib import import_module

_API = {
    "make_synthetic_mammograms": "sklearn_llmrad.datasets.synthetic",
    "load_mias": "sklearn_llmrad.datasets.mias",
    "load_cbis_ddsm": "sklearn_llmrad.datasets.cbis_ddsm",
    "load_vindr_mammo": "sklearn_llmrad.datasets.vindr",
    "load_inbreast": "sklearn_llmrad.datasets.inbreast",
    "load_csv": "sklearn_llmrad.datasets.csv",
    "load_radmlbench": "sklearn_llmrad.datasets.radmlbench",
    "list_radmlbench": "sklearn_llmrad.datasets.radmlbench",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'sklearn_llmrad.datasets' has no attribute {name!r}")


def __dir__():
    return __all__
