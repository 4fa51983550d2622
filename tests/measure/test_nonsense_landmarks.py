"""Hole #7 of issue 14: degenerate or implausible landmarks are "not measured", never a number;
a landmark on a series the case does not list, or a malformed UID, is refused on load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from measure.case import Case
from measure.casefile import CaseFileError, load_case, save_case
from measure.casefile.codec import case_to_dict
from measure.engine import measure_timepoint
from measure.landmarks import LANDMARK_KEYS, Landmark
from measure.morphometry import VertebraInput
from measure.plausibility import Plausibility
from measure.results_json import case_results_json
from tests.measure.test_case import make_case

UID = "1.2.826.0.1.1"


def _set_all(case: Case, tp: str, level: str, points: dict[str, tuple[float, float, float]]) -> None:
    for key, p in points.items():
        case.set_landmark(tp, level, key, Landmark(p, UID))


def _finite_numbers(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(v) for v in value)
    return True


def _l1(case: Case) -> object:
    return case.measure().timepoints["pre"].vertebrae["L1"]


def test_six_identical_landmarks_are_not_graded() -> None:
    case = make_case()
    _set_all(case, "pre", "L1", dict.fromkeys(LANDMARK_KEYS, (0.0, -10.0, 70.0)))
    l1 = _l1(case)
    assert l1.ha_mm.value is None and l1.vka_deg.value is None  # type: ignore[attr-defined]
    assert l1.genant_grade is None and l1.fracture_type is None  # type: ignore[attr-defined]
    assert any("not measured: the superior endplate has zero length" in n for n in l1.notes)  # type: ignore[attr-defined]
    data = case_results_json(case, case.measure())
    assert _finite_numbers(data)
    json.dumps(data, allow_nan=False)  # no NaN / inf anywhere


def test_coincident_middle_point_is_named() -> None:
    case = make_case()
    pts = {k: lm.position_mm for k, lm in case.landmarks("pre", "L1").items()}
    pts["sup_mid"] = pts["sup_ant"]
    _set_all(case, "pre", "L1", pts)
    l1 = _l1(case)
    assert any("landmarks sup_ant and sup_mid coincide" in n for n in l1.notes)  # type: ignore[attr-defined]


def test_collinear_landmarks_are_not_measured() -> None:
    case = make_case()
    # All six on one oblique line in the sagittal plane (distinct points, non-zero endplates).
    line = {k: (0.0, -30.0 + 6.0 * i, 50.0 + 6.0 * i) for i, k in enumerate(LANDMARK_KEYS)}
    _set_all(case, "pre", "L1", line)
    l1 = _l1(case)
    assert l1.hp_mm.value is None  # type: ignore[attr-defined]
    assert any("lie on one line" in n for n in l1.notes)  # type: ignore[attr-defined]


def test_landmarks_scaled_by_a_million_are_outside_the_plausible_range() -> None:
    case = make_case()
    pts = {k: tuple(c * 1e6 for c in lm.position_mm) for k, lm in case.landmarks("pre", "L1").items()}
    _set_all(case, "pre", "L1", pts)  # type: ignore[arg-type]
    l1 = _l1(case)
    assert l1.ha_mm.value is None and l1.genant_grade is None  # type: ignore[attr-defined]
    # Ha of the pre-op L1 is 16 mm (make_case): 1.6e7 mm once scaled.
    assert any("Ha = 1.6e+07 mm is outside the plausible range 3-80 mm" in n for n in l1.notes)  # type: ignore[attr-defined]
    # The neighbours are measured as before (T12 Hp 25 mm).
    assert case.measure().timepoints["pre"].vertebrae["T12"].hp_mm.value == pytest.approx(25.0)


def test_the_plausible_range_is_configurable() -> None:
    case = make_case()  # pre-op L1: Ha 16 mm
    narrow = Plausibility(min_height_mm=17.0, max_height_mm=80.0)
    l1 = case.measure(plausibility=narrow).timepoints["pre"].vertebrae["L1"]
    assert l1.ha_mm.value is None and any("Ha = 16 mm is outside" in n for n in l1.notes)
    assert _l1(case).ha_mm.value == pytest.approx(16.0)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="range 80-3 mm is empty"):
        Plausibility(80.0, 3.0)


def test_a_zero_length_endplate_gives_no_regional_angle() -> None:
    case = make_case()
    t12 = {k: lm for k, lm in case.landmarks("pre", "T12").items()}
    inputs = case.vertebra_inputs("pre")
    inputs = [
        VertebraInput(
            v.level,
            v.status,
            {**v.landmarks, "sup_post": t12["sup_ant"]} if v.level == "T12" else v.landmarks,
            v.planes,
        )
        for v in inputs
    ]
    result = measure_timepoint(inputs)
    regional = [r for r in result.regional if r.upper_level == "T12"]
    assert regional and regional[0].angle_deg is None
    assert "not measured: the T12 superior endplate has zero length" in regional[0].notes[0]


def _saved(tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    path = save_case(make_case(), tmp_path / "case.json")
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_a_landmark_on_a_series_not_in_the_case_is_refused(tmp_path: Path) -> None:
    path, data = _saved(tmp_path)
    entry = next(i for i, v in enumerate(data["vertebrae"]) if v["level"] == "L1")
    data["vertebrae"][entry]["landmarks"]["sup_ant"]["series_uid"] = "1.2.999"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    assert info.value.field == f"vertebrae[{entry}].landmarks.sup_ant.series_uid"
    assert "series 1.2.999 is not one of the case's series" in str(info.value)


@pytest.mark.parametrize(
    "uid",
    ["", "1.2.3\n", " 1.2", "1.2 3", "1.2\\3", "1.2.\x1b[2J", "1.2.\u00e9", "1.2.\u202e3", "1." + "2" * 70],
)
def test_a_malformed_series_uid_is_refused(tmp_path: Path, uid: str) -> None:
    path, data = _saved(tmp_path)
    data["series"][0]["series_uid"] = uid
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(
        CaseFileError, match=r"field series\[0\]\.series_uid .*expected a UID: 1 to 64 printable"
    ):
        load_case(path)


@pytest.mark.parametrize("uid", ["1.2.abc", "1..2", "1.2.3.", "ANON-SERIES_7", "x" * 64])
def test_a_printable_non_numeric_series_uid_is_kept(tmp_path: Path, uid: str) -> None:
    """Anonymisers write UIDs with letters: such a case must stay saveable (docs/case-format.md)."""
    path, data = _saved(tmp_path)
    old = data["series"][0]["series_uid"]
    text = path.read_text(encoding="utf-8").replace(json.dumps(old), json.dumps(uid))
    path.write_text(text, encoding="utf-8")
    case = load_case(path)
    assert case.series[0].series_uid == uid
    again = load_case(save_case(case, tmp_path / "again.json"))
    assert again.same_content(case) and again.series[0].series_uid == uid


def test_our_own_output_always_lists_the_series_of_its_landmarks() -> None:
    data = case_to_dict(make_case())
    listed = {s["series_uid"] for s in data["series"]}
    used = {lm["series_uid"] for v in data["vertebrae"] for lm in v["landmarks"].values()}
    assert used <= listed


def test_measure_cli_takes_the_plausible_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from main import main

    path = save_case(make_case(), tmp_path / "case.json")
    assert main(["measure", str(path), "--json", "--height-range-mm", "17", "80"]) == 0
    data = json.loads(capsys.readouterr().out)
    l1 = data["timepoints"]["pre"]["vertebrae"]["L1"]
    assert l1["ha_mm"] is None
    assert main(["measure", str(path), "--height-range-mm", "80", "3"]) == 2
    assert "range 80-3 mm is empty" in capsys.readouterr().err
