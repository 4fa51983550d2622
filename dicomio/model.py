"""Plain data that a folder scan produces: frames, stacks (series), skipped files.

These are the types the rest of Endplate sees; how they are filled lives in
``dicomio.scan`` and ``dicomio.headers`` (headers), ``dicomio.assemble`` (ordering,
checks) and ``dicomio.pixels`` (lazy pixel loading).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dicomio.geometry import ImageGeometry, Plane, ScreenDirection, StackGeometry

SequenceClass = Literal["STIR", "T1", "T2", "T2FS", "other"]

SKIP_REASONS = (
    "not DICOM",
    "truncated",
    "no pixel data",
    "DICOMDIR",
    "unsupported SOP class",
    "unreadable",
    "missing geometry",
    "unsupported pixel format",
)


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not used, and why, in a sentence a user understands."""

    path: Path
    reason: str  # starts with one of SKIP_REASONS, may add detail after ": "

    def as_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class FrameRef:
    """One 2-D image: a single-frame file, or one frame of a multi-frame object."""

    path: Path
    sop_instance_uid: str
    geometry: ImageGeometry
    frame_index: int | None = None  # 0-based frame number in a multi-frame file, else None
    instance_number: int | None = None
    #: Byte offset and length of native (uncompressed) pixel data for this frame, when
    #: known from the header scan: lets the loader read straight into the volume.
    pixel_offset: int | None = None
    pixel_nbytes: int | None = None
    #: This image's own rescale (a series may vary it per image, e.g. some Philips MR);
    #: None means "use the stack's PixelFormat".
    rescale_slope: float | None = None
    rescale_intercept: float | None = None


@dataclass(frozen=True)
class PixelFormat:
    """How stored values become the displayed/measured values."""

    bits_allocated: int
    bits_stored: int
    pixel_representation: int  # 0 unsigned, 1 signed
    photometric: str  # MONOCHROME1, MONOCHROME2, ...
    samples_per_pixel: int
    transfer_syntax_uid: str
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    big_endian: bool = False


@dataclass(frozen=True)
class WindowPreset:
    name: str
    center: float
    width: float


@dataclass
class SeriesStack:
    """An ordered stack of parallel images of one series, with exact geometry.

    One DICOM series may give several stacks (different orientation or size);
    ``stack_index`` tells them apart.  ``frames[k]`` is slice ``k`` of ``geometry``.
    """

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str | None
    modality: str
    description: str
    frames: list[FrameRef]
    geometry: StackGeometry
    pixel_format: PixelFormat
    stack_index: int = 0
    series_number: int | None = None
    study_date: str | None = None
    study_description: str = ""
    patient_id: str = ""
    patient_name: str = ""
    sequence: SequenceClass | None = None  # MR only
    sequence_reason: str = ""
    windows: list[WindowPreset] = field(default_factory=list)  # from the file first, then presets
    warnings: list[str] = field(default_factory=list)
    #: Header values kept for classification/export (SeriesDescription, InversionTime ...).
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return len(self.frames)

    @property
    def plane(self) -> Plane:
        return self.geometry.first.plane

    @property
    def anterior(self) -> ScreenDirection | None:
        return self.geometry.first.anterior

    @property
    def superior(self) -> ScreenDirection | None:
        return self.geometry.first.superior

    @property
    def key(self) -> str:
        """Unique key of this stack: series UID plus stack index when split."""
        return self.series_uid if self.stack_index == 0 else f"{self.series_uid}#{self.stack_index}"


@dataclass
class Study:
    study_uid: str
    date: str | None
    description: str
    patient_id: str
    stacks: list[SeriesStack] = field(default_factory=list)


@dataclass
class ScanResult:
    """Everything a folder scan found: usable stacks and every file not used."""

    stacks: list[SeriesStack] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def studies(self) -> list[Study]:
        by_uid: dict[str, Study] = {}
        for s in self.stacks:
            study = by_uid.get(s.study_uid)
            if study is None:
                study = by_uid[s.study_uid] = Study(
                    s.study_uid, s.study_date, s.study_description, s.patient_id
                )
            study.stacks.append(s)
        return list(by_uid.values())

    def stack(self, series_uid: str) -> SeriesStack:
        """The first stack of a series (raises KeyError with the UID when absent)."""
        for s in self.stacks:
            if s.series_uid == series_uid or s.key == series_uid:
                return s
        raise KeyError(f"no series with UID {series_uid} in this scan")
