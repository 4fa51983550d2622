"""``endplate suggest PATH --seed X,Y,Z [--json]`` run as a user runs it (a subprocess).

Truth: the phantom's exact corners (dicomio.synthetic), UIDs read back with plain pydicom.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.phantom_anatomy import LANDMARK_KEYS, Contrast
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from tests.conftest import PROJECT_ROOT
from tests.handcalc import signed_vka_deg

LIMIT_MM = 1.5


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "suggest", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "ENDPLATE_HOME": str(tmp_path / "home"),
            "PATH": "/usr/bin:/bin",
            "QT_QPA_PLATFORM": "offscreen",
        },
    )


@lru_cache(maxsize=4)
def _phantom_series(root: Path, modality: str, anterior_on_right: bool) -> Path:
    """Three sagittal slices 3 mm apart, the middle one on the phantom's midline, 0.9 x 0.7 mm
    pixels, noise CT 12 HU / T1 15 units."""
    ph = default_phantom()
    (y0, y1), (z0, z1) = ph.extent_yz_mm()
    spacing = (0.9, 0.7)
    rows, cols = int((z1 - z0 + 40) / spacing[0]), int((y1 - y0 + 40) / spacing[1])
    probe = sagittal_geometry(3, rows, cols, spacing, 3.0, anterior_on_right=anterior_on_right)
    step_x = float(probe.slices[1].position_mm[0] - probe.slices[0].position_mm[0])
    origin = (ph.midline_x_mm - step_x, y1 + 20 if anterior_on_right else y0 - 20, z1 + 20)
    g = sagittal_geometry(3, rows, cols, spacing, 3.0, origin_mm=origin, anterior_on_right=anterior_on_right)
    contrast: Contrast = "CT" if modality == "CT" else "T1"
    noise = 12.0 if modality == "CT" else 15.0
    volume = ph.render(g, contrast, "pre", noise_sd=noise, seed=3, supersample=2)
    folder = root / f"{modality}-{'right' if anterior_on_right else 'left'}"
    spec = SeriesSpec(modality=modality, rescale_intercept=-1024.0 if modality == "CT" else 0.0)
    write_series(folder, volume, g, spec)
    return folder


@pytest.fixture(scope="module")
def series_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("suggest")


def _seed(level: str) -> np.ndarray:
    lm = default_phantom().truth("pre")[level]
    return np.mean([lm[k] for k in LANDMARK_KEYS], axis=0)


@pytest.mark.parametrize(("modality", "anterior_on_right"), [("CT", False), ("CT", True), ("MR", True)])
def test_suggest_json_on_a_phantom_series_finds_the_exact_corners(
    series_root: Path, tmp_path: Path, modality: str, anterior_on_right: bool
) -> None:
    folder = _phantom_series(series_root, modality, anterior_on_right)
    truth = default_phantom().truth("pre")["L2"]
    seed = _seed("L2") + np.array([0.4, 2.0, -1.5])  # off the slice by 0.4 mm, 2.5 mm off centre
    result = _run(tmp_path, str(folder), "--seed=" + ",".join(f"{v:.3f}" for v in seed), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    files = sorted(folder.glob("*.dcm"))
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert out["series_uid"] == headers[0].SeriesInstanceUID
    # The seed's slice is the middle one (on the midline): its SOP UID, read by pydicom.
    on_midline = [h for h in headers if abs(float(h.ImagePositionPatient[0]) - seed[0] + 0.4) < 1e-3]
    assert out["slice_sop_uid"] == on_midline[0].SOPInstanceUID
    assert out["reformat"] is False
    assert out["usable"] is True and 0.5 <= out["confidence"] <= 1.0
    for key in LANDMARK_KEYS:
        err = np.subtract(out["landmarks"][key], truth[key])
        assert float(np.linalg.norm(err)) <= LIMIT_MM, f"{key}: {err.round(2)}"
    vka = signed_vka_deg({k: tuple(v) for k, v in out["landmarks"].items()})
    assert -1.5 <= vka - signed_vka_deg(truth) <= 1.5


def test_suggest_text_output_names_every_point(series_root: Path, tmp_path: Path) -> None:
    folder = _phantom_series(series_root, "CT", False)
    seed = _seed("L3")
    result = _run(tmp_path, str(folder), "--seed=" + ",".join(f"{v:.2f}" for v in seed))
    assert result.returncode == 0, result.stderr
    assert "confidence" in result.stdout and "not a measurement" in result.stdout
    lines = {ln.split()[0]: ln.split()[1:4] for ln in result.stdout.splitlines() if ln.startswith("  ")}
    truth = default_phantom().truth("pre")["L3"]
    for key in LANDMARK_KEYS:
        assert float(np.linalg.norm(np.subtract([float(v) for v in lines[key]], truth[key]))) <= LIMIT_MM


def test_a_seed_in_a_disc_exits_0_with_a_low_confidence(series_root: Path, tmp_path: Path) -> None:
    folder = _phantom_series(series_root, "CT", False)
    truth = default_phantom().truth("pre")
    disc = (np.asarray(truth["L2"]["inf_mid"]) + np.asarray(truth["L3"]["sup_mid"])) / 2
    result = _run(tmp_path, str(folder), "--seed=" + ",".join(f"{v:.2f}" for v in disc), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["landmarks"] is None and out["usable"] is False
    assert out["confidence"] < 0.5 and out["reason"]
    result = _run(tmp_path, str(folder), "--seed=" + ",".join(f"{v:.2f}" for v in disc))
    assert result.returncode == 0 and "Place the points by hand" in result.stdout


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ("1,2", "is not three finite numbers"),
        ("a,b,c", "is not three finite numbers"),
        ("1,2,nan", "is not three finite numbers"),
        ("0,0,5000", "is outside the volume of series"),
        ("400,0,0", "is outside the volume of series"),
    ],
)
def test_bad_seeds_are_one_sentence_and_exit_2(
    series_root: Path, tmp_path: Path, seed: str, message: str
) -> None:
    folder = _phantom_series(series_root, "CT", False)
    result = _run(tmp_path, str(folder), f"--seed={seed}", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("endplate: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_unreadable_paths_are_one_sentence_and_exit_2(tmp_path: Path) -> None:
    missing = _run(tmp_path, str(tmp_path / "nowhere"), "--seed=0,0,0")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom file at all")
    bad = _run(tmp_path, str(junk), "--seed=0,0,0")
    assert bad.returncode == 2 and "holds no readable DICOM image series" in bad.stderr
    assert str(junk) in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_suggest_on_the_real_ct_works_on_the_sagittal_reformat(realdata_dir: Path, tmp_path: Path) -> None:
    """A seed in a lower thoracic body (the T11 hand-placed in tests/app/test_real_studies.py:
    axial column 255, rows 346-385, z -600 to -624 mm), in LPS from plain pydicom headers."""
    folder = realdata_dir / "lidc-idri-0314-ct"
    first = min(
        (pydicom.dcmread(f, stop_before_pixels=True) for f in folder.glob("*.dcm")),
        key=lambda h: float(h.ImagePositionPatient[2]),
    )
    dy, dx = (float(v) for v in first.PixelSpacing)
    iop = [float(v) for v in first.ImageOrientationPatient]
    p = np.asarray([float(v) for v in first.ImagePositionPatient])
    p = p + 255 * dx * np.asarray(iop[:3]) + 365 * dy * np.asarray(iop[3:])
    seed = (p[0], p[1], -611.8)
    result = _run(tmp_path, str(folder), "--seed=" + ",".join(f"{v:.2f}" for v in seed), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["series_uid"] == first.SeriesInstanceUID
    assert out["reformat"] is True and out["slice_sop_uid"] is None
    assert 0.0 <= out["confidence"] <= 1.0
    assert out["seed_on_slice"][2] == pytest.approx(-611.8)
    if out["usable"]:  # the proposal lies on the reformat slice through the seed, around it
        pts = np.array([out["landmarks"][k] for k in LANDMARK_KEYS])
        assert np.allclose(pts[:, 0], out["seed_on_slice"][0], atol=1e-3)
        assert (pts[:, 2].min() < -611.8 < pts[:, 2].max()) and (pts[:, 1].min() < seed[1] < pts[:, 1].max())
    else:
        assert out["landmarks"] is None and out["reason"]


def test_a_folder_with_several_series_needs_series(series_root: Path, tmp_path: Path) -> None:
    left, right = _phantom_series(series_root, "CT", False), _phantom_series(series_root, "CT", True)
    both = tmp_path / "both"
    for name, src in (("left", left), ("right", right)):
        (both / name).mkdir(parents=True)
        for f in src.iterdir():
            (both / name / f.name).write_bytes(f.read_bytes())
    seed = "--seed=" + ",".join(f"{v:.2f}" for v in _seed("L2"))
    ambiguous = _run(tmp_path, str(both), seed)
    assert ambiguous.returncode == 2 and "choose one with --series UID" in ambiguous.stderr
    uid = pydicom.dcmread(next(right.iterdir()), stop_before_pixels=True).SeriesInstanceUID
    chosen = _run(tmp_path, str(both), seed, "--series", uid, "--json")
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["series_uid"] == uid
    unknown = _run(tmp_path, str(both), seed, "--series", "1.2.3.4")
    assert unknown.returncode == 2 and "holds no series 1.2.3.4" in unknown.stderr


def test_in_process_the_same_json_and_errors(
    series_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """main.main in this process (what coverage sees): the same answers as the subprocess."""
    import main

    folder = _phantom_series(series_root, "CT", False)
    truth = default_phantom().truth("pre")["L3"]
    seed = "--seed=" + ",".join(f"{v:.3f}" for v in _seed("L3"))
    assert main.main(["suggest", str(folder), seed, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in LANDMARK_KEYS:
        assert float(np.linalg.norm(np.subtract(out["landmarks"][key], truth[key]))) <= LIMIT_MM
    assert main.main(["suggest", str(folder), seed]) == 0
    assert "Proposed body, confidence" in capsys.readouterr().out
    assert main.main(["suggest", str(folder), "--seed=1,2"]) == 2
    assert "is not three finite numbers" in capsys.readouterr().err
    assert main.main(["suggest", str(folder), "--seed=0,0,9000"]) == 2
    assert "is outside the volume" in capsys.readouterr().err
    assert main.main(["suggest", str(tmp_path / "none"), "--seed=0,0,0"]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main.main(["suggest", str(empty), "--seed=0,0,0"]) == 2
    assert "holds no readable DICOM image series" in capsys.readouterr().err
