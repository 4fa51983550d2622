"""MR sequence classification: each rule, its reason, and the rule order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomio.scan import scan_paths
from dicomio.sequence import classify_mr
from dicomio.synth import SeriesSpec, sagittal_geometry, write_series


@pytest.mark.parametrize(
    ("attributes", "expected", "reason_part"),
    [
        ({"SeriesDescription": "SAG STIR"}, "STIR", "SeriesDescription 'SAG STIR' contains 'STIR'"),
        ({"SeriesDescription": "t2_tirm_sag"}, "STIR", "contains 'TIRM'"),
        ({"SeriesDescription": "SAG IR T2"}, "STIR", "contains the word 'IR'"),
        (
            {"SeriesDescription": "sag 3", "ScanningSequence": ["SE", "IR"], "InversionTime": 150.0},
            "STIR",
            "ScanningSequence 'SE\\IR' contains 'IR' with InversionTime 150 ms",
        ),
        ({"SeriesDescription": "sag", "SequenceName": "*tir2d1_13"}, "STIR", "SequenceName '*tir2d1_13'"),
        ({"SeriesDescription": "t2_tse_sag"}, "T2", "SeriesDescription 't2_tse_sag' names T2"),
        ({"SeriesDescription": "SAG T2W"}, "T2", "names T2"),
        ({"SeriesDescription": "t2_tse_fs_sag"}, "T2FS", "contains 'fs'"),
        ({"SeriesDescription": "SAG T2 FAT SAT"}, "T2FS", "contains 'fat sat'"),
        ({"SeriesDescription": "T2 SPAIR sag"}, "T2FS", "contains 'SPAIR'"),
        ({"SeriesDescription": "sag T2 SPIR"}, "T2FS", "contains 'SPIR'"),
        ({"SeriesDescription": "T2FATSAT"}, "T2FS", "'T2FATSAT' contains 'fat sat'"),
        (
            {"SeriesDescription": "SAG T2", "ScanOptions": ["FS", "PFP"]},
            "T2FS",
            "ScanOptions 'FS\\PFP' contains 'FS'",
        ),
        ({"SeriesDescription": "t1_tse_sag_448_hf_p2 cc_th"}, "T1", "names T1"),
        ({"SeriesDescription": "MPRAGE", "AcquisitionContrast": "T1"}, "T1", "AcquisitionContrast is 'T1'"),
        (
            {"SeriesDescription": "sag", "EchoTime": 12.0, "RepetitionTime": 550.0},
            "T1",
            "short EchoTime 12 ms",
        ),
        (
            {"SeriesDescription": "sag", "EchoTime": 100.0, "RepetitionTime": 3500.0},
            "T2",
            "long EchoTime 100 ms",
        ),
        ({"SeriesDescription": "T2* GRE"}, "other", "no STIR, T1 or T2 marker"),
        (
            {"SeriesDescription": "T12 level FLAIR", "ScanningSequence": "IR", "InversionTime": 2200.0},
            "other",
            "",
        ),
        ({}, "other", "no STIR, T1 or T2 marker"),
    ],
)
def test_classify_mr(attributes: dict, expected: str, reason_part: str) -> None:
    kind, reason = classify_mr(attributes)
    assert kind == expected, reason
    assert reason_part in reason


def test_stir_wins_over_t2_in_description() -> None:
    assert classify_mr({"SeriesDescription": "T2 STIR SAG"})[0] == "STIR"


def test_ir_with_long_inversion_time_is_not_stir() -> None:
    kind, _ = classify_mr({"SeriesDescription": "sag T1", "ScanningSequence": "IR", "InversionTime": 900.0})
    assert kind == "T1"


def test_sequence_is_set_for_mr_only(tmp_path: Path) -> None:
    g = sagittal_geometry(2, 4, 4)
    vol = np.zeros(g.shape)
    write_series(tmp_path / "mr", vol, g, SeriesSpec(modality="MR", description="SAG STIR"))
    write_series(tmp_path / "ct", vol, g, SeriesSpec(modality="CT", description="SAG STIR"))
    by_modality = {s.modality: s for s in scan_paths([tmp_path]).stacks}
    assert by_modality["MR"].sequence == "STIR"
    assert by_modality["MR"].sequence_reason == "SeriesDescription 'SAG STIR' contains 'STIR'"
    assert by_modality["CT"].sequence is None and by_modality["CT"].sequence_reason == ""
