"""Echo, find and retrieve (C-GET, C-MOVE, WADO-RS) against a real Orthanc.

Truth: the uploaded files' own headers read by plain pydicom, and the files' bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from dicomio.pacs import client
from dicomio.pacs.cache import MARKER
from dicomio.pacs.errors import PacsCancelledError
from dicomio.pacs.matches import StudyQuery
from dicomio.pacs.nodes import DimseNode, LocalAe, Node, parse_node_url
from main import main
from tests.orthanc import OUR_AE, Uploaded


def dimse(up: Uploaded, retrieve: str = "get") -> DimseNode:
    node = parse_node_url(up.server.dimse_url, LocalAe(OUR_AE, up.server.our_port))
    assert isinstance(node, DimseNode)
    return replace(node, retrieve=retrieve)


def nodes(up: Uploaded) -> dict[str, Node]:
    return {"c-get": dimse(up), "c-move": dimse(up, "move"), "wado-rs": parse_node_url(up.server.dicomweb)}


def expected_studies(up: Uploaded) -> dict[str, dict[str, object]]:
    """What a find must answer, from the uploaded files' headers (plain pydicom)."""
    studies: dict[str, dict[str, object]] = {}
    for series_uid, header in up.headers.items():
        study = studies.setdefault(
            str(header.StudyInstanceUID),
            {
                "study_uid": str(header.StudyInstanceUID),
                "patient_id": str(header.PatientID),
                "study_date": str(header.get("StudyDate", "")),
                "modalities": set(),
                "series": {},
            },
        )
        study["modalities"].add(str(header.Modality))  # type: ignore[union-attr]
        study["series"][series_uid] = {  # type: ignore[index]
            "modality": str(header.Modality),
            "description": str(header.get("SeriesDescription", "")).strip(),
            "n_images": len(up.files[series_uid]),
        }
    return studies


def as_comparable(found: dict[str, object]) -> dict[str, object]:
    return {
        "study_uid": found["study_uid"],
        "patient_id": found["patient_id"],
        "study_date": found["study_date"],
        "modalities": set(found["modalities"]),  # type: ignore[arg-type]
        "series": {
            s["series_uid"]: {
                "modality": s["modality"],
                "description": s["description"],
                "n_images": s["n_images"],
            }
            for s in found["series"]  # type: ignore[attr-defined]
        },
    }


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_echo_answers_in_one_line(orthanc: Uploaded, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = orthanc.server.dimse_url if kind == "dimse" else orthanc.server.dicomweb
    assert main(["pacs", "echo", url]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and ("C-ECHO" if kind == "dimse" else "QIDO-RS") in out


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_find_json_lists_every_uploaded_study_and_series(
    orthanc: Uploaded, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = orthanc.server.dimse_url if kind == "dimse" else orthanc.server.dicomweb
    assert main(["pacs", "find", url, "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = {obj["study_uid"]: as_comparable(obj) for obj in map(json.loads, lines)}
    assert found == expected_studies(orthanc)
    for obj in map(json.loads, lines):
        assert set(obj) >= {"study_uid", "patient_id", "study_date", "modalities", "series"}
        for s in obj["series"]:
            assert set(s) >= {"series_uid", "modality", "description", "n_images"}


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_find_filters_by_patient_date_and_modality(orthanc: Uploaded, kind: str) -> None:
    node = dimse(orthanc) if kind == "dimse" else parse_node_url(orthanc.server.dicomweb)
    ct = orthanc.headers[orthanc.ct_series]
    mr = orthanc.headers[orthanc.mr_series]
    by_id = client.find(node, StudyQuery(patient_id=str(ct.PatientID)))
    assert [s.study_uid for s in by_id] == [str(ct.StudyInstanceUID)]
    day = str(mr.StudyDate)
    by_date = client.find(node, StudyQuery(date_range=f"{day}-{day}"))
    want = {str(h.StudyInstanceUID) for h in orthanc.headers.values() if str(h.get("StudyDate", "")) == day}
    assert {s.study_uid for s in by_date} == want
    before = client.find(node, StudyQuery(date_range=f"-{int(str(ct.StudyDate)) - 1}"))
    assert str(ct.StudyInstanceUID) not in {s.study_uid for s in before}
    mr_studies = client.find(node, StudyQuery(modality="MR"))
    want_mr = {str(h.StudyInstanceUID) for h in orthanc.headers.values() if h.Modality == "MR"}
    assert {s.study_uid for s in mr_studies} == want_mr and str(ct.StudyInstanceUID) not in want_mr


def assert_same_instance(retrieved: Path, original: Path) -> None:
    """Every data element equal (group lengths aside: a server may recompute them), pixels byte-equal."""
    a, b = pydicom.dcmread(retrieved), pydicom.dcmread(original)
    assert a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID
    assert a.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    tags_a = {e.tag for e in a if e.tag.element != 0}
    tags_b = {e.tag for e in b if e.tag.element != 0}
    assert tags_a == tags_b
    for tag in tags_b:
        assert a[tag] == b[tag], tag
    assert a.PixelData == b.PixelData


@pytest.mark.parametrize("how", ["c-get", "c-move", "wado-rs"])
def test_retrieve_the_real_mr_into_the_cache(orthanc: Uploaded, how: str, tmp_path: Path) -> None:
    node = nodes(orthanc)[how]
    (source,) = orthanc.files[orthanc.mr_series]
    header = orthanc.headers[orthanc.mr_series]
    seen: list[tuple[int, int | None]] = []
    got = client.retrieve_series(
        node, str(header.StudyInstanceUID), orthanc.mr_series, tmp_path, lambda n, t: seen.append((n, t))
    )
    assert got.folder == tmp_path / orthanc.mr_series and not got.reused
    assert [p.name for p in got.files] == [f"{header.SOPInstanceUID}.dcm"]
    assert_same_instance(got.files[0], source)  # JPEG-LS fragments as stored, not transcoded
    assert seen[-1][0] == 1


@pytest.mark.parametrize("how", ["c-get", "c-move", "wado-rs"])
def test_retrieve_the_real_ct_with_progress_and_reuse(orthanc: Uploaded, how: str, tmp_path: Path) -> None:
    node = nodes(orthanc)[how]
    sources = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
        for p in orthanc.files[orthanc.ct_series]
    }
    study = str(orthanc.headers[orthanc.ct_series].StudyInstanceUID)
    seen: list[tuple[int, int | None]] = []
    got = client.retrieve_series(node, study, orthanc.ct_series, tmp_path, lambda n, t: seen.append((n, t)))
    assert {p.stem for p in got.files} == set(sources) and len(got.files) == 275
    assert [n for n, _ in seen] == list(range(1, 276))
    assert seen[-1] == (275, 275) or (how == "c-move" and seen[-1][0] == 275)
    for path in got.files[::25]:
        assert_same_instance(path, sources[path.stem])
    assert not list(got.folder.glob(".*.tmp"))
    mtimes = {p: p.stat().st_mtime_ns for p in got.files}
    again = client.retrieve_series(node, study, orthanc.ct_series, tmp_path)
    assert again.reused and {p: p.stat().st_mtime_ns for p in again.files} == mtimes


@pytest.mark.parametrize("how", ["c-get", "wado-rs"])
def test_an_interrupted_retrieve_completes_without_duplicates(
    orthanc: Uploaded, how: str, tmp_path: Path
) -> None:
    node = nodes(orthanc)[how]
    study = str(orthanc.headers[orthanc.ct_series].StudyInstanceUID)
    with pytest.raises(PacsCancelledError) as err:
        client.retrieve_series(
            node, study, orthanc.ct_series, tmp_path, cancel=_after(40, tmp_path / orthanc.ct_series)
        )
    assert "cancelled" in str(err.value) and str(tmp_path / orthanc.ct_series) in str(err.value)
    kept = sorted((tmp_path / orthanc.ct_series).glob("*.dcm"))
    assert 40 <= len(kept) < 275 and not (tmp_path / orthanc.ct_series / MARKER).exists()
    for path in kept:  # every file kept is a whole instance
        assert pydicom.dcmread(path).PixelData
    (tmp_path / orthanc.ct_series / ".junk.dcm.0123.tmp").write_bytes(b"half")
    got = client.retrieve_series(node, study, orthanc.ct_series, tmp_path)
    assert len(got.files) == 275 and len({p.name for p in got.files}) == 275
    assert not list(got.folder.glob(".*.tmp"))


def _after(n: int, folder: Path) -> Callable[[], bool]:
    return lambda: len(list(folder.glob("*.dcm"))) >= n


def test_pacs_get_cli_retrieves_every_series_of_a_study(
    orthanc: Uploaded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sagittal = orthanc.demo.by_key("pre_t1")
    header = orthanc.headers[sagittal.series_uid]
    study = str(header.StudyInstanceUID)
    in_study = {uid for uid, h in orthanc.headers.items() if str(h.StudyInstanceUID) == study}
    assert main(["pacs", "get", orthanc.server.dimse_url, study, "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == in_study
    for uid in in_study:
        names = {p.stem for p in (tmp_path / uid).glob("*.dcm")}
        assert names == {
            str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in orthanc.files[uid]
        }
    out = capsys.readouterr().out
    assert out.count("retrieved in") == len(in_study)


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_find_by_accession_patient_name_and_description(orthanc: Uploaded, kind: str) -> None:
    node = dimse(orthanc) if kind == "dimse" else parse_node_url(orthanc.server.dicomweb)
    ct = orthanc.headers[orthanc.ct_series]
    mr = orthanc.headers[orthanc.mr_series]
    by_accession = client.find(node, StudyQuery(accession_number=str(ct.AccessionNumber)))
    assert [s.study_uid for s in by_accession] == [str(ct.StudyInstanceUID)]
    name = str(mr.PatientName)
    by_name = client.find(node, StudyQuery(patient_name=name[:5] + "*"))
    want = {
        str(h.StudyInstanceUID) for h in orthanc.headers.values() if str(h.PatientName).startswith(name[:5])
    }
    assert {s.study_uid for s in by_name} == want and str(ct.StudyInstanceUID) not in want
    # The demo's post-op study holds one series, so its description is unambiguous (the pre-op
    # study mixes CT and MR series whose StudyDescription differ).
    post = orthanc.headers[orthanc.demo.by_key("post_ct").series_uid]
    description = str(post.StudyDescription)
    found = {s.study_uid: s for s in client.find(node, StudyQuery(study_description=description))}
    assert str(post.StudyInstanceUID) in found
    assert found[str(post.StudyInstanceUID)].description == description
    assert not {str(ct.StudyInstanceUID), str(mr.StudyInstanceUID)} & set(found)


def test_find_text_output_has_a_line_per_study_and_series(
    orthanc: Uploaded, capsys: pytest.CaptureFixture[str]
) -> None:
    ct = orthanc.headers[orthanc.ct_series]
    assert (
        main(
            ["pacs", "find", orthanc.server.dimse_url, "--patient-id", str(ct.PatientID), "--modality", "ct"]
        )
        == 0
    )
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2
    assert lines[0].split() == [
        str(ct.StudyDate),
        str(ct.PatientID),
        "CT",
        "(no",
        "description)",
        str(ct.StudyInstanceUID),
    ]
    assert lines[1].split()[:3] == ["CT", "275", "images"] and lines[1].endswith(orthanc.ct_series)
    assert captured.err == f"1 study on {orthanc.server.dimse_url}\n"


def test_pacs_get_of_an_unknown_study(
    orthanc: Uploaded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pacs", "get", orthanc.server.dicomweb, "1.2.3.4.5.6", "--out", str(tmp_path)]) == 1
    assert "has no study 1.2.3.4.5.6" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
