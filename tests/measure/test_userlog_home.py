"""An unusable ENDPLATE_HOME (issue 14, hole 5): a temporary folder with one warning line,
never a crash or a traceback; and the DICOM library's warnings go to the log (hole 12).

Permissions cannot make a folder unwritable for root (CI runs as root), so the folder is
put under a regular file: creating it fails with ENOTDIR for every user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from measure import userlog
from tests.conftest import PROJECT_ROOT


def _bad_home(tmp_path: Path) -> Path:
    plain = tmp_path / "file.txt"
    plain.write_text("not a folder")
    return plain / "sub"


def test_home_under_a_file_falls_back_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_home(tmp_path)
    monkeypatch.setenv("ENDPLATE_HOME", str(bad))
    used = userlog.user_data_dir()
    assert used != bad and used.is_dir() and os.access(used, os.W_OK)
    assert userlog.user_data_dir() == used  # the same folder for the whole session
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # said once
    assert err.startswith(f"endplate: warning: the data folder {bad} cannot be used (Not a directory)")
    assert str(used) in err
    assert userlog.home_warning() == err.strip()
    log = userlog.log_path()
    assert log.parent == used


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes a 0o500 folder")
def test_read_only_home_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ro"
    home.mkdir(mode=0o500)
    monkeypatch.setenv("ENDPLATE_HOME", str(home))
    assert userlog.user_data_dir() != home
    assert "(it is not writable)" in (userlog.home_warning() or "")


def test_cli_with_an_unusable_home_prints_one_line_no_traceback(tmp_path: Path) -> None:
    bad = _bad_home(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "ENDPLATE_HOME": str(bad), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "main.py", "info", "--json", str(tmp_path / "missing")],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"endplate: warning: the data folder {bad} cannot be used")
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert done.returncode == 1  # nothing readable, as without the warning
    assert json.loads(done.stdout)["skipped"][0]["reason"] == "unreadable: no such file or folder"
    assert (tmp_path / f"endplate-{os.getuid()}" / "endplate.log").is_file()


def test_gui_with_an_unusable_home_starts(tmp_path: Path) -> None:
    """Was a segfault: the window opens, renders, says so, and exits 0."""
    bad = _bad_home(tmp_path)
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ENDPLATE_HOME": str(bad), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "main.py", "--demo", "--screenshot", str(shot)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 0
    assert done.stderr.startswith(f"endplate: warning: the data folder {bad} cannot be used")
    assert "Traceback" not in done.stderr and "Segmentation" not in done.stderr
    # the demo case went to the temporary folder, not under the file
    assert (tmp_path / f"endplate-{os.getuid()}" / "demo").is_dir()


def test_pydicom_warnings_go_to_the_log_not_stderr(tmp_path: Path) -> None:
    """An unknown character set makes pydicom warn: the warning is in the log, not on stderr."""
    import numpy as np
    import pydicom

    from dicomio.synthetic.synth import SeriesSpec, axial_geometry, write_series

    g = axial_geometry(1, 4, 4)
    (path,) = write_series(tmp_path / "d", np.zeros(g.shape), g, SeriesSpec(description="X"))
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 9999"
    ds.PatientName = "M\u00fcller"
    ds.save_as(path)
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "main.py", "info", str(tmp_path / "d")],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "ENDPLATE_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    log = (home / "endplate.log").read_text(encoding="utf-8")
    assert "ISO_IR 9999" in log
    # It matters (the names shown may be garbled): the series says so too.
    from dicomio.scan import scan_paths

    (stack,) = scan_paths([tmp_path / "d"]).stacks
    assert any("ISO_IR 9999" in w and path.name in w for w in stack.warnings), stack.warnings
    assert "ISO_IR 9999" in done.stdout  # info lists the series' warnings
