"""``endplate suggest PATH --seed X,Y,Z [--json]``: the six landmarks proposed for one body.

The same stack and slice the viewer would show: the series' own sagittal images, or the
sagittal reformat of an axial/coronal CT (:meth:`DisplayStack.for_viewing`); the slice
nearest to the seed, the seed projected onto it; :func:`measure.assist.propose.propose_body`
with the cortex contrast of the series' modality.  A proposal is not a measurement: it is
printed for a person or a script to check, exactly what the app would draw dashed.

Exit status: 0 when a proposal was attempted (even with a low confidence: then
``landmarks`` is null and ``reason`` says why); 2 with one sentence on stderr for a bad
seed, a seed outside the volume, or a path without a readable image series.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dicomio.display_stack import DisplayStack
from dicomio.model import SeriesStack
from dicomio.printable import printable
from dicomio.scan import scan_paths
from measure.assist.propose import BodyProposal, ProposalSettings, propose_body
from measure.assist.snap import cortex_contrast_for
from measure.landmarks import LANDMARK_KEYS

#: How far off a single image's plane a seed may lie (mm): half a usual 4 mm sagittal slice.
_SINGLE_IMAGE_HALF_SLAB_MM = 2.0


class SuggestError(ValueError):
    """Bad input for ``endplate suggest``: the message is one sentence for the user."""


@dataclass(frozen=True)
class Suggestion:
    """One proposal with where it was made (series, slice) and whether it is usable."""

    proposal: BodyProposal
    usable: bool
    series_uid: str
    slice_index: int
    #: SOPInstanceUID of the image proposed on; None on a reformat (no such image).
    slice_sop_uid: str | None
    reformat: bool
    seed_on_slice_mm: tuple[float, float, float]


def parse_seed(text: str) -> NDArray[np.float64]:
    """``"X,Y,Z"`` (LPS mm) as a vector; :class:`SuggestError` for anything else."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise SuggestError(
            f"--seed {text!r} is not three finite numbers X,Y,Z (LPS mm), e.g. --seed 0,-20,35."
        )
    return np.array(values, dtype=float)


def _pick_stack(stacks: list[SeriesStack], path: Path, series_uid: str | None) -> SeriesStack:
    if series_uid is not None:
        chosen = [s for s in stacks if series_uid in (s.series_uid, s.key)]
        if not chosen:
            raise SuggestError(f"{path} holds no series {series_uid}.")
        return chosen[0]
    if len(stacks) > 1:
        uids = ", ".join(s.key for s in stacks)
        raise SuggestError(f"{path} holds {len(stacks)} series ({uids}); choose one with --series UID.")
    return stacks[0]


def _seed_index(display: DisplayStack, seed: NDArray[np.float64]) -> tuple[int, NDArray[np.float64]]:
    """The slice the viewer would show for ``seed`` and the seed projected onto it;
    :class:`SuggestError` when the seed lies outside the stack's volume."""
    g = display.geometry
    col, row, k = (float(v) for v in g.lps_to_index(seed))
    n_slices, rows, cols = g.shape
    if n_slices == 1:  # a single image: its plane, give or take a typical slice's half thickness
        along = float((seed - np.asarray(g.first.position_mm)) @ g.first.normal)
        inside_k = abs(along) <= _SINGLE_IMAGE_HALF_SLAB_MM
    else:
        inside_k = -0.5 <= k <= n_slices - 0.5
    if not (inside_k and -0.5 <= col <= cols - 0.5 and -0.5 <= row <= rows - 0.5):
        lo = g.index_to_lps(-0.5, -0.5, -0.5)
        hi = g.index_to_lps(cols - 0.5, rows - 0.5, n_slices - 0.5)
        box = " to ".join("(" + ", ".join(f"{v:.1f}" for v in p) + ")" for p in (lo, hi))
        raise SuggestError(
            f"the seed ({', '.join(f'{v:.1f}' for v in seed)}) mm is outside the volume of series "
            f"{display.series_uid} (LPS {box} mm)."
        )
    nearest = g.nearest_slice(seed)
    plane = g.slices[nearest]
    on_slice = seed - float((seed - np.asarray(plane.position_mm)) @ plane.normal) * plane.normal
    return nearest, on_slice


def suggest(path: Path, seed: NDArray[np.float64], series_uid: str | None = None) -> Suggestion:
    """Propose the body around ``seed`` on the series under ``path`` as the viewer shows it."""
    if not path.exists():
        raise SuggestError(f"{path} does not exist.")
    result = scan_paths([path])
    if not result.stacks:
        why = f" ({printable(result.skipped[0].reason)})" if len(result.skipped) == 1 else ""
        raise SuggestError(f"{path} holds no readable DICOM image series{why}.")
    stack = _pick_stack(list(result.stacks), path, series_uid)
    display = DisplayStack.for_viewing(stack)
    k, on_slice = _seed_index(display, seed)
    try:
        image = np.asarray(display.volume()[k], dtype=float)
    except (OSError, ValueError) as exc:  # undecodable pixels, a file gone since the scan
        raise SuggestError(f"cannot read the pixels of {path}: {printable(str(exc))}") from exc
    settings = ProposalSettings()
    proposal = propose_body(
        image, display.geometry.slices[k], on_slice, cortex_contrast_for(stack.modality), settings
    )
    return Suggestion(
        proposal=proposal,
        usable=proposal.usable(settings),
        series_uid=stack.series_uid,
        slice_index=k,
        slice_sop_uid=display.sop_uid_for_slice(k),
        reformat=display.is_reformat,
        seed_on_slice_mm=(float(on_slice[0]), float(on_slice[1]), float(on_slice[2])),
    )


def suggestion_json(s: Suggestion) -> dict[str, object]:
    """The JSON object ``endplate suggest --json`` prints (docs/cli.md)."""
    p = s.proposal
    landmarks = {k: [round(v, 3) + 0.0 for v in p.landmarks[k]] for k in LANDMARK_KEYS} if s.usable else None
    return {
        "landmarks": landmarks,
        "confidence": round(p.confidence, 3),
        "usable": s.usable,
        "reason": p.reason or None,
        "series_uid": s.series_uid,
        "slice_index": s.slice_index,
        "slice_sop_uid": s.slice_sop_uid,
        "reformat": s.reformat,
        "seed_on_slice": [round(v, 3) + 0.0 for v in s.seed_on_slice_mm],
    }


def _text(s: Suggestion) -> str:
    where = "sagittal reformat" if s.reformat else f"image {s.slice_sop_uid}"
    lines = [f"Series {s.series_uid}, slice {s.slice_index} ({where})"]
    p = s.proposal
    if not s.usable:
        lines.append(
            f"No confident proposal (confidence {p.confidence:.2f}: {p.reason or 'weak edges'}). "
            "Place the points by hand."
        )
    else:
        lines.append(f"Proposed body, confidence {p.confidence:.2f} (not a measurement until accepted):")
        for key in LANDMARK_KEYS:
            x, y, z = p.landmarks[key]
            lines.append(f"  {key:9} {x:9.2f} {y:9.2f} {z:9.2f}  mm (LPS)")
    return "\n".join(lines) + "\n"


def run_suggest(path: Path, seed_text: str, as_json: bool, series_uid: str | None = None) -> int:
    """Print the proposal; exit 2 with one sentence on stderr for bad input."""
    try:
        seed = parse_seed(seed_text)
        s = suggest(path, seed, series_uid)
    except SuggestError as exc:
        print(f"endplate: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    if as_json:
        sys.stdout.write(json.dumps(suggestion_json(s), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(_text(s))
    return 0
