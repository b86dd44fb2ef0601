"""Save and load fitted pipelines without pickle.

A model file is one zip archive:

``manifest.json``
    format version, the library versions it was written with, and one node per
    estimator: its class (a dotted name), its parameters and where its state is.
``steps/<i>.skops``
    scikit-learn-style estimators (selectors, scalers, SVC, our transformers),
    written with :mod:`skops.io` and loaded with an explicit list of trusted
    types.
``steps/<i>.safetensors``
    tensors: the weights of torch modules inside skorch nets and numeric arrays
    held by estimators.
``steps/<i>/language_model/``
    only with ``include_language_model=True``: the encoder's language model
    (safetensors weights, config and tokenizer files).

The manifest may also hold a small ``metadata`` block given to :func:`save`
(e.g. the decision threshold ``llmrad fit`` chose): plain JSON data, checked on
save and on load, read without loading the model by :func:`read_metadata`.

Objects that need more than their parameters (the package's skorch nets, the
inner-CV choice) state what the file holds of them through public hooks
(``get_file_state``, ``from_file_state``; see ``io/_file_state.py``); their
private attributes are never read.

Nothing in the file is ever unpickled. Every class the manifest or a skops
payload names is checked against an allow-list *before* it is imported, every
parameter *value* against its class's schema (:mod:`sklearn_llmrad.io.values`)
before anything is built, and a network's shapes against the weights the file
holds, on PyTorch's ``meta`` device, so a file cannot make ``load`` allocate
more than it stores. A file that fails these checks raises
:class:`UnsafeModelError`; any other failure on a malformed file is a
:class:`ModelFileError`. See ``docs/security.md`` for the threat model.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from pathlib import Path

from ._allowlist import AllowList, dotted, own_registry
from ._archive import FORMAT, FORMAT_VERSION, MANIFEST, open_archive, write_archive
from ._file_state import file_state_kind, load_file_state, save_file_state
from ._manifest import FILE_STATE_KINDS, check_node
from ._metadata import check_metadata, manifest_metadata
from ._skops import load_skops, save_skops
from .values import ModelFileError, ModelFileWarning, UnsafeModelError

__all__ = [
    "ModelFileError",
    "ModelFileWarning",
    "UnsafeModelError",
    "load",
    "own_registry",
    "read_metadata",
    "save",
]

# Distribution names whose versions are recorded; a mismatch on load warns,
# because numerics or fitted-attribute layouts can change between releases.
_VERSIONED = {
    "sklearn_llmrad": "sklearn-llmrad",
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "torch": "torch",
    "transformers": "transformers",
    "skorch": "skorch",
    "pyradiomics": "pyradiomics-bhklab",
    "skops": "skops",
}


def _versions():
    out = {}
    for key, dist in _VERSIONED.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    return out


def save(estimator, path, *, include_language_model=False, metadata=None):
    """Save a fitted estimator or pipeline to a single file, without pickle.

    Parameters
    ----------
    estimator : estimator or :class:`~sklearn.pipeline.Pipeline`
        Fitted. The package's skorch nets (e.g.
        :class:`~sklearn_llmrad.LLMRadiomicsClassifier`) and inner-CV choices are
        stored as they state through ``get_file_state`` (parameters, fitted
        attributes, safetensors weights); other estimators with :mod:`skops.io`.
    path : str or os.PathLike
        Destination file (conventionally ``*.llmrad``); overwritten.
    include_language_model : bool, default=False
        Store the language model of a text encoder inside the file (safetensors
        weights, config, tokenizer files). By default it is only referenced by
        its id or path, its revision and a hash of its config, and must be
        available when the file is loaded.
    metadata : dict, default=None
        Facts about the model stored in the manifest and returned by
        :func:`read_metadata` (e.g. ``{"threshold": 0.42}``): string keys;
        values None, bool, int, finite float, str, and lists or dicts of those,
        at most 16 levels deep and 1 MiB as JSON. Never code, never a path
        ``io`` follows.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        ``metadata`` holds something else than plain JSON data.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_llmrad.io import save, load
    >>> X, y = make_classification(n_samples=40, random_state=0)
    >>> model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.llmrad")
    >>> _ = save(model, path)
    >>> bool((load(path).predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions()}
    if metadata is not None:
        manifest["metadata"] = check_metadata(metadata)
    writer = _Writer(include_language_model)
    manifest["estimator"] = writer.node(estimator)
    return write_archive(Path(path), manifest, writer.members)


class _Writer:
    """The archive's members as ``save`` builds them, one numbered step per stored estimator."""

    def __init__(self, include_language_model):
        self.include_language_model = include_language_model
        self.members = {}
        self.count = 0

    def new_index(self):
        self.count += 1
        return self.count - 1

    def node(self, est):
        """The manifest node of ``est``, writing its members."""
        from sklearn.pipeline import Pipeline
        from skorch import NeuralNet

        if est is None or (isinstance(est, str) and est in ("passthrough", "drop")):
            return {"kind": "passthrough", "value": est}
        if isinstance(est, Pipeline):
            # pipeline memory is a folder on this machine: never stored (see io.values)
            params = {
                k: v
                for k, v in est.get_params(deep=False).items()
                if k not in ("steps", "memory") and isinstance(v, (bool, int, str, type(None)))
            }
            steps = [{"name": name, "node": self.node(step)} for name, step in est.steps]
            return {"kind": "pipeline", "class": dotted(type(est)), "params": params, "steps": steps}
        kind = file_state_kind(est)
        if kind is not None:
            return save_file_state(est, kind, self)
        if isinstance(est, NeuralNet):
            raise TypeError(
                f"cannot save {type(est).__name__}: a skorch net is stored through the file-state hooks "
                "of sklearn_llmrad.models._base.SkorchClassifierBase (get_file_state, from_file_state)"
            )
        return save_skops(est, self)


def load(path, *, trusted=None, device=None, language_model=None, language_model_dir=None):
    """Load a model saved with :func:`save`, refusing anything that could run code.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.
    trusted : list of str or type, default=None
        Extra classes/functions (dotted names or the objects) to accept beyond
        the built-in allow-list (this package's estimators, scikit-learn
        estimators, numpy, skorch/torch training classes). Review
        ``UnsafeModelError`` messages before adding anything here.
    device : str, default=None
        Device for skorch nets and language models (``"cpu"``, ``"cuda"``).
        ``None`` keeps the recorded device, falling back to CPU with a
        warning when CUDA is recorded but unavailable.
    language_model : str or os.PathLike, default=None
        The language model (a local folder or a model id) for every text encoder
        in the file that refers to one instead of storing it. A file names a
        language model only by its id: a folder path in a file is never taken
        (it is reset to the encoder's default, with a :class:`ModelFileWarning`).
    language_model_dir : str or os.PathLike, default=None
        Where to extract a language model stored in the file
        (``include_language_model=True``); a new temporary directory if None.

    Returns
    -------
    estimator : the fitted estimator or pipeline.

    Raises
    ------
    UnsafeModelError
        The file names a class outside the allow-list, gives a parameter a value
        its class does not allow, holds untrusted skops types or contains pickle
        data. Raised before any of it is executed.
    ModelFileError
        The file is not a readable model archive. No other exception type comes
        out of a malformed file.

    Warns
    -----
    ModelFileWarning
        A value that is never taken from a file (compile options, cache folders,
        pipeline memory, weights files, folder paths) was reset to its default.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_llmrad.io import save, load
    >>> path = os.path.join(tempfile.mkdtemp(), "scaler.llmrad")
    >>> _ = save(StandardScaler().fit([[0.0], [2.0]]), path)
    >>> load(path).transform([[2.0]])
    array([[1.]])
    """
    try:
        return _load_archive(path, trusted, device, language_model, language_model_dir)
    except (ModelFileError, UnsafeModelError, Warning):
        raise
    except SystemExit as exc:  # raised by something the file reached: not an exit the caller asked for
        raise ModelFileError(f"{os.fspath(path)!s}: cannot load the model (SystemExit: {exc})") from exc
    except (KeyError, IndexError) as exc:
        # a manifest entry without a field it must have
        raise ModelFileError(f"{os.fspath(path)!s}: malformed manifest (missing {exc})") from exc
    except OSError as exc:
        if not Path(path).is_file():
            raise  # the caller's mistake (no such file), not the file's
        raise ModelFileError(f"{os.fspath(path)!s}: cannot read the model file ({exc})") from exc
    except Exception as exc:
        # whatever else a malformed file provokes (a corrupt deflate stream, a
        # value a constructor rejects) is still a malformed file
        raise ModelFileError(f"{os.fspath(path)!s}: cannot load the model ({type(exc).__name__}: {exc})") from exc


def read_metadata(path):
    """The metadata block a model file holds, without loading the model.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.

    Returns
    -------
    dict
        What ``save(..., metadata=...)`` stored (``{}`` when nothing was), after
        the same checks as on save.

    Raises
    ------
    ModelFileError
        The file is not a model file, or its metadata is not plain JSON data.
    UnsafeModelError
        The archive breaks the bounds :func:`load` enforces (sizes, names).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_llmrad.io import read_metadata, save
    >>> scaler = StandardScaler().fit([[0.0], [2.0]])
    >>> read_metadata(save(scaler, Path(tempfile.mkdtemp()) / "scaler.llmrad", metadata={"threshold": 0.4}))
    {'threshold': 0.4}
    """
    zf, manifest = open_archive(path)
    with zf:
        return manifest_metadata(manifest, os.fspath(path))


def _load_archive(path, trusted, device, language_model, language_model_dir):
    allow = AllowList(trusted, language_model=language_model)
    zf, manifest = open_archive(path)
    with zf:
        manifest_metadata(manifest, os.fspath(path))  # a file with malformed metadata is malformed
        root, names, expected = manifest["estimator"], set(zf.namelist()), {MANIFEST}
        # validate the whole manifest (every class name, every member) before
        # importing or constructing anything
        check_node(root, allow, expected, names)
        unexpected = sorted(names - expected)
        if unexpected:
            raise UnsafeModelError(
                f"{os.fspath(path)!s} contains files the manifest does not declare: "
                f"{unexpected[:5]}; refusing to load a tampered model file"
            )
        versions = manifest.get("versions", {})
        if type(versions) is not dict:
            raise ModelFileError(f"{os.fspath(path)!s}: malformed versions in the manifest")
        _check_versions(versions)
        ctx = {
            "zf": zf,
            "allow": allow,
            "device": device,
            "lm_dir": language_model_dir,
            "language_model": language_model,
            "path": os.fspath(path),
            "version": manifest["format_version"],
            "load_node": _load_node,
        }
        return _load_node(root, ctx)


def _check_versions(recorded):
    current = _versions()
    diffs = [
        f"{k} {recorded[k]} (file) vs {current.get(k)} (installed)"
        for k in sorted(recorded)
        if k in current and recorded[k] != current[k]
    ]
    if diffs:
        warnings.warn(
            "the model file was saved with other library versions; predictions may differ: " + "; ".join(diffs),
            UserWarning,
            stacklevel=3,
        )


def _load_node(node, ctx):
    from sklearn.pipeline import Pipeline

    kind = node["kind"]
    if kind == "passthrough":
        return node.get("value")
    if kind in FILE_STATE_KINDS:
        return load_file_state(node, ctx)
    if kind != "pipeline":
        return load_skops(node, ctx)
    cls = ctx["allow"].resolve(node["class"], what="a pipeline")
    if not issubclass(cls, Pipeline):
        raise UnsafeModelError(f"{node['class']!r} is not a Pipeline")
    steps = [(s["name"], _load_node(s["node"], ctx)) for s in node["steps"]]
    params = ctx["allow"].check(cls, node.get("params", {}), where=f"{ctx['path']} ({cls.__name__})")
    try:
        return cls(steps, **params)
    except TypeError as exc:
        raise ModelFileError(f"{ctx['path']}: invalid pipeline parameters ({exc})") from exc
