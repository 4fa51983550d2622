"""The PDF of a minimal case written by another tool (no case id, no images on disk, no
STIR): every format exports or refuses in one sentence; the report says what it could not
show, marks a restoration above 100 % and explains it.  Expected numbers by hand."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import main

ERROR_WORDS = ("Traceback", "Error", "Exception", "object has no attribute", "NoneType")


def _vertebra(tp: str, level: str, status: str, z0: float, ha: float, hm: float, hp: float, uid: str) -> dict:  # type: ignore[type-arg]
    """Six landmarks on the sagittal plane x = 0: anterior y = -25, middle -10, posterior +5
    (LPS: +y posterior), each pair centred on z0 with the given height."""
    points = {}
    for key, y, h in (("ant", -25.0, ha), ("mid", -10.0, hm), ("post", 5.0, hp)):
        points[f"sup_{key}"] = {"position": [0.0, y, z0 + h / 2], "series_uid": uid}
        points[f"inf_{key}"] = {"position": [0.0, y, z0 - h / 2], "series_uid": uid}
    return {"timepoint": tp, "level": level, "status": status, "landmarks": points}


@pytest.fixture
def minimal_case(tmp_path: Path) -> Path:
    """Pre-op L1 wedge (Ha 15 mm) between reference T12 and L2 (25 mm); post-op Ha 27 mm:
    restoration (27 - 15) / (25 - 15) = 120 %."""
    case = {
        "format": "endplate-case",
        "version": 1,
        "coordinate_system": "LPS",
        "units": "mm",
        "timepoints": [
            {"id": "pre", "kind": "pre-op", "date": "2026-03-01"},
            {"id": "post", "kind": "post-op", "date": "2026-03-03"},
        ],
        "series": [
            {"series_uid": "1.2.3", "timepoint": "pre", "path": "pre_ct"},
            {"series_uid": "1.2.4", "timepoint": "post", "path": "post_ct"},
        ],
        "vertebrae": [
            _vertebra("pre", "T12", "reference", 60, 25, 25, 25, "1.2.3"),
            _vertebra("pre", "L1", "fractured", 30, 15, 20, 25, "1.2.3"),
            _vertebra("pre", "L2", "reference", 0, 25, 25, 25, "1.2.3"),
            _vertebra("post", "T12", "reference", 60, 25, 25, 25, "1.2.4"),
            _vertebra("post", "L1", "treated", 30, 27, 24, 25, "1.2.4"),
            _vertebra("post", "L2", "reference", 0, 25, 25, 25, "1.2.4"),
        ],
    }
    path = tmp_path / "other-tool.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    return path


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_minimal_case_to_every_format(
    minimal_case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = {fmt: tmp_path / f"out.{fmt}" for fmt in ("csv", "json", "sr", "fhir", "pdf")}
    status = {
        fmt: main.main(["export", str(minimal_case), "--format", fmt, "--out", str(path)])
        for fmt, path in out.items()
    }
    err = capsys.readouterr().err
    assert status == {"csv": 0, "json": 0, "sr": 2, "fhir": 0, "pdf": 0}, err
    # The SR is refused in a sentence: it must reference the images, which are not there.
    assert "timepoint pre: the source images of T12 (series 1.2.3) were not found" in err
    assert "case ," not in err and not (out["sr"].is_dir() and any(out["sr"].iterdir()))
    for word in ERROR_WORDS:
        assert word not in err, word

    rows = {(r["timepoint_id"], r["level"]): r for r in csv.DictReader(out["csv"].open(encoding="utf-8"))}
    assert float(rows[("post", "L1")]["restoration_ha_pct"]) == pytest.approx(120.0, abs=1e-9)
    assert float(rows[("post", "L1")]["height_gain_ha_mm"]) == pytest.approx(12.0, abs=1e-9)
    bundle = json.loads(out["fhir"].read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]
    assert json.loads(out["json"].read_text(encoding="utf-8"))

    text = subprocess.run(
        ["pdftotext", "-layout", str(out["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    for word in ERROR_WORDS:
        assert word not in text, word
    assert "Vertebral fracture measurements\n" in text  # no "case " without an id
    # Why there is no key image, said once per timepoint (not repeated in the caption).
    reading = subprocess.run(
        ["pdftotext", str(out["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(reading.split())  # reading order; sentences wrap across lines
    assert flat.count("the images the landmarks were placed on were not found") == 2
    assert flat.count("No STIR series in this case: the fracture's age (marrow edema) was not assessed.") == 1
    # Restoration of Ha: 120 % marked and explained; Hm (24 - 20) / (25 - 20) = 80 %: not marked.
    (row,) = [line for line in text.splitlines() if line.split()[:4] == ["L1", "pre", "→", "post"]]
    cells = row.split()
    assert "120" in cells and cells[cells.index("120") + 1] == "†" and "80" in cells
    assert "† Restoration above 100 %: the height after treatment exceeds the reference height" in flat
    # Correction by hand: VKA = angle(sup line) - angle(inf line) from posterior towards superior.
    import math

    def vka(ha: float, hp: float) -> float:
        sup = math.atan2((hp - ha) / 2, 30.0)  # sup_post - sup_ant over y 30 mm
        inf = math.atan2(-(hp - ha) / 2, 30.0)
        return math.degrees(sup - inf)

    correction = vka(15, 25) - vka(27, 25)
    assert f"{correction:.1f}" in cells
