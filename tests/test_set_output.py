"""``set_output(transform="pandas")`` works through every stage of every pipeline.

Each factory of :mod:`sklearn_llmrad.pipelines` is configured for pandas output
and fitted on a few synthetic lesions (tiny radiomics settings, a tiny BERT, a
few epochs). Every table-producing stage then returns a DataFrame with the
lesions' index and the stage's ``get_feature_names_out``; the stages with a
container of their own (SemanticFeatures, a 4-D tensor) keep it; and the
predictions equal those of the same pipeline with default output.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from sklearn_llmrad import BioBERTEncoder, CLAHEPreprocessor, SemanticFeatures
from sklearn_llmrad import pipelines as P
from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.models import ROIToTensor

EXTRACTOR = dict(image_types=["Original"], feature_classes=["firstorder", "shape2D"], progress=False)
CLINICAL = ("age", "density", "history")
FUSION = dict(max_epochs=2, hidden_size=8, n_heads=2, batch_size=16, early_stopping=False)


@pytest.fixture(scope="module")
def lesions():
    data = make_synthetic_mammograms(10, image_size=64, random_state=0)
    return data.frame, data.target


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One radiomics cache for the module: each lesion is extracted once."""
    return str(tmp_path_factory.mktemp("radiomics-cache"))


def _factories(bert, cache_dir):
    common = dict(k=4, extractor_params=EXTRACTOR, cache_dir=cache_dir, random_state=0)
    return {
        "radiomics_svc": lambda: P.make_radiomics_svc_pipeline(**common),
        "no_biobert": lambda: P.make_no_biobert_pipeline(**common, classifier_params=FUSION, device="cpu"),
        "llmrad": lambda: P.make_llmrad_pipeline(**common, language_model=bert, classifier_params=FUSION, device="cpu"),
        "biobert_svc": lambda: P.make_biobert_svc_pipeline(**common, language_model=bert, device="cpu"),
    }


@pytest.mark.parametrize("name", ["radiomics_svc", "no_biobert", "llmrad", "biobert_svc"])
def test_pandas_output_through_every_stage(name, lesions, tiny_bert_dir, cache_dir):
    X, y = lesions
    make = _factories(str(tiny_bert_dir), cache_dir)[name]
    pipe = make().set_output(transform="pandas").fit(X, y)

    Xt = X
    for step_name, step in pipe.steps[:-1]:
        previous, Xt = Xt, step.transform(Xt)
        if isinstance(step, BioBERTEncoder):
            assert isinstance(Xt, SemanticFeatures), step_name
            assert len(Xt) == len(X)
            assert list(Xt.feature_names) == [c for c in previous.columns if c not in CLINICAL]
            continue
        assert isinstance(Xt, pd.DataFrame), f"{step_name} returned {type(Xt).__name__}"
        assert list(Xt.index) == list(X.index), step_name
        assert list(Xt.columns) == [str(c) for c in step.get_feature_names_out()], step_name

    default = make().fit(X, y)
    np.testing.assert_allclose(pipe.predict_proba(X), default.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_cnn_pipeline_accepts_pandas_output(lesions):
    X, _ = lesions
    pipe = P.make_cnn_pipeline(size=32, device="cpu").set_output(transform="pandas")
    crops = pipe[0].fit_transform(X)
    assert isinstance(crops, pd.DataFrame) and list(crops.index) == list(X.index)
    tensors = pipe[:-1].fit_transform(X)
    assert isinstance(tensors, np.ndarray) and tensors.shape[:1] == (len(X),) and tensors.ndim == 4


FIXED = [CLAHEPreprocessor(), BioBERTEncoder(), ROIToTensor(size=32)]


@pytest.mark.parametrize("stage", FIXED, ids=[type(e).__name__ for e in FIXED])
def test_fixed_container_stages_refuse_other_containers(stage):
    assert clone(stage).set_output(transform="pandas").get_params() == stage.get_params()
    with pytest.raises(ValueError, match=f"{type(stage).__name__} outputs .* only"):
        clone(stage).set_output(transform="polars")
