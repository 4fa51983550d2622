"""Opening DICOM folders and case files, and loading series, off the GUI thread.

Part of :class:`~app.main_window.MainWindow` (a mixin, so the window class stays small):
scans and pixel loading run in :class:`~app.workers.Task` objects with a progress bar and
a cancel button; results come back as queued signals, so the window never freezes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6 import QtCore, QtWidgets

from app import placement, recovery, workers
from dicomio.model import SeriesStack, WindowPreset
from measure.case import Case

log = logging.getLogger("endplate.app")

CASE_SUFFIXES = (".json",)
#: Space kept around the landmarks when a series opens zoomed on them (mm).
LANDMARK_MARGIN_MM = 35.0


def is_case_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(CASE_SUFFIXES)


class SeriesLoadingMixin:
    """Scanning, loading and showing series; window presets; background tasks."""

    # -- opening -------------------------------------------------------------------------------
    def open_paths(self, paths: list[Path]) -> None:
        """Open a case file, or scan folders/files for DICOM series."""
        paths = [Path(p) for p in paths]
        if len(paths) == 1 and is_case_file(paths[0]):
            self.open_case(paths[0])
            return
        missing = [p for p in paths if not p.exists()]
        if missing:
            self.show_error(
                "Cannot open", f"{missing[0]} does not exist; expected a DICOM folder, files or a case file."
            )
            paths = [p for p in paths if p.exists()]
        if paths:
            self.scan(paths)

    def open_case(self, path: Path) -> bool:
        from measure.casefile import CaseFileError, load_case

        try:
            case = load_case(path)
        except CaseFileError as exc:
            self.show_error("Cannot open case", str(exc))
            return False
        self._adopt_case(case)
        recovery.add_recent_case(Path(path))
        return True

    def _adopt_case(self, case: Case, show_uid: str | None = None) -> None:
        self._forget_series()
        self.set_case(case)
        folders: list[Path] = []
        for ref in case.series:
            p = case.series_path(ref.series_uid)
            if p.exists() and p not in folders:
                folders.append(p)
            elif not p.exists():
                self.show_error(
                    "Series not found",
                    f"The images of series {ref.description or ref.series_uid} were expected at {p}, "
                    "which does not exist; its landmarks are kept but cannot be shown.",
                )
        if folders:
            first = show_uid
            if first is None:
                ordered = case.ordered_timepoints()
                for tp in ordered:
                    refs = case.series_of(tp.id)
                    if refs:
                        first = refs[0].series_uid
                        break
            self.scan(folders, then_show=first)

    def _forget_series(self) -> None:
        """Drop the series of the previous case (and their voxels) before opening another."""
        self.cancel_tasks()
        for task in self.tasks:
            task.signals.blockSignals(True)
        self.tasks = []
        self.progress.hide()
        self.cancel_button.hide()
        self.stacks, self.summaries, self.displays, self.volumes = {}, {}, {}, {}
        self._loading = set()
        self.skipped = []
        self.current_uid = None
        self._pending_show = None
        self.browser.set_stacks([], {})
        self.viewer.clear()
        self.skipped_panel.set_skipped([])
        self.skipped_dock.hide()

    def scan(self, paths: list[Path], then_show: str | None = None) -> workers.Task:
        from dicomio.scan import scan_paths

        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> Any:
            return scan_paths(paths, progress=progress, cancel=cancel)

        task = workers.Task(job, f"Scanning {', '.join(str(p) for p in paths[:2])}")
        task.signals.finished.connect(lambda result: self._on_scan_finished(result, then_show))
        self._run(task, "Scanning…")
        return task

    def _on_scan_finished(self, result: Any, then_show: str | None) -> None:
        from dicomio.info import series_summary

        for stack in result.stacks:
            self.stacks[stack.key] = stack
            try:
                self.summaries[stack.key] = series_summary(stack)
            except Exception as exc:
                log.exception("series summary failed")
                self.summaries[stack.key] = {"modality": stack.modality, "warnings": [str(exc)]}
        self.skipped = list(result.skipped)
        self.browser.set_stacks(list(self.stacks.values()), self.summaries)
        self.skipped_panel.set_skipped(self.skipped)
        if self.skipped:
            self.skipped_dock.show()
        if not result.stacks and not self.stacks:
            self.show_error(
                "No images found",
                "No DICOM image series was found in the chosen files"
                + (f"; {len(self.skipped)} file(s) were skipped (see the list)." if self.skipped else "."),
            )
        self.refresh()
        self._start_thumbnails(list(result.stacks))
        target = then_show
        if target is None and result.stacks and self.current_uid is None:
            sagittal = [s for s in result.stacks if s.plane == "sagittal"]
            target = (sagittal or result.stacks)[0].series_uid
        self.scanFinished.emit()
        if target is not None and self._stack_for_uid(target) is not None:
            self.show_series(target)
        elif then_show is not None:
            self.loaded.emit()

    def _start_thumbnails(self, stacks: list[SeriesStack]) -> None:
        from dicomio.geometry import StackGeometry
        from dicomio.pixels import load_volume

        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> dict[str, NDArray]:
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
        task.signals.finished.connect(
            lambda thumbs: [self._set_thumbnail(k, img) for k, img in thumbs.items()]
        )
        self._run(task, None)

    def _set_thumbnail(self, key: str, image: NDArray) -> None:
        stack = self.stacks.get(key)
        if stack is not None:
            self.browser.set_thumbnail(key, image, _levels(stack), stack.geometry.first.pixel_spacing_mm)

    def show_series(self, key_or_uid: str) -> None:
        """Load (in a worker) and show a series; emits :attr:`loaded` when shown."""
        stack = self.stacks.get(key_or_uid) or self._stack_for_uid(key_or_uid)
        if stack is None:
            self.show_error("Cannot show series", f"series {key_or_uid} is not among the scanned series.")
            return
        self._pending_show = stack.series_uid
        if stack.series_uid in self.displays:
            self._show_display(stack.series_uid)
        else:
            self.load_display(stack.series_uid)

    def load_display(self, uid: str) -> workers.Task | None:
        """Load a series' display stack and volume in a worker; emits :attr:`displayLoaded`."""
        stack = self._stack_for_uid(uid)
        if stack is None or uid in self.displays or uid in self._loading:
            return None
        from dicomio.display_stack import DisplayStack

        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> Any:
            display = DisplayStack.for_viewing(stack)
            if _accepts_progress(display):
                volume = display.volume(progress=progress, cancel=cancel)
            else:
                volume = display.volume()
            return display, volume

        self._loading.add(uid)
        task = workers.Task(job, f"Loading {stack.description or uid}")
        task.signals.finished.connect(lambda r: self._on_series_loaded(uid, *r))
        for sig in (task.signals.failed, task.signals.cancelled):
            sig.connect(lambda *_a: self._loading.discard(uid))
        self._run(task, "Loading images…")
        return task

    def _on_series_loaded(self, uid: str, display: Any, volume: NDArray) -> None:
        self._loading.discard(uid)
        self.displays[uid] = display
        self.volumes[uid] = np.asarray(volume)
        self.displayLoaded.emit(uid)
        if self._pending_show == uid:
            self._show_display(uid)

    def _show_display(self, uid: str) -> None:
        display = self.displays[uid]
        self._pending_show = None
        self.current_uid = uid
        self.viewer.set_source(display, volume=self.volumes[uid])
        stack = self._stack_for_uid(uid)
        title = (stack.description if stack is not None else "") or uid
        if getattr(display, "is_reformat", False):
            title += " (sagittal reformat)"
        self._series_title = title
        self._fill_window_presets(stack)
        if stack is not None:
            self.browser.select_key(stack.key)
        self.refresh()
        tp = self.current_timepoint()
        if tp is not None:
            verts = self.case.vertebrae(tp)
            points = [lm.position_mm for v in verts for lm in v.landmarks.values() if lm.series_uid == uid]
            if points:
                # Open on the landmarks: their slice, zoomed so that the measured levels fill the view.
                self.viewer.fit_points(np.array(points), margin_mm=LANDMARK_MARGIN_MM)
            flagged = [v.level for v in verts if v.status in ("fractured", "treated")]
            if flagged and flagged[0] in placement.PLACEMENT_LEVELS:
                self.set_level(flagged[0])
            elif placement.next_key(self.case, tp, self.current_level) is None:
                self.set_level(placement.suggest_level(self.case, tp, self.current_level))
        self.loaded.emit()

    # -- window presets ---------------------------------------------------------------------------
    def window_presets_for(self, uid: str) -> tuple[list[WindowPreset], int]:
        """Window presets of a loaded series and the index of the default one.

        The file's own windows first (the technologist's choice), then the modality presets
        (CT bone, soft tissue), then one computed from the pixels ("MR auto" for MR, the
        default when an MR file has no window of its own).
        """
        from dicomio.windowing import auto_window, window_presets

        stack = self._stack_for_uid(uid)
        presets: list[WindowPreset] = []
        if stack is not None:
            # stack.windows may already hold the modality presets (dicomio.assemble adds them):
            # each preset once.
            for preset in window_presets(stack.modality, stack.windows):
                if preset not in presets:
                    presets.append(preset)
        auto = auto_window(self.volumes[uid])
        is_mr = stack is not None and stack.modality == "MR"
        presets.append(WindowPreset("MR auto" if is_mr else "Auto", auto.center, auto.width))
        default = len(presets) - 1 if is_mr and not stack.windows else 0  # type: ignore[union-attr]
        return presets, default

    def _fill_window_presets(self, stack: SeriesStack | None) -> None:
        uid = self.current_uid
        if uid is None:
            return
        presets, default = self.window_presets_for(uid)
        self._window_presets = presets
        self.window_combo.clear()
        for p in presets:
            self.window_combo.addItem(f"{p.name}  ({p.center:.0f}/{p.width:.0f})")
        self.window_combo.setCurrentIndex(default)
        self._apply_window_preset(default)

    def _apply_window_preset(self, index: int) -> None:
        presets = getattr(self, "_window_presets", [])
        if 0 <= index < len(presets):
            viewers = [self.viewer]
            if self.center.currentWidget() is self.compare:
                viewers += [v for v in self.compare.viewers if v.isVisible()]
            for v in viewers:
                v.set_window(presets[index].center, presets[index].width)

    # -- tasks ------------------------------------------------------------------------------------
    def _run(self, task: workers.Task, label: str | None) -> None:
        self.tasks.append(task)
        if label is not None:
            self.progress.setFormat(label + " %p%")
            self.progress.setRange(0, 0)
            self.progress.show()
            self.cancel_button.show()
            task.signals.progress.connect(self._on_progress)

        def done(*_args: Any) -> None:
            if task in self.tasks:
                self.tasks.remove(task)
            if not any(t for t in self.tasks):
                self.progress.hide()
                self.cancel_button.hide()

        task.signals.finished.connect(done)
        task.signals.failed.connect(done)
        task.signals.cancelled.connect(done)
        task.signals.failed.connect(lambda msg: self.show_error("Error", msg))
        task.signals.cancelled.connect(
            lambda: self.statusBar().showMessage(f"{task.description}: cancelled", 5000)
        )
        workers.start(task)

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def cancel_tasks(self) -> None:
        for t in list(self.tasks):
            t.cancel()

    def wait_for_tasks(self, timeout_s: float = 60.0) -> None:
        """Block (processing events) until every background task ended (CLI, tests)."""
        deadline = QtCore.QDeadlineTimer(int(timeout_s * 1000))
        while self.tasks and not deadline.hasExpired():
            QtWidgets.QApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            QtCore.QThread.msleep(5)


def _accepts_progress(display: Any) -> bool:
    import inspect

    try:
        params = inspect.signature(display.volume).parameters
    except (TypeError, ValueError):
        return False
    return "progress" in params and "cancel" in params


def _levels(stack: SeriesStack | None) -> tuple[float, float] | None:
    """Display range of the series' own first window (None: let the thumbnail choose)."""
    if stack is None or not stack.windows:
        return None
    w = stack.windows[0]
    return w.center - w.width / 2, w.center + w.width / 2
