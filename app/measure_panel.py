"""The measurement panel (tables per timepoint and level, regional angles, comparisons)
and the text drawn beside each vertebra.

Numbers come from ``Case.measure()`` (the engine); this module only formats them.  Values
are shown with their one-pixel placement uncertainty (``12.3 ± 0.4``), and a change within
measurement error is marked ``≈``, as the clinical reference asks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from app.overlays import OverlayState, RegionalOverlay, VertebraOverlay
from app.stir_view import STIR_COLUMNS, badge_tooltip, stir_cells
from measure.case import Case
from measure.edema import NO_CUTOFF_NOTE, default_choice_note

VERTEBRA_COLUMNS = (
    "Timepoint",
    "Level",
    "Status",
    "VKA (°)",
    "Ha (mm)",
    "Hm (mm)",
    "Hp (mm)",
    "Ha/Hp",
    "Hm/Hp",
    "Crush",
    "Loss vs own Hp (%)",
    "Loss vs adjacent (%)",
    "Loss vs nearest (%)",
    "Genant",
    "Type",
    *STIR_COLUMNS,  # STIR edema (app.stir_view): SIR, bright % (grade), T1 ratio, flag, reader
)
REGIONAL_COLUMNS = ("Timepoint", "Regional angle", "Angle (°)")
COMPARISON_COLUMNS = (
    "Level",
    "From → to",
    "Kind",
    "Correction (°)",
    "ΔHa (mm)",
    "ΔHm (mm)",
    "ΔHp (mm)",
    "Restoration Ha (%)",
    "Restoration Hm (%)",
    "Loss of correction (°)",
)


def fmt(value: float | None, sigma: float | None = None, digits: int = 1) -> str:
    """``12.3 ± 0.4`` (or ``12.3``, or ``–`` when missing)."""
    if value is None or not np.isfinite(value):
        return "–"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.0"
    text = f"{value:.{digits}f}"
    if sigma is not None and np.isfinite(sigma):
        text += f" ± {sigma:.{digits}f}"
    return text


def _measured(m: Any, digits: int = 1, sigma: bool = True) -> str:
    return fmt(m.value, m.uncertainty if sigma else None, digits)


def _loss(detail: dict[str, float] | None, sigma: dict[str, float | None] | None = None) -> str:
    """Largest height loss at one reference, with its +/- and which height it is."""
    if not detail:
        return "–"
    key, value = max(detail.items(), key=lambda kv: kv[1])
    return f"{fmt(value, (sigma or {}).get(key), digits=0)} ({key})"


def vertebra_row(timepoint: str, r: Any) -> list[str]:
    grade = "–" if r.genant_grade is None else f"{r.genant_grade}"
    if r.genant_grade is not None and r.genant_reference:
        grade += f" ({r.genant_reference})"
    return [
        timepoint,
        r.level,
        r.status,
        _measured(r.vka_deg),
        _measured(r.ha_mm),
        _measured(r.hm_mm),
        _measured(r.hp_mm),
        _measured(r.wedge_ratio, 2),
        _measured(r.biconcave_ratio, 2),
        _measured(r.crush_ratio, 2),
        *(
            _loss(r.height_loss_pct.get(ref), r.height_loss_sigma_pct.get(ref))
            for ref in ("posterior", "adjacent", "nearest")
        ),
        grade,
        r.type or "–",
    ]


def _within(c: Any, key: str, sub: str | None = None) -> bool:
    w = c.within_error.get(key)
    if isinstance(w, dict):
        w = w.get(sub) if sub else None
    return bool(w)


def comparison_row(c: Any) -> list[str]:
    def mark(text: str, within: bool) -> str:
        return f"≈ {text}" if within and text != "–" else text

    loss = c.loss_of_correction or {}
    loss_angle = loss.get("vka_deg", loss.get("angle_deg"))
    return [
        c.level,
        f"{c.from_id} → {c.to_id}",
        c.kind.replace("_", " "),
        mark(fmt(c.correction_deg), _within(c, "correction_deg") or _within(c, "angle_deg")),
        *(mark(fmt(c.height_gain_mm.get(h)), _within(c, "height_gain_mm", h)) for h in ("ha", "hm", "hp")),
        fmt(c.restoration_pct.get("ha"), digits=0),
        fmt(c.restoration_pct.get("hm"), digits=0),
        mark(fmt(loss_angle), _within(c, "loss_of_correction", "vka_deg"))
        if c.loss_of_correction is not None
        else "–",
    ]


def vertebra_value_text(r: Any) -> str:
    """The two lines drawn beside a vertebra: angle, then heights."""
    if r is None or not r.measured:
        return ""
    lines = [f"VKA {fmt(r.vka_deg.value, r.vka_deg.uncertainty)}°"]
    lines.append(f"Ha {fmt(r.ha_mm.value)} · Hm {fmt(r.hm_mm.value)} · Hp {fmt(r.hp_mm.value)}")
    if r.genant_grade:
        lines.append(f"Genant {r.genant_grade} {r.type or ''}".rstrip())
    return "\n".join(lines)


def overlay_state_for(
    case: Case, results: dict[str, Any] | None, timepoint: str | None, series_uid: str
) -> OverlayState:
    """What a viewer showing ``series_uid`` at ``timepoint`` draws."""
    state = OverlayState()
    if timepoint is None:
        return state
    tp_result = None if results is None else results["timepoints"].get(timepoint)
    for v in case.vertebrae(timepoint):
        points = {k: lm.array for k, lm in v.landmarks.items() if lm.series_uid == series_uid}
        if not points:
            continue
        r = None if tp_result is None else tp_result.vertebrae.get(v.level)
        state.vertebrae.append(VertebraOverlay(v.level, v.status, points, vertebra_value_text(r)))
    if tp_result is not None:
        for reg in tp_result.regional:
            upper = _endplate_points(case, timepoint, reg.upper_level, reg.upper_endplate, series_uid)
            lower = _endplate_points(case, timepoint, reg.lower_level, reg.lower_endplate, series_uid)
            if upper is None or lower is None or reg.angle_deg is None:
                continue
            text = f"{fmt(reg.angle_deg, reg.uncertainty_deg)}°"
            state.regional.append(RegionalOverlay(f"{reg.upper_level}–{reg.lower_level}", upper, lower, text))
    return state


def _endplate_points(
    case: Case, tp: str, level: str, endplate: str, series_uid: str
) -> tuple[Any, Any] | None:
    prefix = "sup" if endplate == "superior" else "inf"
    ant = case.landmark(tp, level, f"{prefix}_ant")
    post = case.landmark(tp, level, f"{prefix}_post")
    if ant is None or post is None or ant.series_uid != series_uid or post.series_uid != series_uid:
        return None
    return ant.array, post.array


class _Table(QtWidgets.QTableWidget):
    def __init__(self, columns: tuple[str, ...]) -> None:
        super().__init__(0, len(columns))
        self.setHorizontalHeaderLabels(list(columns))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setDefaultAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)

    def set_rows(self, rows: list[list[str]]) -> None:
        self.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QtWidgets.QTableWidgetItem(text)
                align = QtCore.Qt.AlignmentFlag.AlignRight if j >= 3 else QtCore.Qt.AlignmentFlag.AlignLeft
                item.setTextAlignment(align | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, j, item)
        self.resizeColumnsToContents()

    def rows(self) -> list[list[str]]:
        return [
            [self.item(i, j).text() if self.item(i, j) else "" for j in range(self.columnCount())]
            for i in range(self.rowCount())
        ]

    def header(self) -> list[str]:
        return [self.horizontalHeaderItem(j).text() for j in range(self.columnCount())]


class MeasurementPanel(QtWidgets.QWidget):
    """Three tables: vertebrae (per timepoint and level), regional angles, comparisons."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MeasurementPanel")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.vertebrae = _Table(VERTEBRA_COLUMNS)
        self.regional = _Table(REGIONAL_COLUMNS)
        self.comparisons = _Table(COMPARISON_COLUMNS)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("PanelMessage")
        for title, table, stretch in (
            ("Vertebrae", self.vertebrae, 3),
            ("Regional angles", self.regional, 1),
            ("Pre/post comparison  (≈ : within measurement error)", self.comparisons, 2),
        ):
            label = QtWidgets.QLabel(title)
            label.setObjectName("SectionTitle")
            layout.addWidget(label)
            layout.addWidget(table, stretch)
        layout.addWidget(self.message)
        copy = QtWidgets.QPushButton("Copy as table")
        copy.setToolTip("Copy every table to the clipboard, tab-separated (pastes into a spreadsheet)")
        copy.clicked.connect(self.copy_to_clipboard)
        layout.addWidget(copy)
        self._stir: dict[str, dict[str, Any]] = {}
        self._last: tuple[Case, dict[str, Any] | None, str] | None = None
        first_stir = len(VERTEBRA_COLUMNS) - len(STIR_COLUMNS)
        for j in range(first_stir, len(VERTEBRA_COLUMNS)):
            self.vertebrae.horizontalHeaderItem(j).setToolTip(
                "STIR edema (double-click or right-click a row to confirm or override). "
                + NO_CUTOFF_NOTE
                + "\n"
                + default_choice_note()
            )

    def set_stir(self, stir: dict[str, dict[str, Any]]) -> None:
        """STIR results ``{timepoint: {level: StirResult}}`` for the STIR columns (redraws)."""
        if stir is self._stir:
            return
        self._stir = stir
        if self._last is not None:
            self.show_results(*self._last)

    def show_results(self, case: Case, results: dict[str, Any] | None, error: str = "") -> None:
        self._last = (case, results, error)
        rows, regional, comparisons = [], [], []
        refused: dict[int, str] = {}  # row -> why a complete vertebra was not measured
        if results is not None:
            for tp in case.ordered_timepoints():
                tp_result = results["timepoints"].get(tp.id)
                if tp_result is None:
                    continue
                for r in tp_result.vertebrae.values():
                    row = vertebra_row(tp.id, r)
                    v = case.vertebra(tp.id, r.level)
                    if not r.measured and v is not None:
                        complete = len(v.landmarks) == 6
                        row[3] = "not measured" if complete else f"{len(v.landmarks)}/6 points"
                        if complete and r.notes:
                            refused[len(rows)] = " ".join(r.notes)
                    row += stir_cells(self._stir.get(tp.id, {}).get(r.level))
                    rows.append(row)
                for reg in tp_result.regional:
                    regional.append([tp.id, reg.label, fmt(reg.angle_deg, reg.uncertainty_deg)])
            comparisons = [comparison_row(c) for c in results["comparisons"]]
        self.vertebrae.set_rows(rows)
        for i, why in refused.items():
            for j in range(self.vertebrae.columnCount()):
                item = self.vertebrae.item(i, j)
                if item is not None:
                    item.setToolTip(why)
        self._stir_tooltips()
        self.regional.set_rows(regional)
        self.comparisons.set_rows(comparisons)
        messages = [f"Measurements could not be computed: {error}"] if error else []
        messages += [rows[i][0] + " " + why for i, why in refused.items()]
        self.message.setText("\n".join(messages))

    def _stir_tooltips(self) -> None:
        """Each STIR cell explains itself: the analysis sentence and the no-cut-off note."""
        first_stir = len(VERTEBRA_COLUMNS) - len(STIR_COLUMNS)
        table = self.vertebrae
        for i in range(table.rowCount()):
            tp, level = table.item(i, 0).text(), table.item(i, 1).text()
            r = self._stir.get(tp, {}).get(level)
            tip = badge_tooltip(r) if r is not None else "STIR edema not analysed. " + NO_CUTOFF_NOTE
            for j in range(first_stir, len(VERTEBRA_COLUMNS)):
                item = table.item(i, j)
                if item is not None:
                    item.setToolTip(tip)

    def as_tsv(self) -> str:
        blocks = []
        for table in (self.vertebrae, self.regional, self.comparisons):
            lines = ["\t".join(table.header())] + ["\t".join(r) for r in table.rows()]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"

    def copy_to_clipboard(self) -> None:
        QtGui.QGuiApplication.clipboard().setText(self.as_tsv())
