"""A case's own DICOM images: its series paths scanned once, then every question about them.

``endplate measure``, ``endplate export`` and the app's reports ask the same things of a
case's images: which stacks are there (STIR analysis), where is a source image and what is
its header (the SR's evidence, read only for the images the SR references), which study a
timepoint belongs to (FHIR), what the measured slice looks like on screen (the PDF's key
image: the viewer's display stack, its default window).  :class:`CaseImages` answers them
through :mod:`dicomio`; the exporters and the analysis in :mod:`measure` never open a file.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from dicomio.display_stack import DisplayStack
from dicomio.headers import read_image_header
from dicomio.model import ScanResult, SeriesStack, WindowPreset
from dicomio.scan import scan_paths
from dicomio.windowing import display_presets, window_to_uint8
from measure.case import Case
from measure.edema import case_stir_results
from measure.landmarks import Landmark
from measure.results import StirResult
from session.library import SeriesLibrary

if TYPE_CHECKING:  # imported where used: the SR's evidence and the PDF's key images (start-up)
    from dicomio.sr import SourceImage
    from measure.export.key_images import KeyImage

_log = logging.getLogger("endplate.session")

#: Landmarks within this many slices of the key slice are drawn on it.
KEY_SLICE_TOLERANCE = 0.5


class CaseImages:
    """The scanned series of one case (satisfies :class:`measure.export.sources.CaseSources`).

    Each existing series path is scanned once, in one pass (a study folder holding every
    series is read once); missing paths are reported as sentences.  ``library`` may be
    shared (the app's), else a private one is made; ``scan`` may answer from an export
    run's cache (:class:`session.export_images.ExportImages`).
    """

    def __init__(
        self,
        case: Case,
        library: SeriesLibrary | None = None,
        *,
        scan: Callable[[list[Path]], ScanResult] | None = None,
    ) -> None:
        self.case = case
        self.library = library if library is not None else SeriesLibrary()
        self.missing_paths: dict[str, list[str]] = {}  # timepoint id -> series paths not on disk
        self._missing_series: list[str] = []
        self._headers: dict[str, SourceImage] = {}
        self._frame_index: dict[str, tuple[SeriesStack, int]] | None = None
        paths: dict[str, Path] = {}
        for ref in case.series:
            path = case.series_path(ref.series_uid)
            if path.exists():
                paths.setdefault(str(path), path)
            else:
                self.missing_paths.setdefault(ref.timepoint, []).append(str(path))
                self._missing_series.append(
                    f"the images of series {ref.series_uid} are not at {path} (moved or deleted)"
                )
        have = {s.series_uid for s in self.library.stacks.values()}
        if paths and not {ref.series_uid for ref in case.series} <= have:
            self.library.add_scan((scan or scan_paths)(list(paths.values())))
        found = {s.series_uid for s in self.library.stacks.values()}
        for ref in case.series:
            path = case.series_path(ref.series_uid)
            if str(path) in paths and ref.series_uid not in found:
                self._missing_series.append(f"no image of series {ref.series_uid} was found under {path}")

    # -- the case's stacks ---------------------------------------------------------------
    @property
    def stacks(self) -> list[SeriesStack]:
        return list(self.library.stacks.values())

    def stack(self, series_uid: str) -> SeriesStack | None:
        return self.library.stack(series_uid)

    def volume(self, stack: SeriesStack) -> NDArray[Any]:
        return self.library.volume(stack)

    # -- measure.export.sources.CaseSources ------------------------------------------------
    @property
    def missing_series(self) -> list[str]:
        return list(self._missing_series)

    def _source(self, stack: SeriesStack, index: int) -> SourceImage:
        frame = stack.frames[index]
        cached = self._headers.get(frame.sop_instance_uid)
        if cached is None:
            from dicomio.sr import SourceImage

            cached = SourceImage(frame.path, read_image_header(stack, index))
            self._headers[frame.sop_instance_uid] = cached
        return cached

    def image(self, sop_uid: str) -> SourceImage | None:
        if self._frame_index is None:
            self._frame_index = {
                frame.sop_instance_uid: (stack, i)
                for stack in self.library.stacks.values()
                for i, frame in enumerate(stack.frames)
            }
        found = self._frame_index.get(sop_uid)
        return None if found is None else self._source(*found)

    def first_image(self, series_uid: str) -> SourceImage | None:
        stacks = self.library.stacks_of([series_uid])
        if not stacks or not stacks[0].frames:
            return None
        stack = stacks[0]
        first = min(range(len(stack.frames)), key=lambda i: str(stack.frames[i].path))
        return self._source(stack, first)

    def study_uid_of(self, series_uids: Sequence[str]) -> str | None:
        for uid in series_uids:
            stack = self.library.stack(uid)
            if stack is not None and stack.study_uid:
                return stack.study_uid
        return None

    # -- analyses and pictures ---------------------------------------------------------
    def stir_results(self) -> dict[str, dict[str, StirResult]]:
        """The STIR edema of every timepoint (:func:`measure.edema.case_stir_results`)."""
        return case_stir_results(self.case, self.stacks, self.volume, missing_paths=self.missing_paths)

    def key_image(self, timepoint_id: str) -> KeyImage | str:
        """The measured slice of a timepoint as the screen shows it, or why there is none.

        The measurement set's series, its display stack (the sagittal reformat of an axial
        CT), the slice the landmarks lie on, windowed as the reader left it (the window kept
        in the case) or with the viewer's default window.
        """
        series_uid = self.case.measurement_series(timepoint_id)
        points = [
            (v.level, key, lm)
            for v in self.case.vertebrae(timepoint_id)
            for key, lm in v.landmarks_on(series_uid).items()
            if lm.series_uid == series_uid
        ]
        if series_uid is None or not points:
            return "no landmarks at this timepoint"
        stack = self.library.stack(series_uid)
        if stack is None:
            return "the images the landmarks were placed on were not found"
        try:
            display = self.library.display(series_uid)
            geometry = display.geometry
            along = np.asarray(
                geometry.slice_index_of(np.array([lm.position_mm for _, _, lm in points])), dtype=float
            )
            k = self._key_slice(display, [lm for _, _, lm in points], along)
            volume = display.volume()
        except (ValueError, OSError, MemoryError):
            _log.exception("key image of timepoint %s (series %s)", timepoint_id, series_uid)
            return "the image could not be read (the log has the details)"
        ref = self.case.series_ref(series_uid)
        if ref is not None and ref.window is not None:
            preset = WindowPreset(ref.window.name or "reader's", ref.window.center, ref.window.width)
        else:
            presets, default = display_presets(stack, volume)
            preset = presets[default]
        on_slice: dict[str, dict[str, Landmark]] = {}
        for (level, key, lm), slice_pos in zip(points, along, strict=True):
            if abs(float(slice_pos) - k) <= KEY_SLICE_TOLERANCE:
                on_slice.setdefault(level, {})[key] = lm
        series = " ".join(part for part in (stack.modality, stack.description.strip()) if part)
        parts = [series or "series without description"]
        if display.is_reformat:
            parts.append("sagittal reformat")
        parts.append(f"{preset.name} window")
        caption = ", ".join(parts)
        from measure.export.key_images import KeyImage

        return KeyImage(window_to_uint8(volume[k], preset), geometry.slices[k], caption, on_slice)

    @staticmethod
    def _key_slice(display: DisplayStack, landmarks: list[Landmark], along: NDArray[np.float64]) -> int:
        """The slice most landmarks were placed on (their image), else their median position."""
        n = display.geometry.shape[0]
        sops = Counter(lm.sop_uid for lm in landmarks if lm.sop_uid)
        if sops and not display.is_reformat:
            slices = {display.sop_uid_for_slice(k): k for k in range(n)}
            for sop, _count in sops.most_common():
                if sop in slices:
                    return slices[sop]
        return int(np.clip(round(float(np.median(along))), 0, n - 1))

    def key_images(self) -> dict[str, KeyImage | str]:
        return {tp.id: self.key_image(tp.id) for tp in self.case.ordered_timepoints()}
