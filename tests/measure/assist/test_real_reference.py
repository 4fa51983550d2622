"""Proposal error on the real CT and MR against the hand-placed reference set (issue 11).

The reference (``tests/data/realdata_reference.json``, how it was made:
tests/data/README.md) has six bodies per image set.  From five seeds per body (the centre
of its six reference points, and 4 mm anterior / posterior, 3 mm superior / inferior of
it: all inside the body), ``propose_body`` is run on the same slice; per point the
distance to the reference (mm), per body the VKA difference (deg, signed).

Limits (the issue's): median <= 1.5 mm and worst <= 3 mm over all points and seeds, every
proposal confident (a "place by hand" counts as a miss), and a seed moved within the body
moves no point by more than 1 mm.  Those not met yet are strict xfails, so a fix shows.
``python -m tests.measure.assist.test_real_reference`` prints the table for
docs/assisted-landmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest
from numpy.typing import NDArray

from measure.assist.propose import propose_body
from tests.conftest import REALDATA
from tests.realdata_reference import ReferenceBody, ReferenceImage, ct_slice, load, mr_frame

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: Seed offsets (mm along the image's anterior, superior directions) from the body centre.
SEED_OFFSETS_MM = ((0.0, 0.0), (4.0, 0.0), (-4.0, 0.0), (0.0, 3.0), (0.0, -3.0))
MEDIAN_LIMIT_MM = 1.5
WORST_LIMIT_MM = 3.0
STABILITY_LIMIT_MM = 1.0


def vka_deg(lm: dict[str, NDArray[np.float64]], superior: NDArray[np.float64]) -> float:
    """Signed angle between the superior and the inferior endplate lines, in the image
    plane (hand computation: atan2 of the superior over the in-plane anterior component)."""

    def tilt(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
        d = np.asarray(b) - np.asarray(a)
        up = float(d @ superior)
        return float(np.degrees(np.arctan2(up, float(np.linalg.norm(d - up * superior)))))

    return tilt(lm["sup_ant"], lm["sup_post"]) - tilt(lm["inf_ant"], lm["inf_post"])


@dataclass(frozen=True)
class BodyResult:
    level: str
    #: Per seed: point errors (mm) or None when no confident proposal came out.
    errors_mm: tuple[dict[str, float] | None, ...]
    vka_error_deg: tuple[float | None, ...]
    #: Largest move of any point between the centre seed's proposal and a moved seed's.
    max_seed_move_mm: float | None


def _image(image_set: str) -> ReferenceImage:
    return ct_slice(REALDATA) if image_set == "ct" else mr_frame(REALDATA)


def _in_plane_axes(image: ReferenceImage) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Anterior and superior in the slice plane, from the geometry (LPS: anterior is -y)."""
    n = np.asarray(image.plane.normal, dtype=float)
    sup = np.array([0.0, 0.0, 1.0]) - n[2] * n
    sup /= np.linalg.norm(sup)
    ant = np.array([0.0, -1.0, 0.0])
    ant = ant - (ant @ n) * n - (ant @ sup) * sup
    return ant / np.linalg.norm(ant), sup


def _evaluate(image: ReferenceImage, body: ReferenceBody, contrast: str) -> BodyResult:
    ant, sup = _in_plane_axes(image)
    centre = np.mean(list(body.landmarks.values()), axis=0)
    errors: list[dict[str, float] | None] = []
    vkas: list[float | None] = []
    proposals = []
    for da, ds in SEED_OFFSETS_MM:
        p = propose_body(image.pixels, image.plane, centre + da * ant + ds * sup, contrast)  # type: ignore[arg-type]
        if not p.usable():
            errors.append(None)
            vkas.append(None)
            proposals.append(None)
            continue
        lm = {k: np.asarray(v, dtype=float) for k, v in p.landmarks.items()}
        proposals.append(lm)
        errors.append({k: float(np.linalg.norm(lm[k] - ref)) for k, ref in body.landmarks.items()})
        vkas.append(vka_deg(lm, sup) - vka_deg(body.landmarks, sup))
    move: float | None = None
    first = proposals[0]
    if first is not None and all(q is not None for q in proposals):
        move = max(float(np.linalg.norm(q[k] - first[k])) for q in proposals[1:] if q for k in first)
    return BodyResult(body.level_guess, tuple(errors), tuple(vkas), move)


@lru_cache(maxsize=2)
def results(image_set: str) -> tuple[BodyResult, ...]:
    image = _image(image_set)
    contrast = "bright" if image_set == "ct" else "dark"
    return tuple(_evaluate(image, b, contrast) for b in load() if b.image_set == image_set)


def summary(image_set: str) -> dict[str, float]:
    """Median and worst point error (mm) over all confident proposals, the share of seeds
    that gave one, the worst |VKA error| (deg) and the worst seed move (mm)."""
    rs = results(image_set)
    errs = [e for r in rs for es in r.errors_mm if es is not None for e in es.values()]
    n_seeds = sum(len(r.errors_mm) for r in rs)
    n_ok = sum(es is not None for r in rs for es in r.errors_mm)
    vkas = [abs(v) for r in rs for v in r.vka_error_deg if v is not None]
    moves = [r.max_seed_move_mm for r in rs if r.max_seed_move_mm is not None]
    nan = float("nan")
    return {
        "median_mm": float(np.median(errs)) if errs else nan,
        "worst_mm": float(np.max(errs)) if errs else nan,
        "proposed": n_ok / n_seeds,
        "vka_median_deg": float(np.median(vkas)) if vkas else nan,
        "vka_worst_deg": float(np.max(vkas)) if vkas else nan,
        "worst_seed_move_mm": float(np.max(moves)) if moves else nan,
        "stable_bodies": len(moves) / len(rs),
    }


def _describe(image_set: str) -> str:
    s = summary(image_set)
    return ", ".join(f"{k}={v:.2f}" for k, v in s.items())


def _known(image_set: str, what: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(
        strict=True, reason=f"{image_set}: {what} not met yet (docs/assisted-landmarks.md)"
    )


#: What the proposals do not reach yet on each image set (strict: a fix turns these into
#: XPASS failures, and the marks must then be removed).
KNOWN_MISSES: dict[tuple[str, str], pytest.MarkDecorator] = {
    (image_set, what): _known(image_set, what)
    for image_set, what in (
        ("ct", "proposed"),
        ("ct", "stability"),
        ("mr", "proposed"),
        ("mr", "stability"),
    )
}


def _param(image_set: str, what: str) -> object:
    mark = KNOWN_MISSES.get((image_set, what))
    return pytest.param(image_set, marks=mark) if mark else image_set


@pytest.mark.parametrize("image_set", [_param(s, "proposed") for s in ("ct", "mr")])
def test_every_seed_gives_a_confident_proposal(realdata_dir: object, image_set: str) -> None:
    s = summary(image_set)
    assert s["proposed"] >= 1.0, _describe(image_set)


@pytest.mark.parametrize("image_set", [_param(s, "median") for s in ("ct", "mr")])
def test_median_point_error_is_within_the_limit(realdata_dir: object, image_set: str) -> None:
    s = summary(image_set)
    assert s["proposed"] > 0.0, _describe(image_set)
    assert s["median_mm"] <= MEDIAN_LIMIT_MM, _describe(image_set)


@pytest.mark.parametrize("image_set", [_param(s, "worst") for s in ("ct", "mr")])
def test_worst_point_error_is_within_the_limit(realdata_dir: object, image_set: str) -> None:
    s = summary(image_set)
    assert s["proposed"] > 0.0, _describe(image_set)
    assert s["worst_mm"] <= WORST_LIMIT_MM, _describe(image_set)


@pytest.mark.parametrize("image_set", [_param(s, "stability") for s in ("ct", "mr")])
def test_a_seed_moved_within_the_body_moves_no_point_more_than_1_mm(
    realdata_dir: object, image_set: str
) -> None:
    s = summary(image_set)
    assert s["stable_bodies"] >= 1.0, _describe(image_set)
    assert s["worst_seed_move_mm"] <= STABILITY_LIMIT_MM, _describe(image_set)


def table() -> str:
    """The Markdown table of docs/assisted-landmarks.md (per body, then per image set)."""
    lines = [
        "| image | body | seeds proposed | median mm | worst mm | VKA error deg (worst abs) | seed move mm |",
        "|---|---|---|---|---|---|---|",
    ]
    for image_set in ("ct", "mr"):
        for r in results(image_set):
            errs = [e for es in r.errors_mm if es is not None for e in es.values()]
            vk = [abs(v) for v in r.vka_error_deg if v is not None]
            ok = sum(es is not None for es in r.errors_mm)
            lines.append(
                f"| {image_set.upper()} | {r.level} | {ok}/{len(r.errors_mm)} | "
                + (
                    f"{np.median(errs):.1f} | {np.max(errs):.1f} | {np.max(vk):.1f} | "
                    if errs
                    else "- | - | - | "
                )
                + (f"{r.max_seed_move_mm:.1f} |" if r.max_seed_move_mm is not None else "- |")
            )
        s = summary(image_set)
        lines.append(
            f"| **{image_set.upper()}** | all | {s['proposed']:.0%} | **{s['median_mm']:.1f}** | "
            f"**{s['worst_mm']:.1f}** | {s['vka_worst_deg']:.1f} (median {s['vka_median_deg']:.1f}) | "
            f"{s['worst_seed_move_mm']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
