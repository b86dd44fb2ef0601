"""Tests of sklearn_llmrad.metrics against independent computations."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_validate

from sklearn_llmrad.metrics import (
    SCORING,
    bootstrap_ci,
    brier_score,
    calibration_table,
    delong_ci,
    delong_test,
    expected_calibration_error,
    false_negative_rate,
    sensitivity_score,
    specificity_score,
    summarize_predictions,
)


def sample(n=120, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    score = rng.normal(size=n) + shift * y
    prob = 1 / (1 + np.exp(-score))
    return y, prob


# ---------------------------------------------------------------- scorers
def naive_rates(y, pred):
    tp = fn = fp = tn = 0
    for t, p in zip(y, pred):
        if t == 1 and p == 1:
            tp += 1
        elif t == 1:
            fn += 1
        elif p == 1:
            fp += 1
        else:
            tn += 1
    return tp / (tp + fn), tn / (tn + fp)


def test_sensitivity_specificity_fnr_against_naive_counts():
    y, prob = sample()
    pred = (prob >= 0.5).astype(int)
    sens, spec = naive_rates(y, pred)
    assert sensitivity_score(y, pred) == pytest.approx(sens)
    assert specificity_score(y, pred) == pytest.approx(spec)
    assert false_negative_rate(y, pred) == pytest.approx(1 - sens)
    assert sensitivity_score(y, pred) == pytest.approx(recall_score(y, pred))
    assert specificity_score(y, pred) == pytest.approx(recall_score(y, pred, pos_label=0))


def test_string_labels_need_pos_label():
    y = np.array(["benign", "malignant", "malignant", "benign"])
    pred = np.array(["benign", "malignant", "benign", "malignant"])
    assert sensitivity_score(y, pred, pos_label="malignant") == 0.5
    assert specificity_score(y, pred, pos_label="malignant") == 0.5
    with pytest.raises(ValueError, match="pos_label"):
        sensitivity_score(y, pred)


def test_scores_are_not_labels():
    with pytest.raises(ValueError, match="predicted labels, not scores"):
        sensitivity_score([0, 1, 1], [0.2, 0.7, 0.4])
    # float 0/1 labels are fine
    assert specificity_score([0, 0, 1], [0.0, 1.0, 1.0]) == 0.5


def test_undefined_rates_warn_and_return_nan():
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(sensitivity_score([0, 0, 0], [0, 1, 0]))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(specificity_score([1, 1], [0, 1]))


def test_scoring_dict_in_cross_validate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + rng.normal(0, 1, 80) > 0).astype(int)
    cv = StratifiedKFold(4)
    model = LogisticRegression()
    res = cross_validate(model, X, y, cv=cv, scoring=SCORING)
    assert set(SCORING) == {"roc_auc", "sensitivity", "specificity", "f1", "accuracy"}
    for fold, (train, test) in enumerate(cv.split(X, y)):
        fitted = LogisticRegression().fit(X[train], y[train])
        pred = fitted.predict(X[test])
        sens, spec = naive_rates(y[test], pred)
        assert res["test_sensitivity"][fold] == pytest.approx(sens)
        assert res["test_specificity"][fold] == pytest.approx(spec)
        assert res["test_roc_auc"][fold] == pytest.approx(roc_auc_score(y[test], fitted.predict_proba(X[test])[:, 1]))


# ------------------------------------------------------------ calibration
def naive_calibration(y, prob, n_bins):
    """Uniform bins, a value on an inner edge in the lower bin (as sklearn)."""
    edges = np.linspace(0, 1, n_bins + 1)
    rows = []
    for b in range(n_bins):
        members = []
        for t, p in zip(y, prob):
            lower_ok = p > edges[b] or b == 0
            upper_ok = p <= edges[b + 1] or b == n_bins - 1
            if lower_ok and upper_ok:
                members.append((t, p))
        rows.append(members)
    return rows


@pytest.mark.parametrize("n_bins", [1, 5, 10])
def test_ece_and_table_against_naive_loop(n_bins):
    y, prob = sample(n=97, seed=3)
    prob = np.round(prob, 1)  # put values on bin edges on purpose
    table = calibration_table(y, prob, n_bins=n_bins)
    bins = naive_calibration(y, prob, n_bins)
    ece = 0.0
    for row, members in zip(table.itertuples(), bins):
        assert row.count == len(members)
        if members:
            mean_p = sum(p for _, p in members) / len(members)
            obs = sum(t for t, _ in members) / len(members)
            assert row.mean_predicted == pytest.approx(mean_p)
            assert row.observed == pytest.approx(obs)
            ece += len(members) / len(y) * abs(obs - mean_p)
        else:
            assert np.isnan(row.mean_predicted)
    assert expected_calibration_error(y, prob, n_bins=n_bins) == pytest.approx(ece)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_table_matches_sklearn_calibration_curve(strategy):
    y, prob = sample(n=200, seed=4)
    table = calibration_table(y, prob, n_bins=8, strategy=strategy)
    frac_pos, mean_pred = calibration_curve(y, prob, n_bins=8, strategy=strategy)
    filled = table[table["count"] > 0]
    np.testing.assert_allclose(filled["observed"], frac_pos)
    np.testing.assert_allclose(filled["mean_predicted"], mean_pred)
    assert filled["count"].sum() == len(y)


def test_ece_of_perfectly_calibrated_bins_is_zero():
    # in each bin the observed frequency equals the (constant) prediction
    y = [0, 0, 0, 1, 1, 1, 1, 0]
    prob = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, prob, n_bins=2) == pytest.approx(0.0)
    assert expected_calibration_error(y, prob, n_bins=2, strategy="quantile") == pytest.approx(0)


def test_brier_score():
    y, prob = sample()
    naive = sum((p - t) ** 2 for t, p in zip(y, prob)) / len(y)
    assert brier_score(y, prob) == pytest.approx(naive)
    assert brier_score(y, prob) == pytest.approx(brier_score_loss(y, prob))


# -------------------------------------------------------------- bootstrap
def test_bootstrap_ci_contains_estimate_and_is_reproducible():
    y, prob = sample(n=150)
    a = bootstrap_ci(y, prob, "roc_auc", n_bootstraps=300, random_state=1)
    b = bootstrap_ci(y, prob, "roc_auc", n_bootstraps=300, random_state=1)
    c = bootstrap_ci(y, prob, "roc_auc", n_bootstraps=300, random_state=2)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.estimate < a.high
    assert a.estimate == pytest.approx(roc_auc_score(y, prob))


@pytest.mark.parametrize("stratified", [True, False])
def test_builtin_metrics_equal_sklearn_callables_on_the_same_replicates(stratified):
    # the vectorised kernels against sklearn's functions, replicate by replicate
    y, prob = sample(n=60, seed=6)
    prob = np.round(prob, 2)  # ties
    pairs = [
        ("roc_auc", roc_auc_score),
        ("f1", lambda t, p: f1_score(t, p >= 0.5)),
        ("accuracy", lambda t, p: accuracy_score(t, p >= 0.5)),
        ("sensitivity", lambda t, p: recall_score(t, p >= 0.5)),
        ("specificity", lambda t, p: recall_score(t, p >= 0.5, pos_label=0)),
        ("brier", brier_score_loss),
    ]
    for name, fn in pairs:
        # BCa adds a jackknife of n sklearn calls: check it on two metrics only
        for method in ("percentile", "bca") if name in ("roc_auc", "f1") else ("percentile",):
            ours = bootstrap_ci(y, prob, name, n_bootstraps=60, stratified=stratified, method=method, random_state=4)
            ref = bootstrap_ci(y, prob, fn, n_bootstraps=60, stratified=stratified, method=method, random_state=4)
            np.testing.assert_allclose(ours, ref, err_msg=f"{name} {method}")


def test_bootstrap_ci_narrower_with_more_data():
    small = bootstrap_ci(*sample(n=60, seed=5), "roc_auc", n_bootstraps=400, random_state=0)
    large = bootstrap_ci(*sample(n=960, seed=5), "roc_auc", n_bootstraps=400, random_state=0)
    assert (large.high - large.low) < 0.6 * (small.high - small.low)


def test_stratified_resampling_keeps_class_counts():
    y, prob = sample(n=50)
    seen = []

    def count_positives(yt, p):
        seen.append(int(np.sum(yt)))
        return float(np.mean(p))

    bootstrap_ci(y, prob, count_positives, n_bootstraps=50, random_state=0)
    assert set(seen) == {int(y.sum())}
    seen.clear()
    bootstrap_ci(y, prob, count_positives, n_bootstraps=50, stratified=False, random_state=0)
    assert len(set(seen)) > 1


def test_bootstrap_label_metrics_threshold_probabilities():
    y, prob = sample()
    for name, fn in [("sensitivity", recall_score), ("f1", f1_score), ("accuracy", accuracy_score)]:
        ci = bootstrap_ci(y, prob, name, n_bootstraps=50, threshold=0.6, random_state=0)
        assert ci.estimate == pytest.approx(fn(y, (prob >= 0.6).astype(int)))
        assert ci.low <= ci.estimate <= ci.high
    # labels are used as they are
    pred = (prob >= 0.5).astype(int)
    assert bootstrap_ci(y, pred, "specificity", n_bootstraps=20).estimate == pytest.approx(naive_rates(y, pred)[1])


def test_percentile_interval_of_a_mean_matches_normal_theory():
    rng = np.random.default_rng(0)
    x = rng.normal(10, 2, 400)
    y = np.tile([0, 1], 200)
    ci = bootstrap_ci(y, x, lambda yt, v: np.mean(v), n_bootstraps=2000, stratified=False, random_state=0)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert ci.low == pytest.approx(x.mean() - half, abs=0.04)
    assert ci.high == pytest.approx(x.mean() + half, abs=0.04)


def test_bca_matches_scipy_bootstrap():
    # an independent BCa implementation, on a skewed statistic
    rng = np.random.default_rng(1)
    v = rng.exponential(1.0, 150)
    y = np.tile([0, 1], 75)
    ours = bootstrap_ci(
        y, v, lambda yt, s: np.var(s), n_bootstraps=4000, stratified=False, method="bca", random_state=0
    )
    ref = stats.bootstrap((v,), np.var, n_resamples=4000, method="BCa", random_state=0)
    assert ours.low == pytest.approx(ref.confidence_interval.low, rel=0.05)
    assert ours.high == pytest.approx(ref.confidence_interval.high, rel=0.05)
    pct = bootstrap_ci(y, v, lambda yt, s: np.var(s), n_bootstraps=4000, stratified=False, random_state=0)
    assert ours.high > pct.high  # BCa moves right for this right-skewed statistic


def test_undefined_replicates_are_dropped_with_warning():
    y = np.array([0] * 18 + [1] * 2)
    s = np.linspace(0, 1, 20)
    with pytest.warns(RuntimeWarning, match="undefined on"):
        ci = bootstrap_ci(y, s, roc_auc_score, n_bootstraps=200, stratified=False, random_state=0)
    assert ci.estimate == 1.0 and ci.low <= ci.high


# ----------------------------------------------------------------- DeLong
def psi(x, y):
    return 1.0 if x > y else 0.5 if x == y else 0.0


def naive_delong(y, scores):
    """Structural components of DeLong et al. (1988), O(m*n) per score."""
    X = [[s[i] for i in range(len(y)) if y[i] == 1] for s in scores]
    Y = [[s[i] for i in range(len(y)) if y[i] == 0] for s in scores]
    m, n = len(X[0]), len(Y[0])
    v10 = np.array([[sum(psi(xi, yj) for yj in Yr) / n for xi in Xr] for Xr, Yr in zip(X, Y)])
    v01 = np.array([[sum(psi(xi, yj) for xi in Xr) / m for yj in Yr] for Xr, Yr in zip(X, Y)])
    auc = v10.mean(axis=1)
    k = len(scores)
    S = np.zeros((k, k))
    for r, s in itertools.product(range(k), repeat=2):
        s10 = np.sum((v10[r] - auc[r]) * (v10[s] - auc[s])) / (m - 1)
        s01 = np.sum((v01[r] - auc[r]) * (v01[s] - auc[s])) / (n - 1)
        S[r, s] = s10 / m + s01 / n
    return auc, S


def test_delong_against_naive_structural_components():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 70)
    a = np.round(rng.normal(size=70) + y, 1)  # rounding creates ties
    b = np.round(0.5 * a + rng.normal(size=70), 1)  # correlated with a
    res = delong_test(y, a, b)
    auc, S = naive_delong(y, [a, b])
    assert res.auc_a == pytest.approx(auc[0])
    assert res.auc_b == pytest.approx(auc[1])
    assert res.auc_a == pytest.approx(roc_auc_score(y, a))
    np.testing.assert_allclose(res.covariance, S)
    z = (auc[0] - auc[1]) / np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    assert res.z == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    swapped = delong_test(y, b, a)
    assert swapped.z == pytest.approx(-res.z) and swapped.p_value == pytest.approx(res.p_value)


def test_delong_variance_worked_by_hand():
    # positives 0.9, 0.4; negatives 0.5, 0.1. Pairs: (0.9>0.5, 0.9>0.1, 0.4<0.5,
    # 0.4>0.1) -> AUC 3/4. V10 = [1, 1/2], V01 = [1/2, 1]; both sample
    # variances are 1/8, so Var(AUC) = (1/8)/2 + (1/8)/2 = 1/8.
    y = [1, 1, 0, 0]
    s = [0.9, 0.4, 0.5, 0.1]
    ci = delong_ci(y, s)
    assert ci.estimate == 0.75
    se = np.sqrt(1 / 8)
    assert ci.low == pytest.approx(max(0, 0.75 - stats.norm.ppf(0.975) * se))
    assert ci.high == pytest.approx(1.0)  # clipped
    res = delong_test(y, s, [0.1, 0.2, 0.3, 0.4])  # second AUC 0, V10 = V01 = 0
    assert res.covariance[0, 0] == pytest.approx(1 / 8)
    assert res.covariance[1, 1] == 0 and res.covariance[0, 1] == 0
    assert res.z == pytest.approx(0.75 / np.sqrt(1 / 8))


def test_hanley_mcneil_rating_example():
    # Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT ratings 1-5 of
    # 58 normal and 51 abnormal cases; the paper reports A = 0.893, SE = 0.032.
    normal = [33, 6, 6, 11, 2]
    abnormal = [3, 2, 2, 11, 33]
    s = np.r_[np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)]
    y = np.r_[np.zeros(58, int), np.ones(51, int)]
    ci = delong_ci(y, s.astype(float))
    pairs = [psi(a, b) for a in s[y == 1] for b in s[y == 0]]
    assert ci.estimate == pytest.approx(np.mean(pairs))
    assert round(ci.estimate, 3) == 0.893
    # Hanley-McNeil's exponential-approximation SE vs DeLong's nonparametric SE
    A, na, nn = ci.estimate, 51, 58
    q1, q2 = A / (2 - A), 2 * A**2 / (1 + A)
    se_hm = np.sqrt((A * (1 - A) + (na - 1) * (q1 - A**2) + (nn - 1) * (q2 - A**2)) / (na * nn))
    assert round(se_hm, 3) == 0.032
    se_delong = (ci.high - ci.low) / (2 * stats.norm.ppf(0.975))
    assert se_delong == pytest.approx(se_hm, abs=0.005)


def test_delong_p_values_under_null_and_alternative():
    rng = np.random.default_rng(3)
    p_null = []
    for _ in range(200):
        y = np.r_[np.zeros(40, int), np.ones(40, int)]
        base = rng.normal(size=80) + 0.8 * y
        # two models with the same expected AUC, correlated through base
        a = base + rng.normal(size=80)
        b = base + rng.normal(size=80)
        p_null.append(delong_test(y, a, b).p_value)
    p_null = np.array(p_null)
    assert 0.01 <= np.mean(p_null < 0.05) <= 0.10
    assert stats.kstest(p_null, "uniform").pvalue > 0.01
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    good = rng.normal(size=200) + 2.0 * y
    weak = good + rng.normal(0, 3, 200)
    assert delong_test(y, good, weak).p_value < 1e-3


def test_delong_identical_scores():
    y, prob = sample()
    res = delong_test(y, prob, prob)
    assert res.z == 0 and res.p_value == 1.0


# ---------------------------------------------------------------- summary
def test_summarize_predictions():
    y, prob = sample(n=200, seed=7)
    row = summarize_predictions(y, prob, n_bootstraps=300, random_state=0)
    pred = (prob >= 0.5).astype(int)
    sens, spec = naive_rates(y, pred)
    expected = {
        "auc": roc_auc_score(y, prob),
        "sensitivity": sens,
        "specificity": spec,
        "f1": f1_score(y, pred),
        "accuracy": accuracy_score(y, pred),
    }
    for key, value in expected.items():
        assert row[key] == pytest.approx(value)
        assert row[f"{key}_low"] <= row[key] <= row[f"{key}_high"]
        assert row[f"{key}_low"] < row[f"{key}_high"]
    assert row["fnr"] == pytest.approx(1 - sens)
    assert row["brier"] == pytest.approx(brier_score_loss(y, prob))
    assert row["ece"] == pytest.approx(expected_calibration_error(y, prob))
    assert (row["n"], row["n_positive"]) == (200, int(y.sum()))
    assert row == summarize_predictions(y, prob, n_bootstraps=300, random_state=0)
    # the AUC interval agrees with DeLong's to within bootstrap noise
    dl = delong_ci(y, prob)
    assert row["auc_low"] == pytest.approx(dl.low, abs=0.03)
    none = summarize_predictions(y, prob, n_bootstraps=0)
    assert np.isnan(none["auc_low"]) and none["auc"] == row["auc"]
    pd.Series(row)  # flat and table-ready


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call",
    [
        lambda y, p: delong_ci(y, p),
        lambda y, p: delong_test(y, p, p),
        lambda y, p: bootstrap_ci(y, p, "roc_auc", n_bootstraps=5),
        lambda y, p: summarize_predictions(y, p, n_bootstraps=5),
    ],
)
def test_errors(call):
    y, prob = sample(n=20)
    with pytest.raises(ValueError, match="single class"):
        call(np.ones(20, int), prob)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        call(y[:-1], prob)
    with pytest.raises(ValueError, match="NaN"):
        call(y, np.where(np.arange(20) == 3, np.nan, prob))
    with pytest.raises(ValueError, match="binary"):
        call(np.arange(20) % 3, prob)


def test_probability_range_errors():
    y, prob = sample(n=20)
    bad = prob.copy()
    bad[0] = 1.2
    for fn in (brier_score, expected_calibration_error, calibration_table):
        with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
            fn(y, bad)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        summarize_predictions(y, bad, n_bootstraps=5)
    with pytest.raises(ValueError, match="at least 2 positive"):
        delong_ci([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, prob, n_bins=0)


# ------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 4)), min_size=4, max_size=30),
)
def test_delong_matches_naive_on_arbitrary_tied_data(data):
    y = np.array([int(t) for t, _, _ in data])
    if min(y.sum(), len(y) - y.sum()) < 2:
        y[:2], y[2:4] = 1, 0
    a = np.array([float(s) for _, s, _ in data])
    b = np.array([float(s) for _, _, s in data])
    res = delong_test(y, a, b)
    auc, S = naive_delong(y, [a, b])
    np.testing.assert_allclose([res.auc_a, res.auc_b], auc)
    np.testing.assert_allclose(res.covariance, S, atol=1e-12)
    assert 0.0 <= res.p_value <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    prob=st.lists(st.floats(0, 1), min_size=2, max_size=40),
    n_bins=st.integers(1, 12),
    strategy=st.sampled_from(["uniform", "quantile"]),
)
def test_ece_is_bounded_and_counts_every_case(prob, n_bins, strategy):
    prob = np.array(prob)
    y = (np.arange(len(prob)) % 2).astype(int)
    table = calibration_table(y, prob, n_bins=n_bins, strategy=strategy)
    assert table["count"].sum() == len(prob)
    ece = expected_calibration_error(y, prob, n_bins=n_bins, strategy=strategy)
    assert 0.0 <= ece <= 1.0


def test_rank_auc_score_is_sklearns_auc_with_ties_and_says_what_is_wrong():
    from sklearn_llmrad.metrics import rank_auc_score

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(4, 80))
        y = rng.permutation(np.r_[0, 1, rng.integers(0, 2, n - 2)])
        score = rng.integers(0, 4, n).astype(float)  # many ties
        assert rank_auc_score(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    y = np.array(["benign", "malignant", "benign", "malignant"])
    assert rank_auc_score(y, [0.1, 0.9, 0.2, 0.3], pos_label="malignant") == 1.0
    from sklearn_llmrad.metrics import rank_auc_scorer

    X, y_fit = rng.normal(size=(40, 3)), np.tile([0, 1], 20)
    model = LogisticRegression().fit(X + y_fit[:, None] * 0.3, y_fit)
    assert rank_auc_scorer(model, X, y_fit) == pytest.approx(roc_auc_score(y_fit, model.decision_function(X)))
    with pytest.raises(ValueError, match="single class"):
        rank_auc_score([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        rank_auc_score([0, 1, 1], [0.1, np.nan, 0.3])
    # its parameter checks name its own parameter (they once named a y_prob it does not have)
    with pytest.raises(ValueError, match="'y_score' parameter of rank_auc_score"):
        rank_auc_score([0, 1, 1], "0.1 0.2 0.3")
