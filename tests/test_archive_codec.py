"""The shared data codec of model files and saved priors (``sklearn_llmrad._archive``) and the
LightGBM-safe renaming of ``columns.SafeFeatureNames``: inputs a crafted file or an odd table can hold."""

import pandas as pd
import pytest

from sklearn_llmrad._archive import DataDecoder, ModelFileError
from sklearn_llmrad.columns import SafeFeatureNames


def test_dict_key_that_is_a_tuple_holding_a_list_is_refused_as_malformed():
    key = {"$type": "tuple", "items": [[1, 2]]}  # decodes to ((1, 2)-list,): a tuple, yet unhashable
    crafted = {"$type": "dict", "items": [[key, 1]]}
    with pytest.raises(ModelFileError, match="unhashable dict key"):
        DataDecoder({}, where="crafted.llmrad").decode(crafted)


def test_hashable_tuple_keys_still_decode():
    value = {"$type": "dict", "items": [[{"$type": "tuple", "items": [1, "a"]}, 2.5]]}
    assert DataDecoder({}, where="ok.llmrad").decode(value) == {(1, "a"): 2.5}


def test_safe_names_stay_unique_when_a_suffixed_name_meets_an_earlier_column():
    X = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a__2", "a[", "a]"])  # "a]" -> "a_" -> "a__2", taken
    names = SafeFeatureNames().fit(X).get_feature_names_out()
    assert len(set(names)) == 3, names
    assert list(names[:2]) == ["a__2", "a_"]  # names without a clash are as before this rule
