"""What the SR, FHIR and PDF exports need from a case's DICOM images, as a protocol.

The exporters never open a DICOM file: the session (``session.case_images.CaseImages``)
scans the case's series once through ``dicomio`` and answers these questions, reading
the header of an image only when an SR references it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dicomio.sr import SourceImage


class CaseSources(Protocol):
    """The source images of one case, as far as the exports need them."""

    @property
    def missing_series(self) -> list[str]:
        """Sentences naming the series whose images were not found."""
        ...

    def image(self, sop_uid: str) -> SourceImage | None:
        """The header of one image (None when it is not among the case's series)."""
        ...

    def first_image(self, series_uid: str) -> SourceImage | None:
        """The header of a series' first image (for landmarks on a reformat: no SOP of their own)."""
        ...

    def study_uid_of(self, series_uids: Sequence[str]) -> str | None:
        """The StudyInstanceUID of the first of ``series_uids`` that was found."""
        ...
