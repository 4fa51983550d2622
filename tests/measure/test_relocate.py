"""A moved series is found again by its SeriesInstanceUID."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from measure.case import Case, SeriesRef, Timepoint
from measure.casefile import load_case, save_case
from measure.events import CaseEvent
from measure.relocate import apply_relocation, find_series, missing_series, series_location

PRE_UID = "1.2.826.0.1.3680043.10.999.1"
POST_UID = "1.2.826.0.1.3680043.10.999.2"
OTHER_UID = "1.2.826.0.1.3680043.10.999.3"


def _write(folder: Path, uid: str, *, multiframe: bool = False) -> list[Path]:
    geometry = sagittal_geometry(3, 8, 6, pixel_spacing_mm=(0.7, 0.5))
    volume = np.zeros((3, 8, 6), dtype=np.int16)
    return write_series(
        folder, volume, geometry, SeriesSpec(series_uid=uid), multiframe=multiframe, shuffle_names=True
    )


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, Case]:
    """A saved case whose pre-op series is a folder of files and post-op one multi-frame file."""
    root = tmp_path / "study"
    _write(root / "pre_ct", PRE_UID)
    post_files = _write(root / "post_ct", POST_UID, multiframe=True)
    _write(root / "unrelated", OTHER_UID)
    (root / "notes.txt").write_text("not DICOM", encoding="utf-8")
    case = Case()
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-01"))
    case.add_timepoint(Timepoint("post", "post-op", "2026-03-03"))
    case.assign_series(SeriesRef(PRE_UID, "pre", str(root / "pre_ct")))
    case.assign_series(SeriesRef(POST_UID, "post", str(post_files[0])))
    cases = tmp_path / "cases"
    cases.mkdir()
    save_case(case, cases / "case.json")
    return root, case


def test_moved_series_are_found_by_uid(tmp_path: Path, study: tuple[Path, Case]) -> None:
    root, _ = study
    case_path = tmp_path / "cases" / "case.json"
    archive = tmp_path / "archive" / "2026" / "renamed"
    shutil.move(str(root), str(archive))

    case = load_case(case_path)
    assert {r.series_uid for r in missing_series(case)} == {PRE_UID, POST_UID}
    found = find_series(case, tmp_path / "archive")
    post_file = next((archive / "post_ct").iterdir())
    assert found == {PRE_UID: archive / "pre_ct", POST_UID: post_file}  # OTHER_UID is not the case's

    events: list[CaseEvent] = []
    case.subscribe(events.append)
    previous = apply_relocation(case, found)
    assert len(events) == 1 and events[0].kind == "batch"  # one event for the whole relocation
    assert set(previous) == {PRE_UID, POST_UID}
    assert missing_series(case) == []
    assert case.series_path(PRE_UID) == archive / "pre_ct"
    assert case.dirty

    save_case(case, case_path)  # stored relative again where possible
    assert load_case(case_path).series_path(POST_UID).resolve() == post_file.resolve()
    # Applying the same result again changes nothing.
    assert apply_relocation(case, found) == {}


def test_a_series_that_is_nowhere_is_simply_not_in_the_result(
    tmp_path: Path, study: tuple[Path, Case]
) -> None:
    root, case = study
    shutil.rmtree(root / "pre_ct")
    found = find_series(case, root)
    assert set(found) == {POST_UID}


def test_find_series_needs_an_existing_folder(tmp_path: Path) -> None:
    case = Case()
    with pytest.raises(ValueError, match="no such folder"):
        find_series(case, tmp_path / "absent")


def test_series_location_is_the_deepest_common_folder(tmp_path: Path) -> None:
    a = tmp_path / "s" / "x" / "1.dcm"
    b = tmp_path / "s" / "y" / "2.dcm"
    assert series_location([a, b]) == tmp_path / "s"
    assert series_location([a]) == a
    assert series_location([a, tmp_path / "s" / "x" / "3.dcm"]) == tmp_path / "s" / "x"
