"""Tests of sklearn_llmrad.selection (TopKSelector, mrmr_select)."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_selection import f_classif, mutual_info_classif
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_llmrad.exceptions import LesionError
from sklearn_llmrad.selection import TopKSelector, mrmr_select


@parametrize_with_checks(
    [
        TopKSelector(k=2),
        TopKSelector(k=2, score_func="mutual_info", random_state=0),
        TopKSelector(k=2, score_func="mrmr"),
        TopKSelector(
            k="all", score_func="mrmr", mrmr_scheme="difference", mrmr_relevance="mutual_info", random_state=0
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def make_frame(n=60, seed=0):
    """Radiomics-like table: informative, noisy, redundant, constant, all-NaN features."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    signal = y + rng.normal(0, 0.5, n)
    X = pd.DataFrame(
        {
            "original_firstorder_Mean": signal,
            "original_glcm_Contrast": rng.normal(size=n),
            "wavelet-LH_glcm_Contrast": signal + rng.normal(0, 0.01, n),  # near copy
            "original_shape2D_Elongation": np.full(n, 0.7),  # constant
            "log-sigma-1-0-mm-3D_firstorder_Mean": np.full(n, np.nan),  # all missing
            "original_glrlm_RunEntropy": 0.6 * y + rng.normal(0, 0.7, n),
            "age": rng.integers(40, 80, n).astype(float),
            "density": rng.choice(list("ABCD"), n),
            "history": ["family history of breast cancer"] * n,
        },
        index=[f"synthetic_{i:04d}" for i in range(n)],
    )
    return X, y


FEATURES = [
    "original_firstorder_Mean",
    "original_glcm_Contrast",
    "wavelet-LH_glcm_Contrast",
    "original_shape2D_Elongation",
    "log-sigma-1-0-mm-3D_firstorder_Mean",
    "original_glrlm_RunEntropy",
]


def test_clinical_passthrough_and_output_frame():
    X, y = make_frame()
    sel = TopKSelector(k=2).fit(X, y)
    out = sel.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(sel.get_feature_names_out())
    # selected features in input order, then the clinical columns
    assert list(out.columns[-3:]) == ["age", "density", "history"]
    assert set(out.columns[:2]) == {"original_firstorder_Mean", "wavelet-LH_glcm_Contrast"}
    assert list(out.columns[:2]) == [c for c in FEATURES if c in set(out.columns[:2])]
    assert out.index.equals(X.index)
    pd.testing.assert_frame_equal(out[["age", "density", "history"]], X[["age", "density", "history"]])
    # clinical columns are never scored, even numeric age
    assert np.isnan(sel.scores_[list(X.columns).index("age")])
    assert list(sel.passthrough_features_) == ["age", "density", "history"]
    assert sel.n_features_in_ == X.shape[1]
    assert list(sel.feature_names_in_) == list(X.columns)


@pytest.mark.parametrize("output", ["default", "pandas"])
def test_dataframe_output_regardless_of_set_output(output):
    X, y = make_frame()
    sel = TopKSelector(k=3).set_output(transform=output)
    out = sel.fit_transform(X, y)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(sel.get_feature_names_out())
    assert out.index.equals(X.index)


def test_array_input_is_an_ordinary_selector():
    X, y = make_frame()
    arr = X[["original_firstorder_Mean", "original_glcm_Contrast", "original_glrlm_RunEntropy"]].to_numpy()
    sel = TopKSelector(k=1).fit(arr, y)
    out = sel.transform(arr)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, arr[:, [0]])
    assert list(sel.get_feature_names_out()) == ["x0"]
    assert list(sel.selected_features_) == ["x0"]
    back = sel.inverse_transform(out)
    np.testing.assert_array_equal(back[:, 0], arr[:, 0])
    assert not back[:, 1:].any()


def test_passthrough_none_drops_clinical():
    X, y = make_frame()
    out = TopKSelector(k=2, passthrough=None).fit_transform(X, y)
    assert not {"age", "density", "history"} & set(out.columns)
    assert out.shape == (len(X), 2)
    assert out.to_numpy().dtype == np.float64  # ready for StandardScaler/SVC


def test_passthrough_list():
    X, y = make_frame()
    X["site"] = "A"
    sel = TopKSelector(k=1, passthrough=["density", "site"]).fit(X, y)
    out = sel.transform(X)
    assert list(out.columns[1:]) == ["density", "site"]
    assert out.columns[0] in {"original_firstorder_Mean", "wavelet-LH_glcm_Contrast"}
    # age is clinical: not passed through, and never scored either
    assert np.isnan(sel.scores_[list(X.columns).index("age")])
    with pytest.raises(ValueError, match="not in X"):
        TopKSelector(k=1, passthrough=["menopause"]).fit(X, y)


def test_constant_and_all_nan_never_selected():
    X, y = make_frame()
    with pytest.warns(UserWarning, match="greater than the number of usable"):
        sel = TopKSelector(k=10).fit(X, y)
    assert set(sel.dropped_features_) == {"original_shape2D_Elongation", "log-sigma-1-0-mm-3D_firstorder_Mean"}
    assert sel.k_ == 4
    assert not set(sel.dropped_features_) & set(sel.selected_features_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # k="all" selects the usable ones silently
        sel_all = TopKSelector(k="all", score_func="mrmr").fit(X, y)
    assert sorted(sel_all.selected_features_) == sorted(sel.selected_features_)


def test_nan_median_imputed_for_scoring_only():
    X, y = make_frame()
    X = X.drop(columns="wavelet-LH_glcm_Contrast")
    X.iloc[::7, 0] = np.nan  # the informative feature has missing values
    X.iloc[::3, 1] = np.nan
    sel = TopKSelector(k=1).fit(X, y)
    assert list(sel.selected_features_) == ["original_firstorder_Mean"]
    # scores equal f_classif on the median-imputed columns, computed here with pandas
    usable = ["original_firstorder_Mean", "original_glcm_Contrast", "original_glrlm_RunEntropy"]
    imputed = X[usable].fillna(X[usable].median())
    f_ref, p_ref = f_classif(imputed.to_numpy(), y)
    cols = [list(X.columns).index(c) for c in usable]
    np.testing.assert_allclose(sel.scores_[cols], f_ref)
    np.testing.assert_allclose(sel.pvalues_[cols], p_ref)
    # transform does not impute
    out = sel.transform(X)
    assert out["original_firstorder_Mean"].isna().sum() == X.iloc[:, 0].isna().sum()


def test_mutual_info_matches_sklearn_and_is_reproducible():
    X, y = make_frame()
    usable = [
        "original_firstorder_Mean",
        "original_glcm_Contrast",
        "wavelet-LH_glcm_Contrast",
        "original_glrlm_RunEntropy",
    ]
    a = TopKSelector(k=2, score_func="mutual_info", random_state=3).fit(X, y)
    b = TopKSelector(k=2, score_func="mutual_info", random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.scores_, b.scores_)
    ref = mutual_info_classif(X[usable].to_numpy(), y, random_state=3)
    cols = [list(X.columns).index(c) for c in usable]
    np.testing.assert_allclose(a.scores_[cols], ref)
    assert a.pvalues_ is None


def naive_mrmr(X, relevance, k, scheme):
    """Reference: recompute every correlation with np.corrcoef at each step."""
    corr = np.abs(np.corrcoef(X, rowvar=False))
    selected = [int(np.argmax(relevance))]
    while len(selected) < k:
        best, best_val = None, -np.inf
        for j in range(X.shape[1]):
            if j in selected:
                continue
            red = np.mean([corr[j, s] for s in selected])
            val = relevance[j] - red if scheme == "difference" else relevance[j] / red
            if val > best_val:
                best, best_val = j, val
        selected.append(best)
    return selected


@pytest.mark.parametrize("scheme", ["difference", "quotient"])
def test_mrmr_matches_naive_reference(scheme):
    rng = np.random.default_rng(1)
    n, p = 80, 25
    y = rng.integers(0, 2, n)
    base = rng.normal(size=(n, 5))
    # groups of correlated features with different relevance
    X = np.repeat(base, 5, axis=1) + rng.normal(0, 0.6, (n, p))
    X[:, :10] += y[:, None] * np.linspace(0.2, 1.0, 10)
    relevance = f_classif(X, y)[0]
    order, crit = mrmr_select(X, relevance, 12, scheme=scheme)
    assert order.tolist() == naive_mrmr(X, relevance, 12, scheme)
    assert crit[0] == relevance[order[0]]
    # through the estimator (array input, F relevance): same order
    sel = TopKSelector(k=12, score_func="mrmr", mrmr_scheme=scheme).fit(X, y)
    assert sel.selection_order_.tolist() == order.tolist()
    np.testing.assert_allclose(sel.scores_, relevance)


@pytest.mark.parametrize("score_func", ["anova", "mrmr"])
@pytest.mark.parametrize("scheme", ["difference", "quotient"])
def test_perfectly_separating_feature_ranks_first(score_func, scheme):
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)
    X = np.c_[rng.normal(size=40) + y, 3.0 * y, rng.normal(size=40)]  # F(x1) = inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sel = TopKSelector(k=2, score_func=score_func, mrmr_scheme=scheme).fit(X, y)
    assert np.isinf(sel.scores_[1])
    assert sel.selection_order_[0] == 1


def test_mrmr_avoids_redundant_copy():
    X, y = make_frame()
    anova = TopKSelector(k=2, passthrough=None).fit(X, y)
    mrmr = TopKSelector(
        k=2, score_func="mrmr", mrmr_relevance="mutual_info", mrmr_scheme="difference", passthrough=None, random_state=0
    ).fit(X, y)
    # ANOVA keeps the informative feature and its near copy; mRMR replaces the copy
    # (by a weakly correlated feature: the redundancy term outweighs small relevance)
    assert set(anova.selected_features_) == {"original_firstorder_Mean", "wavelet-LH_glcm_Contrast"}
    assert len(set(mrmr.selected_features_) & {"original_firstorder_Mean", "wavelet-LH_glcm_Contrast"}) == 1


def test_mrmr_at_radiomics_scale():
    rng = np.random.default_rng(0)
    n, p, k = 150, 1500, 500
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p))
    X[:, :40] += y[:, None]
    order, _ = mrmr_select(X, f_classif(X, y)[0], k)
    assert len(set(order.tolist())) == k
    assert set(range(40)) <= set(order[:100].tolist())


def test_selection_depends_only_on_fit_data():
    X, y = make_frame(n=80)
    train, test = X.iloc[:40], X.iloc[40:].copy()
    sel = TopKSelector(k=2, score_func="mrmr").fit(train, y[:40])
    before = sel.selected_features_.copy()
    # test data where another feature is now perfectly informative
    test["original_glcm_Contrast"] = y[40:] * 10.0
    out = sel.transform(test)
    assert list(out.columns[:2]) == list(before)
    np.testing.assert_array_equal(sel.selected_features_, before)
    # refitting on train alone gives the same set whatever the test data are
    again = TopKSelector(k=2, score_func="mrmr").fit(train, y[:40])
    np.testing.assert_array_equal(again.selected_features_, before)
    # while fitting on the changed data does pick the new feature (the test can fail)
    leaky = TopKSelector(k=1).fit(test, y[40:])
    assert list(leaky.selected_features_) == ["original_glcm_Contrast"]


def test_callable_score_func():
    X, y = make_frame()

    def negative_index(F, y):  # prefers the first usable columns
        return -np.arange(F.shape[1], dtype=float)

    sel = TopKSelector(k=2, score_func=negative_index, passthrough=None).fit(X, y)
    assert list(sel.selected_features_) == ["original_firstorder_Mean", "original_glcm_Contrast"]
    assert sel.pvalues_ is None

    def bad(F, y):
        return np.ones(3)

    with pytest.raises(ValueError, match="score_func returned 3 scores"):
        TopKSelector(k=2, score_func=bad).fit(X, y)


def test_errors():
    X, y = make_frame()
    with pytest.raises(ValueError, match=r"non-numeric columns \['image'\]"):
        TopKSelector(k=2).fit(X.assign(image="a.dcm"), y)
    bad = X.copy()
    bad.loc["synthetic_0007", "original_glcm_Contrast"] = np.inf
    with pytest.raises(LesionError, match="synthetic_0007.*original_glcm_Contrast"):
        TopKSelector(k=2).fit(bad, y)
    with pytest.raises(ValueError, match="two classes"):
        TopKSelector(k=2).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="requires y"):
        TopKSelector(k=2).fit(X, None)
    sel = TopKSelector(k=2).fit(X, y)
    with pytest.raises(ValueError, match="transform needs a DataFrame"):
        sel.transform(X[FEATURES].to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        sel.transform(X.rename(columns={"age": "Age"}))
    with pytest.raises(ValueError, match="passthrough names columns"):
        TopKSelector(k=1, passthrough=["age"]).fit(X[FEATURES[:2]].to_numpy(), y)
    with pytest.raises(ValueError, match="score_func"):
        TopKSelector(k=2, score_func="chi2").fit(X, y)


def test_clone_and_pickle_keep_selection():
    X, y = make_frame()
    sel = TopKSelector(k=2, score_func="mrmr").fit(X, y)
    restored = pickle.loads(pickle.dumps(sel))
    pd.testing.assert_frame_equal(restored.transform(X), sel.transform(X))
    assert clone(sel).get_params() == sel.get_params()


def test_in_pipeline_with_cross_validate():
    X, y = make_frame(n=80)
    pipe = make_pipeline(TopKSelector(k=2, passthrough=None), StandardScaler(), SVC())
    res = cross_validate(pipe, X, y, cv=StratifiedKFold(4), scoring="roc_auc")
    assert res["test_score"].mean() > 0.7


def test_real_pyradiomics_features():
    import logging

    import SimpleITK as sitk
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    rng = np.random.default_rng(0)
    extractor = featureextractor.RadiomicsFeatureExtractor(force2D=True)
    extractor.disableAllFeatures()
    extractor.enableFeatureClassByName("firstorder")
    extractor.enableFeatureClassByName("glcm")
    extractor.enableFeatureClassByName("shape2D")
    yy, xx = np.mgrid[:32, :32]
    mask = ((yy - 16) ** 2 + (xx - 16) ** 2 < 100).astype(np.uint8)
    rows, y = [], []
    for i in range(16):
        label = i % 2
        # malignant: brighter and more heterogeneous lesions
        img = 100 + 40 * label + rng.normal(0, 5 + 15 * label, (32, 32))
        result = extractor.execute(sitk.GetImageFromArray(img[None]), sitk.GetImageFromArray(mask[None]))
        rows.append({k: float(v) for k, v in result.items() if not k.startswith("diagnostics")})
        y.append(label)
    X = pd.DataFrame(rows, index=[f"synthetic_{i:04d}" for i in range(16)])
    X["age"] = rng.integers(40, 80, 16)
    sel = TopKSelector(k=5, score_func="mrmr").fit(X, np.array(y))
    out = sel.transform(X)
    assert out.shape == (16, 6) and out.columns[-1] == "age"
    # the same mask for every lesion: all shape features are constant, never selected
    shape_cols = [c for c in X.columns if "_shape2D_" in c]
    assert shape_cols and set(shape_cols) <= set(sel.dropped_features_)
    assert all(c.startswith("original_") for c in out.columns[:-1])


def _fitted_state(selector):
    return {k: v for k, v in vars(selector).items() if k.endswith("_") and not k.startswith("_")}


def _prior():
    from sklearn_llmrad.prior import SemanticPrior

    studies = {}
    for seed in (1, 2, 3):
        X, y = make_frame(seed=seed)
        studies[f"s{seed}"] = (X[FEATURES].drop(columns=FEATURES[3:5]), y)
    return SemanticPrior(name_vectors="random", alpha=1.0, random_state=0).fit(studies)


@pytest.mark.parametrize("score_func", ["anova", "mutual_info", "mrmr"])
@pytest.mark.parametrize("with_prior", [False, True], ids=["no-prior", "prior-gamma-auto"])
def test_fitted_as_gives_the_fit_of_the_other_passthrough(score_func, with_prior):
    # clinical columns are never scored: passthrough None and "clinical" select the same, gamma included
    X, y = make_frame()
    prior = _prior() if with_prior else None
    common = dict(k=3, score_func=score_func, random_state=0, prior=prior)
    for fitted_with, asked in [("clinical", None), (None, "clinical")]:
        fitted = TopKSelector(passthrough=fitted_with, **common).fit(X, y)
        asked_for = TopKSelector(passthrough=asked, **common).set_output(transform="pandas")
        twin = fitted.fitted_as(asked_for)
        alone = clone(asked_for).fit(X, y)
        assert twin is not fitted and twin is not asked_for and twin.passthrough == asked
        assert twin.get_params() == alone.get_params()
        mine, reference = _fitted_state(twin), _fitted_state(alone)
        assert sorted(mine) == sorted(reference)
        if with_prior:
            assert "prior_cv_results_" in mine and twin.prior_gamma_ == alone.prior_gamma_
        for key, value in reference.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(mine[key], value, err_msg=key)
                assert mine[key] is not fitted.__dict__[key]  # a copy: the two fits never share arrays
            else:
                assert mine[key] == value, key
        pd.testing.assert_frame_equal(twin.transform(X), alone.transform(X))


def test_fitted_as_refuses_what_would_fit_otherwise():
    X, y = make_frame()
    fitted = TopKSelector(k=2).fit(X, y)
    assert fitted.fitted_as(TopKSelector(k=3, passthrough=None)) is None  # another k
    assert fitted.fitted_as(TopKSelector(k=2, passthrough=["history"])) is None  # a list: not scored
    assert fitted.fitted_as(StandardScaler()) is None
    listed = TopKSelector(k=2, passthrough=["age"]).fit(X, y)
    assert listed.fitted_as(TopKSelector(k=2)) is None
    assert fitted.fitted_as(TopKSelector(k=2, score_func="mrmr")) is None
    with pytest.raises(Exception, match="not fitted"):
        TopKSelector(k=2).fitted_as(TopKSelector(k=2))
    # array input: no columns to pass through, the same selector either way
    values = X[FEATURES[:3]].to_numpy()
    arrays = TopKSelector(k=2, passthrough=None).fit(values, y)
    twin = arrays.fitted_as(TopKSelector(k=2))
    np.testing.assert_array_equal(twin.transform(values), arrays.transform(values))
