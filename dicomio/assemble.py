"""Turn the images of one series into ordered, checked stacks (:class:`SeriesStack`).

Slices are ordered by their position along the slice normal, never by InstanceNumber or
file name (both are scrambled in real archives).  Everything odd about the spacing
(gaps, duplicates, uneven steps, gantry tilt) becomes a plain-sentence warning that the
user sees next to the series, because each can bias a height or angle measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydicom.uid import UID

from dicomio.geometry import StackGeometry
from dicomio.model import FrameRef, PixelFormat, SeriesStack, WindowPreset
from dicomio.pixel_errors import decoder_problem
from dicomio.sequence import classify_mr
from dicomio.windowing import window_presets

#: A step larger than this times the median step is a gap (missing images).
GAP_FACTOR = 1.5
#: Steps differing from the median by more than this fraction (or 0.05 mm) are uneven.
UNEVEN_TOLERANCE = 0.05
UNEVEN_MIN_MM = 0.05
#: Two images closer than this along the normal sit at the same position.
DUPLICATE_MM = 0.01
#: A stack whose origins drift off the normal by more than this is gantry-tilted.
TILT_WARNING_DEG = 0.5
#: Orientation cosines equal within this are one stack.
_ORIENTATION_DECIMALS = 3


@dataclass
class SeriesInfo:
    """Series-level header values (taken from the first image read of the series)."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str | None
    modality: str
    description: str
    series_number: int | None = None
    study_date: str | None = None
    study_description: str = ""
    patient_id: str = ""
    patient_name: str = ""
    windows: list[WindowPreset] = field(default_factory=list)  # from the file
    attributes: dict[str, Any] = field(default_factory=dict)
    #: Files without SeriesInstanceUID: their :func:`dicomio.grouping.series_key`; the scan
    #: names each acquisition of the key with a generated ``series_uid``.
    series_key: tuple[str, ...] = ()
    generated_series_uid: bool = False
    generated_study_uid: bool = False


@dataclass(frozen=True)
class FrameCandidate:
    """One image found by the scan, with its pixel format, before ordering."""

    frame: FrameRef
    pixel_format: PixelFormat


def _encoding(fmt: PixelFormat) -> tuple[Any, ...]:
    """How pixels are stored; one stack is loaded with one encoding (rescale may vary)."""
    return (
        fmt.transfer_syntax_uid,
        fmt.photometric,
        fmt.bits_allocated,
        fmt.bits_stored,
        fmt.pixel_representation,
        fmt.samples_per_pixel,
        fmt.big_endian,
    )


def _encoding_label(fmt: PixelFormat) -> str:
    name = UID(fmt.transfer_syntax_uid).name or fmt.transfer_syntax_uid
    return f"{name}, {fmt.photometric}, {fmt.bits_stored} bits"


def _stack_key(c: FrameCandidate) -> tuple[Any, ...]:
    g = c.frame.geometry
    orientation = tuple(np.round(g.orientation, _ORIENTATION_DECIMALS).tolist())
    return (orientation, g.rows, g.columns, _encoding(c.pixel_format))


def split_stacks(candidates: Sequence[FrameCandidate]) -> list[list[FrameCandidate]]:
    """Group images by orientation, size and pixel encoding; the largest group comes first."""
    groups: dict[tuple[Any, ...], list[FrameCandidate]] = {}
    for c in candidates:
        groups.setdefault(_stack_key(c), []).append(c)
    return sorted(groups.values(), key=lambda g: -len(g))


def _sort_key(c: FrameCandidate) -> tuple[Any, ...]:
    f = c.frame
    return (
        f.instance_number if f.instance_number is not None else 0,
        str(f.path),
        f.frame_index if f.frame_index is not None else -1,
    )


def order_by_position(
    candidates: Sequence[FrameCandidate], normal: np.ndarray
) -> tuple[list[FrameCandidate], list[FrameCandidate]]:
    """Order by position along ``normal``; return (kept, duplicates dropped).

    At a position shared by several images the one with the lowest InstanceNumber
    (then path, then frame) is kept: deterministic, whatever order the files were read.
    """
    ranked = sorted(
        candidates,
        key=lambda c: (float(np.dot(c.frame.geometry.position_mm, normal)), _sort_key(c)),
    )
    kept: list[FrameCandidate] = []
    dropped: list[FrameCandidate] = []
    last: float | None = None
    for c in ranked:
        along = float(np.dot(c.frame.geometry.position_mm, normal))
        if last is not None and abs(along - last) < DUPLICATE_MM:
            # same position: keep the better-ranked image of the two
            if _sort_key(c) < _sort_key(kept[-1]):
                dropped.append(kept[-1])
                kept[-1] = c
            else:
                dropped.append(c)
            continue
        kept.append(c)
        last = along
    return kept, dropped


def spacing_warnings(offsets_mm: Sequence[float] | np.ndarray) -> list[str]:
    """Sentences about gaps and uneven steps between consecutive slice positions."""
    offsets = np.asarray(offsets_mm, dtype=float)
    if offsets.size < 3:
        return []
    steps = np.diff(offsets)
    median = float(np.median(steps))
    if median <= 0:
        return []
    warnings = []
    gaps = np.flatnonzero(steps > GAP_FACTOR * median)
    if gaps.size:
        where = ", ".join(f"slices {i + 1}-{i + 2} ({steps[i]:.2f} mm)" for i in gaps[:5])
        more = f" and {gaps.size - 5} more" if gaps.size > 5 else ""
        warnings.append(
            f"Slice gap: {gaps.size} step(s) are more than {GAP_FACTOR:g} times the usual "
            f"{median:.2f} mm spacing, between {where}{more}; images may be missing."
        )
    tolerance = max(UNEVEN_MIN_MM, UNEVEN_TOLERANCE * median)
    regular = steps[steps <= GAP_FACTOR * median]
    if regular.size and float(np.max(np.abs(regular - median))) > tolerance:
        warnings.append(
            f"Uneven slice spacing: steps between slices range from {float(regular.min()):.2f} to "
            f"{float(regular.max()):.2f} mm (median {median:.2f} mm); positions are used as they are."
        )
    return warnings


def _names(cands: Sequence[FrameCandidate], limit: int = 3) -> str:
    names = []
    for c in cands[:limit]:
        f = c.frame
        names.append(f.path.name if f.frame_index is None else f"{f.path.name} frame {f.frame_index + 1}")
    more = f" and {len(cands) - limit} more" if len(cands) > limit else ""
    return ", ".join(names) + more


def build_stack(
    info: SeriesInfo,
    candidates: Sequence[FrameCandidate],
    stack_index: int = 0,
    warnings: Sequence[str] = (),
) -> SeriesStack:
    """Order the images of one stack (same orientation and size) and check the spacing."""
    if not candidates:
        raise ValueError(f"series {info.series_uid} has no images to assemble")
    notes = list(warnings)
    normal = candidates[0].frame.geometry.normal
    kept, dropped = order_by_position(candidates, normal)
    if dropped:
        notes.append(
            f"Duplicate positions: {len(dropped)} image(s) repeat the position of another image "
            f"(e.g. several echoes or time points); one image per position was kept, "
            f"ignored: {_names(dropped)}."
        )
    geometry = StackGeometry(tuple(c.frame.geometry for c in kept))
    notes.extend(spacing_warnings(geometry.slice_offsets_mm))
    tilt_deg = geometry.gantry_tilt_deg()
    if tilt_deg > TILT_WARNING_DEG:
        notes.append(
            f"Gantry tilt: the slices are sheared by {tilt_deg:.1f} deg (their origins do not line up "
            "along the slice normal); each image keeps its own position, so measurements stay exact."
        )
    pixel_format = kept[0].pixel_format
    rescales = {(c.pixel_format.rescale_slope, c.pixel_format.rescale_intercept) for c in kept}
    if len(rescales) > 1:
        notes.append(
            f"Rescale slope/intercept differ between images ({len(rescales)} different pairs); "
            "each image's own values are kept with that image."
        )
    frames = [
        replace(
            c.frame,
            rescale_slope=c.pixel_format.rescale_slope,
            rescale_intercept=c.pixel_format.rescale_intercept,
        )
        for c in kept
    ]
    stack = SeriesStack(
        study_uid=info.study_uid,
        series_uid=info.series_uid,
        frame_of_reference_uid=info.frame_of_reference_uid,
        modality=info.modality,
        description=info.description,
        frames=frames,
        geometry=geometry,
        pixel_format=pixel_format,
        stack_index=stack_index,
        series_number=info.series_number,
        study_date=info.study_date,
        study_description=info.study_description,
        patient_id=info.patient_id,
        patient_name=info.patient_name,
        windows=window_presets(info.modality, info.windows),
        warnings=notes,
        attributes=dict(info.attributes),
        generated_series_uid=info.generated_series_uid,
        generated_study_uid=info.generated_study_uid,
    )
    if info.modality.upper() == "MR":
        stack.sequence, stack.sequence_reason = classify_mr(info.attributes)
    problem = decoder_problem(stack)
    if problem:
        stack.warnings.append(f"Pixels cannot be shown: {problem}")
    return stack


def assemble_series(
    info: SeriesInfo, candidates: Sequence[FrameCandidate], warnings: Sequence[str] = ()
) -> list[SeriesStack]:
    """All stacks of one series: split by orientation, size and pixel encoding, each ordered and checked."""
    groups = split_stacks(candidates)
    notes = list(warnings)
    if len(groups) > 1:
        encodings = {_encoding(g[0].pixel_format) for g in groups}
        shapes = {_stack_key(g[0])[:3] for g in groups}
        sizes = ", ".join(
            f"{len(g)} image(s) {g[0].frame.geometry.plane} {g[0].frame.geometry.rows}x"
            f"{g[0].frame.geometry.columns}"
            + (f" {_encoding_label(g[0].pixel_format)}" if len(encodings) > 1 else "")
            for g in groups
        )
        if len(encodings) == 1:
            what = "orientations or image sizes"
        elif len(shapes) == 1:
            what = "pixel encodings"
        else:
            what = "orientations, image sizes or pixel encodings"
        notes.append(f"This series mixes {len(groups)} {what} ({sizes}); it was split into separate stacks.")
    return [build_stack(info, g, stack_index=i, warnings=notes) for i, g in enumerate(groups)]
