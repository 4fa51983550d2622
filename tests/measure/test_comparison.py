"""Pre-op / post-op / follow-up comparisons with known correction and restoration."""

from __future__ import annotations

import math

import pytest

from measure.comparison import compare, compare_timepoints
from measure.engine import measure_timepoint
from measure.results import DEFAULT_THRESHOLDS, ChangeThresholds, TimepointResult
from measure.results_json import comparison_json
from tests.measure.test_morphometry import make_vertebra


def _deg(rise: float) -> float:
    """VKA of a phantom whose posterior height exceeds the anterior by ``rise`` (D = 40)."""
    return math.degrees(math.atan2(rise, 40.0))


def _timepoint(l1: tuple[float, float, float], status: str, l2_height: float = 25.0) -> TimepointResult:
    ha, hm, hp = l1
    return measure_timepoint(
        [
            make_vertebra("T12", "reference", ha=25.0, hm=25.0, hp=25.0),
            make_vertebra("L1", status, ha=ha, hm=hm, hp=hp),
            make_vertebra("L2", "reference", ha=l2_height, hm=l2_height, hp=l2_height),
        ]
    )


# Adjacent reference at pre-op: 25 mm for every height.  Post-op and follow-up neighbours
# differ (L2 = 27 mm) to show that restoration uses the EARLIER timepoint's reference.
PRE = _timepoint((15.0, 20.0, 24.0), "fractured")
POST = _timepoint((22.0, 23.0, 25.0), "treated", l2_height=27.0)
FOLLOW = _timepoint((20.0, 22.0, 25.0), "treated", l2_height=27.0)


def test_correction_pre_to_post() -> None:
    c = compare("L1", PRE, POST, "pre", "post", "correction")
    d = comparison_json(c)
    assert (d["level"], d["from"], d["to"], d["kind"]) == ("L1", "pre", "post", "correction")
    assert d["correction_deg"] == pytest.approx(_deg(9.0) - _deg(3.0), abs=1e-9)  # 8.39 deg
    assert d["height_gain_mm"] == pytest.approx({"ha": 7.0, "hm": 3.0, "hp": 1.0}, abs=1e-9)
    # (H_post - H_pre) / (H_ref - H_pre): 7/10, 3/5, 1/1
    assert d["restoration_pct"] == pytest.approx({"ha": 70.0, "hm": 60.0, "hp": 100.0}, abs=1e-9)
    assert d["loss_of_correction"] is None
    assert d["within_error"]["correction_deg"] is False  # 8.4 deg > 4.9 deg
    assert d["within_error"]["height_gain_mm"] == {"ha": False, "hm": False, "hp": True}
    # Height loss vs the adjacent reference: pre 40/20/4 %, post vs mean(25, 27) = 26 mm.
    assert d["height_loss_change_pct"] == pytest.approx(
        {"ha": (1 - 22 / 26) * 100 - 40.0, "hm": (1 - 23 / 26) * 100 - 20.0, "hp": (1 - 25 / 26) * 100 - 4.0}
    )
    assert d["uncertainty"]["correction_deg"] == pytest.approx(
        math.hypot(PRE.vertebrae["L1"].vka_deg.uncertainty, POST.vertebrae["L1"].vka_deg.uncertainty)
    )
    assert d["thresholds"] == {"angle_deg": 4.9, "height_loss_pct": 12.5, "height_mm": 2.0}


def test_loss_of_correction_post_to_follow_up() -> None:
    d = comparison_json(compare("L1", POST, FOLLOW, "post", "fu1", "loss_of_correction"))
    assert d["loss_of_correction"] == pytest.approx(
        {"vka_deg": _deg(5.0) - _deg(3.0), "ha_mm": -2.0, "hm_mm": -1.0, "hp_mm": 0.0}, abs=1e-9
    )
    assert d["correction_deg"] == pytest.approx(_deg(3.0) - _deg(5.0), abs=1e-9)
    # Reference at post-op is mean(25, 27) = 26: deficits 4, 3, 1 mm.
    assert d["restoration_pct"] == pytest.approx({"ha": -50.0, "hm": -100 / 3, "hp": 0.0}, abs=1e-9)
    assert d["within_error"]["loss_of_correction"] == {
        "vka_deg": True,  # 2.8 deg < 4.9 deg
        "ha_mm": False,  # exactly 2 mm is not below the 2 mm threshold
        "hm_mm": True,
        "hp_mm": True,
    }


def test_thresholds_are_configurable() -> None:
    strict = ChangeThresholds(angle_deg=2.0, height_loss_pct=5.0, height_mm=0.5)
    d = comparison_json(compare("L1", POST, FOLLOW, "post", "fu1", "loss_of_correction", strict))
    assert d["within_error"]["loss_of_correction"]["vka_deg"] is False
    assert d["within_error"]["height_gain_mm"] == {"ha": False, "hm": False, "hp": True}
    assert DEFAULT_THRESHOLDS.angle_deg == 4.9


def test_restoration_is_null_without_loss_or_reference() -> None:
    no_loss = _timepoint((15.0, 20.0, 25.0), "fractured")
    d = comparison_json(compare("L1", no_loss, POST, "pre", "post", "correction"))
    assert d["restoration_pct"]["hp"] is None
    assert d["restoration_pct"]["ha"] == pytest.approx(70.0)
    assert "no restoration percentage for hp, there was no height loss at 'pre'." in d["notes"][0]

    alone = measure_timepoint([make_vertebra("L1", "fractured", ha=15.0, hm=20.0, hp=24.0)])
    d = comparison_json(compare("L1", alone, POST, "pre", "post", "correction"))
    assert d["restoration_pct"] == {"ha": None, "hm": None, "hp": None}
    assert d["height_gain_mm"]["ha"] == pytest.approx(7.0)
    assert "has no adjacent reference" in d["notes"][0]


def test_compare_timepoints_makes_the_standard_pairs() -> None:
    fu2 = _timepoint((19.0, 22.0, 25.0), "treated")
    results = compare_timepoints(
        [
            ("pre", "pre-op", PRE),
            ("post", "Post", POST),
            ("fu1", "follow-up", FOLLOW),
            ("fu2", "followup", fu2),
        ]
    )
    pairs = [(r.level, r.from_id, r.to_id, r.kind) for r in results]
    expected = []
    for a, b, kind in [
        ("pre", "post", "correction"),
        ("post", "fu1", "loss_of_correction"),
        ("pre", "fu1", "correction"),
        ("post", "fu2", "loss_of_correction"),
        ("pre", "fu2", "correction"),
    ]:
        expected += [(lv, a, b, kind) for lv in ("T12", "L1", "L2")]
    assert pairs == expected
    pre_fu2 = next(r for r in results if (r.level, r.from_id, r.to_id) == ("L1", "pre", "fu2"))
    assert pre_fu2.correction_deg == pytest.approx(_deg(9.0) - _deg(6.0), abs=1e-9)
    assert pre_fu2.restoration_pct.ha == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("timepoints", "message"),
    [
        ([("a", "pre", PRE), ("b", "pre", PRE)], r"2 pre-operative timepoints were given \('a', 'b'\)"),
        ([("a", "baseline", PRE)], "timepoint kind 'baseline' is not known"),
    ],
)
def test_compare_timepoints_refuses_ambiguous_input(timepoints: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_timepoints(timepoints)


def test_compare_refuses_bad_level_or_kind() -> None:
    with pytest.raises(ValueError, match="vertebra L3 is not measured at timepoint 'pre'"):
        compare("L3", PRE, POST, "pre", "post", "correction")
    with pytest.raises(ValueError, match="comparison kind 'restoration' is not known"):
        compare("L1", PRE, POST, "pre", "post", "restoration")
