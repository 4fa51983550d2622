"""Key images of a report: the slice the reader measured on, with landmarks and endplate lines.

The pixels come from the same pipeline and the same window as the screen (the session
takes the viewer's display stack and its default window, ``dicomio.windowing``); this
module only draws on them with Pillow (no Qt, no DICOM), in true proportions: the image
is resampled to square millimetres from the pixel spacing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from dicomio.geometry import ImageGeometry
from measure.landmarks import Landmark

#: Longest side of a key image, in pixels.
KEY_IMAGE_PX = 360
_LANDMARK_RGB = (255, 214, 0)
_LINE_RGB = (0, 200, 255)
_LABEL_RGB = (255, 255, 255)


@dataclass(frozen=True)
class KeyImage:
    """One windowed slice (``grey``: rows x columns, 0-255) and where it lies in patient space."""

    grey: NDArray[np.uint8]
    geometry: ImageGeometry
    caption: str
    #: Landmarks drawn on it: level -> key -> landmark (those within half a slice of it).
    landmarks: Mapping[str, Mapping[str, Landmark]]


def render(key: KeyImage, size_px: int = KEY_IMAGE_PX) -> Image.Image:
    """The key image as an RGB picture with the landmarks, both endplate lines and the level."""
    geometry = key.geometry
    width_mm, height_mm = geometry.size_mm
    scale = size_px / max(width_mm, height_mm)
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    image = Image.fromarray(key.grey, mode="L").resize(size, Image.Resampling.BILINEAR).convert("RGB")
    draw = ImageDraw.Draw(image)
    sx, sy = size[0] / geometry.columns, size[1] / geometry.rows

    def to_screen(point: Sequence[float]) -> tuple[float, float]:
        column, row, _ = geometry.lps_to_pixel(np.asarray(point, dtype=float))
        return ((float(column) + 0.5) * sx, (float(row) + 0.5) * sy)

    for level, lms in key.landmarks.items():
        for a, b in (("sup_ant", "sup_post"), ("inf_ant", "inf_post")):
            if a in lms and b in lms:
                draw.line(
                    [to_screen(lms[a].position_mm), to_screen(lms[b].position_mm)], fill=_LINE_RGB, width=2
                )
        for lm in lms.values():
            x, y = to_screen(lm.position_mm)
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=_LANDMARK_RGB)
        if "sup_post" in lms and "inf_post" in lms:
            x1, y1 = to_screen(lms["sup_post"].position_mm)
            x2, y2 = to_screen(lms["inf_post"].position_mm)
            draw.text(((x1 + x2) / 2 + 6, (y1 + y2) / 2 - 5), level, fill=_LABEL_RGB)
    return image
