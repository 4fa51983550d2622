"""A :class:`~measure.case.Case` to the case file's dict and back (validated, migrated).

``case_to_dict`` writes the current version; ``case_from_dict`` validates any known
version against the schema, migrates it and builds the case, refusing what the schema
cannot express (unknown timepoint ids, duplicates) with a sentence naming the field.
Top-level fields this version does not know are kept verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from measure.angles import RegionalSpec
from measure.case import Case
from measure.case_values import (
    DisplayWindow,
    Patient,
    ReaderEntry,
    SeriesIdentity,
    SeriesRef,
    StirDecision,
    Timepoint,
    set_series_of,
)
from measure.casefile.errors import CaseFileError
from measure.casefile.limits import MAX_NESTING, too_deep
from measure.casefile.migration import CURRENT_VERSION, FORMAT_NAME, migrate
from measure.casefile.schema import describe, field_path, validate_case_dict
from measure.clinical import record_from_dict, record_to_dict
from measure.landmarks import LANDMARK_KEYS, Landmark

#: Top-level keys this version understands; any other top-level key is kept verbatim.
_KNOWN_TOP_LEVEL = frozenset(
    {
        "format",
        "version",
        "coordinate_system",
        "units",
        "case_id",
        "patient",
        "timepoints",
        "series",
        "vertebrae",
        "reader",
        "clinical",
        "stir",
        "regional",
        "extras",
        "measurements",
        "written_by",
    }
)


def _landmark_to_dict(lm: Landmark) -> dict[str, Any]:
    # ``sop_uid`` is left out (not written as null) when unknown: the minimal form says
    # "optional", and a reader of that form may expect a text whenever the key is present.
    out: dict[str, Any] = {"position": list(lm.position_mm), "series_uid": lm.series_uid}
    if lm.sop_uid is not None:
        out["sop_uid"] = lm.sop_uid
    if lm.frame_index is not None:
        out["frame_index"] = lm.frame_index
    return out


def case_to_dict(
    case: Case,
    series_paths: Mapping[str, str] | None = None,
    measurements: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The current-version dict of ``case`` (``series_paths`` overrides stored paths)."""
    paths = dict(series_paths or {})
    patient = case.patient
    data: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": CURRENT_VERSION,
        "coordinate_system": "LPS",
        "units": "mm",
        "written_by": _written_by(),
        "case_id": case.case_id,
        "patient": {
            "name": patient.name,
            "id": patient.id,
            "birth_date": patient.birth_date,
            "sex": patient.sex,
        },
        "timepoints": [
            {
                "id": tp.id,
                "kind": tp.kind,
                "date": tp.date,
                "label": tp.label,
                "measurement_series": tp.measurement_series,
            }
            for tp in case.timepoints
        ],
        "series": [
            {
                "series_uid": s.series_uid,
                "timepoint": s.timepoint,
                "path": paths.get(s.series_uid, s.path),
                "description": s.description,
                "modality": s.modality,
                "sequence": s.sequence,
                "orientation": None if s.orientation is None else list(s.orientation),
                "pixel_spacing": None if s.pixel_spacing_mm is None else list(s.pixel_spacing_mm),
                "reformat": s.reformat,
                "generated_uid": s.generated_uid,
                "identity": None if s.identity is None else asdict(s.identity),
                "window": None if s.window is None else asdict(s.window),
            }
            for s in case.series
        ],
        "vertebrae": _vertebra_entries(case),
        "reader": [
            {
                "timepoint": tp,
                "level": level,
                "procedure": e.procedure,
                "cement_volume_ml": e.cement_volume_ml,
                "leakage": list(e.leakage),
                "complications": e.complications,
                "notes": e.notes,
            }
            for (tp, level), e in case.reader_entries().items()
        ],
        "clinical": [
            {"timepoint": tp, **record_to_dict(record)} for tp, record in case.clinical_records().items()
        ],
        "stir": [
            {"timepoint": tp, "level": level, "decision": d.decision, "note": d.note}
            for (tp, level), d in case.stir_decisions().items()
        ],
        "regional": [
            {
                "label": r.label,
                "upper_level": r.upper_level,
                "upper_endplate": r.upper_endplate,
                "lower_level": r.lower_level,
                "lower_endplate": r.lower_endplate,
            }
            for r in case.regional
        ],
        "extras": case.extras,
    }
    for key, value in case.unknown_fields.items():
        data.setdefault(key, value)
    data["measurements"] = measurements
    return data


def _vertebra_entries(case: Case) -> list[dict[str, Any]]:
    """One entry per vertebra and landmark set (``series_uid`` names the set), grouped per
    timepoint by set in the order the sets were started, so that the order survives."""
    entries: list[dict[str, Any]] = []
    for tp in case.timepoints:
        vertebrae = case.vertebrae(tp.id)
        for v in vertebrae:
            if not v.series:  # a status without landmarks yet
                entries.append({"timepoint": tp.id, "level": v.level, "status": v.status, "landmarks": {}})
        for uid in case.landmark_series(tp.id):
            for v in vertebrae:
                if uid in v.series:
                    entries.append(
                        {
                            "timepoint": tp.id,
                            "level": v.level,
                            "series_uid": uid,
                            "status": v.status,
                            "landmarks": {k: _landmark_to_dict(lm) for k, lm in v.landmarks_on(uid).items()},
                        }
                    )
    return entries


def _written_by() -> str:
    try:
        from importlib.metadata import version

        return f"Endplate {version('endplate')}"
    except Exception:  # not installed as a distribution (running from a source tree)
        return "Endplate"


def case_from_dict(data: Any, source: str = "case data") -> Case:
    """Validate, migrate and build a :class:`Case` from a parsed case file.

    ``source`` names the file in messages.  Raises :class:`CaseFileError`.
    """
    if not isinstance(data, dict):
        raise CaseFileError(
            f"{source} is not a valid case file: it holds {describe(data)}; expected an object"
        )
    if data.get("format") != FORMAT_NAME and "format" in data:
        raise CaseFileError(
            f"{source} is not an Endplate case file: field format is {describe(data['format'])}; "
            f'expected "{FORMAT_NAME}"',
            field="format",
        )
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > CURRENT_VERSION:
        raise CaseFileError(
            f"{source} was written by a newer Endplate: version {version}, this one reads up to "
            f"{CURRENT_VERSION}; update Endplate to open it",
            field="version",
        )
    deep = too_deep(data)
    if deep is not None:
        raise CaseFileError(
            f"{source} is not a valid case file: field {deep} is nested more than {MAX_NESTING} levels "
            "deep; expected plain values, lists and objects",
            field=deep,
        )
    validate_case_dict(data, source)
    data = migrate(data)
    return _build_case(data, source)


def _build_case(data: dict[str, Any], source: str) -> Case:
    def fail(path: list[Any], problem: str) -> CaseFileError:
        name = field_path(path)
        return CaseFileError(f"{source} is not a valid case file: field {name}: {problem}", field=name)

    case = Case(case_id=str(data.get("case_id", "")))
    p = data.get("patient") or {}
    try:
        case.set_patient(Patient(p.get("name"), p.get("id"), p.get("birth_date"), p.get("sex")))
    except ValueError as exc:
        raise fail(["patient"], str(exc)) from None

    for i, t in enumerate(data["timepoints"]):
        try:
            case.add_timepoint(
                Timepoint(t["id"], t["kind"], t.get("date"), t.get("label", ""), t.get("measurement_series"))
            )
        except ValueError as exc:
            raise fail(["timepoints", i], str(exc)) from None

    known_tps = {tp.id for tp in case.timepoints}

    def check_tp(path: list[Any], tp: str) -> None:
        if tp not in known_tps:
            raise fail(
                path, f'"{tp}" is not the id of a timepoint; expected one of {", ".join(sorted(known_tps))}'
            )

    for i, s in enumerate(data["series"]):
        check_tp(["series", i, "timepoint"], s["timepoint"])
        if case.series_ref(s["series_uid"]) is not None:
            raise fail(
                ["series", i, "series_uid"], f"series {s['series_uid']} is listed twice; expected unique UIDs"
            )
        try:
            ref = SeriesRef(
                series_uid=s["series_uid"],
                timepoint=s["timepoint"],
                path=s["path"],
                description=s.get("description", ""),
                modality=s.get("modality", ""),
                sequence=s.get("sequence"),
                orientation=s.get("orientation"),
                pixel_spacing_mm=s.get("pixel_spacing"),
                reformat=bool(s.get("reformat", False)),
                identity=None if s.get("identity") is None else SeriesIdentity(**s["identity"]),
                window=None if s.get("window") is None else DisplayWindow(**s["window"]),
                generated_uid=bool(s.get("generated_uid", False)),
            )
        except ValueError as exc:
            raise fail(["series", i], str(exc)) from None
        case.assign_series(ref)

    known_series = {ref.series_uid for ref in case.series}

    def check_series(path: list[Any], uid: str | None) -> None:
        """A landmark on a series the case does not list cannot be shown, found again or
        exported with its images: refused, not kept silently (issue 14, hole 7)."""
        if uid is not None and uid not in known_series:
            listed = ", ".join(sorted(known_series)[:5]) or "none"
            raise fail(path, f"series {uid} is not one of the case's series (listed: {listed})")

    for i, t in enumerate(data["timepoints"]):
        check_series(["timepoints", i, "measurement_series"], t.get("measurement_series"))

    for i, v in enumerate(data["vertebrae"]):
        tp, level = v["timepoint"], v["level"]
        check_tp(["vertebrae", i, "timepoint"], tp)
        check_series(["vertebrae", i, "series_uid"], v.get("series_uid"))
        for key, lm in v["landmarks"].items():
            check_series(["vertebrae", i, "landmarks", key, "series_uid"], lm["series_uid"])
        landmarks: dict[str, Landmark] = {}
        for key in LANDMARK_KEYS:
            lm = v["landmarks"].get(key)
            if lm is None:
                continue
            try:
                landmarks[key] = Landmark(
                    tuple(lm["position"]), lm["series_uid"], lm.get("sop_uid"), lm.get("frame_index")
                )
            except ValueError as exc:
                raise fail(["vertebrae", i, "landmarks", key], str(exc)) from None
        series_uid = v.get("series_uid") or (set_series_of(landmarks) if landmarks else None)
        existing = case.vertebra(tp, level)
        if existing is None:
            try:
                case.add_vertebra(
                    tp, level, v["status"], landmark_sets={series_uid: landmarks} if series_uid else None
                )
            except ValueError as exc:
                raise fail(["vertebrae", i], str(exc)) from None
            continue
        # Another landmark set of a vertebra already listed (version 3: one entry per set).
        if series_uid is None or series_uid in existing.series:
            raise fail(
                ["vertebrae", i, "level"],
                f'{level} is listed twice for timepoint "{tp}"'
                + (f" on series {series_uid}" if series_uid else "")
                + "; expected one entry per level and landmark set",
            )
        if v["status"] != existing.status:
            raise fail(
                ["vertebrae", i, "status"],
                f'{level} at timepoint "{tp}" is "{existing.status}" in one entry and "{v["status"]}" in '
                "another; expected one status per vertebra",
            )
        case.set_landmark_set(tp, level, series_uid, landmarks)

    for i, r in enumerate(data.get("reader", [])):
        if r["timepoint"] is not None:
            check_tp(["reader", i, "timepoint"], r["timepoint"])
        try:
            entry = ReaderEntry(
                procedure=r.get("procedure"),
                cement_volume_ml=r.get("cement_volume_ml"),
                leakage=tuple(r.get("leakage", ())),
                complications=r.get("complications", ""),
                notes=r.get("notes", ""),
            )
            case.set_reader_entry(r["timepoint"], r["level"], entry)
        except ValueError as exc:
            raise fail(["reader", i], str(exc)) from None

    for i, c in enumerate(data.get("clinical", [])):
        check_tp(["clinical", i, "timepoint"], c["timepoint"])
        if case.clinical(c["timepoint"]) is not None:
            raise fail(["clinical", i, "timepoint"], f'timepoint "{c["timepoint"]}" has two clinical records')
        try:
            case.set_clinical(c["timepoint"], record_from_dict(c))
        except (TypeError, ValueError) as exc:
            raise fail(["clinical", i], str(exc)) from None

    for i, d in enumerate(data.get("stir", [])):
        check_tp(["stir", i, "timepoint"], d["timepoint"])
        case.set_stir_decision(d["timepoint"], d["level"], StirDecision(d.get("decision"), d.get("note", "")))

    specs = []
    for i, r in enumerate(data.get("regional", [])):
        try:
            specs.append(
                RegionalSpec(
                    upper_level=r["upper_level"],
                    upper_endplate=r["upper_endplate"],
                    lower_level=r["lower_level"],
                    lower_endplate=r["lower_endplate"],
                    label=r.get("label"),
                )
            )
        except ValueError as exc:
            raise fail(["regional", i], str(exc)) from None
    case.set_regional(specs)

    for key, value in (data.get("extras") or {}).items():
        case.set_extra(key, value)
    case.unknown_fields = {k: v for k, v in data.items() if k not in _KNOWN_TOP_LEVEL}
    return case
