"""The snap preferences file: round trip, and defaults for anything unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from session.assist_settings import (
    AssistSettings,
    load_assist_settings,
    save_assist_settings,
    settings_path,
)


def test_defaults_without_a_file() -> None:
    assert not settings_path().exists()
    s = load_assist_settings()
    assert s.snap_enabled is True and s.snap_radius_mm == 3.0  # the default radius


def test_round_trip_in_the_user_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPLATE_HOME", str(tmp_path))
    save_assist_settings(AssistSettings(snap_enabled=False, snap_radius_mm=4.5))
    assert settings_path() == tmp_path / "assist.json"
    assert json.loads((tmp_path / "assist.json").read_text("utf-8")) == {
        "snap_enabled": False,
        "snap_radius_mm": 4.5,
    }
    assert load_assist_settings() == AssistSettings(False, 4.5)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"snap_enabled": "no"}',
        '{"snap_radius_mm": 50}',
        '{"snap_radius_mm": 0.1}',
        '{"snap_radius_mm": true}',
        '{"snap_radius_mm": NaN}',
    ],
)
def test_an_unusable_file_gives_the_defaults(tmp_path: Path, content: str) -> None:
    path = tmp_path / "assist.json"
    path.write_text(content, encoding="utf-8")
    assert load_assist_settings(path) == AssistSettings()


def test_a_partial_file_keeps_what_it_says(tmp_path: Path) -> None:
    path = tmp_path / "assist.json"
    path.write_text('{"snap_radius_mm": 2}', encoding="utf-8")
    assert load_assist_settings(path) == AssistSettings(True, 2.0)


@pytest.mark.parametrize("radius", [0.0, 0.49, 10.01, float("nan"), float("inf")])
def test_a_radius_out_of_range_is_refused(radius: float) -> None:
    with pytest.raises(ValueError, match=r"snap radius must be 0\.5 to 10 mm"):
        AssistSettings(snap_radius_mm=radius)


def test_an_unwritable_folder_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "missing" / "assist.json"
    save_assist_settings(AssistSettings(False, 2.0), target)
    assert not target.exists()
    assert "could not write" in caplog.text
