"""The image stages a benchmark runs once and shares between models and folds.

CLAHE crops (for the CNNs) and the radiomics table (for every radiomics model)
do not learn from labels, so they are computed once per dataset, a chunk of
lesions at a time: memory grows with the chunk, not with the dataset (a
chunk's crops are dropped once its features are in the cache, unless a CNN
needs them). A lesion whose image or mask cannot be used is not allowed to
stop the study: it is recorded in :attr:`SharedInputs.failed` with the stage
and the reason, and the benchmark runs on the others.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import pandas as pd

from .._columns import IMAGE

__all__ = ["DEFAULT_CHUNK_SIZE", "FAILED_COLUMNS", "SharedInputs", "prepare_shared_inputs", "transform_in_chunks"]

#: Columns of ``failed.csv``.
FAILED_COLUMNS = ["case", "stage", "error", "reason", "file"]

#: Lesions whose crops are held at once: CBIS-DDSM-sized crops at 0.1 mm take
#: about 0.19 MB each with their masks (benchmarks/bench_shared_memory.py), so
#: about 95 MB, while each chunk still gives every extraction worker several
#: batches (each chunk ends with a wait for its slowest batch).
DEFAULT_CHUNK_SIZE = 500


@dataclass
class SharedInputs:
    """What :func:`prepare_shared_inputs` returns.

    Attributes
    ----------
    inputs : dict of str -> pandas.DataFrame
        ``"raw"`` (``X``), and ``"crops"`` and ``"features"`` where ``needs``
        holds them (crops made only to extract features are not kept),
        restricted to the lesions that went through every stage.
    failed : pandas.DataFrame
        One row per failed lesion: ``case``, ``stage``, ``error``, ``reason``, ``file``.
    feature_columns : list of str
        The radiomics columns of ``inputs["features"]`` (the rest are the
        dataset's clinical columns, passed through).
    seconds : float
        Wall-clock time of the image stages (CLAHE and extraction).
    """

    inputs: dict
    failed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILED_COLUMNS))
    feature_columns: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def kept(self):
        """Index of the lesions every model sees."""
        return self.inputs["raw"].index


def _failures(records, stage):
    return [
        {
            "case": r["case"],
            "stage": stage,
            "error": r["error"],
            "reason": r["reason"],
            "file": r["file"],
        }
        for r in records
    ]


def _check_chunk_size(chunk_size):
    if chunk_size is None:
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")


def _film(value):
    """What identifies a lesion's image: its path, or the array object itself."""
    return os.fspath(value) if isinstance(value, str | os.PathLike) else id(value)


def _lesion_chunks(X, chunk_size):
    """Row positions of ``X`` in consecutive chunks of about ``chunk_size`` lesions.

    A chunk is not closed between two adjacent lesions of one film, so that
    the film is read once (``CLAHEPreprocessor`` reads each film of a call once).
    """
    _check_chunk_size(chunk_size)
    n = len(X)
    if chunk_size is None or n <= chunk_size:
        return [range(n)]
    films = [_film(v) for v in X[IMAGE]] if IMAGE in X.columns else list(range(n))
    chunks, start = [], 0
    while start < n:
        stop = min(start + chunk_size, n)
        while stop < n and films[stop] == films[stop - 1]:
            stop += 1
        chunks.append(range(start, stop))
        start = stop
    return chunks


def _concat(parts):
    """The chunks' frames as one, in their order (empty chunks add nothing)."""
    kept = [part for part in parts if len(part)] or parts[:1]
    return kept[0] if len(kept) == 1 else pd.concat(kept)


def _release_workers(*n_jobs):
    """Shut joblib's pool of worker processes down after a parallel image stage.

    Its workers would otherwise run the benchmark's folds next, and loky
    measures a worker's memory after its first task: a fold that then loads
    torch and a model grows it by more than loky's 300 MB "memory leak"
    allowance, so loky stopped the worker and warned "A worker stopped while
    some jobs were given to the executor". Fresh workers take their reference
    after their first fold. Only when a stage ran with more than one job.
    """
    from joblib import effective_n_jobs

    if max(effective_n_jobs(n) for n in n_jobs) > 1:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor(reuse=True).shutdown(wait=True)


def transform_in_chunks(transformer, X, *, chunk_size=DEFAULT_CHUNK_SIZE):
    """``transformer.fit_transform`` on consecutive chunks of lesions, joined.

    For stateless image stages (:class:`~sklearn_llmrad.CLAHEPreprocessor`,
    :class:`~sklearn_llmrad.RadiomicsExtractor`, or a pipeline of both): the
    result equals one call on all of ``X`` (each lesion is processed on its
    own), but only one chunk's intermediate crops are held at a time. List
    ``attrs`` of the chunks' outputs (``"radiomics_failures"``...) are joined.
    With ``on_error="raise"`` the first chunk holding a bad lesion raises.

    Parameters
    ----------
    transformer : estimator
        Refitted on every chunk: it must learn nothing from the lesions.
    X : pandas.DataFrame
        Lesions in the data contract.
    chunk_size : int or None, default=DEFAULT_CHUNK_SIZE
        Lesions per call (adjacent lesions of one film stay together); ``None``:
        one call on all of ``X``.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from sklearn_llmrad import CLAHEPreprocessor
    >>> from sklearn_llmrad.datasets import make_synthetic_mammograms
    >>> X = make_synthetic_mammograms(5, image_size=64, random_state=0).frame
    >>> crops = transform_in_chunks(CLAHEPreprocessor(progress=False), X, chunk_size=2)
    >>> list(crops.index) == list(X.index), crops["image"].iloc[0].dtype.name
    (True, 'float32')
    """
    parts, attrs = [], {}
    for rows in _lesion_chunks(X, chunk_size):
        part = transformer.fit_transform(X.iloc[rows])
        for key, value in part.attrs.items():
            if isinstance(value, list):
                attrs.setdefault(key, []).extend(value)
        parts.append(part)
    out = _concat(parts)
    out.attrs.update(attrs)
    return out


def prepare_shared_inputs(
    X,
    needs,
    *,
    preprocessor_params=None,
    extractor_params=None,
    cache_dir=None,
    n_jobs=None,
    chunk_size=DEFAULT_CHUNK_SIZE,
    log=print,
):
    """Run CLAHE and radiomics once for the model inputs in ``needs``, a chunk of lesions at a time.

    The lesions go through both stages ``chunk_size`` at a time: a chunk's
    crops are made, their features extracted (and written to the cache, one
    lesion at a time), then the crops are dropped before the next chunk's are
    made, unless ``needs`` holds ``"crops"`` (the CNNs train on them, so they
    are all kept). Memory thus grows with the chunk, not with the dataset,
    and the features are those of one pass over all lesions, to the bit. A
    killed run restarts from the cache: the lesions extracted before are read
    back, not extracted again.

    Parameters
    ----------
    X : pandas.DataFrame
        Lesions in the data contract.
    needs : set of {"raw", "crops", "features"}
    preprocessor_params, extractor_params : dict, default=None
        Settings of :class:`~sklearn_llmrad.CLAHEPreprocessor` and
        :class:`~sklearn_llmrad.RadiomicsExtractor` (their ``on_error`` is set here).
    cache_dir : path-like, default=None
        Radiomics cache folder.
    n_jobs : int, default=None
        Extraction workers (joblib). After a parallel extraction the workers
        are shut down, so that the processes which run the folds next start
        fresh (loky would take a fold's torch for a memory leak in a worker
        measured after an extraction batch, stop it and warn).
    chunk_size : int or None, default=DEFAULT_CHUNK_SIZE
        Lesions whose crops are made and extracted at once (adjacent lesions
        of one film stay in one chunk, so the film is read once); ``None``:
        all lesions in one chunk.
    log : callable, default=print

    Returns
    -------
    SharedInputs

    Examples
    --------
    >>> from sklearn_llmrad.datasets import make_synthetic_mammograms
    >>> X = make_synthetic_mammograms(4, image_size=64, random_state=0).frame
    >>> X.iat[1, 0] = "/nonexistent/image.png"
    >>> shared = prepare_shared_inputs(X, {"crops"}, chunk_size=2, log=lambda _: None)
    >>> shared.failed["case"].tolist(), len(shared.inputs["crops"])
    (['synthetic_0001'], 3)
    """
    from ..preprocessing import CLAHEPreprocessor
    from ..radiomics import RadiomicsExtractor

    inputs = {"raw": X}
    failed = {"preprocessing": [], "radiomics": []}
    feature_columns = []
    t0 = time.perf_counter()
    if needs & {"features", "crops"}:
        clahe = CLAHEPreprocessor(**{**(preprocessor_params or {}), "on_error": "skip"})
        extractor = None
        if "features" in needs:
            extractor = RadiomicsExtractor(
                cache_dir=None if cache_dir is None else str(Path(cache_dir) / "radiomics"),
                n_jobs=n_jobs,
                **{**(extractor_params or {}), "on_error": "nan"},
            )
        chunks = _lesion_chunks(X, chunk_size)
        stages = "CLAHE preprocessing" + ("" if extractor is None else " and radiomics extraction (cached)")
        in_chunks = f" in {len(chunks)} chunks of about {chunk_size}" if len(chunks) > 1 else ""
        log(f"[shared] {stages} of {len(X)} lesions{in_chunks}")
        crop_parts, feature_parts = [], []
        for rows in chunks:
            crops = clahe.fit_transform(X.iloc[rows])
            failed["preprocessing"] += crops.attrs.get("preprocessing_failures", [])
            if extractor is not None:
                features = extractor.fit_transform(crops)
                failed["radiomics"] += features.attrs.get("radiomics_failures", [])
                # the radiomics columns are the extractor's; the rest are the dataset's own columns
                feature_columns = [c for c in features.columns if c not in crops.columns]
                feature_parts.append(features)
            if "crops" in needs:
                crop_parts.append(crops)
            del crops  # this chunk's crops go before the next chunk's are made (unless the CNNs keep them)
        _release_workers(n_jobs, clahe.n_jobs)
        if "crops" in needs:
            inputs["crops"] = _concat(crop_parts)
        if extractor is not None:
            inputs["features"] = _concat(feature_parts)
            log(
                f"[shared] {len(feature_columns)} features per lesion "
                f"({time.perf_counter() - t0:.1f} s incl. preprocessing)"
            )
    failed = pd.DataFrame(
        [row for stage, records in failed.items() for row in _failures(records, stage)], columns=FAILED_COLUMNS
    )
    if len(failed):
        bad = set(failed["case"])
        inputs = {name: frame.loc[[c for c in frame.index if c not in bad]] for name, frame in inputs.items()}
    seconds = time.perf_counter() - t0
    return SharedInputs(inputs=inputs, failed=failed, feature_columns=feature_columns, seconds=seconds)
