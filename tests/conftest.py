"""Shared test setup: offscreen Qt, a private user-data folder, the real scanner data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.orthanc import orthanc  # noqa: F401 - the session's Orthanc (started on first use)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


@pytest.fixture(autouse=True)
def _private_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user's data folder (demo case, recovery files, log)."""
    monkeypatch.setenv("ENDPLATE_HOME", str(tmp_path_factory.mktemp("endplate_home")))


@pytest.fixture
def realdata_dir() -> Path:
    """``../shared/realdata``; tests using it skip only when that folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    return REALDATA


@pytest.fixture
def spine_ls(realdata_dir: Path) -> Path:
    """The real Siemens sagittal T1 multi-frame JPEG-LS file."""
    path = realdata_dir / "spine-ls.dcm"
    assert path.is_file(), "../shared/realdata exists but spine-ls.dcm is missing"
    return path
