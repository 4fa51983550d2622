"""Export runs: inputs never overwritten (issue 14 #1), all-or-nothing SR (#11), streaming (issue 15).

Real files in ``tmp_path`` (a copy of the small demo case); truth from the files themselves
(their bytes before the export), plain ``csv``/``json`` and pydicom.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pydicom
import pytest

from main import main
from measure.casefile import backup_path, load_case
from session.case_images import CaseImages
from session.export_images import ExportImages
from session.export_run import export_cases


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_case import ensure_demo_case

    return ensure_demo_case(tmp_path_factory.mktemp("export_run_demo"), small=True).parent


@pytest.fixture
def case_file(demo_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the demo case and its images (so a test may damage them)."""
    shutil.copytree(demo_folder, tmp_path / "demo")
    return tmp_path / "demo" / "demo-case.json"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- issue 14 #1: an output that is an input is refused, whatever --force says ----------


@pytest.mark.parametrize("fmt", ["csv", "json", "fhir", "pdf"])
def test_cli_refuses_the_case_file_as_output_even_with_force(
    case_file: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = case_file.read_bytes()
    status = main(["export", str(case_file), "--format", fmt, "--out", str(case_file), "--force"])
    err = capsys.readouterr().err
    assert status == 2
    assert "never overwrites its input" in err and "case file" in err
    assert len([line for line in err.splitlines() if line]) == 1
    assert case_file.read_bytes() == before
    assert not list(case_file.parent.glob(".*.tmp"))


def test_refuses_the_case_file_spelt_another_way(case_file: Path) -> None:
    before = case_file.read_bytes()
    other_spelling = case_file.parent / "." / ".." / case_file.parent.name / case_file.name
    summary = export_cases([case_file], "csv", other_spelling, force=True)
    assert summary.exit_status == 2 and summary.error is not None
    assert case_file.read_bytes() == before


def test_refuses_the_backup_of_the_case_file(case_file: Path) -> None:
    backup = backup_path(case_file)
    backup.write_bytes(b'{"previous": "version"}')
    before, before_backup = case_file.read_bytes(), backup.read_bytes()
    summary = export_cases([case_file], "json", backup, force=True)
    assert summary.exit_status == 2
    assert summary.error is not None and "backup" in summary.error
    assert backup.read_bytes() == before_backup and case_file.read_bytes() == before


def test_refuses_a_dicom_source_file(case_file: Path) -> None:
    source = sorted((case_file.parent / "images" / "pre_t1").glob("*.dcm"))[0]
    before = source.read_bytes()
    summary = export_cases([case_file], "csv", source, force=True)
    assert summary.exit_status == 2
    assert summary.error is not None and "DICOM source file" in summary.error
    assert source.read_bytes() == before
    assert pydicom.dcmread(source).Modality == "MR"  # still the image it was


def test_refuses_a_dicom_source_folder_for_the_sr(case_file: Path) -> None:
    folder = case_file.parent / "images" / "pre_t1"
    before = _files(folder)
    summary = export_cases([case_file], "sr", folder, force=True)
    assert summary.exit_status == 2
    assert summary.error is not None and "DICOM source" in summary.error
    assert _files(folder) == before


def test_refuses_a_hard_link_to_the_case_file(case_file: Path, tmp_path: Path) -> None:
    link = tmp_path / "elsewhere.csv"
    link.hardlink_to(case_file)
    before = case_file.read_bytes()
    summary = export_cases([case_file], "csv", link, force=True)
    assert summary.exit_status == 2
    assert case_file.read_bytes() == before


def test_an_ordinary_output_with_force_is_still_written(case_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.csv"
    out.write_text("old\n", encoding="utf-8")
    summary = export_cases([case_file], "csv", out, force=True)
    assert summary.exit_status == 0
    assert out.read_text(encoding="utf-8").startswith("case_id,")


# -- issue 14 #11: multi-file exports are all-or-nothing ---------------------------------


def test_sr_failing_on_the_second_file_leaves_nothing_and_keeps_earlier_files(
    case_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sr"
    first = export_cases([case_file], "sr", out)
    assert first.exit_status == 0 and len(first.written) == 2
    names = [p.name for p in first.written]  # in the order they are written
    assert names[0].endswith("pre-op.dcm") and names[1].endswith("post-op.dcm")
    earlier = _files(out)
    # Replace the later file by a folder: writing it fails after the first SR was made.
    victim = out / names[1]
    victim.unlink()
    victim.mkdir()
    (victim / "keep.txt").write_text("x", encoding="utf-8")
    earlier_now = _files(out)
    again = export_cases([case_file], "sr", out, force=True)
    assert again.exit_status == 2
    assert again.error is not None and "nothing was exported" in again.error
    assert again.written == [] and again.exported == []
    assert _files(out) == earlier_now  # the first SR still has its earlier bytes
    assert (out / names[0]).read_bytes() == earlier[names[0]]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_atomic_batch_commit_failing_halfway_puts_back_what_it_replaced(tmp_path: Path) -> None:
    from dicomio.atomic import AtomicBatch

    a, b, c = tmp_path / "a.dcm", tmp_path / "b.dcm", tmp_path / "c.dcm"
    a.write_bytes(b"old a")
    batch = AtomicBatch(overwrite=True)
    batch.add(a, b"new a")
    batch.add(b, b"new b")
    batch.add(c, b"new c")
    c.mkdir()  # appears before the commit: renaming onto a non-empty folder fails
    (c / "inside").write_bytes(b"")
    with pytest.raises(OSError):
        batch.commit()
    assert a.read_bytes() == b"old a"
    assert not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm", "c.dcm"]


# -- issue 15: streaming, folders scanned once, validation kept --------------------------


def test_many_cases_stream_to_the_same_rows_as_one(case_file: Path, tmp_path: Path) -> None:
    data = json.loads(case_file.read_text(encoding="utf-8"))
    copies = []
    for i in range(3):
        copy = case_file.parent / f"copy{i}.json"
        copy.write_text(json.dumps({**data, "case_id": f"copy-{i}"}), encoding="utf-8")
        copies.append(copy)
    one = tmp_path / "one.csv"
    many = tmp_path / "many.csv"
    assert export_cases([case_file], "csv", one).exit_status == 0
    assert export_cases(copies, "csv", many).exit_status == 0
    single = list(csv.DictReader(io.StringIO(one.read_text(encoding="utf-8"), newline="")))
    rows = list(csv.DictReader(io.StringIO(many.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == 3 * len(single) > 0
    for i in range(3):
        mine = [r for r in rows if r["case_id"] == f"copy-{i}"]
        assert [{**r, "case_id": ""} for r in mine] == [{**r, "case_id": ""} for r in single]
    fhir = tmp_path / "many.fhir.json"
    assert export_cases(copies, "fhir", fhir).exit_status == 0
    bundle = json.loads(fhir.read_text(encoding="utf-8"))
    patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 3


def test_an_export_run_scans_each_folder_once(case_file: Path) -> None:
    case = load_case(case_file)
    run = ExportImages()
    first = run.case_images(case)
    second = run.case_images(load_case(case_file))
    folders = {str(case.series_path(ref.series_uid).resolve()) for ref in case.series}
    assert sorted(run.scanned_paths) == sorted(folders)  # each once, none twice
    alone = CaseImages(load_case(case_file))  # a plain scan of its own
    for images in (first, second):
        assert sorted(s.key for s in images.stacks) == sorted(s.key for s in alone.stacks)
        for stack in alone.stacks:
            mine = images.stack(stack.key)
            assert mine is not None
            assert [f.path for f in mine.frames] == [f.path for f in stack.frames]


def test_a_folder_changed_during_the_run_is_scanned_again(case_file: Path) -> None:
    case = load_case(case_file)
    run = ExportImages()
    run.case_images(case)
    n = len(run.scanned_paths)
    folder = case_file.parent / "images" / "pre_t1"
    extra = folder / "zz-copy.dcm"
    shutil.copy(sorted(folder.glob("*.dcm"))[0], extra)  # a new entry changes the folder's mtime
    run.case_images(load_case(case_file))
    assert run.scanned_paths[n:] == [str(folder.resolve())]


def test_entries_of_a_known_shape_still_have_their_values_checked() -> None:
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    from measure.export.fhir_export import EntryValidator

    def entry(date: str) -> dict[str, object]:
        return {
            "fullUrl": "urn:uuid:8e3c8f0e-2f9f-4a39-9d1f-0d8c8a6b9a11",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "height"},
                "effectiveDateTime": date,
                "valueQuantity": {"value": 12.5, "unit": "mm"},
            },
        }

    validator = EntryValidator()
    validator.check(entry("2024-03-01"))
    validator.check(entry("2024-05-07"))
    assert validator.validated == 1 and validator.checked == 2
    bad = entry("2024-13-45")
    with pytest.raises(ValidationError):  # the FHIR model itself refuses it (the truth)
        Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": [bad]})
    with pytest.raises(ValueError, match="effectiveDateTime"):
        validator.check(bad)
    nan = entry("2024-03-01")
    nan["resource"]["valueQuantity"]["value"] = float("nan")  # type: ignore[index]
    with pytest.raises(ValueError, match="finite"):
        validator.check(nan)
    unknown = entry("2024-03-01")
    unknown["resource"]["colour"] = "blue"  # type: ignore[index]
    with pytest.raises(ValueError, match="FHIR R4B"):
        validator.check(unknown)  # a new shape: validated by the model, which refuses it


def test_the_fast_value_check_agrees_with_the_one_that_names_the_value() -> None:
    """EntryValidator checks values and takes the shape in one walk without paths
    (_checked_shape); its verdict must be _check_values' (which raises naming the value) for
    every kind of value, and its shape _shape's."""
    from measure.export.fhir_export import _check_values, _checked_shape, _shape

    samples: list[object] = [
        {"effectiveDateTime": "2024-03-01"},
        {"effectiveDateTime": "2024-13-45"},
        {"birthDate": "1950"},
        {"code": "a  b"},
        {"fullUrl": "urn:uuid:x y"},
        {"text": ""},
        {"value": 2**31},
        {"value": -(2**31)},
        {"value": True},
        {"value": float("inf")},
        {"value": 1.5},
        {"value": None},
        {"list": [{"status": "final"}, {"status": ""}]},
        {"list": [[{"reference": "Patient/1"}]]},
    ]
    verdicts = []
    for sample in samples:
        try:
            _check_values(sample, "entry")
            named_ok = True
        except ValueError:
            named_ok = False
        shape = _checked_shape(sample)
        assert (shape is not None) == named_ok, sample
        assert shape is None or shape == _shape(sample)
        verdicts.append(named_ok)
    assert verdicts.count(False) == 7  # the empty text, bad date/code/url, 2**31, inf, empty status
