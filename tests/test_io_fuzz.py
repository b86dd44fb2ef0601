"""Fuzzing model files: whatever a crafted archive holds, ``load`` ends in a model or a clear error.

Contract (issue 19): a mutated model file either loads or raises
:class:`~sklearn_llmrad.io.ModelFileError` / :class:`~sklearn_llmrad.io.UnsafeModelError`
-- never another exception type -- and no file in the folder every path of a
mutation points into is created, read into the model or changed. Hypothesis
draws the mutation seeds (derandomised in CI); ``benchmarks/fuzz_model_files.py``
runs the same mutations 20,000 times and records peak memory.
"""

from __future__ import annotations

import os
import random
import warnings

import pytest
import torch

from sklearn_llmrad._testing import genuine_model_files, mutate_model_file
from sklearn_llmrad.io import ModelFileError, UnsafeModelError, load

MAX_EXAMPLES = int(os.environ.get("LLMRAD_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def genuine(tmp_path_factory, tiny_bert_dir):
    """Two genuine files: the w/o-BioBERT default method (choice, skops, skorch) and a pipeline with an encoder."""
    torch.set_num_threads(1)
    return genuine_model_files(tmp_path_factory.mktemp("genuine"), language_model=tiny_bert_dir)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_mutated_model_files_load_or_raise_a_model_file_error(genuine, tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    canary = tmp_path / "canary"
    canary.mkdir()
    for i in range(0, 100, 7):
        (canary / f"f{i}").write_bytes(b"do not touch\n")
    before = _snapshot(canary)
    outcomes = {"loaded": 0, "refused": 0}

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("LLMRAD_FUZZ_RANDOM", "") != "1",
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(genuine) - 1))
    def run(seed, which):
        path = tmp_path / "m.llmrad"
        path.write_bytes(mutate_model_file(genuine[which], random.Random(seed), canary))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = load(path)
            except (ModelFileError, UnsafeModelError):
                outcomes["refused"] += 1
                return
        outcomes["loaded"] += 1
        for step in getattr(model, "steps", [("", model)]):
            assert getattr(step[1], "compile", False) is False

    run()
    assert _snapshot(canary) == before
    assert outcomes["refused"] > outcomes["loaded"] > 0  # the mutations bite, and some are harmless


def test_the_mutation_engine_is_deterministic(genuine, tmp_path):
    a = mutate_model_file(genuine[0], random.Random(7), tmp_path)
    b = mutate_model_file(genuine[0], random.Random(7), tmp_path)
    assert a == b and a != genuine[0]
