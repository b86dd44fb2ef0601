"""Property-based fuzzing of everything that parses outside input.

Targets: the image/mask readers (``imageio.py``: DICOM, PGM, PNG/TIFF via
SimpleITK), the dataset index parsers (``load_csv``, ``load_mias``' Info.txt,
``load_inbreast``' CSV + plist XML, ``load_cbis_ddsm``' CSVs) and the clinical
sentence built for the language model.

Contract: any input ends in a result or in a *clear* error -- an exception
from :mod:`sklearn_llmrad.exceptions`, or a ``ValueError`` with a message --
never a crash, a hang, or an unrelated traceback (TypeError, IndexError,
KeyError, struct.error, ...).

The readers run inside one subprocess (a C library that segfaults on a corrupt
file would otherwise kill the test session); it fuzzes all reader targets and
reports, as JSON, how many inputs it tried and every contract violation.
Budgets are modest (``MAX_EXAMPLES`` per target, derandomised so that CI is
reproducible); for a longer local campaign set ``LLMRAD_FUZZ_EXAMPLES=2000``
and ``LLMRAD_FUZZ_RANDOM=1``.
"""

from __future__ import annotations

import io
import json
import os
import plistlib
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

MAX_EXAMPLES = int(os.environ.get("LLMRAD_FUZZ_EXAMPLES", "200"))

# Bugs found by this file in modules owned by others, reported with a minimal
# reproducer (see test_known_bug_reproducers). A matching violation is counted
# as "known", not failed, so the fuzzers keep guarding against *new* ones.
# Each entry: (target, exception type name, substring of the message).
# (target, exception type, message fragment) of bugs reported but not fixed yet;
# each must have a strict-xfail reproducer below. Empty: none known.
KNOWN_BUGS: list[tuple[str, str, str]] = []


def _settings():
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        # fixed examples in CI; LLMRAD_FUZZ_RANDOM=1 explores new ones each run
        derandomize=os.environ.get("LLMRAD_FUZZ_RANDOM", "") != "1",
        database=None,
        suppress_health_check=list(HealthCheck),
    )


class _Tally:
    """Classifies outcomes; a violation is any exception outside the contract."""

    def __init__(self):
        self.tried = {}
        self.ok = {}
        self.violations = []

    def run(self, target, func, describe):
        from sklearn_llmrad import exceptions as exc_mod

        own = tuple(getattr(exc_mod, name) for name in exc_mod.__all__ if isinstance(getattr(exc_mod, name), type))
        self.tried[target] = self.tried.get(target, 0) + 1
        try:
            func()
            self.ok[target] = self.ok.get(target, 0) + 1
        except own as exc:
            if not str(exc).strip():
                self._record(target, exc, describe, "empty message")
        except ValueError as exc:  # a plain ValueError is fine if it says what is wrong
            if not str(exc).strip():
                self._record(target, exc, describe, "empty message")
        except Exception as exc:  # noqa: BLE001 - this is what we are looking for
            self._record(target, exc, describe, "unexpected exception type")

    def _record(self, target, exc, describe, why):
        name, message = type(exc).__name__, str(exc)
        known = any(t == target and n == name and s in message for t, n, s in KNOWN_BUGS)
        if len(self.violations) < 200:
            self.violations.append(
                {
                    "target": target,
                    "type": name,
                    "message": message[:300],
                    "why": why,
                    "known": known,
                    "input": describe()[:400],
                    "where": traceback.format_exception(exc)[-2].strip()[:300],
                }
            )

    def report(self):
        return {"tried": self.tried, "ok": self.ok, "violations": self.violations}


# --------------------------------------------------------------------------- seeds
def _dicom_bytes(rows=8, cols=6, photometric="MONOCHROME2", bits=16, rescale=None, binary=False):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["fuzz", str(rows), photometric])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientName = "Fuzz^Patient"
    ds.PatientID = "FUZZ-0001"
    ds.Modality = "MG"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    dtype = np.uint8 if bits == 8 else np.uint16
    pixels = (np.arange(rows * cols) * 37 % (2**ds.BitsStored)).astype(dtype).reshape(rows, cols)
    if binary:  # a lesion mask: 0 background, 255 lesion
        pixels = np.zeros((rows, cols), dtype)
        pixels[2:6, 1:4] = 255
    ds.PixelData = pixels.tobytes()
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _png_bytes(bits=8):
    from PIL import Image

    arr = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8 if bits == 8 else np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _tiff_bytes():
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.arange(30).reshape(5, 6) * 7).astype(np.uint8)).save(buf, format="TIFF")
    return buf.getvalue()


def _seeds(ddsm=None):
    seeds = {
        "dicom16.dcm": _dicom_bytes(),
        "dicom8-mono1.dcm": _dicom_bytes(bits=8, photometric="MONOCHROME1"),
        "dicom-rescale.dcm": _dicom_bytes(rescale=(0.5, -10)),
        "p5.pgm": b"P5\n# comment\n6 4\n255\n" + bytes(range(0, 240, 10)),
        "p5-16.pgm": b"P5 3 2 65535\n" + np.arange(6, dtype=">u2").tobytes(),
        "p2.pgm": b"P2\n3 2\n15\n0 1 2\n3 4 15\n",
        "img.png": _png_bytes(),
        "img16.png": _png_bytes(16),
        "img.tif": _tiff_bytes(),
    }
    if ddsm is not None:
        # the real RLE mammogram: only its first 64 KiB (header + start of the
        # pixel data), so that every mutated copy fails or decodes quickly
        seeds["ddsm.dcm"] = Path(ddsm).read_bytes()[:65536]
    return seeds


# --------------------------------------------------------------------------- readers (subprocess)
def fuzz_readers(workdir, ddsm=None):
    """Run every reader target; return the tally report. Called in a subprocess."""
    from hypothesis import given
    from hypothesis import strategies as st

    from sklearn_llmrad.imageio import read_image, read_mask

    tally = _Tally()
    workdir = Path(workdir)
    seeds = _seeds(ddsm)
    names = sorted(seeds)
    suffixes = [".dcm", ".pgm", ".png", ".tif", ".nrrd", ".nii", ".jpg", ""]
    counter = [0]

    def write(data, suffix):
        counter[0] += 1
        path = workdir / f"f{counter[0]}{suffix}"
        path.write_bytes(data)
        return path

    def read_both(path, target):
        def call():
            image = read_image(path, case="fuzz_case")
            if not (isinstance(image, np.ndarray) and image.ndim == 2 and image.size > 0):
                raise TypeError(f"read_image returned {type(image).__name__} {getattr(image, 'shape', '')}")
            if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
                raise TypeError("read_image returned non-finite pixels")
            mask = read_mask(path, image.shape, case="fuzz_case")
            if mask.shape != image.shape:
                raise TypeError(f"read_mask returned shape {mask.shape} for image {image.shape}")

        return call

    @_settings()
    @given(data=st.binary(max_size=2048), suffix=st.sampled_from(suffixes))
    def random_bytes(data, suffix):
        path = write(data, suffix)
        tally.run("read_image:random_bytes", read_both(path, "random"), lambda: f"{suffix!r} {data[:200]!r}")
        path.unlink()

    @_settings()
    @given(name=st.sampled_from(names), frac=st.floats(0, 1))
    def truncated(name, frac):
        data = seeds[name]
        cut = int(len(data) * frac)
        path = write(data[:cut], Path(name).suffix)
        tally.run("read_image:truncated", read_both(path, "truncated"), lambda: f"{name} truncated at {cut}")
        path.unlink()

    @_settings()
    @given(
        name=st.sampled_from(names),
        edits=st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=8),
    )
    def mutated(name, edits):
        data = bytearray(seeds[name])
        limit = min(len(data), 1024)  # the header region
        for pos, value in edits:
            data[pos % limit] = value
        path = write(bytes(data), Path(name).suffix)
        tally.run("read_image:mutated_header", read_both(path, "mutated"), lambda: f"{name} edits={edits}")
        path.unlink()

    token = st.one_of(
        st.integers(-3, 70000).map(str),
        st.sampled_from(["0", "1", "255", "65535", "65536", "-1", "1e3", "0x10", "", "#", "nan"]),
        st.text(alphabet="0123456789 #\n\t-+.abcP", max_size=6),
    )

    @_settings()
    @given(
        magic=st.sampled_from(["P5", "P2", "P5 ", "P2\n", "P6"]),
        w=token,
        h=token,
        maxval=token,
        sep=st.sampled_from([" ", "\n", "\t", "\n# c\n", ""]),
        body=st.binary(max_size=600),
    )
    def pgm_header(magic, w, h, maxval, sep, body):
        data = f"{magic}{sep}{w}{sep}{h}{sep}{maxval}\n".encode() + body
        path = write(data, ".pgm")
        tally.run("read_image:pgm_header", read_both(path, "pgm"), lambda: repr(data[:200]))
        path.unlink()

    @_settings()
    @given(
        name=st.sampled_from(names),
        shape=st.one_of(st.tuples(st.integers(-2, 12), st.integers(-2, 12)), st.just(None)),
    )
    def mask_shapes(name, shape):
        path = write(seeds[name], Path(name).suffix)
        if shape is None:  # the image's own shape, so that the label checks run
            try:
                shape = read_image(path).shape
            except ValueError:
                shape = (1, 1)
        tally.run("read_mask:shape", lambda: read_mask(path, shape, case="fuzz_case"), lambda: f"{name} {shape}")
        path.unlink()

    for fuzzer in (random_bytes, truncated, mutated, pgm_header, mask_shapes):
        fuzzer()
    return tally.report()


# --------------------------------------------------------------------------- dataset parsers (in process)
def _field():
    from hypothesis import strategies as st

    return st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "0",
                "1",
                "2",
                "B",
                "M",
                "C",
                "D",
                "nan",
                "NaN",
                "-1",
                "1e309",
                "4a",
                "NA",
                "../x",
                "/etc/passwd",
                "a;b",
                'q"uote',
                "\u00e9",
                "mdb001",
                "62",
                "120",
                "MALIGNANT",
                "BENIGN",
                "BENIGN_WITHOUT_CALLBACK",
                "LEFT",
                "CC",
                "mass",
                "x.dcm",
                "img.pgm",
            ]
        ),
        st.text(max_size=12),
        st.integers(-(10**6), 10**6).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )


def test_load_csv_fuzz(tmp_path):
    import csv

    from hypothesis import given
    from hypothesis import strategies as st

    from sklearn_llmrad.datasets import load_csv

    tally = _Tally()
    root = tmp_path / "root"
    root.mkdir()
    (root / "img.pgm").write_bytes(b"P5 1 1 255\n\x00")
    (root / "x.dcm").write_bytes(b"")
    columns = ["image", "mask", "label", "age", "density", "history", "patient", "case", "extra"]

    valid = ["img.pgm", "img.pgm", "1", "62", "C", "family history", "p1", "c1", "x"]

    def mostly(value):
        return st.one_of(st.just(value), st.just(value), st.just(value), _field())

    row = st.tuples(*[mostly(v) for v in valid]).map(list)

    @_settings()
    @given(
        drop=st.one_of(st.just([]), st.just([]), st.lists(st.sampled_from(columns), max_size=3, unique=True)),
        rows=st.lists(row, max_size=4),
        raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=300)),
    )
    def run(drop, rows, raw):
        path = tmp_path / "table.csv"
        keep = [i for i, c in enumerate(columns) if c not in drop]
        if raw is not None:
            path.write_bytes(raw)
        else:
            with open(path, "w", newline="", encoding="utf-8", errors="surrogatepass") as fh:
                writer = csv.writer(fh)
                writer.writerow([columns[i] for i in keep])
                writer.writerows([[r[i] for i in keep] for r in rows])
        tally.run(
            "load_csv", lambda: load_csv(path, root=root), lambda: repr(raw) if raw is not None else repr((drop, rows))
        )

    run()
    _check(tally)


def test_load_mias_fuzz(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    from sklearn_llmrad.datasets import load_mias

    tally = _Tally()
    (tmp_path / "mdb001.pgm").write_bytes(b"P5 1 1 255\n\x00")
    (tmp_path / "mdb002.pgm").write_bytes(b"P5 1 1 255\n\x00")
    tissue = st.one_of(st.sampled_from(["F", "G", "D", "X", ""]), st.text(max_size=3))
    klass = st.one_of(
        st.sampled_from(["CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM", "FOO"]), st.text(max_size=4)
    )
    num = st.one_of(
        st.integers(-2000, 3000).map(str),
        st.sampled_from(["*NOTE", "3*", "nan", "1e9", "12.5", ""]),
        st.text(max_size=4),
    )

    def mostly(value, other):
        return st.one_of(st.just(value), st.just(value), other)

    line = st.tuples(
        mostly("mdb001", st.sampled_from(["mdb002", "mdb1", "MDB001", "mdb0011", "mdbabc"])),
        mostly("G", tissue),
        mostly("CIRC", klass),
        mostly("B", st.sampled_from(["M", "", "X"])),
        mostly("535", num),
        mostly("425", num),
        mostly("197", num),
    ).map(lambda t: " ".join(t))

    @_settings()
    @given(
        lines=st.lists(st.one_of(line, line, line, st.text(max_size=40)), max_size=6),
        raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=200)),
    )
    def run(lines, raw):
        data = raw if raw is not None else "\n".join(lines).encode("utf-8", "surrogatepass")
        (tmp_path / "Info.txt").write_bytes(data)
        tally.run("load_mias", lambda: load_mias(tmp_path), lambda: repr(data[:300]))

    run()
    _check(tally)


def _plist_value(depth=2):
    from hypothesis import strategies as st

    leaf = st.one_of(
        st.none(),
        st.integers(-5, 5),
        st.text(max_size=8),
        st.floats(allow_nan=False),
        st.booleans(),
        st.sampled_from(["(1, 2)", "(10.5, 3)", "( 1e3 , -2 )", "(x, y)", "Mass"]),
    )
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.sampled_from(["Images", "ROIs", "Point_px", "Name", "x"]), children, max_size=3),
        ),
        max_leaves=12,
    ).filter(lambda v: v is not None)


def test_load_inbreast_fuzz(tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    from sklearn_llmrad.datasets import load_inbreast

    tally = _Tally()
    (tmp_path / "AllXML").mkdir()
    (tmp_path / "AllDICOMs").mkdir()
    (tmp_path / "AllDICOMs" / "20586908_6c613a14b80a8591_MG_R_CC_ANON.dcm").write_bytes(b"")
    header = "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"

    def mostly(value, other):
        return st.one_of(st.just(value), st.just(value), other)

    row = st.tuples(
        st.sampled_from(["removed", ""]),
        mostly("62", _field()),
        mostly("R", st.sampled_from(["L", ""])),
        mostly("CC", st.just("MLO")),
        st.just("201001"),
        mostly("20586908", st.sampled_from(["abc", "", "../x", "20586908 "])),
        mostly("2", _field()),
        mostly("4a", st.one_of(st.sampled_from(["1", "2", "3", "4b", "5", "6", "0", ""]), _field())),
    ).map(lambda t: ";".join(t))
    odd = st.one_of(st.integers(-3, 3), st.text(max_size=6), st.dictionaries(st.text(max_size=3), st.integers()))
    points = st.lists(
        st.one_of(
            *[st.sampled_from(["(1, 2)", "(3.5, 4)", "(9, 1)", "(2, 7)"])] * 6,
            st.sampled_from(["(1 2)", "(-1e400, 2)", "(nan, 1)"]),
            st.text(max_size=8),
        ),
        min_size=2,
        max_size=6,
    )
    roi = st.fixed_dictionaries(
        {
            "Name": st.sampled_from(["Mass", "Mass", "Cluster", "Calcification", ""]),
            "Point_px": st.one_of(points, points, points, odd),
        }
    )
    rois = st.one_of(st.lists(roi, min_size=1, max_size=3), st.lists(roi, min_size=1, max_size=3), odd)
    structured = st.builds(lambda r: {"Images": [{"ROIs": r}]}, rois)

    @_settings()
    @given(
        rows=st.lists(row, max_size=3),
        xml=st.one_of(structured, structured, _plist_value(), st.binary(max_size=200)),
    )
    def run(rows, xml):
        text = "\n".join([header, *rows]) + "\n"
        (tmp_path / "INbreast.csv").write_bytes(text.encode("utf-8", "surrogatepass"))
        if isinstance(xml, bytes):
            data = xml
        else:
            try:
                data = plistlib.dumps(xml)
            except (TypeError, ValueError, OverflowError):
                data = b"<plist/>"
        (tmp_path / "AllXML" / "20586908.xml").write_bytes(data)

        def call():
            frame = load_inbreast(tmp_path).frame
            for roi in frame["mask"]:
                coords = np.asarray([*roi.rows, *roi.cols], dtype=float)
                if not np.isfinite(coords).all():
                    raise TypeError(f"non-finite ROI coordinate in {roi!r}")

        tally.run("load_inbreast", call, lambda: repr((text[:200], data[:200])))

    run()
    _check(tally)


def test_load_cbis_ddsm_fuzz(tmp_path):
    import csv

    from hypothesis import given
    from hypothesis import strategies as st

    from sklearn_llmrad.datasets import load_cbis_ddsm

    tally = _Tally()
    columns = [
        "patient_id",
        "breast_density",
        "left or right breast",
        "image view",
        "abnormality id",
        "abnormality type",
        "mass shape",
        "mass margins",
        "assessment",
        "pathology",
        "subtlety",
        "image file path",
        "cropped image file path",
        "ROI mask file path",
    ]
    case = "Mass-Training_P_00001_LEFT_CC"
    (tmp_path / case / "1.2" / "1.3").mkdir(parents=True)
    (tmp_path / case / "1.2" / "1.3" / "000000.dcm").write_bytes(_dicom_bytes())
    (tmp_path / (case + "_1") / "1.2" / "1.4").mkdir(parents=True)
    (tmp_path / (case + "_1") / "1.2" / "1.4" / "000000.dcm").write_bytes(_dicom_bytes(bits=8, binary=True))
    valid = [
        "P_00001",
        "2",
        "LEFT",
        "CC",
        "1",
        "mass",
        "OVAL",
        "CIRCUMSCRIBED",
        "4",
        "MALIGNANT",
        "3",
        f"{case}/1.2/1.3/000000.dcm",
        f"{case}_1/1.2/1.4/000001.dcm",
        f"{case}_1/1.2/1.4/000000.dcm",
    ]

    @_settings()
    @given(
        keep=st.lists(st.sampled_from([True, True, True, True, False]), min_size=len(columns), max_size=len(columns)),
        edits=st.lists(st.tuples(st.integers(0, len(columns) - 1), _field()), max_size=3),
        n_rows=st.integers(0, 3),
        raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=200)),
    )
    def run(keep, edits, n_rows, raw):
        path = tmp_path / "mass_case_description_train_set.csv"
        if raw is not None:
            path.write_bytes(raw)
        else:
            cols = [c for c, k in zip(columns, keep) if k or c in ("pathology", "image file path")]
            row = list(valid)
            for i, value in edits:
                row[i] = value
            with open(path, "w", newline="", encoding="utf-8", errors="surrogatepass") as fh:
                writer = csv.writer(fh)
                writer.writerow(cols)
                for _ in range(n_rows):
                    writer.writerow([v for c, v in zip(columns, row) if c in cols])
        tally.run(
            "load_cbis_ddsm",
            lambda: load_cbis_ddsm(tmp_path, split="train"),
            lambda: repr(raw) if raw is not None else repr((keep, edits, n_rows)),
        )

    run()
    _check(tally)


def test_clinical_sentence_fuzz():
    from hypothesis import given
    from hypothesis import strategies as st

    from sklearn_llmrad.descriptions import clinical_sentence

    tally = _Tally()
    anything = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(
            [
                "A",
                "b",
                "3",
                "4",
                "E",
                "F",
                "G",
                "D",
                "dense",
                "",
                " ",
                "nan",
                "62",
                "62.5",
                "-1",
                "200",
                "yes",
                "no",
                "True",
                "1e400",
            ]
        ),
        st.just(np.nan),
        st.just(np.float32(61.5)),
        st.just(np.int64(70)),
        st.just(pd_na()),
        st.lists(st.integers(), max_size=2),
        st.binary(max_size=4),
    )
    results = []

    @_settings()
    @given(age=anything, density=anything, history=anything)
    def run(age, density, history):
        def call():
            sentence = clinical_sentence(age, density, history, case="fuzz_case")
            if not isinstance(sentence, str) or not sentence.strip():
                raise TypeError(f"clinical_sentence returned {sentence!r}")
            results.append(sentence)

        tally.run("clinical_sentence", call, lambda: repr((age, density, history)))

    run()
    _check(tally)
    assert results, "no input produced a sentence"


def pd_na():
    import pandas as pd

    return pd.NA


# --------------------------------------------------------------------------- checks
def _check(tally):
    report = tally.report()
    print(f"fuzz inputs tried: {report['tried']}, of which returned a result: {report['ok']}")
    new = [v for v in report["violations"] if not v["known"]]
    known = [v for v in report["violations"] if v["known"]]
    if known:
        print(f"{len(known)} input(s) hit known bugs: {sorted({(v['target'], v['type']) for v in known})}")
    assert not new, "contract violations:\n" + json.dumps(new[:10], indent=1)


def test_readers_fuzz_in_subprocess(tmp_path, ddsm_dicoms):
    """All reader targets in one child process: a segfault or hang fails this test, not the session."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import test_fuzz as t; "
        "print('@@' + json.dumps(t.fuzz_readers(sys.argv[2], sys.argv[3])))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(tmp_path), str(ddsm_dicoms[0])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"reader fuzzing crashed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")][-1]
    report = json.loads(line[2:])
    print(f"fuzz inputs tried: {report['tried']}, of which returned a result: {report['ok']}")
    assert sum(report["tried"].values()) >= 5 * min(MAX_EXAMPLES, 10)
    new = [v for v in report["violations"] if not v["known"]]
    assert not new, "contract violations:\n" + json.dumps(new[:10], indent=1)


# --------------------------------------------------------------------------- found by fuzzing
# Regression tests for bugs the fuzzer found in the INbreast XML parser.
def _inbreast_root(tmp_path, xml):
    (tmp_path / "AllXML").mkdir()
    (tmp_path / "AllDICOMs").mkdir()
    (tmp_path / "AllDICOMs" / "20586908_6c613a14b80a8591_MG_R_CC_ANON.dcm").write_bytes(b"")
    (tmp_path / "INbreast.csv").write_text(
        "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads\n"
        "removed;62;R;CC;201001;20586908;2;4a\n"
    )
    (tmp_path / "AllXML" / "20586908.xml").write_bytes(plistlib.dumps(xml))
    return tmp_path


def test_inbreast_valid_root_loads(tmp_path):
    xml = {"Images": [{"ROIs": [{"Name": "Mass", "Point_px": ["(1, 2)", "(5, 2)", "(3, 6)"]}]}]}
    from sklearn_llmrad.datasets import load_inbreast

    assert len(load_inbreast(_inbreast_root(tmp_path, xml)).frame) == 1


@pytest.mark.parametrize("xml", [{"Images": [{"ROIs": 5}]}, {"Images": [{"ROIs": [{"Name": "Mass", "Point_px": 5}]}]}])
def test_inbreast_non_array_rois_is_a_format_error(tmp_path, xml):
    from sklearn_llmrad.datasets import load_inbreast
    from sklearn_llmrad.exceptions import DatasetFormatError

    with pytest.raises(DatasetFormatError):
        load_inbreast(_inbreast_root(tmp_path, xml))


def test_inbreast_infinite_point_is_a_format_error(tmp_path):
    from sklearn_llmrad.datasets import load_inbreast
    from sklearn_llmrad.exceptions import DatasetFormatError

    xml = {"Images": [{"ROIs": [{"Name": "Mass", "Point_px": ["(1, 2)", "(1e400, 2)", "(3, 4)"]}]}]}
    with pytest.raises(DatasetFormatError, match="finite"):
        load_inbreast(_inbreast_root(tmp_path, xml))


def test_geometric_rois_refuse_non_finite_coordinates():
    from sklearn_llmrad.roi import BoxROI, CircleROI, PolygonROI

    for make in (
        lambda: CircleROI(1.0, float("nan"), 3.0),
        lambda: BoxROI(0, 0, float("inf"), 4),
        lambda: PolygonROI(rows=(1, 2, float("inf")), cols=(1, 2, 3)),
    ):
        with pytest.raises(ValueError, match="non-finite"):
            make()
