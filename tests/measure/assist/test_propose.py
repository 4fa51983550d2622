"""Propose a body from one seed: against the phantom's exact landmarks.

Seeds anywhere within 5 mm of the body's centre; CT (12 HU noise), T1 and STIR (15 units),
0.9 x 0.7 mm pixels, anterior left and right, pre-op and post-op.  Normal bodies must come
out within the limits below; the fractured/cemented L1 either within them or with a
confidence below the threshold (the reader is told to place it by hand), never a
confident wrong proposal.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dicomio.synthetic.phantom import default_phantom
from dicomio.synthetic.phantom_anatomy import LANDMARK_KEYS
from measure.assist.propose import ProposalSettings, propose_body
from measure.assist.snap import cortex_contrast_for
from tests.handcalc import signed_vka_deg
from tests.measure.assist.phantom_slices import phantom_geometry, phantom_slice

#: Per-point limit (mm) and VKA limit (deg): the issue's 1.5 mm / 1.5 deg on CT and T1.
#: STIR: the phantom's posterior wall has 2 mm of soft tissue and then bright CSF, and the
#: wall snap takes the CSF edge: posterior corners come out ~2 mm behind (documented).
LIMIT_MM = {"CT": 1.5, "T1": 1.5, "STIR": 2.6}
LIMIT_DEG = {"CT": 1.5, "T1": 1.5, "STIR": 3.0}
SEEDS_MM = ((0.0, 0.0), (4.0, 0.0), (-4.0, 0.0), (0.0, 3.5), (0.0, -3.5), (3.0, 3.0))
CASES = list(itertools.product(("CT", "T1", "STIR"), ("pre", "post"), (False, True)))


def _centre(lm: dict[str, tuple[float, float, float]]) -> np.ndarray:
    return np.mean([lm[k] for k in LANDMARK_KEYS], axis=0)


@pytest.mark.parametrize(("contrast", "timepoint", "anterior_on_right"), CASES)
def test_proposals_on_the_phantom(contrast: str, timepoint: str, anterior_on_right: bool) -> None:
    g = phantom_geometry(anterior_on_right)
    img = phantom_slice(contrast, timepoint, anterior_on_right)  # type: ignore[arg-type]
    polarity = cortex_contrast_for("CT" if contrast == "CT" else "MR")
    ph = default_phantom()
    threshold = ProposalSettings().min_confidence
    for level, lm in ph.truth(timepoint).items():  # type: ignore[arg-type]
        normal_body = level != ph.fractured_level
        for dy, dz in SEEDS_MM:  # y: posterior (LPS), z: superior
            seed = _centre(lm) + np.array([0.0, dy, dz])
            p = propose_body(img, g.first, seed, polarity)
            where = f"{contrast} {timepoint} {level} seed {dy:+},{dz:+}"
            if not p.usable():
                assert not normal_body, f"{where}: {p.reason} ({p.confidence:.2f})"
                continue
            assert p.confidence >= threshold
            for key in LANDMARK_KEYS:
                err = np.subtract(p.landmarks[key], lm[key])
                assert err[0] == pytest.approx(0.0, abs=1e-6)  # on the slice
                assert float(np.linalg.norm(err)) <= LIMIT_MM[contrast], f"{where} {key}: {err.round(2)}"
            vka_err = signed_vka_deg(p.landmarks) - signed_vka_deg(lm)
            assert -LIMIT_DEG[contrast] <= vka_err <= LIMIT_DEG[contrast], where


def test_the_proposal_hardly_moves_with_the_seed() -> None:
    """Within the body, a different seed gives the same points (issue: < 1 mm)."""
    g = phantom_geometry(False)
    img = phantom_slice("CT", "pre", False)
    lm = default_phantom().truth("pre")["L2"]
    proposals = [
        propose_body(img, g.first, _centre(lm) + np.array([0.0, dy, dz]), "bright") for dy, dz in SEEDS_MM
    ]
    for key in LANDMARK_KEYS:
        pts = np.array([p.landmarks[key] for p in proposals])
        spread = float(np.max(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))
        assert spread < 1.0, key


def test_a_seed_in_the_disc_or_outside_the_spine_gives_no_usable_proposal() -> None:
    g = phantom_geometry(False)
    img = phantom_slice("CT", "pre", False)
    truth = default_phantom().truth("pre")
    disc = (np.asarray(truth["L2"]["inf_mid"]) + np.asarray(truth["L3"]["sup_mid"])) / 2
    in_front = np.asarray(truth["L2"]["sup_ant"]) + np.array(
        [0.0, -12.0, -12.0]
    )  # 12 mm in front of the body
    for seed in (disc, in_front):
        p = propose_body(img, g.first, seed, "bright")
        assert not p.usable()
        assert p.reason


def test_a_seed_outside_the_image_says_so() -> None:
    g = phantom_geometry(False)
    img = phantom_slice("CT", "pre", False)
    p = propose_body(img, g.first, np.array([-3.0, 5000.0, 0.0]), "bright")
    assert p.landmarks == {} and p.confidence == 0.0
    assert "outside the image" in p.reason
