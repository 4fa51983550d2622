"""One Orthanc for the PACS tests, loaded with the real CT, the real MR and a synthetic series."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from dicomio.synthetic.demo import DemoManifest, build_demo_set
from tests.conftest import REALDATA
from tests.orthanc import Orthanc, start_orthanc


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
