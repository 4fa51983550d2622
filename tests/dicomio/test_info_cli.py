"""``endplate info``: JSON schema and values, text table, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from dicomio.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series
from tests.conftest import PROJECT_ROOT

SERIES_KEYS = {
    "series_uid", "study_uid", "frame_of_reference_uid", "modality", "description", "plane", "sequence",
    "sequence_reason", "n_images", "rows", "columns", "pixel_spacing", "slice_spacing", "orientation",
    "anterior", "superior", "warnings",
}  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    g = sagittal_geometry(5, 10, 12, (0.5, 0.8), 3.3, (2.0, -30.0, 40.0), anterior_on_right=True)
    spec = SeriesSpec(modality="MR", description="SAG STIR", series_uid="1.2.826.0.1.3680043.8.498.1")
    write_series(tmp_path / "mr", np.zeros(g.shape), g, spec, multiframe=True, extra_per_frame_item=True)
    (tmp_path / "readme.txt").write_text("not an image")
    return tmp_path


def test_info_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["info", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"series", "skipped", "studies"}
    (series,) = out["series"]
    assert set(series) >= SERIES_KEYS
    assert series["series_uid"] == "1.2.826.0.1.3680043.8.498.1"
    assert series["modality"] == "MR" and series["description"] == "SAG STIR"
    assert (series["plane"], series["sequence"]) == ("sagittal", "STIR")
    assert series["sequence_reason"] == "SeriesDescription 'SAG STIR' contains 'STIR'"
    assert (series["n_images"], series["rows"], series["columns"]) == (5, 10, 12)
    assert series["pixel_spacing"] == [0.5, 0.8]
    assert series["slice_spacing"] == pytest.approx(3.3)
    assert series["orientation"] == [0.0, -1.0, 0.0, 0.0, 0.0, -1.0]
    assert (series["anterior"], series["superior"]) == ("right", "up")
    assert len(series["warnings"]) == 1 and "6 items for 5 frames" in series["warnings"][0]
    assert out["skipped"] == [{"path": str(folder / "readme.txt"), "reason": out["skipped"][0]["reason"]}]
    assert out["skipped"][0]["reason"].startswith("not DICOM: ")
    (study,) = out["studies"]
    assert study["series"] == [series["key"]] and study["study_uid"] == series["study_uid"]


def test_info_text_table(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = axial_geometry(3, 6, 6, (0.7, 0.7), 2.5)
    write_series(folder / "ct", np.zeros(g.shape), g, SeriesSpec(description="AX CT"))
    assert main.main(["info", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "SAG STIR" in text and "AX CT" in text
    assert "sagittal  STIR" in text and "right/up" in text
    assert "Skipped 1 file(s):" in text and "readme.txt: not DICOM" in text


def test_info_nothing_readable_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.dcm").write_text("hello")
    assert main.main(["info", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["series"] == [] and out["skipped"][0]["reason"].startswith("not DICOM")


def test_info_subprocess(folder: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "main.py", "info", str(folder), "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [s["n_images"] for s in out["series"]] == [5]
    assert "Traceback" not in proc.stderr
