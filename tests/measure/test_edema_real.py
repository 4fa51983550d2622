"""STIR edema on a real scanner file: a sagittal T1 without any STIR means "recency unknown"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomio.scan import scan_paths
from measure.case import Case, SeriesRef, StirDecision, Timepoint
from measure.edema import NO_STIR_MESSAGE, analyse_case_timepoint
from measure.landmarks import Landmark
from measure.results_json import stir_json

pytestmark = pytest.mark.realdata


def test_real_t1_without_stir_reports_recency_unknown(spine_ls: Path) -> None:
    scan = scan_paths([spine_ls])
    assert len(scan.stacks) == 1 and scan.skipped == []
    stack = scan.stacks[0]
    assert stack.sequence == "T1"  # classified from 't1_tse_sag_448_hf_p2 cc_th'
    assert stack.plane == "sagittal"

    case = Case("real-t1")
    case.add_timepoint(Timepoint("pre", "pre-op"))
    case.assign_series(SeriesRef(stack.series_uid, "pre", str(spine_ls), sequence=stack.sequence))
    # Two bodies outlined on the middle slice (positions in LPS through the real geometry).
    geometry = stack.geometry
    mid = geometry.shape[0] // 2
    sop = stack.frames[mid].sop_instance_uid
    for level, row0 in (("T6", 150), ("T7", 200)):
        corners = {
            "sup_ant": (200, row0),
            "sup_mid": (220, row0),
            "sup_post": (240, row0),
            "inf_ant": (200, row0 + 30),
            "inf_mid": (220, row0 + 30),
            "inf_post": (240, row0 + 30),
        }
        landmarks = {
            key: Landmark(tuple(geometry.index_to_lps(c, r, mid).tolist()), stack.series_uid, sop)
            for key, (c, r) in corners.items()
        }
        case.add_vertebra("pre", level, "unknown", landmarks)
    case.set_stir_decision("pre", "T7", StirDecision("overridden-not-recent", "old, sclerotic"))

    def must_not_load(_stack: object) -> np.ndarray:
        raise AssertionError("no STIR series: no pixels should be read")

    results = analyse_case_timepoint(case, "pre", scan.stacks, load_volume=must_not_load)
    assert list(results) == ["T6", "T7"]
    for level, result in results.items():
        d = stir_json(result)
        assert d["status"] == "no-stir"
        assert d["flag"] is None and d["sir"] is None and d["extent_grade"] is None
        assert d["message"] == f"{level}: {NO_STIR_MESSAGE}."
        assert "recency unknown" in d["message"]
    assert stir_json(results["T7"])["reader_decision"] == {
        "decision": "overridden-not-recent",
        "note": "old, sclerotic",
    }
    assert results["T7"].recent is False and results["T6"].recent is None
