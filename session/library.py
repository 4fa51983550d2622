"""The open series: scanned stacks keyed by UID, their display stacks, one volume cache.

Everything a folder scan found stays here, whatever its case: the browser lists it, the
viewer shows its :class:`~dicomio.display_stack.DisplayStack` (a sagittal reformat for
an axial CT), the STIR analysis and the reports read its voxels.  All voxels go through
one :class:`~dicomio.volume_cache.VolumeCache`, so a series is decoded once and the
memory budget holds for the whole workstation.  Plain Python: the app's workers call
:meth:`DisplayStack.volume` off the GUI thread (the cache is thread-safe).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from numpy.typing import NDArray

from dicomio.display_stack import DisplayStack
from dicomio.model import ScanResult, SeriesStack, SkippedFile
from dicomio.volume_cache import VolumeCache


class SeriesLibrary:
    """Stacks by key (series UID, plus a stack index when a series splits), files skipped,
    display stacks by series UID, and the volume cache they share."""

    def __init__(self, cache: VolumeCache | None = None) -> None:
        self.cache = cache if cache is not None else VolumeCache()
        self._stacks: dict[str, SeriesStack] = {}
        self._displays: dict[str, DisplayStack] = {}
        self._skipped: list[SkippedFile] = []

    # -- what was found ----------------------------------------------------------------
    @property
    def stacks(self) -> Mapping[str, SeriesStack]:
        """Every stack, by :attr:`SeriesStack.key`, in the order the scans found them."""
        return MappingProxyType(self._stacks)

    @property
    def skipped(self) -> tuple[SkippedFile, ...]:
        return tuple(self._skipped)

    def add_scan(self, result: ScanResult) -> list[SeriesStack]:
        """Keep what a scan found; returns its stacks (a stack scanned again replaces the old one)."""
        for stack in result.stacks:
            if stack.key in self._stacks and stack.series_uid in self._displays:
                del self._displays[stack.series_uid]  # its frames may have moved
            self._stacks[stack.key] = stack
        known = {s.path for s in self._skipped}
        self._skipped.extend(s for s in result.skipped if s.path not in known)
        return list(result.stacks)

    def stack(self, key_or_uid: str) -> SeriesStack | None:
        """A stack by key, or the first stack of a series UID."""
        found = self._stacks.get(key_or_uid)
        if found is not None:
            return found
        return next((s for s in self._stacks.values() if s.series_uid == key_or_uid), None)

    def stacks_of(self, series_uids: Iterable[str]) -> list[SeriesStack]:
        wanted = set(series_uids)
        return [s for s in self._stacks.values() if s.series_uid in wanted]

    def clear(self) -> None:
        """Forget every series (another case opens); the cache's voxels are released too."""
        self._stacks.clear()
        self._displays.clear()
        self._skipped.clear()
        self.cache.clear()

    # -- what is shown -----------------------------------------------------------------
    def display(self, series_uid: str) -> DisplayStack:
        """The display stack of a series (made on first use; its voxels load on demand)."""
        display = self._displays.get(series_uid)
        if display is None:
            stack = self.stack(series_uid)
            if stack is None:
                raise ValueError(
                    f"series {series_uid} is not among the scanned series; open its folder first."
                )
            display = self._displays[series_uid] = DisplayStack.for_viewing(stack, cache=self.cache)
        return display

    def loaded_display(self, series_uid: str) -> DisplayStack | None:
        """The display stack of a series whose voxels are in memory, else None."""
        display = self._displays.get(series_uid)
        return display if display is not None and display.is_loaded else None

    def volume(self, stack: SeriesStack, **kwargs: Any) -> NDArray[Any]:
        """A stack's own voxels (as acquired), through the cache."""
        return self.cache.get(stack, **kwargs)
