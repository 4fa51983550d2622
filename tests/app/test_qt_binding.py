"""Guard against a Qt binding that corrupts reference counts on signal emission.

PySide6 6.12.0 returns ``True`` from ``SignalInstance.emit()`` without taking a
reference: after a few thousand emissions (pyqtgraph emits on every pan, zoom and
drag) the interpreter aborts with "bool_dealloc: deallocating True or False".
pyproject.toml excludes that version; this test catches a regression in another one.
"""

from __future__ import annotations

import sys

from PySide6 import QtCore


class _Emitter(QtCore.QObject):
    changed = QtCore.Signal(object)


def test_signal_emit_keeps_the_reference_count_of_true() -> None:
    emitter = _Emitter()
    received = []
    emitter.changed.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(500):
        emitter.changed.emit(i)
    assert len(received) == 500
    # Other code may hold a few more or fewer references; a broken binding loses 500.
    assert abs(sys.getrefcount(True) - before) < 50
