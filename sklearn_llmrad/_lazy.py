"""Lazy public names for the package ``__init__`` modules.

``import sklearn_llmrad`` must stay fast and must not import torch; each
``__init__`` maps its public names to the module that defines them and imports
that module on first access (PEP 562 module ``__getattr__``).
"""

from importlib import import_module

__all__ = ["lazy_exports"]


def lazy_exports(package, api, *, extra=()):
    """``(__all__, __getattr__, __dir__)`` of ``package``, whose names load lazily.

    ``api`` maps each public name to the module that defines it; ``extra`` names
    are defined in the package itself (``__version__``) and end ``__all__``.

    Examples
    --------
    >>> names, getattr_, dir_ = lazy_exports("pkg", {"sqrt": "math"})
    >>> names, getattr_("sqrt")(4.0)
    (['sqrt'], 2.0)
    """
    all_names = sorted(api) + list(extra)

    def getattr_(name):
        if name in api:
            return getattr(import_module(api[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_():
        return all_names

    return all_names, getattr_, dir_
