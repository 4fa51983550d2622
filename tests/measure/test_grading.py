"""Genant grade boundaries and morphological type."""

from __future__ import annotations

import math

import pytest

from measure.engine import measure_timepoint
from measure.grading import genant_grade, grade_vertebra
from measure.results_json import vertebra_json
from tests.measure.test_morphometry import make_vertebra


@pytest.mark.parametrize(
    ("loss", "grade"),
    [
        (-10.0, 0),
        (0.0, 0),
        (19.99, 0),
        (20.0, 1),  # boundaries belong to the higher grade ...
        ((1 - 0.8) * 100, 1),  # 19.999999999999996 in floating point: still on the boundary
        (24.99, 1),
        (25.0, 2),
        (39.99, 2),
        (40.0, 2),  # ... except 40%: grade 3 is "> 40%"
        ((1 - 15 / 25) * 100, 2),  # 40.00000000000001 in floating point
        (40.01, 3),
        (85.0, 3),
    ],
)
def test_genant_grade_boundaries(loss: float, grade: int) -> None:
    assert genant_grade(loss) == grade


def test_genant_grade_refuses_nan() -> None:
    with pytest.raises(ValueError, match="finite percentage"):
        genant_grade(math.nan)


@pytest.mark.parametrize(
    ("adjacent", "grade", "kind", "height"),
    [
        ({"ha": 30.0, "hm": 10.0, "hp": 5.0}, 2, "wedge", "ha"),
        ({"ha": 10.0, "hm": 32.0, "hp": 5.0}, 2, "biconcave", "hm"),
        ({"ha": 45.0, "hm": 42.0, "hp": 22.0}, 3, "crush", "ha"),
        ({"ha": 5.0, "hm": 5.0, "hp": 30.0}, 2, "crush", "hp"),  # posterior loss graded too
        ({"ha": 22.0, "hm": 22.0, "hp": 19.9}, 1, "wedge", "ha"),  # tie Ha/Hm -> wedge; Hp < 20%
        ({"ha": 19.0, "hm": 3.0, "hp": 0.0}, 0, "none", "ha"),
    ],
)
def test_grade_and_type_against_the_adjacent_reference(
    adjacent: dict[str, float], grade: int, kind: str, height: str
) -> None:
    g = grade_vertebra("L1", {"posterior": {"ha": 0.0, "hm": 0.0}, "adjacent": adjacent, "nearest": None})
    assert (g.grade, g.type, g.reference, g.height) == (grade, kind, "adjacent", height)
    assert g.loss_pct == adjacent[height]


def test_posterior_reference_is_the_fallback_and_says_crush_is_not_judged() -> None:
    g = grade_vertebra(
        "L1", {"posterior": {"ha": 45.0, "hm": 10.0}, "adjacent": None, "nearest": {"hp": 50.0}}
    )
    assert (g.grade, g.type, g.reference, g.height, g.loss_pct) == (3, "wedge", "posterior", "ha", 45.0)
    assert "cannot be recognised" in g.notes[0]


def test_wedge_biconcave_and_crush_vertebrae_end_to_end() -> None:
    """Neighbours T12 and L2 are 25 mm boxes; each middle vertebra is graded against them."""
    cases = [
        # (ha, hm, hp) of L1 -> grade, type, largest adjacent loss (%)
        ((15.0, 22.0, 25.0), 2, "wedge", 40.0),
        ((24.0, 14.0, 25.0), 3, "biconcave", 44.0),
        ((17.5, 17.5, 17.5), 2, "crush", 30.0),
        ((21.0, 23.0, 24.0), 0, "none", 16.0),
    ]
    for (ha, hm, hp), grade, kind, loss in cases:
        tp = measure_timepoint(
            [
                make_vertebra("T12", "reference"),
                make_vertebra("L1", "fractured", ha=ha, hm=hm, hp=hp),
                make_vertebra("L2", "reference"),
            ]
        )
        d = vertebra_json(tp.vertebrae["L1"])
        assert (d["genant_grade"], d["type"], d["genant_reference"]) == (grade, kind, "adjacent"), (
            ha,
            hm,
            hp,
        )
        assert d["genant_loss_pct"] == pytest.approx(loss)
        assert d["crush_ratio"] == pytest.approx(hp / 25.0)
        assert d["wedge_ratio"] == pytest.approx(ha / hp)
        assert vertebra_json(tp.vertebrae["T12"])["genant_grade"] == 0
