"""What :class:`~sklearn_llmrad.models.LLMRadiomicsClassifier` accepts as ``X``, and how it becomes the module's input.

``X`` is a :class:`~sklearn_llmrad.encoding.SemanticFeatures` (the full method)
or a numeric table (the "w/o BioBERT" ablation). ``fit`` records the features'
names, descriptions and the data-derived arguments of the network (feature
embeddings, clinical width, token groups, the prior's pooling bias); prediction
checks that the same features come back, by name. A prior and grouped tokens
read the names: placeholders (``x0, x1, ...``) are refused, never guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, validate_data

from ..exceptions import LesionError
from ..vocabulary import is_placeholder_names, placeholder_names
from ._explanation import case_labels

__all__ = ["FusionInputMixin"]

_SEMANTIC_ATTRS = ("values", "feature_embeddings", "clinical_embeddings")

#: PyRadiomics feature classes: a name's group token is its prefix up to the class.
_FEATURE_CLASSES = ("shape2D", "shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _token_group_key(name, by):
    """Group of a feature name: ``"T2_wavelet-LLH_glcm_Idmn"`` -> ``"T2_wavelet-LLH_glcm"``
    (``by="group"``) or ``"glcm"`` (``by="class"``); a name without a class is its own group."""
    parts = name.split("_")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in _FEATURE_CLASSES:
            return "_".join(parts[: i + 1]) if by == "group" else parts[i]
    return name


def _is_semantic(X):
    return all(hasattr(X, a) for a in _SEMANTIC_ATTRS)


def _check_finite(values, cases, names, what="feature"):
    finite = np.isfinite(values)
    if finite.all():
        return
    row, col = np.argwhere(~finite)[0]
    raise LesionError(
        f"non-finite value ({values[row, col]}) in {what} {names[col]!r}; "
        "impute or drop it before the classifier (the input contains NaN or infinity)",
        case=cases[row],
    )


class FusionInputMixin:
    """Input validation of the fusion classifier (``validate_X`` and what ``fit`` records about the features).

    Mixed into :class:`~sklearn_llmrad.models.LLMRadiomicsClassifier`, whose
    ``prior``, ``prior_pooling``, ``attention`` and ``feature_tokens`` it reads.
    """

    # ------------------------------------------------------------------ input
    def validate_X(self, X, *, reset):
        """Validate ``X`` and return the dict fed to the module's ``forward``.

        Parameters
        ----------
        X : SemanticFeatures or array-like of shape (n_samples, n_features)
            Encoded features (:class:`~sklearn_llmrad.BioBERTEncoder`'s
            output) or plain numeric features.
        reset : bool
            True in ``fit``: record the input's shape and feature names;
            False: check that ``X`` matches them.

        Returns
        -------
        dict of str to ndarray
            Keyword arguments of :meth:`FusionModule.forward
            <sklearn_llmrad.models.fusion.FusionModule.forward>`.
        """
        if _is_semantic(X):
            return self._prepare_semantic(X, reset=reset)
        return self._prepare_numeric(X, reset=reset)

    def _record_input(self, kind, names, descriptions, embeddings, clinical_dim):
        """Record what ``fit`` saw and the data-derived arguments of the network."""
        self._check_names(names)
        self.input_kind_ = kind
        self.n_features_in_ = len(names)
        self._feature_names_ = names
        self.feature_descriptions_ = names.copy() if descriptions is None else np.asarray(descriptions, dtype=object)
        self.clinical_dim_ = clinical_dim
        self._module_context_ = {
            "n_features": len(names),
            "feature_embeddings": embeddings,
            "clinical_dim": clinical_dim,
            **self._token_groups(names),
            **self._pool_prior(names),
        }

    def _check_names(self, names):
        """A prior and grouped tokens read the features' names: placeholders are refused, not guessed."""
        readers = [f"prior={type(self.prior).__name__}"] if self.prior is not None else []
        if self.feature_tokens != "feature":
            readers.append(f"feature_tokens={self.feature_tokens!r}")
        if readers and is_placeholder_names(names):
            raise ValueError(
                f"{type(self).__name__}({', '.join(readers)}) reads the radiomics feature names, but X has "
                "none (only the placeholders x0, x1, ...). Pass a DataFrame whose columns are the feature "
                "names (set_output(transform='pandas') on the stages before it) or SemanticFeatures with "
                "feature_names."
            )

    def _token_groups(self, names):
        """``{"token_groups": group of every feature}`` for ``feature_tokens="group"``, else ``{}``."""
        if self.feature_tokens == "feature":
            return {}
        keys = [_token_group_key(str(name), self.feature_tokens) for name in names]
        index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
        return {"token_groups": np.array([index[key] for key in keys], dtype=np.int64)}

    def _pool_prior(self, names):
        """``{"pool_prior": prior_pooling * log(w_j)}`` with a prior and ``prior_pooling > 0``, else ``{}``."""
        if self.prior is None or not self.prior_pooling or not self.attention:
            return {}
        from ..prior import prior_feature_weights

        w = prior_feature_weights(self.prior, [str(n) for n in names], len(names))
        return {"pool_prior": (float(self.prior_pooling) * np.log(w)).astype(np.float32)}

    def _prepare_semantic(self, X, *, reset):
        values = np.asarray(X.values, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"SemanticFeatures.values must be 2-D, got shape {values.shape}.")
        n, K = values.shape
        cases = case_labels(X, n)
        names = getattr(X, "feature_names", None)
        names = np.asarray(placeholder_names(K) if names is None else names, dtype=object)
        clinical = np.asarray(X.clinical_embeddings, dtype=np.float32)
        if clinical.ndim == 2:
            clinical = clinical[:, None, :]
        if clinical.ndim != 3 or clinical.shape[0] != n:
            raise ValueError(
                "SemanticFeatures.clinical_embeddings must have shape (n, T, D) or (n, D) "
                f"with n={n}, got {clinical.shape}."
            )
        mask = getattr(X, "clinical_mask", None)
        mask = (
            np.ones(clinical.shape[:2], dtype=bool)
            if mask is None
            else np.asarray(mask, dtype=bool).reshape(clinical.shape[:2])
        )
        if reset:
            embeddings = np.asarray(X.feature_embeddings, dtype=np.float32)
            if embeddings.shape[0] != K:
                raise ValueError(
                    f"SemanticFeatures has {K} values per lesion but {embeddings.shape[0]} feature embeddings."
                )
            _check_finite(embeddings.T, list(range(embeddings.shape[1])), names, what="feature embedding of")
            self.feature_names_in_ = names
            descriptions = getattr(X, "descriptions", None)
            self._record_input("semantic", names, descriptions, embeddings, clinical.shape[2])
        else:
            check_is_fitted(self, "n_features_in_")
            if self.input_kind_ != "semantic":
                raise ValueError(
                    f"{type(self).__name__} was fitted on a plain numeric matrix (no language "
                    "model) but received SemanticFeatures; use the same pipeline for fit and "
                    "predict."
                )
            values = self._align_columns(values, names)
            if clinical.shape[2] != self.clinical_dim_:
                raise ValueError(
                    f"clinical embeddings have width {clinical.shape[2]} but the model was "
                    f"fitted with width {self.clinical_dim_}: was a different language model "
                    "used to encode them?"
                )
        _check_finite(values, cases, self.feature_names_in_)
        bad = ~np.isfinite(clinical).all(axis=(1, 2))
        if bad.any():
            raise LesionError("non-finite clinical-text embedding", case=cases[np.argmax(bad)])
        return {"values": values, "clinical": clinical, "clinical_mask": mask}

    def _align_columns(self, values, names):
        fitted = list(self.feature_names_in_)
        if list(names) == fitted:
            return values
        missing = [f for f in fitted if f not in set(names)]
        unexpected = [f for f in names if f not in set(fitted)]
        if missing or unexpected or len(names) != len(fitted):
            raise ValueError(
                "The feature names seen at predict time do not match those seen in fit "
                f"({len(fitted)} fitted, {len(names)} given). Missing: {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}; unexpected: {unexpected[:5]}"
                f"{' ...' if len(unexpected) > 5 else ''}. The network stores one embedding "
                "per fitted feature name, so the selection must be the same."
            )
        # Same names, other order: the stored embeddings are keyed by name.
        position = {name: i for i, name in enumerate(names)}
        return values[:, [position[f] for f in fitted]]

    def _prepare_numeric(self, X, *, reset):
        if isinstance(X, pd.DataFrame):
            bad = [
                c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
            ]
            if bad:
                raise ValueError(
                    f"{type(self).__name__} received non-numeric column(s) {bad[:5]}: without "
                    "a language model only numbers can be used. Drop the clinical columns "
                    "with TopKSelector(passthrough=None), or encode them with BioBERTEncoder "
                    "to obtain SemanticFeatures."
                )
        if not reset:
            check_is_fitted(self, "n_features_in_")
            if self.input_kind_ != "numeric":
                raise ValueError(
                    f"{type(self).__name__} was fitted on SemanticFeatures but received a "
                    f"{type(X).__name__}; encode X with the same BioBERTEncoder."
                )
        cases = case_labels(X, len(X)) if hasattr(X, "__len__") else None
        values = validate_data(
            self,
            X,
            reset=reset,
            dtype=np.float32,
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
        if cases is None or len(cases) != len(values):
            cases = list(range(len(values)))
        if not values.flags.writeable:  # pandas' copy-on-write view: torch wants its own
            values = values.copy()
        if reset:
            names = X.columns if isinstance(X, pd.DataFrame) else placeholder_names(values.shape[1])
            self._record_input("numeric", np.asarray(names, dtype=object), None, None, None)
        _check_finite(values, cases, self._feature_names_)
        return {"values": values}
