"""Coded concepts shared by every export format: levels, measurements, units, landmarks.

One table, so that a CSV column, a DICOM SR content item and a FHIR Observation that
carry the same number also carry the same code.  Plain data only (no highdicom import):
``dicomio.sr`` turns these triples into ``CodedConcept`` objects.

Sources: vertebra codes are SNOMED CT "<level> vertebra" concepts as listed in DICOM
PS3.16 (the dictionary shipped with pydicom, ``pydicom.sr.codedict.codes.SCT``); S1 has
no such concept there, so its code is left empty (see docs/export.md).  Measurements
without a standard concept (vertebral kyphotic angle, Ha/Hm/Hp, ratios, height loss,
landmark points) use the private scheme :data:`PRIVATE_SCHEME` documented in
docs/export.md.
"""

from __future__ import annotations

from typing import NamedTuple

from dicomio.sr import LANDMARK_POINT_CODES, PRIVATE_SCHEME
from dicomio.sr import PRIVATE_SCHEME_NAME as PRIVATE_SCHEME_NAME
from dicomio.sr import PRIVATE_SCHEME_VERSION as PRIVATE_SCHEME_VERSION
from dicomio.sr import Coding as Coding

#: The FHIR system URI for the private codes (a URN: no web page is promised).
PRIVATE_SYSTEM_URI = "urn:endplate:codes:1"

SCHEME_SYSTEM_URIS: dict[str, str] = {
    "SCT": "http://snomed.info/sct",
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "UCUM": "http://unitsofmeasure.org",
    "LN": "http://loinc.org",
    PRIVATE_SCHEME: PRIVATE_SYSTEM_URI,
}

#: SNOMED CT vertebra concepts per level (DICOM PS3.16 / pydicom codedict). S1 has none.
LEVEL_SCT_CODES: dict[str, str] = {
    "C1": "14806007",
    "C2": "39976000",
    "C3": "113205007",
    "C4": "5329002",
    "C5": "36978003",
    "C6": "36054005",
    "C7": "87391001",
    "T1": "64864005",
    "T2": "53733008",
    "T3": "1626008",
    "T4": "73071006",
    "T5": "56401006",
    "T6": "45296009",
    "T7": "62487009",
    "T8": "11068009",
    "T9": "82687006",
    "T10": "7610001",
    "T11": "12989004",
    "T12": "23215003",
    "L1": "66794005",
    "L2": "14293000",
    "L3": "36470004",
    "L4": "11994002",
    "L5": "49668003",
    "S1": "",
}

#: Generic vertebra concept, used as the finding site when a level has no own code (S1).
VERTEBRA = Coding("SCT", "51282000", "Vertebra")


def level_coding(level: str) -> Coding:
    """The SNOMED CT concept of a vertebral level (generic "Vertebra" when it has none)."""
    code = LEVEL_SCT_CODES.get(level, "")
    if not code:
        return VERTEBRA
    return Coding("SCT", code, f"{level} vertebra")


class Unit(NamedTuple):
    """A UCUM unit: the code and a human-readable meaning."""

    code: str
    meaning: str


DEG = Unit("deg", "degree")
MM = Unit("mm", "millimeter")
PERCENT = Unit("%", "percent")
RATIO = Unit("1", "ratio")
ML = Unit("mL", "milliliter")
#: A UCUM annotation of unity: an ordinal grade (Genant 0-3, edema extent 0-3).
GRADE = Unit("{grade}", "grade")


class MeasurementCode(NamedTuple):
    """A numeric measurement as coded in SR/FHIR: key in the export record, code, unit."""

    key: str
    coding: Coding
    unit: Unit
    #: A broader standard concept (FHIR adds it as a second coding), if any.
    generic: Coding | None = None


COBB_ANGLE = Coding("SCT", "285285000", "Cobb angle")
HEIGHT = Coding("DCM", "121207", "Height")
LENGTH = Coding("SCT", "410668003", "Length")


def _private(value: str, meaning: str) -> Coding:
    return Coding(PRIVATE_SCHEME, value, meaning)


#: Per-vertebra measurements of one timepoint, in export order.  ``key`` is the field of
#: :class:`measure.export.records.ExportRecord` that holds the value.
VERTEBRA_MEASUREMENTS: tuple[MeasurementCode, ...] = (
    MeasurementCode("vka_deg", _private("VKA", "Vertebral kyphotic angle"), DEG),
    MeasurementCode("ha_mm", _private("HA", "Anterior vertebral body height"), MM, HEIGHT),
    MeasurementCode("hm_mm", _private("HM", "Middle vertebral body height"), MM, HEIGHT),
    MeasurementCode("hp_mm", _private("HP", "Posterior vertebral body height"), MM, HEIGHT),
    MeasurementCode("wedge_ratio", _private("WEDGE", "Wedge ratio Ha/Hp"), RATIO),
    MeasurementCode("biconcave_ratio", _private("BICONCAVE", "Biconcave ratio Hm/Hp"), RATIO),
    MeasurementCode("crush_ratio", _private("CRUSH", "Crush ratio Hp/Hp adjacent"), RATIO),
    *(
        MeasurementCode(
            f"height_loss_{ref}_{h}_pct",
            _private(f"HLOSS-{abbr}-{h.upper()}", f"{h.capitalize()} height loss against {what}"),
            PERCENT,
        )
        for ref, abbr, what, heights in (
            ("posterior", "POST", "own posterior height", ("ha", "hm")),
            ("adjacent", "ADJ", "mean of adjacent unfractured vertebrae", ("ha", "hm", "hp")),
            ("nearest", "NEAR", "nearest unfractured vertebra", ("ha", "hm", "hp")),
        )
        for h in heights
    ),
    MeasurementCode("stir_ratio", _private("STIR-SIR", "STIR signal intensity ratio"), RATIO),
    MeasurementCode("stir_edema_fraction", _private("STIR-EDEMA", "Edema fraction of vertebral body"), RATIO),
    MeasurementCode("stir_extent_grade", _private("STIR-EXTENT", "Edema extent grade (0-3)"), GRADE),
    MeasurementCode("t1_ratio", _private("T1-SIR", "T1 signal intensity ratio"), RATIO),
    MeasurementCode("genant_grade", _private("GENANT", "Genant semi-quantitative grade"), GRADE),
)

#: Yes/no findings of one vertebra: SR qualitative evaluations (CODE), FHIR valueBoolean.
STIR_FLAG = Coding(PRIVATE_SCHEME, "STIR-FLAG", "STIR edema: recent fracture likely")
PRESENT = Coding("SCT", "52101004", "Present")
ABSENT = Coding("SCT", "2667000", "Absent")
#: Morphological fracture type (SR qualitative evaluation; FHIR valueCodeableConcept).
FRACTURE_TYPE = Coding(PRIVATE_SCHEME, "FX-TYPE", "Vertebral fracture morphological type")
FRACTURE_TYPE_VALUES: dict[str, Coding] = {
    "wedge": Coding(PRIVATE_SCHEME, "FX-WEDGE", "Wedge"),
    "biconcave": Coding(PRIVATE_SCHEME, "FX-BICONCAVE", "Biconcave"),
    "crush": Coding(PRIVATE_SCHEME, "FX-CRUSH", "Crush"),
    "none": Coding(PRIVATE_SCHEME, "FX-NONE", "No fracture deformity (Genant grade 0)"),
}

#: Before/after comparisons of one level between two timepoints (FHIR and CSV).
COMPARISON_MEASUREMENTS: tuple[MeasurementCode, ...] = (
    MeasurementCode("correction_deg", _private("VKA-CORR", "Vertebral kyphotic angle correction"), DEG),
    MeasurementCode("height_gain_ha_mm", _private("HGAIN-HA", "Anterior height gain"), MM, HEIGHT),
    MeasurementCode("height_gain_hm_mm", _private("HGAIN-HM", "Middle height gain"), MM, HEIGHT),
    MeasurementCode("height_gain_hp_mm", _private("HGAIN-HP", "Posterior height gain"), MM, HEIGHT),
    MeasurementCode("restoration_ha_pct", _private("RESTOR-HA", "Anterior height restoration"), PERCENT),
    MeasurementCode("restoration_hm_pct", _private("RESTOR-HM", "Middle height restoration"), PERCENT),
    MeasurementCode("restoration_hp_pct", _private("RESTOR-HP", "Posterior height restoration"), PERCENT),
    MeasurementCode(
        "loss_of_correction_deg", _private("VKA-LOSS", "Loss of vertebral kyphotic angle correction"), DEG
    ),
)

#: Regional (segmental) angle between two endplates of two vertebrae.
REGIONAL_ANGLE = MeasurementCode("regional_angle_deg", COBB_ANGLE, DEG)

#: One SCOORD3D POINT concept per landmark key (defined with the SR writer).
LANDMARK_CODES: dict[str, Coding] = dict(LANDMARK_POINT_CODES)

#: Which landmarks each SR measurement is INFERRED FROM (the points it was computed from).
MEASUREMENT_LANDMARKS: dict[str, tuple[str, ...]] = {
    "vka_deg": ("sup_ant", "sup_post", "inf_ant", "inf_post"),
    "ha_mm": ("sup_ant", "inf_ant"),
    "hm_mm": ("sup_mid", "inf_mid"),
    "hp_mm": ("sup_post", "inf_post"),
}


# -- clinical outcomes (measure.clinical) -----------------------------------------------------
#: Code system per outcome, as FHIR carries them.  LOINC where a code exists (checked on
#: loinc.org): 38214-3 "Pain severity [Score] Visual analog score", 97909-6 "Oswestry
#: disability index score ODI".  The others have no standard concept we could verify; they
#: are coded in Endplate's private system (urn:endplate:codes:1), never a made-up LOINC.
SCORE = Unit("{score}", "score")
CLINICAL_MEASUREMENTS: tuple[MeasurementCode, ...] = (
    MeasurementCode("vas", Coding("LN", "38214-3", "Pain severity [Score] Visual analog score"), SCORE),
    MeasurementCode("odi", Coding("LN", "97909-6", "Oswestry disability index score ODI"), PERCENT),
    MeasurementCode(
        "analgesic_step", Coding(PRIVATE_SCHEME, "analgesic-step", "WHO analgesic ladder step"), GRADE
    ),
    MeasurementCode(
        "symptom_duration_days",
        Coding(PRIVATE_SCHEME, "symptom-duration", "Duration of symptoms"),
        Unit("d", "day"),
    ),
    MeasurementCode(
        "operating_time_min",
        Coding(PRIVATE_SCHEME, "operating-time", "Operating time"),
        Unit("min", "minute"),
    ),
    MeasurementCode(
        "length_of_stay_days", Coding(PRIVATE_SCHEME, "length-of-stay", "Length of stay"), Unit("d", "day")
    ),
)
#: Clinical outcomes written as text (FHIR valueString) in the private system.
CLINICAL_TEXTS: tuple[Coding, ...] = (
    Coding(PRIVATE_SCHEME, "discharge_destination", "Discharge destination"),
    Coding(PRIVATE_SCHEME, "complication_codes", "Complications (Endplate codes)"),
    Coding(PRIVATE_SCHEME, "new_fracture_levels", "New vertebral fracture levels"),
)
CLINICAL_FLAGS: tuple[Coding, ...] = (
    Coding(PRIVATE_SCHEME, "new_fracture_adjacent", "New fracture adjacent to a treated level"),
    Coding(PRIVATE_SCHEME, "lost_to_follow_up", "Lost to follow-up"),
    Coding(PRIVATE_SCHEME, "death", "Death"),
)
