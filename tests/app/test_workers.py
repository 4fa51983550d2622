"""Background tasks: progress, cancel and failure reach the GUI thread as signals."""

from __future__ import annotations

import threading
import time

from pytestqt.qtbot import QtBot

from app.workers import Task, start


def test_task_reports_progress_then_result_from_another_thread(qtbot: QtBot) -> None:
    threads = []

    def job(progress, cancel):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        for i in range(3):
            progress(i + 1, 3)
        return "done"

    task = Task(job, "counting")
    seen = []
    task.signals.progress.connect(lambda d, t: seen.append((d, t)))
    with qtbot.waitSignal(task.signals.finished, timeout=5000) as blocker:
        start(task)
    assert blocker.args == ["done"]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert threads and threads[0] != threading.get_ident()


def test_cancel_stops_the_job_and_failure_is_a_sentence(qtbot: QtBot) -> None:
    def endless(progress, cancel):  # type: ignore[no-untyped-def]
        while not cancel():
            time.sleep(0.005)
        raise RuntimeError("stopped reading")  # like dicomio's LoadCancelledError

    task = Task(endless, "loading")
    with qtbot.waitSignal(task.signals.cancelled, timeout=5000):
        start(task)
        qtbot.wait(20)
        task.cancel()

    def broken(progress, cancel):  # type: ignore[no-untyped-def]
        raise ValueError("file /x/IM1.dcm: PixelData is truncated")

    failing = Task(broken, "Loading SAG T1")
    with qtbot.waitSignal(failing.signals.failed, timeout=5000) as blocker:
        start(failing)
    assert blocker.args == ["Loading SAG T1 failed: file /x/IM1.dcm: PixelData is truncated"]
