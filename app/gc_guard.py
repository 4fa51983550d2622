"""Python's cyclic garbage collector runs only in the GUI thread while the app is up.

The collector normally runs in whichever thread happens to allocate when a threshold is
crossed, which may be a worker thread loading pixels.  If that pass frees a Qt object
(a widget, a graphics item, a dialog caught in a reference cycle), Qt destroys a GUI
object from a non-GUI thread, and PySide 6 crashes (seen with dialogs on 6.11).  So, as
pyqtgraph's ``GarbageCollector`` does, automatic collection is switched off and a timer
in the GUI thread collects with the same generation thresholds.
"""

from __future__ import annotations

import gc

from PySide6 import QtCore

#: How often the GUI thread checks whether a collection is due.
CHECK_INTERVAL_MS = 500


class GuiThreadCollector(QtCore.QObject):
    """Disables automatic GC; collects from a GUI-thread timer; :meth:`stop` restores it."""

    def __init__(self, parent: QtCore.QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.was_enabled = gc.isenabled()
        self.collections = 0
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        gc.disable()
        self.timer.start()

    def check(self) -> None:
        """Collect the generations whose thresholds were crossed (as the automatic GC would)."""
        g0, g1, g2 = gc.get_count()
        if g0 <= self.threshold[0]:
            return
        generation = 0
        if g1 > self.threshold[1]:
            generation = 2 if g2 > self.threshold[2] else 1
        gc.collect(generation)
        self.collections += 1

    def stop(self, collect: bool = True) -> None:
        """Back to automatic collection (tests, or an app that quits); ``collect`` first."""
        self.timer.stop()
        if collect:
            gc.collect()
        if self.was_enabled:
            gc.enable()


def install(app: QtCore.QObject) -> GuiThreadCollector:
    """Start the GUI-thread collector, owned by ``app`` (call once, in the GUI thread)."""
    existing = app.findChild(GuiThreadCollector)
    if isinstance(existing, GuiThreadCollector):
        return existing
    return GuiThreadCollector(app)
