"""``endplate measure CASE [--json]`` on a case built from analytic landmarks.

The case (tests.measure.test_case.make_case): T12 and L2 are reference bodies with all
heights 25 mm; L1 is a wedge fracture, Ha 16 / Hm 20 / Hp 25 mm before and Ha 22 / Hm 23 /
Hp 25 mm after treatment.  Every body is 30 mm deep with a flat inferior endplate, so the
vertebral kyphotic angle is atan((Hp - Ha) / 30 mm) and every other number follows exactly.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

import main
from measure.case import SeriesRef
from measure.casefile import save_case
from tests.measure.test_case import make_case

DEPTH_MM = 30.0
#: One-pixel sigma of a vertical height on the case's images: two points, 0.7 mm rows.
SIGMA_H_MM = math.sqrt(2.0) * 0.7


def vka_deg(ha_mm: float, hp_mm: float) -> float:
    return math.degrees(math.atan2(hp_mm - ha_mm, DEPTH_MM))


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    case = make_case()
    # Awkward on purpose: the post-op series shows anterior on the screen's right.  The
    # sign of the angle comes from patient space, so nothing may change.
    ref = case.series_ref("1.2.826.0.1.2")
    assert ref is not None
    case.assign_series(
        SeriesRef(
            ref.series_uid,
            ref.timepoint,
            ref.path,
            orientation=(0.0, -1.0, 0.0, 0.0, 0.0, -1.0),
            pixel_spacing_mm=(0.7, 0.5),
        )
    )
    return save_case(case, tmp_path / "case.json")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.main(["measure", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_measure_json_gives_the_exact_numbers(case_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(case_file), "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert list(data["timepoints"]) == ["pre", "post"]

    pre = data["timepoints"]["pre"]["vertebrae"]
    assert list(pre) == ["T12", "L1", "L2"]
    l1 = pre["L1"]
    exact = {
        "vka_deg": vka_deg(16.0, 25.0),
        "ha_mm": 16.0,
        "hm_mm": 20.0,
        "hp_mm": 25.0,
        "wedge_ratio": 16.0 / 25.0,
        "biconcave_ratio": 20.0 / 25.0,
        "crush_ratio": 1.0,  # Hp / mean Hp of T12 and L2
    }
    for key, value in exact.items():
        assert l1[key] == pytest.approx(value, abs=1e-9), key
    # Largest loss (Ha): 1 - 16/25 against Hp, against the mean of T12/L2, against T12.
    assert l1["height_loss_pct"] == pytest.approx(
        {"posterior": 36.0, "adjacent": 36.0, "nearest": 36.0}, abs=1e-9
    )
    assert (l1["genant_grade"], l1["type"], l1["status"]) == (2, "wedge", "fractured")
    # One-pixel uncertainties by hand: rows run along -Z with 0.7 mm row spacing, so each
    # point of a vertical height may move 0.7 mm along it (columns move it sideways: no
    # first-order effect), two independent points per height.
    u = l1["uncertainty"]
    assert u["ha_mm"] == pytest.approx(SIGMA_H_MM, rel=1e-6)
    assert u["hp_mm"] == pytest.approx(SIGMA_H_MM, rel=1e-6)
    # VKA: the superior line rises 9 mm over 30 mm (length^2 981 mm^2): d(theta)/dz = 30/981 and
    # d(theta)/dy = 9/981 at each end (0.7 mm row, 0.5 mm column error); the flat inferior line
    # has d(theta)/dz = 1/30 and no dy term.
    vka_sigma = math.sqrt(2 * (0.7 * 30 / 981) ** 2 + 2 * (0.5 * 9 / 981) ** 2 + 2 * (0.7 / 30) ** 2)
    assert u["vka_deg"] == pytest.approx(math.degrees(vka_sigma), rel=1e-6)
    # Height loss 1 - Ha/Hp (same body, independent points): 100 * sigma(16/25).
    loss_sigma_own = 100 * math.hypot(SIGMA_H_MM / 25.0, 16.0 * SIGMA_H_MM / 25.0**2)
    assert u["height_loss_pct"]["posterior"] == pytest.approx(loss_sigma_own, rel=1e-6)
    assert u["height_loss_detail"]["posterior"]["ha"] == pytest.approx(loss_sigma_own, rel=1e-6)
    # Against mean(T12, L2): the mean of two independent 25 mm heights has sigma 0.7 mm.
    loss_sigma_adjacent = 100 * math.hypot(SIGMA_H_MM / 25.0, 16.0 * (SIGMA_H_MM / math.sqrt(2)) / 25.0**2)
    assert u["height_loss_pct"]["adjacent"] == pytest.approx(loss_sigma_adjacent, rel=1e-6)
    assert u["height_loss_pct"]["nearest"] == pytest.approx(loss_sigma_own, rel=1e-6)  # T12 alone
    assert u["genant_loss_pct"] == pytest.approx(loss_sigma_adjacent, rel=1e-6)  # graded vs adjacent
    assert set(u["height_loss_detail"]["adjacent"]) == {"ha", "hm", "hp"}

    t12 = pre["T12"]
    assert t12["vka_deg"] == pytest.approx(0.0, abs=1e-9) and t12["hp_mm"] == pytest.approx(25.0, abs=1e-9)
    # T12 has no reference vertebra above it: the adjacent reference is missing (null).
    assert t12["height_loss_pct"]["adjacent"] is None
    assert t12["height_loss_pct"]["posterior"] == pytest.approx(0.0, abs=1e-9)
    assert t12["genant_grade"] == 0

    post_l1 = data["timepoints"]["post"]["vertebrae"]["L1"]
    assert post_l1["vka_deg"] == pytest.approx(
        vka_deg(22.0, 25.0), abs=1e-9
    )  # anterior on the right: same sign
    assert post_l1["ha_mm"] == pytest.approx(22.0, abs=1e-9)
    assert post_l1["height_loss_pct"]["adjacent"] == pytest.approx(12.0, abs=1e-9)  # 1 - 22/25
    assert post_l1["status"] == "treated"

    comparisons = {(c["level"], c["from"], c["to"]): c for c in data["comparisons"]}
    assert set(comparisons) == {("T12", "pre", "post"), ("L1", "pre", "post"), ("L2", "pre", "post")}
    c = comparisons[("L1", "pre", "post")]
    assert c["kind"] == "correction"
    assert c["correction_deg"] == pytest.approx(vka_deg(16.0, 25.0) - vka_deg(22.0, 25.0), abs=1e-9)
    assert c["height_gain_mm"] == pytest.approx({"ha": 6.0, "hm": 3.0, "hp": 0.0}, abs=1e-9)
    # (H_post - H_pre) / (H_ref - H_pre): Ha 6/9, Hm 3/5; Hp had no loss, so none.
    assert c["restoration_pct"]["ha"] == pytest.approx(100.0 * 6.0 / 9.0, abs=1e-9)
    assert c["restoration_pct"]["hm"] == pytest.approx(60.0, abs=1e-9)
    assert c["restoration_pct"]["hp"] is None
    assert c["within_error"]["correction_deg"] is False  # 11 deg is beyond the 4.9 deg error
    # Restoration Ha = 100 (22 - 16) / (25 - 16): sigma from the two Ha and the reference.
    expected = 100 * math.sqrt(
        (SIGMA_H_MM / 9.0) ** 2 + (SIGMA_H_MM * (6.0 - 9.0) / 81.0) ** 2 + (0.7 * 6.0 / 81.0) ** 2
    )
    assert c["uncertainty"]["restoration_pct"]["ha"] == pytest.approx(expected, rel=1e-6)
    assert c["uncertainty"]["restoration_pct"]["hp"] is None  # no restoration, no sigma
    assert comparisons[("T12", "pre", "post")]["within_error"]["correction_deg"] is True


def _row(lines: list[str], header_start: str, level: str) -> list[str]:
    """Cells of the row of ``level`` in the first table whose header starts as given
    (runs of spaces count as one)."""

    def squeeze(text: str) -> str:
        return re.sub(r"\s+", " ", text.strip())

    start = next(i for i, line in enumerate(lines) if squeeze(line).startswith(squeeze(header_start)))
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == level:
            return cells
    raise AssertionError(f"no row {level} after {header_start!r}")


def test_measure_text_is_an_aligned_table_with_units(
    case_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(case_file))
    assert code == 0 and err == ""
    _, json_out, _ = run(capsys, str(case_file), "--json")
    data = json.loads(json_out)
    lines = out.splitlines()
    assert "Timepoint pre: pre-op, 2026-03-01 (before kyphoplasty)" in lines
    assert "Timepoint post: post-op, 2026-03-03" in lines

    header = next(line for line in lines if line.strip().startswith("Level  Status"))
    for unit in ("VKA (deg)", "Ha (mm)", "Hm (mm)", "Hp (mm)", "Wedge Ha/Hp"):
        assert unit in header
    u = data["timepoints"]["pre"]["vertebrae"]["L1"]["uncertainty"]
    cells = _row(lines, "Level  Status", "L1")
    assert cells[:2] == ["L1", "fractured"]
    assert cells[2] == f"+16.7 +/- {u['vka_deg']:.1f}"  # atan(9/30) = 16.699 deg
    assert cells[3] == f"16.0 +/- {u['ha_mm']:.1f}"
    assert cells[4] == f"20.0 +/- {u['hm_mm']:.1f}"
    assert cells[5] == f"25.0 +/- {u['hp_mm']:.1f}"
    assert cells[6] == f"0.64 +/- {u['wedge_ratio']:.2f}"
    assert cells[7] == f"0.80 +/- {u['biconcave_ratio']:.2f}"

    loss = _row(lines, "Level  Loss vs own Hp (%)", "L1")
    ul = u["height_loss_pct"]
    assert loss[:6] == [
        "L1",
        f"36.0 +/- {ul['posterior']:.1f}",
        f"36.0 +/- {ul['adjacent']:.1f}",
        f"36.0 +/- {ul['nearest']:.1f}",
        "2",
        "wedge",
    ]
    assert ul["posterior"] == pytest.approx(4.70, abs=0.005)  # printed as 4.7
    assert _row(lines, "Level  Loss vs own Hp (%)", "T12")[2] == "-"  # missing reference

    # Columns are aligned: every row of the first table has the same width as its rule.
    start = lines.index(header)
    rule = lines[start + 1]
    for line in lines[start + 2 : start + 5]:
        assert len(line) == len(rule)

    comp = _row(lines, "Level  From -> To", "L1")
    uc = data["comparisons"][1]["uncertainty"]
    assert comp[:3] == ["L1", "pre -> post", "correction"]
    assert comp[3] == f"+11.0 +/- {uc['correction_deg']:.1f}"  # 16.699 - 5.711 deg
    assert comp[4].startswith("+6.0 +/- ") and comp[5].startswith("+3.0 +/- ")
    assert comp[6].endswith("*")  # Hp did not change: within the measurement error
    more = _row(lines, "Level From -> To Kind Restoration", "L1")
    ur = uc["restoration_pct"]
    assert more[3] == f"67 +/- {ur['ha']:.0f} / 60 +/- {ur['hm']:.0f} / -"
    assert more[4:6] == ["-", "-"]  # no loss of correction on a pre -> post pair
    # Height loss vs adjacent: 36 -> 12 % (Ha), 20 -> 8 % (Hm), 0 -> 0 % (Hp: within error).
    assert more[6] == "-24.0 / -12.0* / +0.0*".replace(" /", " /")


def test_measure_minimal_v1_file_from_another_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.measure.test_casefile import MINIMAL

    path = tmp_path / "other.json"
    path.write_text(json.dumps(MINIMAL), encoding="utf-8")
    code, out, err = run(capsys, str(path), "--json")
    assert code == 0, err
    l1 = json.loads(out)["timepoints"]["pre"]["vertebrae"]["L1"]
    # No geometry in a v1 file: the plane is fitted to the points, heights are exact.
    assert l1["ha_mm"] == pytest.approx(math.dist((0.0, -25.1, 12.3), (0.0, -25.0, -10.0)), abs=1e-9)
    assert l1["hp_mm"] == pytest.approx(26.0, abs=1e-9)
    assert l1["uncertainty"]["ha_mm"] is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"format": "endplate-case", "version": 1', "is not valid JSON"),
        ('{"format": "endplate-case", "version": 1}', "field coordinate_system is missing"),
        ('{"format": "endplate-case", "version": 99}', "written by a newer Endplate: version 99"),
    ],
)
def test_a_bad_case_file_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    for extra in ((), ("--json",)):
        code, out, err = run(capsys, str(path), *extra)
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and err.startswith("endplate: error: ")
        assert expected in err and str(path) in err


def test_a_missing_case_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(tmp_path / "nope.json"))
    assert code == 2 and out == "" and "no such file" in err


def test_follow_up_loss_of_correction_in_json_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Follow-up L1: Ha 20 / Hm 22 / Hp 25 mm after 22 / 23 / 25 post-op."""
    from tests.measure.test_data_dictionary import followup_case_file

    path = followup_case_file(tmp_path)
    code, out, _ = run(capsys, str(path), "--json")
    assert code == 0
    comparisons = {(c["level"], c["from"], c["to"]): c for c in json.loads(out)["comparisons"]}
    loss = comparisons[("L1", "post", "fu")]
    assert loss["kind"] == "loss_of_correction"
    assert loss["loss_of_correction"] == pytest.approx(
        {"vka_deg": vka_deg(20.0, 25.0) - vka_deg(22.0, 25.0), "ha_mm": -2.0, "hm_mm": -1.0, "hp_mm": 0.0},
        abs=1e-9,
    )
    # 3.75 deg < 4.9 deg: within the error; exactly 2 mm is not below the 2 mm threshold.
    assert loss["within_error"]["loss_of_correction"] == {
        "vka_deg": True,
        "ha_mm": False,
        "hm_mm": True,
        "hp_mm": True,
    }
    assert loss["uncertainty"]["loss_of_correction"]["vka_deg"] == loss["uncertainty"]["correction_deg"]
    pre_fu = comparisons[("L1", "pre", "fu")]
    assert pre_fu["kind"] == "correction" and pre_fu["loss_of_correction"] is None
    assert pre_fu["restoration_pct"]["ha"] == pytest.approx(100 * 4.0 / 9.0, abs=1e-9)

    code, text, _ = run(capsys, str(path))
    row = _row(text.splitlines(), "Level From -> To Kind Restoration", "L1")
    rows = [line for line in text.splitlines() if line.strip().startswith("L1") and "post -> fu" in line]
    assert len(rows) == 2  # one line in each comparison table
    cells = re.split(r"\s{2,}", rows[1].strip())
    u = loss["uncertainty"]["loss_of_correction"]["vka_deg"]
    assert cells[:3] == ["L1", "post -> fu", "loss of correction"]
    assert cells[4] == f"+3.8 +/- {u:.1f}*"  # atan(5/30) - atan(3/30) = 3.75 deg
    assert cells[5] == "-2.0 / -1.0* / +0.0*"
    assert row[1] == "pre -> post"  # the first L1 row of that table is the pre -> post pair


def test_a_refused_vertebra_is_shown_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """L2's inferior posterior point sits on a series tilted by 3 deg: L2 is not measured,
    the reason is printed, and T12 and L1 are measured exactly as before."""
    case = make_case()
    tilt = math.radians(3.0)
    case.assign_series(
        SeriesRef(
            "9.9",
            "pre",
            "tilted",
            orientation=(math.sin(tilt), math.cos(tilt), 0.0, 0.0, 0.0, -1.0),  # turned 3 deg about z
            pixel_spacing_mm=(0.7, 0.5),
        )
    )
    lm = case.landmark("pre", "L2", "inf_post")
    assert lm is not None
    # A point of the set placed on a parallel-looking but tilted series (same set, other image).
    case.set_landmark("pre", "L2", "inf_post", replace(lm, series_uid="9.9"), case.measurement_series("pre"))
    path = save_case(case, tmp_path / "case.json")

    code, out, err = run(capsys, str(path), "--json")
    assert code == 0 and err == ""
    pre = json.loads(out)["timepoints"]["pre"]["vertebrae"]
    l2 = pre["L2"]
    assert all(l2[k] is None for k in ("vka_deg", "ha_mm", "hm_mm", "hp_mm", "genant_grade"))
    assert len(l2["notes"]) == 1
    assert re.fullmatch(
        r"not measured: L2: landmarks .* \(series 1\.2\.826\.0\.1\.1\) and inf_post \(series 9\.9\) .*"
        r"differ by 3\.0 deg\).*",
        l2["notes"][0],
    )
    assert pre["L1"]["ha_mm"] == pytest.approx(16.0, abs=1e-9)
    assert pre["L1"]["height_loss_pct"]["adjacent"] is None  # L2 cannot serve as a reference
    assert pre["L1"]["references"]["nearest"] == "T12"

    code, text, _ = run(capsys, str(path))
    assert f"  note: {l2['notes'][0]}" in text.splitlines()
    assert _row(text.splitlines(), "Level Status", "L2")[2:] == ["-"] * 7


def test_change_thresholds_are_configurable(tmp_path: Path) -> None:
    from measure.results import ChangeThresholds, HeightFlags
    from measure.results_json import case_results_json

    case = make_case()
    default = {c["level"]: c for c in case_results_json(case, case.measure())["comparisons"]}
    strict = ChangeThresholds(angle_deg=0.5, height_loss_pct=1.0, height_mm=0.1)
    custom = {c["level"]: c for c in case_results_json(case, case.measure(strict))["comparisons"]}
    assert default["L1"]["within_error"]["height_gain_mm"]["hm"] is False  # 3 mm > 2 mm
    assert custom["L1"]["thresholds"] == {"angle_deg": 0.5, "height_loss_pct": 1.0, "height_mm": 0.1}
    assert custom["L1"]["within_error"]["correction_deg"] is False
    # T12 did not change at all: within any positive threshold.
    assert custom["T12"]["within_error"]["correction_deg"] is True
    loose = ChangeThresholds(angle_deg=20.0, height_loss_pct=50.0, height_mm=10.0)
    relaxed = {c.level: c for c in case.measure(loose).comparisons}
    assert relaxed["L1"].correction_within_error is True  # 11 deg < 20 deg
    assert relaxed["L1"].height_gain_within_error == HeightFlags(True, True, True)


def test_change_thresholds_from_the_command_line(case_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(case_file), "--json")
    default = {c["level"]: c for c in json.loads(out)["comparisons"]}
    assert default["L1"]["thresholds"] == {"angle_deg": 4.9, "height_loss_pct": 12.5, "height_mm": 2.0}
    assert default["L1"]["within_error"]["height_gain_mm"]["hm"] is False  # 3 mm > 2 mm
    code, out, _ = run(
        capsys,
        str(case_file),
        "--json",
        "--angle-error-deg",
        "20",
        "--height-error-mm",
        "10",
        "--height-loss-error-pct",
        "50",
    )
    assert code == 0
    relaxed = {c["level"]: c for c in json.loads(out)["comparisons"]}
    assert relaxed["L1"]["thresholds"] == {"angle_deg": 20.0, "height_loss_pct": 50.0, "height_mm": 10.0}
    assert relaxed["L1"]["within_error"]["correction_deg"] is True  # 11 deg < 20 deg
    assert relaxed["L1"]["within_error"]["height_gain_mm"] == {"ha": True, "hm": True, "hp": True}
