"""Sagittal reformat of an axial or coronal volume, with its own exact geometry.

Endplate measures on sagittal images.  When a CT comes as axial (or coronal) slices,
the viewer shows a sagittal stack resampled from the volume: columns go posterior
``[0, 1, 0]``, rows go inferior ``[0, 0, -1]`` (so anterior is on the screen left and
superior up, like an acquired sagittal series), and slices go towards patient right.
For an oblique volume the three output axes are the volume's own axes (signed and
ordered to be the nearest to posterior, inferior and left-right), so the reformat is
the volume re-stacked, and sampling stays on the volume's own grid where it can.

The reformat is a plain :class:`~dicomio.geometry.StackGeometry` plus an array: every
output voxel's LPS position is ``geometry.index_to_lps(...)``, and it is sampled at
exactly that position through the source's ``lps_to_index`` (which is exact for uneven
slice spacing and gantry tilt).  A landmark placed on the reformat is therefore at its
true patient position.

Fast paths sample at those same positions: an axis-aligned volume is three 1-D
interpolations (:class:`SeparablePlan`); a gantry-tilted one with even slices is, per output
row, two source slices blended and shifted (:mod:`dicomio.reformat_shear`); SimpleITK's
ResampleImageFilter serves the remaining affine maps.

Resolution: along posterior and left-right the output keeps the spacing of the volume
axis it comes from; along the volume's slice direction it is resampled at the volume's
in-plane resolution (the smaller pixel spacing), because slices are usually thicker.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import (
    LEFT_LPS,
    POSTERIOR_LPS,
    SUPERIOR_LPS,
    ImageGeometry,
    StackGeometry,
)
from dicomio.reformat_shear import INSIDE_TOLERANCE as _INSIDE_TOLERANCE
from dicomio.reformat_shear import ShearPlan, SliceLoader
from dicomio.reformat_shear import axis_index as _axis_index
from dicomio.reformat_shear import pick_along as _pick

#: Output slices resampled together (bounds the float32 temporaries).
_BLOCK_SLICES = 16


def _volume_axes(geometry: StackGeometry) -> tuple[NDArray[np.float64], list[float]]:
    """The volume's unit axes (column, row, slice directions) and their spacings (mm)."""
    first = geometry.first
    axes = np.array([first.row_cosine, first.col_cosine, geometry.normal], dtype=float)
    in_plane_mm = min(first.pixel_spacing_mm)
    # Along the slice direction the reformat is resampled at the in-plane resolution.
    spacings = [first.pixel_spacing_mm[1], first.pixel_spacing_mm[0], in_plane_mm]
    return axes, spacings


def sagittal_reformat_geometry(geometry: StackGeometry) -> StackGeometry:
    """Geometry of the sagittal reformat of a volume of ``geometry`` (no pixels needed).

    The output covers the whole volume (the bounding box of its voxel centres along the
    output axes); with gantry tilt, corners of the box fall outside the volume.
    """
    axes, spacings = _volume_axes(geometry)
    targets = (POSTERIOR_LPS, SUPERIOR_LPS, LEFT_LPS)  # output columns, rows, slices
    best = max(
        itertools.permutations(range(3)),
        key=lambda p: sum(abs(float(axes[p[i]] @ targets[i])) for i in range(3)),
    )
    col_axis, row_axis, _ = best
    u = axes[col_axis] * np.sign(axes[col_axis] @ POSTERIOR_LPS)  # columns go posterior
    v = axes[row_axis] * -np.sign(axes[row_axis] @ SUPERIOR_LPS)  # rows go inferior
    w = np.cross(u, v)
    w /= np.linalg.norm(w)
    spacing_u, spacing_v, spacing_w = (spacings[i] for i in best)

    n_slices, n_rows, n_columns = geometry.shape
    corners = geometry.index_to_lps(
        *np.meshgrid([0, n_columns - 1], [0, n_rows - 1], [0, n_slices - 1], indexing="ij")
    ).reshape(-1, 3)
    basis = np.stack([u, v, w])
    coords = corners @ basis.T  # (8, 3): along u, v, w
    lo = coords.min(axis=0)
    hi = coords.max(axis=0)
    counts = [
        int(np.floor((hi[i] - lo[i]) / s + 1e-6)) + 1 for i, s in enumerate((spacing_u, spacing_v, spacing_w))
    ]
    origin = lo @ basis
    iop = [*u.tolist(), *v.tolist()]
    slices = tuple(
        ImageGeometry.from_dicom(
            (origin + k * spacing_w * w).tolist(),
            iop,
            (spacing_v, spacing_u),  # PixelSpacing is (row spacing, column spacing)
            counts[1],
            counts[0],
        )
        for k in range(counts[2])
    )
    return StackGeometry(slices)


def resample_slice(
    source: StackGeometry,
    volume: NDArray,
    target: StackGeometry,
    k: int,
    *,
    order: int = 1,
    cval: float = 0.0,
    prefiltered: bool = False,
) -> NDArray[np.float32]:
    """Slice ``k`` of ``target`` sampled from ``volume`` (float32; ``cval`` outside).

    Each output pixel is sampled at ``source.lps_to_index(target.index_to_lps(...))``.
    For ``order > 1`` pass ``prefiltered=True`` with a volume already run through
    :func:`scipy.ndimage.spline_filter` (mode ``"nearest"``) to avoid filtering per slice.
    """
    from scipy import ndimage  # 0.75 s to import: only where it is used

    _, rows, columns = target.shape
    rr, cc = np.meshgrid(np.arange(rows, dtype=float), np.arange(columns, dtype=float), indexing="ij")
    points = target.slices[k].pixel_to_lps(cc, rr)  # == target.index_to_lps(cc, rr, k)
    col, row, sl = source.lps_to_index(points)
    coords = np.stack([sl, row, col])  # volume axes are (slice, row, column)
    limits = np.array(volume.shape, dtype=float)[:, None, None] - 1
    inside = np.all((coords >= -_INSIDE_TOLERANCE) & (coords <= limits + _INSIDE_TOLERANCE), axis=0)
    out = np.empty((rows, columns), dtype=np.float32)
    ndimage.map_coordinates(
        volume, coords, output=out, order=order, mode="nearest", prefilter=order > 1 and not prefiltered
    )
    out[~inside] = cval
    return out


def _lerp_along(x: NDArray, axis: int, lower: NDArray[np.intp], weight: NDArray[np.float64]) -> NDArray:
    """Linear interpolation of ``x`` along ``axis`` at ``lower + weight``.

    Float32, except where every weight is zero: then ``x``'s own values (its dtype), a view
    of ``x`` where ``lower`` is a run of consecutive indices (up or down).
    """
    n = x.shape[axis]
    if not np.any(weight) or n == 1:
        return _pick(x, axis, lower)
    a = _pick(x, axis, lower)
    b = _pick(x, axis, np.minimum(lower + 1, n - 1))
    shape = [1] * x.ndim
    shape[axis] = len(weight)
    w = weight.astype(np.float32).reshape(shape)
    out = np.subtract(b, a, dtype=np.float32)
    out *= w
    out += a
    return out


def _columns_first(block: NDArray) -> NDArray:
    """``block`` (slices, rows, columns) copied to (columns, slices, rows) order, a slice at a
    time (2-D transposes that stay in the CPU cache: a third faster than one 3-D copy)."""
    out = np.empty((block.shape[2], block.shape[0], block.shape[1]), dtype=block.dtype)
    for s in range(block.shape[0]):
        out[:, s, :] = block[s].T
    return out


def _rounded(part: NDArray, dtype: np.dtype) -> NDArray:
    """Float samples as ``dtype``: rounded (and clipped) for an integer ``dtype``, cast while
    contiguous (a cast within a strided, transposing copy is several times slower)."""
    if not np.issubdtype(dtype, np.integer) or np.issubdtype(part.dtype, np.integer):
        return part
    np.rint(part, out=part)
    info = np.iinfo(dtype)
    if info.bits > 16:  # float32 holds every 16-bit value exactly
        np.clip(part, info.min, info.max, out=part)
    return part.astype(dtype)


def _separable_indices(source: StackGeometry, target: StackGeometry) -> list[tuple[int, NDArray]] | None:
    """Per output axis (columns, rows, slices): the source axis it runs along and the
    fractional source index at each output position, when the mapping is separable.

    Separable means every output axis is parallel to a source axis and the source has no
    gantry tilt (slice origins on one line along the normal); trilinear interpolation is
    then three 1-D interpolations, identical to ``map_coordinates(order=1)`` but fast.
    """
    src_axes, _ = _volume_axes(source)
    first = target.first
    out_axes = [np.asarray(first.row_cosine), np.asarray(first.col_cosine), target.normal]
    origins = np.array([g.position_mm for g in source.slices])
    if np.ptp(origins @ src_axes[0]) > 1e-6 or np.ptp(origins @ src_axes[1]) > 1e-6:
        return None  # gantry tilt: the in-plane position depends on the slice
    spacings = [first.pixel_spacing_mm[1], first.pixel_spacing_mm[0], target.slice_spacing_mm or 1.0]
    counts = [first.columns, first.rows, target.shape[0]]
    start = np.asarray(first.position_mm)
    start_index = np.array(source.lps_to_index(start))
    mapping = []
    for axis, spacing, count in zip(out_axes, spacings, counts, strict=True):
        dots = np.abs(src_axes @ axis)
        a = int(np.argmax(dots))
        if dots[a] < 1 - 1e-9:
            return None
        points = start + np.arange(count, dtype=float)[:, None] * spacing * axis
        index = np.array(source.lps_to_index(points))  # (3, count): column, row, slice
        others = [i for i in range(3) if i != a]
        if np.max(np.abs(index[others] - start_index[others, None]), initial=0.0) > 1e-6:
            return None
        mapping.append((a, index[a]))
    return mapping


#: Source array axis (slice, row, column) of each source axis id (column, row, slice).
_ARRAY_AXIS = {0: 2, 1: 1, 2: 0}
#: Output array axis (slice, row, column) of each output axis (columns u, rows v, slices w).
_OUT_AXIS = {0: 2, 1: 1, 2: 0}
#: Output positions (along the output axis that runs along the source slices) per block.
_BLOCK_POSITIONS = 32
#: A streamed affine reformat: output rows per block (about as many source slices are
#: held), and output slices per SimpleITK call within a block.
_AFFINE_BLOCK_ROWS = 128
_AFFINE_SUB_SLICES = 32


class SeparablePlan:
    """How a separable reformat runs in blocks along the source's slice axis, so that each
    block needs only a few consecutive source slices: the volume can be streamed
    (:meth:`run` with a loader of slice ranges), and memory holds the output plus one slab."""

    def __init__(
        self, source_shape: tuple[int, ...], target: StackGeometry, mapping: list[tuple[int, NDArray]]
    ):
        self.target = target
        self.n_source_slices = int(source_shape[0])
        n = {a: source_shape[_ARRAY_AXIS[a]] for a in range(3)}
        self.axes = [a for a, _ in mapping]
        self.index = [_axis_index(f, n[a]) for a, f in mapping]  # (lower, weight, valid) per output axis
        self.m_slices = self.axes.index(2)  # the output axis that runs along the source slices
        count = len(self.index[self.m_slices][0])
        step = _BLOCK_POSITIONS
        self.blocks = [(p, min(p + step, count)) for p in range(0, count, step)]

    def source_range(self, block: tuple[int, int]) -> tuple[int, int]:
        """The source slices ``[first, stop)`` that output positions ``block`` are sampled from."""
        lower = self.index[self.m_slices][0][block[0] : block[1]]
        return int(lower.min()), int(min(lower.max() + 2, self.n_source_slices))

    def fill(self, slab: NDArray, first: int, block: tuple[int, int], out: NDArray) -> None:
        """Output positions ``block`` from ``slab`` (source slices ``first`` onwards).

        Done in sub-blocks of :data:`_BLOCK_SLICES` source columns, each first transposed to
        (columns, slices, rows) so that the interpolation runs on contiguous rows and the
        copy into the output is along whole rows (axial: output slices are source columns).
        """
        p0, p1 = block
        lower, weight, _ = self.index[self.m_slices]
        m_row, m_col = self.axes.index(1), self.axes.index(0)
        lo_c, t_c, _ = self.index[m_col]
        lo_r, t_r, _ = self.index[m_row]
        n_columns = slab.shape[2]
        for q0 in range(0, len(lo_c), _BLOCK_SLICES):
            q1 = min(q0 + _BLOCK_SLICES, len(lo_c))
            c0 = int(lo_c[q0:q1].min())
            # The upper neighbours only where a weight needs them: 16 columns, not 17, keep
            # the transposing copy to whole cache lines (twice as fast).
            c1 = int(min(lo_c[q0:q1].max() + (2 if np.any(t_c[q0:q1]) else 1), n_columns))
            part = _columns_first(slab[:, :, c0:c1])
            part = _lerp_along(part, 1, lower[p0:p1] - first, weight[p0:p1])
            part = _lerp_along(part, 2, lo_r, t_r)
            if not np.any(t_c[q0:q1]):  # columns on the source's own: pick them last (a view)
                part = _rounded(part, out.dtype)
                part = _lerp_along(part, 0, lo_c[q0:q1] - c0, t_c[q0:q1])
            else:
                part = _rounded(_lerp_along(part, 0, lo_c[q0:q1] - c0, t_c[q0:q1]), out.dtype)
            # part's axes: 0 -> the output axis along source columns, 1 -> slices, 2 -> rows
            part = np.moveaxis(
                part, (0, 1, 2), (_OUT_AXIS[m_col], _OUT_AXIS[self.m_slices], _OUT_AXIS[m_row])
            )
            where: list[slice] = [slice(None)] * 3
            where[_OUT_AXIS[self.m_slices]] = slice(p0, p1)
            where[_OUT_AXIS[m_col]] = slice(q0, q1)
            out[tuple(where)] = part

    def fill_outside(self, out: NDArray, cval: float) -> None:
        """Voxels whose position lies outside the volume along any axis get ``cval``."""
        for m in range(3):
            valid = self.index[m][2]
            if not valid.all():
                where: list[slice | NDArray] = [slice(None)] * 3
                where[_OUT_AXIS[m]] = ~valid
                out[tuple(where)] = cval

    def run(self, load: SliceLoader, out: NDArray, *, workers: int = 1) -> float:
        """Fill ``out`` block by block from ``load(first, stop)`` (source slices); returns the
        minimum of every source voxel read (the background value for :meth:`fill_outside`)."""

        def one(block: tuple[int, int]) -> float:
            first, stop = self.source_range(block)
            slab = load(first, stop)
            self.fill(slab, first, block, out)
            return float(slab.min()) if slab.size else np.inf

        if workers <= 1:
            minima = [one(b) for b in self.blocks]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reformat") as pool:
                minima = list(pool.map(one, self.blocks))
        return min(minima, default=0.0)


def _reformat_separable(
    volume: NDArray, target: StackGeometry, mapping: list[tuple[int, NDArray]], cval: float, out: NDArray
) -> None:
    plan = SeparablePlan(volume.shape, target, mapping)
    plan.run(lambda first, stop: volume[first:stop], out, workers=_workers())
    plan.fill_outside(out, cval)


def _affine_index_map(source: StackGeometry, target: StackGeometry) -> tuple[NDArray, NDArray] | None:
    """``(matrix, offset)`` with ``source array index = matrix @ target array index + offset``
    (array axes ``(slice, row, column)``), when that mapping is affine, else None.

    It is affine when the source's slices are evenly spaced and their origins lie on one
    line at a constant step (an ordinary or gantry-tilted CT): then ``lps_to_index`` is
    linear.  The matrix is taken from the exact mapping itself and checked against it at
    the target's corners, so the fast path samples at the same positions as
    :func:`resample_slice`.
    """
    if len(source.slices) < 2:
        return None
    origins = np.array([g.position_mm for g in source.slices])
    k = np.arange(len(origins), dtype=float)[:, None]
    step = (origins[-1] - origins[0]) / (len(origins) - 1)
    if np.max(np.abs(origins - (origins[0] + k * step))) > 1e-6:
        return None  # uneven slice spacing: piecewise linear, the general path handles it

    def source_index(kji: NDArray) -> NDArray:
        """Source (slice, row, column) of target (slice, row, column) indices, shape (n, 3)."""
        points = target.index_to_lps(kji[:, 2], kji[:, 1], kji[:, 0])
        col, row, sl = source.lps_to_index(points)
        return np.stack([sl, row, col], axis=-1)

    base = source_index(np.zeros((1, 3)))[0]
    matrix = (source_index(np.eye(3)) - base).T  # column j: the step of target axis j
    n_k, n_j, n_i = target.shape
    corners = np.array(list(itertools.product([0, n_k - 1], [0, n_j - 1], [0, n_i - 1])), dtype=float)
    if np.max(np.abs(corners @ matrix.T + base - source_index(corners))) > 1e-6:
        return None
    return matrix, base


def _inside_columns(
    matrix: NDArray, offset: NDArray, limits: NDArray, ks: NDArray, js: NDArray
) -> tuple[NDArray, NDArray]:
    """Per output (slice ``ks``, row ``js``): the first and last output column inside the volume.

    Along a row only the column index changes, so each source coordinate is linear in it
    and "inside" (within :data:`_INSIDE_TOLERANCE` of the end voxels) is one interval: no
    per-voxel coordinate arrays are needed.
    """
    jj = js.astype(float)[None, :]
    lo = np.full((len(ks), len(js)), -np.inf)
    hi = np.full((len(ks), len(js)), np.inf)
    for axis in range(3):
        start = offset[axis] + matrix[axis, 0] * ks.astype(float)[:, None] + matrix[axis, 1] * jj
        slope = matrix[axis, 2]
        low, high = -_INSIDE_TOLERANCE - start, limits[axis] + _INSIDE_TOLERANCE - start
        if abs(slope) < 1e-12:
            empty = (low > 0) | (high < 0)
            lo = np.where(empty, np.inf, lo)
        else:
            a, b = low / slope, high / slope
            lo = np.maximum(lo, np.minimum(a, b))
            hi = np.minimum(hi, np.maximum(a, b))
    return np.ceil(lo - 1e-9), np.floor(hi + 1e-9)


def _reformat_affine(
    load: SliceLoader,
    source_shape: tuple[int, ...],
    target: StackGeometry,
    matrix: NDArray,
    offset: NDArray,
    out: NDArray,
    *,
    stream: bool = False,
) -> float:
    """Trilinear resampling along an affine index map with SimpleITK's ResampleImageFilter
    (multi-threaded C++, about 5x ``scipy.ndimage.affine_transform`` here).

    Runs in blocks of output slices or rows, whichever runs along the source slices, each
    from the few source slices it needs (``load(first, stop)``), so the source can be
    streamed and the extra memory is one slab.  Voxels outside the volume are left for
    :func:`_fill_affine_outside`; inside, the samples are those of
    ``map_coordinates(order=1)`` within float rounding.  Returns the minimum source voxel read.
    """
    import SimpleITK  # imported where it is used (start-up time)

    info = np.iinfo(out.dtype) if np.issubdtype(out.dtype, np.integer) else None
    n_out, rows, columns = target.shape
    limits = np.array(source_shape, dtype=float) - 1
    xyz = [2, 1, 0]  # SimpleITK orders axes (x, y, z) = (column, row, slice)
    transform = SimpleITK.AffineTransform(3)
    transform.SetMatrix(matrix[np.ix_(xyz, xyz)].ravel().tolist())
    # Streamed: blocks of output rows when they run along the source slices (each needs a
    # few consecutive slices), in sub-blocks of output slices.  From a volume in memory:
    # blocks of output slices (fewer, larger SimpleITK calls).
    along = 1 if stream and abs(matrix[0, 1]) >= abs(matrix[0, 0]) else 0
    count = target.shape[along]
    step = _AFFINE_BLOCK_ROWS if along == 1 else _BLOCK_SLICES
    sub_step = _AFFINE_SUB_SLICES if along == 1 else _BLOCK_SLICES
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def reach(k_range: tuple[int, int], j_range: tuple[int, int]) -> tuple[NDArray, NDArray] | None:
        """The source index box (low, high corners) a block samples from; None if outside."""
        corners = np.array(
            list(
                itertools.product(
                    [k_range[0], k_range[1] - 1], [j_range[0], j_range[1] - 1], [0, columns - 1]
                )
            ),
            dtype=float,
        )
        at = corners @ matrix.T + offset
        if np.any(at.max(axis=0) < -1) or np.any(at.min(axis=0) > limits + 1):
            return None
        lo = np.clip(np.floor(at.min(axis=0)) - 1, 0, limits).astype(int)
        hi = np.clip(np.ceil(at.max(axis=0)) + 1, 0, limits).astype(int)
        return lo, hi

    minimum = np.inf
    for p0 in range(0, count, step):
        p1 = min(p0 + step, count)
        k_block = (p0, p1) if along == 0 else (0, n_out)
        j_range = (p0, p1) if along == 1 else (0, rows)
        box = reach(k_block, j_range)
        if box is None:
            continue  # the whole block lies outside the volume
        slab = load(int(box[0][0]), int(box[1][0]) + 1)
        minimum = min(minimum, float(slab.min()))
        # Sub-blocks of output slices: each samples a narrow box of the slab, which keeps
        # SimpleITK's reads within the CPU cache (whole blocks were 4x slower).
        for q0 in range(k_block[0], k_block[1], sub_step):
            k_range = (q0, min(q0 + sub_step, k_block[1]))
            sub = reach(k_range, j_range)
            if sub is None:
                continue
            lo, hi = np.maximum(sub[0], box[0]), np.minimum(sub[1], box[1])
            cropped = np.ascontiguousarray(
                slab[lo[0] - box[0][0] : hi[0] - box[0][0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
            )
            image = SimpleITK.GetImageFromArray(cropped)
            start = np.array([k_range[0], j_range[0], 0], dtype=float)
            transform.SetTranslation((offset + matrix @ start - lo)[xyz].tolist())
            resampled = SimpleITK.Resample(
                image,
                [columns, j_range[1] - j_range[0], k_range[1] - k_range[0]],
                transform,
                SimpleITK.sitkLinear,
                (0.0, 0.0, 0.0),
                (1.0, 1.0, 1.0),
                identity,
                0.0,
                SimpleITK.sitkFloat32,
            )
            part = SimpleITK.GetArrayViewFromImage(resampled)  # valid while ``resampled`` lives
            block = out[k_range[0] : k_range[1], j_range[0] : j_range[1]]
            if info is not None:
                rounded = np.rint(part)
                np.clip(rounded, info.min, info.max, out=rounded)
                np.copyto(block, rounded, casting="unsafe")
            else:
                np.copyto(block, part, casting="unsafe")
            del part, resampled
        del slab
    return minimum if np.isfinite(minimum) else 0.0


def _fill_affine_outside(
    source_shape: tuple[int, ...],
    target: StackGeometry,
    matrix: NDArray,
    offset: NDArray,
    out: NDArray,
    cval: float,
) -> None:
    """Voxels of an affine reformat outside the volume get ``cval`` (decided as
    :func:`resample_slice` does: within :data:`_INSIDE_TOLERANCE` of the end voxels)."""
    n_out, rows, columns = target.shape
    limits = np.array(source_shape, dtype=float) - 1
    column_index = np.arange(columns, dtype=np.int32)[None, None, :]
    js = np.arange(rows)
    for k0 in range(0, n_out, _BLOCK_SLICES):
        k1 = min(k0 + _BLOCK_SLICES, n_out)
        first, last = _inside_columns(matrix, offset, limits, np.arange(k0, k1), js)
        first_i = np.clip(first, -1, columns).astype(np.int32)[..., None]
        last_i = np.clip(last, -1, columns).astype(np.int32)[..., None]
        np.putmask(out[k0:k1], (column_index < first_i) | (column_index > last_i), cval)


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def sagittal_reformat(
    geometry: StackGeometry, volume: NDArray, *, order: int = 1
) -> tuple[StackGeometry, NDArray]:
    """Resample an axial/coronal/oblique ``volume`` into a sagittal stack.

    Returns the reformat's geometry and its voxels (``(slices, rows, columns)``, the
    input dtype; integer data is rounded).  Voxels outside the volume get its minimum.
    ``order`` is the spline order of :func:`scipy.ndimage.map_coordinates` (1: linear).
    """
    volume = np.asarray(volume)
    if volume.shape != geometry.shape:
        raise ValueError(
            f"The volume has shape {volume.shape} but its geometry describes {geometry.shape} "
            "(slices, rows, columns); expected them to match."
        )
    target = sagittal_reformat_geometry(geometry)
    cval = float(volume.min()) if volume.size else 0.0
    out = np.empty(target.shape, dtype=volume.dtype)
    mapping = _separable_indices(geometry, target) if order == 1 else None
    if mapping is not None:
        _reformat_separable(volume, target, mapping, cval, out)
        return target, out
    affine = _affine_index_map(geometry, target) if order == 1 else None
    shear = ShearPlan.build(volume.shape, target.shape, *affine) if affine is not None else None
    if shear is not None:
        shear.run(volume, out, cval, workers=_workers())
        return target, out
    if affine is not None:
        _reformat_affine(lambda first, stop: volume[first:stop], volume.shape, target, *affine, out)
        _fill_affine_outside(volume.shape, target, *affine, out, cval)
        return target, out
    integer = np.issubdtype(volume.dtype, np.integer)
    info = np.iinfo(volume.dtype) if integer else None
    samples = volume
    if order > 1:  # spline coefficients once (float64: 8 bytes per voxel), not per slice
        from scipy import ndimage  # lazily: see resample_slice

        samples = ndimage.spline_filter(volume, order=order, output=np.float64, mode="nearest")

    def one(k: int) -> None:
        plane = resample_slice(geometry, samples, target, k, order=order, cval=cval, prefiltered=True)
        if info is not None:
            np.rint(plane, out=plane)
            np.clip(plane, info.min, info.max, out=plane)
        out[k] = plane

    with ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="reformat") as pool:
        for _ in pool.map(one, range(target.shape[0])):
            pass
    return target, out


def sagittal_reformat_streamed(
    geometry: StackGeometry, load_slices: SliceLoader, dtype: np.dtype
) -> tuple[StackGeometry, NDArray] | None:
    """The sagittal reformat of a volume read in slabs of consecutive slices, or None when
    the volume needs the general (non-separable) path.

    ``load_slices(first, stop)`` returns source slices ``first..stop-1``; they are read a
    block at a time and dropped once used, so memory holds the reformat plus a slab or two
    instead of the source volume plus the reformat.  The voxels are those of
    :func:`sagittal_reformat` on the whole volume (same blocks, same arithmetic).
    """
    target = sagittal_reformat_geometry(geometry)
    out = np.empty(target.shape, dtype=dtype)
    mapping = _separable_indices(geometry, target)
    if mapping is not None:
        plan = SeparablePlan(geometry.shape, target, mapping)
        cval = plan.run(load_slices, out, workers=_workers())
        plan.fill_outside(out, cval)
        return target, out
    affine = _affine_index_map(geometry, target)
    if affine is None:
        return None
    shear = ShearPlan.build(geometry.shape, target.shape, *affine)
    if shear is not None and shear.streams_slices:
        shear.run_streamed(load_slices, out, workers=_workers())
        return target, out
    cval = _reformat_affine(load_slices, geometry.shape, target, *affine, out, stream=True)
    _fill_affine_outside(geometry.shape, target, *affine, out, cval)
    return target, out
