"""Failures give one sentence in bounded time and keep the cache intact: a node that is down,
refuses our AE, never answers, stops mid-transfer, sends a non-DICOM payload, or has more
matches than we take.  Every server here is real (Orthanc, or a socket / HTTP server on
localhost that behaves badly on purpose)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from dicomio.pacs import client
from dicomio.pacs.errors import PacsError
from dicomio.pacs.matches import StudyQuery
from dicomio.pacs.nodes import DimseNode, LocalAe, WebNode, parse_node_url
from main import main
from tests.conftest import REALDATA
from tests.orthanc import OUR_AE, Orthanc, Uploaded, free_port, start_orthanc


def _one_sentence(err: PacsError) -> str:
    text = str(err)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("url", ["dicom://ANY@127.0.0.1:{port}", "http://127.0.0.1:{port}/dicom-web"])
def test_a_closed_port_is_one_sentence_at_once(url: str) -> None:
    node = parse_node_url(url.format(port=free_port()))
    start = time.monotonic()
    with pytest.raises(PacsError) as err:
        client.find(node, StudyQuery())
    assert time.monotonic() - start < 5
    assert "not reachable" in _one_sentence(err.value)


def test_a_wrong_called_ae_title_is_refused(orthanc: Uploaded) -> None:
    node = parse_node_url(f"dicom://WRONGAE@127.0.0.1:{orthanc.server.dicom_port}")
    with pytest.raises(PacsError) as err:
        client.echo(node)
    assert "refused the association" in _one_sentence(err.value) and "'WRONGAE'" in str(err.value)


def test_c_move_to_an_ae_the_node_does_not_know(orthanc: Uploaded, tmp_path: Path) -> None:
    node = parse_node_url(f"{orthanc.server.dimse_url}?move", LocalAe("STRANGER", free_port()))
    header = orthanc.headers[orthanc.mr_series]
    with pytest.raises(PacsError) as err:
        client.retrieve_series(node, str(header.StudyInstanceUID), orthanc.mr_series, tmp_path)
    assert "does it know our AE title 'STRANGER'" in _one_sentence(err.value)
    assert not list(tmp_path.rglob("*.dcm"))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (a hung node)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join(5)
    for c in held:
        c.close()
    sock.close()


def test_a_node_that_never_answers_times_out(silent_server: int) -> None:
    node = replace(parse_node_url(f"dicom://HUNG@127.0.0.1:{silent_server}"), timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(PacsError) as err:
        client.echo(node)
    assert time.monotonic() - start < 6
    assert "within 1 s" in _one_sentence(err.value)
    web = replace(parse_node_url(f"http://127.0.0.1:{silent_server}/dicom-web"), timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(PacsError) as err:
        client.echo(web)
    assert time.monotonic() - start < 6
    assert "did not answer" in _one_sentence(err.value) or "not reachable" in str(err.value)


class _Junk(http.server.BaseHTTPRequestHandler):
    """A web server that answers every DICOMweb request with something that is not DICOM."""

    def do_GET(self) -> None:
        if "/instances" in self.path and "/series/" in self.path and self.path.count("/") <= 8:
            body = b'[{"00080018": {"vr": "UI", "Value": ["1.2.3.4"]}}]'  # QIDO: one instance
            ctype = "application/dicom+json"
        elif "/series/" in self.path:  # WADO: a multipart answer whose part is not DICOM
            body = b"--b\r\nContent-Type: application/dicom\r\n\r\n<html>not dicom</html>\r\n--b--\r\n"
            ctype = 'multipart/related; type="application/dicom"; boundary=b'
        else:
            body = b"<html><body>Welcome to the intranet</body></html>"
            ctype = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def junk_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Junk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_non_dicom_payload_is_one_sentence_and_nothing_is_cached(junk_server: str, tmp_path: Path) -> None:
    node = parse_node_url(junk_server)
    assert isinstance(node, WebNode)
    with pytest.raises(PacsError) as err:
        client.find(node, StudyQuery())
    assert "not valid DICOM" in _one_sentence(err.value)
    with pytest.raises(PacsError) as err:
        client.retrieve_series(node, "1.2.3", "1.2.3.9", tmp_path)
    assert "not valid DICOM" in _one_sentence(err.value)
    assert not list(tmp_path.rglob("*.dcm")) and not list(tmp_path.rglob(".*.tmp"))


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_more_matches_than_we_take(orthanc: Uploaded, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = orthanc.server.dimse_url if kind == "dimse" else orthanc.server.dicomweb
    n_studies = len({str(h.StudyInstanceUID) for h in orthanc.headers.values()})
    assert n_studies >= 3
    start = time.monotonic()
    assert main(["pacs", "find", url, "--max-studies", str(n_studies - 1)]) == 1
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err
    assert f"more than {n_studies - 1} matching studies" in err and err.count("\n") == 1
    assert main(["pacs", "find", url, "--max-studies", str(n_studies), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == n_studies


@pytest.fixture
def own_orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """An Orthanc of this test alone (it is stopped in the middle of a transfer)."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    server = start_orthanc(tmp_path / "orthanc")
    try:
        server.upload(sorted((REALDATA / "lidc-idri-0314-ct").glob("*.dcm")))
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["c-get", "wado-rs"])
def test_a_server_stopped_mid_transfer_keeps_whole_files_and_a_restart_completes(
    own_orthanc: Orthanc, how: str, tmp_path: Path
) -> None:
    files = sorted((REALDATA / "lidc-idri-0314-ct").glob("*.dcm"))
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    study, series = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
    node: DimseNode | WebNode
    if how == "c-get":
        dimse = parse_node_url(own_orthanc.dimse_url, LocalAe(OUR_AE, own_orthanc.our_port))
        assert isinstance(dimse, DimseNode)
        node = replace(dimse, timeout_s=5.0)
    else:
        web = parse_node_url(own_orthanc.dicomweb)
        assert isinstance(web, WebNode)
        node = replace(web, timeout_s=5.0)
    cache = tmp_path / "cache"

    def stop_at_30(done: int, _total: int | None) -> None:
        if done == 30:
            own_orthanc.process.kill()  # the server dies, as a crashed PACS would

    start = time.monotonic()
    with pytest.raises(PacsError) as err:
        client.retrieve_series(node, study, series, cache, stop_at_30)
    assert time.monotonic() - start < 30
    text = _one_sentence(err.value)
    assert "kept" in text or "not reachable" in text or "stopped" in text
    kept = sorted((cache / series).glob("*.dcm"))
    assert 30 <= len(kept) < 275
    for path in kept:
        assert pydicom.dcmread(path).PixelData  # every file kept is a whole instance
    assert not list((cache / series).glob(".*.tmp"))

    own_orthanc.restart()
    got = client.retrieve_series(node, study, series, cache)
    sops = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
    assert {p.stem for p in got.files} == sops and len(got.files) == 275
