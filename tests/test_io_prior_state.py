"""A semantic prior inside a model file: stored through its own file state, read with a saved prior's checks.

``tests/data/prior-models-v2/`` holds format-2 files (written by ``make_prior_models_v2.py`` with the code
before this change) whose prior skops stored; they must load and predict exactly as when they were written.
"""

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from sklearn_llmrad.encoding import SemanticFeatures
from sklearn_llmrad.io import ModelFileError, UnsafeModelError, load, save
from sklearn_llmrad.prior import SemanticPrior
from sklearn_llmrad.prior_files import FILE_STATE_ATTRIBUTES

DATA = Path(__file__).parent / "data" / "prior-models-v2"
NAMES = ["original_shape_VoxelVolume", "original_firstorder_Entropy", "original_glcm_Idmn", "original_ngtdm_Busyness"]


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(DATA / "expected.npz"))


def _inputs(expected):
    X = pd.DataFrame(expected["X"], columns=NAMES)
    S = SemanticFeatures(
        values=expected["values"],
        feature_embeddings=expected["feature_embeddings"],
        clinical_embeddings=expected["clinical_embeddings"],
        feature_names=NAMES,
        descriptions=[f"{n}: x" for n in NAMES],
    )
    return X, S


def _load(path, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the model file was saved with other library versions")
        return load(path, **kwargs)


def _manifest(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json"))


def _prior_nodes(node):
    """Every node of kind "prior" under ``node`` (pipeline steps, skops estimator_params, net parameters)."""
    if isinstance(node, dict):
        if node.get("kind") == "prior":
            yield node
        for value in node.values():
            yield from _prior_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _prior_nodes(value)


def _rewrite(src, dst, *, manifest=None, tensors=None):
    """Copy a model file, editing its manifest and the tensors of the prior's member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        m = json.loads(zin.read("manifest.json"))
        prior_member = next(_prior_nodes(m["estimator"]), {}).get("tensors")
        if manifest is not None:
            manifest(m)
        for name in zin.namelist():
            data = json.dumps(m).encode() if name == "manifest.json" else zin.read(name)
            if name == prior_member and tensors is not None:
                loaded = st_load(data)
                tensors(loaded)
                data = st_save(loaded)
            zout.writestr(name, data)
    return dst


@pytest.fixture(scope="module")
def legacy(expected):
    return _load(DATA / "pipeline.llmrad"), _load(DATA / "fusion.llmrad")


def test_format_2_files_with_a_skops_prior_still_load_and_predict_identically(legacy, expected):
    pipe, fusion = legacy
    X, S = _inputs(expected)
    assert _manifest(DATA / "pipeline.llmrad")["format_version"] == 2
    np.testing.assert_array_equal(pipe.predict_proba(X), expected["pipeline_proba"])
    np.testing.assert_array_equal(fusion.predict_proba(S), expected["fusion_proba"])
    for prior in (pipe[0].prior, pipe[1].prior, fusion.prior):
        assert type(prior) is SemanticPrior
        np.testing.assert_array_equal(prior.feature_weights(NAMES), expected["prior_weights"])


@pytest.mark.parametrize("which", ["pipeline", "fusion"])
def test_a_prior_is_a_file_state_node_and_no_skops_payload_holds_one(legacy, expected, which, tmp_path):
    model = legacy[0] if which == "pipeline" else legacy[1]
    path = save(model, tmp_path / "m.llmrad")
    manifest = _manifest(path)
    assert manifest["format_version"] == 3
    nodes = list(_prior_nodes(manifest["estimator"]))
    assert len(nodes) == (2 if which == "pipeline" else 1)
    assert set(nodes[0]["attributes"]) == set(FILE_STATE_ATTRIBUTES)
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".skops"):
                schema = zipfile.ZipFile(io.BytesIO(zf.read(name))).read("schema.json")
                assert b'"SemanticPrior"' not in schema, name
    back = _load(path)
    X, S = _inputs(expected)
    got = back.predict_proba(X) if which == "pipeline" else back.predict_proba(S)
    np.testing.assert_array_equal(got, expected[f"{which}_proba"])
    prior = back[0].prior if which == "pipeline" else back.prior
    np.testing.assert_array_equal(prior.feature_weights(NAMES), expected["prior_weights"])
    assert prior.studies_ == ["a", "b"] and prior.n_names_ == len(NAMES)


def test_an_unfitted_prior_parameter_round_trips_unfitted(tmp_path):
    from sklearn_llmrad import TopKSelector

    selector = TopKSelector(k=2, prior=SemanticPrior(name_vectors="random", alpha=10.0))
    back = _load(save(selector, tmp_path / "s.llmrad"))
    assert type(back.prior) is SemanticPrior and back.prior.alpha == 10.0
    assert not hasattr(back.prior, "coef_")


@pytest.fixture(scope="module")
def new_file(legacy, tmp_path_factory):
    return save(legacy[0], tmp_path_factory.mktemp("new") / "pipeline.llmrad")


def _first_prior(m):
    return next(_prior_nodes(m["estimator"]))


@pytest.mark.parametrize(
    ("edit", "tensors", "error", "words"),
    [
        (lambda n: n["attributes"].update(alpha_="ten"), None, ModelFileError, "'alpha' must be of type float"),
        (lambda n: n["attributes"].update(embedding_dim_=7), None, ModelFileError, "'embedding_dim' is 7"),
        (lambda n: n["attributes"].update(names_=["a", "a", "b", "c"]), None, ModelFileError, "duplicate"),
        (lambda n: n["attributes"].pop("studies_"), None, ModelFileError, "missing ['studies_']"),
        (lambda n: n["params"].update(name_vectors="oracle"), None, UnsafeModelError, "name_vectors"),
        (lambda n: n["attributes"].update(_name_table_=1), None, UnsafeModelError, "not a fitted attribute"),
        (
            lambda n: n["attributes"].update(coef_={"$type": "ref", "name": "os.system"}),
            None,
            UnsafeModelError,
            "holds only data",
        ),
        (None, lambda t: t.update({"attr.coef_": np.full_like(t["attr.coef_"], np.nan)}), ModelFileError, "NaN"),
        (
            None,
            lambda t: t.update({"attr.coef_": t["attr.coef_"].astype(np.float64)}),
            ModelFileError,
            "tensor 'coef' has dtype float64",
        ),
        (
            None,
            lambda t: t.update({"attr.name_embeddings_": 3 * t["attr.name_embeddings_"]}),
            ModelFileError,
            "unit-norm",
        ),
    ],
)
def test_a_crafted_prior_is_refused_with_a_clear_error_and_nothing_written(
    new_file, tmp_path, edit, tensors, error, words
):
    bad = _rewrite(
        new_file, tmp_path / "bad.llmrad", manifest=edit and (lambda m: edit(_first_prior(m))), tensors=tensors
    )
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(error) as info:
        _load(bad)
    assert words in str(info.value)
    if error is ModelFileError:  # found while loading: named with the file
        assert "bad.llmrad" in str(info.value)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("kind", ["skops", "skorch", "choice"])
def test_a_parameter_node_must_be_a_prior(new_file, tmp_path, kind):
    # a net or a choice is never a selector's parameter node: only a prior's file state is stored so
    def as_other(m):
        step = m["estimator"]["steps"][0]["node"]
        step["estimator_params"]["prior"] = {**step["estimator_params"]["prior"], "kind": kind}
        if kind == "skops":
            step["estimator_params"]["prior"] = {"kind": "skops", "class": step["class"], "file": step["file"]}

    with pytest.raises(UnsafeModelError, match="only a prior is stored so"):
        _load(_rewrite(new_file, tmp_path / "bad.llmrad", manifest=as_other))


@pytest.mark.parametrize("name", ["k", "prior__alpha", "prior__name_vectors", "n_features_in_"])
def test_a_parameter_node_must_fill_an_empty_parameter(new_file, tmp_path, name):
    # a set parameter, a nested name (which get_params(deep=True) lists) or an attribute: never filled from a node
    def elsewhere(m):
        held = m["estimator"]["steps"][0]["node"]["estimator_params"]
        if "__" in name:  # after the prior itself, so that get_params(deep=True) lists the nested name
            held[name] = held["prior"]
        else:
            held[name] = held.pop("prior")

    with pytest.raises(UnsafeModelError, match="not an empty parameter"):
        _load(_rewrite(new_file, tmp_path / "bad.llmrad", manifest=elsewhere))


def test_format_3_refuses_a_prior_inside_a_skops_payload(tmp_path):
    relabelled = _rewrite(
        DATA / "pipeline.llmrad", tmp_path / "v3.llmrad", manifest=lambda m: m.update(format_version=3)
    )
    with pytest.raises(UnsafeModelError, match="never in a skops payload"):
        _load(relabelled)


def _legacy_with(prior_edit, dst):
    """The format-2 pipeline file with its first selector's skops-built prior edited in place."""
    import skops.io as sio

    with zipfile.ZipFile(DATA / "pipeline.llmrad") as zf:
        payload = zf.read("steps/0.skops")
    selector = sio.loads(payload, trusted=sio.get_untrusted_types(data=payload))
    prior_edit(selector.prior)
    with zipfile.ZipFile(DATA / "pipeline.llmrad") as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, sio.dumps(selector) if name == "steps/0.skops" else zin.read(name))
    return dst


def test_a_legacy_skops_prior_passes_the_same_checks(tmp_path):
    """A format-2 payload whose prior holds a non-finite coefficient is refused, as a saved prior would be."""

    def infinite(prior):
        prior.coef_ = np.full_like(prior.coef_, np.inf)

    with pytest.raises(ModelFileError, match="not finite"):
        _load(_legacy_with(infinite, tmp_path / "bad.llmrad"))


@pytest.mark.parametrize("attack", ["no studies", "coefficients not an array"])
def test_a_legacy_skops_prior_that_cannot_be_rebuilt_is_a_model_file_error(tmp_path, attack):
    """A format-2 prior whose fitted state breaks its rebuild: a ModelFileError naming the file, never a raw one."""

    def edit(prior):
        if attack == "no studies":
            del prior.__dict__["studies_"]  # an AttributeError while reading its state
        else:
            prior.coef_ = {"a": 1}  # a TypeError in its checks

    with pytest.raises(ModelFileError, match="bad.llmrad.*semantic prior"):
        _load(_legacy_with(edit, tmp_path / "bad.llmrad"))


def test_a_lookup_prior_with_nan_cv_scores_round_trips(tmp_path):
    """Alpha "auto" with too few studies (a NaN score) and 1-d lookup vectors: the edge cases of the fields."""
    from sklearn_llmrad import TopKSelector

    prior = SemanticPrior.load(Path(__file__).parent / "data" / "legacy-prior-lookup")
    back = _load(save(TopKSelector(k=2, prior=prior), tmp_path / "s.llmrad")).prior
    assert back is not prior and back.name_vectors == prior.name_vectors == "lookup"
    assert back.cv_spearman_.keys() == prior.cv_spearman_.keys()
    np.testing.assert_array_equal(list(back.cv_spearman_.values()), list(prior.cv_spearman_.values()))
    query = [*NAMES, "wavelet-LLH_glcm_JointEnergy"]
    np.testing.assert_array_equal(back.feature_weights(query), prior.feature_weights(query))


def test_a_prior_nested_deeper_than_a_parameter_is_refused_on_save_not_on_load(legacy, tmp_path):
    from sklearn.compose import ColumnTransformer

    pipe = legacy[0]
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(40, len(NAMES))), columns=NAMES)
    container = ColumnTransformer([("topk", pipe[0], NAMES)]).fit(X, np.arange(40) % 2)
    with pytest.raises(TypeError, match="deeper than one of its parameters"):
        save(container, tmp_path / "c.llmrad")
