"""DIMSE with pynetdicom: C-ECHO, C-FIND (study, series), C-GET, C-MOVE to our SCP, C-STORE.

Every association is bounded by the node's timeout (ACSE, DIMSE and network), and a TCP
connect is tried first so that "nothing listens there" and "no answer" are told apart from
"the node refused our AE title".  Retrieved instances are written by the C-STORE handler
as the bytes that arrived (file meta prepended), atomically, into the series' cache folder.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, build_role, evt, sop_class
from pynetdicom.association import Association

from dicomio.pacs.cache import SeriesFolder
from dicomio.pacs.errors import PacsCancelledError, PacsError
from dicomio.pacs.matches import SeriesMatch, StudyMatch, StudyQuery
from dicomio.pacs.nodes import DimseNode

_log = logging.getLogger("endplate.pacs")
sop: Any = sop_class  # its names are generated at import, unknown to mypy
Progress = Callable[[int, int | None], None]
Cancel = Callable[[], bool]

TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEGLosslessSV1,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]
# The storage classes a spine study holds (C-GET asks for each with the SCP role, times the
# syntax groups below: at most 127 contexts).
STORAGE_CLASSES = [
    sop.CTImageStorage,
    sop.EnhancedCTImageStorage,
    sop.MRImageStorage,
    sop.EnhancedMRImageStorage,
    sop.SecondaryCaptureImageStorage,
    sop.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    sop.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    sop.MultiFrameTrueColorSecondaryCaptureImageStorage,
    sop.Comprehensive3DSRStorage,
    sop.ComprehensiveSRStorage,
    sop.EnhancedSRStorage,
    sop.EncapsulatedPDFStorage,
]
# C-GET: one presentation context per storage class and transfer-syntax group, so that the
# node can send each file in the syntax it is stored in (one syntax is accepted per context;
# a single context would make it transcode, and the bytes would not be the stored ones).
_GET_SYNTAX_GROUPS = [
    [ExplicitVRLittleEndian],
    [ImplicitVRLittleEndian],
    [JPEGLSLossless],
    [JPEGLosslessSV1],
    [JPEG2000Lossless],
    [JPEGBaseline8Bit],
    [RLELossless],
    [JPEG2000],
    [JPEGLSNearLossless, JPEGExtended12Bit, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian],
]
_FIND = sop.StudyRootQueryRetrieveInformationModelFind
_GET = sop.StudyRootQueryRetrieveInformationModelGet
_MOVE = sop.StudyRootQueryRetrieveInformationModelMove


def _ae(node: DimseNode) -> AE:
    ae = AE(ae_title=node.local.ae_title)
    ae.acse_timeout = node.timeout_s
    ae.dimse_timeout = node.timeout_s
    ae.network_timeout = node.timeout_s
    ae.connection_timeout = node.timeout_s
    return ae


def _probe(node: DimseNode) -> None:
    """Fail in one sentence when nothing listens at the node's address or it does not answer."""
    try:
        with socket.create_connection((node.host, node.port), timeout=node.timeout_s):
            pass
    except ConnectionRefusedError:
        raise PacsError(
            f"The PACS node {node.describe()} is not reachable: nothing listens on "
            f"{node.host} port {node.port} (is the server running?)."
        ) from None
    except TimeoutError:
        raise PacsError(
            f"The PACS node {node.describe()} did not answer within {node.timeout_s:g} s."
        ) from None
    except OSError as exc:
        raise PacsError(
            f"The PACS node {node.describe()} is not reachable: {exc.strerror or type(exc).__name__}."
        ) from None


def _associate(ae: AE, node: DimseNode, **kwargs: Any) -> Association:
    _probe(node)
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PacsError(
            f"The PACS node {node.describe()} refused the association: it does not accept our AE "
            f"title {node.local.ae_title!r} or its called AE title is not {node.ae_title!r}."
        )
    raise PacsError(
        f"The PACS node {node.describe()} accepted the connection but did not complete the "
        f"association within {node.timeout_s:g} s."
    )


@contextlib.contextmanager
def _association(ae: AE, node: DimseNode, **kwargs: Any) -> Iterator[Association]:
    assoc = _associate(ae, node, **kwargs)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _status_of(status: Dataset) -> int | None:
    return int(status.Status) if "Status" in status else None


def _lost(node: DimseNode, what: str) -> PacsError:
    return PacsError(
        f"The PACS node {node.describe()} stopped answering during the {what} "
        f"(connection lost or no answer within {node.timeout_s:g} s)."
    )


def echo(node: DimseNode) -> None:
    """C-ECHO; PacsError when it fails."""
    ae = _ae(node)
    ae.add_requested_context(sop.Verification)
    with _association(ae, node) as assoc:
        status = assoc.send_c_echo()
        if _status_of(status) is None:
            raise _lost(node, "echo")
        if _status_of(status) != 0:
            raise PacsError(
                f"The PACS node {node.describe()} answered the echo with status 0x{status.Status:04X}."
            )


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _modalities(ds: Dataset) -> tuple[str, ...]:
    text = _text(ds, "ModalitiesInStudy")
    return tuple(m for m in text.split("\\") if m)


def _find(assoc: Association, node: DimseNode, query: Dataset, limit: int, what: str) -> list[Dataset]:
    found: list[Dataset] = []
    final: int | None = None
    for status, identifier in assoc.send_c_find(query, _FIND):
        code = _status_of(status)
        if code is None:
            raise _lost(node, what)
        if code in (0xFF00, 0xFF01):
            if identifier is not None:
                found.append(identifier)
            if len(found) > limit:
                assoc.abort()
                raise PacsError(
                    f"The PACS node {node.describe()} has more than {limit} matching {what}; "
                    "narrow the query (patient ID, dates, modality)."
                )
            continue
        final = code
    if final not in (0x0000, None):
        raise PacsError(f"The PACS node {node.describe()} failed the {what} query (status 0x{final:04X}).")
    return found


def study_query_dataset(query: StudyQuery) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = query.study_uid
    ds.PatientID = query.patient_id
    ds.PatientName = query.patient_name
    ds.StudyDate = query.date_range
    ds.ModalitiesInStudy = query.modality
    ds.AccessionNumber = query.accession_number
    ds.StudyDescription = query.study_description
    ds.NumberOfStudyRelatedInstances = ""
    return ds


def find(node: DimseNode, query: StudyQuery) -> list[StudyMatch]:
    """C-FIND the studies, then the series of each; sorted by date then UID."""
    ae = _ae(node)
    ae.add_requested_context(_FIND)
    studies: list[StudyMatch] = []
    with _association(ae, node) as assoc:
        for ident in _find(assoc, node, study_query_dataset(query), query.max_studies, "studies"):
            study_uid = _text(ident, "StudyInstanceUID")
            q = Dataset()
            q.QueryRetrieveLevel = "SERIES"
            q.StudyInstanceUID = study_uid
            q.SeriesInstanceUID = ""
            q.Modality = ""
            q.SeriesDescription = ""
            q.SeriesNumber = ""
            q.NumberOfSeriesRelatedInstances = ""
            series = [
                SeriesMatch(
                    _text(s, "SeriesInstanceUID"),
                    _text(s, "Modality"),
                    _text(s, "SeriesDescription"),
                    _int(s, "NumberOfSeriesRelatedInstances"),
                    _int(s, "SeriesNumber"),
                )
                for s in _find(assoc, node, q, 10_000, "series")
            ]
            series.sort(key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid))
            studies.append(
                StudyMatch(
                    study_uid,
                    _text(ident, "PatientID"),
                    _text(ident, "PatientName"),
                    _text(ident, "StudyDate"),
                    _modalities(ident) or tuple(sorted({s.modality for s in series if s.modality})),
                    _text(ident, "StudyDescription"),
                    _text(ident, "AccessionNumber"),
                    _int(ident, "NumberOfStudyRelatedInstances"),
                    tuple(series),
                )
            )
    studies.sort(key=lambda s: (s.study_date, s.study_uid))
    return studies


class _Receiver:
    """The C-STORE handler of a retrieve: writes each instance into the series folder."""

    def __init__(self, folder: SeriesFolder, progress: Progress | None) -> None:
        self.folder = folder
        self.progress = progress
        self.received: list[str] = []
        self.rejected = 0  # instances whose bytes are not a readable data set of that UID
        self.total: int | None = None
        self.lock = threading.Lock()

    def handle(self, event: evt.Event) -> int:
        sop_uid = str(getattr(event.request, "AffectedSOPInstanceUID", ""))
        data = event.encoded_dataset(include_meta=True)
        try:  # a non-DICOM payload never reaches the cache
            header = dcmread(io.BytesIO(data), stop_before_pixels=True)
            valid = str(header.get("SOPInstanceUID", "")) == sop_uid
        except Exception:  # any decoding failure of foreign bytes
            valid = False
        if not valid:
            with self.lock:
                self.rejected += 1
            return 0xC210  # cannot understand
        try:
            self.folder.write(sop_uid, data)
        except OSError:
            _log.exception("pacs: could not write %s", sop_uid)
            return 0xA700  # out of resources: the sender counts it as failed
        with self.lock:
            self.received.append(sop_uid)
            n = len(self.received)
        if self.progress is not None:
            self.progress(n, self.total)
        return 0x0000


def _retrieve_dataset(study_uid: str, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    return ds


def _drive(
    responses: Iterable[tuple[Dataset, Dataset | None]],
    assoc: Association,
    node: DimseNode,
    receiver: _Receiver,
    cancel: Cancel | None,
    what: str,
) -> None:
    """Follow a C-GET/C-MOVE's responses: totals for progress, cancel, the final status."""
    final: Dataset | None = None
    for status, _ident in responses:
        code = _status_of(status)
        if code is None:
            final = None
            break
        if code == 0xFF00:
            done = sum(int(status.get(k) or 0) for k in _COUNTS)
            receiver.total = done + int(status.get("NumberOfRemainingSuboperations") or 0)
        else:
            final = status
        if cancel is not None and cancel():
            assoc.abort()
            raise PacsCancelledError(
                f"The retrieve was cancelled after {len(receiver.received)} images; they are kept in "
                f"{receiver.folder.path}."
            )
    if receiver.rejected:
        raise PacsError(
            f"The PACS node {node.describe()} sent {receiver.rejected} images by {what} that are not valid "
            f"DICOM; they were not kept ({len(receiver.received)} valid images are kept)."
        )
    if final is None:
        raise PacsError(
            f"The PACS node {node.describe()} stopped during the {what} after {len(receiver.received)} "
            f"images (connection lost or no answer within {node.timeout_s:g} s); the images received are "
            "kept and a new retrieve completes the series."
        )
    code = int(final.Status)
    failed = int(final.get("NumberOfFailedSuboperations") or 0)
    if code not in (0x0000, 0xB000) or failed:
        raise PacsError(
            f"The PACS node {node.describe()} could not send the whole series by {what} "
            f"(status 0x{code:04X}, {failed} images failed, {len(receiver.received)} received and kept)."
        )


_COUNTS = ("NumberOfCompletedSuboperations", "NumberOfFailedSuboperations", "NumberOfWarningSuboperations")


def get_series(
    node: DimseNode,
    study_uid: str,
    series_uid: str,
    folder: SeriesFolder,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> list[str]:
    """C-GET one series into ``folder``; returns the SOP Instance UIDs received."""
    ae = _ae(node)
    ae.add_requested_context(_GET)
    for cls in STORAGE_CLASSES:
        for group in _GET_SYNTAX_GROUPS:
            ae.add_requested_context(cls, group)
    roles = [build_role(cls, scp_role=True) for cls in STORAGE_CLASSES]
    receiver = _Receiver(folder, progress)
    handlers = [(evt.EVT_C_STORE, receiver.handle)]
    with _association(ae, node, ext_neg=roles, evt_handlers=handlers) as assoc:
        responses = assoc.send_c_get(_retrieve_dataset(study_uid, series_uid), _GET)
        _drive(responses, assoc, node, receiver, cancel, "C-GET")
    return receiver.received


def move_series(
    node: DimseNode,
    study_uid: str,
    series_uid: str,
    folder: SeriesFolder,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> list[str]:
    """C-MOVE one series to our own Storage SCP (our AE title and port) into ``folder``."""
    receiver = _Receiver(folder, progress)
    scp = AE(ae_title=node.local.ae_title)
    scp.network_timeout = node.timeout_s
    scp.acse_timeout = node.timeout_s
    scp.dimse_timeout = node.timeout_s
    for cls in STORAGE_CLASSES:
        scp.add_supported_context(cls, TRANSFER_SYNTAXES)
    try:
        server = scp.start_server(
            ("", node.local.port), block=False, evt_handlers=[(evt.EVT_C_STORE, receiver.handle)]
        )
    except OSError as exc:
        raise PacsError(
            f"Our Storage SCP could not listen on port {node.local.port} for the C-MOVE "
            f"({exc.strerror or exc}); choose another port in the PACS settings."
        ) from None
    assert server is not None
    try:
        ae = _ae(node)
        ae.add_requested_context(_MOVE)
        with _association(ae, node) as assoc:
            responses = assoc.send_c_move(
                _retrieve_dataset(study_uid, series_uid), node.local.ae_title, _MOVE
            )
            try:
                _drive(responses, assoc, node, receiver, cancel, "C-MOVE")
            except PacsCancelledError:
                raise
            except PacsError as exc:
                if not receiver.received and "status 0x" in str(exc):
                    # 0xA801 (unknown destination), or 0xC000 from servers that say less
                    raise PacsError(
                        f"The PACS node {node.describe()} sent nothing by C-MOVE ({str(exc).split('(')[-1]} "
                        f"does it know our AE title {node.local.ae_title!r} at port {node.local.port}? "
                        "Register it there or retrieve by C-GET."
                    ) from None
                raise
    finally:
        server.shutdown()
    return receiver.received


def store(
    node: DimseNode,
    paths: list[Path],
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> None:
    """C-STORE the files ``paths`` (each as written: its SOP class and transfer syntax);
    ``progress(sent, total)`` after each, ``cancel()`` asked before each (the files sent so
    far stay on the node: a C-STORE cannot be taken back)."""
    datasets: list[Dataset] = []
    for path in paths:
        try:
            datasets.append(dcmread(path))
        except (OSError, InvalidDicomError) as exc:
            raise PacsError(
                f"The file {path} cannot be sent: it is not a readable DICOM file ({exc})."
            ) from None
    ae = _ae(node)
    for cls, ts in sorted({(str(d.SOPClassUID), str(d.file_meta.TransferSyntaxUID)) for d in datasets}):
        ae.add_requested_context(cls, [ts, ExplicitVRLittleEndian])
    with _association(ae, node) as assoc:
        for i, (path, ds) in enumerate(zip(paths, datasets, strict=True)):
            if cancel is not None and cancel():
                raise PacsCancelledError(f"Sending was cancelled after {i} of {len(paths)} files.")
            status = assoc.send_c_store(ds)
            code = _status_of(status)
            if code is None:
                raise _lost(node, f"C-STORE of {path.name}")
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                raise PacsError(
                    f"The PACS node {node.describe()} refused {path.name} (C-STORE status 0x{code:04X})."
                )
            if progress is not None:
                progress(i + 1, len(paths))
