"""A saved prior is an archive of the model files' format, read as untrusted data; legacy folders still load."""

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from prior_archives import read_archive, rewrite_archive, save_legacy, write_archive
from test_prior import NOISE, SIGNAL, make_study

from sklearn_llmrad import io
from sklearn_llmrad.benchmark import fit_study_prior
from sklearn_llmrad.prior import PriorFileError, SemanticPrior, as_prior
from sklearn_llmrad.prior_files import PRIOR_FILE, PRIOR_FORMAT

DATA = Path(__file__).parent / "data"
NAMES = SIGNAL + NOISE


@pytest.fixture(scope="module")
def studies():
    return {f"s{i}": make_study(i, n=40) for i in range(3)}


@pytest.fixture(scope="module")
def prior(studies):
    return SemanticPrior(name_vectors="random", vocabulary="cleaned", alpha="auto").fit(studies)


def _tree(root):
    """Every path under ``root`` with its size and modification time: what a load must leave unchanged."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _refused(directory, match, tmp_path):
    """Load ``directory`` expecting a PriorFileError that names the folder and prior.llmrad, writing nothing."""
    before = _tree(tmp_path)
    cache = tmp_path / "embedding-cache"
    with pytest.raises(PriorFileError, match=match) as info:
        SemanticPrior.load(directory, cache_dir=cache)
    err = info.value
    assert err.directory == str(directory) and err.file == PRIOR_FILE
    assert str(directory) in str(err) and repr(PRIOR_FILE) in str(err)
    assert _tree(tmp_path) == before and not cache.exists()  # nothing written on load
    return err


def test_a_prior_is_saved_as_one_archive_of_the_model_file_format(prior, tmp_path):
    directory = prior.save(tmp_path / "p")
    assert sorted(p.name for p in directory.iterdir()) == [PRIOR_FILE]
    with zipfile.ZipFile(directory / PRIOR_FILE) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "prior.safetensors"]
        raw = zf.read("manifest.json").decode()
    assert "NaN" not in raw and "Infinity" not in raw  # strict JSON
    manifest, tensors = read_archive(directory)
    assert manifest["format"] == PRIOR_FORMAT and manifest["format_version"] == 1
    assert manifest["coef"] == {"$type": "tensor", "key": "coef", "origin": "numpy"}
    assert {k: v.dtype.str for k, v in tensors.items()} == {"coef": "<f4", "intercept": "<f8", "name_embeddings": "<f4"}
    loaded = SemanticPrior.load(directory)
    assert loaded.cv_spearman_.keys() == prior.cv_spearman_.keys() and loaded.alpha_ == prior.alpha_
    np.testing.assert_array_equal(
        loaded.predict(NAMES + ["unseen_glcm_Idmn"]), prior.predict(NAMES + ["unseen_glcm_Idmn"])
    )
    # the file itself is a prior too, for SemanticPrior.load and as_prior
    np.testing.assert_array_equal(as_prior(directory / PRIOR_FILE).coef_, prior.coef_)


def test_a_prior_is_not_a_model_file_and_a_model_file_is_not_a_prior(prior, tmp_path):
    from sklearn.preprocessing import StandardScaler

    directory = prior.save(tmp_path / "p")
    with pytest.raises(io.ModelFileError, match="not a sklearn-llmrad model file"):
        io.load(directory / PRIOR_FILE)
    model = tmp_path / "m" / PRIOR_FILE
    model.parent.mkdir()
    io.save(StandardScaler().fit([[0.0], [1.0]]), model)
    _refused(model.parent, "not a semantic prior of format 'sklearn-llmrad-prior'", tmp_path)


def _set(key, value):
    return lambda m: m.update({key: value})


@pytest.mark.parametrize(
    "edit, match",
    [
        # bad values
        (_set("alpha", -1.0), r"'alpha' must be a finite number > 0"),
        (_set("name_vectors", "pickle"), r"'name_vectors' must be 'language_model' or 'random'"),
        (_set("language_model", "/home/victim/model"), r"random name vectors records no language model"),
        (_set("names", ["a"] * 12), r"'names' has duplicate entries"),
        (_set("name_cleaning_version", "0"), r"cleaned with version '0'"),
        # exact types: an int is not a float, a float not an int, a tuple not a list
        (_set("alpha", 1), r"'alpha' must be of type float, got int 1"),
        (_set("embedding_dim", 384.0), r"'embedding_dim' must be of type int, got float 384.0"),
        (_set("embedding_dim", True), r"'embedding_dim' must be of type int, got bool"),
        (_set("studies", {"$type": "tuple", "items": ["s0"]}), r"'studies' must be of type list, got tuple"),
        (
            _set("cv_spearman", {"$type": "dict", "items": [["1.0", 0.5]]}),
            r"'cv_spearman' must map float alphas to float scores",
        ),
        (_set("names", {"$type": "ndarray", "dtype": "<U3", "shape": [1], "data": ["abc"]}), r"of type list"),
        # names: extra, missing, tensors elsewhere
        (_set("cls", "os.system"), r"names differ from a saved prior's: missing \[\], unexpected \['cls'\]"),
        (lambda m: m.pop("studies"), r"missing \['studies'\]"),
        (_set("coef", {"$type": "tensor", "key": "name_embeddings", "origin": "numpy"}), r"'coef' must refer to"),
        (_set("names", {"$type": "tensor", "key": "coef", "origin": "numpy"}), r"tensor 'coef' is missing"),
        # nothing executable: no class, function or object is ever built
        (_set("alpha", {"$type": "object", "class": "os.system", "params": {}}), r"only numbers, strings and arrays"),
        (_set("vocabulary", {"$type": "ref", "name": "builtins.eval"}), r"only numbers, strings and arrays"),
        (_set("revision", {"$type": "estimator", "node": {}}), r"only numbers, strings and arrays"),
        # the format
        (_set("format", "sklearn-llmrad-model"), r"not a semantic prior of format"),
        (_set("format_version", 2), r"format version 2; .* reads 1: upgrade sklearn-llmrad"),
        (_set("format_version", "1"), r"format version '1'"),
    ],
)
def test_crafted_manifests_are_refused_and_nothing_is_written(prior, tmp_path, edit, match):
    directory = rewrite_archive(prior.save(tmp_path / "p"), edit_manifest=edit)
    _refused(directory, match, tmp_path)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t.update(coef=t["coef"].astype(np.float16)), r"tensor 'coef' has dtype float16, a saved prior's"),
        (lambda t: t.update(intercept=t["intercept"].astype(np.float32)), r"'intercept' has dtype float32"),
        (lambda t: t.update(coef=t["coef"].astype(np.int32)), r"'coef' has dtype int32"),
        (lambda t: t["coef"].__setitem__(0, np.nan), r"tensor 'coef' holds 1 non-finite values \(NaN\)"),
        (lambda t: t.update(coef=t["coef"][:-1]), r"tensor 'coef' has shape \[383\], expected \[384\]"),
        (lambda t: t.update(name_embeddings=t["name_embeddings"] * 2), r"has norm 2; name vectors are unit-norm"),
        (lambda t: t.update(extra=np.zeros(1, np.float32)), r"found \['coef', 'extra', 'intercept'"),
        (lambda t: t.pop("intercept"), r"expected tensors \['coef', 'intercept', 'name_embeddings'\]"),
    ],
)
def test_crafted_tensors_are_refused(prior, tmp_path, edit, match):
    directory = rewrite_archive(prior.save(tmp_path / "p"), edit_tensors=edit)
    _refused(directory, match, tmp_path)


class _Marker:
    """Unpickling this would create ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_archives_are_refused(prior, tmp_path):
    directory = prior.save(tmp_path / "p")
    manifest, tensors = read_archive(directory)
    marker = tmp_path / "executed"
    evil = pickle.dumps(_Marker(marker))
    # pickle in place of the tensors: refused unread
    write_archive(directory, manifest, tensor_bytes=evil)
    _refused(directory, r"holds pickle data, not safetensors", tmp_path)
    # a member more than a prior holds, or one escaping the folder
    write_archive(directory, manifest, tensors, extra={"model.pkl": evil})
    _refused(directory, r"holds the members \['manifest.json', 'model.pkl', 'prior.safetensors'\]", tmp_path)
    write_archive(directory, manifest, tensors, extra={"../escape": b"x"})
    _refused(directory, r"a '\.\.' component", tmp_path)
    # strict JSON: a duplicate name or a NaN constant makes the manifest corrupt
    text, alpha = json.dumps(manifest), f'"alpha": {json.dumps(manifest["alpha"])}'
    assert alpha in text
    write_archive(directory, None, tensors, manifest_text=text.replace(alpha, f'"alpha": 2.0, {alpha}', 1))
    _refused(directory, r"manifest.json is corrupt \(duplicate key 'alpha'\)", tmp_path)
    write_archive(directory, None, tensors, manifest_text=text.replace(alpha, '"alpha": NaN', 1))
    _refused(directory, r"manifest.json is corrupt \(non-finite number NaN", tmp_path)
    write_archive(directory, None, tensors, manifest_text="[1, 2]")
    _refused(directory, r"is not a saved semantic prior", tmp_path)
    (directory / PRIOR_FILE).write_bytes(b"not a zip")
    _refused(directory, r"not a saved semantic prior \(not a zip archive\)", tmp_path)
    (directory / PRIOR_FILE).unlink()
    err = _refused(directory, r"not a saved semantic prior: prior.llmrad is missing", tmp_path)
    assert isinstance(err, FileNotFoundError)
    assert not marker.exists()


def test_other_files_beside_the_archive_are_ignored(prior, tmp_path):
    directory = prior.save(tmp_path / "p")
    marker = tmp_path / "executed"
    (directory / "transfer_key.json").write_text("{}")  # the transfer benchmark's cache key
    (directory / "model.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    np.testing.assert_array_equal(SemanticPrior.load(directory).coef_, prior.coef_)
    assert not marker.exists()


@pytest.mark.parametrize("folder", ["legacy-prior-random", "legacy-prior-lookup"])
def test_legacy_folders_written_by_the_folder_format_code_still_load(folder, tmp_path):
    directory = tmp_path / folder
    shutil.copytree(DATA / folder, directory)
    expected = json.loads((directory / "expected.json").read_text())
    before = _tree(tmp_path)
    loaded = SemanticPrior.load(directory)
    assert _tree(tmp_path) == before  # read, never converted in place
    np.testing.assert_allclose(loaded.predict(expected["names"]), expected["predict"], rtol=1e-6)
    assert loaded.studies_ == expected["studies"]
    # the random prior's folder has no "vocabulary" field: it learned on cleaned names
    assert loaded.vocabulary == ("cleaned" if folder == "legacy-prior-random" else "identity")
    # saved again, it becomes an archive; the legacy files are gone
    loaded.save(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["expected.json", PRIOR_FILE]
    np.testing.assert_array_equal(
        SemanticPrior.load(directory).predict(expected["names"]), loaded.predict(expected["names"])
    )


def test_a_model_file_holding_a_prior_round_trips(prior, tmp_path):
    from sklearn_llmrad.models.linear import SemanticPriorLogisticRegression

    X, y = make_study(7, n=40)
    model = SemanticPriorLogisticRegression(prior=prior, gamma=1.0, Cs=(1.0,)).fit(X, y)
    back = io.load(io.save(model, tmp_path / "m.llmrad"))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(back.prior.coef_, prior.coef_)


def test_study_prior_cache_reads_legacy_folders_and_refits_unreadable_ones(studies, tmp_path):
    lines = []
    kwargs = dict(name_vectors="random", cache_dir=tmp_path, log=lines.append)
    fitted, key = fit_study_prior(studies, "s2", **kwargs)
    folder = tmp_path / "priors" / key
    assert (folder / PRIOR_FILE).is_file() and (folder / "transfer_key.json").is_file()
    # a cache written before priors were archives loads as it is
    save_legacy(fitted, folder)
    cached, _ = fit_study_prior(studies, "s2", **kwargs)
    assert "cached" in lines[-1] and sorted(p.name for p in folder.iterdir())[0] == "prior.json"
    np.testing.assert_array_equal(cached.coef_, fitted.coef_)
    # an unreadable cache is refitted, with a log line, and replaced
    (folder / "prior.safetensors").write_bytes(b"\x80\x04 not tensors")
    refitted, _ = fit_study_prior(studies, "s2", **kwargs)
    assert "cached prior unreadable, refitting" in lines[-2] and "is a pickle" in lines[-2]
    assert (folder / PRIOR_FILE).is_file() and not (folder / "prior.json").exists()
    np.testing.assert_array_equal(refitted.coef_, fitted.coef_)
