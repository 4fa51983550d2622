"""Window (contrast) presets: the file's own windows first, then modality presets.

The file's WindowCenter/WindowWidth are what the technologist chose, so they come
first; CT then gets bone and soft-tissue presets (bone first: this is a spine tool);
MR has no absolute units, so its preset is computed from the pixels by
:func:`auto_window` once they are loaded.  :func:`display_presets` is the list a viewer
offers; :func:`window_to_uint8` turns a window into grey values, the same ones the
screen shows, for images written outside the viewer (a report's key image).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.model import SeriesStack, WindowPreset

CT_BONE = WindowPreset("CT bone", 400.0, 1800.0)
CT_SOFT_TISSUE = WindowPreset("CT soft tissue", 40.0, 400.0)

#: Percentiles of non-background voxels used by :func:`auto_window`.
AUTO_LOW_PERCENTILE = 1.0
AUTO_HIGH_PERCENTILE = 99.5
#: Voxels below this fraction of the way from the minimum to the 99.5th percentile
#: count as background (air / noise outside the body) for :func:`auto_window`.
AUTO_BACKGROUND_FRACTION = 0.05
_AUTO_MAX_SAMPLES = 2_000_000
#: Narrowest window shown (a width at or below 0 is shown as this, as the viewer does).
MIN_WINDOW_WIDTH = 1e-6


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def file_windows(
    centers: Any, widths: Any, explanations: Any = None, *, source: str = "file"
) -> list[WindowPreset]:
    """Presets from (possibly multi-valued) WindowCenter / WindowWidth values.

    Pairs with a non-positive or unparsable width are dropped: a window the viewer
    cannot display is no preset.
    """
    c_list, w_list, e_list = _as_list(centers), _as_list(widths), _as_list(explanations)
    presets = []
    for i, (c, w) in enumerate(zip(c_list, w_list, strict=False)):
        try:
            center, width = float(c), float(w)
        except (TypeError, ValueError):
            continue
        if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
            continue
        label = str(e_list[i]).strip() if i < len(e_list) and str(e_list[i]).strip() else ""
        name = f"{source}: {label}" if label else (source if len(c_list) == 1 else f"{source} {i + 1}")
        presets.append(WindowPreset(name, center, width))
    return presets


def modality_presets(modality: str) -> list[WindowPreset]:
    """Fixed presets for a modality (none for MR: see :func:`auto_window`)."""
    if modality.upper() == "CT":
        return [CT_BONE, CT_SOFT_TISSUE]
    return []


def window_presets(modality: str, from_file: Sequence[WindowPreset]) -> list[WindowPreset]:
    """The file's windows first, then the modality presets."""
    return [*from_file, *modality_presets(modality)]


def _strided_sample(volume: NDArray[Any]) -> NDArray[np.float64]:
    """Every n-th voxel (row-major order) as float64, at most :data:`_AUTO_MAX_SAMPLES` of them.

    The stride is taken on the flat view before converting, so a 600-slice CT costs a
    2 M-voxel float64 copy, not a float64 copy of the whole volume (4.5 s and +2.9 GiB).
    """
    flat = volume.reshape(-1)  # a view for a contiguous volume (every loaded one)
    step = max(1, int(np.ceil(flat.size / _AUTO_MAX_SAMPLES)))
    return np.asarray(flat[::step], dtype=np.float64)


def auto_window(volume: ArrayLike) -> WindowPreset:
    """A window from robust percentiles (1st / 99.5th) of the non-background voxels.

    Background (air, noise, padding) would drag the low end down and flatten contrast,
    so voxels below :data:`AUTO_BACKGROUND_FRACTION` of the range are ignored.
    """
    values = _strided_sample(np.asarray(volume))
    if np.issubdtype(values.dtype, np.inexact):
        values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("cannot compute an automatic window: the volume has no finite values")
    lo = float(values.min())
    hi = float(np.percentile(values, AUTO_HIGH_PERCENTILE))
    foreground = values[values > lo + AUTO_BACKGROUND_FRACTION * (hi - lo)]
    if foreground.size < 2:
        foreground = values
    p_lo, p_hi = np.percentile(foreground, [AUTO_LOW_PERCENTILE, AUTO_HIGH_PERCENTILE])
    width = max(float(p_hi - p_lo), 1.0)
    return WindowPreset("auto", float(p_lo + p_hi) / 2.0, width)


def default_needs_voxels(stack: SeriesStack) -> bool:
    """Whether the default preset of :func:`display_presets` is the one computed from the
    voxels (no window in the files and no modality preset: an MR, say)."""
    return stack.modality.upper() != "CT" and not stack.windows


def display_presets(stack: SeriesStack, volume: ArrayLike | None) -> tuple[list[WindowPreset], int]:
    """The presets a viewer offers for ``stack`` and the index of the default one.

    The file's own windows first (the technologist's choice), then the modality presets
    (CT bone, soft tissue), then one computed from ``volume`` by :func:`auto_window`, named
    "MR auto" for MR and "Auto" otherwise; each distinct window once (two file windows of
    the same centre and width are one entry; ``stack.windows`` may already hold the
    modality presets, :mod:`dicomio.assemble` adds them).  The default: the bone window on
    CT (this is a spine tool, whatever window the file was read in, often lung on a chest
    CT); the automatic window for an MR without a window of its own (MR has no absolute
    units); else the first preset.

    Without a ``volume`` (not loaded yet) the list lacks the automatic window; a ``ValueError``
    when that would be the default (:func:`default_needs_voxels`).
    """
    if volume is None and default_needs_voxels(stack):
        raise ValueError("the default window of this series is computed from its voxels")
    presets: list[WindowPreset] = []
    seen: set[tuple[float, float]] = set()
    is_mr = stack.modality == "MR"
    candidates = window_presets(stack.modality, stack.windows)
    if volume is not None:
        auto = auto_window(volume)
        candidates.append(WindowPreset("MR auto" if is_mr else "Auto", auto.center, auto.width))
    for preset in candidates:
        values = (round(preset.center, 6), round(preset.width, 6))
        if values not in seen:
            seen.add(values)
            presets.append(preset)
    if stack.modality.upper() == "CT":
        bone = (CT_BONE.center, CT_BONE.width)
        default = next(i for i, p in enumerate(presets) if (p.center, p.width) == bone)
    elif is_mr and not stack.windows:
        default = len(presets) - 1
    else:
        default = 0
    return presets, default


def window_to_uint8(pixels: ArrayLike, preset: WindowPreset) -> NDArray[np.uint8]:
    """Grey values 0..255 of ``pixels`` shown in the window ``preset``, as on the screen.

    ``[center - width/2, center + width/2]`` maps linearly onto 0..255, values outside are
    clipped, and the result is truncated to an integer: the mapping pyqtgraph's
    ``ImageItem`` applies for ``levels`` (``functions.rescaleData``, computed in float32
    for int16 and float32 pixels, float64 otherwise), so that a report's key image has the
    grey values the reader saw.  NaN becomes 0 (black).
    """
    values = np.asarray(pixels)
    half = max(float(preset.width), MIN_WINDOW_WIDTH) / 2.0
    low, high = float(preset.center) - half, float(preset.center) + half
    work = np.float32 if np.can_cast(values.dtype, np.float32) else np.float64
    scaled: NDArray[np.floating[Any]] = np.array(values, dtype=work)  # a copy: the input stays
    scaled -= low
    scaled *= 255.0 / (high - low)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    scaled[np.isnan(scaled)] = 0.0
    return scaled.astype(np.uint8)
