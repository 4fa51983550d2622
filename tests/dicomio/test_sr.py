"""DICOM SR export: written with highdicom, valid for dcmtk's dsrdump, read back exactly."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from dicomio.sr import read_sr, read_sr_contents
from dicomio.synthetic import phantom
from measure.casefile import load_case
from session.export_run import export_cases
from tests.handcalc import heights_mm, signed_vka_deg
from tests.measure.test_export_case_builder import PATIENT_ID, PATIENT_NAME, DemoCase
from tests.measure.test_export_case_builder import demo_case as demo_case


def _dsrdump(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("dsrdump")
    # CI installs dcmtk (scripts/setup.sh --dev): a missing dsrdump is a failure, not a skip.
    assert exe is not None, "dsrdump (dcmtk) is not installed; run scripts/setup.sh --dev"
    return subprocess.run([exe, "-Ee", str(path)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def sr_files(demo_case: DemoCase, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("sr")
    summary = export_cases([demo_case.case_path], "sr", out)
    assert summary.exit_status == 0, summary.failed
    return summary.written


def test_one_sr_per_timepoint(sr_files: list[Path]) -> None:
    assert sorted(p.name for p in sr_files) == ["CASE-001_post.dcm", "CASE-001_pre.dcm"]


def test_sr_passes_dsrdump(sr_files: list[Path]) -> None:
    for path in sr_files:
        result = _dsrdump(path)
        assert result.returncode == 0, result.stderr
        assert "E:" not in result.stderr and "W:" not in result.stderr, result.stderr
        assert "Imaging Measurement Report" in result.stdout
        assert '"L1 vertebra"' in result.stdout and "Vertebral kyphotic angle" in result.stdout


_DSR_POINT = re.compile(
    r'SCOORD3D:\(,,"(Superior|Inferior) endplate (anterior|middle|posterior) point"\)='
    r"\(POINT,,([-+\d.eE]+)/([-+\d.eE]+)/([-+\d.eE]+)\)"
)
_DSR_KEYS = {"Superior": "sup", "Inferior": "inf", "anterior": "ant", "middle": "mid", "posterior": "post"}


def _dsr_groups(text: str) -> dict[str, str]:
    """dsrdump's text of each measurement group, by its tracking identifier."""
    parts = re.split(r'<has obs context TEXT:\(,,"Tracking Identifier"\)="([^"]+)">', text)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _dsr_num(group: str, meaning: str) -> tuple[float, str]:
    m = re.search(rf'NUM:\(,,"{re.escape(meaning)}"\)="([^"]+)" \(([^,]+),UCUM', group)
    assert m, f"no NUM {meaning!r} in dsrdump's output"
    return float(m.group(1)), m.group(2)


def test_dsrdump_shows_the_true_numbers_and_landmarks(sr_files: list[Path]) -> None:
    """What dcmtk reads out of Endplate's SR (not what Endplate reads back): every level's
    VKA (signed) and heights, and the six landmark points, equal the phantom's truth."""
    for path in sr_files:
        tp = path.stem.split("_")[-1]
        result = _dsrdump(path)
        assert result.returncode == 0, result.stderr
        groups = _dsr_groups(result.stdout)
        assert {"T11", "T12", "L1", "L2", "L3"} <= set(groups)
        for level, landmarks in phantom.truth(tp).items():  # type: ignore[arg-type]
            group = groups[level]
            vka, unit = _dsr_num(group, "Vertebral kyphotic angle")
            assert unit == "deg" and vka == pytest.approx(signed_vka_deg(landmarks), abs=1e-9), level
            h = heights_mm(landmarks)
            for name, key in (("Anterior", "Ha"), ("Middle", "Hm"), ("Posterior", "Hp")):
                value, unit = _dsr_num(group, f"{name} vertebral body height")
                assert unit == "mm" and value == pytest.approx(h[key], abs=1e-9), (level, key)
            points = {}
            for m in _DSR_POINT.finditer(group):
                key = f"{_DSR_KEYS[m.group(1)]}_{_DSR_KEYS[m.group(2)]}"
                points.setdefault(key, []).append(tuple(float(m.group(i)) for i in (3, 4, 5)))
            assert set(points) == set(landmarks), level
            for key, seen in points.items():  # FL: 32-bit floats, ~3e-5 mm at 400 mm
                for p in seen:
                    np.testing.assert_allclose(p, landmarks[key], atol=1e-4, err_msg=f"{level} {key}")
        if tp == "pre":
            assert _dsr_num(groups["L1"], "Vertebral kyphotic angle")[0] > 15.0  # a wedge: kyphosis


def test_sr_reads_back_with_highdicom(sr_files: list[Path], demo_case: DemoCase) -> None:
    pre = next(p for p in sr_files if p.name.endswith("_pre.dcm"))
    sr = hd.sr.srread(pre)
    assert isinstance(sr.content, hd.sr.MeasurementReport)
    groups = sr.content.get_image_measurement_groups()
    vertebra_groups = [g for g in groups if str(g.tracking_identifier) in ("T11", "T12", "L1", "L2", "L3")]
    assert len(vertebra_groups) == 5
    l1 = next(g for g in vertebra_groups if str(g.tracking_identifier) == "L1")
    assert l1.finding_sites[0].value.value == "66794005"
    by_code = {m.name.value: m for m in l1.get_measurements()}
    truth = demo_case.truth["timepoints"]["pre"]["levels"]["L1"]["heights_mm"]
    assert float(by_code["HA"].value) == pytest.approx(truth["Ha"], abs=1e-6)
    assert by_code["HA"].unit.value == "mm" and by_code["VKA"].unit.value == "deg"
    # The SR references the CT images the landmarks were placed on.
    ct_uid = demo_case.series_keys["pre"]
    sops = set(demo_case.truth["series"][ct_uid]["sop_instance_uids"])
    evidence = sr.get_evidence()
    assert evidence and {e[2] for e in evidence} <= sops
    assert sr.PatientName == PATIENT_NAME and sr.PatientID == PATIENT_ID


def test_sr_landmarks_round_trip(sr_files: list[Path], demo_case: DemoCase) -> None:
    case = load_case(demo_case.case_path)
    for path in sr_files:
        tp = path.stem.split("_")[-1]
        landmarks = read_sr(path)
        assert set(landmarks) == {"T11", "T12", "L1", "L2", "L3"}
        for level, points in landmarks.items():
            assert len(points) == 6
            for key, position in points.items():
                expected = case.landmark(tp, level, key)
                assert expected is not None
                np.testing.assert_allclose(position, expected.position_mm, atol=1e-3)
        contents = read_sr_contents(path)
        ct_uid = demo_case.series_keys[tp]
        assert contents.frame_of_reference_uids == {
            demo_case.truth["series"][ct_uid]["frame_of_reference_uid"]
        }


def test_read_sr_refuses_a_non_sr_file(demo_case: DemoCase) -> None:
    image = next((demo_case.case_path.parent / "dicom" / "pre_ct").iterdir())
    with pytest.raises(ValueError, match="not a readable DICOM SR"):
        read_sr(image)


def test_sr_reopens_as_the_case_landmarks(sr_files: list[Path], demo_case: DemoCase) -> None:
    """Endplate opens its own SR and gets Landmark objects back: position, series, image."""
    from measure.export.sr_import import landmarks_from_sr

    case = load_case(demo_case.case_path)
    for path in sr_files:
        tp = path.stem.split("_")[-1]
        back = landmarks_from_sr(path)
        assert list(back) == [v.level for v in case.vertebrae(tp)]
        for level, points in back.items():
            original = case.landmarks(tp, level)
            assert set(points) == set(original)
            for key, lm in points.items():
                expected = original[key]
                np.testing.assert_allclose(lm.position_mm, expected.position_mm, atol=1e-3)
                assert lm.series_uid == expected.series_uid == demo_case.series_keys[tp]
                assert lm.sop_uid == expected.sop_uid  # one image per vertebra on the demo CT
