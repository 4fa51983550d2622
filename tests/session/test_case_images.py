"""A case's images through the session: scanned once, sources for the SR, key images for the PDF."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic.demo import DemoManifest
from measure.case import Case, SeriesRef, Timepoint
from measure.export.key_images import KeyImage
from measure.landmarks import Landmark
from session.case_images import CaseImages


def _truth(demo_set: DemoManifest) -> dict:
    return json.loads(demo_set.ground_truth_path.read_text(encoding="utf-8"))


def _case_on(demo_set: DemoManifest, key: str, with_sops: bool = True) -> Case:
    """A pre-op case whose T12-L2 landmarks (the phantom's truth) sit on series ``key``."""
    series = demo_set.by_key(key)
    case = Case("C1")
    case.add_timepoint(Timepoint("pre", "pre-op", "2026-03-02"))
    case.assign_series(
        SeriesRef(series.series_uid, "pre", str(series.folder), series.description, series.modality)
    )
    points = _truth(demo_set)["series"][series.series_uid]["landmarks"]
    for level in ("T12", "L1", "L2"):
        landmarks = {
            k: Landmark(
                tuple(p["position_mm"]), series.series_uid, p["sop_instance_uid"] if with_sops else None
            )
            for k, p in points[level].items()
        }
        case.add_vertebra("pre", level, "fractured" if level == "L1" else "reference", landmarks)
    return case


def _grey_by_hand(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """The viewer's mapping of a window to 0..255 (linear, clipped), written out here."""
    return np.clip((values.astype(np.float64) - (center - width / 2)) / width * 255.0, 0, 255)


def test_the_key_image_is_the_measured_slice_in_the_screen_window(demo_set: DemoManifest) -> None:
    ct = demo_set.by_key("pre_ct")
    images = CaseImages(_case_on(demo_set, "pre_ct"))
    key = images.key_image("pre")
    assert isinstance(key, KeyImage)
    points = _truth(demo_set)["series"][ct.series_uid]["landmarks"]
    (k,) = {p["slice_index"] for lv in ("T12", "L1", "L2") for p in points[lv].values()}  # the midline
    stack = scan_paths([ct.folder]).stack(ct.series_uid)
    assert key.geometry == stack.geometry.slices[k]
    # The file's own window (the demo writes WindowCenter 400, WindowWidth 1800) is the default.
    expected = _grey_by_hand(load_volume(stack)[k], 400.0, 1800.0)
    assert np.abs(key.grey.astype(float) - expected).max() <= 1.0
    assert key.grey.max() > 150 and key.grey.min() < 50  # cortical bone and air both there
    assert sorted(key.landmarks) == ["L1", "L2", "T12"] and all(len(v) == 6 for v in key.landmarks.values())
    assert key.caption.startswith("CT SAG BONE") and "file window" in key.caption


def test_landmarks_on_an_axial_cts_reformat_give_a_reformatted_key_image(demo_set: DemoManifest) -> None:
    axial = demo_set.by_key("axial_ct")
    images = CaseImages(_case_on(demo_set, "axial_ct", with_sops=False))
    key = images.key_image("pre")
    assert isinstance(key, KeyImage), key
    assert "sagittal reformat" in key.caption
    # A sagittal slice (its normal along x) through the landmarks (all at the phantom's midline).
    assert abs(float(key.geometry.normal[0])) == pytest.approx(1.0)
    xs = {round(lm.position_mm[0], 6) for v in key.landmarks.values() for lm in v.values()}
    assert len(xs) == 1
    slice_x = float(key.geometry.position_mm[0])
    assert abs(slice_x - xs.pop()) <= axial.geometry.first.pixel_spacing_mm[1] / 2 + 1e-6
    assert sorted(key.landmarks) == ["L1", "L2", "T12"]


def test_sources_and_missing_series(demo_set: DemoManifest, tmp_path: Path) -> None:
    case = _case_on(demo_set, "pre_ct")
    ct = demo_set.by_key("pre_ct")
    gone = SeriesRef("1.2.826.0.1.99", "pre", str(tmp_path / "moved"), "SAG T2", "MR")
    empty = tmp_path / "empty"
    empty.mkdir()
    elsewhere = SeriesRef("1.2.826.0.1.98", "pre", str(empty), "SAG STIR", "MR")
    case.assign_series(gone)
    case.assign_series(elsewhere)
    images = CaseImages(case)
    assert images.missing_series == [
        f"the images of series 1.2.826.0.1.99 are not at {tmp_path / 'moved'} (moved or deleted)",
        f"no image of series 1.2.826.0.1.98 was found under {empty}",
    ]
    assert images.missing_paths == {"pre": [str(tmp_path / "moved")]}
    sop = ct.sop_instance_uids[3]
    source = images.image(sop)
    assert source is not None and str(source.header.SOPInstanceUID) == sop and source.path == ct.files[3]
    assert "PixelData" not in source.header  # a header only
    assert images.image("1.2.3.4.5") is None
    first = images.first_image(ct.series_uid)
    assert first is not None and first.path == min(ct.files, key=str)
    assert images.study_uid_of(["1.2.826.0.1.99", ct.series_uid]) == ct.study_uid
    case.add_timepoint(Timepoint("fu", "follow-up", "2026-09-01"))
    assert images.key_image("fu") == "no landmarks at this timepoint"
