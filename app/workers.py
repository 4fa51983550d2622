"""Run slow work (folder scans, pixel loading) off the GUI thread, with progress and cancel.

A :class:`Task` wraps a plain function ``fn(progress, cancel) -> result`` from ``dicomio``;
it runs on the global ``QThreadPool`` and reports through Qt signals, which Qt delivers in
the GUI thread (queued connections), so the window stays responsive.

Ownership is explicit, because PySide crashes when a Qt object is freed in the wrong thread
(e.g. by a garbage-collector pass that a worker thread happens to trigger): a task's
:class:`TaskSignals` is owned by the application object (C++), never by a Python reference
that a worker could drop last, and :func:`reap` deletes it with ``deleteLater`` in the GUI
thread once the worker has returned.  :func:`start` keeps every task until then.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6 import QtCore

log = logging.getLogger("endplate.app")

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

#: Least time between two progress signals of a task (s): a scan reports every file, and
#: each signal costs the GUI thread a progress-bar update that the workers wait on.
PROGRESS_INTERVAL_S = 0.05


class CancelledError(Exception):
    """Raised inside a task function when the user pressed Cancel."""


class TaskSignals(QtCore.QObject):
    progress = QtCore.Signal(int, int)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()


def _finished_fn(_progress: ProgressFn, _cancel: CancelFn) -> Any:
    raise RuntimeError("this task has already run")


class Task(QtCore.QRunnable):
    """One background job; :func:`start` keeps it until it ended and :func:`reap` frees it."""

    def __init__(self, fn: Callable[[ProgressFn, CancelFn], Any], description: str) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.description = description
        # Owned by the application (C++), created in the GUI thread: only reap() deletes it.
        self.signals = TaskSignals(QtCore.QCoreApplication.instance())
        self._cancel = threading.Event()
        self.done = threading.Event()
        self._last_progress = -float("inf")

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _emit(self, name: str, *args: Any) -> None:
        """Emit one of the signals; a window that is gone just does not hear it."""
        try:
            getattr(self.signals, name).emit(*args)
        except RuntimeError:  # "Signal source has been deleted": the application is closing
            self._cancel.set()

    def _progress(self, done: int, total: int) -> None:
        """Emit progress at most every :data:`PROGRESS_INTERVAL_S`, and always the end."""
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self._emit("progress", done, total)

    def run(self) -> None:
        # Qt's pool threads are not started by ``threading``, so a trace hook set for every
        # thread (coverage, debuggers: ``threading.settrace``) would not see this work.
        hook = threading.gettrace()
        if hook is not None and sys.gettrace() is None:
            sys.settrace(hook)
        try:
            result = self.fn(self._progress, self._cancel.is_set)
        except CancelledError:
            self._emit("cancelled")
        except Exception as exc:  # reported as a sentence; the traceback goes to the log
            if self._cancel.is_set():  # e.g. dicomio's LoadCancelledError
                self._emit("cancelled")
                return
            log.exception("background task failed: %s", self.description)
            self._emit("failed", f"{self.description} failed: {exc}")
        else:
            if self._cancel.is_set():
                self._emit("cancelled")
            else:
                self._emit("finished", result)
        finally:
            self.done.set()


#: Tasks started and not reaped yet (their worker may still be running).
_started: list[Task] = []


def reap() -> int:
    """Free the tasks whose worker has returned (GUI thread only); returns how many remain."""
    for task in list(_started):
        if task.done.is_set():
            _started.remove(task)
            task.fn = _finished_fn  # drop the job's closure (it may hold whole volumes)
            if shiboken6.isValid(task.signals):
                task.signals.deleteLater()
    return len(_started)


def start(task: Task) -> Task:
    reap()
    _started.append(task)
    QtCore.QThreadPool.globalInstance().start(task)
    return task


def wait_all(timeout_ms: int = 5000) -> bool:
    """Cancel nothing, wait for every worker to return (before the application quits)."""
    ok = QtCore.QThreadPool.globalInstance().waitForDone(timeout_ms)
    reap()
    return bool(ok)
