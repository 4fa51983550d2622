"""The profile outline (measure.assist.body_region) on profiles and bodies with exact edges.

Hand computations: a profile sampled every 0.5 mm whose values jump between two samples
has its half-maximum crossing half way between them (linear interpolation); a rectangle
body drawn on the 0.5 mm grid with its outer cortical edge between two grid rows has its
boundary exactly there.
"""

from __future__ import annotations

import numpy as np
import pytest

from measure.assist.body_region import STEP_MM, boundary_along, find_outline

T_MM = np.arange(0.0, 20.0 + STEP_MM / 2, STEP_MM)


def _profile(*pieces: tuple[float, float]) -> np.ndarray:
    """Piecewise constant: (value, until_mm) pieces, the last to the end."""
    v = np.empty_like(T_MM)
    start = 0.0
    for value, until in pieces:
        v[(start <= T_MM) & (until > T_MM)] = value
        start = until
    return v


def test_ct_boundary_is_the_outer_half_maximum_of_the_cortex() -> None:
    # marrow 250 to 10 mm, cortex 700 on [10, 11), disc 100: samples 10.5 (700) and 11.0
    # (100), level 400, crossing at 10.5 + 0.5 * (700 - 400) / 600 = 10.75 mm.
    v = _profile((250.0, 10.0), (700.0, 11.0), (100.0, 99.0))
    assert boundary_along(v, 250.0, "bright") == pytest.approx(10.75, abs=1e-9)


def test_ct_bright_trabecula_inside_marrow_is_not_the_boundary() -> None:
    # a 600 HU spot at 4-5 mm with marrow on both sides, then the real cortex at 12 mm
    v = _profile((250.0, 4.0), (600.0, 5.0), (250.0, 12.0), (700.0, 13.0), (80.0, 99.0))
    assert boundary_along(v, 250.0, "bright") == pytest.approx(12.75, abs=1e-9)


def test_ct_no_cortex_gives_none() -> None:
    assert boundary_along(np.full_like(T_MM, 250.0), 250.0, "bright") is None


def test_mr_boundary_is_the_centre_of_the_dark_line() -> None:
    # marrow 400, a symmetric dark line 100 at 8 mm (neighbours 250): the vertex is 8 mm
    v = _profile((400.0, 7.5), (250.0, 8.0), (100.0, 8.5), (250.0, 9.0), (300.0, 99.0))
    assert boundary_along(v, 400.0, "dark") == pytest.approx(8.0, abs=1e-9)


def _rectangle(contrast: str, half_depth: float, half_height: float) -> tuple[np.ndarray, np.ndarray]:
    """A body on the 0.5 mm working grid: marrow inside, 1 mm cortex, soft tissue outside;
    its outer edge at +/- half_depth (x) and +/- half_height (y), between grid samples."""
    coords = np.arange(-35.0, 35.0 + STEP_MM / 2, STEP_MM)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    marrow, cortex, outside = (250.0, 700.0, 100.0) if contrast == "bright" else (450.0, 60.0, 250.0)
    grid = np.full(x.shape, outside)
    body = (np.abs(x) < half_depth) & (np.abs(y) < half_height)
    grid[body] = cortex
    grid[(np.abs(x) < half_depth - 1.0) & (np.abs(y) < half_height - 1.0)] = marrow
    return grid, coords


def test_a_ct_rectangle_gives_its_corners() -> None:
    grid, coords = _rectangle("bright", 15.25, 10.25)
    outline = find_outline(grid, coords, "bright")
    assert outline is not None
    expected = {
        "sup_ant": (15.25, 10.25),
        "sup_mid": (0.0, 10.25),
        "sup_post": (-15.25, 10.25),
        "inf_ant": (15.25, -10.25),
        "inf_mid": (0.0, -10.25),
        "inf_post": (-15.25, -10.25),
    }
    for key, (ex, ey) in expected.items():
        x, y = outline.points[key]
        assert x == pytest.approx(ex, abs=0.05), key
        assert y == pytest.approx(ey, abs=0.05), key
    assert min(outline.support) == pytest.approx(1.0)


def test_an_mr_rectangle_gives_the_dark_line_centres() -> None:
    # the cortex fills [14.25, 15.25) mm: dark samples at 14.5 and 15.0, marrow at 14.0,
    # tissue at 15.5; the parabola through the samples 14.5, 15.0, 15.5 (darkness 390, 390,
    # 200) has its vertex at 15.0 - 0.5 * 0.5 = 14.75 mm, the band's centre (9.75 on y).
    grid, coords = _rectangle("dark", 15.25, 10.25)
    outline = find_outline(grid, coords, "dark")
    assert outline is not None
    x, y = outline.points["sup_ant"]
    assert x == pytest.approx(14.75, abs=0.05)
    assert y == pytest.approx(9.75, abs=0.05)
    x, y = outline.points["inf_post"]
    assert x == pytest.approx(-14.75, abs=0.05)
    assert y == pytest.approx(-9.75, abs=0.05)


def test_cement_inside_a_ct_body_leaves_it_to_the_reader() -> None:
    grid, coords = _rectangle("bright", 15.25, 10.25)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    grid[(np.abs(x) < 6.0) & (np.abs(y - 5.0) < 2.5)] = 1500.0  # a cement blob, not at the seed
    assert find_outline(grid, coords, "bright") is None


def test_fat_suppressed_mr_is_not_read_by_profiles() -> None:
    # STIR-like: the marrow darker than most of the surroundings
    grid, coords = _rectangle("dark", 15.25, 10.25)
    inside = grid == 450.0
    grid[inside] = 120.0
    grid[~inside & (grid == 250.0)] = 400.0
    assert find_outline(grid, coords, "dark") is None
