"""Hole #6 of issue 14 in the app: saving over a case another session changed asks first."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from measure.casefile import load_case, save_case
from tests.measure.test_case import make_case


def test_save_over_a_changed_file_asks_and_cancel_keeps_the_other_version(
    window, qtbot: QtBot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = save_case(make_case(), tmp_path / "case.json")
    assert window.open_case(path)
    qtbot.waitUntil(lambda: not window.tasks, timeout=30000)
    other = load_case(path)  # a second session moves a landmark and saves
    lm = other.landmark("pre", "L1", "sup_ant")
    other.set_landmark("pre", "L1", "sup_ant", lm.moved_to((0.0, -15.0, 77.5)))
    save_case(other, path)
    window.session.case.set_status("pre", "L2", "unknown")
    asked: list[str] = []
    actions = window.case_actions
    actions.conflict_decision = lambda sentence: asked.append(sentence) or "cancel"
    assert actions.save() is False
    assert len(asked) == 1 and "changed by another program or session" in asked[0]
    assert load_case(path).landmark("pre", "L1", "sup_ant").position_mm[2] == 77.5
    assert window.session.is_dirty()
    actions.conflict_decision = lambda sentence: "overwrite"
    assert actions.save() is True
    assert load_case(path).vertebra("pre", "L2").status == "unknown"
    assert not window.session.is_dirty()
