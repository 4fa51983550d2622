"""Before / after augmentation and follow-up: correction, restoration, loss of correction.

Clinical reference, "Before / after augmentation, follow-up":

* angle correction = ``VKA_from - VKA_to`` (positive = less kyphosis);
* height gain = ``H_to - H_from`` (mm) for Ha, Hm, Hp;
* restoration % = ``(H_to - H_from) / (H_ref - H_from) * 100`` with ``H_ref`` the adjacent
  reference (definition 2) of the **earlier** timepoint; None when that reference is
  missing or there was no loss (``H_ref - H_from <= 0``); its one-pixel uncertainty is
  propagated from the three heights (:func:`restoration_sigma_pct`);
* loss of correction at follow-up = ``value_followup - value_post`` (VKA and heights);
* a change smaller than the measurement error is marked as such (:class:`ChangeThresholds`).

Results are the typed objects of :mod:`measure.results`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from measure.landmarks import level_index
from measure.results import (
    DEFAULT_THRESHOLDS,
    HEIGHT_KEYS,
    ChangeThresholds,
    ComparisonResult,
    HeightFlags,
    LossOfCorrection,
    LossOfCorrectionFlags,
    PerHeight,
    TimepointResult,
    VertebraResult,
)

COMPARISON_KINDS: tuple[str, ...] = ("correction", "loss_of_correction")
#: Accepted spellings of timepoint kinds for :func:`compare_timepoints`.
_TIMEPOINT_KINDS = {
    "pre": "pre",
    "preop": "pre",
    "preoperative": "pre",
    "post": "post",
    "postop": "post",
    "postoperative": "post",
    "followup": "followup",
    "fu": "followup",
}


def _diff(a: float | None, b: float | None) -> float | None:
    """``a - b`` or None."""
    return None if a is None or b is None else a - b


def _within(change: float | None, threshold: float) -> bool | None:
    return None if change is None else abs(change) < threshold


def _combined_sigma(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else math.hypot(a, b)


def restoration_sigma_pct(
    h_from: float,
    sigma_from: float | None,
    h_to: float,
    sigma_to: float | None,
    h_ref: float,
    sigma_ref: float | None,
) -> float | None:
    """First-order sigma of ``R = 100 (H_to - H_from) / (H_ref - H_from)``.

    With gain ``G = H_to - H_from`` and deficit ``D = H_ref - H_from`` (independent errors:
    two timepoints, and reference bodies other than this one)::

        dR/dH_to = 100 / D,  dR/dH_from = 100 (G - D) / D^2,  dR/dH_ref = -100 G / D^2

    None when a sigma is unknown or ``D <= 0`` (no restoration is defined then).
    """
    if sigma_from is None or sigma_to is None or sigma_ref is None:
        return None
    gain, deficit = h_to - h_from, h_ref - h_from
    if deficit <= 0:
        return None
    return 100.0 * math.sqrt(
        (sigma_to / deficit) ** 2
        + (sigma_from * (gain - deficit) / deficit**2) ** 2
        + (sigma_ref * gain / deficit**2) ** 2
    )


def _vertebra(result: TimepointResult, level: str, timepoint_id: str) -> VertebraResult:
    try:
        return result.vertebrae[level]
    except KeyError:
        raise ValueError(
            f"vertebra {level} is not measured at timepoint {timepoint_id!r}; expected one of "
            f"{', '.join(result.vertebrae) or 'the measured levels'}."
        ) from None


def compare(
    level: str,
    earlier: TimepointResult,
    later: TimepointResult,
    from_id: str,
    to_id: str,
    kind: str,
    thresholds: ChangeThresholds = DEFAULT_THRESHOLDS,
) -> ComparisonResult:
    """Compare ``level`` between two timepoints (definitions in the module docstring).

    ``kind`` is "correction" (pre-op to post-op or to follow-up) or "loss_of_correction"
    (post-op to follow-up: then ``loss_of_correction`` holds ``value_to - value_from`` for
    the VKA and the three heights; it is None for "correction").
    """
    if kind not in COMPARISON_KINDS:
        raise ValueError(
            f"comparison kind {kind!r} is not known; expected 'correction' or 'loss_of_correction'."
        )
    a = _vertebra(earlier, level, from_id)
    b = _vertebra(later, level, to_id)
    notes: list[str] = []
    a_heights, b_heights = a.heights() or PerHeight(), b.heights() or PerHeight()
    a_sigma, b_sigma = a.height_sigmas(), b.height_sigmas()

    correction = _diff(a.vka_deg.value, b.vka_deg.value)
    gains: dict[str, float | None] = {h: _diff(b_heights.get(h), a_heights.get(h)) for h in HEIGHT_KEYS}
    gain_sigma: dict[str, float | None] = {
        h: _combined_sigma(a_sigma.get(h), b_sigma.get(h)) for h in HEIGHT_KEYS
    }

    restoration: dict[str, float | None] = dict.fromkeys(HEIGHT_KEYS)
    restoration_sigma: dict[str, float | None] = dict.fromkeys(HEIGHT_KEYS)
    reference = a.adjacent_reference
    if reference is None:
        notes.append(f"{level}: no restoration percentage, timepoint {from_id!r} has no adjacent reference.")
    else:
        for h in HEIGHT_KEYS:
            h_from, h_ref = a_heights.get(h), reference.heights_mm.get(h)
            gain = gains[h]
            if h_from is None or gain is None or h_ref is None:
                continue
            deficit = h_ref - h_from
            if deficit <= 0:
                notes.append(
                    f"{level}: no restoration percentage for {h}, there was no height loss at {from_id!r}."
                )
                continue
            restoration[h] = gain / deficit * 100.0
            h_to = b_heights.get(h)
            assert h_to is not None
            restoration_sigma[h] = restoration_sigma_pct(
                h_from, a_sigma.get(h), h_to, b_sigma.get(h), h_ref, reference.sigma_mm.get(h)
            )

    loss_change: dict[str, float | None] = dict.fromkeys(HEIGHT_KEYS)
    loss_a, loss_b = a.height_loss.adjacent, b.height_loss.adjacent
    if loss_a is not None and loss_b is not None:
        loss_change = {h: _diff(loss_b.pct.get(h), loss_a.pct.get(h)) for h in HEIGHT_KEYS}

    loss_of_correction = loss_flags = None
    if kind == "loss_of_correction":
        loss_of_correction = LossOfCorrection(
            vka_deg=_diff(b.vka_deg.value, a.vka_deg.value),
            ha_mm=gains["ha"],
            hm_mm=gains["hm"],
            hp_mm=gains["hp"],
        )
        loss_flags = LossOfCorrectionFlags(
            vka_deg=_within(loss_of_correction.vka_deg, thresholds.angle_deg),
            ha_mm=_within(gains["ha"], thresholds.height_mm),
            hm_mm=_within(gains["hm"], thresholds.height_mm),
            hp_mm=_within(gains["hp"], thresholds.height_mm),
        )
    return ComparisonResult(
        level=level,
        from_id=from_id,
        to_id=to_id,
        kind=kind,
        correction_deg=correction,
        correction_sigma_deg=_combined_sigma(a.vka_deg.uncertainty, b.vka_deg.uncertainty),
        correction_within_error=_within(correction, thresholds.angle_deg),
        height_gain_mm=PerHeight.from_mapping(gains),
        height_gain_sigma_mm=PerHeight.from_mapping(gain_sigma),
        height_gain_within_error=HeightFlags(*(_within(gains[h], thresholds.height_mm) for h in HEIGHT_KEYS)),
        restoration_pct=PerHeight.from_mapping(restoration),
        restoration_sigma_pct=PerHeight.from_mapping(restoration_sigma),
        height_loss_change_pct=PerHeight.from_mapping(loss_change),
        height_loss_change_within_error=HeightFlags(
            *(_within(loss_change[h], thresholds.height_loss_pct) for h in HEIGHT_KEYS)
        ),
        loss_of_correction=loss_of_correction,
        loss_of_correction_within_error=loss_flags,
        thresholds=thresholds,
        notes=tuple(notes),
    )


def timepoint_kind(kind: str) -> str:
    """Normalise a timepoint kind ("pre-op", "Post", "follow-up", ...) to pre/post/followup."""
    key = "".join(ch for ch in kind.lower() if ch.isalnum())
    try:
        return _TIMEPOINT_KINDS[key]
    except KeyError:
        raise ValueError(
            f"timepoint kind {kind!r} is not known; expected 'pre', 'post' or 'follow-up'."
        ) from None


def compare_timepoints(
    timepoints: Sequence[tuple[str, str, TimepointResult]],
    thresholds: ChangeThresholds = DEFAULT_THRESHOLDS,
) -> list[ComparisonResult]:
    """All standard comparisons of a case, for every level measured at both timepoints.

    ``timepoints`` are ``(id, kind, result)`` with kind pre / post / follow-up (spellings
    in :func:`timepoint_kind`); follow-ups are taken in the given order.  Produces
    pre -> post ("correction"), post -> each follow-up ("loss_of_correction") and
    pre -> each follow-up ("correction").  At most one pre and one post are allowed
    (``ValueError`` otherwise: which one to use is the reader's choice, not ours).
    """
    by_kind: dict[str, list[tuple[str, TimepointResult]]] = {"pre": [], "post": [], "followup": []}
    for timepoint_id, kind, result in timepoints:
        by_kind[timepoint_kind(kind)].append((timepoint_id, result))
    for kind, name in (("pre", "pre-operative"), ("post", "post-operative")):
        if len(by_kind[kind]) > 1:
            ids = ", ".join(repr(t) for t, _ in by_kind[kind])
            raise ValueError(
                f"{len(by_kind[kind])} {name} timepoints were given ({ids}); expected at most one."
            )

    pairs: list[tuple[tuple[str, TimepointResult], tuple[str, TimepointResult], str]] = []
    pre = by_kind["pre"][0] if by_kind["pre"] else None
    post = by_kind["post"][0] if by_kind["post"] else None
    if pre and post:
        pairs.append((pre, post, "correction"))
    for follow in by_kind["followup"]:
        if post:
            pairs.append((post, follow, "loss_of_correction"))
        if pre:
            pairs.append((pre, follow, "correction"))

    results = []
    for (from_id, earlier), (to_id, later), kind in pairs:
        common = [lv for lv in earlier.vertebrae if lv in later.vertebrae]
        common = [lv for lv in common if earlier.vertebrae[lv].measured and later.vertebrae[lv].measured]
        for level in sorted(common, key=level_index):
            results.append(compare(level, earlier, later, from_id, to_id, kind, thresholds))
    return results
