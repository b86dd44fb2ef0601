"""The radiomics features' names reach every stage that reads them, in every pipeline the package builds.

A semantic prior weighs features by name and ``feature_tokens="class"`` groups
them by PyRadiomics class: given placeholders (``x0, x1, ...``) instead, both
used to guess silently (a meaningless weighting, one token per feature). Each
factory's learned part (``pipeline[2:]``, what the benchmark fits on the
radiomics table) is fitted here on a table of named features with a prior that
records the names it is asked about; and the classifier refuses placeholders.
"""

import numpy as np
import pandas as pd
import pytest

from sklearn_llmrad import pipelines as P
from sklearn_llmrad.models import LLMRadiomicsClassifier
from sklearn_llmrad.prior import SemanticPrior

CLASSES = ["firstorder", "glcm", "glrlm", "shape2D"]
FEATURES = [f"original_{c}_{s}" for c in CLASSES for s in ("Alpha", "Beta", "Gamma")]
K = 8
NET = dict(max_epochs=1, hidden_size=8, n_heads=2, batch_size=16, feature_tokens="class")


class RecordingPrior(SemanticPrior):
    """A fitted prior that remembers every list of names it weighed."""

    def feature_weights(self, feature_names):
        self.__dict__.setdefault("asked", []).append([str(n) for n in feature_names])
        return super().feature_weights(feature_names)


def _table(seed, n=40):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    X.iloc[:, :4] += y[:, None]
    X["age"], X["density"], X["history"] = rng.integers(40, 80, n).astype(float), "B", "none"
    return X, y


@pytest.fixture
def prior():
    studies = {f"s{i}": (X[FEATURES], y) for i, (X, y) in enumerate(_table(10 + i) for i in range(3))}
    return RecordingPrior(name_vectors="random", alpha=1.0).fit(studies)


def _factories(bert, prior):
    common = dict(k=K, random_state=0, device="cpu", prior=prior, inner_cv=2, refit="all")  # both candidates fitted
    network = dict(common, classifier_params=dict(NET, prior_pooling=1.0))
    return {
        "llmrad": lambda: P.make_llmrad_pipeline(language_model=bert, **network),
        "llmrad-network": lambda: P.make_llmrad_pipeline(language_model=bert, fallback=None, **network),
        "wo-biobert": lambda: P.make_no_biobert_pipeline(**network),
        "wo-biobert-network": lambda: P.make_no_biobert_pipeline(fallback=None, **network),
        "wo-attention": lambda: P.make_no_attention_pipeline(language_model=bert, **network),
        "wo-attention-network": lambda: P.make_no_attention_pipeline(language_model=bert, fallback=None, **network),
    }


def _readers(pipe):
    """(path, fitted estimator) of every classifier and linear model reached by the pipeline."""
    final = pipe.steps[-1][1]
    if hasattr(final, "estimators_"):  # the inner-CV choice: both candidates, refitted (refit="all")
        return [(name, est.steps[-1][1]) for name, est in final.estimators_.items()]
    return [("network", final)]


@pytest.mark.parametrize("name", list(_factories(None, None)))
def test_prior_and_grouped_tokens_see_the_real_names(name, prior, tiny_bert_dir):
    X, y = _table(0)
    pipe = _factories(str(tiny_bert_dir), prior)[name]()[2:].fit(X, y)
    readers = _readers(pipe)
    assert {path for path, _ in readers} == ({"linear", "llmrad"} if "network" not in name else {"network"})
    for path, est in readers:
        names = [str(n) for n in est.feature_names_in_]
        assert len(names) == K and set(names) <= set(FEATURES), (path, names)
        if isinstance(est, LLMRadiomicsClassifier):
            groups = est.module_.token_groups.cpu().numpy()
            by_class = [next(c for c in CLASSES if f"_{c}_" in n) for n in names]
            assert len(set(groups)) == len(set(by_class)) < K, (path, groups)  # one token per class
            for a in range(K):
                for b in range(K):
                    assert (groups[a] == groups[b]) == (by_class[a] == by_class[b])
    asked = prior.__dict__["asked"]
    assert asked and all(set(names) <= set(FEATURES) for names in asked), asked


@pytest.mark.parametrize("make", [P.make_radiomics_svc_pipeline, P.make_biobert_svc_pipeline])
def test_baselines_keep_the_names_to_their_last_table(make, tiny_bert_dir):
    X, y = _table(0)
    kwargs = {} if make is P.make_radiomics_svc_pipeline else {"language_model": str(tiny_bert_dir), "device": "cpu"}
    pipe = make(k=K, random_state=0, **kwargs)[2:].fit(X, y)
    selected = [c for c in pipe["topk"].get_feature_names_out() if c in FEATURES]
    assert len(selected) == K
    assert [str(n) for n in pipe[:-1].get_feature_names_out()][:K] == selected
    if make is P.make_radiomics_svc_pipeline:
        assert list(pipe["svc"].feature_names_in_) == selected


@pytest.mark.parametrize(
    "params, reader",
    [({"feature_tokens": "class"}, "feature_tokens='class'"), ({"feature_tokens": "group"}, "feature_tokens='group'")],
)
def test_placeholder_names_are_refused_not_guessed(params, reader, prior):
    X, y = _table(0)
    values = X[FEATURES].to_numpy()
    clf = LLMRadiomicsClassifier(max_epochs=1, hidden_size=8, n_heads=2, device="cpu", **params)
    with pytest.raises(ValueError, match=f"{reader}.*x0, x1"):
        clf.fit(values, y)
    with pytest.raises(ValueError, match="RecordingPrior.*placeholders"):
        clf.set_params(prior=prior, feature_tokens="feature").fit(values, y)
    with pytest.raises(ValueError, match="placeholders"):  # generic column names are no names either
        clf.fit(pd.DataFrame(values, columns=[f"x{i}" for i in range(values.shape[1])]), y)
    clf.set_params(prior=None).fit(values, y)  # nothing reads the names: placeholders are fine
    assert clf.predict_proba(values).shape == (len(y), 2)


def test_the_no_biobert_ablation_runs_grouped_tokens_and_no_placeholders():
    """The defect of issue 23: through the factory, the ablation's classifier saw ``x0 ... x499``."""
    X, y = _table(0)
    pipe = P.make_no_biobert_pipeline(k=K, fallback=None, device="cpu", classifier_params=NET)[2:].fit(X, y)
    assert isinstance(pipe["scaler"].transform(X[pipe["topk"].get_feature_names_out()]), pd.DataFrame)
    names = list(pipe["fusion"].feature_names_in_)
    assert set(names) <= set(FEATURES)
    groups = pipe["fusion"].module_.token_groups.tolist()
    assert len(set(groups)) == len({name.split("_")[1] for name in names}) < K


def test_one_name_per_concept_with_the_old_spellings_deprecated(prior):
    from sklearn_llmrad.language_model import BIOBERT_MODEL

    assert P.DEFAULT_LANGUAGE_MODEL == BIOBERT_MODEL
    pipe = P.make_llmrad_pipeline(prior=prior, language_model="some/bert", fallback=None)
    assert pipe["fusion"].prior is prior and pipe["topk"].prior is prior
    assert pipe["encoder"].language_model == "some/bert"
    with pytest.warns(FutureWarning, match="pretrained= is deprecated.*use prior="):
        old = P.make_llmrad_pipeline(pretrained=prior, fallback=None)
    assert old["fusion"].prior is prior
    with pytest.warns(FutureWarning, match="encoder= is deprecated.*use language_model="):
        old = P.make_biobert_svc_pipeline(encoder="some/bert")
    assert old["encoder"].language_model == "some/bert"
    with pytest.raises(TypeError, match="pass prior= only"), pytest.warns(FutureWarning):
        P.make_llmrad_pipeline(pretrained=prior, prior=prior)
    encoder = pipe["encoder"]
    assert P.make_llmrad_pipeline(encoder=encoder, fallback=None)["encoder"] is encoder
