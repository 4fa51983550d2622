"""Where the per-vertebra value labels go on a slice: behind the spine, never on a body.

In front of a vertebral body lie the prevertebral soft tissue and the aorta, which the reader
looks at; so a label goes on the posterior side, beyond the posterior wall of every body at its
height, and the labels are spread along the spine so that no two overlap.  The geometry is the
viewer's scene (mm, y down); "posterior" is given as a scene direction computed from
ImageOrientationPatient by the caller, never assumed from the screen.  No Qt here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True)
class LabelRequest:
    """One label to place: the body it belongs to and its size at the current zoom."""

    key: str
    #: The body's outline (or the points it labels) in scene mm.
    body_mm: tuple[Point, ...]
    #: Where the leader line ends (e.g. the middle of the posterior wall).
    anchor_mm: Point
    #: Width and height of the label in scene mm (its screen size times mm per pixel).
    size_mm: Point


@dataclass(frozen=True)
class LabelPlacement:
    key: str
    #: (x, y, width, height) in scene mm; (x, y) is the top-left corner (y grows downwards).
    rect_mm: tuple[float, float, float, float]
    anchor_mm: Point


def posterior_axis(posterior_xy: Point) -> tuple[int, float]:
    """The scene axis (0: x, 1: y) nearest to the posterior direction, and its sign."""
    px, py = posterior_xy
    if abs(px) >= abs(py):
        return 0, 1.0 if px >= 0 else -1.0
    return 1, 1.0 if py >= 0 else -1.0


def _spread(centres: Sequence[float], sizes: Sequence[float], spacing: float) -> list[float]:
    """Starts of 1-D intervals as near as possible (least squares) to their centres, in order,
    none overlapping: merge clashing neighbours into blocks centred on their members' wishes."""
    order = sorted(range(len(centres)), key=lambda i: centres[i])
    blocks: list[tuple[list[int], float]] = []  # members, start of the block
    for i in order:
        members, start = [i], centres[i] - sizes[i] / 2
        while blocks:
            prev_members, prev_start = blocks[-1]
            prev_end = prev_start + sum(sizes[j] for j in prev_members) + spacing * (len(prev_members) - 1)
            if prev_end + spacing <= start:
                break
            blocks.pop()
            members = prev_members + members
            wishes, cum = [], 0.0
            for j in members:
                wishes.append(centres[j] - sizes[j] / 2 - cum)
                cum += sizes[j] + spacing
            start = sum(wishes) / len(wishes)
        blocks.append((members, start))
    out = [0.0] * len(centres)
    for members, start in blocks:
        at = start
        for j in members:
            out[j] = at
            at += sizes[j] + spacing
    return out


def layout_labels(
    requests: Sequence[LabelRequest], posterior_xy: Point, gap_mm: float, spacing_mm: float
) -> list[LabelPlacement]:
    """Place each label ``gap_mm`` beyond the posterior wall of every body it sits beside,
    spread along the spine (``spacing_mm`` apart) near its own body's height."""
    if not requests:
        return []
    axis, sign = posterior_axis(posterior_xy)
    other = 1 - axis

    def u(p: Point) -> float:  # distance along the posterior axis (grows posteriorly)
        return p[axis] * sign

    sizes_v = [r.size_mm[other] for r in requests]
    centres_v = [
        sum(p[other] for p in r.body_mm) / len(r.body_mm) if r.body_mm else r.anchor_mm[other]
        for r in requests
    ]
    starts_v = _spread(centres_v, sizes_v, spacing_mm)
    extents = [
        (min(p[other] for p in r.body_mm), max(p[other] for p in r.body_mm), max(u(p) for p in r.body_mm))
        for r in requests
        if r.body_mm
    ]
    out = []
    for r, v0, size_v in zip(requests, starts_v, sizes_v, strict=True):
        v1 = v0 + size_v
        near = [back for lo, hi, back in extents if hi >= v0 - gap_mm and lo <= v1 + gap_mm]
        if r.body_mm:
            near.append(max(u(p) for p in r.body_mm))
        u0 = max(near, default=u(r.anchor_mm)) + gap_mm
        size_u = r.size_mm[axis]
        lo_axis = u0 if sign > 0 else -u0 - size_u  # the label's low-coordinate edge on that axis
        rect = (lo_axis, v0, size_u, size_v) if axis == 0 else (v0, lo_axis, size_v, size_u)
        out.append(LabelPlacement(r.key, rect, r.anchor_mm))
    return out


def nearest_on_rect(rect_mm: tuple[float, float, float, float], point: Point) -> Point:
    """The point of a rectangle's outline nearest to ``point`` (where a leader line starts)."""
    x, y, w, h = rect_mm
    cx = min(max(point[0], x), x + w)
    cy = min(max(point[1], y), y + h)
    if (cx, cy) != point:
        return cx, cy
    # inside: the nearest edge
    d = {
        (x, cy): point[0] - x,
        (x + w, cy): x + w - point[0],
        (cx, y): point[1] - y,
        (cx, y + h): y + h - point[1],
    }
    return min(d, key=lambda k: d[k])


__all__ = ["LabelPlacement", "LabelRequest", "layout_labels", "nearest_on_rect", "posterior_axis"]
