"""The one click -> LPS mapping, with unequal spacing and anterior on the right."""

from __future__ import annotations

import numpy as np
import pytest

from app.coords import lps_to_scene, pixel_to_scene, scene_to_lps, scene_to_pixel
from dicomio.geometry import ImageGeometry, StackGeometry


def _anterior_right_stack() -> StackGeometry:
    # Row cosine (screen right) = LPS -Y = anterior; column cosine (screen down) = inferior.
    # PixelSpacing is (row 0.5 mm, column 0.8 mm); slices 3 mm apart along +X (left).
    slices = tuple(
        ImageGeometry.from_dicom((10.0 + 3.0 * k, 20.0, 30.0), (0, -1, 0, 0, 0, -1), (0.5, 0.8), 40, 60)
        for k in range(3)
    )
    return StackGeometry(slices)


def test_anterior_is_on_the_right() -> None:
    geom = _anterior_right_stack()
    assert geom.first.anterior == "right"
    assert geom.first.superior == "up"


def test_scene_to_pixel_uses_pixel_centres_and_column_spacing_for_x() -> None:
    geom = _anterior_right_stack()
    # Pixel (0, 0) covers scene [0, 0.8] x [0, 0.5]; its centre is (0.4, 0.25).
    assert scene_to_pixel(0.4, 0.25, geom) == pytest.approx((0.0, 0.0))
    assert scene_to_pixel(4.0, 2.5, geom) == pytest.approx((4.5, 4.5))
    assert scene_to_pixel(0.0, 0.0, geom) == pytest.approx((-0.5, -0.5))
    assert pixel_to_scene(3.0, 7.0, geom) == pytest.approx((2.8, 3.75))


def test_scene_to_lps_exact_values() -> None:
    geom = _anterior_right_stack()
    # column 4.5 -> 4.5 * 0.8 = 3.6 mm anterior (-Y); row 4.5 -> 2.25 mm inferior (-Z).
    np.testing.assert_allclose(scene_to_lps(4.0, 2.5, 1, geom), [13.0, 16.4, 27.75], atol=1e-12)
    # The centre of pixel (0, 0) on slice 0 is ImagePositionPatient.
    np.testing.assert_allclose(scene_to_lps(0.4, 0.25, 0, geom), [10.0, 20.0, 30.0], atol=1e-12)
    # Moving right on screen moves anterior (LPS Y decreases), as the geometry says.
    a = scene_to_lps(10.0, 5.0, 2, geom)
    b = scene_to_lps(18.0, 5.0, 2, geom)
    np.testing.assert_allclose(b - a, [0.0, -8.0, 0.0], atol=1e-12)


def test_lps_to_scene_inverts_scene_to_lps() -> None:
    geom = _anterior_right_stack()
    x, y, s = lps_to_scene((13.0, 16.4, 27.75), geom)
    assert (x, y, s) == pytest.approx((4.0, 2.5, 1.0))
