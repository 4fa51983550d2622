"""What a viewer shows: a series' own sagittal images, or a sagittal reformat of it.

Endplate measures on sagittal images, so :meth:`DisplayStack.for_viewing` keeps a
sagittal (or oblique) stack as it is and turns an axial or coronal stack into a
sagittal reformat (:mod:`dicomio.reformat`).  Either way the viewer gets one exact
:class:`~dicomio.geometry.StackGeometry` and a lazily loaded volume, and landmarks placed
on it are in true patient LPS.  Plain Python (no Qt): the app wraps it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from dicomio.geometry import StackGeometry
from dicomio.model import SeriesStack
from dicomio.pixels import CancelCallback, ProgressCallback, load_volume, output_dtype
from dicomio.reformat import sagittal_reformat, sagittal_reformat_geometry, sagittal_reformat_streamed
from dicomio.volume_cache import VolumeCache

#: Planes that are shown as a sagittal reformat rather than as acquired.
REFORMATTED_PLANES = ("axial", "coronal")


class DisplayStack:
    """A stack of images to show and measure on, with pixels loaded on first use.

    ``geometry`` is known without reading pixels (the reformat geometry is computed from
    the source geometry).  ``volume()`` loads (and for a reformat, resamples) once.
    Without a cache the display keeps the result until :meth:`release`.  With a
    :class:`~dicomio.volume_cache.VolumeCache` the cache holds it, within its memory
    budget: the acquired images under the source's key, a reformat under
    :attr:`cache_key` (``key + "#sagittal"``); a reformat reuses the source volume when the
    cache holds it, else loads it for the resampling only, so that memory holds one copy.
    """

    def __init__(
        self,
        source: SeriesStack,
        *,
        reformat: bool = False,
        cache: VolumeCache | None = None,
        order: int = 1,
    ) -> None:
        self.source = source
        self.is_reformat = reformat
        self._cache = cache
        self._order = order
        self.geometry: StackGeometry = (
            sagittal_reformat_geometry(source.geometry) if reformat else source.geometry
        )
        self._volume: NDArray | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_viewing(cls, stack: SeriesStack, *, cache: VolumeCache | None = None) -> DisplayStack:
        """Sagittal and oblique stacks as they are; axial/coronal ones as a sagittal reformat."""
        return cls(stack, reformat=stack.plane in REFORMATTED_PLANES and stack.n_images > 1, cache=cache)

    @property
    def series_uid(self) -> str:
        return self.source.series_uid

    @property
    def key(self) -> str:
        """The source stack's key (series UID, plus stack index when a series is split)."""
        return self.source.key

    @property
    def cache_key(self) -> str:
        """Key of this display's voxels in a :class:`~dicomio.volume_cache.VolumeCache`."""
        return self.source.key + "#sagittal" if self.is_reformat else self.source.key

    @property
    def is_loaded(self) -> bool:
        if self._cache is not None:
            return self._cache.is_loaded(self.cache_key)
        return self._volume is not None

    def sop_uid_for_slice(self, k: int) -> str | None:
        """SOPInstanceUID of the image shown as slice ``k``; None for a reformat (no such image)."""
        if self.is_reformat or not 0 <= k < len(self.source.frames):
            return None
        return self.source.frames[k].sop_instance_uid

    def frame_index_for_slice(self, k: int) -> int | None:
        """Frame number (0-based) in a multi-frame file of slice ``k``; None otherwise."""
        if self.is_reformat or not 0 <= k < len(self.source.frames):
            return None
        return self.source.frames[k].frame_index

    def volume(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> NDArray:
        """``(slices, rows, columns)`` voxels of :attr:`geometry`, loaded on first call.

        With a cache, raises :class:`~dicomio.volume_cache.MemoryBudgetError` (before
        reading) when the volume alone exceeds the cache's budget.
        """
        if self._cache is not None:
            return self._cached_volume(self._cache, progress, cancel)
        with self._lock:
            if self._volume is None:
                if self.is_reformat:
                    self._volume = self._load_reformat(progress, cancel)
                else:
                    self._volume = load_volume(self.source, progress=progress, cancel=cancel)
            return self._volume

    def _reformat(self, source_volume: NDArray) -> NDArray:
        _, data = sagittal_reformat(self.source.geometry, source_volume, order=self._order)
        return data

    def _load_reformat(self, progress: ProgressCallback | None, cancel: CancelCallback | None) -> NDArray:
        """The reformat, its source streamed in slabs of slices where the reformat allows it
        (peak memory: the reformat plus a slab, not the source volume plus the reformat)."""
        if self._order == 1:
            streamed = self._streamed_reformat(progress, cancel)
            if streamed is not None:
                return streamed
        return self._reformat(load_volume(self.source, progress=progress, cancel=cancel))

    def _streamed_reformat(
        self, progress: ProgressCallback | None, cancel: CancelCallback | None
    ) -> NDArray | None:
        source = self.source
        dtype, _ = output_dtype(source)
        total = len(source.frames)
        done = [0]
        lock = threading.Lock()
        if progress is not None:
            progress(0, total)

        def load(first: int, stop: int) -> NDArray:
            part = replace(
                source,
                frames=source.frames[first:stop],
                geometry=StackGeometry(source.geometry.slices[first:stop]),
            )
            # One reader per slab: the reformat already reads slabs on every core.
            slab = load_volume(part, workers=1, cancel=cancel)
            if not np.can_cast(slab.dtype, dtype, casting="same_kind") or (
                np.issubdtype(dtype, np.integer) and not np.issubdtype(slab.dtype, np.integer)
            ):
                raise _SlabTypeError  # this slab needs float: the whole volume does (rare)
            if progress is not None:
                with lock:
                    done[0] = min(total, done[0] + stop - first)
                    progress(done[0], total)
            return slab

        try:
            result = sagittal_reformat_streamed(source.geometry, load, dtype)
        except _SlabTypeError:
            return None
        return None if result is None else result[1]

    def _cached_volume(
        self, cache: VolumeCache, progress: ProgressCallback | None, cancel: CancelCallback | None
    ) -> NDArray:
        if not self.is_reformat:
            return cache.get(self.source, progress=progress, cancel=cancel)

        # Taken now: making room for the reformat may drop it from the cache, not from here.
        held = cache.peek(self.source)

        def compute() -> NDArray:
            if held is not None:
                return self._reformat(held)
            # Loaded for the resampling only: not kept beside the reformat.
            return self._load_reformat(progress, cancel)

        dtype, _ = output_dtype(self.source)  # a reformat keeps the source's dtype
        name = f"{self.source.description!r} ({self.key})" if self.source.description else self.key
        return cache.get_or_compute(
            self.cache_key,
            math.prod(self.geometry.shape) * dtype.itemsize,
            compute,
            what=f"The sagittal reformat of series {name}",
        )

    def release(self) -> None:
        """Drop the loaded voxels (they are loaded again on the next :meth:`volume`).

        With a cache, its entry for :attr:`cache_key` is dropped (for acquired images that
        is the source stack's volume, which other users of the cache then load again).
        """
        if self._cache is not None:
            self._cache.release(self.cache_key)
        with self._lock:
            self._volume = None

    def __repr__(self) -> str:
        kind = "sagittal reformat of" if self.is_reformat else "images of"
        return f"DisplayStack({kind} {self.source.key}, shape {self.geometry.shape})"


class _SlabTypeError(Exception):
    """A slab of a streamed reformat came back in a wider type than the output's."""
