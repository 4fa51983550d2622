"""The body inside its cortical shell: for fractured and treated bodies, whose marrow is
not one uniform region.

Growing the marrow from the seed (:mod:`measure.assist.propose`) stops wherever the
marrow's value changes inside the body: a band of edema under a fractured endplate (dark
on T1, bright on STIR), a cement or implant (very bright on CT, black on MR).  The region
then ends at that tissue, not at the endplate, and the proposal is lost.  What does not
change is the cortex: the brightest tissue on CT, the darkest line on every MR sequence
(cement, darker still on MR and brighter on CT, only joins it).  So here the shell is
thresholded and the body is what it encloses:

1. thresholds between the patch's percentiles, from a thin shell to a thick one (CT:
   from bright to less bright; MR: from dark to less dark): the first that closes a ring
   around the seed gives the interior at its inner cortical edge, whatever the tissues
   inside are;
2. the interior component at the seed (a seed in cement: the largest interior near it);
3. a closing with a disk wider than a cement or edema notch (8 mm) and hole filling: the
   cement lying against an endplate is inside the body, not a bite out of it; the gentle
   concavity of a depressed endplate (radius of curvature some 30 mm) is kept.

Only the mask: the outline, the snaps and the confidence are the marrow method's
(:func:`measure.assist.propose.proposal_from_mask`), so a body found either way is
judged the same way.  Used only when the marrow region gives no confident body.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from measure.assist.snap import CortexContrast

#: CT: percentiles (of the patch within 25 mm of the seed) tried as the shell threshold,
#: the thinnest shell first: the cortex and cement are a few percent of the patch.
_BRIGHT_PERCENTILES = (97.0, 94.0, 90.0, 86.0, 81.0, 75.0)
#: MR: a 1.5 mm cortex between brighter tissues loses most of its contrast to smoothing
#: (it is no darker than T1 edema or STIR marrow once blurred), so no threshold of the
#: image finds it.  A dark *line* detector does: how much darker a pixel is than the
#: darker of its two neighbours 1.5 mm away on either side (the best of four directions);
#: a step edge (marrow | edema) scores 0, the cortex between any two tissues scores its
#: depth.  Thresholds in multiples of the noise SD, the thinnest shell first.
_LINE_HALF_MM = 1.5
_LINE_NOISE_STEPS = (3.0, 2.5, 2.0, 1.5)
#: Wider than a cement ellipsoid's or an edema blob's notch at an endplate (mm).
_CLOSING_MM = 8.0
_NEAR_SEED_MM = 8.0


def _closing(mask: NDArray[np.bool_], radius_px: float) -> NDArray[np.bool_]:
    """Morphological closing with a disk of ``radius_px``, by two Euclidean distance
    transforms (a large disk as a structuring element costs far more)."""
    from scipy import ndimage  # imported when used (start-up time)

    dilated = ndimage.distance_transform_edt(~mask) <= radius_px
    return np.asarray(ndimage.distance_transform_edt(dilated) > radius_px)


def shell_thresholds(
    smooth: NDArray[np.float64], valid: NDArray[np.bool_], coords: NDArray[np.float64]
) -> list[float]:
    """CT shell thresholds to try, thinnest shell first (see the module docstring)."""
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    near = valid & (gx**2 + gy**2 <= 25.0**2)
    values = smooth[near]
    if values.size < 100:
        return []
    out: list[float] = []
    for t in np.percentile(values, _BRIGHT_PERCENTILES):
        if not out or abs(float(t) - out[-1]) > 1e-6:
            out.append(float(t))
    return out


def dark_line_depth(light: NDArray[np.float64], half_px: int) -> NDArray[np.float64]:
    """Per pixel: the darker of its two neighbours ``half_px`` away, minus itself, best of
    the four directions (0 or less off a dark line; a step edge gives 0)."""
    h = half_px
    padded = np.pad(light, h, mode="edge")
    n_r, n_c = light.shape

    def at(dr: int, dc: int) -> NDArray[np.float64]:
        return padded[h + dr : h + dr + n_r, h + dc : h + dc + n_c]

    best = np.full(light.shape, -np.inf)
    for dr, dc in ((h, 0), (0, h), (h, h), (h, -h)):
        best = np.maximum(best, np.minimum(at(dr, dc), at(-dr, -dc)))
    return best - light


def _shells(
    grid: NDArray[np.float64],
    smooth: NDArray[np.float64],
    valid: NDArray[np.bool_],
    coords: NDArray[np.float64],
    contrast: CortexContrast,
    noise_sd: float,
) -> Iterator[NDArray[np.bool_]]:
    """Candidate cortical shells, the thinnest first."""
    from scipy import ndimage  # imported when used (start-up time)

    if contrast == "bright":
        for threshold in shell_thresholds(smooth, valid, coords):
            yield smooth >= threshold
        return
    grid_mm = float(coords[1] - coords[0])
    light = ndimage.gaussian_filter(grid, 0.4 / grid_mm)
    depth = dark_line_depth(light, max(1, round(_LINE_HALF_MM / grid_mm)))
    sd = max(noise_sd, 1e-6)
    # Darker than any line: cement (and air) are shell too; their notch is closed below.
    darkest = float(np.percentile(light[valid], 2.0)) if valid.any() else float(light.min())
    very_dark = light <= darkest + 2.0 * sd
    for k in _LINE_NOISE_STEPS:
        yield (depth > k * sd) | very_dark


def shell_interiors(
    grid: NDArray[np.float64],
    smooth: NDArray[np.float64],
    valid: NDArray[np.bool_],
    coords: NDArray[np.float64],
    contrast: CortexContrast,
    depth_range_mm: tuple[float, float],
    height_range_mm: tuple[float, float],
    noise_sd: float,
) -> Iterator[NDArray[np.bool_]]:
    """Body masks (on the working grid, seed at the centre) enclosed by the cortical shell,
    one per threshold that closes a ring of a vertebral body's size around the seed."""
    from scipy import ndimage  # imported when used (start-up time)

    grid_mm = float(coords[1] - coords[0])
    c0 = len(coords) // 2
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    near_seed = gx**2 + gy**2 <= _NEAR_SEED_MM**2
    pad = 2 * round(_CLOSING_MM / grid_mm) + 2
    (d0, d1), (h0, h1) = depth_range_mm, height_range_mm
    for shell in _shells(grid, smooth, valid, coords, contrast, noise_sd):
        free = valid & ~shell
        labels, n = ndimage.label(free)
        if n == 0:
            continue
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        if labels[c0, c0] > 0:
            label = int(labels[c0, c0])
        else:  # the seed is in the shell's tissue (cement): the largest interior near it
            counts = np.bincount(labels[near_seed & (labels > 0)], minlength=n + 1)
            counts[border] = 0
            label = int(counts.argmax())
        if label == 0 or label in border:
            continue  # the ring is not closed at this threshold: a thicker shell may close it
        interior = labels == label
        ys, xs = np.nonzero(interior)
        depth, height = float(np.ptp(coords[xs])), float(np.ptp(coords[ys]))
        # The interior lies inside the cortex: up to ~2 x 2 mm smaller than the body.
        if not (d0 - 4.0 <= depth <= d1 and 0.5 * h0 <= height <= h1):
            continue
        padded = np.pad(interior, pad)
        body = ndimage.binary_fill_holes(_closing(padded, _CLOSING_MM / grid_mm))[pad:-pad, pad:-pad]
        if not body[c0, c0]:
            continue
        yield np.asarray(body, dtype=bool)
