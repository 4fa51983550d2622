"""The entry point: dispatch, and no traceback ever reaches the user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import main
from measure.userlog import log_path
from tests.conftest import PROJECT_ROOT


def test_unexpected_error_is_one_sentence_and_logged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("the disk went away")

    import dicomio.info

    monkeypatch.setattr(dicomio.info, "run_info", boom)
    assert main.main(["info", "."]) == 1
    err = capsys.readouterr().err
    assert err.startswith("endplate: error: the disk went away")
    assert "Traceback" not in err
    logged = log_path().read_text(encoding="utf-8")
    assert "Traceback" in logged and "the disk went away" in logged


def test_log_follows_the_user_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPLATE_HOME", str(tmp_path / "a"))
    first = log_path()
    monkeypatch.setenv("ENDPLATE_HOME", str(tmp_path / "b"))
    second = log_path()
    import logging

    logging.getLogger("endplate").warning("written to b")
    assert first != second
    assert "written to b" in second.read_text(encoding="utf-8")
    assert not first.exists() or "written to b" not in first.read_text(encoding="utf-8")


def test_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    """`endplate info DIR | head` ends quietly: 10 MB of output into a reader that leaves."""
    code = (
        "import sys, main, dicomio.info\n"
        "def chatty(*args, **kwargs):\n"
        "    for _ in range(10000):\n"
        "        print('x' * 1000)\n"
        "    return 0\n"
        "dicomio.info.run_info = chatty\n"
        "sys.exit(main.main(['info', '.']))\n"
    )
    shell = f'{sys.executable} -c "$CODE" | head -c 10 > /dev/null; echo ${{PIPESTATUS[0]}}'
    result = subprocess.run(
        ["bash", "-c", shell],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"ENDPLATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "CODE": code},
    )
    assert result.stderr == ""
    assert result.stdout.strip() == "0"


def test_unknown_verb_falls_back_to_gui_parser_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "info, demo-data, measure, export" in out
