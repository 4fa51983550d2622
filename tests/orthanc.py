"""A real Orthanc (with its DICOMweb plugin) on free localhost ports, for the PACS tests.

The server gets a JSON configuration and its storage in a temporary folder, runs as a child
process (never as a system service) and is stopped by the fixture that started it.  Our own
AE title is registered in ``DicomModalities`` so that C-MOVE can reach our Storage SCP.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
import requests

from dicomio.synthetic.demo import DemoManifest, build_demo_set

ORTHANC_BIN = shutil.which("Orthanc") or (
    "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file() else None
)
DICOMWEB_PLUGIN_CANDIDATES = (
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),  # Debian orthanc-dicomweb
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so"),
)
ORTHANC_AE = "ORTHANCTEST"
OUR_AE = "ENDPLATETEST"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dicomweb_plugin() -> Path | None:
    try:
        listed = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, check=False
        )
        for line in listed.stdout.splitlines():
            if "libOrthancDicomWeb.so" in line and Path(line).is_file():
                return Path(line)
    except OSError:
        pass
    return next((p for p in DICOMWEB_PLUGIN_CANDIDATES if p.is_file()), None)


@dataclass
class Orthanc:
    """A running Orthanc: its ports, its REST base URL and its DICOMweb root."""

    folder: Path
    http_port: int
    dicom_port: int
    our_port: int
    process: subprocess.Popen[bytes]

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.rest}/dicom-web"

    @property
    def dimse_url(self) -> str:
        return f"dicom://{ORTHANC_AE}@127.0.0.1:{self.dicom_port}"

    def upload(self, paths: list[Path]) -> list[dict[str, str]]:
        """POST each file to /instances (Orthanc's REST API); returns Orthanc's answers."""
        answers = []
        with requests.Session() as session:
            for path in paths:
                r = session.post(f"{self.rest}/instances", data=path.read_bytes(), timeout=30)
                r.raise_for_status()
                answers.append(r.json())
        return answers

    def get_json(self, path: str) -> object:
        r = requests.get(f"{self.rest}{path}", timeout=30)
        r.raise_for_status()
        return r.json()

    def post_json(self, path: str, body: object) -> object:
        r = requests.post(f"{self.rest}{path}", data=json.dumps(body), timeout=30)
        r.raise_for_status()
        return r.json()

    def instance_ids(self) -> set[str]:
        return set(self.get_json("/instances"))  # type: ignore[arg-type]

    @contextlib.contextmanager
    def keep_contents(self) -> Iterator[set[str]]:
        """Delete, at the end, every instance added inside (a send test leaves the server as it was).

        Yields the instance ids present before.
        """
        before = self.instance_ids()
        try:
            yield before
        finally:
            for orthanc_id in self.instance_ids() - before:
                requests.delete(f"{self.rest}/instances/{orthanc_id}", timeout=30).raise_for_status()

    def restart(self, deadline_s: float = 60.0) -> None:
        """Start the stopped server again with the same configuration, ports and storage."""
        self.stop()
        log = open(self.folder / "orthanc.log", "ab")  # noqa: SIM115 - the child writes it until stopped
        self.process = subprocess.Popen(
            [str(ORTHANC_BIN), str(self.folder / "config.json")], stdout=log, stderr=subprocess.STDOUT
        )
        wait_until_up(self, deadline_s)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def start_orthanc(folder: Path, *, deadline_s: float = 60.0) -> Orthanc:
    """Write the configuration, start Orthanc and wait (polling, bounded) until REST answers."""
    if ORTHANC_BIN is None:
        pytest.skip("the Orthanc binary is absent (install the Debian packages orthanc orthanc-dicomweb)")
    plugin = dicomweb_plugin()
    if plugin is None:
        pytest.skip("the Orthanc DICOMweb plugin is absent (install the Debian package orthanc-dicomweb)")
    folder.mkdir(parents=True, exist_ok=True)
    storage = folder / "storage"
    http_port, dicom_port, our_port = free_port(), free_port(), free_port()
    config = {
        "Name": "endplate-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AE,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageCompression": False,
        "DicomCheckCalledAet": True,
        "DicomCheckModalityHost": False,
        "UnknownSopClassAccepted": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalities": {"endplate": [OUR_AE, "127.0.0.1", our_port]},
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "StudiesMetadata": "Full"},
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - the child writes it until stopped
    process = subprocess.Popen(
        [ORTHANC_BIN, str(folder / "config.json")], stdout=log, stderr=subprocess.STDOUT
    )
    server = Orthanc(folder, http_port, dicom_port, our_port, process)
    wait_until_up(server, deadline_s)
    return server


def wait_until_up(server: Orthanc, deadline_s: float) -> None:
    """Poll the REST API until it answers (bounded by ``deadline_s``)."""
    end = time.monotonic() + deadline_s
    while True:
        if server.process.poll() is not None:
            text = (server.folder / "orthanc.log").read_text(errors="replace")
            raise RuntimeError(f"Orthanc exited at start: {text[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{server.rest}/system", timeout=2).ok:
                return
        if time.monotonic() > end:
            server.stop()
            raise RuntimeError(f"Orthanc did not answer within {deadline_s} s")
        time.sleep(0.1)  # polling interval, not a wait for a result


@dataclass(frozen=True)
class Uploaded:
    """What the server holds, read from the uploaded files by plain pydicom."""

    server: Orthanc
    files: dict[str, list[Path]]  # series UID -> files
    headers: dict[str, pydicom.Dataset]  # series UID -> header of its first file
    ct_series: str
    mr_series: str
    demo: DemoManifest


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploaded]:
    from tests.conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        demo = build_demo_set(tmp_path_factory.mktemp("pacs_demo") / "images", small=True)
        paths = [*sorted((REALDATA / "lidc-idri-0314-ct").glob("*.dcm")), REALDATA / "spine-ls.dcm"]
        for series in demo.series:
            paths.extend(series.files)
        files: dict[str, list[Path]] = {}
        headers: dict[str, pydicom.Dataset] = {}
        for path in paths:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            files.setdefault(str(ds.SeriesInstanceUID), []).append(path)
            headers.setdefault(str(ds.SeriesInstanceUID), ds)
        server.upload(paths)
        ct = str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)
        mr = str(pydicom.dcmread(REALDATA / "spine-ls.dcm", stop_before_pixels=True).SeriesInstanceUID)
        yield Uploaded(server, files, headers, ct, mr, demo)
    finally:
        server.stop()
