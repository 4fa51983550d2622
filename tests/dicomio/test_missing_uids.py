"""Files without SeriesInstanceUID / StudyInstanceUID / SOPInstanceUID (missing or empty, as
some anonymisers write them) are grouped by the documented series key and get generated,
stable UIDs (dicomio/grouping.py, docs/cli.md).

The images are 20 consecutive slices of the real LIDC-IDRI CT (every one of its slices names
its own FrameOfReferenceUID, as its anonymiser wrote them) and the real multi-frame MR
``spine-ls.dcm``, blanked with pydicom and with dcmtk's ``dcmodify``; the untouched copies
are the reference for geometry and voxels.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

import main
from dicomio.display_stack import DisplayStack
from dicomio.grouping import generated_uid, split_acquisitions
from dicomio.headers import read_image_header
from dicomio.model import ScanResult, SeriesStack
from dicomio.pixels import load_volume
from dicomio.scan import find_series_files, scan_paths
from dicomio.sr import Coding, SrDocument, SrPatient, SrVertebra, build_sr
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, write_series
from tests.conftest import REALDATA

pytestmark = pytest.mark.realdata

CT = REALDATA / "lidc-idri-0314-ct"
N_SLICES = 20

Edit = Callable[[Dataset, int], None]


def _blank(*keywords: str) -> Edit:
    def edit(ds: Dataset, _: int) -> None:
        for keyword in keywords:
            setattr(ds, keyword, "")

    return edit


BLANK_SERIES_AND_STUDY = _blank("SeriesInstanceUID", "StudyInstanceUID")


@pytest.fixture(scope="module")
def ct_files() -> list[Path]:
    """20 consecutive slices (by position) from the middle of the real CT."""
    if not CT.is_dir():
        pytest.skip("../shared/realdata/lidc-idri-0314-ct is absent")
    files = sorted(CT.iterdir())
    z = {p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in files}
    ordered = sorted(files, key=z.__getitem__)
    middle = len(ordered) // 2
    return ordered[middle - N_SLICES // 2 : middle + N_SLICES // 2]


def _write(
    files: list[Path], folder: Path, edit: Edit | None = None, names: Callable[[int], str] | None = None
) -> Path:
    folder.mkdir(parents=True)
    for i, src in enumerate(files):
        dst = folder / (names(i) if names else src.name)
        if edit is None:
            shutil.copy(src, dst)
        else:
            ds = pydicom.dcmread(src)
            edit(ds, i)
            ds.save_as(dst)
    return folder


@pytest.fixture(scope="module")
def reference(ct_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> SeriesStack:
    (stack,) = scan_paths([_write(ct_files, tmp_path_factory.mktemp("ct") / "untouched")]).stacks
    return stack


@pytest.fixture(scope="module")
def blanked(ct_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(ct_files, tmp_path_factory.mktemp("ct") / "blank", BLANK_SERIES_AND_STUDY)


def _only(result: ScanResult) -> SeriesStack:
    assert result.skipped == []
    assert len(result.stacks) == 1, [s.key for s in result.stacks]
    return result.stacks[0]


def _assert_same_images(stack: SeriesStack, reference: SeriesStack) -> None:
    assert stack.geometry.shape == reference.geometry.shape == (N_SLICES, 512, 512)
    for got, want in zip(stack.geometry.slices, reference.geometry.slices, strict=True):
        assert got == want
    assert [f.sop_instance_uid for f in stack.frames] == [f.sop_instance_uid for f in reference.frames]
    np.testing.assert_array_equal(load_volume(stack), load_volume(reference))


def test_blank_series_and_study_uid_one_stack_same_voxels_and_warnings(
    blanked: Path, reference: SeriesStack
) -> None:
    stack = _only(scan_paths([blanked]))
    _assert_same_images(stack, reference)
    assert stack.generated_series_uid and stack.generated_study_uid and not stack.generated_sop_uids
    assert not (reference.generated_series_uid or reference.generated_study_uid)
    assert stack.series_uid.startswith("2.25.") and stack.study_uid.startswith("2.25.")
    assert stack.series_uid != reference.series_uid and stack.study_uid != reference.study_uid
    assert (stack.series_number, stack.modality, stack.patient_id) == (30026, "CT", "LIDC-IDRI-0314")
    # every slice names its own frame of reference; the stack takes one of them, not None
    assert stack.frame_of_reference_uid in {
        str(pydicom.dcmread(f.path).FrameOfReferenceUID) for f in stack.frames
    }
    series_note, study_note = stack.warnings[:2]
    assert series_note == (
        "No SeriesInstanceUID: these files have none (or an empty one, as some anonymisers write "
        "it). They were grouped by patient, study, modality, series number, description, series "
        f"time, orientation and image size, and given the generated UID {stack.series_uid}, the "
        "same whenever these files are scanned (a case keeps it and finds the series again by it)."
    )
    assert study_note.startswith("No StudyInstanceUID: these files have none (or an empty one); ")
    assert stack.study_uid in study_note
    assert stack.warnings[2:] == reference.warnings == []


def test_sagittal_reformat_of_a_blank_uid_ct_equals_the_untouched(
    blanked: Path, reference: SeriesStack
) -> None:
    stack = _only(scan_paths([blanked]))
    got, want = DisplayStack.for_viewing(stack), DisplayStack.for_viewing(reference)
    assert got.is_reformat and want.is_reformat
    assert got.geometry.slices == want.geometry.slices
    np.testing.assert_array_equal(got.volume(), want.volume())


def test_generated_uids_are_the_same_twice_reversed_and_from_another_folder(
    blanked: Path, tmp_path: Path
) -> None:
    first = _only(scan_paths([blanked]))
    again = _only(scan_paths([blanked], workers=1))
    files = sorted(blanked.iterdir())
    reversed_order = _only(scan_paths(files[::-1]))
    moved = tmp_path / "elsewhere" / "deeper"
    moved.mkdir(parents=True)
    for k, f in enumerate(files[::-1]):  # other names, other order
        shutil.copy(f, moved / f"IM{k:04d}")
    relocated = _only(scan_paths([tmp_path]))
    for other in (again, reversed_order, relocated):
        assert (other.series_uid, other.study_uid) == (first.series_uid, first.study_uid)
        assert other.warnings == first.warnings
    assert [f.geometry for f in relocated.frames] == [f.geometry for f in first.frames]


def test_find_series_files_finds_the_generated_uid(blanked: Path, tmp_path: Path) -> None:
    uid = _only(scan_paths([blanked])).series_uid
    moved = shutil.copytree(blanked, tmp_path / "moved")
    assert find_series_files(moved, {uid}) == {uid: sorted(moved.iterdir())}
    assert find_series_files(moved, {"1.2.3"}) == {}


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("erased", ["-ea", "(0020,000e)", "-ea", "(0020,000d)"]),  # removed
        ("emptied", ["-m", "(0020,000e)=", "-m", "(0020,000d)="]),  # present, zero length
    ],
)
def test_uids_blanked_by_dcmtk_give_the_uid_of_pydicom_blanking(
    ct_files: list[Path], blanked: Path, reference: SeriesStack, tmp_path: Path, name: str, options: list[str]
) -> None:
    exe = shutil.which("dcmodify")
    assert exe is not None, "dcmodify (dcmtk) is not installed; run scripts/setup.sh --dev"
    folder = _write(ct_files, tmp_path / name)
    files = [str(f) for f in sorted(folder.iterdir())]
    done = subprocess.run([exe, "-nb", *options, *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ("SeriesInstanceUID" in ds) == (name == "emptied") and not str(ds.get("SeriesInstanceUID", ""))
    stack = _only(scan_paths([folder]))
    _assert_same_images(stack, reference)
    # missing and empty are the same thing: the UIDs equal those of the pydicom-blanked copy
    expected = _only(scan_paths([blanked]))
    assert (stack.series_uid, stack.study_uid) == (expected.series_uid, expected.study_uid)
    assert stack.generated_series_uid and stack.generated_study_uid


def test_whitespace_uids_count_as_missing(ct_files: list[Path], blanked: Path, tmp_path: Path) -> None:
    def spaces(ds: Dataset, _: int) -> None:
        for keyword in ("SeriesInstanceUID", "StudyInstanceUID"):
            ds[keyword].value = "  "

    with pydicom.config.disable_value_validation():
        folder = _write(ct_files, tmp_path / "spaces", spaces)
    stack = _only(scan_paths([folder]))
    assert stack.series_uid == _only(scan_paths([blanked])).series_uid


def test_two_series_numbers_stay_two_series(ct_files: list[Path], tmp_path: Path) -> None:
    def halves(ds: Dataset, i: int) -> None:
        BLANK_SERIES_AND_STUDY(ds, i)
        ds.SeriesNumber = 1 if i < N_SLICES // 2 else 2

    result = scan_paths([_write(ct_files, tmp_path / "halves", halves)])
    assert result.skipped == []
    assert [(s.series_number, s.n_images) for s in result.stacks] == [(1, 10), (2, 10)]
    assert len({s.series_uid for s in result.stacks}) == 2
    assert len({s.study_uid for s in result.stacks}) == 1  # one study: same patient, date, accession


def test_two_patients_never_merge(ct_files: list[Path], tmp_path: Path) -> None:
    def patient(pid: str) -> Edit:
        def edit(ds: Dataset, i: int) -> None:
            BLANK_SERIES_AND_STUDY(ds, i)
            ds.PatientID = pid

        return edit

    _write(ct_files[:10], tmp_path / "a", patient("A"))
    _write(ct_files[10:], tmp_path / "b", patient("B"))
    result = scan_paths([tmp_path])
    assert sorted((s.patient_id, s.n_images) for s in result.stacks) == [("A", 10), ("B", 10)]
    assert len({s.series_uid for s in result.stacks}) == len({s.study_uid for s in result.stacks}) == 2
    assert len(result.studies) == 2


def test_a_repeated_scan_of_the_same_slices_is_told_apart_by_acquisition_time(
    ct_files: list[Path], tmp_path: Path
) -> None:
    def at(time: str) -> Edit:
        def edit(ds: Dataset, i: int) -> None:
            BLANK_SERIES_AND_STUDY(ds, i)
            ds.AcquisitionTime = time

        return edit

    _write(ct_files[:8], tmp_path / "first", at("101500"))
    _write(ct_files[:8], tmp_path / "repeat", at("103000"))
    result = scan_paths([tmp_path])
    assert [s.n_images for s in result.stacks] == [8, 8]
    assert len({s.series_uid for s in result.stacks}) == 2
    assert {str(pydicom.dcmread(s.frames[0].path).AcquisitionTime) for s in result.stacks} == {
        "101500",
        "103000",
    }
    for s in result.stacks:
        assert (
            "repeats of the same slices were told apart by frame of reference or acquisition time"
            in s.warnings[0]
        )
        assert not any(w.startswith("Duplicate positions") for w in s.warnings)
    # the first scan keeps its UID when the repeat is added to (or removed from) the folder
    (alone,) = scan_paths([tmp_path / "first"]).stacks
    assert alone.series_uid in {s.series_uid for s in result.stacks}


def test_one_time_per_slice_does_not_cut_a_series(ct_files: list[Path], tmp_path: Path) -> None:
    def per_slice(ds: Dataset, i: int) -> None:
        BLANK_SERIES_AND_STUDY(ds, i)
        ds.AcquisitionTime = f"1015{i:02d}.250"  # as scanners stamp each slice

    stack = _only(scan_paths([_write(ct_files, tmp_path / "times", per_slice)]))
    assert stack.n_images == N_SLICES and stack.generated_series_uid


def test_blank_sop_instance_uids_are_generated_distinct_and_stable(
    ct_files: list[Path], reference: SeriesStack, tmp_path: Path
) -> None:
    def no_sop(ds: Dataset, i: int) -> None:
        BLANK_SERIES_AND_STUDY(ds, i)
        ds.SOPInstanceUID = ""
        ds.file_meta.MediaStorageSOPInstanceUID = ""

    folder = _write(ct_files, tmp_path / "nosop", no_sop)
    stack = _only(scan_paths([folder]))
    sops = [f.sop_instance_uid for f in stack.frames]
    assert len(set(sops)) == N_SLICES and all(u.startswith("2.25.") for u in sops)
    assert stack.generated_sop_uids
    assert [f.geometry for f in stack.frames] == [f.geometry for f in reference.frames]
    assert any(w.startswith(f"No SOPInstanceUID: {N_SLICES} file(s) have none") for w in stack.warnings)
    assert not any("occur in more than one file" in w for w in stack.warnings)
    moved = shutil.copytree(folder, tmp_path / "moved")
    assert [f.sop_instance_uid for f in _only(scan_paths([moved])).frames] == sops
    np.testing.assert_array_equal(load_volume(stack), load_volume(reference))


def test_no_geometry_is_still_refused_with_blank_uids(ct_files: list[Path], tmp_path: Path) -> None:
    def no_position(ds: Dataset, i: int) -> None:
        BLANK_SERIES_AND_STUDY(ds, i)
        del ds.ImagePositionPatient

    result = scan_paths([_write(ct_files[:2], tmp_path / "flat", no_position)])
    assert result.stacks == []
    assert [k.reason.split(":")[0] for k in result.skipped] == ["missing geometry"] * 2


def test_spine_ls_multiframe_without_series_uid(spine_ls: Path, tmp_path: Path) -> None:
    (original,) = scan_paths([spine_ls]).stacks
    ds = pydicom.dcmread(spine_ls)
    ds.SeriesInstanceUID = ""
    ds.save_as(tmp_path / "spine.dcm")
    stack = _only(scan_paths([tmp_path]))
    assert stack.n_images == 15 and stack.generated_series_uid and not stack.generated_study_uid
    assert stack.study_uid == original.study_uid
    assert stack.frame_of_reference_uid == original.frame_of_reference_uid
    assert stack.geometry.slices == original.geometry.slices
    series_note, frames_note = stack.warnings
    assert series_note.startswith("No SeriesInstanceUID") and stack.series_uid in series_note
    assert frames_note == original.warnings[0].replace("spine-ls.dcm", "spine.dcm")  # 16 items, 15 frames
    assert (stack.sequence, stack.series_number) == (original.sequence, original.series_number)
    np.testing.assert_array_equal(load_volume(stack), load_volume(original))
    (relocated,) = scan_paths([shutil.copy(tmp_path / "spine.dcm", tmp_path / "other.dcm")]).stacks
    assert relocated.series_uid == stack.series_uid


def test_info_shows_the_generated_uids(blanked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["info", str(blanked), "--json"]) == 0
    (series,) = json.loads(capsys.readouterr().out)["series"]
    assert (series["generated_series_uid"], series["generated_study_uid"], series["generated_sop_uids"]) == (
        True,
        True,
        False,
    )
    assert (
        series["warnings"][0].startswith("No SeriesInstanceUID")
        and series["series_uid"] in series["warnings"][0]
    )
    assert main.main(["info", str(blanked)]) == 0
    text = capsys.readouterr().out
    assert f"[{series['study_uid']} generated]" in text
    assert f"series UID (generated): {series['series_uid']}" in text
    assert "warning: No SeriesInstanceUID" in text and "warning: No StudyInstanceUID" in text


def test_sr_evidence_names_the_generated_uids(ct_files: list[Path], tmp_path: Path) -> None:
    def no_uids(ds: Dataset, i: int) -> None:
        BLANK_SERIES_AND_STUDY(ds, i)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = ""

    stack = _only(scan_paths([_write(ct_files[:3], tmp_path / "ct", no_uids)]))
    header = read_image_header(stack, 1)
    assert (header.StudyInstanceUID, header.SeriesInstanceUID) == (stack.study_uid, stack.series_uid)
    assert (
        header.SOPInstanceUID
        == header.file_meta.MediaStorageSOPInstanceUID
        == stack.frames[1].sop_instance_uid
    )
    assert stack.frame_of_reference_uid is not None
    x, y, z = stack.frames[1].geometry.position_mm
    point = (float(x), float(y), float(z))
    sr = build_sr(
        SrDocument(
            evidence=[header],
            frame_of_reference_uid=stack.frame_of_reference_uid,
            timepoint_id="pre",
            timepoint_kind="pre-op",
            patient=SrPatient(name="", patient_id=stack.patient_id, birth_date=""),
            vertebrae=[
                SrVertebra(
                    level="T7",
                    finding_site=Coding("SCT", "62487009", "T7 vertebra"),
                    landmarks_mm={"sup_ant": point},
                    source_sop_uids=[stack.frames[1].sop_instance_uid],
                )
            ],
        )
    )
    assert sr.StudyInstanceUID == stack.study_uid
    (evidence,) = sr.CurrentRequestedProcedureEvidenceSequence
    (series,) = evidence.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == stack.series_uid
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == stack.frames[1].sop_instance_uid


# -- the recipe, and the split rule, without files ----------------------------------------


def test_the_uid_recipe_never_changes() -> None:
    """A changed recipe would lose every case that keeps a generated UID: pinned."""
    assert generated_uid("series", ["a", "b"]) == generated_uid("series", ["a", "b"])
    assert generated_uid("series", ["a", "b"]) != generated_uid("series", ["ab", ""])
    assert generated_uid("series", ["a"]) != generated_uid("study", ["a"])
    name = '["series","LIDC","","30026"]'  # docs/cli.md: json.dumps([KIND, *PARTS], separators=(",", ":"))
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:endplate:dicomio:generated-uid")
    assert generated_uid("series", ["LIDC", "", "30026"]) == f"2.25.{uuid.uuid5(namespace, name).int}"
    assert generated_uid("series", ["LIDC", "", "30026"]) == "2.25.127219028674743287732904366245534866635"


def test_the_series_key_of_the_real_ct_never_changes(blanked: Path) -> None:
    """The whole key (which values, in which order) pinned on the real CT."""
    stack = _only(scan_paths([blanked]))
    study = generated_uid("study", ["LIDC-IDRI-0314", "", "", "20000101", "", "2819497684894126", "", ""])
    key = [
        "LIDC-IDRI-0314",
        "",
        study,
        "20000101",
        "CT",
        "30026",
        "",
        "20000101",
        "",
        "1.000,0.000,0.000,0.000,1.000,0.000",
        "512x512",
    ]
    assert stack.study_uid == study
    assert stack.series_uid == generated_uid(
        "series", [*key, "", "20000101"]
    )  # no shared FoR; AcquisitionDateTime
    assert (stack.study_uid, stack.series_uid) == (
        "2.25.140468488984278049308519164907586968009",
        "2.25.193444656065027643310215303678442812413",
    )


def test_synthetic_series_with_blank_uids_stay_apart_and_keep_each_geometry(tmp_path: Path) -> None:
    g = axial_geometry(6, 8, 8, (0.7, 0.7), 2.0, (0.0, 0.0, -100.0))
    blank = {"SeriesInstanceUID": "", "StudyInstanceUID": ""}
    for number, folder in ((3, "bone"), (4, "soft")):
        spec = SeriesSpec(description=folder.upper(), series_number=number, extra=dict(blank))
        write_series(tmp_path / folder, np.zeros(g.shape), g, spec)
    stacks = scan_paths([tmp_path]).stacks
    assert [(s.description, s.n_images) for s in stacks] == [("BONE", 6), ("SOFT", 6)]
    assert all(s.geometry.slices == g.slices and s.generated_series_uid for s in stacks)
    assert len({s.series_uid for s in stacks}) == 2


def test_split_acquisitions_needs_repeats_of_the_same_slices(reference: SeriesStack) -> None:
    from dicomio.assemble import FrameCandidate

    cands = [FrameCandidate(f, reference.pixel_format) for f in reference.frames]
    one_each = [(("for", f"t{i}"), [c]) for i, c in enumerate(cands)]
    assert split_acquisitions(one_each) == [list(range(N_SLICES))]
    by_rotation = [(("for", f"t{i // 4}"), [c]) for i, c in enumerate(cands)]  # 4 slices a rotation
    assert split_acquisitions(by_rotation) == [list(range(N_SLICES))]
    repeated = [(("for", "t0"), [c]) for c in cands[:5]] + [(("for", "t1"), [c]) for c in cands[:5]]
    assert split_acquisitions(repeated) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    partly = [*repeated, (("for", "t1"), [cands[7]])]  # the repeat reaches a slice the first lacks
    assert split_acquisitions(partly) == [list(range(11))]
    per_for = [((f"for{i % 2}", "t"), [c]) for i, c in enumerate(cands[:4] + cands[:4])]
    assert split_acquisitions(per_for) == [list(range(8))]  # same FoR value at one position twice
