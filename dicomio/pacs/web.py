"""DICOMweb with dicomweb-client: QIDO-RS (echo, find), WADO-RS (retrieve), STOW-RS (send).

Credentials go into the ``requests`` session (basic auth or an ``Authorization: Bearer``
header), never into a URL or a message; every request is bounded by the node's timeout.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from dicomweb_client import DICOMwebClient
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicomio.pacs.cache import SeriesFolder
from dicomio.pacs.errors import PacsCancelledError, PacsError
from dicomio.pacs.matches import SeriesMatch, StudyMatch, StudyQuery
from dicomio.pacs.nodes import WebNode

_log = logging.getLogger("endplate.pacs")
Progress = Callable[[int, int | None], None]
# Ask for the instances in the transfer syntax they are stored in (no transcoding).
_AS_STORED: tuple[tuple[str, str], ...] = (("application/dicom", "*"),)
Cancel = Callable[[], bool]


def _session(node: WebNode) -> requests.Session:
    session = requests.Session()
    if node.token:
        session.headers["Authorization"] = f"Bearer {node.token}"
    elif node.username is not None:
        session.auth = (node.username, node.password or "")
    return session


def _search_studies(
    node: WebNode, session: requests.Session, filters: dict[str, str], fields: list[str], limit: int
) -> list[dict[str, Any]]:
    """QIDO-RS ``/studies``, with DICOM wildcards (``*``, ``?``) left unescaped in the URL.

    dicomweb-client percent-encodes ``*``, and Orthanc 1.10's plugin does not decode query
    values, so ``DOE*`` would be matched literally and find nothing.  For the same reason a
    character that must be encoded (a space, ``&``, ``#``...) is sent as the one-character
    wildcard ``?``: ``CT SPINE`` is asked as ``CT?SPINE`` (it may also match ``CT-SPINE``).
    """
    params = [*((k, _unencoded(v)) for k, v in filters.items()), *(("includefield", f) for f in fields)]
    params.append(("limit", str(limit)))
    query = "&".join(f"{quote(k)}={quote(v, safe='*?^')}" for k, v in params)
    response = session.get(
        f"{node.url}/studies?{query}", headers={"Accept": "application/dicom+json"}, timeout=node.timeout_s
    )
    response.raise_for_status()
    if response.status_code == 204 or not response.content:
        return []
    data = response.json()
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError("QIDO-RS answer is not a list of DICOM JSON objects")
    return data


def _unencoded(value: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "*?^.-_") else "?" for c in value)


def _client(node: WebNode, session: requests.Session | None = None) -> DICOMwebClient:
    client = DICOMwebClient(node.url, session=session or _session(node), timeout=node.timeout_s)
    client.set_http_retry_params(retry=False)  # retries with back-off would exceed the timeout
    return client


@contextmanager
def _errors(node: WebNode, what: str) -> Iterator[None]:
    """Turn every failure of a request into one sentence without the exception's text (it may hold a URL)."""
    try:
        yield
    except PacsError:
        raise
    except requests.exceptions.ConnectionError:
        raise PacsError(
            f"The DICOMweb node {node.describe()} is not reachable during the {what} "
            "(nothing answers at that address, or the connection was lost)."
        ) from None
    except requests.exceptions.Timeout:
        raise PacsError(
            f"The DICOMweb node {node.describe()} did not answer the {what} within {node.timeout_s:g} s."
        ) from None
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        if code in (401, 403):
            raise PacsError(
                f"The DICOMweb node {node.describe()} refused the {what} (HTTP {code}): "
                "check the user name and password or token in the PACS settings."
            ) from None
        raise PacsError(f"The DICOMweb node {node.describe()} failed the {what} (HTTP {code}).") from None
    except (InvalidDicomError, ValueError, KeyError, TypeError, AttributeError, EOFError) as exc:
        _log.info("pacs: %s on %s: %s", what, node.describe(), type(exc).__name__)
        raise PacsError(
            f"The DICOMweb node {node.describe()} answered the {what} with something that is not "
            "valid DICOM (or DICOM JSON)."
        ) from None


def echo(node: WebNode) -> None:
    """A QIDO-RS ping: search for at most one study."""
    with _errors(node, "echo (QIDO-RS)"):
        _client(node).search_for_studies(limit=1)


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or []
    return values if len(values) != 1 else values[0]


def _str(item: dict[str, Any], tag: str) -> str:
    value = _value(item, tag)
    if isinstance(value, dict):  # PersonName: {"Alphabetic": "..."}
        return str(value.get("Alphabetic", ""))
    if isinstance(value, list):
        return "\\".join(str(v.get("Alphabetic", "") if isinstance(v, dict) else v) for v in value)
    return str(value).strip()


def _int(item: dict[str, Any], tag: str) -> int | None:
    value = _value(item, tag)
    try:
        return int(value) if value not in ([], "", None) else None
    except (TypeError, ValueError):
        return None


def find(node: WebNode, query: StudyQuery) -> list[StudyMatch]:
    """QIDO-RS studies then series; more than ``max_studies`` matches is an error."""
    filters = {
        "PatientID": query.patient_id,
        "PatientName": query.patient_name,
        "StudyDate": query.date_range,
        "ModalitiesInStudy": query.modality,
        "AccessionNumber": query.accession_number,
        "StudyDescription": query.study_description,
        "StudyInstanceUID": query.study_uid,
    }
    filters = {k: v for k, v in filters.items() if v}
    session = _session(node)
    client = _client(node, session)
    studies: list[StudyMatch] = []
    with _errors(node, "study query (QIDO-RS)"):
        items = _search_studies(
            node,
            session,
            filters,
            ["NumberOfStudyRelatedInstances", "ModalitiesInStudy", "StudyDescription"],
            query.max_studies + 1,
        )
        if len(items) > query.max_studies:
            raise PacsError(
                f"The DICOMweb node {node.describe()} has more than {query.max_studies} matching studies; "
                "narrow the query (patient ID, dates, modality)."
            )
        for item in items:
            study_uid = _str(item, "0020000D")
            series = [
                SeriesMatch(
                    _str(s, "0020000E"),
                    _str(s, "00080060"),
                    _str(s, "0008103E"),
                    _int(s, "00201209"),
                    _int(s, "00200011"),
                )
                for s in client.search_for_series(
                    study_instance_uid=study_uid,
                    fields=["NumberOfSeriesRelatedInstances", "SeriesDescription", "SeriesNumber"],
                )
            ]
            series.sort(key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid))
            modalities = _value(item, "00080061")
            mods = (
                tuple(modalities)
                if isinstance(modalities, list)
                else (str(modalities),)
                if modalities
                else ()
            )
            studies.append(
                StudyMatch(
                    study_uid,
                    _str(item, "00100020"),
                    _str(item, "00100010"),
                    _str(item, "00080020"),
                    mods or tuple(sorted({s.modality for s in series if s.modality})),
                    _str(item, "00081030"),
                    _str(item, "00080050"),
                    _int(item, "00201208"),
                    tuple(series),
                )
            )
    studies.sort(key=lambda s: (s.study_date, s.study_uid))
    return studies


def _file_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def get_series(
    node: WebNode,
    study_uid: str,
    series_uid: str,
    folder: SeriesFolder,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> list[str]:
    """WADO-RS one series, instance by instance (those already in the cache are not fetched)."""
    client = _client(node)
    received: list[str] = []
    with _errors(node, "retrieve (WADO-RS)"):
        instances = client.search_for_instances(
            study_instance_uid=study_uid, series_instance_uid=series_uid, fields=["SOPInstanceUID"]
        )
        sop_uids = [_str(i, "00080018") for i in instances]
        total = len(sop_uids)
        missing = [uid for uid in sop_uids if not folder.has(uid)]
        received = [uid for uid in sop_uids if folder.has(uid)]
        if len(missing) * 2 > total:  # mostly missing: the whole series in one multipart answer
            parts: Iterator[Dataset] = client.iter_series(study_uid, series_uid, media_types=_AS_STORED)
        else:  # a retrieve interrupted late: only the missing instances
            parts = (
                client.retrieve_instance(study_uid, series_uid, uid, media_types=_AS_STORED)
                for uid in missing
            )
        wanted = set(missing)
        for ds in parts:
            sop_uid = str(ds.get("SOPInstanceUID", ""))
            if sop_uid not in wanted:
                if sop_uid in sop_uids:  # already in the cache from an earlier retrieve
                    continue
                raise ValueError("an instance that was not asked for")
            wanted.discard(sop_uid)
            folder.write(sop_uid, _file_bytes(ds))
            received.append(sop_uid)
            if progress is not None:
                progress(len(received), total)
            if cancel is not None and cancel() and len(received) < total:
                raise PacsCancelledError(
                    f"The retrieve was cancelled after {len(received)} of {total} images; "
                    f"they are kept in {folder.path}."
                )
        if len(received) < total:
            raise PacsError(
                f"The DICOMweb node {node.describe()} sent {len(received)} of the {total} images of the "
                "series; the images received are kept and a new retrieve completes the series."
            )
    return received


def store(
    node: WebNode,
    paths: list[Path],
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> None:
    """STOW-RS the files ``paths``, one request per file so that ``progress(sent, total)`` is
    told after each and ``cancel()`` asked before each; a refused instance is an error
    naming its file."""
    datasets = []
    for path in paths:
        try:
            datasets.append(dcmread(path))
        except (OSError, InvalidDicomError) as exc:
            raise PacsError(
                f"The file {path} cannot be sent: it is not a readable DICOM file ({exc})."
            ) from None
    with _errors(node, "send (STOW-RS)"):
        web_client = _client(node)
        for i, (path, ds) in enumerate(zip(paths, datasets, strict=True)):
            if cancel is not None and cancel():
                raise PacsCancelledError(f"Sending was cancelled after {i} of {len(paths)} files.")
            response = web_client.store_instances([ds])
            if response.get("FailedSOPSequence"):
                raise PacsError(f"The DICOMweb node {node.describe()} refused {path.name} (STOW-RS).")
            if progress is not None:
                progress(i + 1, len(paths))
