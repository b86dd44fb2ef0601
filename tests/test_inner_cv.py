"""One inner cross-validation (sklearn_llmrad.inner_cv): the same folds and numbers as the loops it replaced."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

from sklearn_llmrad.inner_cv import choose_candidate, group_folds, stratified_folds
from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression
from sklearn_llmrad.prior import SemanticPrior
from sklearn_llmrad.selection import TopKSelector


def _same_folds(a, b):
    return len(a) == len(b) and all(
        np.array_equal(t1, t2) and np.array_equal(s1, s2) for (t1, s1), (t2, s2) in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("n_pos, expected_splits", [(10, 3), (2, 2)])
def test_int_cv_is_a_shuffled_stratified_kfold_reduced_to_the_rarer_class(n_pos, expected_splits):
    y = np.array([0] * 12 + [1] * n_pos)
    folds = stratified_folds(3, y, random_state=4)
    reference = StratifiedKFold(expected_splits, shuffle=True, random_state=4).split(np.zeros((len(y), 1)), y)
    assert _same_folds(folds, list(reference))


def test_a_splitter_is_used_as_given_and_sees_X():
    y = np.array([0, 1] * 5)
    X = np.arange(20).reshape(10, 2)
    assert _same_folds(stratified_folds(KFold(5), y, X=X), list(KFold(5).split(X, y)))


def test_too_few_samples_give_no_folds_or_an_error_naming_the_purpose():
    y = [0, 0, 0, 1]
    assert stratified_folds(3, y) == []
    with pytest.raises(ValueError, match="the model chooses C by inner CV.*rarer class 1 time"):
        stratified_folds(3, y, purpose="the model chooses C")


def test_group_folds_hold_out_consecutive_blocks_of_sorted_groups():
    groups = np.array([3, 1, 2, 1, 4, 5, 3])
    folds = group_folds(groups, 2)
    held = [sorted(set(groups[test])) for _, test in folds]
    assert held == [[1, 2, 3], [4, 5]]  # np.array_split of the sorted distinct groups
    for train, test in folds:
        assert sorted(np.concatenate([train, test])) == list(range(len(groups)))
        assert not set(groups[train]) & set(groups[test])


def test_means_keep_the_candidates_order_and_count_every_value():
    folds = [([1], [0]), ([0], [1])]
    _, means = choose_candidate(folds, lambda train, test: {"b": [1.0, np.nan, 3.0], "a": test[0]}, ["a", "b"])
    assert list(means) == ["a", "b"]
    assert means["a"] == 0.5 and np.isnan(means["b"])
    assert choose_candidate(folds, lambda train, test: {"b": [1.0, np.nan, 3.0]}, ["b"], ignore_nan=True)[1] == {
        "b": 2.0
    }
    with pytest.raises(KeyError):
        choose_candidate(folds, lambda train, test: {"c": 1.0}, ["a"])


def test_ties_go_to_the_preferred_then_the_first():
    folds = [([1], [0])]
    scores = {(0.0, 1.0): 0.7, (2.0, 0.1): 0.7 + 1e-14, (4.0, 0.1): 0.6}
    assert choose_candidate(folds, lambda *_: scores, list(scores), prefer=lambda k: (-k[0], -k[1]))[0] == (0.0, 1.0)
    assert choose_candidate(folds, lambda *_: scores, list(scores), decimals=None)[0] == (2.0, 0.1)
    assert choose_candidate(folds, lambda *_: {"a": 0.5, "b": 0.5}, ["a", "b"])[0] == "a"


def _study(seed, n=60, p=12):
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    columns = [f"original_glcm_f{j}" if j % 2 else f"original_shape_s{j}" for j in range(p)]
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=columns)
    X.iloc[:, 0] += y * (1 + seed % 3)
    X.iloc[:, 3] += 0.5 * y
    return X, y


def test_the_models_choose_as_their_own_loops_did():
    # the numbers of the hand-written loops (and the prior's own ridge) before this module, on the same data
    prior = SemanticPrior(name_vectors="random").fit({f"s{i}": _study(i) for i in range(5)})
    assert prior.cv_spearman_ == pytest.approx(
        {
            0.1: 0.4220497296967287,
            1.0: 0.42905499438011213,
            10.0: 0.39264232725497,
            100.0: 0.3716535001236478,
            1000.0: 0.3716535001236478,
        },
        rel=1e-9,
    )
    assert prior.alpha_ == 1.0
    X, y = _study(9)
    lr = SemanticPriorLogisticRegression(prior=prior, Cs=(0.01, 1.0), random_state=0).fit(X, y)
    assert lr.cv_results_["mean_test_score"].tolist() == pytest.approx(
        [
            0.5566666666666666,
            0.5966666666666667,
            0.6766666666666667,
            0.6333333333333334,
            0.6900000000000001,
            0.6366666666666667,
            0.7000000000000001,
            0.6366666666666667,
        ],
        abs=1e-12,
    )
    assert (lr.gamma_, lr.C_) == (8.0, 0.01)
    selector = TopKSelector(k=3, prior=prior, random_state=1).fit(X, y)
    assert selector.prior_cv_results_ == pytest.approx({0.0: 0.56, 2.0: 0.62, 4.0: 0.66, 8.0: 0.66}, abs=1e-12)
    assert selector.prior_gamma_ == 4.0  # a tie with 8: the least trust
