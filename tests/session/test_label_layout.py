"""Label placement behind the spine: hand-built bodies with known walls and sizes."""

from __future__ import annotations

import pytest

from session.label_layout import LabelRequest, layout_labels, nearest_on_rect, posterior_axis


def _body(x0: float, y0: float, w: float = 30.0, h: float = 25.0) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_posterior_axis_follows_the_given_direction() -> None:
    assert posterior_axis((1.0, 0.1)) == (0, 1.0)
    assert posterior_axis((-0.9, 0.2)) == (0, -1.0)
    assert posterior_axis((0.1, -1.0)) == (1, -1.0)


def test_labels_go_beyond_the_posterior_wall_on_the_posterior_side() -> None:
    # Posterior is screen +x: walls at x = 130 and 140 (the lower body is more posterior).
    reqs = [
        LabelRequest("A", _body(100, 0), (130.0, 12.5), (40.0, 10.0)),
        LabelRequest("B", _body(110, 30), (140.0, 42.5), (40.0, 10.0)),
    ]
    out = {p.key: p for p in layout_labels(reqs, (1.0, 0.0), gap_mm=5.0, spacing_mm=2.0)}
    assert out["A"].rect_mm == pytest.approx((135.0, 7.5, 40.0, 10.0))
    assert out["B"].rect_mm == pytest.approx((145.0, 37.5, 40.0, 10.0))
    # Posterior on screen -x: the same bodies get their labels on the left of x = 100 / 110.
    out = {p.key: p for p in layout_labels(reqs, (-1.0, 0.0), gap_mm=5.0, spacing_mm=2.0)}
    assert out["A"].rect_mm == pytest.approx((100.0 - 5.0 - 40.0, 7.5, 40.0, 10.0))
    assert out["B"].rect_mm == pytest.approx((110.0 - 5.0 - 40.0, 37.5, 40.0, 10.0))


def test_tall_labels_are_spread_symmetrically_and_clear_every_body_beside_them() -> None:
    # Two 40 mm tall labels wished at y = 12.5 and 42.5 (30 apart): spread to 40 + 2 apart,
    # centred on the wishes' mean (27.5): starts 27.5 - 41 = -13.5 and 28.5.
    reqs = [
        LabelRequest("A", _body(100, 0), (130.0, 12.5), (20.0, 40.0)),
        LabelRequest("B", _body(120, 30), (150.0, 42.5), (20.0, 40.0)),
    ]
    out = {p.key: p.rect_mm for p in layout_labels(reqs, (1.0, 0.0), gap_mm=5.0, spacing_mm=2.0)}
    assert out["A"][1] == pytest.approx(-13.5) and out["B"][1] == pytest.approx(28.5)
    assert not _overlap(out["A"], out["B"])
    # A reaches down beside B's body (y 30..55), so it clears B's wall (x 150) too.
    assert out["A"][0] == pytest.approx(155.0)
    for rect in out.values():
        for req in reqs:
            xs = [p[0] for p in req.body_mm]
            ys = [p[1] for p in req.body_mm]
            assert not _overlap(rect, (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))


def test_many_labels_never_overlap() -> None:
    reqs = [
        LabelRequest(str(i), _body(100 + (i % 3), 20.0 * i), (130.0, 20.0 * i), (50.0, 35.0))
        for i in range(7)
    ]
    rects = [p.rect_mm for p in layout_labels(reqs, (1.0, 0.0), gap_mm=4.0, spacing_mm=1.0)]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not _overlap(a, b)
    ys = [r[1] for r in rects]
    assert ys == sorted(ys)  # the order along the spine is kept


def test_the_leader_starts_on_the_nearest_edge() -> None:
    assert nearest_on_rect((10.0, 0.0, 20.0, 10.0), (0.0, 5.0)) == (10.0, 5.0)
    assert nearest_on_rect((10.0, 0.0, 20.0, 10.0), (40.0, 20.0)) == (30.0, 10.0)
    assert nearest_on_rect((10.0, 0.0, 20.0, 10.0), (12.0, 5.0)) == (10.0, 5.0)
