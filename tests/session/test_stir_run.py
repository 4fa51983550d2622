"""The whole-case STIR analysis the app runs in a worker (session.stir_run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from measure.case_snapshot import CaseSnapshot
from measure.casefile import load_case
from measure.results_json import stir_json
from session.case_images import CaseImages
from session.stir_run import AnalysisCancelled, analyse_case
from tests.measure.test_export_case_builder import build_mr_case


@pytest.fixture(scope="module")
def mr_case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mr_case(tmp_path_factory.mktemp("stir_run")).case_path


def test_the_worker_job_gives_what_the_command_line_gives(mr_case_path: Path) -> None:
    case = load_case(mr_case_path)
    images = CaseImages(case)
    job = analyse_case(CaseSnapshot(case), images.stacks, images.library)
    cli = images.stir_results()
    assert set(job) == {"pre", "post", "fu"}
    assert {tp: {lv: stir_json(r) for lv, r in per.items()} for tp, per in job.items()} == {
        tp: {lv: stir_json(r) for lv, r in per.items()} for tp, per in cli.items()
    }
    l1 = job["pre"]["L1"]
    assert l1.flag is True and l1.sir is not None and l1.sir > 1.3  # the phantom's L1 edema
    assert job["post"]["L1"].status == "no-stir"
    # The STIR's voxels went through the library's one cache.
    stir = images.library.stack(l1.stir_series_uid or "")
    assert stir is not None and images.library.cache.is_loaded(stir)


def test_cancel_stops_between_timepoints(mr_case_path: Path) -> None:
    case = load_case(mr_case_path)
    images = CaseImages(case)
    with pytest.raises(AnalysisCancelled):
        analyse_case(CaseSnapshot(case), images.stacks, images.library, cancel=lambda: True)
