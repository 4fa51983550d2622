"""Find the source DICOM images of a case (headers only) for the SR, FHIR and PDF exports.

The case keeps, per series, the folder or file it came from; the SR must reference the
images the landmarks were placed on, FHIR names the ImagingStudy by StudyInstanceUID and
the PDF draws the key slice.  Reading happens once per case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dicomio.sr import SourceImage, find_source_images

if TYPE_CHECKING:
    from measure.case import Case


@dataclass
class CaseSources:
    """Source image headers of a case, by SOPInstanceUID and by series."""

    by_sop: dict[str, SourceImage] = field(default_factory=dict)
    by_series: dict[str, list[SourceImage]] = field(default_factory=dict)
    missing_series: list[str] = field(default_factory=list)  # sentences

    def study_uid_of(self, series_uids: tuple[str, ...] | list[str]) -> str | None:
        for uid in series_uids:
            for image in self.by_series.get(uid, []):
                return str(image.header.StudyInstanceUID)
        return None


def case_sources(case: Case) -> CaseSources:
    """Read the headers of every series of the case (missing folders are noted, not fatal).

    Each path is read once, however many series live under it (a study folder often holds
    all of them)."""
    sources = CaseSources()
    read: dict[Path, dict[str, SourceImage]] = {}
    for ref in case.series:
        path = case.series_path(ref.series_uid)
        if not path.exists():
            sources.missing_series.append(
                f"the images of series {ref.series_uid} are not at {path} (moved or deleted)"
            )
            continue
        images = read.get(path)
        if images is None:
            images = read[path] = find_source_images([path])
        mine = [im for im in images.values() if str(im.header.get("SeriesInstanceUID", "")) == ref.series_uid]
        if not mine:
            sources.missing_series.append(f"no image of series {ref.series_uid} was found under {path}")
        sources.by_series[ref.series_uid] = mine
        for im in mine:
            sources.by_sop[str(im.header.SOPInstanceUID)] = im
    return sources
