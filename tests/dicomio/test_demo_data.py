"""``endplate demo-data``: five series that read back as written, with consistent ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

import main
from dicomio.geometry import ImageGeometry
from dicomio.scan import scan_paths
from dicomio.synthetic.demo import GROUND_TRUTH_NAME, DemoManifest, build_demo_set, run_demo_data
from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.phantom_anatomy import INTENSITY, LANDMARK_KEYS, Tissue

KEYS = ("pre_ct", "axial_ct", "pre_t1", "pre_stir", "post_ct")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return build_demo_set(tmp_path_factory.mktemp("demo") / "set", small=True)


def _headers(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir())]


def _truth(demo: DemoManifest) -> dict:
    return json.loads(demo.ground_truth_path.read_text(encoding="utf-8"))


def test_five_series_read_back_with_expected_headers(demo: DemoManifest) -> None:
    assert sorted(p.name for p in demo.out.iterdir()) == sorted([*KEYS, GROUND_TRUTH_NAME])
    heads = {key: _headers(demo.out / key) for key in KEYS}
    for key, hs in heads.items():
        s = demo.by_key(key)
        assert len(hs) == len(s.files) == s.geometry.shape[0] > 0
        assert {h.SeriesInstanceUID for h in hs} == {s.series_uid}
        assert {h.StudyInstanceUID for h in hs} == {s.study_uid}
        assert {h.FrameOfReferenceUID for h in hs} == {s.frame_of_reference_uid}
        assert {h.Modality for h in hs} == {"MR" if key in ("pre_t1", "pre_stir") else "CT"}
        assert {h.PatientID for h in hs} == {"ENDPLATE-DEMO"}
    assert len({demo.by_key(k).series_uid for k in KEYS}) == 5
    t1, stir = heads["pre_t1"][0], heads["pre_stir"][0]
    # One MR study, one frame of reference, another pixel spacing on STIR.
    assert t1.StudyInstanceUID == stir.StudyInstanceUID
    assert t1.FrameOfReferenceUID == stir.FrameOfReferenceUID
    assert [float(v) for v in t1.PixelSpacing] != [float(v) for v in stir.PixelSpacing]
    assert t1.SeriesDescription == "SAG T1 TSE" and stir.SeriesDescription == "SAG STIR"
    assert "IR" in list(stir.ScanningSequence) and 100 <= float(stir.InversionTime) <= 200
    assert "tir" in stir.SequenceName and "tse" in t1.SequenceName
    assert float(t1.EchoTime) < 20 and float(t1.RepetitionTime) < 1000
    for h in (t1, stir):
        assert float(h.MagneticFieldStrength) == 1.5
    # The axial CT is the same acquisition as the sagittal pre-op CT; post-op is later.
    pre, ax, post = heads["pre_ct"][0], heads["axial_ct"][0], heads["post_ct"][0]
    assert ax.StudyInstanceUID == pre.StudyInstanceUID and ax.FrameOfReferenceUID == pre.FrameOfReferenceUID
    assert post.StudyInstanceUID != pre.StudyInstanceUID
    assert post.FrameOfReferenceUID != pre.FrameOfReferenceUID
    assert post.StudyDate > t1.StudyDate > pre.StudyDate
    iop = [float(v) for v in pre.ImageOrientationPatient]
    assert ImageGeometry.from_dicom(pre.ImagePositionPatient, iop, pre.PixelSpacing, 1, 1).plane == "sagittal"
    axial_iop = [float(v) for v in ax.ImageOrientationPatient]
    assert (
        ImageGeometry.from_dicom(ax.ImagePositionPatient, axial_iop, ax.PixelSpacing, 1, 1).plane == "axial"
    )


def test_ground_truth_landmarks_lie_on_the_named_images(demo: DemoManifest) -> None:
    gt = _truth(demo)
    assert gt["format"] == "endplate-demo-ground-truth" and gt["coordinate_system"] == "LPS"
    assert set(gt["series"]) == {demo.by_key(k).series_uid for k in KEYS}
    files_by_sop = {}
    for key in KEYS:
        for path in (demo.out / key).iterdir():
            files_by_sop[pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID] = path
    checked = 0
    for uid, s in gt["series"].items():
        series = demo.by_key(s["key"])
        assert series.series_uid == uid and s["folder"] == s["key"]
        truth_tp = gt["timepoints"][s["timepoint"]]["levels"]
        assert set(s["landmarks"]) == set(gt["levels"]) == {"T11", "T12", "L1", "L2", "L3"}
        for level, marks in s["landmarks"].items():
            assert set(marks) == set(LANDMARK_KEYS)
            for key, m in marks.items():
                assert m["position_mm"] == truth_tp[level]["landmarks_mm"][key]
                sop = m["sop_instance_uid"]
                if s["plane"] == "sagittal":
                    assert sop is not None, (s["key"], level, key)
                else:
                    # Axial slices do not pass through every landmark: none is claimed.
                    assert sop is None and abs(m["distance_to_slice_mm"]) <= s["slice_spacing_mm"] / 2 + 1e-9
                    continue
                ds = pydicom.dcmread(files_by_sop[sop], stop_before_pixels=True)
                assert ds.SeriesInstanceUID == uid
                g = ImageGeometry.from_dicom(
                    ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing, ds.Rows, ds.Columns
                )
                column, row, distance = g.lps_to_pixel(m["position_mm"])
                assert abs(float(distance)) < 0.01
                assert 0 <= column < ds.Columns and 0 <= row < ds.Rows
                np.testing.assert_allclose([column, row], m["pixel"], atol=1e-6)
                checked += 1
    assert checked == 4 * 5 * 6
    # Measurements in the truth.
    pre_l1 = gt["timepoints"]["pre"]["levels"]["L1"]
    post_l1 = gt["timepoints"]["post"]["levels"]["L1"]
    assert pre_l1["status"] == "fractured" and post_l1["status"] == "augmented"
    assert 15 <= pre_l1["vka_deg"] <= 20 and post_l1["vka_deg"] < pre_l1["vka_deg"]
    assert pre_l1["edema_fraction"] == pytest.approx(pre_l1["edema_volume_mm3"] / pre_l1["body_volume_mm3"])
    assert gt["timepoints"]["pre"]["levels"]["L2"]["edema_fraction"] == 0.0
    assert set(pre_l1["heights_mm"]) == {"Ha", "Hm", "Hp"}


@pytest.mark.parametrize(
    ("key", "contrast", "noise_sd"), [("pre_ct", "CT", 12.0), ("pre_stir", "STIR", 15.0)]
)
def test_pixels_are_the_phantom_at_the_written_geometry(
    demo: DemoManifest, key: str, contrast: str, noise_sd: float
) -> None:
    s = demo.by_key(key)
    by_sop = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in s.folder.iterdir()}
    stack = [by_sop[uid] for uid in s.sop_instance_uids]
    values = np.stack(
        [d.pixel_array * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0)) for d in stack]
    )
    clean = default_phantom().render(s.geometry, contrast, s.timepoint)  # type: ignore[arg-type]
    residual = values - clean
    if contrast != "CT":  # MR is clipped at zero in air
        residual = residual[clean > 0]
    assert abs(float(np.mean(residual))) < 1.0
    assert float(np.std(residual)) == pytest.approx(noise_sd, rel=0.1)
    # Each file's own header places it where the manifest says.
    for d, g in zip(stack, s.geometry.slices, strict=True):
        np.testing.assert_allclose([float(v) for v in d.ImagePositionPatient], g.position_mm, atol=1e-6)


def test_stir_shows_the_edema_of_the_fractured_level(demo: DemoManifest) -> None:
    s = demo.by_key("pre_stir")
    gt = _truth(demo)
    mark = gt["series"][s.series_uid]["landmarks"]["L1"]["sup_mid"]
    k = mark["slice_index"]
    path = s.files[k]
    ds = pydicom.dcmread(path)
    assert ds.SOPInstanceUID == mark["sop_instance_uid"]
    image = ds.pixel_array.astype(float)
    # 3.5 mm inside the fractured superior endplate (the edema band) is bright,
    # the middle of the normal L2 body is dark (fat-suppressed marrow).
    l1 = gt["timepoints"]["pre"]["levels"]["L1"]["landmarks_mm"]
    l2 = gt["timepoints"]["pre"]["levels"]["L2"]["landmarks_mm"]
    down = np.subtract(l1["inf_mid"], l1["sup_mid"])
    down /= np.linalg.norm(down)
    g = s.geometry.slices[k]

    def at(point: np.ndarray) -> float:
        c, r, _ = g.lps_to_pixel(point)
        return float(image[int(np.rint(r)), int(np.rint(c))])

    edema = at(np.add(l1["sup_mid"], 3.5 * down))
    marrow = at((np.asarray(l2["sup_mid"]) + np.asarray(l2["inf_mid"])) / 2)
    assert edema > INTENSITY["STIR"][Tissue.EDEMA] - 80
    assert marrow < INTENSITY["STIR"][Tissue.CANCELLOUS] + 80


def demo_key(demo: DemoManifest, series_uid: str) -> str:
    (key,) = [k for k in KEYS if demo.by_key(k).series_uid == series_uid]
    return key


def test_the_demo_folder_scans_into_five_stacks(demo: DemoManifest) -> None:
    result = scan_paths([demo.out])
    assert len(result.stacks) == 5
    by_uid = {st.series_uid: st for st in result.stacks}
    for key in KEYS:
        s = demo.by_key(key)
        stack = by_uid[s.series_uid]
        assert stack.n_images == len(s.files)
        assert [f.sop_instance_uid for f in stack.frames] == list(s.sop_instance_uids)
        np.testing.assert_allclose(stack.geometry.slice_offsets_mm, s.geometry.slice_offsets_mm, atol=1e-6)
    assert by_uid[demo.by_key("pre_stir").series_uid].sequence == "STIR"
    assert by_uid[demo.by_key("pre_t1").series_uid].sequence == "T1"
    # Three studies, in date order: pre-op CT (sagittal + axial), pre-op MR, post-op CT.
    studies = [sorted(demo_key(demo, st.series_uid) for st in study.stacks) for study in result.studies]
    assert studies == [["axial_ct", "pre_ct"], ["pre_stir", "pre_t1"], ["post_ct"]]
    assert [stack.warnings for stack in result.stacks] == [[]] * 5
    planes = {demo_key(demo, st.series_uid): (st.plane, st.anterior, st.superior) for st in result.stacks}
    assert planes["axial_ct"] == ("axial", "up", None)
    assert planes["pre_ct"] == planes["pre_t1"] == planes["pre_stir"] == ("sagittal", "left", "up")
    # Only the ground truth file is not DICOM.
    assert [p.path.name for p in result.skipped] == [GROUND_TRUTH_NAME]


def test_refuses_a_non_empty_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    assert run_demo_data(out) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and str(out) in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    a_file = tmp_path / "file.dcm"
    a_file.write_text("x", encoding="utf-8")
    assert main.main(["demo-data", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    with pytest.raises(FileExistsError):
        build_demo_set(out, small=True)


def test_full_demo_set_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "demo"
    assert main.main(["demo-data", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ground truth" in printed
    counts = {key: len(list((out / key).iterdir())) for key in KEYS}
    assert counts["pre_ct"] == counts["post_ct"] == 25
    assert counts["pre_t1"] == counts["pre_stir"] == 15
    assert 100 <= counts["axial_ct"] <= 150
    size_mb = sum(p.stat().st_size for p in out.rglob("*")) / 1e6
    assert size_mb < 40
    gt = json.loads((out / GROUND_TRUTH_NAME).read_text(encoding="utf-8"))
    sag = [s for s in gt["series"].values() if s["plane"] == "sagittal"]
    assert len(sag) == 4
    for s in sag:
        # Every landmark lies on the middle (mid-sagittal) slice.
        mids = {m["slice_index"] for marks in s["landmarks"].values() for m in marks.values()}
        assert mids == {(s["n_images"] - 1) // 2}
        assert all(
            abs(m["distance_to_slice_mm"]) < 1e-9 for marks in s["landmarks"].values() for m in marks.values()
        )
