"""PACS nodes, URL forms and the settings file (mode 0600, secrets never printed or logged)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dicomio.pacs.matches import check_date_range
from dicomio.pacs.nodes import DimseNode, LocalAe, WebNode, parse_node_url
from main import main
from measure.userlog import log_path
from session.pacs_settings import PacsSettings, load_settings, resolve_node, save_settings, settings_path

SECRET = "s3cr3t-Pa55"
TOKEN = "tok-0123456789abcdef"


def test_dicom_url_gives_a_dimse_node_retrieving_by_c_get() -> None:
    node = parse_node_url("dicom://ORTHANC@127.0.0.1:4242", LocalAe("ME", 11999))
    assert node == DimseNode("ORTHANC", "127.0.0.1", 4242, LocalAe("ME", 11999), "get")
    moved = parse_node_url("dicom://PACS@pacs.example:104?move")
    assert isinstance(moved, DimseNode) and moved.retrieve == "move" and moved.port == 104


@pytest.mark.parametrize(
    "bad",
    [
        "dicom://127.0.0.1:4242",
        "dicom://AE@host",
        "dicom://AE@host:0",
        "ftp://x",
        "dicom://THIS_AE_IS_TOO_LONG@h:1",
    ],
)
def test_bad_node_urls_are_one_sentence(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_node_url(bad)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


def test_credentials_in_a_url_leave_the_url_and_never_show() -> None:
    node = parse_node_url(f"https://reader:{SECRET}@pacs.example:8443/dicom-web/")
    assert isinstance(node, WebNode)
    assert node.url == "https://pacs.example:8443/dicom-web"
    assert (node.username, node.password) == ("reader", SECRET)
    assert SECRET not in repr(node) and SECRET not in node.describe()
    with pytest.raises(ValueError) as err:
        parse_node_url(f"gopher://reader:{SECRET}@pacs.example/")
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("text", "dicom"),
    [
        ("20240101", "20240101"),
        ("20240101-20241231", "20240101-20241231"),
        ("2024-01-01-2024-12-31", "20240101-20241231"),
        ("-20241231", "-20241231"),
        ("20240101-", "20240101-"),
    ],
)
def test_date_ranges(text: str, dicom: str) -> None:
    assert check_date_range(text) == dicom


@pytest.mark.parametrize("bad", ["2024", "yesterday", "2024010120241231", "-"])
def test_bad_dates(bad: str) -> None:
    with pytest.raises(ValueError, match="not a date or range"):
        check_date_range(bad)


def test_settings_round_trip_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    settings = PacsSettings(
        LocalAe("WORKSTATION", 11200),
        (
            DimseNode("PACS", "pacs.example", 104, LocalAe("WORKSTATION", 11200), "move", 30.0, "main"),
            WebNode("https://web.example/dicom-web", "reader", SECRET, None, 30.0, "web"),
            WebNode("https://token.example/dicom-web", None, None, TOKEN, 30.0, "tok"),
        ),
        tmp_path / "cache",
    )
    save_settings(settings, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path) == settings
    assert SECRET not in repr(load_settings(path)) and TOKEN not in repr(load_settings(path))


def test_a_settings_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    path.write_text(
        json.dumps({"nodes": {"x": {"type": "dimse", "ae_title": "X", "host": "h", "port": 104}}})
    )
    os.chmod(path, 0o644)
    settings = load_settings(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.node("x") == DimseNode("X", "h", 104, LocalAe(), "get", 30.0, "x")


def test_secrets_from_the_environment_and_a_missing_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pacs.json"
    entry = {"type": "dicomweb", "url": "http://h:80/dw", "username": "u", "password_env": "EP_PW"}
    path.write_text(json.dumps({"nodes": {"w": entry}}))
    with pytest.raises(ValueError, match=r"\$EP_PW, which is not set"):
        load_settings(path)
    monkeypatch.setenv("EP_PW", SECRET)
    node = load_settings(path).node("w")
    assert isinstance(node, WebNode) and node.password == SECRET


def test_bad_settings_are_one_sentence_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    path.write_text('{"nodes": {"x": {"type": "dimse", "host": "h", "port": 104}}}')
    with pytest.raises(ValueError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and "ae_title" in str(err.value)


def test_unknown_node_name() -> None:
    with pytest.raises(ValueError, match="no PACS node 'nope'"):
        resolve_node("nope", PacsSettings())


def test_pacs_add_and_nodes_never_print_or_log_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EP_PASSWORD", SECRET)
    assert (
        main(
            [
                "pacs",
                "add",
                "web",
                "http://127.0.0.1:9/dicom-web",
                "--user",
                "reader",
                "--password-env",
                "EP_PASSWORD",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "pacs",
                "add",
                "main",
                "dicom://PACS@127.0.0.1:9",
                "--move",
                "--our-ae",
                "MYWS",
                "--our-port",
                "11500",
            ]
        )
        == 0
    )
    assert stat.S_IMODE(settings_path().stat().st_mode) == 0o600
    text = settings_path().read_text()
    assert SECRET not in text and '"password_env": "EP_PASSWORD"' in text  # the name, not the secret
    saved = load_settings()
    web = saved.node("web")
    assert isinstance(web, WebNode) and web.password == SECRET
    assert saved.node("main") == DimseNode(
        "PACS", "127.0.0.1", 9, LocalAe("MYWS", 11500), "move", 30.0, "main"
    )
    assert main(["pacs", "nodes"]) == 0
    assert main(["pacs", "echo", "web"]) == 1  # port 9: nothing listens
    out = capsys.readouterr()
    assert "main: DIMSE PACS@127.0.0.1:9, retrieve by C-MOVE" in out.out
    assert "web: DICOMweb http://127.0.0.1:9/dicom-web (basic auth)" in out.out
    assert "not reachable" in out.err
    log = log_path().read_text() if log_path().is_file() else ""
    assert SECRET not in out.out + out.err + log


def test_cli_refusals_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["pacs", "echo", "nowhere"]) == 2
    assert main(["pacs", "find", "dicom://A@127.0.0.1:9", "--date", "someday"]) == 2
    assert main(["pacs", "get", "unknown-node", "1.2.3", "--out", str(tmp_path)]) == 2
    assert main(["pacs", "find", "unknown-node"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4
    assert "no PACS node 'nowhere'" in err[0] and "not a date or range" in err[1]
    assert main(["pacs", "add", "x://y", "dicom://A@h:1"]) == 1
    assert main(["pacs", "add", "w", "http://h:1/dw", "--token-env", "EP_UNSET_VARIABLE"]) == 1
    err = capsys.readouterr().err
    assert "node name 'x://y' is not valid" in err and "EP_UNSET_VARIABLE for the token is not set" in err
    with pytest.raises(SystemExit):
        main(["export", "case.json", "--format", "csv", "--send", "pacs"])
    assert "--send sends an SR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "case.json", "--format", "csv"])


def test_a_damaged_settings_file_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    settings_path().write_text("{not json")
    assert main(["pacs", "nodes"]) == 1
    assert main(["pacs", "echo", "x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        all(f"The PACS settings {settings_path()} cannot be read" in line for line in err) and len(err) == 2
    )
