"""Vertebral height loss against three references, each labelled, never mixed.

Clinical reference, "Height loss and fracture grade":

1. ``"posterior"``: the same vertebra's posterior height, ``1 - Ha/Hp`` and ``1 - Hm/Hp``;
2. ``"adjacent"``: the mean height (same kind: Ha against the mean Ha of the references,
   and so on) of the nearest unfractured vertebrae above and below; for L5 above only
   (S1, with no vertebral body below it in :data:`measure.landmarks.LEVELS`, likewise);
   this is the reference for restoration;
3. ``"nearest"``: the nearest unfractured vertebra, cranial preferred.

Rules chosen here (the literature leaves them open):

* "Unfractured" means status ``"reference"`` as marked by the reader; ``unknown``,
  ``fractured`` and ``treated`` never serve as references.  Only fully measured
  vertebrae count.
* "Nearest above/below" is the nearest *measured* reference vertebra in each direction,
  however many levels away (the reader decides which vertebrae to measure).
* "adjacent" needs both sides (except L5/S1): with one side only it is missing (None,
  with a note) rather than silently becoming a one-sided reference, which is what
  "nearest" already reports.
* "nearest" is the reference vertebra with the fewest levels between; on a tie the
  cranial one wins ("cranial preferred").

Losses are percentages: ``(1 - H / H_ref) * 100``; negative when the vertebra is taller.
Each has a one-pixel placement uncertainty (:mod:`measure.uncertainty`): for "posterior"
it is propagated with the heights (``100 * sigma(Ha/Hp)``), for "adjacent" and "nearest"
by :func:`reference_loss_sigma_pct` (the reference bodies' landmarks are independent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from measure.landmarks import level_index
from measure.morphometry import ratio
from measure.uncertainty import quotient_sigma

REFERENCE_KINDS: tuple[str, ...] = ("posterior", "adjacent", "nearest")
HEIGHT_KINDS: tuple[str, ...] = ("ha", "hm", "hp")
#: Levels whose "adjacent" reference is the vertebra above only.
ABOVE_ONLY_LEVELS: tuple[str, ...] = ("L5", "S1")

Heights = Mapping[str, float]  # {"ha": mm, "hm": mm, "hp": mm}


@dataclass(frozen=True)
class ReferenceChoice:
    """Which reference vertebrae a level is compared with (empty/None = unavailable)."""

    adjacent: tuple[str, ...]
    nearest: str | None
    notes: tuple[str, ...]


def choose_references(level: str, reference_levels: Iterable[str]) -> ReferenceChoice:
    """Pick the "adjacent" and "nearest" references of ``level`` (rules in module docstring).

    ``reference_levels`` are the measured vertebrae marked ``"reference"``; ``level``
    itself is ignored if present.
    """
    index = level_index(level)
    others = sorted({r for r in reference_levels if r != level}, key=level_index)
    above = [r for r in others if level_index(r) < index]
    below = [r for r in others if level_index(r) > index]
    nearest_above = above[-1] if above else None
    nearest_below = below[0] if below else None
    notes: list[str] = []

    adjacent: tuple[str, ...]
    if level in ABOVE_ONLY_LEVELS:
        adjacent = (nearest_above,) if nearest_above else ()
        if not adjacent:
            notes.append(
                f"{level}: no adjacent reference: no vertebra above {level} is measured and marked "
                "as reference (for L5 the reference is the vertebra above only)."
            )
    elif nearest_above and nearest_below:
        adjacent = (nearest_above, nearest_below)
    else:
        adjacent = ()
        sides = [side for side, lv in (("above", nearest_above), ("below", nearest_below)) if lv is None]
        notes.append(
            f"{level}: no adjacent reference: no vertebra {' or '.join(sides)} {level} is measured "
            "and marked as reference (the adjacent reference needs one above and one below)."
        )

    candidates = [lv for lv in (nearest_above, nearest_below) if lv is not None]
    # Sort by distance; the stable sort keeps "above" first on a tie (cranial preferred).
    candidates.sort(key=lambda lv: abs(level_index(lv) - index))
    nearest = candidates[0] if candidates else None
    if nearest is None:
        notes.append(f"{level}: no nearest reference: no other vertebra is measured and marked as reference.")
    return ReferenceChoice(adjacent=adjacent, nearest=nearest, notes=tuple(notes))


def mean_heights(heights: Iterable[Heights]) -> dict[str, float]:
    """Mean of each height kind over the reference vertebrae."""
    items = list(heights)
    return {k: sum(h[k] for h in items) / len(items) for k in HEIGHT_KINDS}


def loss_pct(height_mm: float, reference_mm: float) -> float:
    """``(1 - height / reference) * 100``; NaN when the reference is zero."""
    return (1.0 - ratio(height_mm, reference_mm)) * 100.0


def posterior_loss_pct(heights: Heights) -> dict[str, float]:
    """Reference 1: ``{"ha": 1 - Ha/Hp, "hm": 1 - Hm/Hp}`` in percent."""
    return {"ha": loss_pct(heights["ha"], heights["hp"]), "hm": loss_pct(heights["hm"], heights["hp"])}


def reference_loss_pct(heights: Heights, reference: Heights) -> dict[str, float]:
    """References 2 and 3: each height against the same kind of reference height, in percent."""
    return {k: loss_pct(heights[k], reference[k]) for k in HEIGHT_KINDS}


def reference_loss_sigma_pct(
    heights: Heights,
    sigmas: Mapping[str, float | None],
    reference: Heights,
    reference_sigmas: Mapping[str, float | None],
) -> dict[str, float | None]:
    """One-pixel uncertainty of :func:`reference_loss_pct` (percentage points).

    ``(1 - H / H_ref) * 100`` with H and H_ref from different vertebrae (no shared
    landmark, so independent errors): ``100 * sigma(H / H_ref)`` by first-order
    propagation of a quotient.  None for a height whose sigma (or its reference's) is
    unknown.
    """
    out: dict[str, float | None] = {}
    for k in HEIGHT_KINDS:
        s, s_ref = sigmas.get(k), reference_sigmas.get(k)
        if s is None or s_ref is None or abs(reference[k]) < 1e-9:
            out[k] = None
        else:
            out[k] = 100.0 * quotient_sigma(heights[k], s, reference[k], s_ref)
    return out


def mean_sigma(sigmas: Iterable[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Uncertainty of :func:`mean_heights` (independent vertebrae): ``sqrt(sum s_i^2) / n``."""
    items = list(sigmas)
    out: dict[str, float | None] = {}
    for k in HEIGHT_KINDS:
        values = [s.get(k) for s in items]
        if not values or any(v is None for v in values):
            out[k] = None
        else:
            out[k] = math.sqrt(sum(float(v) ** 2 for v in values if v is not None)) / len(values)
    return out
