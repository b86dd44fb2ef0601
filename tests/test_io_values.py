"""What a model file may set, class by class (sklearn_llmrad.io.values), on the package's real classes."""

import os
import warnings

import pytest
from sklearn.feature_selection import SelectKBest, f_classif

from sklearn_llmrad import BioBERTEncoder, TopKSelector
from sklearn_llmrad.io import ModelFileWarning, UnsafeModelError
from sklearn_llmrad.io._allowlist import AllowList  # noqa: PLC2701 - the policy load() uses
from sklearn_llmrad.io.values import check_params, is_model_name, never_from_file
from sklearn_llmrad.models import LLMRadiomicsClassifier, ResNet50Classifier


def _check(cls, params):
    return AllowList(None).check(cls, params, where="test")


def _quiet(cls, params):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return _check(cls, params)


@pytest.mark.parametrize(
    "cls, params",
    [
        (BioBERTEncoder, {"language_model": "dmis-lab/biobert-base-cased-v1.2", "batch_size": 8, "pooling": "cls"}),
        (ResNet50Classifier, {"weights": "imagenet", "max_rotation": 5.0}),
        (LLMRadiomicsClassifier, {"hidden_size": 8, "device": "auto", "feature_tokens": "class", "lr": 1e-3}),
        (SelectKBest, {"score_func": f_classif, "k": 3}),
        (TopKSelector, {"prior": None, "k": 5}),
    ],
)
def test_genuine_values_are_taken_as_they_are(cls, params):
    assert _quiet(cls, params) == params


@pytest.mark.parametrize(
    "cls, params",
    [
        (LLMRadiomicsClassifier, {"hidden_size": -1}),
        (LLMRadiomicsClassifier, {"hidden_size": "8"}),
        (LLMRadiomicsClassifier, {"dropout": 2.0}),
        (LLMRadiomicsClassifier, {"attention": 1}),
        (LLMRadiomicsClassifier, {"feature_tokens": "everything"}),
        (LLMRadiomicsClassifier, {"predict_nonlinearity": print}),
        (LLMRadiomicsClassifier, {"random_state": 2**40}),
        (SelectKBest, {"score_func": os.system}),
        (BioBERTEncoder, {"pooling": os.system}),
    ],
)
def test_values_outside_the_schema_are_refused(cls, params):
    with pytest.raises(UnsafeModelError, match=cls.__name__):
        _check(cls, params)


@pytest.mark.parametrize(
    "cls, params, default",
    [
        (
            BioBERTEncoder,
            {"language_model": "/home/someone/biobert"},
            {"language_model": "dmis-lab/biobert-base-cased-v1.2"},
        ),
        (BioBERTEncoder, {"cache_dir": "/tmp/elsewhere"}, {"cache_dir": None}),
        (ResNet50Classifier, {"weights": "/tmp/resnet.pth"}, {"weights": None}),
        (ResNet50Classifier, {"compile": True}, {"compile": False}),
        (LLMRadiomicsClassifier, {"compile__options": {"cpp.cxx": "sh"}}, {}),
        (TopKSelector, {"prior": "prior-folder"}, {"prior": None}),
        (LLMRadiomicsClassifier, {"prior": "../prior"}, {"prior": None}),
    ],
)
def test_paths_and_compile_options_are_reset_with_a_warning(cls, params, default):
    with pytest.warns(ModelFileWarning, match=next(iter(params))):
        assert _check(cls, params) == default


def test_a_prior_folder_name_is_a_path_not_a_model_id():
    # only parameters a class lists in model_id_parameters take hub ids from a file
    assert BioBERTEncoder.model_id_parameters == ("language_model",)
    assert is_model_name("prior-folder") and not hasattr(TopKSelector, "model_id_parameters")


def test_never_from_file_covers_routed_names():
    assert never_from_file("iterator_valid__collate_fn") and never_from_file("compile__mode")
    assert not never_from_file("optimizer__lr")


def test_plain_policy_refuses_every_class_and_function():
    with pytest.raises(UnsafeModelError):
        check_params(SelectKBest, {"score_func": f_classif}, where="test")
