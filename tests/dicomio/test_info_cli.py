"""``endplate info``: JSON schema and values, text table, exit status."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

import main
from dicomio.synthetic.synth import (
    SeriesSpec,
    axial_geometry,
    sagittal_geometry,
    stack_geometry,
    write_series,
)
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


STUDY = "1.2.826.0.1.3680043.8.498.2"


def _documented_series_keys() -> set[str]:
    """The keys of the SERIES table in docs/cli.md (first column, every `name` in it)."""
    text = (PROJECT_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text.split("`SERIES` (one stack", 1)[1].split("\n\n", 2)[1]
    keys: set[str] = set()
    for line in table.splitlines()[2:]:
        first_cell = line.split("|")[1]
        keys.update(re.findall(r"`([a-z_]+)`", first_cell))
    return keys


def test_info_json_types_null_directions_and_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every key with its type, for an axial (no superior), a coronal (no anterior), a sagittal
    and a one-image series; the documented keys are exactly the printed ones."""
    axial = axial_geometry(4, 6, 7, (0.5, 0.8), 2.5, (1.0, 2.0, 3.0))
    coronal = stack_geometry((0.0, 10.0, 50.0), (1, 0, 0), (0, 0, -1), 5, 6, (0.6, 0.7), [0.0, 3.0, 6.0])
    sagittal = sagittal_geometry(3, 6, 6, (0.9, 0.9), 4.0, feet_first=True)
    single = sagittal_geometry(1, 6, 6)
    write_series(
        tmp_path / "ax",
        np.zeros(axial.shape),
        axial,
        SeriesSpec(description="AX", series_number=1, study_uid=STUDY),
    )
    write_series(
        tmp_path / "cor",
        np.zeros(coronal.shape),
        coronal,
        SeriesSpec(description="COR", series_number=2, study_uid=STUDY),
    )
    spec = SeriesSpec(modality="MR", description="SAG T1", series_number=3, study_uid=STUDY)
    write_series(tmp_path / "sag", np.zeros(sagittal.shape), sagittal, spec, multiframe=True)
    one = SeriesSpec(modality="MR", description="LOC", series_number=4, study_uid=STUDY)
    write_series(tmp_path / "one", np.zeros(single.shape), single, one)
    assert main.main(["info", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    by_description = {s["description"]: s for s in out["series"]}
    assert list(by_description) == ["AX", "COR", "SAG T1", "LOC"]
    assert out["skipped"] == []

    ax, cor, sag, loc = (by_description[k] for k in ("AX", "COR", "SAG T1", "LOC"))
    assert (ax["plane"], ax["anterior"], ax["superior"]) == ("axial", "up", None)
    assert (cor["plane"], cor["anterior"], cor["superior"]) == ("coronal", None, "up")
    assert (sag["plane"], sag["anterior"], sag["superior"]) == ("sagittal", "left", "down")
    assert ax["orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert cor["orientation"] == [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
    assert (ax["pixel_spacing"], ax["slice_spacing"]) == ([0.5, 0.8], 2.5)
    assert (cor["pixel_spacing"], cor["slice_spacing"]) == ([0.6, 0.7], 3.0)
    assert (sag["n_images"], sag["files"], sag["slice_spacing"]) == (3, 1, 4.0)  # frames counted
    assert (ax["n_images"], ax["files"]) == (4, 4)
    assert (loc["n_images"], loc["slice_spacing"]) == (1, None)
    assert (ax["sequence"], ax["sequence_reason"]) == (None, None)
    assert (sag["sequence"], sag["sequence_reason"]) == ("T1", "SeriesDescription 'SAG T1' names T1")
    assert [w["name"] for w in ax["windows"]] == ["CT bone", "CT soft tissue"]

    direction = (type(None), str)
    types: dict[str, type | tuple[type, ...]] = {
        "key": str, "series_uid": str, "stack_index": int, "study_uid": str,
        "frame_of_reference_uid": (str, type(None)), "modality": str, "description": str,
        "series_number": (int, type(None)), "plane": str, "sequence": (str, type(None)),
        "sequence_reason": (str, type(None)), "n_images": int, "rows": int, "columns": int,
        "pixel_spacing": list, "slice_spacing": (float, type(None)), "orientation": list,
        "anterior": direction, "superior": direction, "gantry_tilt_deg": float,
        "transfer_syntax_uid": str, "photometric": str, "rescale_slope": float,
        "rescale_intercept": float, "windows": list, "files": int, "warnings": list,
        "generated_series_uid": bool, "generated_study_uid": bool, "generated_sop_uids": bool,
    }  # fmt: skip
    assert set(types) == _documented_series_keys()
    for series in out["series"]:
        assert set(series) == set(types), series["description"]
        for key, kind in types.items():
            assert isinstance(series[key], kind), (series["description"], key, series[key])
        assert not isinstance(series["n_images"], bool)
        assert all(isinstance(v, float) for v in series["pixel_spacing"] + series["orientation"])
        assert len(series["pixel_spacing"]) == 2 and len(series["orientation"]) == 6
        assert series["plane"] in ("sagittal", "coronal", "axial", "oblique")
        assert series["anterior"] in (None, "left", "right", "up", "down")
        assert series["superior"] in (None, "left", "right", "up", "down")
        assert all(isinstance(w, str) for w in series["warnings"])
        assert all(set(w) == {"name", "center", "width"} for w in series["windows"])
    (study,) = out["studies"]
    assert set(study) == {"study_uid", "date", "description", "patient_id", "series"}


@pytest.mark.parametrize("as_json", [True, False])
def test_info_exit_status_both_ways(
    tmp_path: Path, as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Non-zero only when nothing at all could be read: a missing path, an empty folder,
    only non-images; zero as soon as one series is found, whatever else is skipped."""
    flag = ["--json"] if as_json else []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main.main(["info", str(tmp_path / "missing"), *flag]) == 1
    assert main.main(["info", str(empty), *flag]) == 1
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.dcm").write_text("hello")
    shutil.copy(get_testdata_file("DICOMDIR"), junk / "DICOMDIR")
    assert main.main(["info", str(junk), *flag]) == 1
    capsys.readouterr()
    g = sagittal_geometry(2, 4, 4)
    write_series(junk / "mr", np.zeros(g.shape), g, SeriesSpec(modality="MR"))
    assert main.main(["info", str(junk), str(tmp_path / "missing"), *flag]) == 0
    printed = capsys.readouterr()
    if as_json:
        out = json.loads(printed.out)
        assert len(out["series"]) == 1 and len(out["skipped"]) == 3
    else:
        assert "Skipped 3 file(s):" in printed.out and printed.err == ""
