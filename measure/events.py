"""Change events of the case model, and the small publisher that sends them.

Views observe the :class:`~measure.case.Case` instead of holding copies of it (napari's
evented models, Slicer's logic/widget split).  One mutation sends one :class:`CaseEvent`;
a batch of mutations sends one ``"batch"`` event that lists the changes it groups, so a
drag or an import never causes an event storm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: Event kinds a :class:`~measure.case.Case` sends (``CaseEvent.kind``).
EVENT_KINDS: tuple[str, ...] = (
    "patient",  # patient or case id changed
    "timepoint-added",
    "timepoint-removed",
    "timepoint-changed",
    "series",  # a series reference was assigned, replaced or removed (key = series UID)
    "series-window",  # the reader's window of a series changed (key = series UID)
    "vertebra-added",
    "vertebra-removed",
    "status",
    "landmark",  # key = landmark key
    "reader",  # reader entry (timepoint/level None for a case-wide entry)
    "stir",  # STIR reader decision
    "regional",  # regional angle specifications
    "extras",  # key = extras key
    "batch",  # several of the above; see CaseEvent.changes
    "saved",  # the case was written to or read from a file (not a modification)
)


@dataclass(frozen=True)
class CaseEvent:
    """What changed: the kind, and where (timepoint id, level, landmark/series/extras key).

    ``changes`` is only filled for ``kind == "batch"``: the individual events in order.
    ``timepoint``/``level`` of a batch are set when every change shares them.
    """

    kind: str
    timepoint: str | None = None
    level: str | None = None
    key: str | None = None
    changes: tuple[CaseEvent, ...] = ()


Subscriber = Callable[[CaseEvent], None]


class EventEmitter:
    """Sends events to subscribers; batches collapse many events into one."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._batch_depth = 0
        self._pending: list[CaseEvent] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it (idempotent)."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: CaseEvent) -> None:
        if self._batch_depth:
            self._pending.append(event)
            return
        self._send(event)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the events of the block into one (nested batches join the outer one).

        The grouped event is sent even when the block raises, because the changes made
        before the error did happen and views must show them.
        """
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._pending:
                pending, self._pending = self._pending, []
                self._send(_merge(pending))

    def _send(self, event: CaseEvent) -> None:
        for callback in list(self._subscribers):
            callback(event)


def _merge(events: list[CaseEvent]) -> CaseEvent:
    if len(events) == 1:
        return events[0]
    timepoints = {e.timepoint for e in events}
    levels = {e.level for e in events}
    return CaseEvent(
        kind="batch",
        timepoint=timepoints.pop() if len(timepoints) == 1 else None,
        level=levels.pop() if len(levels) == 1 else None,
        key=None,
        changes=tuple(events),
    )
