"""Tests of the CBIS-DDSM, VinDr-Mammo, INbreast and CSV loaders on small,
format-faithful copies written by the tests (real column names, real folder
layouts, real DICOM files written with pydicom, real plist XML)."""

import plistlib
import shutil

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from sklearn.model_selection import StratifiedGroupKFold

from sklearn_llmrad.datasets import load_cbis_ddsm, load_csv, load_inbreast, load_vindr_mammo
from sklearn_llmrad.exceptions import DatasetFormatError
from sklearn_llmrad.roi import BoxROI, PolygonROI

CONTRACT = ["image", "mask", "spacing", "age", "density", "history"]


def write_dicom(path, pixels, series_description=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    if series_description is not None:
        ds.SeriesDescription = series_description
    pixels = np.ascontiguousarray(pixels, dtype=np.uint16)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _mammogram(seed, shape=(40, 32)):
    return np.random.default_rng(seed).integers(200, 4000, size=shape)


def _mask(shape=(40, 32)):
    mask = np.zeros(shape, dtype=np.uint16)
    mask[10:20, 8:16] = 255
    return mask


def _crop(seed):
    return np.random.default_rng(seed).integers(500, 3000, size=(10, 8))


# --------------------------------------------------------------------------- CBIS-DDSM

MASS_COLUMNS = [
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
CALC_COLUMNS = [
    "patient_id",
    "breast density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "calc type",
    "calc distribution",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
UID1, UID2 = "1.3.6.1.4.1.9590.100.1.2.4221127222", "1.3.6.1.4.1.9590.100.1.2.3423861948"


def _csv_paths(case, abnormality=1):
    return (
        f"{case}/{UID1}/{UID2}/000000.dcm",
        f"{case}_{abnormality}/{UID1}/{UID2}/000000.dcm",
        f"{case}_{abnormality}/{UID1}/{UID2}/000001.dcm",
    )


@pytest.fixture
def cbis_root(tmp_path):
    """Four cases in the NBIA download layout, one in the CSV's own layout,
    one calcification listed but not downloaded."""
    root = tmp_path / "cbis"
    nbia = root / "CBIS-DDSM"
    files = {}
    # 1: separate ROI mask / crop series, identified by their series folder names
    case = "Mass-Training_P_00001_LEFT_CC"
    write_dicom(
        nbia / case / "07-20-2016-DDSM-74994" / "1.000000-full mammogram images-24515" / "1-1.dcm",
        _mammogram(1),
        "full mammogram images",
    )
    files[case + "_1"] = write_dicom(
        nbia / f"{case}_1" / "07-21-2016-DDSM-09887" / "1.000000-ROI mask images-38166" / "1-1.dcm",
        _mask(),
        "ROI mask images",
    )
    write_dicom(
        nbia / f"{case}_1" / "07-21-2016-DDSM-09887" / "1.000000-cropped images-12345" / "1-1.dcm",
        _crop(1),
        "cropped images",
    )
    # 2: mask and crop in one series folder, the mask under the "second" name
    case = "Mass-Training_P_00001_LEFT_MLO"
    write_dicom(
        nbia / case / "07-20-2016-DDSM-1" / "1.000000-full mammogram images-1" / "1-1.dcm",
        _mammogram(2),
        "full mammogram images",
    )
    series = nbia / f"{case}_1" / "07-21-2016-DDSM-2" / "1.000000-ROI mask images-2"
    write_dicom(series / "1-1.dcm", _crop(2), "cropped images")
    files[case + "_1"] = write_dicom(series / "1-2.dcm", _mask(), "ROI mask images")
    # 3: no SeriesDescription at all: told apart by content (binary, full size)
    case = "Mass-Training_P_00004_LEFT_CC"
    write_dicom(nbia / case / "x" / "y" / "1-1.dcm", _mammogram(3))
    files[case + "_1"] = write_dicom(nbia / f"{case}_1" / "x" / "y" / "1-1.dcm", _mask())
    write_dicom(nbia / f"{case}_1" / "x" / "y" / "1-2.dcm", _crop(3))
    # 4: the layout of the CSV paths themselves (directly under root)
    case = "Mass-Test_P_00016_LEFT_CC"
    image, crop, roi = _csv_paths(case)
    write_dicom(root / image, _mammogram(4))
    write_dicom(root / crop, _crop(4), "cropped images")
    files[case + "_1"] = write_dicom(root / roi, _mask(), "ROI mask images")
    # 5: a calcification of patient P_00001 (same woman as 1 and 2)
    case = "Calc-Training_P_00001_LEFT_CC"
    write_dicom(nbia / case / "a" / "b" / "1-1.dcm", _mammogram(5), "full mammogram images")
    files[case + "_1"] = write_dicom(nbia / f"{case}_1" / "a" / "b" / "1-1.dcm", _mask(), "ROI mask images")

    def row(patient, density, side, view, case, pathology, *, calc=False, abn=1):
        image, crop, roi = _csv_paths(case, abn)
        descriptors = ["AMORPHOUS", "CLUSTERED"] if calc else ["IRREGULAR", "SPICULATED"]
        kind = "calcification" if calc else "mass"
        # the real CSVs carry a stray newline at the end of some crop paths
        return [patient, density, side, view, abn, kind, *descriptors, 4, pathology, 3, image, crop + "\n", roi]

    pd.DataFrame(
        [
            row("P_00001", 3, "LEFT", "CC", "Mass-Training_P_00001_LEFT_CC", "MALIGNANT"),
            row("P_00001", 3, "LEFT", "MLO", "Mass-Training_P_00001_LEFT_MLO", "MALIGNANT"),
            row("P_00004", 1, "LEFT", "CC", "Mass-Training_P_00004_LEFT_CC", "BENIGN_WITHOUT_CALLBACK"),
        ],
        columns=MASS_COLUMNS,
    ).to_csv(root / "mass_case_description_train_set.csv", index=False)
    pd.DataFrame([row("P_00016", 2, "LEFT", "CC", "Mass-Test_P_00016_LEFT_CC", "BENIGN")], columns=MASS_COLUMNS).to_csv(
        root / "mass_case_description_test_set.csv", index=False
    )
    pd.DataFrame(
        [row("P_00001", 3, "LEFT", "CC", "Calc-Training_P_00001_LEFT_CC", "BENIGN", calc=True)], columns=CALC_COLUMNS
    ).to_csv(root / "calc_case_description_train_set.csv", index=False)
    pd.DataFrame(
        [row("P_00038", 4, "RIGHT", "MLO", "Calc-Test_P_00038_RIGHT_MLO", "MALIGNANT", calc=True)], columns=CALC_COLUMNS
    ).to_csv(root / "calc_case_description_test_set.csv", index=False)
    return root, files


def test_cbis_masses_resolved_and_labelled(cbis_root):
    root, files = cbis_root
    data = load_cbis_ddsm(root)
    expected = {
        "Mass-Training_P_00001_LEFT_CC_1": 1,
        "Mass-Training_P_00001_LEFT_MLO_1": 1,
        "Mass-Training_P_00004_LEFT_CC_1": 0,
        "Mass-Test_P_00016_LEFT_CC_1": 0,
    }
    assert dict(zip(data.frame.index, data.target.tolist())) == expected
    assert list(data.frame.columns) == CONTRACT
    for case, mask_path in data.frame["mask"].items():
        assert mask_path == str(files[case])
        mask = pydicom.dcmread(mask_path).pixel_array
        image = pydicom.dcmread(data.frame.loc[case, "image"]).pixel_array
        assert mask.shape == image.shape and set(np.unique(mask)) == {0, 255}
    assert data.frame.loc["Mass-Training_P_00001_LEFT_CC_1", "density"] == "C"
    assert data.frame.loc["Mass-Training_P_00004_LEFT_CC_1", "density"] == "A"
    assert data.frame["age"].isna().all()
    assert data.metadata.loc["Mass-Training_P_00001_LEFT_CC_1", "crop"].endswith("cropped images-12345/1-1.dcm")


def test_cbis_no_leaky_columns(cbis_root):
    data = load_cbis_ddsm(cbis_root[0], abnormality="both")
    for column in ("assessment", "pathology", "mass shape", "mass_shape", "calc_type"):
        assert column not in data.frame.columns
    assert "assessment" not in data.metadata.columns and "pathology" not in data.metadata.columns


def test_cbis_groups_splits_and_exclusions(cbis_root):
    root, _ = cbis_root
    both = load_cbis_ddsm(root, abnormality="both")
    groups = dict(zip(both.frame.index, both.groups))
    assert groups["Calc-Training_P_00001_LEFT_CC_1"] == groups["Mass-Training_P_00001_LEFT_MLO_1"] == "P_00001"
    assert [c for c, _ in both.excluded] == ["Calc-Test_P_00038_RIGHT_MLO_1"]
    assert "full mammogram not found" in both.excluded[0][1]
    assert both.frame.loc["Calc-Training_P_00001_LEFT_CC_1", "density"] == "C"  # "breast density" column
    assert len(load_cbis_ddsm(root, split="train").frame) == 3
    X, y = load_cbis_ddsm(root, split="test", return_X_y=True)
    assert X.index.tolist() == ["Mass-Test_P_00016_LEFT_CC_1"] and y.tolist() == [0]
    with pytest.raises(DatasetFormatError, match="no CBIS-DDSM mammogram"):
        load_cbis_ddsm(root, abnormality="calc", split="test")


def test_cbis_format_errors(cbis_root):
    root, _ = cbis_root
    file = root / "mass_case_description_train_set.csv"
    table = pd.read_csv(file, dtype=str)
    table.loc[1, "pathology"] = "UNSURE"
    table.to_csv(file, index=False)
    with pytest.raises(DatasetFormatError, match=r"mass_case_description_train_set.csv', line 3: pathology 'UNSURE'"):
        load_cbis_ddsm(root)
    table.drop(columns=["pathology"]).to_csv(file, index=False)
    with pytest.raises(DatasetFormatError, match=r"missing column\(s\) \['pathology'\]"):
        load_cbis_ddsm(root)
    file.unlink()
    with pytest.raises(DatasetFormatError, match="mass_case_description_train_set.csv.*not found"):
        load_cbis_ddsm(root)


def test_cbis_repeated_rows(cbis_root):
    root, _ = cbis_root
    file = root / "mass_case_description_train_set.csv"
    table = pd.read_csv(file, dtype=str, keep_default_na=False)
    pd.concat([table, table.iloc[[0]]]).to_csv(file, index=False)
    data = load_cbis_ddsm(root, split="train")
    assert len(data.frame) == 3
    assert data.excluded == [
        ("Mass-Training_P_00001_LEFT_CC_1", f"file {str(file)!r}, line 5 repeats file {str(file)!r}, line 2 verbatim")
    ]
    changed = table.iloc[[0]].assign(pathology="BENIGN")
    pd.concat([table, changed]).to_csv(file, index=False)
    with pytest.raises(DatasetFormatError, match="line 5: abnormality 'Mass-Training_P_00001_LEFT_CC_1' already"):
        load_cbis_ddsm(root, split="train")


def test_cbis_path_escape(cbis_root):
    root, _ = cbis_root
    file = root / "mass_case_description_test_set.csv"
    table = pd.read_csv(file, dtype=str)
    table.loc[0, "image file path"] = "../../../etc/passwd"
    table.to_csv(file, index=False)
    with pytest.raises(DatasetFormatError, match="outside the dataset root"):
        load_cbis_ddsm(root)
    # allowed: the path is looked up (and, being no mammogram here, excluded)
    data = load_cbis_ddsm(root, allow_outside_root=True)
    assert len(data.frame) == 3 and len(data.excluded) == 1


# --------------------------------------------------------------------------- VinDr-Mammo

VINDR_COLUMNS = [
    "image_id",
    "study_id",
    "series_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "split",
]


@pytest.fixture
def vindr_root(tmp_path):
    root = tmp_path / "vindr"

    def r(image, study, side, view, cats, birads, box, split="training", density="DENSITY C"):
        return [image, study, "ser", side, view, 40, 32, "BI-RADS 4", density, cats, birads, *box, split]

    no_box = ["", "", "", ""]
    rows = [
        r("img1", "st1", "L", "CC", "['Mass']", "BI-RADS 4", [3.5, 10.0, 12.25, 20.0]),
        r("img1", "st1", "L", "CC", "['Suspicious Calcification']", "BI-RADS 3", [1, 2, 5, 6]),
        r("img2", "st1", "L", "MLO", "['No Finding']", "", no_box),
        r(
            "img3",
            "st2",
            "R",
            "CC",
            "['Mass', 'Architectural Distortion']",
            "BI-RADS 5",
            [4, 4, 9, 9],
            "test",
            "DENSITY B",
        ),
        r("img4", "st2", "R", "MLO", "['Focal Asymmetry']", "BI-RADS 2", [4, 4, 9, 9], "test", "DENSITY B"),
        r("img5", "st3", "L", "CC", "['Mass']", "BI-RADS 4", [4, 4, 9, 9]),
    ]
    pd.DataFrame(rows, columns=VINDR_COLUMNS).to_csv(root.mkdir() or root / "finding_annotations.csv", index=False)
    pd.DataFrame(
        {"SOP Instance UID": ["img1", "img2", "img3", "img4"], "Patient's Age": ["053Y", "053Y", "061Y", ""]}
    ).to_csv(root / "metadata.csv", index=False)
    for study, image in [("st1", "img1"), ("st1", "img2"), ("st2", "img3"), ("st2", "img4")]:
        write_dicom(root / "images" / study / f"{image}.dicom", _mammogram(0))  # img5 not downloaded
    return root


def test_vindr_rows_labels_boxes(vindr_root):
    data = load_vindr_mammo(vindr_root)
    assert dict(zip(data.frame.index, data.target.tolist())) == {"img1_1": 1, "img1_2": 0, "img3_1": 1, "img4_1": 0}
    assert data.frame.loc["img1_1", "mask"] == BoxROI(row_min=10.0, col_min=3.5, row_max=20.0, col_max=12.25)
    assert data.frame.loc["img1_1", "image"].endswith("images/st1/img1.dicom")
    assert data.frame.loc["img1_1", "age"] == 53.0 and np.isnan(data.frame.loc["img4_1", "age"])
    assert data.frame.loc["img3_1", "density"] == "B"
    assert dict(zip(data.frame.index, data.groups)) == {
        "img1_1": "st1",
        "img1_2": "st1",
        "img3_1": "st2",
        "img4_1": "st2",
    }
    reasons = dict(data.excluded)
    assert "no box" in reasons["img2_1"] and "not found" in reasons["img5_1"]
    assert "proxy" in data.DESCR.lower() and "finding_birads" not in data.frame.columns
    assert load_vindr_mammo(vindr_root, split="test", return_X_y=True)[0].index.tolist() == ["img3_1", "img4_1"]


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("finding_birads", "BI-RADS X", "finding_birads 'BI-RADS X'"),
        ("xmax", "1", "is empty or negative"),
        ("ymin", "abc", "ymin 'abc' is not a number"),
        ("finding_categories", "['Mass'", "finding_categories"),
        ("breast_density", "DENSITY E", "density"),
        ("study_id", "../../../etc", "outside the dataset root"),
    ],
)
def test_vindr_format_errors(vindr_root, column, value, message):
    file = vindr_root / "finding_annotations.csv"
    table = pd.read_csv(file, dtype=str, keep_default_na=False)
    table.loc[0, column] = value
    table.to_csv(file, index=False)
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_vindr_mammo(vindr_root)
    assert "finding_annotations.csv', line 2" in str(info.value)


def test_vindr_missing_column_and_bad_age(vindr_root):
    pd.DataFrame({"SOP Instance UID": ["img1"], "Patient's Age": ["old"]}).to_csv(
        vindr_root / "metadata.csv", index=False
    )
    with pytest.raises(DatasetFormatError, match="metadata.csv', line 2"):
        load_vindr_mammo(vindr_root)
    file = vindr_root / "finding_annotations.csv"
    pd.read_csv(file, dtype=str).drop(columns=["xmin"]).to_csv(file, index=False)
    with pytest.raises(DatasetFormatError, match=r"missing column\(s\) \['xmin'\]"):
        load_vindr_mammo(vindr_root)


# --------------------------------------------------------------------------- INbreast

INBREAST_HEADER = "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"


def _roi(name, points):
    return {
        "Area": 1.0,
        "Center": "(0, 0)",
        "IndexInImage": 0,
        "Name": name,
        "NumberOfPoints": len(points),
        "Point_mm": [f"({x * 0.07:.6f}, {y * 0.07:.6f})" for x, y in points],
        "Point_px": [f"({x:.6f}, {y:.6f})" for x, y in points],
        "Type": 15,
    }


@pytest.fixture
def inbreast_root(tmp_path):
    root = tmp_path / "inbreast"
    (root / "AllXML").mkdir(parents=True)
    lines = [
        INBREAST_HEADER,
        "removed;removed;R;CC;201001;22678622;4;1",
        "removed;removed;L;CC;201001;20586908;2;5",
        "removed;removed;L;MLO;201001;20586934;2;4c",
        "removed;62;R;MLO;200905;24065530;3;2",
        ";;;;;;;",
    ]
    (root / "INbreast.csv").write_text("\n".join(lines) + "\n")
    for name, patient, side, view in [
        ("22678622", "a1b2c3d4e5f60718", "R", "CC"),
        ("20586908", "6c613a14b80a8591", "L", "CC"),
        ("20586934", "6c613a14b80a8591", "L", "ML"),
        ("24065530", "d8205a09c8173f44", "R", "ML"),
    ]:
        write_dicom(root / "AllDICOMs" / f"{name}_{patient}_MG_{side}_{view}_ANON.dcm", _mammogram(0))
    square = [(10.5, 5.0), (20.0, 5.0), (20.0, 15.0), (10.5, 15.0)]
    xmls = {
        "20586908": [_roi("Mass", square), _roi("Calcification", [(12.0, 7.0)]), _roi("Cluster", square[::-1])],
        "20586934": [_roi("Mass", square)],
        "24065530": [_roi("Mass", square), _roi("Calcification", [(3.0, 3.0), (4.0, 4.0)])],
    }
    for name, rois in xmls.items():
        plist = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]}
        (root / "AllXML" / f"{name}.xml").write_bytes(plistlib.dumps(plist, fmt=plistlib.FMT_XML))
    return root


def test_inbreast_rows_polygons_groups(inbreast_root):
    data = load_inbreast(inbreast_root)
    assert set(data.frame["spacing"]) == {(0.07, 0.07)}
    assert dict(zip(data.frame.index, data.target.tolist())) == {
        "20586908_1": 1,
        "20586908_3": 1,
        "20586934_1": 1,
        "24065530_1": 0,
    }
    roi = data.frame.loc["20586908_1", "mask"]
    assert isinstance(roi, PolygonROI)
    assert roi.rows == (5.0, 5.0, 15.0, 15.0) and roi.cols == (10.5, 20.0, 20.0, 10.5)
    assert roi.rasterize((40, 32))[10, 15] == 1 and roi.rasterize((40, 32))[10, 5] == 0
    groups = dict(zip(data.frame.index, data.groups))
    assert groups["20586908_1"] == groups["20586934_1"] == "6c613a14b80a8591" != groups["24065530_1"]
    assert data.frame.loc["20586908_1", "density"] == "B"
    assert data.frame.loc["24065530_1", "age"] == 62.0 and np.isnan(data.frame.loc["20586908_1", "age"])
    reasons = dict(data.excluded)
    assert "no annotation XML" in reasons["22678622"]
    assert "not in lesion_types" in reasons["20586908_2"]
    assert "proxy" in data.DESCR.lower() and "birads" not in data.frame.columns


def test_inbreast_lesion_types(inbreast_root):
    data = load_inbreast(inbreast_root, lesion_types=("Mass", "calcification"))
    assert data.frame.index.tolist() == ["20586908_1", "20586934_1", "24065530_1"]
    reasons = dict(data.excluded)
    assert "fewer than 3" in reasons["20586908_2"] and "fewer than 3" in reasons["24065530_2"]
    assert "not in lesion_types" in reasons["20586908_3"]
    with pytest.raises(DatasetFormatError, match="no INbreast lesion of types"):
        load_inbreast(inbreast_root, lesion_types=("Calcification",))


@pytest.mark.parametrize(
    "old, new, message",
    [
        (";2;5\n", ";2;7\n", "line 3: Bi-Rads '7'"),
        (";2;5\n", ";5;5\n", "line 3: breast density '5'"),
        (";20586908;", ";../../x;", "line 3: File Name"),
    ],
)
def test_inbreast_table_errors(inbreast_root, old, new, message):
    file = inbreast_root / "INbreast.csv"
    file.write_text(file.read_text().replace(old, new, 1))
    with pytest.raises(DatasetFormatError, match=message):
        load_inbreast(inbreast_root)


def test_inbreast_layout_errors(inbreast_root):
    xml = inbreast_root / "AllXML" / "20586934.xml"
    xml.write_text(xml.read_text().replace("(10.500000, 5.000000)", "(ten, five)", 1))
    with pytest.raises(DatasetFormatError, match="20586934.xml.*'\\(ten, five\\)'"):
        load_inbreast(inbreast_root)
    xml.write_text("<plist><dict><key>Images</key>")
    with pytest.raises(DatasetFormatError, match="20586934.xml.*not an INbreast plist"):
        load_inbreast(inbreast_root)
    file = inbreast_root / "INbreast.csv"
    file.write_text(file.read_text().replace(";", ","))
    with pytest.raises(DatasetFormatError, match="';'-separated"):
        load_inbreast(inbreast_root)


# --------------------------------------------------------------------------- CSV


@pytest.fixture
def csv_root(tmp_path):
    root = tmp_path / "study"
    (root / "img").mkdir(parents=True)
    from skimage.io import imsave

    for k in range(4):
        imsave(root / "img" / f"case{k}.png", _mammogram(k).astype(np.uint16), check_contrast=False)
        imsave(root / "img" / f"case{k}_mask.png", (_mask() > 0).astype(np.uint8), check_contrast=False)
    return root


def _write_csv(root, rows, header="image,mask,label,age,density,history,patient"):
    path = root / "lesions.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_loads_contract(csv_root):
    path = _write_csv(
        csv_root,
        [
            "img/case0.png,img/case0_mask.png,1,61,3,family history of breast cancer,P1",
            "img/case1.png,img/case1_mask.png,0,,B,,P1",
            "img/case2.png,img/case2_mask.png,0,45.5,,prior benign biopsy,P2",
            "img/case3.png,img/case3_mask.png,1,70,D,,P3",
        ],
    )
    data = load_csv(path)
    assert list(data.frame.columns) == CONTRACT
    assert data.frame["spacing"].isna().all()  # no spacing column: read from the files' headers
    assert data.frame.index.tolist() == ["row_1", "row_2", "row_3", "row_4"]
    assert data.target.tolist() == [1, 0, 0, 1]
    assert data.frame["density"].tolist() == ["C", "B", None, "D"]
    assert data.frame["age"].iloc[2] == 45.5 and np.isnan(data.frame["age"].iloc[1])
    assert data.frame["history"].iloc[1] is None
    assert data.groups.tolist() == ["P1", "P1", "P2", "P3"]
    assert data.frame["image"].iloc[0] == str(csv_root / "img" / "case0.png")
    for train, test in StratifiedGroupKFold(n_splits=2).split(data.frame, data.target, data.groups):
        assert not set(data.groups[train]) & set(data.groups[test])


def test_csv_without_patient_and_with_root_and_case(csv_root, tmp_path):
    elsewhere = tmp_path / "tables"
    elsewhere.mkdir()
    path = _write_csv(
        elsewhere,
        ["a,img/case0.png,img/case0_mask.png,1", "b,img/case1.png,img/case1_mask.png,0"],
        header="case,image,mask,label",
    )
    data = load_csv(path, root=csv_root)
    assert data.frame.index.tolist() == ["a", "b"] and data.groups.tolist() == ["a", "b"]
    assert data.frame["age"].isna().all() and data.frame["density"].isna().all()


def test_csv_spacing_column(csv_root):
    rows = ["img/case0.png,img/case0_mask.png,1,0.07", 'img/case1.png,img/case1_mask.png,0,"0.05 0.06"']
    data = load_csv(_write_csv(csv_root, rows + ["img/case2.png,img/case2_mask.png,0,"], "image,mask,label,spacing"))
    assert data.frame["spacing"].tolist() == [(0.07, 0.07), (0.05, 0.06), None]
    bad = _write_csv(csv_root, ["img/case0.png,img/case0_mask.png,1,-1"], "image,mask,label,spacing")
    with pytest.raises(DatasetFormatError, match=r"row 1 .*spacing must be one or two positive"):
        load_csv(bad)


def test_csv_collects_every_row_error(csv_root):
    outside = csv_root.parent / "outside.png"
    shutil.copy(csv_root / "img" / "case0.png", outside)
    path = _write_csv(
        csv_root,
        [
            "img/case0.png,img/case0_mask.png,1,61,C,,P1",  # fine
            "img/missing.png,img/case0_mask.png,1,61,C,,P1",  # 2: missing file
            "img/case1.png,img/case1_mask.png,2,61,C,,P1",  # 3: label
            "img/case2.png,img/case2_mask.png,0,old,C,,P2",  # 4: age
            "img/case3.png,img/case3_mask.png,0,50,E,,P3",  # 5: density
            "../outside.png,img/case3_mask.png,0,50,A,,P3",  # 6: path escape
            f"{outside},img/case3_mask.png,0,50,A,,P3",  # 7: absolute path elsewhere
            ",img/case3_mask.png,1,50,A,,P3",  # 8: empty image
            "img/case3.png,img/case3_mask.png,1,250,A,,P3",  # 9: age out of range
        ],
    )
    with pytest.raises(DatasetFormatError) as info:
        load_csv(path)
    message = str(info.value)
    assert "8 malformed row(s)" in message and "lesions.csv" in message
    expected = {
        2: "does not exist",
        3: "label '2' is not 0 or 1",
        4: "age 'old'",
        5: "density 'E'",
        6: "outside the dataset root",
        7: "outside the dataset root",
        8: "image is empty",
        9: "outside 0-130",
    }
    lines = {int(line.split()[1]): line for line in message.splitlines()[1:]}
    assert set(lines) == set(expected)
    for row, fragment in expected.items():
        assert fragment in lines[row], (row, lines[row])
    assert "row 1 " not in message


def test_csv_allow_outside_root(csv_root):
    outside = csv_root.parent / "outside.png"
    shutil.copy(csv_root / "img" / "case0.png", outside)
    path = _write_csv(csv_root, ["../outside.png,img/case0_mask.png,1,,,,"])
    with pytest.raises(DatasetFormatError, match="outside the dataset root"):
        load_csv(path)
    data = load_csv(path, allow_outside_root=True)
    assert data.frame["image"].iloc[0] == str(outside)


def test_csv_missing_columns_and_duplicates(csv_root):
    path = _write_csv(csv_root, ["img/case0.png,1"], header="image,label")
    with pytest.raises(DatasetFormatError, match=r"missing required column\(s\) \['mask'\]"):
        load_csv(path)
    path = _write_csv(
        csv_root,
        ["x,img/case0.png,img/case0_mask.png,1", "x,img/case1.png,img/case1_mask.png,0"],
        header="case,image,mask,label",
    )
    with pytest.raises(DatasetFormatError, match="row 2.*already used on row 1"):
        load_csv(path)
    with pytest.raises(DatasetFormatError, match="not found"):
        load_csv(csv_root / "nope.csv")


@pytest.mark.parametrize(
    ("loader", "fixture"),
    [(load_cbis_ddsm, "cbis_root"), (load_vindr_mammo, "vindr_root"), (load_inbreast, "inbreast_root")],
)
def test_labels_false_gives_the_same_frame_without_target(loader, fixture, request):
    root = request.getfixturevalue(fixture)
    root = root[0] if isinstance(root, tuple) else root  # cbis_root also returns the mask paths
    labelled, unlabelled = loader(root), loader(root, labels=False)
    assert unlabelled.target is None and set(labelled.target) == {0, 1}
    assert unlabelled.frame.index.equals(labelled.frame.index)
    assert unlabelled.frame.drop(columns="mask").equals(labelled.frame.drop(columns="mask"))
    assert [repr(m) for m in unlabelled.frame["mask"]] == [repr(m) for m in labelled.frame["mask"]]
    assert unlabelled.groups.tolist() == labelled.groups.tolist()
    X, y = loader(root, labels=False, return_X_y=True)
    assert y is None and len(X) == len(labelled.frame)
