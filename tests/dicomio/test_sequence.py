"""MR sequence classification: each rule, its reason, and the rule order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomio.scan import scan_paths
from dicomio.sequence import classify_mr
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series


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
            "FLAIR: SeriesDescription 'T12 level FLAIR' contains 'flair'",
        ),
        ({}, "other", "no STIR, T1 or T2 marker"),
        # -- one row per source attribute, everything else neutral ------------------------------
        # ScanningSequence IR + short InversionTime alone (3 T value), neutral description
        (
            {"SeriesDescription": "sag 3", "ScanningSequence": "IR", "InversionTime": 220.0},
            "STIR",
            "ScanningSequence 'IR' contains 'IR' with InversionTime 220 ms (short-tau range 100-250 ms)",
        ),
        # SequenceVariant MP (magnetization prepared) on a spin echo + short InversionTime
        (
            {
                "SeriesDescription": "sag 3",
                "ScanningSequence": "SE",
                "SequenceVariant": ["SK", "SP", "MP"],
                "InversionTime": 160.0,
            },
            "STIR",
            "SequenceVariant 'SK\\SP\\MP' contains 'MP' (magnetization prepared) on ScanningSequence 'SE' "
            "with InversionTime 160 ms",
        ),
        # ... but MP on a gradient echo with a short TI is a saturation recovery, not a STIR
        (
            {
                "SeriesDescription": "sag 3",
                "ScanningSequence": "GR",
                "SequenceVariant": ["SP", "MP"],
                "InversionTime": 120.0,
                "EchoTime": 1.2,
            },
            "T1",
            "SequenceVariant 'SP\\MP' (spoiled gradient echo) and short EchoTime 1.2 ms",
        ),
        # ScanningSequence IR without InversionTime: not enough for STIR
        ({"SeriesDescription": "sag 3", "ScanningSequence": "IR"}, "other", "no STIR, T1 or T2 marker"),
        # IR with a short TI outside the short-tau range (90 ms) is not STIR
        (
            {"SeriesDescription": "sag 3", "ScanningSequence": "IR", "InversionTime": 90.0},
            "other",
            "no STIR",
        ),
        # SequenceName alone
        ({"SequenceName": "*tir2d1_13"}, "STIR", "SequenceName '*tir2d1_13' contains 'tir'"),
        # TIRM in the description, Siemens style
        (
            {"SeriesDescription": "t2_tirm_sag_p2"},
            "STIR",
            "SeriesDescription 't2_tirm_sag_p2' contains 'TIRM'",
        ),
        # ScanOptions FS alone makes a T2 a T2 fat-sat
        (
            {"SeriesDescription": "sag 3", "EchoTime": 90.0, "RepetitionTime": 3000.0, "ScanOptions": "FS"},
            "T2FS",
            "long EchoTime 90 ms and RepetitionTime 3000 ms (T2-weighted timing); fat saturation: "
            "ScanOptions 'FS' contains 'FS'",
        ),
        # ScanOptions without FS: plain T2
        (
            {"SeriesDescription": "sag 3", "EchoTime": 90.0, "RepetitionTime": 3000.0, "ScanOptions": "PFP"},
            "T2",
            "long EchoTime 90 ms",
        ),
        # SequenceVariant SP on a gradient echo with a short TE: spoiled GRE, T1-weighted
        (
            {
                "SeriesDescription": "sag 3",
                "ScanningSequence": "GR",
                "SequenceVariant": ["SP", "OSP"],
                "EchoTime": 4.8,
                "RepetitionTime": 250.0,
            },
            "T1",
            "ScanningSequence 'GR' with SequenceVariant 'SP\\OSP' (spoiled gradient echo) and short "
            "EchoTime 4.8 ms",
        ),
        # ... and with a long TE it is T2*-weighted: other
        (
            {
                "SeriesDescription": "sag 3",
                "ScanningSequence": "GR",
                "SequenceVariant": "SP",
                "EchoTime": 20.0,
                "RepetitionTime": 600.0,
            },
            "other",
            "no STIR",
        ),
        # -- Enhanced MR equivalents (MR Modifier / Enhanced MR Image module) ---------------
        (
            {"SeriesDescription": "sag 3", "InversionRecovery": "YES", "InversionTime": 150.0},
            "STIR",
            "InversionRecovery is 'YES' (Enhanced MR) with InversionTime 150 ms",
        ),
        (
            {"SeriesDescription": "sag 3", "InversionRecovery": "NO", "InversionTime": 150.0},
            "other",
            "no STIR",
        ),
        (
            {"AcquisitionContrast": "T2", "SpectrallySelectedSuppression": "FAT"},
            "T2FS",
            "AcquisitionContrast is 'T2'; fat saturation: SpectrallySelectedSuppression is 'FAT' "
            "(Enhanced MR)",
        ),
        (
            {"AcquisitionContrast": "T2", "SpectrallySelectedExcitation": "WATER"},
            "T2FS",
            "fat saturation: SpectrallySelectedExcitation is 'WATER' (water excitation, Enhanced MR)",
        ),
        (
            {"AcquisitionContrast": "T2", "SpectrallySelectedSuppression": "NONE"},
            "T2",
            "AcquisitionContrast is 'T2'",
        ),
        (
            {"EchoPulseSequence": "GRADIENT", "EchoTime": 12.0, "RepetitionTime": 500.0},
            "other",
            "no STIR",
        ),
        # -- diffusion / echo planar: never STIR or T2FS (a DWIBS uses a STIR pulse) ---------
        (
            {"SeriesDescription": "sag DWIBS b800", "ScanningSequence": ["SE", "IR"], "InversionTime": 180.0},
            "other",
            "SeriesDescription 'sag DWIBS b800' contains 'dwibs' (diffusion imaging)",
        ),
        (
            {
                "SeriesDescription": "sag 3",
                "ScanningSequence": "EP",
                "ScanOptions": ["PFP", "FS"],
                "EchoTime": 93.0,
                "RepetitionTime": 6600.0,
            },
            "other",
            "ScanningSequence 'EP' contains 'EP' (echo planar: diffusion or functional imaging)",
        ),
        ({"SeriesDescription": "ep2d_diff_TRACEW"}, "other", "contains 'diff' (diffusion imaging)"),
        # -- inversion recovery with a long TI is never STIR, whatever the name says ----------
        (
            {
                "SeriesDescription": "t2_tirm_tra_dark-fluid",
                "ScanningSequence": ["SE", "IR"],
                "InversionTime": 2500.0,
            },
            "other",
            "FLAIR: SeriesDescription 't2_tirm_tra_dark-fluid' contains 'dark-fluid'",
        ),
        (
            {"SeriesDescription": "sag 3", "ScanningSequence": ["SE", "IR"], "InversionTime": 2000.0},
            "other",
            "FLAIR: ScanningSequence 'SE\\IR' contains 'IR' with InversionTime 2000 ms",
        ),
        (
            {"SeriesDescription": "t1_tirm_sag", "ScanningSequence": ["SE", "IR"], "InversionTime": 800.0},
            "T1",
            "SeriesDescription 't1_tirm_sag' names T1",
        ),
        (
            {"SeriesDescription": "sag 3", "SequenceName": "*tir2d1_5", "InversionTime": 900.0},
            "other",
            "no STIR",
        ),
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
