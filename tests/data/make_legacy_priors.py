"""Writes tests/data/legacy-prior-*/ with the folder-format code (commit 50e46ce: prior.json + prior.safetensors).

``legacy-prior-random``: random name vectors, written as that code wrote it, then its
``vocabulary`` field removed (as folders saved before the field existed are);
``legacy-prior-lookup``: a lookup prior on identities. Each folder's ``expected.json``
(not part of the prior) holds the predictions the prior made when it was written.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_llmrad.prior import SemanticPrior

NAMES = ["original_shape_VoxelVolume", "original_firstorder_Entropy", "original_glcm_Idmn", "original_ngtdm_Busyness"]
QUERY = NAMES + ["wavelet-LLH_glcm_JointEnergy"]


def study(seed, n=40):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, len(NAMES))), columns=NAMES)
    X[NAMES[0]] += y
    X[NAMES[1]] += 0.5 * y
    return X, y


studies = {f"s{i}": study(i) for i in range(3)}
out = Path(sys.argv[1])
for name, params in {
    "legacy-prior-random": dict(name_vectors="random", vocabulary="cleaned", alpha=1.0),
    "legacy-prior-lookup": dict(name_vectors="lookup", vocabulary="identity", alpha="auto"),
}.items():
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)
    prior = SemanticPrior(**params).fit(studies)
    prior.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["prior.json", "prior.safetensors"]
    if name == "legacy-prior-random":
        meta = json.loads((folder / "prior.json").read_text())
        del meta["vocabulary"]
        (folder / "prior.json").write_text(json.dumps(meta, indent=1))
    expected = {"names": QUERY, "predict": prior.predict(QUERY).tolist(), "studies": prior.studies_}
    (folder / "expected.json").write_text(json.dumps(expected, indent=1))
