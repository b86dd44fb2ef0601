"""The image stages a benchmark runs once and shares between models and folds.

CLAHE crops (for the CNNs) and the radiomics table (for every radiomics model)
do not learn from labels, so they are computed once per dataset. A lesion
whose image or mask cannot be used is not allowed to stop the study: it is
recorded in :attr:`SharedInputs.failed` with the stage and the reason, and the
benchmark runs on the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["FAILED_COLUMNS", "SharedInputs", "prepare_shared_inputs"]

#: Columns of ``failed.csv``.
FAILED_COLUMNS = ["case", "stage", "error", "reason", "file"]


@dataclass
class SharedInputs:
    """What :func:`prepare_shared_inputs` returns.

    Attributes
    ----------
    inputs : dict of str -> pandas.DataFrame
        ``"raw"`` (``X``), ``"crops"`` and ``"features"`` as needed, restricted
        to the lesions that went through every stage.
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


def prepare_shared_inputs(
    X,
    needs,
    *,
    preprocessor_params=None,
    extractor_params=None,
    cache_dir=None,
    n_jobs=None,
    log=print,
):
    """Run CLAHE and radiomics once for the model inputs in ``needs``.

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
    log : callable, default=print

    Returns
    -------
    SharedInputs

    Examples
    --------
    >>> from sklearn_llmrad.datasets import make_synthetic_mammograms
    >>> X = make_synthetic_mammograms(4, image_size=64, random_state=0).frame
    >>> X.iat[1, 0] = "/nonexistent/image.png"
    >>> shared = prepare_shared_inputs(X, {"crops"}, log=lambda _: None)
    >>> shared.failed["case"].tolist(), len(shared.inputs["crops"])
    (['synthetic_0001'], 3)
    """
    from ..preprocessing import CLAHEPreprocessor
    from ..radiomics import RadiomicsExtractor

    inputs = {"raw": X}
    failed = []
    feature_columns = []
    t0 = time.perf_counter()
    if needs & {"features", "crops"}:
        log(f"[shared] CLAHE preprocessing of {len(X)} lesions")
        params = {**(preprocessor_params or {}), "on_error": "skip"}
        crops = CLAHEPreprocessor(**params).fit_transform(X)
        failed += _failures(crops.attrs.get("preprocessing_failures", []), "preprocessing")
        inputs["crops"] = crops
        if "features" in needs:
            log("[shared] radiomics extraction (cached, shared by all radiomics models and folds)")
            extractor = RadiomicsExtractor(
                cache_dir=None if cache_dir is None else str(Path(cache_dir) / "radiomics"),
                n_jobs=n_jobs,
                **{**(extractor_params or {}), "on_error": "nan"},
            )
            features = extractor.fit_transform(crops)
            failed += _failures(features.attrs.get("radiomics_failures", []), "radiomics")
            # the radiomics columns are the extractor's; the rest are the dataset's own columns
            feature_columns = [c for c in features.columns if c not in crops.columns]
            inputs["features"] = features
            log(
                f"[shared] {len(feature_columns)} features per lesion "
                f"({time.perf_counter() - t0:.1f} s incl. preprocessing)"
            )
    failed = pd.DataFrame(failed, columns=FAILED_COLUMNS)
    if len(failed):
        bad = set(failed["case"])
        inputs = {name: frame.loc[[c for c in frame.index if c not in bad]] for name, frame in inputs.items()}
    seconds = time.perf_counter() - t0
    return SharedInputs(inputs=inputs, failed=failed, feature_columns=feature_columns, seconds=seconds)
