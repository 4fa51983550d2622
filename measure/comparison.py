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

Only ``TimepointResult`` objects are read here (duck-typed, so this module does not
import the engine, which re-exports it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from measure.landmarks import level_index

if TYPE_CHECKING:
    from measure.engine import TimepointResult, VertebraResult

COMPARISON_KINDS: tuple[str, ...] = ("correction", "loss_of_correction")
_HEIGHTS = (("ha", "ha_mm"), ("hm", "hm_mm"), ("hp", "hp_mm"))
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


@dataclass(frozen=True)
class ChangeThresholds:
    """Smallest changes that exceed the measurement error (all configurable).

    * ``angle_deg = 4.9``: Cobb angle intra-observer 95% limit, upper bound of the
      2.8-4.9 deg range (Morrissy, JBJS 1990); the upper bound so that a "real change" is
      not claimed too easily.
    * ``height_loss_pct = 12.5``: height-loss percentage on CT, inter-observer limits of
      agreement +/-12.5 percentage points (Buckens, PLoS One 2013); applied to changes of
      the adjacent-reference height loss.
    * ``height_mm = 2.0``: no published limit in mm exists in our sources; 2 mm is our
      choice (about one to four pixels on spine CT/MRI, and close to 12.5% of a 16 mm
      thoracic body).  Change it when a site has its own reproducibility data.
    """

    angle_deg: float = 4.9
    height_loss_pct: float = 12.5
    height_mm: float = 2.0


DEFAULT_THRESHOLDS = ChangeThresholds()


def _diff(a: float | None, b: float | None) -> float | None:
    """``a - b`` or None."""
    return None if a is None or b is None else a - b


def _within(change: float | None, threshold: float) -> bool | None:
    return None if change is None else abs(change) < threshold


def _combined_sigma(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else math.hypot(a, b)


@dataclass(frozen=True)
class ComparisonResult:
    """Change of one level between two timepoints (keys of :meth:`as_dict` are a contract)."""

    level: str
    from_id: str
    to_id: str
    kind: str
    correction_deg: float | None
    height_gain_mm: dict[str, float | None]
    restoration_pct: dict[str, float | None]
    loss_of_correction: dict[str, float | None] | None
    height_loss_change_pct: dict[str, float | None]
    within_error: dict[str, Any]
    uncertainty: dict[str, Any]
    thresholds: ChangeThresholds = DEFAULT_THRESHOLDS
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "from": self.from_id,
            "to": self.to_id,
            "kind": self.kind,
            "correction_deg": self.correction_deg,
            "height_gain_mm": dict(self.height_gain_mm),
            "restoration_pct": dict(self.restoration_pct),
            "loss_of_correction": None if self.loss_of_correction is None else dict(self.loss_of_correction),
            "height_loss_change_pct": dict(self.height_loss_change_pct),
            "within_error": {
                k: (dict(v) if isinstance(v, dict) else v) for k, v in self.within_error.items()
            },
            "uncertainty": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.uncertainty.items()},
            "thresholds": {
                "angle_deg": self.thresholds.angle_deg,
                "height_loss_pct": self.thresholds.height_loss_pct,
                "height_mm": self.thresholds.height_mm,
            },
            "notes": list(self.notes),
        }


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
    ``vka_deg``, ``ha_mm``, ``hm_mm``, ``hp_mm``; it is None for "correction").
    """
    if kind not in COMPARISON_KINDS:
        raise ValueError(
            f"comparison kind {kind!r} is not known; expected 'correction' or 'loss_of_correction'."
        )
    a = _vertebra(earlier, level, from_id)
    b = _vertebra(later, level, to_id)
    notes: list[str] = []

    correction = _diff(a.vka_deg.value, b.vka_deg.value)
    gains = {h: _diff(getattr(b, f).value, getattr(a, f).value) for h, f in _HEIGHTS}
    gain_sigma = {
        h: _combined_sigma(getattr(a, f).uncertainty, getattr(b, f).uncertainty) for h, f in _HEIGHTS
    }

    restoration: dict[str, float | None] = {h: None for h, _ in _HEIGHTS}
    restoration_sigma: dict[str, float | None] = {h: None for h, _ in _HEIGHTS}
    reference = a.reference_heights_mm.get("adjacent")
    reference_sigma = a.reference_heights_sigma_mm.get("adjacent") or {}
    if reference is None:
        notes.append(f"{level}: no restoration percentage, timepoint {from_id!r} has no adjacent reference.")
    else:
        for h, f in _HEIGHTS:
            h_from = getattr(a, f).value
            gain = gains[h]
            if h_from is None or gain is None:
                continue
            deficit = reference[h] - h_from
            if deficit <= 0:
                notes.append(
                    f"{level}: no restoration percentage for {h}, there was no height loss at {from_id!r}."
                )
                continue
            restoration[h] = gain / deficit * 100.0
            h_to = getattr(b, f).value
            restoration_sigma[h] = restoration_sigma_pct(
                h_from,
                getattr(a, f).uncertainty,
                h_to,
                getattr(b, f).uncertainty,
                reference[h],
                reference_sigma.get(h),
            )

    loss_change: dict[str, float | None] = {h: None for h, _ in _HEIGHTS}
    loss_a, loss_b = a.height_loss_pct.get("adjacent"), b.height_loss_pct.get("adjacent")
    if loss_a is not None and loss_b is not None:
        loss_change = {h: loss_b[h] - loss_a[h] for h, _ in _HEIGHTS}

    loss_of_correction: dict[str, float | None] | None = None
    if kind == "loss_of_correction":
        loss_of_correction = {"vka_deg": _diff(b.vka_deg.value, a.vka_deg.value)}
        loss_of_correction.update({f: gains[h] for h, f in _HEIGHTS})

    within: dict[str, Any] = {
        "correction_deg": _within(correction, thresholds.angle_deg),
        "height_gain_mm": {h: _within(gains[h], thresholds.height_mm) for h, _ in _HEIGHTS},
        "height_loss_change_pct": {
            h: _within(loss_change[h], thresholds.height_loss_pct) for h, _ in _HEIGHTS
        },
    }
    if loss_of_correction is not None:
        within["loss_of_correction"] = {
            "vka_deg": _within(loss_of_correction["vka_deg"], thresholds.angle_deg),
            **{f: _within(loss_of_correction[f], thresholds.height_mm) for _, f in _HEIGHTS},
        }
    uncertainty: dict[str, Any] = {
        "correction_deg": _combined_sigma(a.vka_deg.uncertainty, b.vka_deg.uncertainty),
        "height_gain_mm": gain_sigma,
        "restoration_pct": restoration_sigma,
    }
    if loss_of_correction is not None:  # differences of the same values: the same sigmas
        uncertainty["loss_of_correction"] = {
            "vka_deg": uncertainty["correction_deg"],
            **{f: gain_sigma[h] for h, f in _HEIGHTS},
        }
    return ComparisonResult(
        level=level,
        from_id=from_id,
        to_id=to_id,
        kind=kind,
        correction_deg=correction,
        height_gain_mm=gains,
        restoration_pct=restoration,
        loss_of_correction=loss_of_correction,
        height_loss_change_pct=loss_change,
        within_error=within,
        uncertainty=uncertainty,
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
