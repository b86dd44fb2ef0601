"""No patient-identifying DICOM value leaks into anything we write or show.

DICOM headers carry names, ids, birth dates, institutions. We read only the
pixel module; these tests check that none of the identifying values appears in
error messages, warnings, log records, the extraction cache (file names and
contents), saved-model files, or the classifier's explanations -- for DICOMs
we write with made-up identifiers (some deliberately invalid, so that pydicom
would complain about them) and for the real DDSM files, whose PatientID is of
the form "Mass-Test_P_00173_LEFT_CC".
"""

import io
import logging
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_llmrad import RadiomicsExtractor
from sklearn_llmrad.exceptions import LesionError
from sklearn_llmrad.imageio import read_image
from sklearn_llmrad.roi import CircleROI

SETTINGS = dict(image_types=["Original"], feature_classes=["firstorder", "glcm"], progress=False)

PHI = {
    "PatientName": "Doeprivate^Janeprivate",
    "PatientID": "PHI-7391-ZX",
    "PatientBirthDate": "19610203",
    "OtherPatientIDs": "ALTID-55821",
    "AccessionNumber": "ACC99173",
    "InstitutionName": "Saint Exampleton Hospital",
    "ReferringPhysicianName": "Refdoc^Privatus",
    "StudyID": "STUDY-4417",
    "PatientAddress": "12 Hidden Lane",
}
# what a leak could look like besides the raw value
NEEDLES = sorted(
    {v for v in PHI.values()} | {"Doeprivate", "Janeprivate", "Refdoc", "Privatus", "Exampleton", "1961-02-03", "7391"},
    key=len,
)


def _write_dicom(path, *, rows=64, cols=64, invalid_values=False, truncate=None, bad_rows=None):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    for key, value in PHI.items():
        setattr(ds, key, value)
    if invalid_values:
        # values pydicom flags as invalid for their VR: its warnings would echo them
        from pydicom.dataelem import DataElement

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.add(DataElement(0x00100030, "DA", "1961-02-03" + "PHI-7391-ZX"))
            ds.add(DataElement(0x00100020, "LO", "PHI-7391-ZX\\" * 8))
    ds.Modality = "MG"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (bad_rows or rows), cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:rows, :cols]
    pixels = (2000 + 300 * np.sin(xx / 5) + 200 * rng.normal(size=(rows, cols))).clip(0, 4095).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom rightly complains about the invalid values
        ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    path.write_bytes(data if truncate is None else data[:truncate])
    return path


def _assert_clean(text, where):
    # object addresses in third-party DEBUG logs (pykwalify: '<Rule object at 0x7fa35a373910>')
    # are random and contain a needle such as '7391' about once in a few hundred runs
    lowered = re.sub(r"0x[0-9a-f]+", "0x", text.lower())
    leaked = [n for n in NEEDLES if n.lower() in lowered]
    assert not leaked, f"identifying value(s) {leaked} found in {where}: {text[:500]!r}"


def _assert_tree_clean(root, needles):
    for path in Path(root).rglob("*"):
        for needle in needles:
            assert needle.lower() not in path.name.lower(), f"{needle!r} in cache file name {path}"
        if path.is_file():
            data = path.read_bytes().lower()
            for needle in needles:
                assert needle.lower().encode() not in data, f"{needle!r} in cache file {path}"


@pytest.fixture
def capture(caplog):
    """Collect every warning and log record (all loggers, DEBUG) while a block runs."""
    caplog.set_level(logging.DEBUG)
    caught = []

    class Ctx:
        def __enter__(self):
            caplog.clear()  # only records from inside the block (not from writing the test files)
            caught.clear()
            self._cm = warnings.catch_warnings(record=True)
            self._list = self._cm.__enter__()
            warnings.simplefilter("always")
            return self

        def __exit__(self, *exc):
            caught.extend(self._list)
            self._cm.__exit__(*exc)
            return False

        def text(self):
            return "\n".join([str(w.message) for w in caught] + [r.getMessage() for r in caplog.records])

    return Ctx()


def test_extraction_and_cache_hold_no_identifiers(tmp_path, capture):
    image = _write_dicom(tmp_path / "scan.dcm", invalid_values=True)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 20:44] = 1
    X = pd.DataFrame({"image": [str(image)], "mask": [mask], "age": [61.0]}, index=["lesion_1"])
    cache = tmp_path / "cache"
    with capture:
        features = RadiomicsExtractor(**SETTINGS, cache_dir=cache).fit_transform(X)
        again = RadiomicsExtractor(**SETTINGS, cache_dir=cache).fit_transform(X)
    pd.testing.assert_frame_equal(features, again)
    assert np.isfinite(features.drop(columns="age").to_numpy()).all()
    _assert_clean(capture.text(), "warnings/logs")
    _assert_clean(features.to_csv(), "the feature table")
    assert any(p.is_file() for p in cache.rglob("*"))
    _assert_tree_clean(cache, NEEDLES)


@pytest.mark.parametrize(
    "variant",
    [
        dict(truncate=1200),  # cut inside the pixel data
        dict(truncate=300),  # cut inside the header, amid the identifying elements
        dict(bad_rows=7),  # pixel data does not fit Rows x Columns
        dict(invalid_values=True, truncate=900),
    ],
    ids=["truncated-pixels", "truncated-header", "wrong-rows", "invalid-values-truncated"],
)
def test_errors_about_a_bad_dicom_hold_no_identifiers(tmp_path, capture, variant):
    path = _write_dicom(tmp_path / "bad.dcm", **variant)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 20:44] = 1
    X = pd.DataFrame({"image": [str(path)], "mask": [mask]}, index=["lesion_7"])
    with capture:
        with pytest.raises(LesionError) as info:
            RadiomicsExtractor(**SETTINGS).fit_transform(X)
        with pytest.raises(LesionError) as direct:
            read_image(path, case="lesion_7")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nan_run = RadiomicsExtractor(**SETTINGS, on_error="nan").fit_transform(X)
    assert info.value.case == "lesion_7"
    for err in (info.value, direct.value):
        _assert_clean(str(err), "the error message")
        _assert_clean(repr(err.__cause__) + str(err.__context__), "the chained exception")
    _assert_clean(capture.text(), "warnings/logs")
    _assert_clean(repr(nan_run.attrs["radiomics_failures"]), "the failure list")


def test_mask_error_holds_no_identifiers(tmp_path, capture):
    image = _write_dicom(tmp_path / "scan.dcm")
    mask_file = _write_dicom(tmp_path / "mask.dcm", rows=32, cols=32)  # wrong shape, with PHI too
    X = pd.DataFrame({"image": [str(image)], "mask": [str(mask_file)]}, index=["lesion_2"])
    with capture, pytest.raises(LesionError) as info:
        RadiomicsExtractor(**SETTINGS).fit_transform(X)
    assert "shape" in str(info.value)
    _assert_clean(str(info.value), "the mask error")
    _assert_clean(capture.text(), "warnings/logs")


def _ddsm_phi(path):
    import re

    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    values = set()
    # StudyID ("DDSM") and similar generic values are left out: they identify no one
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber", "OtherPatientIDs"):
        value = str(ds.get(keyword, "") or "").strip()
        if len(value) >= 6:
            values.add(value)
        match = re.search(r"P_\d{5}", value)
        if match:
            values.add(match.group(0))  # the patient number alone
    return values


def test_real_ddsm_dicoms(tmp_path, ddsm_dicoms, capture):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_llmrad import TopKSelector
    from sklearn_llmrad.io import save

    paths = ddsm_dicoms[:2]
    needles = set().union(*(_ddsm_phi(p) for p in paths))
    assert any("_P_" in n for n in needles), needles  # the DDSM patient id is there to leak
    frames = []
    with capture:
        for i, path in enumerate(paths):
            image = read_image(path, case=f"ddsm_{i}")
            rows, cols = image.shape
            frames.append(
                pd.DataFrame(
                    {
                        "image": [str(path)],
                        "mask": [CircleROI(row=rows / 2, col=cols / 2, radius=40)],
                        "age": [55.0 + i],
                    },
                    index=[f"ddsm_{i}"],
                )
            )
        X = pd.concat(frames)
        cache = tmp_path / "cache"
        features = RadiomicsExtractor(**SETTINGS, cache_dir=cache).fit_transform(X)
        # a truncated copy of a real file: the error must not quote its header
        bad = tmp_path / "truncated.dcm"
        bad.write_bytes(Path(paths[0]).read_bytes()[:4096])
        with pytest.raises(LesionError) as info:
            read_image(bad, case="ddsm_bad")
        # a model fitted on these features, saved
        model = make_pipeline(TopKSelector(k=3, passthrough=None), StandardScaler(), LogisticRegression())
        model.fit(pd.concat([features] * 3), [0, 1] * 3)
        saved = save(model, tmp_path / "model.llmrad")
    text = capture.text() + str(info.value) + features.to_csv()
    for needle in needles:
        assert needle.lower() not in text.lower(), f"{needle!r} leaked into messages/logs/features"
    _assert_tree_clean(cache, needles)
    with zipfile.ZipFile(saved) as zf:
        blob = b"".join(zf.read(n) for n in zf.namelist()).lower()
    for needle in needles:
        assert needle.lower().encode() not in blob, f"{needle!r} in the saved model"


def test_saved_model_and_explanations_hold_no_identifiers(tmp_path, capture):
    import torch

    from sklearn_llmrad import LLMRadiomicsClassifier, TopKSelector
    from sklearn_llmrad.io import save

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(8):
        path = _write_dicom(tmp_path / f"scan_{i}.dcm")
        mask = np.zeros((64, 64), np.uint8)
        mask[10 + i : 40 + i, 12:44] = 1
        frames.append(pd.DataFrame({"image": [str(path)], "mask": [mask]}, index=[f"lesion_{i}"]))
    X = pd.concat(frames)
    y = np.array([0, 1] * 4)
    with capture:
        features = RadiomicsExtractor(**SETTINGS).fit_transform(X)
        features = features + rng.normal(scale=1e-3, size=features.shape)
        selector = TopKSelector(k=4, passthrough=None).fit(features, y)
        Z = selector.transform(features)
        clf = LLMRadiomicsClassifier(
            max_epochs=2, hidden_size=8, n_heads=2, random_state=0, device="cpu", early_stopping=False
        ).fit(Z, y)
        explanation = clf.explain(Z)
        path = save(clf, tmp_path / "clf.llmrad")
    _assert_clean(repr(explanation), "the explanation")
    _assert_clean(capture.text(), "warnings/logs")
    with zipfile.ZipFile(path) as zf:
        manifest = zf.read("manifest.json").decode()
        blob = b"".join(zf.read(n) for n in zf.namelist())
    _assert_clean(manifest, "the saved-model manifest")
    for needle in NEEDLES:
        assert needle.lower().encode() not in blob.lower(), f"{needle!r} in the saved model"
