"""Top-k selection of radiomics features: ANOVA F, mutual information or mRMR.

:class:`TopKSelector` is the fitted stage between
:class:`~sklearn_llmrad.RadiomicsExtractor` and the encoder/classifier.
"""

from __future__ import annotations

import copy
import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.feature_selection import SelectorMixin, f_classif, mutual_info_classif
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._columns import CLINICAL
from .exceptions import LesionError
from .inner_cv import choose_candidate, same_params, stratified_folds
from .metrics import rank_auc_scorer

__all__ = ["TopKSelector", "mrmr_select"]


class TopKSelector(SelectorMixin, BaseEstimator):
    """Select the ``k`` best radiomics features; pass clinical columns through.

    Feature columns that are constant or entirely missing in the training data
    are dropped first and are never selected. Remaining missing values are
    replaced by the training median of their column *for scoring only*:
    :meth:`transform` returns the selected columns unchanged, NaNs included,
    so that the imputation a downstream stage learns is its own.

    On a DataFrame, the clinical columns (``age``, ``density``, ``history``)
    are excluded from scoring; with ``passthrough="clinical"`` those present
    are appended, unchanged, after the selected features. The output is then
    a DataFrame with the input's index whatever ``set_output`` says. On a
    plain 2-D numeric array the selector is an ordinary scikit-learn selector
    like :class:`~sklearn.feature_selection.SelectKBest`.

    Parameters
    ----------
    k : int or "all", default=500
        Number of features to select. When ``k`` exceeds the number of usable
        (non-constant, not all-missing) features, all usable features are
        selected and a warning is raised.

    score_func : {"anova", "mutual_info", "mrmr"} or callable, default="anova"
        - ``"anova"``: ANOVA F-value, :func:`~sklearn.feature_selection.f_classif`.
        - ``"mutual_info"``: mutual information with the label,
          :func:`~sklearn.feature_selection.mutual_info_classif`.
        - ``"mrmr"``: greedy minimum-redundancy maximum-relevance selection
          (Peng, Long & Ding 2005), see :func:`mrmr_select`.
        - a callable ``score_func(X, y)`` returning scores or
          ``(scores, pvalues)``, as for ``SelectKBest``; higher is better.
          (Not named ``score``: scikit-learn duck-types an attribute of that
          name as the estimator's ``score`` method.)

    passthrough : "clinical", list of str or None, default="clinical"
        Columns that are not scored and are appended after the selected
        features. ``"clinical"`` means whichever of ``age``, ``density`` and
        ``history`` are present; a list names the columns (all must be
        present); ``None`` drops the clinical columns (e.g. before an SVC).
        Clinical columns are never scored, whatever this parameter says.
        Ignored for array input.

    mrmr_relevance : {"anova", "mutual_info"}, default="anova"
        Relevance term of mRMR: F-statistic or mutual information.

    mrmr_scheme : {"difference", "quotient"}, default="quotient"
        How mRMR combines relevance and redundancy: ``relevance - redundancy``
        or ``relevance / redundancy``. The quotient's ranking does not depend
        on the scale of the relevance, which matters for the unbounded F
        statistic (the redundancy lies in [0, 1]); the difference suits
        mutual information.

    n_neighbors : int, default=3
        Neighbours used by the mutual-information estimator.

    random_state : int, RandomState instance or None, default=None
        Seeds the mutual-information estimator (its small noise added to
        continuous features).

    n_jobs : int, default=None
        Parallel jobs of the mutual-information estimator.

    prior : SemanticPrior, str or None, default=None
        A :class:`~sklearn_llmrad.prior.SemanticPrior` (or a saved prior
        directory): each feature's score (the relevance term for ``"mrmr"``) is
        multiplied by ``w_j ** prior_gamma``, ``w_j`` the prior's weight of its
        name. Needs DataFrame input.

    prior_gamma : "auto" or float, default="auto"
        Trust in the prior. ``"auto"`` chooses it among (0, 2, 4, 8) by
        stratified 3-fold CV on the training data: the AUC of an L2 logistic
        regression on the ``k`` features each gamma selects (0 = no prior).

    Attributes
    ----------
    scores_ : ndarray of shape (n_features_in_,)
        Score of each input column (the relevance term for ``"mrmr"``),
        prior-weighted when ``prior`` is set; NaN for columns that were not
        scored (constant, all-missing, clinical, passthrough).

    prior_gamma_ : float or None
        The gamma used (None without prior).

    prior_weights_ : ndarray of shape (n_features_in_,) or None
        ``w_j`` of each scored column (NaN elsewhere; None without prior).

    pvalues_ : ndarray of shape (n_features_in_,) or None
        p-values when the score function gives them (``"anova"``), else None.

    selection_order_ : ndarray of int
        Indices of the selected input columns, best first (greedy order for
        mRMR).

    selection_scores_ : ndarray of float
        The criterion value of each entry of ``selection_order_`` when it was
        chosen (equal to ``scores_`` for univariate scores).

    selected_features_ : ndarray of str
        Names of the selected features, in input order.

    dropped_features_ : ndarray of str
        Names of the constant or all-missing feature columns.

    passthrough_features_ : ndarray of str
        Names of the columns appended after the selected features.

    k_ : int
        Number of features actually selected.

    n_features_in_ : int
        Number of columns seen during :term:`fit` (clinical ones included).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of columns seen during :term:`fit`. Defined only when `X` has
        column names that are all strings.

    See Also
    --------
    sklearn.feature_selection.SelectKBest : the univariate selector imitated here.
    mrmr_select : the mRMR search on a plain matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn_llmrad.selection import TopKSelector
    >>> rng = np.random.default_rng(0)
    >>> y = np.array([0, 1] * 20)
    >>> X = pd.DataFrame({
    ...     "original_firstorder_Mean": y + rng.normal(0, 0.3, 40),
    ...     "original_glcm_Contrast": rng.normal(size=40),
    ...     "original_shape2D_Elongation": np.ones(40),
    ...     "age": rng.integers(40, 80, 40),
    ...     "density": ["B"] * 40,
    ... })
    >>> selector = TopKSelector(k=1).fit(X, y)
    >>> list(selector.transform(X).columns)
    ['original_firstorder_Mean', 'age', 'density']
    >>> list(selector.dropped_features_)
    ['original_shape2D_Elongation']
    >>> TopKSelector(k=1, passthrough=None).fit_transform(X, y).shape
    (40, 1)
    """

    _parameter_constraints: dict = {
        "k": [StrOptions({"all"}), Interval(Integral, 0, None, closed="left")],
        "score_func": [StrOptions({"anova", "mutual_info", "mrmr"}), callable],
        "passthrough": [StrOptions({"clinical"}), list, tuple, None],
        "mrmr_relevance": [StrOptions({"anova", "mutual_info"})],
        "mrmr_scheme": [StrOptions({"difference", "quotient"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        # None, a fitted SemanticPrior or a saved prior folder (loaded and checked in fit)
        "prior": [None, HasMethods(["feature_weights"]), str, os.PathLike],
        "prior_gamma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        k=500,
        *,
        score_func="anova",
        passthrough="clinical",
        mrmr_relevance="anova",
        mrmr_scheme="quotient",
        n_neighbors=3,
        random_state=None,
        n_jobs=None,
        prior=None,
        prior_gamma="auto",
    ):
        self.k = k
        self.score_func = score_func
        self.passthrough = passthrough
        self.mrmr_relevance = mrmr_relevance
        self.mrmr_scheme = mrmr_scheme
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.prior = prior
        self.prior_gamma = prior_gamma

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Score the feature columns of ``X`` against ``y`` and keep the best ``k``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Radiomics features (and optionally clinical columns).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : TopKSelector
            The fitted selector.
        """
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, y, skip_check_array=True, reset=True)
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            F, candidates, passthrough = self._frame_to_matrix(X)
            y = self._check_y(y, X)
        else:
            X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan", reset=True)
            if self.passthrough not in (None, "clinical") and len(self.passthrough):
                raise ValueError(
                    "passthrough names columns but X is an array without column "
                    "names; pass a DataFrame or set passthrough=None."
                )
            y = self._check_y(y, X)
            F, candidates, passthrough = X, np.arange(X.shape[1]), []

        names = _check_feature_names_in(self, None)
        all_nan = np.isnan(F).all(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            constant = np.nanmax(F, axis=0) == np.nanmin(F, axis=0)
        usable = ~(all_nan | constant)
        dropped = candidates[~usable]
        candidates = candidates[usable]
        F = F[:, usable]
        # Median imputation is for scoring only (documented): transform never
        # fills values, so a downstream imputer learns its own statistics.
        if np.isnan(F).any():
            medians = np.nanmedian(F, axis=0)
            F = np.where(np.isnan(F), medians, F)

        k = len(candidates) if self.k == "all" else self.k
        if k > len(candidates):
            if self.k != "all":
                warnings.warn(
                    f"k={self.k} is greater than the number of usable features "
                    f"({len(candidates)}, after dropping {len(dropped)} constant or "
                    "all-missing ones); all usable features are selected.",
                    UserWarning,
                    stacklevel=2,
                )
            k = len(candidates)

        factor = self._prior_factor(F, y, names[candidates], k)
        scores = np.full(self.n_features_in_, np.nan)
        pvalues = None
        if self.score_func == "mrmr":
            relevance = self._univariate(F, y, self.mrmr_relevance)[0] * factor
            order, crit = mrmr_select(F, relevance, k, scheme=self.mrmr_scheme)
            scores[candidates] = relevance
        else:
            cand_scores, cand_p = self._univariate(F, y, self.score_func)
            cand_scores = cand_scores * factor
            scores[candidates] = cand_scores
            if cand_p is not None:
                pvalues = np.full(self.n_features_in_, np.nan)
                pvalues[candidates] = cand_p
            ranked = np.where(np.isnan(cand_scores), -np.inf, cand_scores)
            # stable sort on -score: ties go to the earlier column
            order = np.argsort(-ranked, kind="stable")[:k]
            crit = cand_scores[order]

        self.scores_ = scores
        self.pvalues_ = pvalues
        self.selection_order_ = candidates[order].astype(np.intp)
        self.selection_scores_ = np.asarray(crit, dtype=float)
        self.k_ = int(k)
        self.dropped_features_ = names[dropped]
        self.passthrough_features_ = np.asarray(passthrough, dtype=object)
        self.selected_features_ = names[self._get_support_mask()]
        return self

    # ---------------------------------------------------------- semantic prior
    def _prior_factor(self, F, y, names, k):
        """``w_j ** gamma`` per candidate (ones without prior); sets ``prior_gamma_``, ``prior_weights_``."""
        self.prior_gamma_ = None
        self.prior_weights_ = None
        if self.prior is None:
            return np.ones(F.shape[1])
        from .prior import prior_feature_weights

        if not hasattr(self, "feature_names_in_"):
            raise ValueError("TopKSelector(prior=...) weighs features by name: pass X as a DataFrame.")
        w = prior_feature_weights(self.prior, names, F.shape[1])
        if self.prior_gamma == "auto":
            gamma = self._choose_prior_gamma(F, y, w, k)
        else:
            gamma = float(self.prior_gamma)
        weights = np.full(self.n_features_in_, np.nan)
        weights[[list(self.feature_names_in_).index(n) for n in names]] = w
        self.prior_gamma_ = gamma
        self.prior_weights_ = weights
        return w**gamma

    def _choose_prior_gamma(self, F, y, w, k, gammas=(0.0, 2.0, 4.0, 8.0), n_splits=3):
        """Pick gamma by inner stratified CV: L2 logistic regression on the k features each gamma selects."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import get_scorer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        seed = 0 if self.random_state is None else self.random_state
        folds = stratified_folds(n_splits, y, random_state=seed)  # none when a class has a single sample
        if not folds or k == 0:
            return 0.0
        # binary: the AUC, without the sklearn scorer's per-call overhead
        scorer = rank_auc_scorer if len(np.unique(y)) == 2 else get_scorer("accuracy")
        func = self.mrmr_relevance if self.score_func == "mrmr" else self.score_func

        def score_fold(train, test):
            base = np.asarray(self._univariate(F[train], y[train], func)[0], dtype=float)
            base = np.where(np.isfinite(base), base, -np.inf)
            scored, scores = {}, {}  # gammas that select the same features score the same: fit once
            for g in gammas:
                top = np.argsort(-(np.where(np.isfinite(base), base * w**g, -np.inf)), kind="stable")[:k]
                top = np.sort(top)  # the selected set, in column order
                key = top.tobytes()
                if key not in scored:
                    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
                    model.fit(F[train][:, top], y[train])
                    scored[key] = scorer(model, F[test][:, top], y[test])
                scores[g] = scored[key]
            return scores

        gamma, self.prior_cv_results_ = choose_candidate(folds, score_fold, gammas, prefer=lambda g: (-g,))
        return gamma

    # ------------------------------------------------------------ shared fits
    def fitted_as(self, estimator):
        """This fitted selection as a fit of ``estimator``, when that fit would select the same.

        Clinical columns are never scored, so ``passthrough=None`` and
        ``passthrough="clinical"`` select the same features (and choose the
        same ``prior_gamma_``): they differ only in the columns appended. An
        unfitted selector with every other parameter equal to this one's
        (compared by identity or ``==``) needs no fit of its own: its fitted
        copy is returned, holding this selection (and the output settings of
        ``estimator``). The inner-CV choice uses this to fit the Top-K
        selection its candidates share once per fold.

        Parameters
        ----------
        estimator : estimator
            An unfitted estimator.

        Returns
        -------
        TopKSelector or None
            The fitted copy; None when ``estimator`` is not such a selector
            (another class, other parameters, a ``passthrough`` list).

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn_llmrad.selection import TopKSelector
        >>> X = pd.DataFrame({"original_firstorder_Mean": [1.0, 2.0, 8.0, 9.0],
        ...                   "original_glcm_Contrast": [5.0, 1.0, 4.0, 2.0], "age": [50, 61, 47, 70]})
        >>> both = TopKSelector(k=1).fit(X, [0, 0, 1, 1])
        >>> list(both.fitted_as(TopKSelector(k=1, passthrough=None)).transform(X).columns)
        ['original_firstorder_Mean']
        >>> both.fitted_as(TopKSelector(k=2, passthrough=None)) is None
        True
        """
        check_is_fitted(self)
        if type(estimator) is not type(self):
            return None
        mine, theirs = self.get_params(deep=False), estimator.get_params(deep=False)
        passthroughs = (mine.pop("passthrough"), theirs.pop("passthrough"))
        neutral = all(p is None or (isinstance(p, str) and p == "clinical") for p in passthroughs)
        if not (neutral and same_params(mine, theirs)):
            return None
        twin = clone(estimator)
        fitted = {key: value for key, value in vars(self).items() if key.endswith("_") and not key.startswith("_")}
        vars(twin).update(copy.deepcopy(fitted))
        on_frame = hasattr(self, "feature_names_in_") and twin.passthrough == "clinical"
        twin.passthrough_features_ = np.asarray(
            [c for c in CLINICAL if c in self.feature_names_in_] if on_frame else [], dtype=object
        )
        return twin

    def _check_y(self, y, X):
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        if len(y) == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        n_classes = len(np.unique(y))
        if n_classes < 2:
            raise ValueError(f"TopKSelector needs at least two classes in y; got {n_classes} class.")
        return y

    def _frame_to_matrix(self, X):
        """Split a DataFrame into the numeric candidate matrix and passthrough names."""
        columns = list(X.columns)
        clinical = [c for c in CLINICAL if c in columns]
        if self.passthrough == "clinical":
            passthrough = clinical
        elif self.passthrough is None:
            passthrough = []
        else:
            missing = [c for c in self.passthrough if c not in columns]
            if missing:
                raise ValueError(f"passthrough columns {missing} are not in X.")
            passthrough = list(self.passthrough)
        excluded = set(clinical) | set(passthrough)
        feature_cols = [c for c in columns if c not in excluded]
        bad = [c for c in feature_cols if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if bad:
            raise ValueError(
                f"TopKSelector scores numeric feature columns only; non-numeric "
                f"columns {bad[:5]} are neither clinical nor in `passthrough` "
                "(did the image/mask columns reach the selector?)."
            )
        if len(X) == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        F = X[feature_cols].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(F).any():
            row, col = np.argwhere(np.isinf(F))[0]
            raise LesionError(
                f"feature {feature_cols[col]!r} is infinite; radiomics features "
                "must be finite (NaN marks a missing value).",
                case=X.index[row],
            )
        position = {c: i for i, c in enumerate(columns)}
        candidates = np.array([position[c] for c in feature_cols], dtype=np.intp)
        return F, candidates, passthrough

    def _univariate(self, F, y, score_func):
        if score_func == "anova":
            with warnings.catch_warnings():
                # zero within-class variance gives an infinite F: a perfect feature
                warnings.simplefilter("ignore", RuntimeWarning)
                # values that differ only below float precision: F is NaN, ranked last
                warnings.filterwarnings("ignore", "Features .* are constant", UserWarning)
                return f_classif(F, y)
        if score_func == "mutual_info":
            mi = mutual_info_classif(
                F,
                y,
                discrete_features=False,
                n_neighbors=self.n_neighbors,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
            return mi, None
        out = score_func(F, y)
        if isinstance(out, (list, tuple)):
            scores, pvalues = out
            pvalues = None if pvalues is None else np.asarray(pvalues, dtype=float)
        else:
            scores, pvalues = out, None
        scores = np.asarray(scores, dtype=float).ravel()
        if scores.shape[0] != F.shape[1]:
            raise ValueError(f"score_func returned {scores.shape[0]} scores for {F.shape[1]} features.")
        return scores, pvalues

    # ------------------------------------------------------------ transform
    def _get_support_mask(self):
        check_is_fitted(self)
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[self.selection_order_] = True
        return mask

    def transform(self, X):
        """Keep the selected features (then the passthrough columns).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with the columns seen in :meth:`fit`.

        Returns
        -------
        X_new : DataFrame or ndarray
            A DataFrame (same index; selected features in input order, then
            the passthrough columns) when the selector was fitted on, and is
            given, a DataFrame with named columns; else an array.
        """
        check_is_fitted(self)
        fitted_on_frame = hasattr(self, "feature_names_in_")
        if isinstance(X, pd.DataFrame) and fitted_on_frame:
            validate_data(self, X, reset=False, skip_check_array=True)
            return X.loc[:, list(self.get_feature_names_out())]
        if fitted_on_frame and len(self.passthrough_features_):
            raise ValueError(
                "TopKSelector was fitted on a DataFrame with passthrough columns "
                f"{list(self.passthrough_features_)}; transform needs a DataFrame too."
            )
        return super().transform(X)

    def inverse_transform(self, X):
        """Put zeros where features were removed (array-fitted, no passthrough only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_selected_features)
            Transformed data.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            ``X`` with columns of zeros for the removed features.
        """
        check_is_fitted(self)
        if len(self.passthrough_features_):
            raise NotImplementedError("inverse_transform is undefined with passthrough columns.")
        return super().inverse_transform(np.asarray(X))

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: selected features, then passthrough.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Must match ``feature_names_in_`` when that is defined.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The output column names.
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        return np.concatenate([names[self._get_support_mask()], self.passthrough_features_]).astype(object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


def mrmr_select(X, relevance, k, *, scheme="quotient"):
    """Greedy minimum-redundancy maximum-relevance search.

    Implements the mRMR criterion of Peng, Long & Ding (2005), "Feature
    selection based on mutual information: criteria of max-dependency,
    max-relevance, and min-redundancy", IEEE TPAMI 27(8):1226-1238, in its
    continuous form (Ding & Peng 2005, J Bioinform Comput Biol 3(2)): the
    relevance is a given per-feature score (F-statistic or mutual
    information) and the redundancy of a candidate is its mean absolute
    Pearson correlation with the features already selected. The first
    feature is the most relevant; each next one maximises
    ``relevance - redundancy`` ("difference") or ``relevance / redundancy``
    ("quotient"). Ties go to the earlier column.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite data, no constant column.
    relevance : ndarray of shape (n_features,)
        Relevance of each feature; NaN counts as the worst.
    k : int
        Number of features to select (at most ``n_features``).
    scheme : {"difference", "quotient"}, default="quotient"
        How relevance and redundancy are combined.

    Returns
    -------
    order : ndarray of int of shape (k,)
        Selected column indices in the order they were chosen.
    criterion : ndarray of shape (k,)
        The criterion value of each choice (the relevance for the first).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=50)
    >>> X = np.c_[a, a + 1e-3 * rng.normal(size=50), rng.normal(size=50)]
    >>> order, _ = mrmr_select(X, np.array([1.0, 0.99, 0.5]), 2)
    >>> order.tolist()  # the near-copy of column 0 is redundant
    [0, 2]
    """
    X = np.asarray(X, dtype=np.float64)
    relevance = np.asarray(relevance, dtype=float)
    relevance = np.where(np.isnan(relevance), -np.inf, relevance)
    n_features = X.shape[1]
    if scheme not in ("difference", "quotient"):
        raise ValueError(f"scheme must be 'difference' or 'quotient', got {scheme!r}.")
    if not 0 <= k <= n_features:
        raise ValueError(f"k={k} must be between 0 and n_features={n_features}.")
    if k == 0:
        return np.empty(0, dtype=np.intp), np.empty(0)
    # Rows of Zt are centred unit-norm features, so Zt @ Zt[j] is the vector of
    # Pearson correlations with feature j: O(n_samples * n_features) per step.
    Zt = (X - X.mean(axis=0)).T
    norms = np.linalg.norm(Zt, axis=1)
    if np.any(norms == 0):
        raise ValueError("mrmr_select needs non-constant columns.")
    Zt /= norms[:, None]
    order = np.empty(k, dtype=np.intp)
    criterion = np.empty(k)
    order[0] = int(np.argmax(relevance))
    criterion[0] = relevance[order[0]]
    available = np.ones(n_features, dtype=bool)
    available[order[0]] = False
    redundancy_sum = np.zeros(n_features)
    tiny = np.finfo(float).tiny
    for step in range(1, k):
        redundancy_sum += np.abs(Zt @ Zt[order[step - 1]])
        redundancy = redundancy_sum / step
        if scheme == "difference":
            crit = relevance - redundancy
        else:
            crit = relevance / np.maximum(redundancy, tiny)
        # NaN (not -inf) marks taken features, so that a run of -inf relevances
        # still yields an available feature.
        crit[~available] = np.nan
        best = int(np.nanargmax(crit))
        order[step] = best
        criterion[step] = crit[best]
        available[best] = False
    return order, criterion
