"""Sampling the analytic spine phantom: the tissue at LPS points, voxel labels, images.

Every tissue is a closed-form region of patient space
(:mod:`dicomio.synthetic.phantom_anatomy`), so a point's tissue is decided by
inequalities in each vertebra's own frame, in two passes: discs, posterior elements and
the canal first, then the bodies with their marrow, edema and cement over them.  Points
are processed in slice chunks so memory stays small on big geometries.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import StackGeometry
from dicomio.synthetic.phantom_anatomy import (
    BOUNDARY_TOLERANCE_MM,
    CANAL_GAP_MM,
    CANAL_HALF_DEPTH_MM,
    CANAL_HALF_WIDTH_MM,
    CONTRASTS,
    CORTEX_MM,
    INTENSITY,
    LAMINA_MM,
    SKIN_BEFORE_ANTERIOR_WALL_MM,
    SKIN_BEHIND_POSTERIOR_WALL_MM,
    SPINOUS_HALF_WIDTH_MM,
    SPINOUS_LENGTH_MM,
    SUBCUTANEOUS_FAT_MM,
    TRUNK_HALF_WIDTH_MM,
    Contrast,
    Timepoint,
    Tissue,
    Vertebra,
    check_timepoint,
)


class SpinePhantom(Protocol):
    """What sampling needs of :class:`dicomio.synthetic.phantom.SpinePhantom` (a protocol,
    so that the phantom, which calls this module, is not imported back)."""

    @property
    def midline_x_mm(self) -> float: ...

    def __hash__(self) -> int: ...  # frozen: sampling caches per phantom

    def vertebrae(self, timepoint: Timepoint) -> tuple[Vertebra, ...]: ...

    def classify(
        self, points_mm: ArrayLike, timepoint: Timepoint
    ) -> tuple[NDArray[np.uint8], NDArray[np.int8]]: ...


def labels(
    phantom: SpinePhantom, geometry: StackGeometry, timepoint: Timepoint
) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
    """:meth:`SpinePhantom.classify` at every voxel centre of ``geometry``, shaped (slices, rows, columns)."""
    tissue = np.empty(geometry.shape, dtype=np.uint8)
    level = np.empty(geometry.shape, dtype=np.int8)
    for s0, s1, pts in _voxel_centres(geometry, (0.0, 0.0)):
        t, lv = phantom.classify(pts, timepoint)
        tissue[s0:s1] = t.reshape(s1 - s0, *geometry.shape[1:])
        level[s0:s1] = lv.reshape(s1 - s0, *geometry.shape[1:])
    return tissue, level


def render(
    phantom: SpinePhantom,
    geometry: StackGeometry,
    contrast: Contrast,
    timepoint: Timepoint,
    *,
    noise_sd: float = 0.0,
    seed: int = 0,
    supersample: int = 1,
) -> NDArray[np.float32]:
    """Image values of ``phantom`` at every voxel of ``geometry``; see :meth:`SpinePhantom.render`."""
    if contrast not in INTENSITY:
        raise ValueError(f"contrast {contrast!r} is not supported; expected one of {list(CONTRASTS)}")
    check_timepoint(timepoint)
    if int(supersample) < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample}")
    n = int(supersample)
    lut = np.array([INTENSITY[contrast][t] for t in Tissue], dtype=np.float32)
    subs = [((i + 0.5) / n - 0.5, (j + 0.5) / n - 0.5) for i in range(n) for j in range(n)]
    out = np.zeros(geometry.shape, dtype=np.float32)
    for sub in subs:
        for s0, s1, pts in _voxel_centres(geometry, sub):
            t, _ = phantom.classify(pts, timepoint)
            out[s0:s1] += lut[t].reshape(s1 - s0, *geometry.shape[1:])
    out /= len(subs)
    if noise_sd > 0:
        out += np.random.default_rng(seed).normal(0.0, noise_sd, out.shape).astype(np.float32)
        if contrast != "CT":
            np.clip(out, 0.0, None, out=out)
    return out


def _voxel_centres(
    geometry: StackGeometry, sub: tuple[float, float], max_points: int = 400_000
) -> Iterator[tuple[int, int, NDArray[np.float64]]]:
    """Yield (first slice, end slice, LPS points (n, 3)) in slice chunks, so memory stays small."""
    n_slices, rows, columns = geometry.shape
    per_slice = rows * columns
    step = max(1, max_points // per_slice)
    r, c = np.meshgrid(
        np.arange(rows, dtype=float) + sub[1], np.arange(columns, dtype=float) + sub[0], indexing="ij"
    )
    for s0 in range(0, n_slices, step):
        s1 = min(n_slices, s0 + step)
        s = np.arange(s0, s1, dtype=float)[:, None, None]
        cc = np.broadcast_to(c, (s1 - s0, rows, columns))
        rr = np.broadcast_to(r, (s1 - s0, rows, columns))
        ss = np.broadcast_to(s, (s1 - s0, rows, columns))
        yield s0, s1, geometry.index_to_lps(cc, rr, ss).reshape(-1, 3)


def classify_points(
    phantom: SpinePhantom, p: NDArray[np.float64], timepoint: Timepoint
) -> tuple[NDArray, NDArray]:
    """Tissue codes and level indices of the LPS points ``p`` (n, 3); see :meth:`SpinePhantom.classify`."""
    n = len(p)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    dx = x - phantom.midline_x_mm
    tissue = np.full(n, Tissue.AIR, dtype=np.uint8)
    level = np.full(n, -1, dtype=np.int8)
    verts = phantom.vertebrae(timepoint)

    # Trunk outline (fixed by the pre-op column so it does not move post-op).
    y_lo, y_hi = _trunk_y_range(phantom)
    yc, ay = (y_lo + y_hi) / 2, (y_hi - y_lo) / 2
    r_outer = (dx / TRUNK_HALF_WIDTH_MM) ** 2 + ((y - yc) / ay) ** 2
    tissue[r_outer <= 1.0] = Tissue.FAT
    inner = (dx / (TRUNK_HALF_WIDTH_MM - SUBCUTANEOUS_FAT_MM)) ** 2 + (
        (y - yc) / (ay - SUBCUTANEOUS_FAT_MM)
    ) ** 2
    tissue[inner <= 1.0] = Tissue.SOFT

    local = [v.pose.to_local(y, z) for v in verts]
    last = len(verts) - 1
    tol = BOUNDARY_TOLERANCE_MM
    # Pass 1: discs, posterior elements and canal (bodies are painted over them).
    for i, v in enumerate(verts):
        u, w = local[i]
        sh = v.shape
        reach = 400.0 if i in (0, last) else 0.0  # the canal runs on beyond the end levels
        near = np.flatnonzero(
            (np.abs(dx) < max(sh.half_width_mm, CANAL_HALF_WIDTH_MM + LAMINA_MM + 6.0) + 2.0)
            & (u > -sh.depth_mm - 3.0)
            & (u < CANAL_GAP_MM + 2 * CANAL_HALF_DEPTH_MM + LAMINA_MM + SPINOUS_LENGTH_MM + 3.0)
            & (w > -v.disc_below_mm - 6.0 - (reach if i == last else 0.0))
            & (w < sh.posterior_height_mm + v.disc_above_mm + 6.0 + (reach if i == 0 else 0.0))
        )
        if near.size == 0:
            continue
        dxn, un, wn = dx[near], u[near], w[near]
        # Disc below this body: down to the next body's superior endplate (or a flat end).
        if i < last:
            lower = verts[i + 1]
            ul, wl = local[i + 1][0][near], local[i + 1][1][near]
            above_lower = wl >= lower.shape.superior_w(ul) - tol
            mean_w = (sh.half_width_mm + lower.shape.half_width_mm) / 2
            mean_d = (sh.depth_mm + lower.shape.depth_mm) / 2
            in_profile = (dxn / mean_w) ** 2 + ((ul + mean_d / 2) / (mean_d / 2)) ** 2 <= 1.0
        else:
            above_lower = wn >= -v.disc_below_mm
            in_profile = sh.footprint(dxn, un)
        disc = above_lower & (wn <= sh.inferior_w(un) + tol) & in_profile
        if i == 0:  # disc above the top level, to a flat end
            top = (wn >= sh.superior_w(un) - tol) & (wn <= sh.posterior_height_mm + v.disc_above_mm)
            disc |= top & sh.footprint(dxn, un)
        tissue[near[disc]] = Tissue.DISC
        level[near[disc]] = i
        # Posterior elements: pedicles, laminae (ring round the canal) and spinous process.
        hp = sh.posterior_height_mm
        uc = CANAL_GAP_MM + CANAL_HALF_DEPTH_MM
        canal_r = (dxn / CANAL_HALF_WIDTH_MM) ** 2 + ((un - uc) / CANAL_HALF_DEPTH_MM) ** 2
        ring_r = (dxn / (CANAL_HALF_WIDTH_MM + LAMINA_MM)) ** 2 + (
            (un - uc) / (CANAL_HALF_DEPTH_MM + LAMINA_MM)
        ) ** 2
        adx = np.abs(dxn)
        pedicle = (
            (adx >= CANAL_HALF_WIDTH_MM - 1.0)
            & (adx <= CANAL_HALF_WIDTH_MM + LAMINA_MM)
            & (un >= -3.0)
            & (un <= uc)
            & (wn >= 0.35 * hp)
            & (wn <= 0.85 * hp)
        )
        lamina = (un >= uc) & (ring_r <= 1.0) & (canal_r > 1.0) & (wn >= 0.2 * hp) & (wn <= 0.9 * hp)
        u_sp = uc + CANAL_HALF_DEPTH_MM
        spinous = (
            (adx <= SPINOUS_HALF_WIDTH_MM)
            & (un >= u_sp)
            & (un <= u_sp + SPINOUS_LENGTH_MM)
            & (wn >= 0.15 * hp - 0.25 * (un - u_sp))
            & (wn <= 0.8 * hp - 0.25 * (un - u_sp))
        )
        bone = pedicle | lamina | spinous
        tissue[near[bone]] = Tissue.POSTERIOR_BONE
        level[near[bone]] = i
        lo = -v.disc_below_mm / 2 - 0.5 - (reach if i == last else 0.0)
        hi = hp + v.disc_above_mm / 2 + 0.5 + (reach if i == 0 else 0.0)
        canal = (canal_r <= 1.0) & (wn >= lo) & (wn <= hi)
        tissue[near[canal]] = Tissue.CSF
        level[near[canal]] = -1
    # Pass 2: the bodies, their marrow, edema and cement.
    for i, v in enumerate(verts):
        u, w = local[i]
        sh = v.shape
        near = np.flatnonzero(
            (np.abs(dx) <= sh.half_width_mm + 1.0)
            & (u >= -sh.depth_mm - 1.0)
            & (u <= 1.0)
            & (w >= -sh.depth_mm)  # generous: endplates can slope
            & (w <= sh.posterior_height_mm + sh.depth_mm)
        )
        if near.size == 0:
            continue
        dxn, un, wn = dx[near], u[near], w[near]
        w_sup, w_inf = sh.superior_w(un), sh.inferior_w(un)
        body = sh.footprint(dxn, un) & (wn <= w_sup + tol) & (wn >= w_inf - tol)
        marrow = (
            body & sh.footprint(dxn, un, CORTEX_MM) & (wn <= w_sup - CORTEX_MM) & (wn >= w_inf + CORTEX_MM)
        )
        tissue[near[body]] = Tissue.CORTEX
        tissue[near[marrow]] = Tissue.CANCELLOUS
        level[near[body]] = i
        if v.edema is None:
            continue
        e = v.edema
        band = marrow & (wn >= w_sup - CORTEX_MM - e.band_mm)
        u_c, w_c = v.ellipsoid_centre_uw()
        a, b, c = e.ellipsoid_semi_axes_mm
        diffuse = (dxn / a) ** 2 + ((un - u_c) / b) ** 2 + ((wn - w_c) / c) ** 2 <= 1.0
        tissue[near[band | (diffuse & marrow)]] = Tissue.EDEMA
        if v.cement:
            a, b, c = e.cement_semi_axes_mm
            cement = (dxn / a) ** 2 + ((un - u_c) / b) ** 2 + ((wn - w_c) / c) ** 2 <= 1.0
            tissue[near[cement & marrow]] = Tissue.CEMENT
    return tissue, level


@lru_cache(maxsize=16)
def _trunk_y_range(phantom: SpinePhantom) -> tuple[float, float]:
    ys = []
    for v in phantom.vertebrae("pre"):
        for u in (-v.shape.depth_mm, 0.0):
            for w in (0.0, v.shape.posterior_height_mm):
                ys.append(v.pose.to_yz(u, w)[0])
    return min(ys) - SKIN_BEFORE_ANTERIOR_WALL_MM, max(ys) + SKIN_BEHIND_POSTERIOR_WALL_MM
