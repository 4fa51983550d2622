"""File > Open from PACS…: query a node, list studies and series, retrieve in the background.

Search and retrieve each run in a :class:`~app.workers.Task` (the window and the dialog stay
responsive; the reader can keep measuring), with the dialog's own progress bar and Cancel.
The retrieved series land in the PACS cache (one folder per series UID) and the window opens
them as if loaded from disk.  The dialog is not modal; every field has a setter for tests.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from app import workers
from app.reader_entry import DIALOG_STYLE
from dicomio.pacs.errors import PacsCancelledError, PacsError
from dicomio.pacs.matches import StudyMatch
from session.pacs_run import StudyRetrieval, build_query, retrieve_study
from session.pacs_settings import load_settings, pacs_node_names, resolve_node

_UID = QtCore.Qt.ItemDataRole.UserRole
COLUMNS = ("Date", "Patient ID", "Modality", "Description", "Images")
#: Progress resolution per series (the bar counts series x this).
_STEPS = 1000


def _date(dicom_date: str) -> str:
    d = dicom_date.strip()
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


class PacsDialog(QtWidgets.QDialog):
    """Query fields, the study/series tree, Retrieve with progress and Cancel."""

    #: The folders of the series retrieved (the window opens them).
    retrieved = QtCore.Signal(list)
    #: A search finished (number of studies) or failed (-1).
    searched = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None, cache_root: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PacsDialog")
        self.setWindowTitle("Open from PACS")
        self.setStyleSheet(DIALOG_STYLE)
        self.setModal(False)
        self.cache_root = cache_root
        self.task: workers.Task | None = None
        self.studies: list[StudyMatch] = []
        self.messages: list[str] = []
        layout = QtWidgets.QVBoxLayout(self)

        form = QtWidgets.QFormLayout()
        self.node_combo = QtWidgets.QComboBox()
        self.node_combo.setEditable(True)
        self.node_combo.addItems(pacs_node_names())
        self.node_combo.setToolTip(
            "A node from the PACS settings, dicom://AE@HOST:PORT or http(s)://…/dicom-web"
        )
        form.addRow("PACS node", self.node_combo)
        self.patient_id = QtWidgets.QLineEdit()
        self.patient_name = QtWidgets.QLineEdit()
        self.patient_name.setPlaceholderText("wildcards: DOE^J*")
        self.date_range = QtWidgets.QLineEdit()
        self.date_range.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        self.modality = QtWidgets.QLineEdit()
        self.modality.setPlaceholderText("CT, MR, …")
        self.accession = QtWidgets.QLineEdit()
        self.description = QtWidgets.QLineEdit()
        for label, w in (
            ("Patient ID", self.patient_id),
            ("Patient name", self.patient_name),
            ("Study date", self.date_range),
            ("Modality", self.modality),
            ("Accession number", self.accession),
            ("Study description", self.description),
        ):
            form.addRow(label, w)
            w.returnPressed.connect(self.search)
        layout.addLayout(form)

        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        layout.addWidget(self.search_button, alignment=QtCore.Qt.AlignmentFlag.AlignRight)

        self.tree = QtWidgets.QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.itemDoubleClicked.connect(lambda *_a: self.retrieve_selected())
        layout.addWidget(self.tree, 1)

        row = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar()
        self.progress.hide()
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("Hint")
        self.status.setWordWrap(True)
        row.addWidget(self.progress)
        row.addWidget(self.status, 1)
        layout.addLayout(row)

        buttons = QtWidgets.QDialogButtonBox()
        self.retrieve_button = buttons.addButton(
            "Retrieve and open", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole
        )
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.cancel_button = buttons.addButton(
            "Cancel transfer", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole
        )
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.close_button = buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.close)
        layout.addWidget(buttons)
        self.resize(820, 560)

    # -- what tests and the window drive ------------------------------------------------------
    def set_node(self, text: str) -> None:
        self.node_combo.setEditText(text)

    def set_query(self, **fields: str) -> None:
        """``patient_id``, ``patient_name``, ``date``, ``modality``, ``accession``, ``description``."""
        edits = {
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "date": self.date_range,
            "modality": self.modality,
            "accession": self.accession,
            "description": self.description,
        }
        for key, value in fields.items():
            edits[key].setText(value)

    def is_running(self) -> bool:
        return self.task is not None

    def status_text(self) -> str:
        return self.status.text()

    def search(self) -> bool:
        """Start a query in the background; False (with the reason shown) when not started."""
        if self.task is not None:
            return False
        try:
            node = resolve_node(self.node_combo.currentText().strip())
            query = build_query(
                self.patient_id.text(),
                self.patient_name.text(),
                self.date_range.text(),
                self.modality.text(),
                self.accession.text(),
                self.description.text(),
            )
        except ValueError as exc:
            self._say(str(exc), error=True)
            self.searched.emit(-1)
            return False
        from dicomio.pacs import client

        def job(_progress: workers.ProgressFn, _cancel: workers.CancelFn) -> Any:
            try:
                return client.find(node, query)
            except PacsError as exc:
                return exc

        self._start(job, "The PACS query", f"Searching {node.describe()}…", self._on_found)
        return True

    def select_series(self, series_uids: list[str]) -> None:
        self.tree.clearSelection()
        for item in self._series_items():
            item.setSelected(item.data(0, _UID) in series_uids)

    def _series_items(self) -> list[QtWidgets.QTreeWidgetItem]:
        items: list[QtWidgets.QTreeWidgetItem] = []
        for i in range(self.tree.topLevelItemCount()):
            study = self.tree.topLevelItem(i)
            if study is not None:
                items.extend(c for c in (study.child(j) for j in range(study.childCount())) if c is not None)
        return items

    def selection(self) -> list[tuple[str, list[str]]]:
        """(study UID, series UIDs) per selected study; a study row selected means all its series."""
        chosen: dict[str, list[str]] = {}
        for item in self.tree.selectedItems():
            parent = item.parent()
            if parent is None:
                chosen.setdefault(item.data(0, _UID), [])
                for child in (item.child(j) for j in range(item.childCount())):
                    uid = child.data(0, _UID) if child is not None else None
                    if uid is not None and uid not in chosen[item.data(0, _UID)]:
                        chosen[item.data(0, _UID)].append(uid)
            else:
                series = chosen.setdefault(parent.data(0, _UID), [])
                if item.data(0, _UID) not in series:
                    series.append(item.data(0, _UID))
        return list(chosen.items())

    def retrieve_selected(self) -> bool:
        """Retrieve the selected series in the background; False when nothing was started."""
        if self.task is not None:
            return False
        chosen = self.selection()
        if not chosen:
            self._say("Select a study or series to retrieve.", error=True)
            return False
        try:
            node = resolve_node(self.node_combo.currentText().strip())
            cache = self.cache_root or load_settings().cache_root()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return False
        n_series = sum(len(s) for _, s in chosen)

        def job(progress: workers.ProgressFn, cancel: workers.CancelFn) -> Any:
            done_before = 0
            results: list[StudyRetrieval] = []
            try:
                for study_uid, series in chosen:

                    def step(
                        index: int, _n: int, done: int, total: int | None, base: int = done_before
                    ) -> None:
                        frac = done / total if total else 0.0
                        progress(int((base + index + frac) * _STEPS), n_series * _STEPS)

                    results.append(retrieve_study(node, study_uid, series, cache, step, cancel))
                    done_before += len(series)
            except PacsError as exc:
                return exc
            return results

        self._start(
            job, "The retrieve", f"Retrieving {n_series} series from {node.describe()}…", self._on_retrieved
        )
        self.progress.setRange(0, n_series * _STEPS)
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        return True

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    # -- internals ----------------------------------------------------------------------------
    def _start(self, job: Callable[..., Any], what: str, saying: str, done: Callable[[Any], None]) -> None:
        self.task = workers.Task(job, what)
        self.task.signals.finished.connect(done)
        self.task.signals.failed.connect(self._on_failed)
        self.task.signals.cancelled.connect(
            lambda: self._end("The transfer was cancelled; what arrived is kept.")
        )
        self.task.signals.progress.connect(self._on_progress)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.search_button.setEnabled(False)
        self.retrieve_button.setEnabled(False)
        self._say(saying)
        workers.start(self.task)

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _end(self, sentence: str, *, error: bool = False) -> None:
        self.task = None
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.search_button.setEnabled(True)
        self.retrieve_button.setEnabled(True)
        self._say(sentence, error=error)

    def _on_failed(self, message: str) -> None:
        self._end(message, error=True)
        self.searched.emit(-1)

    def _on_found(self, result: Any) -> None:
        if isinstance(result, PacsError):
            self._end(str(result), error=True)
            self.searched.emit(-1)
            return
        self.studies = list(result)
        self._fill(self.studies)
        n = len(self.studies)
        self._end(f"{n} stud{'y' if n == 1 else 'ies'} found.")
        self.searched.emit(n)

    def _fill(self, studies: list[StudyMatch]) -> None:
        self.tree.clear()
        for study in studies:
            images = "" if study.n_images is None else str(study.n_images)
            top = QtWidgets.QTreeWidgetItem(
                [
                    _date(study.study_date),
                    study.patient_id,
                    "/".join(study.modalities),
                    study.description,
                    images,
                ]
            )
            top.setData(0, _UID, study.study_uid)
            top.setToolTip(0, study.study_uid)
            for s in study.series:
                n = "" if s.n_images is None else str(s.n_images)
                child = QtWidgets.QTreeWidgetItem(
                    ["", "", s.modality, s.description or "(no description)", n]
                )
                child.setData(0, _UID, s.series_uid)
                child.setToolTip(0, s.series_uid)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        for c in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(c)

    def _on_retrieved(self, result: Any) -> None:
        if isinstance(result, PacsCancelledError):
            self._end(str(result), error=True)
            self.retrieved.emit([])
            return
        if isinstance(result, PacsError):
            self._end(str(result), error=True)
            self.retrieved.emit([])
            return
        folders = [f for r in result for f in r.folders]
        reused = sum(s.reused for r in result for s in r.series)
        note = f" ({reused} already in the cache)" if reused else ""
        self._end(f"Retrieved {len(folders)} series{note}; opening them.")
        self.retrieved.emit(folders)

    def _say(self, sentence: str, *, error: bool = False) -> None:
        self.messages.append(sentence)
        colour = "#ffb86b" if error else "#9aa3ad"
        self.status.setText(f'<span style="color: {colour}">{html.escape(sentence)}</span>')

    def closeEvent(self, event: Any) -> None:
        self.cancel()  # a running transfer stops; what arrived stays in the cache
        super().closeEvent(event)
