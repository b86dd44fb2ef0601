"""Progress bars (sklearn_llmrad._progress): when real tqdm draws one, and what it counts.

tqdm draws only on a terminal; each test hands it one (a StringIO that says it
is a TTY, as standard error) and reads what it wrote.
"""

import io
import json
import re
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from sklearn_llmrad import CLAHEPreprocessor, RadiomicsExtractor
from sklearn_llmrad._progress import progress_bar, without_progress
from sklearn_llmrad.datasets import make_synthetic_mammograms
from sklearn_llmrad.io import load, save
from sklearn_llmrad.models import LLMRadiomicsClassifier, ResNet50Classifier
from sklearn_llmrad.pipelines import make_llmrad_pipeline

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:pixel spacing unknown")
FAST = {"image_types": ["Original"], "feature_classes": ["firstorder"]}
NET = {"hidden_size": 8, "n_heads": 2, "device": "cpu", "random_state": 0}


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _terminal(monkeypatch):
    """Standard error as a terminal whose text the test reads (set in the test's body:
    pytest's capture takes sys.stderr back between a fixture and the test)."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    return terminal


@pytest.fixture(scope="module")
def crops():
    X = make_synthetic_mammograms(6, image_size=96, random_state=0).frame
    return CLAHEPreprocessor(progress=False).fit_transform(X)


def _table(n=40):
    X = np.random.default_rng(0).normal(size=(n, 3)).astype("float32")
    return X, (X[:, 0] > 0).astype(int)


def _counts(text, total):
    """The step counts ``k/total`` tqdm drew, in order, without repeats."""
    seen = [int(k) for k in re.findall(rf"(\d+)/{total}\b", text)]
    return [k for i, k in enumerate(seen) if i == 0 or k != seen[i - 1]]


def test_progress_bar_draws_on_a_terminal_only_when_there_is_work(monkeypatch):
    stderr = _terminal(monkeypatch)
    with progress_bar(total=3, desc="folds", unit="fold") as bar:
        for _ in range(3):
            bar.update()
    assert "folds" in stderr.getvalue() and "3/3" in stderr.getvalue()
    stderr.seek(0), stderr.truncate()
    for kwargs in ({"enabled": False}, {"initial": 3}, {"total": 0}):
        with progress_bar(**{"total": 3, "desc": "quiet", **kwargs}) as bar:
            bar.update()
            bar.set_postfix_str("loss=1")
            bar.refresh()
    assert stderr.getvalue() == ""


def test_extraction_bar_and_a_cached_rerun_draws_nothing(monkeypatch, crops, tmp_path):
    stderr = _terminal(monkeypatch)
    first = RadiomicsExtractor(cache_dir=tmp_path, **FAST).fit_transform(crops)
    assert "radiomics" in stderr.getvalue() and _counts(stderr.getvalue(), len(crops))[-1] == len(crops)
    stderr.seek(0), stderr.truncate()
    again = RadiomicsExtractor(cache_dir=tmp_path, **FAST).fit_transform(crops)
    assert stderr.getvalue() == ""  # every lesion from the cache: no "100% 6/6" line
    np.testing.assert_array_equal(again.to_numpy(), first.to_numpy())
    # one new lesion: a bar that starts at the cached ones
    new = make_synthetic_mammograms(1, image_size=96, random_state=5).frame.rename(index=lambda case: f"new_{case}")
    more = pd.concat([crops, CLAHEPreprocessor(progress=False).fit_transform(new)])
    RadiomicsExtractor(cache_dir=tmp_path, **FAST).fit_transform(more)
    assert _counts(stderr.getvalue(), 7) == [6, 7]


def test_progress_false_draws_nothing(monkeypatch, crops):
    stderr = _terminal(monkeypatch)
    X = make_synthetic_mammograms(4, image_size=96, random_state=1).frame
    CLAHEPreprocessor(progress=False).fit_transform(X)
    RadiomicsExtractor(progress=False, **FAST).fit_transform(crops)
    LLMRadiomicsClassifier(max_epochs=3, progress=False, **NET).fit(*_table())
    assert stderr.getvalue() == ""
    CLAHEPreprocessor().fit_transform(X)
    assert "CLAHE" in stderr.getvalue() and "/4" in stderr.getvalue()


def test_epoch_bar_counts_epochs_with_the_losses(monkeypatch):
    stderr = _terminal(monkeypatch)
    clf = LLMRadiomicsClassifier(max_epochs=4, **NET).fit(*_table())
    text = stderr.getvalue()
    assert "LLMRadiomicsClassifier" in text
    assert _counts(text, 4) == [0, 1, 2, 3, 4]
    assert f"train_loss={clf.history_[-1, 'train_loss']:.4f}" in text
    assert "valid_loss" not in text  # no validation without early stopping
    assert text.endswith("\r")  # leave=False: the finished bar is wiped
    assert dict(clf.callbacks_)["epoch_progress"].bar_ is None


def test_epoch_bar_after_an_early_stop_counts_the_epochs_run(monkeypatch):
    stderr = _terminal(monkeypatch)
    X, _ = _table()
    noise = np.random.default_rng(1).integers(0, 2, len(X))  # labels it can only overfit: validation loss rises
    clf = LLMRadiomicsClassifier(max_epochs=60, lr=1e-2, early_stopping=True, patience=2, **NET).fit(X, noise)
    run = len(clf.history_)
    assert run < 60
    counts = _counts(stderr.getvalue(), 60)
    assert counts == list(range(run + 1))
    assert f"valid_loss={clf.history_[-1, 'valid_loss']:.4f}" in stderr.getvalue()


class _FailAtEpoch2(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise RuntimeError("broken on purpose")


def test_a_failed_fit_leaves_no_bar_behind(monkeypatch):
    stderr = _terminal(monkeypatch)
    clf = LLMRadiomicsClassifier(max_epochs=5, callbacks=[("fail", _FailAtEpoch2())], **NET)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        clf.fit(*_table())
    assert _counts(stderr.getvalue(), 5) == [0, 1, 2] and stderr.getvalue().endswith("\r")  # wiped
    assert dict(clf.callbacks_)["epoch_progress"].bar_ is None


def test_verbose_prints_skorch_table_instead_of_a_bar(monkeypatch, capsys):
    stderr = _terminal(monkeypatch)
    LLMRadiomicsClassifier(max_epochs=2, verbose=1, **NET).fit(*_table())
    assert stderr.getvalue() == ""
    assert "train_loss" in capsys.readouterr().out


def test_cnn_epoch_bar(monkeypatch):
    stderr = _terminal(monkeypatch)
    X = np.random.default_rng(0).normal(size=(8, 3, 32, 32)).astype(np.float32)
    clf = ResNet50Classifier(max_epochs=2, batch_size=8, device="cpu", random_state=0, augment=False)
    clf.fit(X, np.array([0, 1] * 4))
    assert "ResNet50Classifier" in stderr.getvalue() and _counts(stderr.getvalue(), 2) == [0, 1, 2]
    stderr.seek(0), stderr.truncate()
    clf.set_params(progress=False).fit(X, np.array([0, 1] * 4))
    assert stderr.getvalue() == ""


def test_progress_is_a_checked_parameter_kept_by_clone():
    for estimator in (LLMRadiomicsClassifier(progress=False), ResNet50Classifier(progress=False)):
        assert estimator.get_params()["progress"] is False
        assert clone(estimator).progress is False
        assert clone(estimator.set_params(progress=True)).progress is True
        with pytest.raises(InvalidParameterError, match="progress"):
            clone(estimator).set_params(progress="yes").fit(*_table(8))
    assert CLAHEPreprocessor().progress is True and clone(CLAHEPreprocessor(progress=False)).progress is False


def test_progress_survives_a_model_file(tmp_path, monkeypatch):
    stderr = _terminal(monkeypatch)
    clf = LLMRadiomicsClassifier(max_epochs=2, progress=False, **NET).fit(*_table())
    loaded = load(save(clf, tmp_path / "net.llmrad"))
    assert loaded.progress is False
    np.testing.assert_array_equal(loaded.predict_proba(_table()[0]), clf.predict_proba(_table()[0]))
    loaded.set_params(warm_start=True).partial_fit(*_table())  # the loaded net trains on, still quietly
    assert stderr.getvalue() == ""


def test_model_files_from_before_progress_load_with_the_default(tmp_path):
    old = Path(__file__).parent / "data" / "fusion-format-v1.llmrad"  # a file written before progress existed
    with zipfile.ZipFile(old) as zf:
        assert "progress" not in json.loads(zf.read("manifest.json"))["estimator"]["params"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # library versions may differ
        loaded = load(old)
    assert loaded.progress is True and loaded.get_params()["progress"] is True
    clahe = CLAHEPreprocessor(progress=False)
    del clahe.__dict__["progress"]  # a CLAHE step's state is restored without __init__
    loaded = load(save(clahe, tmp_path / "clahe.llmrad"))
    assert loaded.progress is True and loaded.get_params()["progress"] is True


def test_without_progress_switches_off_every_nested_bar(monkeypatch):
    stderr = _terminal(monkeypatch)
    pipe = without_progress(make_llmrad_pipeline(k=10))
    switched = {k: v for k, v in pipe.get_params().items() if k == "progress" or k.endswith("__progress")}
    assert {"clahe__progress", "radiomics__progress", "choice__llmrad__fusion__progress"} <= set(switched)
    assert not any(switched.values())
    X = make_synthetic_mammograms(3, image_size=96, random_state=2).frame
    without_progress(make_pipeline(CLAHEPreprocessor(), RadiomicsExtractor(**FAST))).fit_transform(X)
    assert stderr.getvalue() == ""
    choice = make_llmrad_pipeline(k=10)[-1]  # the inner-CV choice alone, as it switches off its candidates
    assert choice.get_params()["llmrad__fusion__progress"] is True
    assert without_progress(choice).get_params()["llmrad__fusion__progress"] is False
