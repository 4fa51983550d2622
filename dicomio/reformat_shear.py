"""Sheared (gantry-tilted) sagittal reformat in plain numpy, one output plane at a time.

The reformat keeps the volume's own in-plane axes and their spacing, so when the index map
from reformat to volume is affine (even slices, tilted or not) two of the reformat's axes
step exactly one voxel along one volume axis each; only the third (the one along the
volume's normal) moves through the slices and, with tilt, shifts the in-plane position.
Every output plane across that third axis therefore samples the volume on a shifted copy
of the volume's own grid, with the same fractional weights for all its voxels: trilinear
interpolation is two source slices blended and shifted by a fraction of a voxel, a few
numpy passes per plane on data that stays in the CPU cache, no coordinate arrays.  The
samples are those of ``map_coordinates(order=1)`` at the exact positions, within float32
rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

#: Tolerance (in voxel index units) for points just outside the volume's end voxels.
INSIDE_TOLERANCE = 1e-6
#: Output planes per block (a streamed block loads the source slices these need).
_BLOCK_PLANES = 32

SliceLoader = Callable[[int, int], NDArray]
#: The valid rectangle of one output plane: ``(a0, a1, b0, b1)`` in the plane's own axes.
Rect = tuple[int, int, int, int]
#: Per position along an axis: lower neighbour, weight of the upper one, validity.
AxisIndex = tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.bool_]]


def axis_index(f: NDArray[np.float64], n: int) -> AxisIndex:
    """Lower neighbour, weight of the upper one, and validity of fractional indices ``f``."""
    valid = (f >= -INSIDE_TOLERANCE) & (f <= n - 1 + INSIDE_TOLERANCE)
    if n == 1:
        return np.zeros(len(f), dtype=np.intp), np.zeros(len(f)), valid
    # The last voxel is its own lower neighbour with weight 0 (not n - 2 with weight 1: the
    # same value, and an axis sampled at the volume's own positions stays a plain view).
    lower = np.clip(np.floor(f), 0, n - 1).astype(np.intp)
    weight = np.where(lower == n - 1, 0.0, np.clip(f - lower, 0.0, 1.0))
    return lower, weight, valid


def pick_along(x: NDArray, axis: int, index: NDArray[np.intp]) -> NDArray:
    """``np.take(x, index, axis)``, as a view when ``index`` is a run with step +1 or -1."""
    where: list[slice] = [slice(None)] * x.ndim
    step = int(index[1] - index[0]) if len(index) > 1 else 1
    if abs(step) == 1 and np.array_equal(index, index[0] + step * np.arange(len(index))):
        stop = int(index[-1]) + step
        where[axis] = slice(int(index[0]), stop if stop >= 0 else None, step)
        return x[tuple(where)]
    return np.take(x, index, axis=axis)


def _lerp(x: NDArray, axis: int, lower: NDArray[np.intp], weight: NDArray[np.float64]) -> NDArray:
    """``x`` linearly interpolated along ``axis`` at ``lower + weight`` (float32, or a view of
    ``x`` itself where every weight is zero)."""
    a = pick_along(x, axis, lower)
    if not np.any(weight):
        return a
    b = pick_along(x, axis, np.minimum(lower + 1, x.shape[axis] - 1))
    shape = [1] * x.ndim
    shape[axis] = len(weight)
    w = weight.astype(np.float32).reshape(shape)
    out = np.multiply(a, 1 - w, dtype=np.float32)
    out += np.multiply(b, w, dtype=np.float32)
    return out


class ShearPlan:
    """The plane-by-plane sampling of an affine index map ``source = matrix @ target + offset``
    (array axes ``(slice, row, column)``) whose two unit axes step one voxel each."""

    def __init__(
        self,
        source_shape: tuple[int, ...],
        target_shape: tuple[int, ...],
        matrix: NDArray,
        offset: NDArray,
        free: int,
        units: dict[int, tuple[int, int]],
    ):
        self.source_shape = tuple(int(n) for n in source_shape)
        self.target_shape = tuple(int(n) for n in target_shape)
        self.matrix, self.offset = matrix, offset
        self.free = free  # the target axis the planes are taken across
        self.units = units  # target axis -> (source axis, step +1 or -1)
        self.plane_axes = sorted(units)  # target axes of a plane, in array order
        self.blend = ({0, 1, 2} - {a for a, _ in units.values()}).pop()  # source axis blended

    @classmethod
    def build(
        cls, source_shape: tuple[int, ...], target_shape: tuple[int, ...], matrix: NDArray, offset: NDArray
    ) -> ShearPlan | None:
        """The plan, or None when the map has no two unit axes or its planes would run across
        the output's innermost axis (strided planes: SimpleITK is the faster tool there)."""
        units: dict[int, tuple[int, int]] = {}
        for t in range(3):
            column = matrix[:, t]
            a = int(np.argmax(np.abs(column)))
            others = np.delete(column, a)
            unit = abs(abs(column[a]) - 1) < 1e-9 and np.all(np.abs(others) < 1e-9)
            if unit and a not in (s for s, _ in units.values()):
                units[t] = (a, int(np.sign(column[a])))
        free = [t for t in range(3) if t not in units]
        if len(units) != 2 or free[0] == 2:
            return None
        return cls(source_shape, target_shape, matrix, offset, free[0], units)

    @property
    def streams_slices(self) -> bool:
        """Whether each plane reads only a couple of consecutive source slices."""
        return self.blend == 0

    def _indices(self, t: int) -> tuple[tuple[NDArray, NDArray, bool], dict[int, AxisIndex]]:
        base = self.offset + self.matrix[:, self.free] * t
        lower, weight, valid = axis_index(np.array([base[self.blend]]), self.source_shape[self.blend])
        along: dict[int, AxisIndex] = {}
        for t_axis, (s_axis, step) in self.units.items():
            f = base[s_axis] + step * np.arange(self.target_shape[t_axis], dtype=float)
            along[t_axis] = axis_index(f, self.source_shape[s_axis])
        blend = (lower, weight, bool(valid[0]))
        return blend, along

    def source_range(self, planes: tuple[int, int]) -> tuple[int, int]:
        """The source slices ``[first, stop)`` planes ``[p0, p1)`` read (when streamed)."""
        lowers = [self._indices(t)[0][0][0] for t in (planes[0], planes[1] - 1)]
        return int(min(lowers)), int(min(max(lowers) + 2, self.source_shape[0]))

    def plane(self, volume: NDArray, first: int, t: int, out: NDArray) -> Rect | None:
        """Fill plane ``t`` of ``out`` inside the volume from ``volume`` (source slices
        ``first`` onwards); returns the filled rectangle, None when all of it is outside."""
        (c_lower, c_weight, c_valid), along = self._indices(t)
        if not c_valid:
            return None
        ranges = []
        for t_axis in self.plane_axes:
            valid = np.flatnonzero(along[t_axis][2])
            if not len(valid):
                return None
            ranges.append((int(valid[0]), int(valid[-1]) + 1))
        # The two source slices (or rows/columns) blended, cropped to what the plane reads;
        # an axis the plane runs backwards along is read forwards and flipped at the end
        # (numpy converts and blends contiguous data several times faster).
        where: list[slice | int] = [slice(None)] * 3
        crops: dict[int, tuple[NDArray, NDArray]] = {}
        flips: set[int] = set()
        for (a0, a1), t_axis in zip(ranges, self.plane_axes, strict=True):
            s_axis, step = self.units[t_axis]
            lower, weight, _ = along[t_axis]
            lower, weight = lower[a0:a1], weight[a0:a1]
            if step < 0:
                lower, weight = lower[::-1], weight[::-1]
                flips.add(s_axis)
            lo = int(lower.min())
            hi = int(min(lower.max() + 2, self.source_shape[s_axis]))
            where[s_axis] = slice(lo, hi)
            crops[s_axis] = (lower - lo, weight)
        c0 = int(c_lower[0]) - (first if self.blend == 0 else 0)
        where[self.blend] = c0
        data = volume[tuple(where)]
        if c_weight[0] > 0:
            where[self.blend] = c0 + 1
            w = np.float32(c_weight[0])
            blended = np.subtract(volume[tuple(where)], data, dtype=np.float32)
            blended *= w
            blended += data
            data = blended
        # ``data``'s axes: the two unit source axes in array order.
        s_axes = sorted(crops)
        for i, s_axis in enumerate(s_axes):
            data = _lerp(data, i, *crops[s_axis])
        if np.issubdtype(out.dtype, np.integer) and not np.issubdtype(data.dtype, np.integer):
            data = np.rint(data)
            if out.dtype.itemsize > 2:  # float32 holds every 16-bit value exactly
                info = np.iinfo(out.dtype)
                np.clip(data, info.min, info.max, out=data)
            data = data.astype(out.dtype)  # before the transposed copy: 2 bytes a voxel, not 4
        data = data[tuple(slice(None, None, -1 if s in flips else 1) for s in s_axes)]
        # To the plane's order (target axes in array order).
        if [self.units[t_axis][0] for t_axis in self.plane_axes] != s_axes:
            data = data.T
        index: list[slice | int] = [slice(None)] * 3
        index[self.free] = t
        (a0, a1), (b0, b1) = ranges
        index[self.plane_axes[0]] = slice(a0, a1)
        index[self.plane_axes[1]] = slice(b0, b1)
        out[tuple(index)] = data
        return a0, a1, b0, b1

    def fill_outside(self, out: NDArray, rects: list[Rect | None], cval: float) -> None:
        """Voxels outside each plane's filled rectangle get ``cval``."""
        for t, rect in enumerate(rects):
            index: list[slice | int] = [slice(None)] * 3
            index[self.free] = t
            plane = out[tuple(index)]
            if rect is None:
                plane[...] = cval
                continue
            a0, a1, b0, b1 = rect
            plane[:a0] = cval
            plane[a1:] = cval
            plane[a0:a1, :b0] = cval
            plane[a0:a1, b1:] = cval

    def run(self, volume: NDArray, out: NDArray, cval: float, *, workers: int = 1) -> None:
        """The whole reformat from a volume in memory."""
        count = self.target_shape[self.free]
        blocks = [(p, min(p + _BLOCK_PLANES, count)) for p in range(0, count, _BLOCK_PLANES)]

        def one(block: tuple[int, int]) -> list[Rect | None]:
            return [self.plane(volume, 0, t, out) for t in range(*block)]

        rects = _map(one, blocks, workers)
        self.fill_outside(out, [r for part in rects for r in part], cval)

    def run_streamed(self, load: SliceLoader, out: NDArray, *, workers: int = 1) -> float:
        """The whole reformat from ``load(first, stop)`` (source slices), a block of planes at
        a time; voxels outside get the minimum of every source voxel read, which is returned."""
        count = self.target_shape[self.free]
        blocks = [(p, min(p + _BLOCK_PLANES, count)) for p in range(0, count, _BLOCK_PLANES)]

        def one(block: tuple[int, int]) -> tuple[list[Rect | None], float]:
            first, stop = self.source_range(block)
            slab = load(first, stop)
            rects = [self.plane(slab, first, t, out) for t in range(*block)]
            return rects, float(slab.min()) if slab.size else np.inf

        results = _map(one, blocks, workers)
        minimum = min((m for _, m in results), default=0.0)
        cval = minimum if np.isfinite(minimum) else 0.0
        self.fill_outside(out, [r for rects, _ in results for r in rects], cval)
        return cval


def _map(fn: Callable, items: list, workers: int) -> list:
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reformat") as pool:
        return list(pool.map(fn, items))
