"""Errors reach the user as one sentence naming the file and the reason; never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.gui import make_excepthook
from measure.userlog import log_path


def test_bad_case_file_is_reported_with_its_name_and_reason(window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "endplate-case", "version": 2, "timepoints": [')
    assert not window.open_case(bad)
    message = window.errors[-1]
    assert str(bad) in message and "not valid JSON" in message
    assert "Traceback" not in message


def test_missing_path_is_reported(window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([tmp_path / "nowhere"])
    assert str(tmp_path / "nowhere") in window.errors[-1]
    assert "does not exist" in window.errors[-1]


def test_excepthook_logs_the_traceback_and_shows_one_sentence(qtbot: QtBot) -> None:
    shown = []
    hook = make_excepthook(shown.append)
    try:
        raise RuntimeError("the widget lost its series")
    except RuntimeError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert len(shown) == 1
    assert "the widget lost its series" in shown[0] and str(log_path()) in shown[0]
    assert "Traceback" not in shown[0]
    # The log handler is configured once per process (the first ENDPLATE_HOME wins).
    files = [h for h in logging.getLogger("endplate").handlers if isinstance(h, logging.FileHandler)]
    assert files
    files[0].flush()
    log = Path(files[0].baseFilename).read_text(encoding="utf-8")
    assert "Traceback" in log and "the widget lost its series" in log


def test_no_display_is_one_clear_sentence_not_an_abort(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without DISPLAY/WAYLAND_DISPLAY Qt would abort (exit 134) with nothing on the terminal."""
    import subprocess
    import sys

    from app.gui import display_problem
    from tests.conftest import PROJECT_ROOT

    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None
    env = {"PATH": "/usr/bin:/bin", "ENDPLATE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "main.py", "--demo"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("endplate: no display to open the window on")
    assert "Traceback" not in result.stderr
