"""STIR edema in the window: background analysis, bright-pixel overlay, badges, panel cells.

The analysis itself is :mod:`measure.edema` (no Qt).  Here:

* :class:`StirController` runs ``analyse_case_timepoint`` for every timepoint in a
  :class:`~app.workers.Task` when a case's series have been scanned, and again (debounced)
  when landmarks, statuses or series assignments change; results are cached per timepoint.
  A reader decision only re-labels the cached results (no new analysis).
* :class:`EdemaLayer` draws, on a viewer showing the STIR (or another series whose slices
  are parallel to it in the same frame of reference, e.g. the T1 the landmarks sit on),
  the bright voxels of every analysed body as a semi-transparent orange-red map, and on
  the STIR view the body outline and a badge per vertebra ("edema: recent likely
  (SIR 6.44, 54%)", "no edema ...", "recency unknown: no STIR").  On the series that
  carries the landmarks the badge is added to the vertebra's label instead.
* Text for the measurement panel's STIR columns.

No validated numeric cut-off exists for STIR edema: every badge, cell and the dialog say so
(:data:`measure.edema.NO_CUTOFF_NOTE`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
import shiboken6
from numpy.typing import NDArray
from PySide6 import QtCore, QtGui, QtWidgets

from app import workers
from app.coords import lps_to_scene
from dicomio.geometry import StackGeometry
from measure.edema import (
    NO_CUTOFF_NOTE,
    OUTLINE_ORDER,
    STATUS_NO_STIR,
    STATUS_OK,
    STATUS_UNREADABLE,
    StirResult,
    analyse_case_timepoint,
    bright_mask_for_slice,
    default_choice_note,
)
from measure.edema_config import DEFAULT_CONFIG
from measure.events import CaseEvent

if TYPE_CHECKING:
    from app.main_window import MainWindow
    from app.stir_dialog import StirDecisionDialog

log = logging.getLogger("endplate.app")

#: Badge / label colours (RGB): recent fracture likely, no edema, recency unknown.
RECENT_COLOUR = (255, 84, 64)
NOT_RECENT_COLOUR = (120, 225, 150)
UNKNOWN_COLOUR = (190, 190, 190)
#: Colour of the bright-voxel map (RGBA, alpha out of 255: semi-transparent).
OVERLAY_RGBA = (255, 64, 0, 150)
OUTLINE_COLOUR = (255, 200, 120)
#: Case changes that call for a new analysis (a reader decision does not).
REANALYSE_KINDS = frozenset(
    {
        "landmark",
        "vertebra-added",
        "vertebra-removed",
        "status",  # the reference bodies change the baseline
        "series",
        "timepoint-added",
        "timepoint-removed",
        "timepoint-changed",
    }
)
#: Wait this long after the last edit before analysing again (a burst of edits = one run).
DEBOUNCE_MS = 300
#: Slices within this angle are "parallel": the STIR map can be drawn on that viewer.
PARALLEL_MAX_DEG = 3.0
BADGE_FONT_PT = 10
BADGE_GAP_MM = 10.0

DECISION_TEXT = {
    "confirmed": "confirmed",
    "overridden-recent": "override: recent",
    "overridden-not-recent": "override: not recent",
}


# -- text ------------------------------------------------------------------------------------


def _decision_of(result: StirResult) -> tuple[str | None, str]:
    d = result.reader_decision or {}
    return d.get("decision"), str(d.get("note") or "")


def _tool_parts(result: StirResult) -> tuple[str, str]:
    """(verdict, numbers) of the tool: e.g. ("edema: recent likely", "SIR 6.44, 54%")."""
    if result.status == STATUS_OK and result.sir is not None and result.edema_fraction is not None:
        numbers = f"SIR {result.sir:.2f}, {100 * result.edema_fraction:.0f}%"
        return ("edema: recent likely" if result.flag else "no edema"), numbers
    if result.status == STATUS_NO_STIR:
        return "recency unknown: no STIR", ""
    return "edema: not measured", ""


def tool_text(result: StirResult) -> str:
    """What the tool says, short: the flag with its numbers, or why there is none."""
    verdict, numbers = _tool_parts(result)
    return f"{verdict} ({numbers})" if numbers else verdict


def badge_text(result: StirResult, multiline: bool = False) -> str:
    """The badge beside a vertebra: the tool's flag, then the reader's decision.

    ``multiline`` puts the numbers on a second line (labels beside the spine stay narrow).
    """
    verdict, numbers = _tool_parts(result)
    decision, _note = _decision_of(result)
    if decision == "confirmed":
        verdict += " · confirmed"
    elif decision in ("overridden-recent", "overridden-not-recent"):
        short = {"edema: recent likely": "edema likely"}.get(verdict, verdict)
        numbers = f"tool: {short}" + (f", {numbers}" if numbers else "")
        verdict = "reader: recent" if decision == "overridden-recent" else "reader: not recent"
    if not numbers:
        return verdict
    return f"{verdict}\n({numbers})" if multiline else f"{verdict} ({numbers})"


def badge_colour(result: StirResult) -> tuple[int, int, int]:
    """Colour of the recency as finally read (the reader's override wins)."""
    recent = result.recent
    if recent is None:
        return UNKNOWN_COLOUR
    return RECENT_COLOUR if recent else NOT_RECENT_COLOUR


def badge_tooltip(result: StirResult) -> str:
    """The full sentence of the analysis, the reader's note, and the no-cut-off warning."""
    parts = [result.message]
    decision, note = _decision_of(result)
    if decision:
        parts.append(f"Reader: {DECISION_TEXT.get(decision, decision)}" + (f" — {note}" if note else "."))
    if NO_CUTOFF_NOTE not in result.message:
        parts.append(NO_CUTOFF_NOTE)
    return "\n".join(parts)


#: Panel columns (appended to the vertebra table) and what each cell says.
STIR_COLUMNS = ("SIR (STIR)", "Edema % (grade)", "T1 ratio", "Edema flag", "Reader (STIR)")


def stir_cells(result: StirResult | None) -> list[str]:
    """SIR, bright fraction with extent grade, T1 ratio (supporting evidence, when a T1 in
    the STIR's frame of reference exists), flag, reader decision (``–`` when absent)."""
    if result is None:
        return ["–"] * len(STIR_COLUMNS)
    ok = result.status == STATUS_OK
    sir = f"{result.sir:.2f}" if ok and result.sir is not None else "–"
    extent = (
        f"{100 * result.edema_fraction:.0f}% ({result.extent_grade})"
        if ok and result.edema_fraction is not None
        else "–"
    )
    if ok:
        flag = "recent likely" if result.flag else "no"
    elif result.status == STATUS_NO_STIR:
        flag = "recency unknown: no STIR series"
    else:
        flag = "not measured"
    t1 = f"{result.t1_ratio:.2f}" if ok and result.t1_ratio is not None else "–"
    decision, _note = _decision_of(result)
    return [sir, extent, t1, flag, DECISION_TEXT.get(decision or "", "")]


# -- the analysis off the GUI thread ------------------------------------------------------------


class _CaseSnapshot:
    """A frozen copy of what ``analyse_case_timepoint`` reads from a case.

    The worker must not read the live :class:`~measure.case.Case` while the GUI thread
    edits it; the case's vertebrae, series references and decisions are immutable
    dataclasses, so copying the containers is enough.
    """

    def __init__(self, case: Any) -> None:
        self.timepoints = tuple(case.timepoints)
        self._tp = {t.id: t for t in self.timepoints}
        self.series = tuple(case.series)
        self._vertebrae = {t.id: list(case.vertebrae(t.id)) for t in self.timepoints}
        self._decisions = dict(case.stir_decisions())

    def timepoint(self, timepoint_id: str) -> Any:
        if timepoint_id not in self._tp:
            raise ValueError(f"the case has no timepoint {timepoint_id!r}")
        return self._tp[timepoint_id]

    def vertebrae(self, timepoint_id: str) -> list[Any]:
        return list(self._vertebrae.get(timepoint_id, []))

    def stir_decision(self, timepoint_id: str, level: str) -> Any:
        return self._decisions.get((timepoint_id, level))

    def series_of(self, timepoint_id: str) -> list[Any]:
        return [s for s in self.series if s.timepoint == timepoint_id]

    def series_ref(self, series_uid: str) -> Any:
        return next((s for s in self.series if s.series_uid == series_uid), None)


def _analyse_all(
    snapshot: _CaseSnapshot, stacks: list[Any], known: Mapping[str, NDArray], cancel: workers.CancelFn
) -> tuple[dict[str, dict[str, StirResult]], dict[str, NDArray]]:
    """Every timepoint with vertebrae; returns the results and the volumes it had to read."""
    from dicomio.pixels import load_volume

    loaded: dict[str, NDArray] = {}

    def loader(stack: Any) -> NDArray:
        uid = stack.series_uid
        if uid in known:
            return known[uid]
        if uid not in loaded:
            loaded[uid] = load_volume(stack, cancel=cancel)
        return loaded[uid]

    out: dict[str, dict[str, StirResult]] = {}
    for tp in snapshot.timepoints:
        if cancel():
            raise workers.CancelledError()
        if not snapshot.vertebrae(tp.id):
            continue
        try:
            out[tp.id] = analyse_case_timepoint(snapshot, tp.id, stacks, load_volume=loader)
        except ValueError as exc:  # e.g. frames of reference that differ: said per vertebra
            out[tp.id] = {
                v.level: StirResult(v.level, STATUS_UNREADABLE, f"{v.level}: recency unknown: {exc}")
                for v in snapshot.vertebrae(tp.id)
            }
    return out, loaded


def _decision_dict(decision: Any) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {"decision": decision.decision, "note": decision.note}


# -- drawing ----------------------------------------------------------------------------------


@dataclass
class EdemaContent:
    """What :class:`EdemaLayer` draws for one viewer."""

    results: Mapping[str, StirResult]
    stir_geometry: StackGeometry
    outlines_mm: Mapping[str, NDArray[np.float64]]  # level -> (6, 3) LPS, in outline order
    badge_levels: frozenset[str]  # levels whose badge the layer draws (not in a landmark label)
    outlines_visible: bool = True


def _parallel(a: StackGeometry, b: StackGeometry) -> bool:
    cos = abs(float(a.normal @ b.normal))
    return cos >= float(np.cos(np.radians(PARALLEL_MAX_DEG)))


class EdemaLayer(QtCore.QObject):
    """The bright-voxel map, body outlines and badges on one :class:`~app.viewer.SliceViewer`."""

    def __init__(self, viewer: Any) -> None:
        super().__init__(viewer)  # owned by its viewer (Qt), not by a Python reference
        self.viewer = viewer
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(5)  # above the image, below landmark lines (10) and handles (20)
        self.image.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.image.setVisible(False)
        viewer.view.addItem(self.image)
        self.content: EdemaContent | None = None
        self.overlay_visible = True
        self._items: list[Any] = []
        #: STIR slice whose map is drawn (None: nothing drawn).
        self.stir_slice: int | None = None
        viewer.sliceChanged.connect(lambda _k: self.refresh())

    def set_content(self, content: EdemaContent | None) -> None:
        self.content = content
        self.refresh()

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay_visible = bool(on)
        self.refresh()

    # -- geometry ------------------------------------------------------------------------
    def mapped_stir_slice(self) -> int | None:
        """The STIR slice that lies in the plane of the viewer's current slice (or None)."""
        viewer, content = self.viewer, self.content
        if viewer.source is None or content is None:
            return None
        view_geom: StackGeometry = viewer.source.geometry
        stir = content.stir_geometry
        if not _parallel(view_geom, stir):
            return None
        first = view_geom.first
        centre = view_geom.index_to_lps((first.columns - 1) / 2, (first.rows - 1) / 2, viewer.slice_index)
        along = float(np.asarray(centre).reshape(3) @ stir.normal)
        dist = np.abs(stir.slice_offsets_mm - along)
        k = int(np.argmin(dist))
        half = (stir.slice_spacing_mm or 1.0) / 2
        return k if dist[k] <= half + 1e-3 else None

    def stir_to_scene_transform(self, stir_slice: int) -> QtGui.QTransform:
        """Item coordinates of the STIR image (pixel (c, r) spans [c, c+1] x [r, r+1]) -> scene mm.

        Built from where three STIR pixel centres land in the viewer's scene
        (:func:`app.coords.lps_to_scene`), so it holds for another pixel spacing, field of
        view or in-plane orientation than the viewer's series.
        """
        assert self.content is not None and self.viewer.source is not None
        image = self.content.stir_geometry.slices[stir_slice]
        view_geom = self.viewer.source.geometry
        o = np.array(lps_to_scene(image.pixel_to_lps(0.0, 0.0), view_geom)[:2])
        ex = np.array(lps_to_scene(image.pixel_to_lps(1.0, 0.0), view_geom)[:2]) - o
        ey = np.array(lps_to_scene(image.pixel_to_lps(0.0, 1.0), view_geom)[:2]) - o
        # item (u, v) = pixel centre (u - 0.5, v - 0.5)
        t = o - 0.5 * ex - 0.5 * ey
        return QtGui.QTransform(ex[0], ex[1], ey[0], ey[1], t[0], t[1])

    def bright_union(self, stir_slice: int) -> NDArray[np.bool_]:
        """Bright voxels of the analysed bodies with some edema (extent grade >= 1) on one
        STIR slice (STIR rows x columns)."""
        assert self.content is not None
        g = self.content.stir_geometry.first
        mask = np.zeros((g.rows, g.columns), dtype=bool)
        for level, r in self.content.results.items():
            # A body below the noise floor (extent grade 0, "0 %") shows no stray noise voxels.
            if r.status == STATUS_OK and r.masks and (r.extent_grade or 0) > 0:
                mask |= bright_mask_for_slice(self.content.results, level, stir_slice)
        return mask

    # -- drawing ---------------------------------------------------------------------------
    def _clear_items(self) -> None:
        for item in self._items:
            self.viewer.view.removeItem(item)
        self._items = []

    def refresh(self) -> None:
        self._clear_items()
        k = self.mapped_stir_slice()
        self.stir_slice = k
        if k is None or self.content is None:
            self.image.clear()
            self.image.setVisible(False)
            return
        mask = self.bright_union(k)
        if self.overlay_visible and mask.any():
            rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
            rgba[mask] = OVERLAY_RGBA
            self.image.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.image.setTransform(self.stir_to_scene_transform(k))
            self.image.setVisible(True)
        else:
            self.image.clear()
            self.image.setVisible(False)
        self._draw_outlines_and_badges(k)

    def overlay_pixels(self) -> NDArray[np.bool_] | None:
        """Which STIR pixels the map paints now (None when it is hidden): for tests and checks."""
        if not self.image.isVisible() or self.image.image is None:
            return None
        return np.asarray(self.image.image)[..., 3] > 0

    def _draw_outlines_and_badges(self, stir_slice: int) -> None:
        content = self.content
        viewer = self.viewer
        assert content is not None and viewer.source is not None
        geom = viewer.source.geometry
        anterior = geom.first.anterior
        slab_mm = DEFAULT_CONFIG.slab_half_width_mm + (content.stir_geometry.slice_spacing_mm or 0.0) / 2
        plane_offset = float(content.stir_geometry.slice_offsets_mm[stir_slice])
        for level, outline in content.outlines_mm.items():
            result = content.results.get(level)
            if result is None:
                continue
            centre = outline.mean(axis=0)
            if abs(float(centre @ content.stir_geometry.normal) - plane_offset) > slab_mm:
                continue  # this body is not cut by the slice shown
            scene = np.array([lps_to_scene(p, geom)[:2] for p in outline])
            colour = badge_colour(result)
            if content.outlines_visible and stir_slice in result.slice_indices:
                closed = np.vstack([scene, scene[:1]])
                qc = QtGui.QColor(*OUTLINE_COLOUR)
                qc.setAlphaF(0.9)
                curve = pg.PlotCurveItem(
                    closed[:, 0], closed[:, 1], pen=pg.mkPen(qc, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
                )
                curve.setZValue(9)
                viewer.view.addItem(curve)
                self._items.append(curve)
            if level in content.badge_levels:
                text = f"{level} · {badge_text(result, multiline=True)}"
                self._add_badge(text, badge_tooltip(result), colour, scene, anterior)

    def _add_badge(
        self,
        text: str,
        tooltip: str,
        colour: tuple[int, int, int],
        scene: NDArray[np.float64],
        anterior: str | None,
    ) -> None:
        item = pg.TextItem(text, color=colour, fill=pg.mkBrush(0, 0, 0, 170))
        font = QtGui.QFont()
        font.setPointSize(BADGE_FONT_PT)
        font.setBold(True)
        item.setFont(font)
        cy = float(scene[:, 1].mean())
        if anterior == "right":
            item.setAnchor((0.0, 0.5))
            item.setPos(float(scene[:, 0].max()) + BADGE_GAP_MM, cy)
        else:
            item.setAnchor((1.0, 0.5))
            item.setPos(float(scene[:, 0].min()) - BADGE_GAP_MM, cy)
        item.setToolTip(tooltip)
        item.textItem.setToolTip(tooltip)
        item.setZValue(15)
        self.viewer.view.addItem(item)
        self._items.append(item)

    def badge_texts(self) -> list[str]:
        """Text of the badges drawn now (for tests and checks)."""
        return [i.toPlainText() for i in self._items if isinstance(i, pg.TextItem)]


# -- the controller ----------------------------------------------------------------------------


class StirController(QtCore.QObject):
    """Runs the STIR analysis for the window's case and shows it (overlay, badges, panel)."""

    #: A timepoint's results changed (timepoint id).
    resultsChanged = QtCore.Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.results: dict[str, dict[str, StirResult]] = {}
        self.layer = EdemaLayer(window.viewer)
        self._volumes: dict[str, NDArray] = {}  # read by earlier runs (STIR, T1), per case
        self._generation = 0
        self._task: workers.Task | None = None
        self.dialog: StirDecisionDialog | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_now)
        window.scanFinished.connect(self.run_now)
        window.installEventFilter(self)  # no analysis for a closed window (see eventFilter)
        self.act_overlay = QtGui.QAction("&Edema overlay", self)
        self.act_overlay.setCheckable(True)
        self.act_overlay.setChecked(True)
        self.act_overlay.setShortcut(QtGui.QKeySequence("E"))
        self.act_overlay.setIconText("Edema")
        self.act_overlay.setToolTip(
            "Show the STIR-bright voxels inside each analysed vertebral body (E). "
            + NO_CUTOFF_NOTE
            + "\n"
            + default_choice_note()
        )
        self.act_overlay.toggled.connect(self.set_overlay_visible)
        self.act_decision = QtGui.QAction("STIR edema &decision…", self)
        self.act_decision.setToolTip(
            "Confirm or override the STIR edema flag of the current level. " + NO_CUTOFF_NOTE
        )
        self.act_decision.triggered.connect(lambda _c=False: self.edit_decision())
        self.act_show_stir = QtGui.QAction("Show &STIR series", self)
        self.act_show_stir.triggered.connect(lambda _c=False: self.show_stir_view())
        table = window.panel.vertebrae
        table.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._panel_menu)
        table.cellDoubleClicked.connect(self._panel_double_click)

    # -- wiring ----------------------------------------------------------------------------
    def install_actions(self, edit_menu: QtWidgets.QMenu, view_menu: QtWidgets.QMenu, toolbar: Any) -> None:
        """Put the actions in the window's Edit and View menus and the toolbar."""
        edit_menu.addAction(self.act_decision)
        view_menu.addSeparator()
        view_menu.addAction(self.act_overlay)
        view_menu.addAction(self.act_show_stir)
        toolbar.addAction(self.act_overlay)

    def reset(self) -> None:
        """A new case: forget every result and volume (a running analysis is ignored)."""
        self._generation += 1
        self._timer.stop()
        self.results = {}
        self._volumes = {}
        self.window.panel.set_stir({})
        self.layer.set_content(None)

    def on_case_event(self, event: CaseEvent) -> None:
        kinds = {event.kind} | {c.kind for c in event.changes}
        if kinds & REANALYSE_KINDS:
            self.schedule()
        if "stir" in kinds:
            self._attach_decisions()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """A closed window starts no analysis (a pending one would outlive it)."""
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self._timer.stop()
        return False

    def _alive(self) -> bool:
        return shiboken6.isValid(self) and shiboken6.isValid(self.window.panel) and self.window.isVisible()

    def schedule(self) -> None:
        """Analyse again after a short quiet period (edits in a burst give one run)."""
        self._timer.start()

    # -- analysis --------------------------------------------------------------------------
    def run_now(self) -> workers.Task | None:
        """Start the analysis of every timepoint in a worker (results: :attr:`results`)."""
        self._timer.stop()
        if not self._alive():
            return None
        win = self.window
        case = win.case
        self._generation += 1
        generation = self._generation
        if not any(case.vertebrae(t.id) for t in case.timepoints):
            self._set_results({})
            return None
        if case.series and not win.stacks:
            return None  # the scan of the case's series has not finished: scanFinished runs us
        snapshot = _CaseSnapshot(case)
        stacks = list(win.stacks.values())
        known = dict(self._volumes)
        for uid, display in win.displays.items():
            if not getattr(display, "is_reformat", False) and uid in win.volumes:
                known[uid] = win.volumes[uid]

        def job(_progress: workers.ProgressFn, cancel: workers.CancelFn) -> Any:
            return _analyse_all(snapshot, stacks, known, cancel)

        task = workers.Task(job, "STIR edema analysis")
        task.signals.finished.connect(lambda r: self._on_finished(generation, *r))
        self._task = task
        win._run(task, None)
        return task

    def _on_finished(
        self, generation: int, results: dict[str, dict[str, StirResult]], loaded: dict[str, NDArray]
    ) -> None:
        if not shiboken6.isValid(self) or generation != self._generation:
            return  # the window is gone, or the case changed meanwhile and a newer run is coming
        self._volumes.update(loaded)
        self._set_results(results)

    def _set_results(self, results: dict[str, dict[str, StirResult]]) -> None:
        self.results = results
        self._attach_decisions()
        for tp in results:
            self.resultsChanged.emit(tp)

    def _attach_decisions(self) -> None:
        """Copy the case's reader decisions into the cached results, then redraw."""
        case = self.window.case
        known = {t.id for t in case.timepoints}
        self.results = {
            tp: {
                lvl: replace(r, reader_decision=_decision_dict(case.stir_decision(tp, lvl)))
                for lvl, r in per_level.items()
            }
            for tp, per_level in self.results.items()
            if tp in known
        }
        self.refresh_views()

    def results_for(self, timepoint: str | None) -> dict[str, StirResult] | None:
        return None if timepoint is None else self.results.get(timepoint)

    # -- views -----------------------------------------------------------------------------
    def refresh_views(self) -> None:
        """Panel cells, badges in the landmark labels, and the overlay layer of the viewer."""
        win = self.window
        win.panel.set_stir(self.results)
        source = win.viewer.source
        if source is None:
            self.layer.set_content(None)
            return
        uid = source.series_uid
        labelled = self._decorate_labels()
        self.layer.set_content(self._content_for(uid, labelled))

    def _decorate_labels(self) -> set[str]:
        """Add the badge to the landmark labels drawn on the viewer; returns those levels."""
        overlay = self.window.overlay
        per_level = self.results_for(self.window.current_timepoint()) or {}
        labelled = set()
        changed = False
        for vert in overlay.state.vertebrae:
            r = per_level.get(vert.level)
            labelled.add(vert.level)
            badge = badge_text(r, multiline=True) if r is not None else ""
            colour = badge_colour(r) if r is not None else None
            tip = badge_tooltip(r) if r is not None else ""
            if (vert.badge, vert.badge_colour, vert.badge_tooltip) != (badge, colour, tip):
                vert.badge, vert.badge_colour, vert.badge_tooltip = badge, colour, tip
                changed = True
        if changed:
            overlay.refresh()
        return labelled

    def _timepoint_shown(self, uid: str) -> str | None:
        """The timepoint whose analysis belongs on the series ``uid``."""
        for tp, per_level in self.results.items():
            if any(r.stir_series_uid == uid for r in per_level.values()):
                return tp
        return self.window.current_timepoint()

    def _content_for(self, uid: str, labelled: set[str]) -> EdemaContent | None:
        win = self.window
        tp = self._timepoint_shown(uid)
        per_level = self.results_for(tp)
        if not per_level:
            return None
        stir_uid = next((r.stir_series_uid for r in per_level.values() if r.stir_series_uid), None)
        stir = win._stack_for_uid(stir_uid) if stir_uid else None
        shown = win._stack_for_uid(uid)
        if stir is None or shown is None:
            return None
        if uid != stir_uid and (
            shown.modality != "MR" or shown.frame_of_reference_uid != stir.frame_of_reference_uid
        ):
            return None  # another frame of reference (e.g. the CT): the STIR map does not belong there
        outlines = {}
        assert tp is not None
        for v in win.case.vertebrae(tp):
            if v.level in per_level and v.complete:
                outlines[v.level] = np.array([v.landmarks[k].position_mm for k in OUTLINE_ORDER], dtype=float)
        badge_levels = frozenset(lvl for lvl in outlines if uid == stir_uid or lvl not in labelled)
        return EdemaContent(
            per_level, stir.geometry, outlines, badge_levels, outlines_visible=uid == stir_uid
        )

    def set_overlay_visible(self, on: bool) -> None:
        if self.act_overlay.isChecked() != bool(on):
            self.act_overlay.setChecked(bool(on))  # toggled -> here again
            return
        self.layer.set_overlay_visible(on)

    @property
    def overlay_visible(self) -> bool:
        return self.layer.overlay_visible

    def stir_series_uid(self, timepoint: str | None = None) -> str | None:
        """The STIR analysed for ``timepoint`` (default: the first one with a STIR)."""
        for tp, per_level in self.results.items():
            if timepoint is not None and tp != timepoint:
                continue
            for r in per_level.values():
                if r.stir_series_uid:
                    return r.stir_series_uid
        return None

    def show_stir_view(self, timepoint: str | None = None) -> bool:
        """Show the analysed STIR, on the slice of the landmarks and zoomed on them.

        Returns False (and says so in the status bar) when no STIR has been analysed.
        """
        win = self.window
        uid = self.stir_series_uid(timepoint)
        if uid is None:
            win.statusBar().showMessage("No STIR series has been analysed for this case.", 5000)
            return False
        tp = timepoint or self._timepoint_shown(uid)
        points = [
            lm.position_mm for v in (win.case.vertebrae(tp) if tp else []) for lm in v.landmarks.values()
        ]

        def fit() -> None:
            if win.viewer.source is not None and win.viewer.source.series_uid == uid and points:
                from app.series_loading import LANDMARK_MARGIN_MM

                win.viewer.fit_points(np.array(points), margin_mm=LANDMARK_MARGIN_MM)

        if uid in win.displays:
            win.show_series(uid)
            fit()
        else:
            conn: list[Any] = []

            def once() -> None:
                win.loaded.disconnect(conn[0])
                fit()

            conn.append(win.loaded.connect(once))
            win.show_series(uid)
        return True

    # -- reader decision -----------------------------------------------------------------------
    def _panel_row_key(self, row: int) -> tuple[str, str] | None:
        table = self.window.panel.vertebrae
        tp_item, level_item = table.item(row, 0), table.item(row, 1)
        if tp_item is None or level_item is None:
            return None
        return tp_item.text(), level_item.text()

    def _panel_menu(self, pos: QtCore.QPoint) -> None:
        table = self.window.panel.vertebrae
        key = self._panel_row_key(table.rowAt(pos.y()))
        if key is None:
            return
        menu = QtWidgets.QMenu(table)
        menu.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)  # Qt deletes it, in this thread
        act = menu.addAction(f"Confirm or override STIR edema of {key[1]} ({key[0]})…")
        act.triggered.connect(lambda _c=False: self.edit_decision(*key))
        menu.popup(table.viewport().mapToGlobal(pos))

    def _panel_double_click(self, row: int, column: int) -> None:
        from app.measure_panel import VERTEBRA_COLUMNS

        if column >= len(VERTEBRA_COLUMNS) - len(STIR_COLUMNS):
            key = self._panel_row_key(row)
            if key is not None:
                self.edit_decision(*key)

    def edit_decision(
        self, timepoint: str | None = None, level: str | None = None
    ) -> StirDecisionDialog | None:
        """Open the confirm/override dialog (non-blocking); OK pushes an undoable command."""
        from app.stir_dialog import StirDecisionDialog

        win = self.window
        tp = timepoint or win.current_timepoint() or next(iter(self.results), None)
        level = level or win.current_level
        if tp is None or win.case.vertebra(tp, level) is None:
            win.statusBar().showMessage(
                f"No vertebra {level} at this timepoint: place its landmarks before deciding on edema.", 5000
            )
            return None
        result = (self.results.get(tp) or {}).get(level)
        t = win.case.timepoint(tp)
        dialog = StirDecisionDialog(
            level,
            f"{t.kind}" + (f" {t.date}" if t.date else ""),
            result,
            win.case.stir_decision(tp, level),
            parent=win,
        )
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_decision(tp, level, dialog.decision()))
        self.dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        dialog.open()
        return dialog

    def apply_decision(self, timepoint: str, level: str, decision: Any) -> None:
        """Store the reader's decision (None clears it) as one undoable step."""
        from app.stir_dialog import SetStirDecisionCommand

        if decision == self.window.case.stir_decision(timepoint, level):
            return
        self.window.undo_stack.push(SetStirDecisionCommand(self.window.case, timepoint, level, decision))


__all__ = [
    "STIR_COLUMNS",
    "EdemaLayer",
    "StirController",
    "badge_colour",
    "badge_text",
    "badge_tooltip",
    "stir_cells",
    "tool_text",
]
