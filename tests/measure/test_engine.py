"""The engine's contract: what measure_timepoint returns (typed, and as the serializer's JSON),
and how it refuses bad input."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from measure.angles import RegionalSpec
from measure.engine import measure_timepoint, measure_vertebra
from measure.landmarks import ImagePlane
from measure.morphometry import VertebraInput
from measure.results_json import timepoint_json, vertebra_json
from tests.measure.test_morphometry import make_vertebra, vka_truth

VERTEBRA_KEYS = {
    "level",
    "status",
    "vka_deg",
    "ha_mm",
    "hm_mm",
    "hp_mm",
    "wedge_ratio",
    "biconcave_ratio",
    "crush_ratio",
    "height_loss_pct",
    "height_loss_detail",
    "genant_grade",
    "type",
    "uncertainty",
    "references",
    "notes",
}


def _spine() -> list[VertebraInput]:
    """T11..L2 stacked 30 mm apart; L1 is a 15/22/25 wedge, the others 25 mm boxes."""
    return [
        make_vertebra("T11", "reference", centre=(0.0, 30.0, 240.0), tilt_deg=4.0),
        make_vertebra("T12", "reference", centre=(0.0, 30.0, 210.0), tilt_deg=2.0),
        make_vertebra("L1", "fractured", centre=(0.0, 30.0, 180.0), ha=15.0, hm=22.0, hp=25.0),
        make_vertebra("L2", "reference", centre=(0.0, 30.0, 150.0), tilt_deg=-3.0),
    ]


def test_timepoint_as_dict_contract() -> None:
    tp = measure_timepoint(_spine())
    d = timepoint_json(tp)
    json.dumps(d)  # plain JSON types only
    assert list(d["vertebrae"]) == ["T11", "T12", "L1", "L2"]
    l1 = d["vertebrae"]["L1"]
    assert set(l1) >= VERTEBRA_KEYS
    assert set(l1["height_loss_pct"]) == {"posterior", "adjacent", "nearest"}
    assert set(l1["uncertainty"]) >= {"vka_deg", "ha_mm", "hm_mm", "hp_mm", "wedge_ratio", "biconcave_ratio"}
    assert set(l1["references"]) >= {"adjacent", "nearest"}
    assert l1["vka_deg"] == pytest.approx(vka_truth(15.0, 25.0), abs=1e-9)
    assert l1["ha_mm"] == pytest.approx(15.0, abs=1e-9)
    assert isinstance(l1["ha_mm"], float) and isinstance(l1["uncertainty"]["ha_mm"], float)
    assert (l1["genant_grade"], l1["type"]) == (2, "wedge")  # 40% vs 25 mm neighbours
    # Default regional angle around the fracture: T12 superior to L2 inferior.
    assert d["regional"] == [
        {
            "upper_level": "T12",
            "upper_endplate": "superior",
            "lower_level": "L2",
            "lower_endplate": "inferior",
            "angle_deg": pytest.approx(2.0 - (-3.0), abs=1e-9),
            "uncertainty_deg": pytest.approx(tp.regional[0].uncertainty_deg),
            "label": "regional L1",
            "notes": [],
        }
    ]


def test_explicit_regional_specs_replace_the_default() -> None:
    spec = RegionalSpec("T11", "inferior", "L2", "superior", "local")
    tp = measure_timepoint(_spine(), regional=[spec])
    assert [r.label for r in tp.regional] == ["local"]
    assert tp.regional[0].angle_deg == pytest.approx(4.0 - (-3.0), abs=1e-9)
    assert measure_timepoint(_spine(), regional=[]).regional == ()


def test_regional_spec_naming_an_absent_level_is_refused() -> None:
    with pytest.raises(ValueError, match="vertebra L4 is not in this timepoint"):
        measure_timepoint(_spine(), regional=[RegionalSpec("T12", "superior", "L4", "inferior")])


def test_missing_neighbour_for_default_regional_is_noted() -> None:
    tp = measure_timepoint(_spine()[:3])
    assert tp.regional == ()
    assert tp.notes == ("no default regional angle around L1: vertebra L2 is not measured.",)


def test_duplicate_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="vertebra L1 is given twice"):
        measure_timepoint([make_vertebra("L1"), make_vertebra("L1")])


def test_incomplete_vertebra_is_reported_and_not_a_reference() -> None:
    spine = _spine()
    t12 = spine[1]
    spine[1] = VertebraInput(
        "T12", "reference", {k: v for k, v in t12.landmarks.items() if k != "sup_mid"}, t12.planes
    )
    tp = measure_timepoint(spine)
    t12_d = vertebra_json(tp.vertebrae["T12"])
    assert t12_d["ha_mm"] is None and t12_d["genant_grade"] is None
    assert t12_d["notes"] == ["T12: not measured, landmarks sup_mid are missing."]
    l1 = tp.vertebrae["L1"]
    assert l1.references.adjacent == ("T11", "L2")  # nearest *measured* reference above
    assert l1.references.crush == ("L2",)
    # The default regional angle needs only T12's superior endplate points, still present.
    assert tp.regional[0].angle_deg == pytest.approx(5.0, abs=1e-9)


def test_non_parallel_landmarks_refuse_that_vertebra_only() -> None:
    tilt = math.radians(3.0)
    bad = make_vertebra(
        "L2",
        "reference",
        series_of={"sup_ant": "5.5"},
        extra_planes={"5.5": ImagePlane((math.sin(tilt), math.cos(tilt), 0.0), (0.0, 0.0, -1.0), (1, 1))},
    )
    good = _spine()[:3]
    tp = measure_timepoint([*good, bad])
    l2 = tp.vertebrae["L2"]
    assert not l2.measured and l2.ha_mm.value is None and l2.vka_deg.value is None
    assert len(l2.notes) == 1 and re.search(r"not measured: L2: .*differ by 3\.0 deg", l2.notes[0])
    alone = {v.level: measure_timepoint(good).vertebrae[v.level] for v in good}
    for v in good:  # the others are measured exactly as without the bad vertebra ...
        assert tp.vertebrae[v.level].ha_mm.value == alone[v.level].ha_mm.value
        assert tp.vertebrae[v.level].vka_deg.value == alone[v.level].vka_deg.value
    # ... and a regional angle that needs L2 is not measured, with the reason.
    spec = RegionalSpec("T12", "superior", "L2", "inferior")
    regional = measure_timepoint([*good, bad], [spec]).regional[0]
    assert regional.angle_deg is None and "differ by 3.0 deg" in regional.notes[0]
    assert regional.notes[0].startswith("not measured: regional angle T12 superior - L2 inferior: ")
    assert regional.notes[0].count("T12 superior - L2 inferior") == 1  # named once, not twice


def test_measure_vertebra_alone_grades_against_its_posterior_height() -> None:
    r = measure_vertebra(make_vertebra("L1", ha=15.0, hm=22.0, hp=25.0))
    assert (r.genant_grade, r.genant_reference, r.fracture_type) == (2, "posterior", "wedge")
    assert r.crush_ratio.value is None
    assert r.height_loss.posterior is not None and r.height_loss.posterior.largest_pct == pytest.approx(40.0)
    assert r.height_loss.adjacent is None and r.height_loss.nearest is None
    assert vertebra_json(r)["height_loss_pct"] == {
        "posterior": pytest.approx(40.0),
        "adjacent": None,
        "nearest": None,
    }


def test_values_are_unrounded_floats() -> None:
    pts_tp = measure_timepoint(_spine())
    hp = pts_tp.vertebrae["L1"].hp_mm.value
    assert isinstance(hp, float) and not isinstance(hp, np.floating)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_shuffled_vertebrae_and_landmark_order_change_nothing(seed: int) -> None:
    """Vertebrae in any order, each landmark mapping in any order: the same numbers."""
    import random

    rng = random.Random(seed)
    reference = timepoint_json(measure_timepoint(_spine()))
    shuffled = []
    for v in _spine():
        keys = list(v.landmarks)
        rng.shuffle(keys)
        shuffled.append(VertebraInput(v.level, v.status, {k: v.landmarks[k] for k in keys}, v.planes))
    rng.shuffle(shuffled)
    again = timepoint_json(measure_timepoint(shuffled))
    assert list(again["vertebrae"]) == ["T11", "T12", "L1", "L2"]  # cranial to caudal
    assert again == reference
    assert again["vertebrae"]["L1"]["vka_deg"] == pytest.approx(vka_truth(15.0, 25.0), abs=1e-9)
