"""The MR cortex helpers against the phantom's exact geometry (T1 and STIR, 15 units noise)."""

from __future__ import annotations

import numpy as np
import pytest

from dicomio.synthetic.phantom import default_phantom
from measure.assist.dark_wall import dark_lines_crossed, dark_wall_edge
from tests.measure.assist.phantom_slices import phantom_geometry, phantom_slice

SUPERIOR = np.array([0.0, 0.0, 1.0])


@pytest.mark.parametrize("contrast", ["T1", "STIR"])
def test_one_dark_line_to_the_own_endplate_two_across_the_disc(contrast: str) -> None:
    g = phantom_geometry(False)
    img = np.asarray(phantom_slice(contrast, "pre", False), dtype=float)  # type: ignore[arg-type]
    truth = default_phantom().truth("pre")
    l2, l1 = truth["L2"], truth["L1"]
    inside = (np.asarray(l2["sup_mid"]) + np.asarray(l2["inf_mid"])) / 2
    tangent = np.subtract(l2["sup_ant"], l2["sup_post"])
    own = np.asarray(l2["sup_mid"]) + 0.3 * SUPERIOR  # just out of L2's own cortex
    beyond = np.asarray(l1["inf_mid"]) + 1.8 * SUPERIOR  # out of L1's 1.5 mm cortex, across the disc
    assert dark_lines_crossed(img, g.first, inside, own, tangent) == 1
    assert dark_lines_crossed(img, g.first, inside, beyond, tangent) == 2
    assert dark_lines_crossed(img, g.first, inside, inside, tangent) == 0


@pytest.mark.parametrize("contrast", ["T1", "STIR"])
def test_the_posterior_wall_is_the_cortex_edge_not_the_csf(contrast: str) -> None:
    """Behind the posterior wall: 2 mm of soft tissue, then CSF (bright on STIR)."""
    ph = default_phantom()
    g = phantom_geometry(False)
    img = np.asarray(phantom_slice(contrast, "pre", False), dtype=float)  # type: ignore[arg-type]
    lm = ph.truth("pre")["L2"]
    wall_mid = (np.asarray(lm["sup_post"]) + np.asarray(lm["inf_post"])) / 2  # on the exact wall
    along = np.subtract(lm["sup_post"], lm["inf_post"])
    along /= np.linalg.norm(along)
    posterior = np.cross(along, g.first.normal)
    if float(posterior[1]) < 0:  # LPS +y is posterior
        posterior = -posterior
    for start_off in (-1.5, -0.5, 0.5, 1.5):
        r = dark_wall_edge(img, g.first, wall_mid + start_off * posterior, along, posterior)
        assert r.snapped and r.strength >= 0.5
        off = float((np.asarray(r.point_mm) - wall_mid) @ posterior)
        assert -0.75 <= off <= 0.75, f"start {start_off:+}: {off:+.2f} mm"


def test_no_dark_line_leaves_the_point() -> None:
    """In the middle of a body (marrow and noise only) nothing is snapped."""
    g = phantom_geometry(False)
    img = np.asarray(phantom_slice("T1", "pre", False), dtype=float)
    lm = default_phantom().truth("pre")["L3"]
    centre = np.mean([lm[k] for k in lm], axis=0)
    r = dark_wall_edge(img, g.first, centre, SUPERIOR, np.array([0.0, 1.0, 0.0]), search_mm=2.0)
    assert not r.snapped
    np.testing.assert_allclose(r.point_mm, centre)
