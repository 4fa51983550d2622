"""Retrieve from Orthanc, measure, send the SR by C-STORE and STOW-RS, read it back from Orthanc.

Truth: the phantom's heights (``ground_truth.json``), the retrieved files' SOP UIDs read by
plain pydicom, and the SR as Orthanc's REST API returns it, read by highdicom.
"""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
import requests

from dicomio.pacs import client
from dicomio.pacs.nodes import parse_node_url
from main import main
from measure.case import Case, SeriesRef, Timepoint
from measure.casefile import save_case
from measure.landmarks import Landmark
from tests.orthanc import Uploaded

LEVELS = ("T12", "L1", "L2")


def _case_on_retrieved(up: Uploaded, folder: Path, case_id: str) -> Case:
    """A case whose landmarks (the phantom's truth) sit on the series retrieved into ``folder``."""
    series = up.demo.by_key("pre_t1")
    truth = json.loads(up.demo.ground_truth_path.read_text("utf-8"))
    case = Case(case_id)
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-02"))
    case.assign_series(SeriesRef(series.series_uid, "pre", str(folder), series.description, series.modality))
    points = truth["series"][series.series_uid]["landmarks"]
    for level in LEVELS:
        landmarks = {
            k: Landmark(tuple(p["position_mm"]), series.series_uid, p["sop_instance_uid"])
            for k, p in points[level].items()
        }
        case.add_vertebra("pre", level, "fractured" if level == "L1" else "reference", landmarks)
    return case


@pytest.mark.parametrize("how", ["c-store", "stow-rs"])
def test_the_sr_of_a_retrieved_series_reaches_orthanc_with_its_measurements(
    orthanc: Uploaded, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = orthanc.demo.by_key("pre_t1")
    study_uid = str(orthanc.headers[series.series_uid].StudyInstanceUID)
    url = orthanc.server.dimse_url if how == "c-store" else orthanc.server.dicomweb
    got = client.retrieve_series(parse_node_url(url), study_uid, series.series_uid, tmp_path / "cache")
    retrieved_sops = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in got.files}
    case_path = tmp_path / "case.json"
    save_case(_case_on_retrieved(orthanc, got.folder, f"SEND-{how}"), case_path)
    with orthanc.server.keep_contents() as before:
        _send_and_check(orthanc, url, case_path, tmp_path, study_uid, retrieved_sops, before, capsys)


def _send_and_check(
    orthanc: Uploaded,
    url: str,
    case_path: Path,
    tmp_path: Path,
    study_uid: str,
    retrieved_sops: set[str],
    before: set[str],
    capsys: pytest.CaptureFixture[str],
) -> None:

    out = tmp_path / "sr"
    assert main(["export", str(case_path), "--format", "sr", "--out", str(out), "--send", url]) == 0
    assert "sent 1 SR file to" in capsys.readouterr().err
    (written,) = out.glob("*.dcm")

    new = set(orthanc.server.get_json("/instances")) - before  # type: ignore[arg-type]
    assert len(new) == 1
    (orthanc_id,) = new
    r = requests.get(f"{orthanc.server.rest}/instances/{orthanc_id}/file", timeout=30)
    r.raise_for_status()
    stored = tmp_path / "from-orthanc.dcm"
    stored.write_bytes(r.content)
    local = pydicom.dcmread(written)
    back = pydicom.dcmread(stored)
    assert back.SOPInstanceUID == local.SOPInstanceUID and back.StudyInstanceUID == study_uid
    sr = hd.sr.srread(stored)
    assert isinstance(sr.content, hd.sr.MeasurementReport)
    truth = json.loads(orthanc.demo.ground_truth_path.read_text("utf-8"))["timepoints"]["pre"]["levels"]
    groups = {str(g.tracking_identifier): g for g in sr.content.get_image_measurement_groups()}
    for level in LEVELS:
        by_code = {m.name.value: m for m in groups[level].get_measurements()}
        for code, key in (("HA", "Ha"), ("HM", "Hm"), ("HP", "Hp")):
            assert float(by_code[code].value) == pytest.approx(truth[level]["heights_mm"][key], abs=1e-6)
    evidence = {e[2] for e in sr.get_evidence()}
    assert evidence and evidence <= retrieved_sops  # the retrieved instances' real UIDs


def test_export_send_without_out_and_a_node_that_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], orthanc: Uploaded
) -> None:
    series = orthanc.demo.by_key("pre_t1")
    case_path = tmp_path / "case.json"
    save_case(_case_on_retrieved(orthanc, series.folder, "DOWN"), case_path)
    assert main(["export", str(case_path), "--format", "sr", "--send", "dicom://NOBODY@127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "not reachable" in err and err.count("\n") == 1


def _fresh_copies(orthanc: Uploaded, tmp_path: Path, n: int) -> list[Path]:
    """``n`` demo images with new SOP Instance UIDs (new instances for the server)."""
    from pydicom.uid import generate_uid

    out = []
    for i, path in enumerate(orthanc.demo.by_key("pre_t1").files[:n]):
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = tmp_path / f"copy{i}.dcm"
        ds.save_as(target)
        out.append(target)
    return out


@pytest.mark.parametrize("how", ["c-store", "stow-rs"])
def test_send_reports_progress_and_can_be_cancelled(orthanc: Uploaded, how: str, tmp_path: Path) -> None:
    from dicomio.pacs.errors import PacsCancelledError

    url = orthanc.server.dimse_url if how == "c-store" else orthanc.server.dicomweb
    node = parse_node_url(url)
    paths = _fresh_copies(orthanc, tmp_path, 3)
    with orthanc.server.keep_contents() as before:
        seen: list[tuple[int, int]] = []
        client.send_files(node, paths, progress=lambda d, t: seen.append((d, t)))
        assert seen == [(1, 3), (2, 3), (3, 3)]
        assert len(orthanc.server.instance_ids() - before) == 3
    with orthanc.server.keep_contents() as before:
        seen = []
        with pytest.raises(PacsCancelledError, match="cancelled after 1 of 3 files"):
            client.send_files(
                node, paths, progress=lambda d, t: seen.append((d, t)), cancel=lambda: bool(seen)
            )
        assert seen == [(1, 3)]
        assert len(orthanc.server.instance_ids() - before) == 1  # what was sent stays sent
