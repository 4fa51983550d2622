"""Height loss against the three references, and the rules that choose the references."""

from __future__ import annotations

import pytest

from measure.engine import measure_timepoint
from measure.height_loss import (
    choose_references,
    mean_heights,
    posterior_loss_pct,
    reference_loss_pct,
)
from measure.results import HeightLoss, PerHeight, VertebraResult
from measure.results_json import vertebra_json
from tests.measure.test_morphometry import make_vertebra


@pytest.mark.parametrize(
    ("level", "references", "adjacent", "nearest"),
    [
        ("L1", ["T12", "L2"], ("T12", "L2"), "T12"),  # tie: cranial preferred
        ("L1", ["T11", "L2"], ("T11", "L2"), "L2"),  # nearest above/below may be further away
        ("L1", ["T10", "T11", "L2", "L4"], ("T11", "L2"), "L2"),
        ("L1", ["L1", "T12", "L3"], ("T12", "L3"), "T12"),  # the level itself never counts
        ("L5", ["L4"], ("L4",), "L4"),  # L5: above only
        ("L5", ["L3", "S1"], ("L3",), "S1"),  # ... even when a level below is measured
        ("T12", ["L1"], (), "L1"),  # one side only: no "adjacent"
        ("T12", [], (), None),
    ],
)
def test_choose_references(level: str, references: list[str], adjacent: tuple, nearest: str | None) -> None:
    choice = choose_references(level, references)
    assert choice.adjacent == adjacent
    assert choice.nearest == nearest


def test_missing_references_are_explained() -> None:
    assert choose_references("T12", ["L1"]).notes == (
        "T12: no adjacent reference: no vertebra above T12 is measured and marked as reference "
        "(the adjacent reference needs one above and one below).",
    )
    assert choose_references("L5", []).notes == (
        "L5: no adjacent reference: no vertebra above L5 is measured and marked as reference "
        "(for L5 the reference is the vertebra above only).",
        "L5: no nearest reference: no other vertebra is measured and marked as reference.",
    )


def test_loss_formulas() -> None:
    heights = {"ha": 15.0, "hm": 22.0, "hp": 25.0}
    assert posterior_loss_pct(heights) == pytest.approx({"ha": 40.0, "hm": 12.0})
    ref = mean_heights([{"ha": 26.0, "hm": 26.0, "hp": 26.0}, {"ha": 30.0, "hm": 28.0, "hp": 30.0}])
    assert ref == pytest.approx({"ha": 28.0, "hm": 27.0, "hp": 28.0})
    loss = reference_loss_pct(heights, ref)
    assert loss == pytest.approx({"ha": 1300 / 28, "hm": 500 / 27, "hp": 300 / 28})
    largest = HeightLoss("adjacent", PerHeight.from_mapping(loss), PerHeight())
    assert (largest.largest_height, largest.largest_pct) == ("ha", pytest.approx(1300 / 28))


def loss_of(v: VertebraResult, reference: str, sigma: bool = False) -> dict[str, float | None]:
    """The losses (or their sigmas) of one reference, by height, as the test compares them."""
    loss = v.height_loss.get(reference)
    assert loss is not None, f"{v.level} has no {reference} loss"
    values = loss.sigma_pct if sigma else loss.pct
    return {h: values.get(h) for h in loss.heights}


def test_three_references_through_the_engine_are_labelled_and_exact() -> None:
    tp = measure_timepoint(
        [
            make_vertebra("T12", "reference", ha=26.0, hm=26.0, hp=26.0),
            make_vertebra("L1", "fractured", ha=15.0, hm=22.0, hp=25.0),
            make_vertebra("L2", "reference", ha=30.0, hm=28.0, hp=30.0),
        ]
    )
    l1 = tp.vertebrae["L1"]
    assert loss_of(l1, "posterior") == pytest.approx({"ha": 40.0, "hm": 12.0})
    assert loss_of(l1, "adjacent") == pytest.approx({"ha": 1300 / 28, "hm": 500 / 27, "hp": 300 / 28})
    # nearest: T12 and L2 are both one level away; the cranial one (T12) is used.
    assert loss_of(l1, "nearest") == pytest.approx({"ha": 1100 / 26, "hm": 400 / 26, "hp": 100 / 26})
    assert l1.adjacent_reference is not None
    assert dict(l1.adjacent_reference.heights_mm.items()) == pytest.approx(
        {"ha": 28.0, "hm": 27.0, "hp": 28.0}
    )
    d = vertebra_json(l1)
    assert d["height_loss_pct"] == pytest.approx(
        {"posterior": 40.0, "adjacent": 1300 / 28, "nearest": 1100 / 26}
    )
    assert d["references"] == {"adjacent": ["T12", "L2"], "nearest": "T12", "crush": ["T12", "L2"]}


def test_only_reader_marked_references_count() -> None:
    """T12 is 'unknown' and L2 'treated': neither may serve as reference for L1."""
    tp = measure_timepoint(
        [
            make_vertebra("T11", "reference", ha=24.0, hm=24.0, hp=24.0),
            make_vertebra("T12", "unknown"),
            make_vertebra("L1", "fractured", ha=15.0, hm=22.0, hp=25.0),
            make_vertebra("L2", "treated"),
        ]
    )
    l1 = vertebra_json(tp.vertebrae["L1"])
    assert l1["height_loss_pct"]["adjacent"] is None
    assert l1["height_loss_detail"]["adjacent"] is None
    assert l1["references"]["adjacent"] == []
    assert l1["references"]["nearest"] == "T11"
    assert l1["height_loss_pct"]["nearest"] == pytest.approx((1 - 15 / 24) * 100)
    assert any("no adjacent reference: no vertebra below L1" in n for n in l1["notes"])
    assert l1["genant_reference"] == "posterior"


def test_l5_uses_the_vertebra_above_only() -> None:
    tp = measure_timepoint(
        [
            make_vertebra("L4", "reference", ha=28.0, hm=28.0, hp=28.0),
            make_vertebra("L5", "fractured", ha=21.0, hm=26.0, hp=28.0),
            make_vertebra("S1", "reference", ha=10.0, hm=10.0, hp=10.0),
        ]
    )
    l5 = tp.vertebrae["L5"]
    assert l5.references.adjacent == ("L4",)
    assert loss_of(l5, "adjacent") == pytest.approx({"ha": 25.0, "hm": 100 / 14, "hp": 0.0})
    assert l5.genant_grade == 2  # exactly 25% is grade 2
    assert l5.fracture_type == "wedge"


def test_summary_loss_includes_hp_and_equals_the_graded_loss() -> None:
    """Posterior height reduced most (Ha 23, Hm 22, Hp 17.5 mm between 25 mm neighbours):
    the summary loss against the adjacent reference is the Hp loss the grade is read from."""
    tp = measure_timepoint(
        [
            make_vertebra("T12", "reference"),
            make_vertebra("L1", "fractured", ha=23.0, hm=22.0, hp=17.5),
            make_vertebra("L2", "reference"),
        ]
    )
    d = vertebra_json(tp.vertebrae["L1"])
    assert d["height_loss_pct"]["adjacent"] == pytest.approx(30.0)
    assert d["height_loss_pct"]["nearest"] == pytest.approx(30.0)
    assert (d["genant_grade"], d["type"], d["genant_height"]) == (2, "crush", "hp")
    assert d["genant_loss_pct"] == d["height_loss_pct"]["adjacent"]
    # Against its own Hp the body looks taller in front: only Ha and Hm count there.
    assert d["height_loss_pct"]["posterior"] == pytest.approx((1 - 22.0 / 17.5) * 100)


def test_height_loss_uncertainty_by_hand_and_none_without_spacing() -> None:
    """SAGITTAL rows: 2.0 mm vertical error per point, so sigma(H) = 2 sqrt(2) mm for every
    height; the adjacent reference is the mean of two such heights (sigma 2 mm)."""
    spine = [
        make_vertebra("T12", "reference"),
        make_vertebra("L1", "fractured", ha=15.0, hm=22.0, hp=25.0),
        make_vertebra("L2", "reference"),
    ]
    l1 = measure_timepoint(spine).vertebrae["L1"]
    s = 2.0 * 2**0.5
    sigma = {ref: loss_of(l1, ref, sigma=True) for ref in ("posterior", "adjacent", "nearest")}
    assert sigma["posterior"] == pytest.approx(
        {
            "ha": 100 * (s**2 / 25**2 + (15 * s / 25**2) ** 2) ** 0.5,
            "hm": 100 * (s**2 / 25**2 + (22 * s / 25**2) ** 2) ** 0.5,
        },
        rel=1e-6,
    )
    assert sigma["adjacent"]["ha"] == pytest.approx(
        100 * (s**2 / 25**2 + (15 * 2.0 / 25**2) ** 2) ** 0.5, rel=1e-6
    )
    assert sigma["nearest"]["hp"] == pytest.approx(
        100 * (s**2 / 25**2 + (25 * s / 25**2) ** 2) ** 0.5, rel=1e-6
    )
    assert (
        vertebra_json(l1)["uncertainty"]["height_loss_pct"]["adjacent"] == sigma["adjacent"]["ha"]
    )  # Ha gave 40%

    unknown = [
        make_vertebra(v.level, v.status, points={k: lm.array for k, lm in v.landmarks.items()}, plane=None)
        for v in spine
    ]
    d = vertebra_json(measure_timepoint(unknown).vertebrae["L1"])
    assert d["height_loss_pct"]["adjacent"] == pytest.approx(40.0)
    assert d["uncertainty"]["height_loss_pct"] == {"posterior": None, "adjacent": None, "nearest": None}
    assert d["uncertainty"]["height_loss_detail"]["adjacent"] == {"ha": None, "hm": None, "hp": None}
