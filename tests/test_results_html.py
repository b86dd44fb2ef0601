"""results.html: one self-contained page per benchmark, read back with the standard library's HTML parser."""

import base64
import json
from html.parser import HTMLParser

import pytest
from sklearn.linear_model import LogisticRegression

from sklearn_llmrad.benchmark import ModelRegistry, run_benchmark
from sklearn_llmrad.datasets import make_synthetic_mammograms


class _Page(HTMLParser):
    """Tags with their attributes, the text of each table row (per ``data-model``) and of each section."""

    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.sections = [], {}, {}
        self._row, self._cells, self._section = None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "tr":
            self._row, self._cells = attrs.get("data-model"), []
        elif tag == "h2":
            self._section = ""

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows[self._row] = self._cells
            self._row = None
        elif tag == "h2":
            self.sections[self._section] = []
            self._section = None

    def handle_data(self, data):
        if self._row is not None and self.tags[-1][0] == "td":
            self._cells.append(data)
        if self._section is not None:  # inside <h2>: the section's title
            self._section += data
        elif self.sections and data.strip():
            self.sections[list(self.sections)[-1]].append(data)


def _failing(**_):
    class Boom(LogisticRegression):
        def fit(self, X, y):
            raise RuntimeError("deliberate failure in fit")

    return Boom()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    data = make_synthetic_mammograms(30, image_size=96, random_state=4)
    registry = ModelRegistry()
    registry.register("boom", _failing, input="features", label="Always fails")
    out = tmp_path_factory.mktemp("html")
    result = run_benchmark(
        data.frame,
        data.target,
        data.groups,
        models=["radiomics-svc", "boom"],
        registry=registry,
        cv=3,
        k=8,
        n_bootstraps=50,
        extractor_params={"image_types": ["Original"], "progress": False},
        out_dir=out,
        log=lambda _: None,
    )
    parser = _Page()
    parser.feed((out / "results.html").read_text(encoding="utf-8"))
    return parser, result, out


def test_page_has_every_model_row_and_embedded_plots(page):
    parser, result, out = page
    assert set(parser.rows) == set(result.table["name"]) == {"radiomics-svc", "boom"}
    svc = result.table.set_index("name").loc["radiomics-svc"]
    assert parser.rows["radiomics-svc"][0] == "Radiomics + SVC"
    assert parser.rows["radiomics-svc"][1].startswith(f"{svc['auc']:.3f} [")
    assert parser.rows["boom"][:2] == ["Always fails", "failed: RuntimeError: deliberate failure in fit"]
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    # ROC, reliability and the SVC's top features, each the very PNG written beside the page
    assert len(images) == 3
    written = {(out / name).read_bytes() for name in ("roc.png", "reliability.png", "top_features_radiomics-svc.png")}
    embedded = set()
    for attrs in images:
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix)
        embedded.add(base64.b64decode(attrs["src"][len(prefix) :], validate=True))
    assert embedded == written
    assert any("predicted by: svc" in attrs["alt"] for attrs in images)


def test_page_holds_settings_versions_and_rationales(page):
    parser, result, _ = page
    settings = parser.sections["Settings"]
    assert settings[settings.index("k") + 1] == "8" and settings[settings.index("cv") + 1] == "3"
    versions = parser.sections["Versions"]
    assert "scikit-learn" in versions and "pyradiomics" in versions
    import sklearn

    assert versions[versions.index("scikit-learn") + 1] == sklearn.__version__
    rationales = parser.sections["Rationales for a sample of test lesions"]
    texts = [t for t in rationales if t.startswith("Probability of malignancy")]
    assert len(texts) == 6  # the sample: 6 of the SVC's test lesions
    svc = result.predictions["radiomics-svc"].set_index("case")
    for text in texts:
        case = rationales[rationales.index(text) - 6]  # the row's first cell
        assert f"Probability of malignancy {svc.loc[case, 'y_prob']:.3f}, by the SVC" in text
    assert json.loads(json.dumps(result.settings))["k"] == 8


def test_page_is_self_contained(page):
    parser, _, out = page
    tags = {tag for tag, _ in parser.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "action"):
                assert value.startswith("data:"), (tag, name, value[:60])
    text = (out / "results.html").read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "url(" not in text


def test_page_escapes_what_it_quotes():
    import pandas as pd

    from sklearn_llmrad.benchmark import BenchmarkResult
    from sklearn_llmrad.report import results_html

    table = pd.DataFrame([{"model": "<script>alert(1)</script>", "name": "x", "status": "failed: <b>"}])
    parser = _Page()
    parser.feed(results_html(BenchmarkResult(table=table, predictions={}, settings={"k": "<i>"})))
    assert not {tag for tag, _ in parser.tags} & {"script", "b", "i"}
    assert parser.rows["x"][0] == "<script>alert(1)</script>"
    assert parser.sections["Settings"] == ["Setting", "Value", "k", '"<i>"']
