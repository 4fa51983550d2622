"""Start the desktop application: Qt setup, theme, error hook, recovery, demo, screenshot."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from types import TracebackType

log = logging.getLogger("endplate.app")

#: How long ``--screenshot`` waits for the case to load before giving up.
SCREENSHOT_TIMEOUT_S = 180.0
#: How long the window must stay idle (no task, events processed) before the screenshot.
#: A task's follow-up starts in the handler that ends it, so no task is missed; this only
#: covers zero-delay timers (was 200 ms, a tenth of the start-up, issue 15).
SCREENSHOT_SETTLE_MS = 50


def stylesheet() -> str:
    """The dark theme (resources/dark.qss)."""
    return resources.files("resources").joinpath("dark.qss").read_text(encoding="utf-8")


def make_excepthook(
    show: Callable[[str], None] | None,
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """An excepthook that logs the traceback and shows the user one sentence."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        from measure.userlog import log_path

        path = log_path()
        log.error("unhandled error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        message = f"An unexpected error happened: {exc}. The details were written to {path}."
        if show is not None:
            try:
                show(message)
                return
            except Exception:  # never raise from the hook
                pass
        print(f"endplate: {message}", file=sys.stderr)

    return hook


def apply_theme(app: object) -> None:
    from PySide6 import QtGui, QtWidgets

    assert isinstance(app, QtWidgets.QApplication)
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())
    font = QtGui.QFont(app.font())
    font.setPointSize(10)
    app.setFont(font)


def _qt_messages_to_log(mode: object, _context: object, message: str) -> None:
    """Qt's own warnings go to the log file, not to the user's terminal."""
    logging.getLogger("endplate.qt").info("%s: %s", getattr(mode, "name", mode), message)


def _application() -> object:
    from PySide6 import QtCore, QtWidgets

    QtCore.qInstallMessageHandler(_qt_messages_to_log)

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("Endplate")
        app.setOrganizationName("Endplate")
    apply_theme(app)
    return app


def ask_recovery(parent: object, path: Path) -> bool:
    """Default recovery decision: a question dialog."""
    from PySide6 import QtWidgets

    buttons = QtWidgets.QMessageBox.StandardButton
    answer = QtWidgets.QMessageBox.question(
        parent,  # type: ignore[arg-type]
        "Recover unsaved work?",
        "Endplate did not close normally last time. An automatic copy of the unsaved case was kept.\n\n"
        f"{path}\n\nRecover it?",
        buttons.Yes | buttons.No,
    )
    return answer == buttons.Yes


def offer_recovery(window: object, decide: Callable[[Path], bool]) -> bool:
    """If a recovery file exists, ask ``decide(path)``; open it (True) or discard it."""
    from app import recovery
    from app.main_window import MainWindow
    from measure.casefile import CaseFileError, load_case

    assert isinstance(window, MainWindow)
    path = recovery.pending_recovery()
    if path is None:
        return False
    if not decide(path):
        recovery.discard_recovery()
        return False
    try:
        case = load_case(path)
    except CaseFileError as exc:
        window.show_error("Cannot recover", str(exc))
        recovery.discard_recovery()
        return False
    origin = recovery.recovery_origin()
    case.file_path = origin
    case.folder = origin.parent if origin is not None else None
    window.adopt_case(case)
    window.session.recovered_unsaved = True
    window.autosaver.force_dirty = True
    window.refresh()
    return True


def wait_until_loaded(window: object, timeout_s: float) -> bool:
    """Process events until no background task runs and the viewer shows a series."""
    from PySide6 import QtCore, QtWidgets

    from app.main_window import MainWindow

    assert isinstance(window, MainWindow)
    timer = QtCore.QElapsedTimer()
    timer.start()
    idle_since: int | None = None
    while timer.elapsed() < timeout_s * 1000:
        QtWidgets.QApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        busy = bool(window.tasks)
        if not busy:
            idle_since = idle_since if idle_since is not None else timer.elapsed()
            if timer.elapsed() - idle_since >= SCREENSHOT_SETTLE_MS:
                return window.viewer.source is not None
        else:
            idle_since = None
        QtCore.QThread.msleep(10)
    return False


def take_screenshot(window: object, out: Path) -> bool:
    from PySide6 import QtWidgets

    assert isinstance(window, QtWidgets.QWidget)
    QtWidgets.QApplication.processEvents()
    image = window.grab()
    return bool(not image.isNull() and image.save(str(out), "PNG") and out.stat().st_size > 0)


def open_initial(window: object, paths: list[Path], demo: bool) -> bool:
    """Open what the command line asked for; False when the demo case could not be built."""
    from app.main_window import MainWindow

    assert isinstance(window, MainWindow)
    if demo:
        from app.demo_case import ensure_demo_case

        try:
            case_path = ensure_demo_case()
        except Exception as exc:
            log.exception("demo case")
            window.show_error("Cannot build the demo case", f"The demo case could not be built: {exc}")
            return False
        window.open_case(case_path)
    elif paths:
        window.open_paths(list(paths))
    return True


def finish_screenshot(window: object, out: Path, expect_content: bool) -> int:
    """Wait for loading, write the PNG of the window, close it; the exit status."""
    from app.main_window import MainWindow

    assert isinstance(window, MainWindow)
    loaded = wait_until_loaded(window, SCREENSHOT_TIMEOUT_S)
    for e in window.errors:
        print(f"endplate: {e}", file=sys.stderr)
    if expect_content and not loaded:
        print("endplate: the case did not finish loading; no screenshot written", file=sys.stderr)
        window.close()
        return 1
    ok = take_screenshot(window, Path(out))
    window.close()
    if not ok:
        print(f"endplate: could not write the screenshot to {out}", file=sys.stderr)
        return 1
    return 0


def display_problem(environ: Mapping[str, str], platform: str) -> str | None:
    """Why the window cannot open, in a sentence, or None.

    Without a display Qt aborts the process (exit 134) and says so only in its own
    message; on Linux we check first and tell the user what to do.
    """
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). "
        "Run Endplate in a desktop session, or use the command-line verbs (endplate info, "
        "measure, export), or render the window to a file with --screenshot OUT.png."
    )


def run_gui(paths: list[Path], demo: bool, screenshot: Path | None) -> int:
    """Open the main window (on ``paths`` or the demo case); with ``screenshot``, write a
    PNG of the loaded window and exit (0 on success)."""
    if screenshot is not None and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    problem = display_problem(os.environ, sys.platform)
    if problem is not None:
        print(f"endplate: {problem}", file=sys.stderr)
        return 2
    from measure.userlog import log_path

    log_path()
    app = _application()
    from PySide6 import QtWidgets

    from app import gc_guard, workers
    from app.main_window import MainWindow

    gc_guard.install(app)  # type: ignore[arg-type]  # cyclic GC only in the GUI thread

    window = MainWindow(interactive_errors=screenshot is None)

    def show_message(message: str) -> None:
        window.show_error("Unexpected error", message)

    sys.excepthook = make_excepthook(show_message if screenshot is None else None)
    if screenshot is None:
        offer_recovery(window, lambda p: ask_recovery(window, p))
    window.resize(1600, 1000)
    window.show()
    from measure.userlog import home_warning

    fallback = home_warning()
    if fallback is not None:  # said on stderr already; a window user sees it here
        window.statusBar().showMessage(fallback.removeprefix("endplate: warning: "), 30000)
    opened = open_initial(window, paths, demo)
    if screenshot is not None:
        if not opened:
            for e in window.errors:
                print(f"endplate: {e}", file=sys.stderr)
            window.close()
            return 1
        status = finish_screenshot(window, screenshot, expect_content=bool(demo or paths))
        workers.wait_all()
        return status
    assert isinstance(app, QtWidgets.QApplication)
    status = int(app.exec())
    workers.wait_all()  # no worker may outlive the Qt objects it reports to
    return status
