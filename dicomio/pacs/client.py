"""One front for DIMSE and DICOMweb nodes: echo, find, retrieve into the cache, send files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dicomio.pacs.cache import SeriesFolder
from dicomio.pacs.errors import PacsError
from dicomio.pacs.matches import StudyMatch, StudyQuery
from dicomio.pacs.nodes import DimseNode, Node, WebNode

Progress = Callable[[int, int | None], None]
Cancel = Callable[[], bool]


def _dimse() -> ModuleType:
    """pynetdicom's side, imported when a DIMSE node is used (not at the app's start)."""
    from dicomio.pacs import dimse

    return dimse


def _web() -> ModuleType:
    """dicomweb-client's side (it pulls in requests), imported when a DICOMweb node is used."""
    from dicomio.pacs import web

    return web


def echo(node: Node) -> float:
    """Echo (C-ECHO or a QIDO-RS ping); returns the round trip in seconds, PacsError otherwise."""
    start = time.perf_counter()
    if isinstance(node, DimseNode):
        _dimse().echo(node)
    else:
        _web().echo(node)
    return time.perf_counter() - start


def find(node: Node, query: StudyQuery) -> list[StudyMatch]:
    return _dimse().find(node, query) if isinstance(node, DimseNode) else _web().find(node, query)


@dataclass(frozen=True)
class RetrievedSeries:
    """A series in the cache: its folder, its files, and whether the cache already had it."""

    series_uid: str
    folder: Path
    files: tuple[Path, ...]
    reused: bool


def retrieve_series(
    node: Node,
    study_uid: str,
    series_uid: str,
    cache_root: Path,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> RetrievedSeries:
    """Retrieve one series into ``cache_root/SERIES_UID/`` (reused when already complete)."""
    folder = SeriesFolder(cache_root, series_uid)
    if folder.is_complete():
        files = tuple(folder.files())
        if progress is not None:
            progress(len(files), len(files))
        return RetrievedSeries(series_uid, folder.path, files, True)
    folder.remove_stale_temps()
    if isinstance(node, WebNode):
        received = _web().get_series(node, study_uid, series_uid, folder, progress, cancel)
    elif node.retrieve == "move":
        received = _dimse().move_series(node, study_uid, series_uid, folder, progress, cancel)
    else:
        received = _dimse().get_series(node, study_uid, series_uid, folder, progress, cancel)
    if not received:
        raise PacsError(f"The PACS node {node.describe()} has no images for the series {series_uid}.")
    folder.mark_complete(received)
    return RetrievedSeries(series_uid, folder.path, tuple(folder.files()), False)


def send_files(
    node: Node,
    paths: list[Path],
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> None:
    """Send DICOM files (an SR, key images) by C-STORE or STOW-RS, with progress and cancel
    between files (:class:`~dicomio.pacs.errors.PacsCancelledError` when cancelled)."""
    if isinstance(node, DimseNode):
        _dimse().store(node, paths, progress, cancel)
    else:
        _web().store(node, paths, progress, cancel)
