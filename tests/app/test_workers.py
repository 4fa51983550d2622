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
    # The first and the last always; (2, 3) only if it came PROGRESS_INTERVAL_S after (1, 3).
    assert seen[0] == (1, 3) and seen[-1] == (3, 3) and set(seen) <= {(1, 3), (2, 3), (3, 3)}
    assert threads and threads[0] != threading.get_ident()


def test_progress_of_a_fast_job_is_thinned_out(qtbot: QtBot) -> None:
    """A scan reports every file: the GUI thread hears it at most every PROGRESS_INTERVAL_S."""
    from app.workers import PROGRESS_INTERVAL_S

    spent: list[float] = []

    def job(progress, cancel):  # type: ignore[no-untyped-def]
        start_s = time.monotonic()
        for i in range(5000):
            progress(i + 1, 5000)
        spent.append(time.monotonic() - start_s)
        return "done"

    task = Task(job, "scanning")
    seen = []
    task.signals.progress.connect(lambda d, t: seen.append((d, t)))
    with qtbot.waitSignal(task.signals.finished, timeout=5000):
        start(task)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == (5000, 5000), timeout=5000)
    assert seen[0] == (1, 5000)
    assert len(seen) <= 2 + spent[0] / PROGRESS_INTERVAL_S
    assert seen == sorted(seen)


def test_cancel_stops_the_job_and_failure_is_a_sentence(qtbot: QtBot) -> None:
    running = threading.Event()

    def endless(progress, cancel):  # type: ignore[no-untyped-def]
        running.set()
        while not cancel():
            time.sleep(0.005)  # the job's own work (a worker thread), not a wait in the test
        raise RuntimeError("stopped reading")  # like dicomio's LoadCancelledError

    task = Task(endless, "loading")
    with qtbot.waitSignal(task.signals.cancelled, timeout=5000):
        start(task)
        qtbot.waitUntil(running.is_set, timeout=5000)  # cancel a job that is really running
        task.cancel()
    assert task.is_cancelled

    def broken(progress, cancel):  # type: ignore[no-untyped-def]
        raise ValueError("file /x/IM1.dcm: PixelData is truncated")

    failing = Task(broken, "Loading SAG T1")
    with qtbot.waitSignal(failing.signals.failed, timeout=5000) as blocker:
        start(failing)
    assert blocker.args == ["Loading SAG T1 failed: file /x/IM1.dcm: PixelData is truncated"]


def test_a_task_whose_window_is_gone_ends_quietly(qtbot: QtBot, capfd) -> None:  # type: ignore[no-untyped-def]
    """At exit the signals may be deleted before a worker reports: no traceback, no hang."""
    import shiboken6

    gate = threading.Event()
    steps = []

    def job(progress, cancel):  # type: ignore[no-untyped-def]
        gate.wait(5)
        for i in range(1000):
            if cancel():
                break
            progress(i, 1000)
            steps.append(i)
        return "late"

    task = Task(job, "Loading SAG T1")
    start(task)
    shiboken6.delete(task.signals)  # what the application's teardown does to its children
    gate.set()
    assert task.done.wait(5)
    assert task.is_cancelled and steps == [0]  # the first report found nobody: the job stopped
    assert "Traceback" not in capfd.readouterr().err


def test_finished_tasks_are_reaped_in_the_gui_thread(qtbot: QtBot) -> None:
    import shiboken6

    from app import workers

    big = list(range(100_000))

    def job(progress, cancel):  # type: ignore[no-untyped-def]
        return len(big)

    task = Task(job, "counting")
    with qtbot.waitSignal(task.signals.finished, timeout=5000):
        start(task)
    assert task.done.wait(5)
    signals = task.signals
    workers.reap()
    assert task not in workers._started
    assert task.fn is not job  # the closure (and what it holds) is released
    qtbot.waitUntil(lambda: not shiboken6.isValid(signals), timeout=2000)  # deleteLater ran
