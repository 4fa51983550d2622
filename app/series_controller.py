"""Opening DICOM folders and case files, and loading and showing series, off the GUI thread.

Scans and pixel loading run as :class:`~app.workers.Task` objects on the window's
:class:`~app.tasks.TaskRunner`; their results come back as queued signals and are stored
in the :class:`~session.model.Session` (stacks in its library, the series shown), which
the views observe.  The window presets of a series come from ``dicomio.windowing``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtWidgets

from app import placement, recovery, workers
from app.browser import SeriesBrowser, SkippedFilesPanel
from app.coords import pixel_to_scene
from app.tasks import TaskRunner
from app.viewer import SliceViewer
from dicomio.display_stack import DisplayStack
from dicomio.geometry import StackGeometry
from dicomio.model import ScanResult, SeriesStack, WindowPreset
from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.windowing import default_needs_voxels, display_presets
from measure.case import Case
from measure.casefile import CaseFileError, load_case
from measure.spine_view import SpineView, locate_spine
from session.model import Session

log = logging.getLogger("endplate.app")

CASE_SUFFIXES = (".json",)
#: Space kept around the landmarks when a series opens zoomed on them (mm).
LANDMARK_MARGIN_MM = 35.0

ErrorFn = Callable[[str, str], None]


def is_case_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(CASE_SUFFIXES)


class SeriesController(QtCore.QObject):
    """Scanning, loading and showing series; the window presets of the series shown."""

    #: A series is shown (its volume loaded), or a case finished opening.
    loaded = QtCore.Signal()
    #: A folder scan finished (browser filled, skipped list updated).
    scanFinished = QtCore.Signal()
    #: A series' display volume finished loading (series UID).
    displayLoaded = QtCore.Signal(str)

    def __init__(
        self,
        session: Session,
        runner: TaskRunner,
        viewer: SliceViewer,
        browser: SeriesBrowser,
        skipped_panel: SkippedFilesPanel,
        window_combo: QtWidgets.QComboBox,
        adopt_case: Callable[[Case], None],
        report_error: ErrorFn,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.viewer = viewer
        self.browser = browser
        self.skipped_panel = skipped_panel
        #: Told how many files were skipped (the status bar's line that opens the list).
        self.skipped_changed: Callable[[int], None] = lambda _n: None
        #: Told a sentence when a scan found series of another patient than the case's.
        self.warn: Callable[[str], None] = lambda _sentence: None
        self.window_combo = window_combo
        self._adopt_case = adopt_case
        self.report_error = report_error
        self.window_presets: list[WindowPreset] = []
        #: Extra viewers the window preset applies to (the compare view's, while shown).
        self.extra_viewers: Callable[[], list[SliceViewer]] = list
        self._pending_show: str | None = None
        self._loading: set[str] = set()
        #: Where each loaded display shows the spine (found in the loading worker).
        self._spine_views: dict[str, SpineView] = {}
        #: Window presets of each loaded display (computed in the loading worker too).
        self._presets: dict[str, tuple[list[WindowPreset], int]] = {}
        self._presets_pending: set[str] = set()  # series whose presets a task is computing
        #: Stacks of the last scan whose thumbnails wait for the series shown to load first.
        self._thumbnails_waiting: list[SeriesStack] = []
        self.series_title = ""
        #: Called with (series UID, preset) when the reader picks or drags a window (the window
        #: sets it to an undoable command that keeps it in the case).
        self.window_chosen: Callable[[str, WindowPreset], None] = lambda _uid, _preset: None
        window_combo.activated.connect(self._on_preset_chosen)
        viewer.windowEdited.connect(self._on_window_dragged)

    # -- opening -------------------------------------------------------------------------------
    def open_paths(self, paths: list[Path]) -> None:
        """Open a case file, or scan folders/files for DICOM series."""
        paths = [Path(p) for p in paths]
        if len(paths) == 1 and is_case_file(paths[0]):
            self.open_case(paths[0])
            return
        missing = [p for p in paths if not p.exists()]
        if missing:
            self.report_error(
                "Cannot open", f"{missing[0]} does not exist; expected a DICOM folder, files or a case file."
            )
            paths = [p for p in paths if p.exists()]
        if paths:
            self.scan(paths)

    def open_case(self, path: Path) -> bool:
        try:
            case = load_case(path)
        except CaseFileError as exc:
            self.report_error("Cannot open case", str(exc))
            return False
        self.adopt_case(case)
        recovery.add_recent_case(Path(path))
        return True

    def adopt_case(self, case: Case, show_uid: str | None = None) -> None:
        """Make ``case`` the window's case and scan its series (the first one is shown)."""
        self.forget_series()
        self._adopt_case(case)
        folders: list[Path] = []
        for ref in case.series:
            p = case.series_path(ref.series_uid)
            if p.exists() and p not in folders:
                folders.append(p)
            elif not p.exists():
                self.report_error(
                    "Series not found",
                    f"The images of series {ref.description or ref.series_uid} were expected at {p}, "
                    "which does not exist; its landmarks are kept but cannot be shown.",
                )
        if folders:
            first = show_uid
            if first is None:
                for tp in case.ordered_timepoints():
                    refs = case.series_of(tp.id)
                    if refs:
                        first = refs[0].series_uid
                        break
            self.scan(folders, then_show=first)

    def forget_series(self) -> None:
        """Drop the series of the previous case (and their voxels) before opening another."""
        self.runner.forget_all()
        self._loading = set()
        self._spine_views = {}
        self._presets = {}
        self._presets_pending = set()
        self._thumbnails_waiting = []
        self._pending_show = None
        self.session.forget_series()
        self.browser.set_stacks([], {})
        self.viewer.clear()
        self.skipped_panel.set_skipped([])
        self.skipped_changed(0)

    def scan(self, paths: list[Path], then_show: str | None = None) -> workers.Task:
        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> ScanResult:
            return scan_paths(paths, progress=progress, cancel=cancel)

        task = workers.Task(job, f"Scanning {', '.join(str(p) for p in paths[:2])}")
        task.signals.finished.connect(lambda result: self._on_scan_finished(result, then_show))
        self.runner.run(task, "Scanning…")
        return task

    def _on_scan_finished(self, result: ScanResult, then_show: str | None) -> None:
        stacks = self.session.add_scan(result)
        library = self.session.library
        self.browser.set_stacks(list(library.stacks.values()), dict(self.session.summaries))
        skipped = list(library.skipped)
        self.skipped_panel.set_skipped(skipped)
        self.skipped_changed(len(skipped))
        others = [c for st in stacks if (c := self.session.patient_conflict(st.series_uid)) is not None]
        if others:
            self.warn(others[0] + " Its series are listed, but join the case only if you confirm.")
        if not library.stacks:
            self.report_error(
                "No images found",
                "No DICOM image series was found in the chosen files"
                + (f"; {len(skipped)} file(s) were skipped (see the list)." if skipped else "."),
            )
        target = then_show
        if target is None and stacks and self.session.current_series_uid is None:
            sagittal = [s for s in stacks if s.plane == "sagittal"]
            target = (sagittal or stacks)[0].series_uid
        self.scanFinished.emit()
        if target is not None and self.session.stack(target) is not None:
            # Thumbnails wait until the series shown has loaded: the load gets every core.
            self._thumbnails_waiting = [*self._thumbnails_waiting, *stacks]
            shown_now = self.session.library.loaded_display(target) is not None
            self.show_series(target)  # else its load ends in _on_series_loaded, which starts them
            if shown_now:
                self._start_waiting_thumbnails()
        else:
            self._start_thumbnails(stacks)
            if then_show is not None:
                self.loaded.emit()

    def _start_waiting_thumbnails(self) -> None:
        stacks, self._thumbnails_waiting = self._thumbnails_waiting, []
        if stacks:
            self._start_thumbnails(stacks)

    def _start_thumbnails(self, stacks: list[SeriesStack]) -> None:
        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> dict[str, NDArray[Any]]:
            out = {}
            for i, stack in enumerate(stacks):
                if cancel():
                    break
                mid = len(stack.frames) // 2
                one = replace(
                    stack, frames=[stack.frames[mid]], geometry=StackGeometry((stack.geometry.slices[mid],))
                )
                try:
                    out[stack.key] = np.asarray(load_volume(one))[0]
                except Exception:
                    log.exception("thumbnail of %s failed", stack.key)
                progress(i + 1, len(stacks))
            return out

        task = workers.Task(job, "Making thumbnails")
        task.signals.finished.connect(self._set_thumbnails)
        self.runner.run(task, None)

    def _set_thumbnails(self, thumbs: dict[str, NDArray[Any]]) -> None:
        for key, image in thumbs.items():
            stack = self.session.library.stacks.get(key)
            if stack is not None:
                self.browser.set_thumbnail(key, image, _levels(stack), stack.geometry.first.pixel_spacing_mm)

    # -- showing -------------------------------------------------------------------------------
    def show_series(self, key_or_uid: str) -> None:
        """Load (in a worker) and show a series; emits :attr:`loaded` when shown."""
        stack = self.session.stack(key_or_uid)
        if stack is None:
            self.report_error("Cannot show series", f"series {key_or_uid} is not among the scanned series.")
            return
        self._pending_show = stack.series_uid
        if self.session.library.loaded_display(stack.series_uid) is not None:
            self._show_display(stack.series_uid)
        else:
            self.load_display(stack.series_uid)

    def show_series_then(self, uid: str, then: Callable[[], None]) -> None:
        """Show a series, then call ``then`` once it is shown (now, when already loaded)."""
        if self.session.library.loaded_display(uid) is not None:
            self.show_series(uid)
            then()
            return
        conn: list[Any] = []

        def once() -> None:
            self.loaded.disconnect(conn[0])
            then()

        conn.append(self.loaded.connect(once))
        self.show_series(uid)

    def load_display(self, uid: str) -> workers.Task | None:
        """Load a series' display stack in a worker; emits :attr:`displayLoaded`."""
        stack = self.session.stack(uid)
        library = self.session.library
        if stack is None or library.loaded_display(uid) is not None or uid in self._loading:
            return None
        display = library.display(uid)

        views = self._spine_views  # not the next case's, if this one is closed meanwhile
        presets = self._presets
        # The spine's midline is only needed to open a series without landmarks (and, for MR,
        # costs the import of scipy.ndimage, 0.2-0.5 s): found here, off the GUI thread, only then
        # (spine_view finds it on demand if the landmarks are removed before it is shown).
        find_spine = not self._has_landmarks(uid)

        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> DisplayStack:
            volume = display.volume(progress=progress, cancel=cancel)
            if find_spine:
                views[uid] = _spine_view(display, volume)
            if default_needs_voxels(stack):  # here, not on the GUI thread; else after showing
                presets[uid] = display_presets(stack, volume)
            return display

        self._loading.add(uid)
        task = workers.Task(job, f"Loading {stack.description or uid}")
        task.signals.finished.connect(lambda _display: self._on_series_loaded(uid))
        for sig in (task.signals.failed, task.signals.cancelled):
            sig.connect(lambda *_a: self._loading.discard(uid))
            sig.connect(lambda *_a: self._start_waiting_thumbnails())
        self.runner.run(task, "Loading images…")
        return task

    def _on_series_loaded(self, uid: str) -> None:
        self._loading.discard(uid)
        self.session.display_loaded(uid)
        self.displayLoaded.emit(uid)
        if self._pending_show == uid:
            self._show_display(uid)
        self._start_waiting_thumbnails()

    def spine_view(self, uid: str) -> SpineView:
        """Where the loaded display of ``uid`` shows the spine (found once, then kept)."""
        view = self._spine_views.get(uid)
        if view is None:
            display = self.session.library.display(uid)
            view = self._spine_views[uid] = _spine_view(display, display.volume())
        return view

    def _has_landmarks(self, uid: str) -> bool:
        """Whether the case has landmarks on series ``uid`` at its timepoint (as
        :meth:`_show_display` asks: without any, the series opens on the spine's midline)."""
        case = self.session.case
        ref = case.series_ref(uid)
        if ref is None or ref.timepoint is None:
            return False
        return any(v.landmarks_on(uid) for v in case.vertebrae(ref.timepoint))

    def _show_display(self, uid: str) -> None:
        display = self.session.library.display(uid)
        self._pending_show = None
        volume = display.volume()
        case = self.session.case
        ref = case.series_ref(uid)
        tp = None if ref is None else ref.timepoint  # the session's, once uid is the current series
        verts = case.vertebrae(tp) if tp is not None else []
        points = [lm.position_mm for v in verts for lm in v.landmarks_on(uid).values()]
        if points:
            self.viewer.set_source(display, volume=volume)
        else:
            # No landmarks yet: open on the spine's midline, zoomed on it; Home returns there.
            spine = self.spine_view(uid)
            self.viewer.set_source(display, volume=volume, slice_index=spine.slice_index)
            self.viewer.set_home(spine.slice_index, _scene_rect(spine, display.geometry))
            self.viewer.go_home()
            log.info("series %s opens at slice %d: %s", uid, spine.slice_index, spine.reason)
        stack = self.session.stack(uid)
        title = stack.display_name if stack is not None else uid
        if display.is_reformat:
            title += " (sagittal reformat)"
        self.series_title = title
        self._fill_window_presets(uid)
        if stack is not None:
            self.browser.select_key(stack.key)
        self.session.set_current_series(uid)
        if tp is not None:
            if points:
                # Open on the landmarks: their slice, zoomed so that the measured levels fill the view.
                self.viewer.fit_points(np.array(points), margin_mm=LANDMARK_MARGIN_MM)
            flagged = [v.level for v in verts if v.status in ("fractured", "treated")]
            level = self.session.current_level
            if flagged and flagged[0] in placement.PLACEMENT_LEVELS:
                self.session.set_level(flagged[0])
            elif placement.next_key(case, tp, level, uid) is None:
                self.session.set_level(placement.suggest_level(case, tp, level, uid))
        self.loaded.emit()

    # -- window presets ------------------------------------------------------------------------
    def window_presets_for(self, uid: str) -> tuple[list[WindowPreset], int]:
        """Window presets of a loaded series and the index of the default one (``dicomio.windowing``)."""
        stack = self.session.stack(uid)
        if stack is None:
            raise ValueError(f"series {uid} is not among the scanned series")
        found = self._presets.get(uid)
        if found is None:
            found = self._presets[uid] = display_presets(stack, self.session.library.display(uid).volume())
        return list(found[0]), found[1]

    def window_for(self, uid: str, presets: tuple[list[WindowPreset], int] | None = None) -> WindowPreset:
        """The window a series is shown with: the reader's, kept in the case, else its default
        (``presets``: the series' :meth:`window_presets_for`, when the caller has them)."""
        ref = self.session.case.series_ref(uid)
        if ref is not None and ref.window is not None:
            return WindowPreset(ref.window.name or "reader's", ref.window.center, ref.window.width)
        found, default = presets if presets is not None else self.window_presets_for(uid)
        return found[default]

    def _presets_soon(self, uid: str) -> tuple[list[WindowPreset], int]:
        """The series' presets if known, else those that need no voxels (the automatic window
        follows from a background task, which fills the combo again)."""
        found = self._presets.get(uid)
        stack = self.session.stack(uid)
        if found is not None or stack is None or default_needs_voxels(stack):
            return self.window_presets_for(uid)
        quick = display_presets(stack, None)
        if uid in self._presets_pending:
            return quick
        self._presets_pending.add(uid)
        display = self.session.library.display(uid)
        presets, pending = self._presets, self._presets_pending

        def job(_progress: workers.ProgressFn, _cancel: workers.CancelFn) -> None:
            presets[uid] = display_presets(stack, display.volume())

        def done(_result: object) -> None:
            pending.discard(uid)
            if presets is self._presets and self.session.current_series_uid == uid:
                self._fill_window_presets(uid)

        task = workers.Task(job, f"Window presets of {stack.description or uid}")
        task.signals.finished.connect(done)
        for sig in (task.signals.failed, task.signals.cancelled):
            sig.connect(lambda *_a: pending.discard(uid))
        self.runner.run(task, None)
        return quick

    def _fill_window_presets(self, uid: str) -> None:
        """The combo holds the series' presets; the one shown is the reader's window kept in
        the case (an extra entry when it is none of the presets), else the default."""
        presets, default = self._presets_soon(uid)  # one pass over the voxels, not two
        shown = self.window_for(uid, (presets, default))
        match = next(
            (i for i, p in enumerate(presets) if (p.center, p.width) == (shown.center, shown.width)), None
        )
        if match is None:
            presets = [*presets, shown]
            match = len(presets) - 1
        self.window_presets = presets
        self.window_combo.clear()
        for p in presets:
            self.window_combo.addItem(f"{p.name}  ({p.center:.0f}/{p.width:.0f})")
        self.window_combo.setCurrentIndex(match)
        self.apply_window_preset(match)

    def show_window(self, uid: str) -> None:
        """Show the window the case now holds for ``uid`` (after an undo, a redo)."""
        if self.session.library.loaded_display(uid) is not None:
            self._fill_window_presets(uid)

    def _on_preset_chosen(self, index: int) -> None:
        self.apply_window_preset(index)
        uid = self.session.current_series_uid
        if uid is not None and 0 <= index < len(self.window_presets):
            self.window_chosen(uid, self.window_presets[index])

    def _on_window_dragged(self, center: float, width: float) -> None:
        uid = self.session.current_series_uid
        if uid is not None:
            self.window_chosen(uid, WindowPreset("reader's", center, width))
            for v in self.extra_viewers():
                v.set_window(center, width)

    def apply_window_preset(self, index: int) -> None:
        if 0 <= index < len(self.window_presets):
            preset = self.window_presets[index]
            for v in [self.viewer, *self.extra_viewers()]:
                v.set_window(preset.center, preset.width)


def _spine_view(display: DisplayStack, volume: NDArray[Any]) -> SpineView:
    return locate_spine(volume, display.geometry, display.source.modality)


def _scene_rect(spine: SpineView, geometry: StackGeometry) -> tuple[float, float, float, float] | None:
    """The spine's zoom rectangle in viewer scene mm (x, y, w, h); None: the whole image."""
    if spine.roi is None:
        return None
    x0, y0 = pixel_to_scene(spine.roi.column_min, spine.roi.row_min, geometry)
    x1, y1 = pixel_to_scene(spine.roi.column_max, spine.roi.row_max, geometry)
    return (x0, y0, x1 - x0, y1 - y0)


def _levels(stack: SeriesStack | None) -> tuple[float, float] | None:
    """Display range of the series' own first window (None: let the thumbnail choose)."""
    if stack is None or not stack.windows:
        return None
    w = stack.windows[0]
    return w.center - w.width / 2, w.center + w.width / 2
