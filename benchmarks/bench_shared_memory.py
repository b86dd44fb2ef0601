"""Benchmark: peak memory of the benchmark's shared image stages, in chunks or in one pass.

``prepare_shared_inputs`` (the stage ``llmrad benchmark`` runs once per dataset) on CBIS-DDSM-shaped
lesions (:func:`~sklearn_llmrad.datasets.write_synthetic_cbis_ddsm`: 16-bit films of 250 x 150 mm, by
default 2,500 x 1,500 pixels of 0.1 mm, the grid CLAHE resamples to, so the crops are those of
CBIS-DDSM's 0.05 mm films at a quarter of the writing time; ``--lesions-per-film`` lesions on each
to save disk), in a fresh process, with
the features only (the radiomics models' input; no CNN). Reported: peak RSS of the process
(``ru_maxrss``), its RSS before the stage (imports and the lesion table), the stage's wall time,
and the load average. The extraction settings are cheap on purpose (``--image-types``,
``--classes``: the original image, first-order features): what grows with the dataset is the
crops, which CLAHE makes whatever is extracted from them, and the run then takes a minute, not an
hour; PyRadiomics' own memory per lesion is transient.

Run from the package to measure (``PYTHONPATH`` selects another checkout, e.g. the one before the
chunks, where ``--chunk-size`` is ignored): ``python benchmarks/bench_shared_memory.py --n-lesions
480 [--chunk-size 500|0]`` (0: one pass). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def _rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "cbis-shared-memory"))
    parser.add_argument("--n-lesions", type=int, default=480)
    parser.add_argument("--lesions-per-film", type=int, default=20)
    parser.add_argument("--film-shape", type=int, nargs=2, default=(2500, 1500))
    parser.add_argument("--pixel-size", type=float, default=0.1)
    parser.add_argument("--chunk-size", type=int, default=500, help="0: one pass over all lesions")
    parser.add_argument("--image-types", nargs="+", default=["Original"])
    parser.add_argument("--classes", nargs="+", default=["firstorder"])
    args = parser.parse_args()

    import numpy as np

    import sklearn_llmrad
    from sklearn_llmrad.benchmark import prepare_shared_inputs
    from sklearn_llmrad.datasets import load_csv, write_synthetic_cbis_ddsm

    csv = Path(args.root) / "lesions.csv"
    if not csv.is_file():
        write_synthetic_cbis_ddsm(
            args.root,
            args.n_lesions,
            film_shape=tuple(args.film_shape),
            pixel_size=args.pixel_size,
            lesions_per_film=args.lesions_per_film,
            random_state=0,
        )
    X = load_csv(csv).frame.iloc[: args.n_lesions]
    kwargs = {}
    if "chunk_size" in inspect.signature(prepare_shared_inputs).parameters:
        kwargs["chunk_size"] = args.chunk_size or None
    extractor = {"image_types": args.image_types, "feature_classes": args.classes, "progress": False}
    rss_before, load_before = _rss_mb(), os.getloadavg()
    t0 = time.perf_counter()
    shared = prepare_shared_inputs(
        X,
        {"features"},
        extractor_params=extractor,
        preprocessor_params={"progress": False},
        log=lambda _: None,
        **kwargs,
    )
    seconds = time.perf_counter() - t0
    features = shared.inputs["features"][shared.feature_columns].to_numpy(dtype=np.float64)
    print(
        json.dumps(
            {
                "package": str(Path(sklearn_llmrad.__file__).parent),
                "lesions": len(X),
                "films": int(X["image"].nunique()),
                "chunk_size": kwargs.get("chunk_size", "n/a (one pass)"),
                "failed": len(shared.failed),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "rss_before_stage_mb": round(rss_before, 1),
                "seconds": round(seconds, 1),
                "load_before": load_before,
                "load_after": os.getloadavg(),
                "features_sha256": hashlib.sha256(features.tobytes()).hexdigest()[:16],
            }
        )
    )


if __name__ == "__main__":
    main()
