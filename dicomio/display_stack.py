"""What a viewer shows: a series' own sagittal images, or a sagittal reformat of it.

Endplate measures on sagittal images, so :meth:`DisplayStack.for_viewing` keeps a
sagittal (or oblique) stack as it is and turns an axial or coronal stack into a
sagittal reformat (:mod:`dicomio.reformat`).  Either way the viewer gets one exact
:class:`~dicomio.geometry.StackGeometry` and a lazily loaded volume, and landmarks placed
on it are in true patient LPS.  Plain Python (no Qt): the app wraps it.
"""

from __future__ import annotations

import threading

from numpy.typing import NDArray

from dicomio.geometry import StackGeometry
from dicomio.model import SeriesStack
from dicomio.pixels import CancelCallback, ProgressCallback, load_volume
from dicomio.reformat import sagittal_reformat, sagittal_reformat_geometry
from dicomio.volume_cache import VolumeCache

#: Planes that are shown as a sagittal reformat rather than as acquired.
REFORMATTED_PLANES = ("axial", "coronal")


class DisplayStack:
    """A stack of images to show and measure on, with pixels loaded on first use.

    ``geometry`` is known without reading pixels (the reformat geometry is computed from
    the source geometry).  ``volume()`` loads (and for a reformat, resamples) once and
    keeps the result until :meth:`release`.
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
    def is_loaded(self) -> bool:
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

    def _source_volume(self, progress: ProgressCallback | None, cancel: CancelCallback | None) -> NDArray:
        if self._cache is not None:
            return self._cache.get(self.source, progress=progress, cancel=cancel)
        return load_volume(self.source, progress=progress, cancel=cancel)

    def volume(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> NDArray:
        """``(slices, rows, columns)`` voxels of :attr:`geometry`, loaded on first call."""
        with self._lock:
            if self._volume is None:
                data = self._source_volume(progress, cancel)
                if self.is_reformat:
                    _, data = sagittal_reformat(self.source.geometry, data, order=self._order)
                self._volume = data
            return self._volume

    def release(self) -> None:
        """Drop the loaded voxels (they are loaded again on the next :meth:`volume`)."""
        with self._lock:
            self._volume = None

    def __repr__(self) -> str:
        kind = "sagittal reformat of" if self.is_reformat else "images of"
        return f"DisplayStack({kind} {self.source.key}, shape {self.geometry.shape})"
