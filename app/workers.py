"""Run slow work (folder scans, pixel loading) off the GUI thread, with progress and cancel.

A :class:`Task` wraps a plain function ``fn(progress, cancel) -> result`` from ``dicomio``;
it runs on the global ``QThreadPool`` and reports through Qt signals, which Qt delivers in
the GUI thread (queued connections), so the window stays responsive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

log = logging.getLogger("endplate.app")

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class CancelledError(Exception):
    """Raised inside a task function when the user pressed Cancel."""


class TaskSignals(QtCore.QObject):
    progress = QtCore.Signal(int, int)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()


class Task(QtCore.QRunnable):
    """One background job; keep a reference to it until ``finished``/``failed``/``cancelled``."""

    def __init__(self, fn: Callable[[ProgressFn, CancelFn], Any], description: str) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.description = description
        self.signals = TaskSignals()
        self._cancel = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            result = self.fn(self.signals.progress.emit, self._cancel.is_set)
        except CancelledError:
            self.signals.cancelled.emit()
        except Exception as exc:  # reported as a sentence; the traceback goes to the log
            if self._cancel.is_set():  # e.g. dicomio's LoadCancelledError
                self.signals.cancelled.emit()
                return
            log.exception("background task failed: %s", self.description)
            self.signals.failed.emit(f"{self.description} failed: {exc}")
        else:
            if self._cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)
        finally:
            self.done.set()


def start(task: Task) -> Task:
    QtCore.QThreadPool.globalInstance().start(task)
    return task
