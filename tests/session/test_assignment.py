"""Which timepoint a series joins and the reference the case keeps (session.assignment)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dicomio.display_stack import DisplayStack
from dicomio.scan import scan_paths
from dicomio.synthetic.demo import DemoManifest
from measure.case import Case, SeriesRef, Timepoint
from session.assignment import (
    default_assignment,
    new_timepoint_id,
    plan_assignment,
    series_path,
    series_ref_from_stack,
)


def _case(*timepoints: Timepoint) -> Case:
    case = Case()
    for tp in timepoints:
        case.add_timepoint(tp)
    return case


def test_new_timepoint_ids_are_unique_per_kind() -> None:
    case = _case(Timepoint("follow-up", "follow-up", "2026-05-01"), Timepoint("follow-up-2", "follow-up"))
    assert new_timepoint_id(case, "pre-op") == "pre-op"
    assert new_timepoint_id(case, "follow-up") == "follow-up-3"


@pytest.mark.parametrize(
    ("timepoints", "study_date", "expected"),
    [
        ((), "20260302", ("pre-op", "2026-03-02")),  # the first series is the pre-op
        ((), None, ("pre-op", None)),
        ((Timepoint("pre-op", "pre-op", "2026-03-02"),), "20260302", ("pre-op", "2026-03-02")),
        ((Timepoint("pre-op", "pre-op", "2026-03-02"),), "20260601", ("follow-up", "2026-06-01")),
        # Same day as the post-op: joins it; post-op itself is never guessed.
        (
            (Timepoint("pre-op", "pre-op", "2026-03-02"), Timepoint("post-op", "post-op", "2026-03-10")),
            "20260310",
            ("post-op", "2026-03-10"),
        ),
        ((Timepoint("pre-op", "pre-op", "2026-03-02"),), "2026", ("follow-up", None)),  # not a DA
    ],
)
def test_default_assignment(
    timepoints: tuple[Timepoint, ...], study_date: str | None, expected: tuple
) -> None:
    assert default_assignment(_case(*timepoints), study_date) == expected


def test_plan_reuses_a_timepoint_of_the_kind_and_fills_in_its_date() -> None:
    case = _case(Timepoint("pre-op", "pre-op"))
    ref = SeriesRef("1.2.3", "", "/data/ct")
    plan = plan_assignment(case, "pre-op", "2026-03-02", ref)
    assert plan.timepoint_id == "pre-op" and plan.add_timepoint is None
    assert plan.update_timepoint == Timepoint("pre-op", "pre-op", "2026-03-02")
    assert plan.series == SeriesRef("1.2.3", "pre-op", "/data/ct")


def test_a_follow_up_of_another_date_is_a_new_timepoint() -> None:
    case = _case(Timepoint("follow-up", "follow-up", "2026-05-01"))
    plan = plan_assignment(case, "follow-up", "2026-09-01", SeriesRef("1.2.3", "", "/x"))
    assert plan.add_timepoint == Timepoint("follow-up-2", "follow-up", "2026-09-01")
    assert plan.timepoint_id == "follow-up-2" and plan.series.timepoint == "follow-up-2"
    same = plan_assignment(case, "follow-up", "2026-05-01", SeriesRef("1.2.4", "", "/y"))
    assert same.add_timepoint is None and same.update_timepoint is None and same.timepoint_id == "follow-up"


def test_the_reference_keeps_the_displayed_geometry(demo_set: DemoManifest) -> None:
    """An axial CT is measured on its sagittal reformat: the case keeps the reformat's
    orientation and pixel spacing (the uncertainty's one pixel), not the axial ones."""
    axial = demo_set.by_key("axial_ct")
    stack = scan_paths([axial.folder]).stack(axial.series_uid)
    display = DisplayStack.for_viewing(stack)
    assert display.is_reformat
    ref = series_ref_from_stack(
        stack, stack.series_uid, "pre-op", display_geometry=display.geometry, reformat=True
    )
    first = display.geometry.first
    assert ref.reformat and ref.path == str(axial.folder.absolute())
    assert ref.orientation == pytest.approx(tuple(first.orientation))
    # A sagittal reformat: rows run superior-inferior, columns anterior-posterior (no x).
    row_cos, col_cos = np.array(ref.orientation[:3]), np.array(ref.orientation[3:])
    assert abs(row_cos[0]) < 1e-9 and abs(col_cos[0]) < 1e-9
    assert ref.pixel_spacing_mm == pytest.approx(tuple(first.pixel_spacing_mm))
    own = series_ref_from_stack(stack, stack.series_uid, "pre-op")
    assert own.orientation == pytest.approx(tuple(axial.geometry.first.orientation)) and not own.reformat


def test_a_series_not_scanned_keeps_its_reference_or_is_refused() -> None:
    existing = SeriesRef("1.2.3", "pre-op", "/gone", "SAG CT", "CT")
    moved = series_ref_from_stack(None, "1.2.3", "post-op", existing=existing)
    assert moved.timepoint == "post-op" and moved.path == "/gone" and moved.description == "SAG CT"
    with pytest.raises(ValueError, match=r"series 9\.9 is neither scanned nor in the case"):
        series_ref_from_stack(None, "9.9", "pre-op")


def test_a_one_file_series_is_kept_as_that_file(spine_ls: Path) -> None:
    """The real MR is one file beside a 275-slice CT folder: the case points at the file,
    so reopening reads one file instead of scanning the CT's folder too."""
    (stack,) = scan_paths([spine_ls]).stacks
    assert series_path(stack) == str(spine_ls.absolute())
    assert [s.series_uid for s in scan_paths([Path(series_path(stack))]).stacks] == [stack.series_uid]


def test_a_series_split_over_folders_is_kept_as_their_common_folder(
    demo_set: DemoManifest, tmp_path: Path
) -> None:
    pre = demo_set.by_key("pre_ct")
    files = sorted(pre.folder.iterdir())
    root = tmp_path / "export"
    for i, f in enumerate(files):
        target = root / "disk1" / ("a" if i % 2 else "b") / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    stack = scan_paths([root]).stack(pre.series_uid)
    assert series_path(stack) == str((root / "disk1").absolute())
    assert series_path(scan_paths([pre.folder]).stack(pre.series_uid)) == str(pre.folder.absolute())
