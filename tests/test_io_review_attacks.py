"""Attacks from the issue-19 security review, each refused (or made harmless) by design.

Each crafted file is written with the package's own ``save`` from a doctored
object, as an attacker with the package installed would.
"""

import json
import shutil
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from sklearn_llmrad import BioBERTEncoder, TopKSelector
from sklearn_llmrad.io import ModelFileWarning, UnsafeModelError, load, save
from sklearn_llmrad.models import LLMRadiomicsClassifier
from sklearn_llmrad.prior import SemanticPrior

FEATURES = ["original_firstorder_Mean", "original_glcm_Contrast", "original_shape_Elongation"]


def _table(n=20, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[[0] * (n // 2), [1] * (n - n // 2)]
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))) + 0.7 * y[:, None], columns=FEATURES)
    return X, y


def test_a_skorch_net_inside_a_skops_payload_is_refused(tmp_path):
    # skops would rebuild it through skorch's __setstate__, which unpickles part of its state
    X, y = _table()
    net = LLMRadiomicsClassifier(max_epochs=1, hidden_size=8, n_heads=2, device="cpu").fit(X.to_numpy("float32"), y)
    scaler = StandardScaler().fit(X)
    scaler.evil_ = net
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = save(scaler, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError, match="LLMRadiomicsClassifier|NeuralNet|not trusted|pickle"):
        load(path)


def test_hidden_attributes_are_checked_like_parameters(tmp_path, tiny_bert_dir):
    # an estimator held by an attribute (not a parameter), pointing at folders the
    # file chose: its values are checked, and reset, like any parameter's
    X, y = _table()
    chosen = tmp_path / "attacker-chosen"
    shutil.copytree(tiny_bert_dir, chosen / "lm")
    selector = TopKSelector(k=2, passthrough=None).fit(X, y)
    selector.helper_ = BioBERTEncoder(language_model=str(chosen / "lm"), cache_dir=str(chosen / "cache"))
    path = save(selector, tmp_path / "evil.llmrad")
    with pytest.warns(ModelFileWarning, match="cache_dir|model="):
        loaded = load(path)
    hidden = loaded.helper_
    assert hidden.cache_dir is None and hidden.language_model == "dmis-lab/biobert-base-cased-v1.2"


def test_hidden_attributes_must_be_data(tmp_path):
    scaler = StandardScaler().fit([[0.0], [1.0]])
    scaler.hook_ = sorted  # a callable as fitted state
    path = save(scaler, tmp_path / "evil.llmrad")
    with pytest.raises(UnsafeModelError):
        load(path)


def test_a_criterion_cannot_allocate_outside_the_meta_probe(tmp_path):
    X, y = _table()
    net = LLMRadiomicsClassifier(max_epochs=1, hidden_size=8, n_heads=2, device="cpu").fit(X.to_numpy("float32"), y)
    path = save(net, tmp_path / "net.llmrad")

    def edit(m):
        m["estimator"]["params"].update(
            {
                "criterion": {"$type": "ref", "name": "torch.nn.modules.linear.Linear"},
                "criterion__in_features": 20000,
                "criterion__out_features": 20000,
                "criterion__device": "cpu",
            }
        )

    with pytest.raises(UnsafeModelError):
        load(_rewrite(path, tmp_path / "evil.llmrad", edit))
    edit2 = lambda m: m["estimator"]["params"].update({"module__device": "cpu"})  # noqa: E731
    with pytest.raises(UnsafeModelError, match="placement"):
        load(_rewrite(path, tmp_path / "evil2.llmrad", edit2))


def _rewrite(src, dst, edit=None, replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "manifest.json" and edit is not None:
                m = json.loads(data)
                edit(m)
                data = json.dumps(m).encode()
            zout.writestr(name, (replace or {}).get(name, data))
    return dst


@pytest.fixture
def encoder_with_stored_lm(tmp_path, tiny_bert_dir):
    X, _ = _table()
    X["age"], X["density"], X["history"] = 50.0, "B", "none"
    enc = BioBERTEncoder(language_model=str(tiny_bert_dir), device="cpu").fit(X)
    return save(enc, tmp_path / "enc.llmrad", include_language_model=True)


@pytest.mark.parametrize(
    "key, value, error",
    [
        ("vocab_size", 20_000_000, "describes"),
        ("attn_implementation", "attacker/evil-kernel", "attn_implementation"),
        ("auto_map", {"AutoModel": "evil.Model"}, "auto_map"),
    ],
)
def test_a_stored_language_model_config_cannot_ask_for_more_than_the_file_holds(
    encoder_with_stored_lm, tmp_path, key, value, error
):
    with zipfile.ZipFile(encoder_with_stored_lm) as zf:
        (config_name,) = [n for n in zf.namelist() if n.endswith("language_model/config.json")]
        config = json.loads(zf.read(config_name))
    config[key] = value
    evil = _rewrite(
        encoder_with_stored_lm, tmp_path / "evil.llmrad", replace={config_name: json.dumps(config).encode()}
    )
    with pytest.raises(UnsafeModelError, match=error):
        load(evil, language_model_dir=tmp_path / "extracted")


def test_a_model_id_that_is_a_folder_here_is_not_followed(tmp_path, tiny_bert_dir, monkeypatch):
    # "projects" is a valid hub id, and also a folder of the victim's working directory
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_bert_dir, tmp_path / "projects")
    X, _ = _table()
    X["age"], X["density"], X["history"] = 50.0, "B", "none"
    enc = BioBERTEncoder(language_model="projects", device="cpu").fit(X)
    path = save(enc, tmp_path / "enc.llmrad")
    with pytest.warns(ModelFileWarning, match="model='projects'"):
        loaded = load(path)
    assert loaded.language_model == "dmis-lab/biobert-base-cased-v1.2"


def test_a_prior_folder_never_follows_a_recorded_folder(tmp_path, tiny_bert_dir):
    studies = {f"s{i}": _table(seed=i) for i in range(3)}
    prior = SemanticPrior(language_model=str(tiny_bert_dir), alpha=1.0).fit(studies)
    prior.save(tmp_path / "prior")
    with pytest.warns(UserWarning, match="never followed"):
        loaded = SemanticPrior.load(tmp_path / "prior")
    assert loaded.language_model == "dmis-lab/biobert-base-cased-v1.2"
    named = SemanticPrior.load(tmp_path / "prior", language_model=tiny_bert_dir)
    np.testing.assert_allclose(named.feature_weights(FEATURES), prior.feature_weights(FEATURES), rtol=1e-6)
