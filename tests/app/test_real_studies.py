"""End to end on the real scanner files: open, place by real clicks, save, reopen, export all.

``../shared/realdata/lidc-idri-0314-ct`` (275 axial slices, measured on its sagittal
reformat) and ``spine-ls.dcm`` (one multi-frame JPEG-LS sagittal T1).  The landmark
positions were chosen by eye on the images (the corners and endplate middles of one
thoracic body each); they are written here in DICOM terms and converted to LPS by the
test itself, from the files' own headers read with plain pydicom (ImagePositionPatient,
ImageOrientationPatient, PixelSpacing), never through Endplate.  Expected heights and
angles are the hand computation of those points (tests/handcalc.py); clicks are aimed by
tests/app/aim.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from measure.landmarks import LANDMARK_KEYS
from tests.app.aim import click_pos, lps_to_pixel
from tests.handcalc import heights_mm
from tests.realdata_truth import MR_FRAME, ct_truth, mr_truth

LEFT = QtCore.Qt.MouseButton.LeftButton
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
EXACT = QtCore.Qt.KeyboardModifier.AltModifier
WAIT_MS = 60000
EXPORT_FORMATS = ("csv", "json", "sr", "fhir", "pdf")
#: What must never be printed in a report: Python's and Endplate's failure wordings.
ERROR_WORDS = (
    "Traceback",
    "object has no attribute",
    "Error:",
    "Exception",
    "no landmarks on an original image",
)


def _vka_deg(points: dict[str, np.ndarray], anterior: np.ndarray, superior: np.ndarray) -> float:
    """Signed angle between the endplate lines, kyphosis positive, in the plane of the points
    (``anterior`` and ``superior``: in-plane unit directions from the image orientation)."""

    def angle(a: np.ndarray, p: np.ndarray) -> float:
        d = p - a  # anterior -> posterior
        return math.atan2(float(d @ superior), float(d @ -anterior))

    return math.degrees(
        angle(points["sup_ant"], points["sup_post"]) - angle(points["inf_ant"], points["inf_post"])
    )


def _place(window, qtbot: QtBot, level: str, points: dict[str, np.ndarray]) -> None:  # type: ignore[no-untyped-def]
    window.viewer.go_to_point(points["sup_ant"])
    shown = window.viewer.source.geometry.slices[window.viewer.slice_index]
    for p in points.values():  # the displayed slice is the points' plane
        assert abs(lps_to_pixel(p, shown)[2]) < 0.5
    window.set_level(level)
    window.set_placing(True)
    for key in LANDMARK_KEYS:
        # Alt: exactly where clicked (no snap to the endplate); the click chain is under test.
        QTest.mouseClick(window.viewer.canvas.viewport(), LEFT, EXACT, click_pos(window.viewer, points[key]))

        def placed(key: str = key) -> bool:
            tp = window.current_timepoint()
            return tp is not None and window.case.landmark(tp, level, key) is not None

        qtbot.waitUntil(placed, timeout=5000)
    window.set_placing(False)


def _export_all(window, qtbot: QtBot, out: Path, key: str | None = None) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    dialog = window.open_export_dialog(ask_save=lambda _q: True)
    qtbot.addWidget(dialog)
    dialog.set_pseudonymize(key)
    written = {}
    for fmt in EXPORT_FORMATS:
        dialog.set_format(fmt)
        target = out / "sr" if fmt == "sr" else out / f"case.{fmt}"  # SR: a folder, one per timepoint
        dialog.set_output(target)
        with qtbot.waitSignal(dialog.exportFinished, timeout=WAIT_MS) as blocker:
            assert dialog.start_export(), dialog.result_text()
        summary = blocker.args[0]
        assert summary.exit_status == 0, (fmt, summary.failed, summary.error)
        if fmt == "sr":
            assert summary.written and all(p.parent == target for p in summary.written)
            target = summary.written[0]
        else:
            assert summary.written == [target]
        for word in ERROR_WORDS:
            assert word not in dialog.result_text()
        written[fmt] = target
    dialog.close()
    return written


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _pdf_image_count(path: Path) -> int:
    listing = subprocess.run(
        ["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return len([line for line in listing.splitlines()[2:] if line.strip()])


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _check_exports(written: dict[str, Path], identity: dict[str, str], series_uid: str) -> None:
    """The identity is in every export, the numbers come from the measured series, the PDF
    has its key image and no error text; the SR and FHIR are readable by other tools."""
    rows = _csv(written["csv"])
    assert rows and all(r["patient_id"] == identity["patient_id"] for r in rows)
    assert {r["measurement_series_uid"] for r in rows} == {series_uid}
    for column in ("study_description", "accession_number", "patient_sex"):
        if identity.get(column):
            assert {r[column] for r in rows} == {identity[column]}
    assert all(r["timepoint_date"] == identity["timepoint_date"] for r in rows)
    text = _pdf_text(written["pdf"])
    assert identity["patient_id"] in text
    for word in ERROR_WORDS:
        assert word not in text, word
    assert _pdf_image_count(written["pdf"]) >= 1, "the PDF has no key image"
    # The key image caption names the series without a stray comma for an empty description
    # (the real CT has none), and neither study has a STIR series: the report says so once.
    assert " , " not in text and "CT ," not in text
    assert text.count("No STIR series in this case") == 1
    doc = json.loads(written["json"].read_text(encoding="utf-8"))
    assert json.dumps(doc).count(identity["patient_id"]) >= 1
    bundle = json.loads(written["fhir"].read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle" and identity["patient_id"] in json.dumps(bundle)
    sr = pydicom.dcmread(written["sr"])
    assert sr.PatientID == identity["patient_id"] and sr.Modality == "SR"
    if shutil.which("dsrdump"):
        dump = subprocess.run(["dsrdump", str(written["sr"])], capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0, dump.stderr


def _check_pseudonymised(written: dict[str, Path], identity: dict[str, str]) -> None:
    secrets = [v for k, v in identity.items() if k in ("patient_id", "accession_number") and v]
    for fmt, path in written.items():
        data = _pdf_text(path) if fmt == "pdf" else path.read_bytes().decode("latin-1")
        for secret in secrets:
            assert secret not in data, (fmt, secret)
    rows = _csv(written["csv"])
    assert all(r["pseudonymized"] in ("true", "True", "1", "yes") for r in rows), rows[0]["pseudonymized"]
    assert all(r["timepoint_date"] != identity["timepoint_date"] for r in rows)  # dates shifted


def _reopen(window, qtbot: QtBot, saved: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.close_case()
    assert window.viewer.source is None or not window.case.series
    assert window.open_case(saved)
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=WAIT_MS)


@pytest.mark.slow
@pytest.mark.realdata
def test_real_ct_measured_on_its_reformat(window, qtbot: QtBot, realdata_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = realdata_dir / "lidc-idri-0314-ct"
    points, _sop_by_z = ct_truth(folder)
    series_of_files = str(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).SeriesInstanceUID)
    window.open_paths([folder])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=WAIT_MS)
    assert window.viewer.source.is_reformat
    _place(window, qtbot, "T11", points)
    window.toggle_status("fractured")

    case = window.case
    tp = window.current_timepoint()
    # Identity from the DICOM, in the case and the title bar.
    assert case.patient.id == "LIDC-IDRI-0314" and case.patient.sex == "F"
    assert "LIDC-IDRI-0314" in window.windowTitle()
    assert case.timepoint(tp).date == "2000-01-01"
    # Each landmark sits where it was clicked (half a screen pixel), in the axial series'
    # frame of reference; a reformat is no stored image, so no SOP Instance UID is claimed.
    half_px_mm = 0.5 * float(max(window.viewer.view.viewPixelSize())) * math.sqrt(2) + 1e-6
    for key, p in points.items():
        lm = case.landmark(tp, "T11", key)
        assert np.linalg.norm(np.asarray(lm.position_mm) - p) <= half_px_mm, key
        assert lm.series_uid == series_of_files and lm.sop_uid is None, key
    r = case.measure().timepoints[tp].vertebrae["T11"]
    hand = heights_mm(points)
    tol = 2 * half_px_mm
    assert r.ha_mm.value == pytest.approx(hand["Ha"], abs=tol)
    assert r.hm_mm.value == pytest.approx(hand["Hm"], abs=tol)
    assert r.hp_mm.value == pytest.approx(hand["Hp"], abs=tol)
    # Anterior is -Y, superior +Z in LPS (the axial IOP is the identity).
    vka = _vka_deg(points, np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    assert r.vka_deg.value == pytest.approx(vka, abs=1.0)

    saved = tmp_path / "cases" / "ct.json"
    saved.parent.mkdir()
    assert window.save_to(saved)
    before = {k: case.landmark(tp, "T11", k) for k in LANDMARK_KEYS}
    _reopen(window, qtbot, saved)
    assert {k: window.case.landmark(tp, "T11", k) for k in LANDMARK_KEYS} == before
    assert window.viewer.source.is_reformat  # the reopened case shows the reformat again

    series_uid = window.case.measurement_series(tp)
    identity = {
        "patient_id": "LIDC-IDRI-0314",
        "accession_number": "2819497684894126",
        "patient_sex": "F",
        "timepoint_date": "2000-01-01",
    }
    _check_exports(_export_all(window, qtbot, tmp_path / "out"), identity, series_uid)
    _check_pseudonymised(_export_all(window, qtbot, tmp_path / "pseudo", key="registry-key"), identity)


@pytest.mark.slow
@pytest.mark.realdata
def test_real_multiframe_mr(window, qtbot: QtBot, spine_ls: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    points, sop_uid = mr_truth(spine_ls)
    ds = pydicom.dcmread(spine_ls, stop_before_pixels=True)
    window.open_paths([spine_ls])
    qtbot.waitUntil(lambda: window.viewer.source is not None and not window.tasks, timeout=WAIT_MS)
    _place(window, qtbot, "T6", points)
    window.toggle_status("fractured")
    case = window.case
    tp = window.current_timepoint()
    assert case.patient.id == str(ds.PatientID)
    half_px_mm = 0.5 * float(max(window.viewer.view.viewPixelSize())) * math.sqrt(2) + 1e-6
    for key, p in points.items():
        lm = case.landmark(tp, "T6", key)
        assert np.linalg.norm(np.asarray(lm.position_mm) - p) <= half_px_mm, key
        assert lm.sop_uid == sop_uid and lm.frame_index == MR_FRAME - 1  # the frame clicked on
    r = case.measure().timepoints[tp].vertebrae["T6"]
    hand = heights_mm(points)
    assert r.ha_mm.value == pytest.approx(hand["Ha"], abs=2 * half_px_mm)
    assert r.hp_mm.value == pytest.approx(hand["Hp"], abs=2 * half_px_mm)
    # The frame's own directions: anterior = -row cosine (columns run posterior), superior =
    # -column cosine (rows run down the patient).
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    vka = _vka_deg(points, -iop[:3], -iop[3:])
    assert r.vka_deg.value == pytest.approx(vka, abs=1.0)
    # The case keeps the file, not its folder (which holds the CT too).
    assert case.series_path(case.measurement_series(tp)) == spine_ls.absolute()

    saved = tmp_path / "cases" / "mr.json"
    saved.parent.mkdir()
    assert window.save_to(saved)
    before = {k: case.landmark(tp, "T6", k) for k in LANDMARK_KEYS}
    _reopen(window, qtbot, saved)
    assert {k: window.case.landmark(tp, "T6", k) for k in LANDMARK_KEYS} == before
    assert len(window.session.library.stacks) == 1  # only the MR was scanned again

    identity = {"patient_id": str(ds.PatientID), "timepoint_date": window.case.timepoint(tp).date or ""}
    _check_exports(_export_all(window, qtbot, tmp_path / "out"), identity, window.case.measurement_series(tp))
