"""Folder scan on synthetic series written with exact, known geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from dicomio.geometry import StackGeometry
from dicomio.model import SeriesStack
from dicomio.scan import find_series_files, scan_file, scan_paths
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series

SPACING = (0.5, 0.8)


def _volume(shape: tuple[int, int, int], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3000, size=shape).astype(float)


def _assert_same_geometry(stack: SeriesStack, truth: StackGeometry) -> None:
    assert stack.geometry.shape == truth.shape
    for got, want in zip(stack.geometry.slices, truth.slices, strict=True):
        np.testing.assert_allclose(got.position_mm, want.position_mm, atol=1e-9)
        np.testing.assert_allclose(got.orientation, want.orientation, atol=1e-12)
        assert got.pixel_spacing_mm == want.pixel_spacing_mm


def _only_stack(folder: Path) -> SeriesStack:
    result = scan_paths([folder])
    assert result.skipped == []
    assert len(result.stacks) == 1
    return result.stacks[0]


def test_shuffled_names_and_reversed_instance_numbers_sort_by_position(tmp_path: Path) -> None:
    g = sagittal_geometry(7, 12, 10, SPACING, 3.3, (4.0, -50.0, 20.0), oblique_deg=4.0)
    vol = _volume(g.shape)
    paths = write_series(
        tmp_path, vol, g, SeriesSpec(modality="MR"), shuffle_names=True, reverse_instance_numbers=True, seed=5
    )
    stack = _only_stack(tmp_path)
    _assert_same_geometry(stack, g)
    assert [f.path for f in stack.frames] == paths  # paths are returned in slice order
    assert [f.instance_number for f in stack.frames] == [7, 6, 5, 4, 3, 2, 1]
    assert stack.n_images == 7
    assert stack.geometry.slice_spacing_mm == pytest.approx(3.3)
    assert stack.geometry.first.pixel_spacing_mm == (0.5, 0.8)
    assert (stack.plane, stack.anterior, stack.superior) == ("sagittal", "left", "up")
    assert stack.warnings == []


def test_native_pixel_offsets_point_at_each_slice(tmp_path: Path) -> None:
    g = axial_geometry(3, 6, 5, SPACING, 2.0)
    vol = _volume(g.shape) - 1000
    write_series(tmp_path, vol, g, SeriesSpec(modality="CT", rescale_intercept=-1024))
    stack = _only_stack(tmp_path)
    assert stack.pixel_format.transfer_syntax_uid == ExplicitVRLittleEndian
    assert (stack.pixel_format.rescale_slope, stack.pixel_format.rescale_intercept) == (1.0, -1024.0)
    assert stack.pixel_format.pixel_representation == 1
    for k, frame in enumerate(stack.frames):
        assert frame.pixel_nbytes == 6 * 5 * 2
        with frame.path.open("rb") as fp:
            fp.seek(frame.pixel_offset)
            raw = np.frombuffer(fp.read(frame.pixel_nbytes), dtype="<i2").reshape(6, 5)
        np.testing.assert_array_equal(raw.astype(float) - 1024, vol[k])


def test_multiframe_out_of_order_with_extra_item(tmp_path: Path) -> None:
    g = sagittal_geometry(6, 8, 7, SPACING, 4.0, (0.0, 10.0, 10.0), anterior_on_right=True)
    vol = _volume(g.shape)
    order = [5, 2, 0, 4, 1, 3]
    spec = SeriesSpec(modality="MR", description="SAG T2", rescale_slope=1.0, rescale_intercept=0.0)
    (path,) = write_series(
        tmp_path, vol, g, spec, multiframe=True, frame_order=order, extra_per_frame_item=True
    )
    stack = _only_stack(tmp_path)
    _assert_same_geometry(stack, g)
    # slice k is stored as frame order.index(k)
    assert [f.frame_index for f in stack.frames] == [order.index(k) for k in range(6)]
    assert stack.anterior == "right"
    assert any("7 items for 6 frames" in w for w in stack.warnings)
    for k, frame in enumerate(stack.frames):
        with path.open("rb") as fp:
            fp.seek(frame.pixel_offset)
            raw = np.frombuffer(fp.read(frame.pixel_nbytes), dtype="<u2").reshape(8, 7)
        np.testing.assert_array_equal(raw, vol[k])


def test_secondary_capture_multiframe_and_rescale_from_groups(tmp_path: Path) -> None:
    g = sagittal_geometry(4, 8, 8, SPACING, 3.0, oblique_deg=4.0)
    vol = _volume(g.shape)
    sc = tmp_path / "sc"
    write_series(sc, vol, g, SeriesSpec(modality="MR", window_center=900, window_width=1800), multiframe=True,
                 multiframe_kind="sc", compression="jpeg-ls")  # fmt: skip
    stack = _only_stack(sc)
    _assert_same_geometry(stack, g)
    assert stack.pixel_format.transfer_syntax_uid == JPEGLSLossless
    assert all(f.pixel_offset is None for f in stack.frames)
    assert [(w.center, w.width) for w in stack.windows] == [(900.0, 1800.0)]

    ct = tmp_path / "ct"
    spec = SeriesSpec(modality="CT", rescale_slope=2.0, rescale_intercept=-1024.0)
    write_series(ct, 2 * _volume(g.shape), g, spec, multiframe=True)
    stack = _only_stack(ct)
    assert stack.attributes["SOPClassUID"] == pydicom.uid.EnhancedCTImageStorage
    assert (stack.pixel_format.rescale_slope, stack.pixel_format.rescale_intercept) == (2.0, -1024.0)
    assert [w.name for w in stack.windows] == ["CT bone", "CT soft tissue"]


def test_rle_and_monochrome1(tmp_path: Path) -> None:
    g = axial_geometry(3, 8, 8, SPACING, 2.0, feet_first=True)
    write_series(
        tmp_path, _volume(g.shape), g, SeriesSpec(modality="MR"), compression="rle", monochrome1=True
    )
    stack = _only_stack(tmp_path)
    _assert_same_geometry(stack, g)
    assert stack.pixel_format.transfer_syntax_uid == RLELossless
    assert stack.pixel_format.photometric == "MONOCHROME1"
    assert all(f.pixel_offset is None and f.pixel_nbytes is None for f in stack.frames)


@pytest.mark.parametrize(
    ("kwargs", "anterior", "superior"),
    [
        ({}, "left", "up"),
        ({"anterior_on_right": True}, "right", "up"),
        ({"feet_first": True}, "left", "down"),
        ({"anterior_on_right": True, "feet_first": True, "oblique_deg": 12.0}, "right", "down"),
    ],
)
def test_orientation_variants(tmp_path: Path, kwargs: dict, anterior: str, superior: str) -> None:
    g = sagittal_geometry(4, 9, 11, SPACING, 3.0, (1.0, 2.0, 3.0), **kwargs)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec(modality="CT"), shuffle_names=True)
    stack = _only_stack(tmp_path)
    _assert_same_geometry(stack, g)
    assert (stack.plane, stack.anterior, stack.superior) == ("sagittal", anterior, superior)
    assert stack.geometry.first.rows == 9 and stack.geometry.first.columns == 11


def test_two_series_and_attributes(tmp_path: Path) -> None:
    study = pydicom.uid.generate_uid()
    g = sagittal_geometry(3, 6, 6, SPACING, 3.0)
    stir = SeriesSpec(
        modality="MR",
        description="SAG STIR",
        study_uid=study,
        series_number=3,
        mr={
            "ScanningSequence": ["SE", "IR"],
            "InversionTime": 150.0,
            "EchoTime": 60.0,
            "RepetitionTime": 4000.0,
        },
    )
    t1 = SeriesSpec(modality="MR", description="SAG T1 TSE", study_uid=study, series_number=2)
    write_series(tmp_path, _volume(g.shape), g, stir)
    write_series(tmp_path / "sub", _volume(g.shape), g, t1)
    result = scan_paths([tmp_path])
    assert [s.description for s in result.stacks] == ["SAG T1 TSE", "SAG STIR"]  # by series number
    assert [s.sequence for s in result.stacks] == ["T1", "STIR"]
    assert len(result.studies) == 1 and len(result.studies[0].stacks) == 2
    attrs = result.stacks[1].attributes
    assert attrs["ScanningSequence"] == ["SE", "IR"]
    assert attrs["InversionTime"] == 150.0
    assert attrs["SeriesDescription"] == "SAG STIR"
    assert result.stack(result.stacks[1].series_uid) is result.stacks[1]


def test_series_with_two_orientations_is_split(tmp_path: Path) -> None:
    series = pydicom.uid.generate_uid()
    spec = SeriesSpec(
        modality="MR", series_uid=series, study_uid=pydicom.uid.generate_uid(), description="LOC"
    )
    sag = sagittal_geometry(3, 6, 6, SPACING, 3.0)
    ax = axial_geometry(2, 6, 6, SPACING, 3.0)
    write_series(tmp_path / "a", _volume(sag.shape), sag, spec)
    write_series(tmp_path / "b", _volume(ax.shape), ax, spec)
    result = scan_paths([tmp_path])
    assert [(s.plane, s.n_images, s.stack_index) for s in result.stacks] == [
        ("sagittal", 3, 0),
        ("axial", 2, 1),
    ]
    assert result.stacks[1].key == f"{series}#1"
    assert all("split into separate stacks" in " ".join(s.warnings) for s in result.stacks)


def test_progress_and_cancel(tmp_path: Path) -> None:
    g = axial_geometry(6, 4, 4, SPACING, 2.0)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec())
    calls: list[tuple[int, int]] = []
    scan_paths([tmp_path], workers=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    assert [d for d, _ in calls] == list(range(7))

    assert scan_paths([tmp_path], cancel=lambda: True).stacks == []

    seen: list[int] = []
    result = scan_paths(
        [tmp_path], workers=1, progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) > 2
    )
    (stack,) = result.stacks  # what was read before the cancel is kept, with exact geometry
    assert 2 <= stack.n_images <= 6
    truth = {tuple(s.position_mm) for s in g.slices}
    assert all(f.geometry.position_mm in truth for f in stack.frames)


def test_scan_file_reports_one_file(tmp_path: Path) -> None:
    g = axial_geometry(2, 4, 4, SPACING, 2.0)
    paths = write_series(tmp_path, _volume(g.shape), g, SeriesSpec(description="X"))
    one = scan_file(paths[1])
    assert one.skipped is None and one.info is not None
    assert one.info.description == "X"
    np.testing.assert_allclose(one.candidates[0].frame.geometry.position_mm, g.slices[1].position_mm)


def test_find_series_files_lists_the_loadable_files_of_the_wanted_series_once(tmp_path: Path) -> None:
    wanted, multi_uid, other = "1.2.826.0.1.3680043.10.999.51", "1.2.826.0.1.3680043.10.999.52", "1.2.3"
    g = sagittal_geometry(3, 6, 5, SPACING, 3.0)
    singles = write_series(
        tmp_path / "a" / "deep", _volume(g.shape), g, SeriesSpec(series_uid=wanted), shuffle_names=True
    )
    (multi,) = write_series(
        tmp_path / "b", _volume(g.shape), g, SeriesSpec(series_uid=multi_uid), multiframe=True
    )
    write_series(tmp_path / "c", _volume(g.shape), g, SeriesSpec(series_uid=other))
    (tmp_path / "a" / "deep" / "notes.txt").write_text("not DICOM", encoding="utf-8")
    cut = tmp_path / "a" / "cut.dcm"  # a cut-off copy of one image: it would not load
    cut.write_bytes(singles[0].read_bytes()[:-40])

    found = find_series_files(tmp_path, {wanted, multi_uid, "1.2.826.0.1.3680043.10.999.404"})
    assert found == {wanted: sorted(singles), multi_uid: [multi]}  # the 3-frame file once
    assert find_series_files(tmp_path / "absent", {wanted}) == {}
    assert find_series_files(tmp_path, set()) == {}


def test_series_with_two_image_sizes_is_split(tmp_path: Path) -> None:
    """Same series, same orientation, two matrix sizes (e.g. a re-scan with another field of
    view): two stacks, each ordered by position with its own exact geometry."""
    series = pydicom.uid.generate_uid()
    spec = SeriesSpec(modality="CT", series_uid=series, study_uid=pydicom.uid.generate_uid())
    big = axial_geometry(4, 10, 12, SPACING, 2.0, (0.0, 0.0, 0.0))
    small = axial_geometry(3, 6, 8, (0.7, 0.7), 3.0, (5.0, 5.0, 100.0))
    write_series(tmp_path / "a", _volume(big.shape), big, spec, shuffle_names=True)
    write_series(tmp_path / "b", _volume(small.shape), small, spec, reverse_instance_numbers=True)
    result = scan_paths([tmp_path])
    assert result.skipped == []
    assert [(s.plane, s.n_images, s.stack_index, s.key) for s in result.stacks] == [
        ("axial", 4, 0, series),
        ("axial", 3, 1, f"{series}#1"),
    ]
    _assert_same_geometry(result.stacks[0], big)
    _assert_same_geometry(result.stacks[1], small)
    for stack in result.stacks:
        (warning,) = stack.warnings
        assert warning == (
            "This series mixes 2 orientations or image sizes (4 image(s) axial 10x12, 3 image(s) axial 6x8); "
            "it was split into separate stacks."
        )


def test_studies_group_their_series(tmp_path: Path) -> None:
    """Two studies of one patient: each study lists exactly its own series."""
    study_a, study_b = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    g = sagittal_geometry(2, 4, 4, SPACING, 3.0)
    for folder, study, number, date in (("a1", study_a, 1, "20250101"), ("a2", study_a, 2, "20250101"),
                                        ("b1", study_b, 1, "20250301")):  # fmt: skip
        spec = SeriesSpec(modality="CT", study_uid=study, series_number=number, extra={"StudyDate": date})
        write_series(tmp_path / folder, _volume(g.shape), g, spec)
    result = scan_paths([tmp_path])
    assert [(st.study_uid, st.date, len(st.stacks)) for st in result.studies] == [
        (study_a, "20250101", 2),
        (study_b, "20250301", 1),
    ]
    assert [s.series_number for s in result.studies[0].stacks] == [1, 2]
    assert {s.study_uid for s in result.studies[1].stacks} == {study_b}


def test_series_mixing_pixel_encodings_is_split_and_each_part_loads(tmp_path: Path) -> None:
    """Some images of a series stored RLE-compressed, the others native (a PACS re-compressed
    part of it): never read one encoding as the other; two stacks, each loading exactly."""
    from dicomio.pixels import load_volume

    series, study = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    spec = SeriesSpec(modality="MR", series_uid=series, study_uid=study, description="MIX")
    native = sagittal_geometry(4, 8, 8, SPACING, slice_offsets_mm=[0.0, 6.0, 12.0, 18.0])
    rle = sagittal_geometry(3, 8, 8, SPACING, slice_offsets_mm=[3.0, 9.0, 15.0])
    native_values, rle_values = _volume(native.shape, 1), _volume(rle.shape, 2)
    write_series(tmp_path, native_values, native, spec, shuffle_names=True, seed=1)
    write_series(tmp_path, rle_values, rle, spec, compression="rle", shuffle_names=True, seed=2)
    result = scan_paths([tmp_path])
    assert result.skipped == []
    assert [(s.n_images, s.pixel_format.transfer_syntax_uid) for s in result.stacks] == [
        (4, ExplicitVRLittleEndian),
        (3, RLELossless),
    ]
    _assert_same_geometry(result.stacks[0], native)
    _assert_same_geometry(result.stacks[1], rle)
    np.testing.assert_array_equal(load_volume(result.stacks[0]), native_values)
    np.testing.assert_array_equal(load_volume(result.stacks[1]), rle_values)
    assert result.stacks[0].warnings == [
        "This series mixes 2 pixel encodings (4 image(s) sagittal 8x8 Explicit VR Little Endian, "
        "MONOCHROME2, 16 bits, 3 image(s) sagittal 8x8 RLE Lossless, MONOCHROME2, 16 bits); "
        "it was split into separate stacks."
    ]


def test_the_plain_loop_scan_finds_what_plain_pydicom_reads(tmp_path: Path) -> None:
    """The default scan (one thread, read-ahead) over more files than one read-ahead window,
    names shuffled, a non-DICOM file among them: every image in slice order, positions as
    plain pydicom reads them from each file, the same result as a threaded scan."""
    g = axial_geometry(40, 6, 5, SPACING, 1.5)
    paths = write_series(tmp_path, _volume(g.shape), g, SeriesSpec(), shuffle_names=True)
    (tmp_path / "notes.txt").write_text("not an image\n")
    seen: list[int] = []
    result = scan_paths([tmp_path], progress=lambda d, _t: seen.append(d))
    assert seen == list(range(42))  # 0, then after each of the 41 files
    (stack,) = result.stacks
    assert [s.path.name for s in result.skipped] == ["notes.txt"]
    by_file = {str(p): [float(x) for x in pydicom.dcmread(p).ImagePositionPatient] for p in paths}
    z = [by_file[str(f.path)][2] for f in stack.frames]
    assert z == sorted(z) and len(z) == 40
    assert [list(f.geometry.position_mm) for f in stack.frames] == [
        by_file[str(f.path)] for f in stack.frames
    ]
    threaded = scan_paths([tmp_path], workers=2).stacks[0]
    assert [f.path for f in threaded.frames] == [f.path for f in stack.frames]


def test_the_scan_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    """The scan keeps the objects that existed before it out of the collector's passes, and
    gives them back afterwards (also when it fails), collection enabled or not as before."""
    import gc

    g = axial_geometry(3, 4, 4, SPACING, 2.0)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec())
    was_enabled = gc.isenabled()
    frozen_inside: list[int] = []
    scan_paths([tmp_path], progress=lambda d, t: frozen_inside.append(gc.get_freeze_count()))
    assert min(frozen_inside) > 0  # the old objects were set aside during the scan
    assert gc.get_freeze_count() == 0
    assert gc.isenabled() == was_enabled

    def fail(done: int, total: int) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        scan_paths([tmp_path], progress=fail)
    assert gc.get_freeze_count() == 0


def test_a_folder_beyond_the_read_ahead_budget_scans_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole files are read ahead while half the decode budget lasts, then headers only:
    which files were read ahead whole changes nothing in what the scan finds."""
    g = axial_geometry(6, 16, 16, SPACING, 2.0)
    write_series(tmp_path, _volume(g.shape), g, SeriesSpec())
    sizes = sorted(p.stat().st_size for p in tmp_path.iterdir())
    whole = _only_stack(tmp_path)
    # the volume (6 x 16 x 16 int16, 3 KiB) fits; half the budget holds about two files
    budget_bytes = 2 * (sizes[0] + sizes[1]) + 100
    monkeypatch.setenv("ENDPLATE_MAX_DECODE_MB", str(budget_bytes / 2**20))
    partly = _only_stack(tmp_path)
    assert [f.path for f in partly.frames] == [f.path for f in whole.frames]
    assert [f.pixel_offset for f in partly.frames] == [f.pixel_offset for f in whole.frames]
    _assert_same_geometry(partly, g)
