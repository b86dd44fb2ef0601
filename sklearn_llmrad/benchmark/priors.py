"""Leave-one-study-out semantic priors: fitted on every other study, cached, never on the target.

For each target study of :func:`~sklearn_llmrad.benchmark.run_transfer_benchmark`,
a :class:`~sklearn_llmrad.prior.SemanticPrior` (and a control prior with random name
vectors) is fitted on all *other* studies and cached under a key made of the studies
used, their data, the language model, the settings and the package versions; a prior
that contains the target study, or another table of the same paper
(:func:`related_studies`), is refused.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from .. import _files
from ..prior import PriorFileError, SemanticPrior
from ..prior_files import NO_LANGUAGE_MODEL
from . import store

__all__ = ["PRIOR_KINDS", "fit_study_prior", "related_studies"]

#: The study priors a model can receive (:class:`~sklearn_llmrad.benchmark.ModelSpec` ``prior``):
#: kind -> :class:`~sklearn_llmrad.prior.SemanticPrior` parameters. ``"language_model"`` and
#: ``"random"`` learn on cleaned names (as the stored results did); the others are the chain of controls.
PRIOR_KINDS = {
    # cleaned names, as the stored transfer results were computed (before identities existed)
    "language_model": {"name_vectors": "language_model", "vocabulary": "cleaned"},
    "random": {"name_vectors": "random", "vocabulary": "cleaned"},
    # the cleaned-name language model's weights, permuted among the target study's features
    "permuted": {"name_vectors": "permuted", "vocabulary": "cleaned"},
    # the language model on harmonised identities (cleaned names where unmapped)
    "identity": {"name_vectors": "language_model", "vocabulary": "identity"},
    # a lookup of each identity's mean informativeness: no language model
    "identity-lookup": {"name_vectors": "lookup", "vocabulary": "identity"},
    # a lookup per (filter, class) family only
    "family-lookup": {"name_vectors": "lookup", "vocabulary": "family"},
}


def prior_estimator(*, name_vectors, language_model, prior_params, cache_dir, random_state):
    if name_vectors not in PRIOR_KINDS:
        raise ValueError(f"unknown study prior {name_vectors!r}; known: {sorted(PRIOR_KINDS)}")
    params = {"random_state": random_state, **(prior_params or {})}
    if cache_dir is not None:
        params.setdefault("cache_dir", str(Path(cache_dir) / "embeddings"))
    if language_model is not None:  # None: the prior's own default language model
        params["language_model"] = language_model
    return SemanticPrior(**{**params, **PRIOR_KINDS[name_vectors]})


def prior_key(tables, target, name_vectors, language_model, prior_params, random_state, leave_out, hashes=None):
    """What :func:`fit_study_prior` fits on and its cache key: (excluded, others, key, prior kwargs).

    ``hashes``: the tables' :func:`~sklearn_llmrad.benchmark.store.table_digest` values, computed once for many keys.
    """
    excluded = {str(target), *map(str, leave_out)}
    others = {name: table for name, table in tables.items() if name not in excluded}
    if not others:
        raise ValueError(f"no study other than {target!r} to fit its prior on")
    kwargs = dict(language_model=language_model, prior_params=prior_params, random_state=random_state)
    template = prior_estimator(name_vectors=name_vectors, cache_dir=None, **kwargs)
    if language_model is None:
        kwargs["language_model"] = template.language_model
    params = template.get_params(deep=False)
    params.pop("cache_dir", None)
    key = _files.digest(
        {
            "studies": {name: (hashes or {}).get(name) or store.table_digest(*others[name]) for name in sorted(others)},
            "prior": type(template).__name__,
            "params": store.describe(params),
            "versions": _files.package_versions(),
        }
    )
    return excluded, others, key, kwargs


def fit_study_prior(
    tables,
    target,
    *,
    name_vectors="language_model",
    language_model=None,
    prior_params=None,
    cache_dir=None,
    random_state=0,
    log=None,
    leave_out=(),
    table_digests=None,
):
    """The prior for evaluating ``target``: fitted on every other table, cached.

    Parameters
    ----------
    tables : dict of str -> (DataFrame, array)
        All studies; ``target`` is left out of the prior.
    target : str
        The study the prior will be evaluated on (need not be in ``tables``).
    name_vectors : str, default="language_model"
        The kind of prior, a key of :data:`PRIOR_KINDS`: ``"random"`` is the
        control prior with random name vectors; ``"identity"`` learns on
        harmonised identities; ``"permuted"``, ``"identity-lookup"`` and
        ``"family-lookup"`` are the further controls.
    language_model : str, default=None
        Language model id or directory (the prior's default when None).
    prior_params : dict, default=None
        Further :class:`~sklearn_llmrad.prior.SemanticPrior` parameters.
    cache_dir : str or path-like, default=None
        Where fitted priors are stored (``priors/<key>/``) and found again; the key
        covers the studies used and their data, the language model, the settings and
        the package versions. Name embeddings are cached in ``embeddings/``. A cached
        prior of the legacy folder format is read as it is; one that cannot be read
        is refitted (with a log line) and replaced.
    random_state : int, default=0
    log : callable, default=None
    leave_out : iterable of str, default=()
        Further studies kept out of the prior together with ``target``: tables of
        the same paper (e.g. ``Hosny2018B`` for ``Hosny2018C``), which share
        feature definitions and often patients' institutions (see
        :func:`related_studies`).
    table_digests : dict of str -> str, default=None
        The tables' :func:`~sklearn_llmrad.benchmark.store.table_digest`, when the
        caller computed them once for many priors (computed here otherwise).

    Returns
    -------
    prior : SemanticPrior
    key : str
        The cache key.

    Raises
    ------
    RuntimeError
        If the prior (fitted or loaded) names ``target`` or a ``leave_out`` study
        among its studies.

    Examples
    --------
    The control prior (random name vectors, no language model is loaded) for target
    ``"C"``, fitted on the other two tables:

    >>> import numpy as np, pandas as pd
    >>> from sklearn_llmrad.benchmark import fit_study_prior
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile([0, 1], 10)
    >>> names = ["original_shape_VoxelVolume", "original_glcm_Idmn"]
    >>> tables = {s: (pd.DataFrame(rng.normal(size=(20, 2)) + y[:, None], columns=names), y) for s in "ABC"}
    >>> prior, key = fit_study_prior(tables, "C", name_vectors="random",
    ...                              language_model="dmis-lab/biobert-base-cased-v1.2")
    >>> prior.studies_
    ['A', 'B']
    """
    log = log or (lambda line: None)
    excluded, others, key, kwargs = prior_key(
        tables, target, name_vectors, language_model, prior_params, random_state, leave_out, table_digests
    )
    folder = None if cache_dir is None else Path(cache_dir) / "priors" / key
    prior = None
    if folder is not None and (folder / "transfer_key.json").is_file():
        embeddings = str(Path(cache_dir) / "embeddings")
        try:  # prior.llmrad, or the prior.json + prior.safetensors of caches written before
            prior = SemanticPrior.load(
                folder,
                cache_dir=embeddings,
                language_model=None if _without_language_model(name_vectors) else language_model,
            )
            log(f"[prior] {name_vectors} prior without {target!r}: cached ({key})")
        except PriorFileError as exc:
            log(f"[prior] {name_vectors} prior without {target!r}: cached prior unreadable, refitting ({exc})")
            shutil.rmtree(folder)  # our own cache folder; the refitted prior takes its place
    if prior is None:
        t0 = time.perf_counter()
        prior = prior_estimator(name_vectors=name_vectors, cache_dir=cache_dir, **kwargs)
        prior.fit(others)
        log(
            f"[prior] {name_vectors} prior without {target!r} on {len(others)} studies: "
            f"{time.perf_counter() - t0:.1f} s"
        )
        if folder is not None:
            _save_prior(
                prior, folder, {"key": key, "target": target, "studies": sorted(others), "name_vectors": name_vectors}
            )
    studies = [str(s) for s in prior.studies_]
    seen = sorted(excluded & set(studies))
    if seen:
        raise RuntimeError(
            f"the prior for target study {target!r} was fitted on {seen} (studies_={studies}); "
            "refusing to evaluate a prior on a study it has seen"
        )
    return prior, key


def _without_language_model(kind):
    """Whether a prior kind works without a language model (random vectors, lookups)."""
    return PRIOR_KINDS[kind]["name_vectors"] in NO_LANGUAGE_MODEL


def related_studies(names):
    """Studies of the same paper, to be left out of each other's priors.

    radMLBench names a paper's several tables by author and year with a letter
    suffix (``Hosny2018A``, ``Hosny2018B``, ...). Such tables share feature
    definitions and extraction settings, so a prior that saw one of them is not a
    prior from *other* studies for its sibling.

    Parameters
    ----------
    names : iterable of str
        Study names.

    Returns
    -------
    dict of str -> list of str
        For every study, its siblings (possibly none).

    Examples
    --------
    >>> from sklearn_llmrad.benchmark import related_studies
    >>> related_studies(["Hosny2018B", "Hosny2018C", "HNSCC", "Zhang2024B"])
    {'Hosny2018B': ['Hosny2018C'], 'Hosny2018C': ['Hosny2018B'], 'HNSCC': [], 'Zhang2024B': []}
    """
    names = [str(n) for n in names]

    def paper(name):
        match = re.fullmatch(r"(.*\d{4})[A-Z]", name)
        return match.group(1) if match else name

    return {n: [m for m in names if m != n and paper(m) == paper(n)] for n in names}


def _save_prior(prior, folder, meta):
    with _files.atomic_directory(folder) as tmp:  # another run may store the same prior meanwhile
        prior.save(tmp)
        _files.atomic_write_text(tmp / "transfer_key.json", json.dumps(meta, indent=1))
