"""The case file: JSON, validated against a schema, versioned, written atomically.

Format (docs/case-format.md): ``{"format": "endplate-case", "version": N,
"coordinate_system": "LPS", "units": "mm", "timepoints": [...], "series": [...],
"vertebrae": [...], ...}``.  Version 1 is the minimal form other tools write; this module
writes version :data:`CURRENT_VERSION` and migrates older files on load.

Why so careful: a case holds an hour of a radiologist's work.  Saving goes through a
temporary file in the same folder (flush, fsync, ``os.replace``, fsync of the folder),
so a crash or power cut leaves either the old file or the new one, never half of one,
and the previous version is kept as ``NAME.bak``.  A bad file is refused with one
sentence naming the file, the field and what was expected.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from measure.case import (
    Case,
    Patient,
    ReaderEntry,
    RegionalSpec,
    SeriesRef,
    StirDecision,
    Timepoint,
)
from measure.landmarks import LANDMARK_KEYS, Landmark
from measure.report import measurements_dict

FORMAT_NAME = "endplate-case"
CURRENT_VERSION = 2
#: Errors quoted in one message (the first ones, shallowest first).
MAX_REPORTED_ERRORS = 3

_log = logging.getLogger("endplate.casefile")

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
        "stir",
        "regional",
        "extras",
        "measurements",
        "written_by",
    }
)


class CaseFileError(ValueError):
    """A case file could not be read or written; the message is a full sentence."""

    def __init__(self, message: str, path: Path | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.field = field


# -- schema -------------------------------------------------------------------------


@cache
def case_schema() -> dict[str, Any]:
    """The JSON Schema of the case file (package data ``measure/case_schema.json``)."""
    text = resources.files("measure").joinpath("case_schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(case_schema())


def field_path(parts: Any) -> str:
    """``["vertebrae", 0, "landmarks"]`` -> ``"vertebrae[0].landmarks"``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {json.dumps(shown)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a text",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


def _expected(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if schema.get("description") and error.validator != "required":
        return str(schema["description"])
    v, value = error.validator, error.validator_value
    if v == "type":
        types = value if isinstance(value, list) else [value]
        return " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
    if v == "enum":
        return "one of " + ", ".join(json.dumps(x) for x in value)
    if v == "const":
        return json.dumps(value)
    if v == "minItems":
        return f"at least {value} item{'s' if value != 1 else ''}"
    if v == "maxItems":
        return f"at most {value} item{'s' if value != 1 else ''}"
    if v == "minimum":
        return f"a number of at least {value}"
    if v == "exclusiveMinimum":
        return f"a number greater than {value}"
    if v == "minLength":
        return "a non-empty text"
    if v == "uniqueItems":
        return "no repeated items"
    if v == "pattern":
        return f"a text matching {value}"
    return str(error.message)


def _sentence(error: ValidationError) -> tuple[str, str]:
    """(field path, sentence) for one schema error."""
    path = list(error.absolute_path)
    if error.validator == "required":
        # jsonschema reports one error per missing property, named only in its message.
        missing = [p for p in error.validator_value if repr(p) in error.message] or list(
            error.validator_value
        )
        full = field_path([*path, missing[0]])
        return full, f"field {full} is missing (it is required)"
    if "propertyNames" in error.relative_schema_path:
        full = field_path([*path, error.instance])
        schema = error.schema if isinstance(error.schema, dict) else {}
        expected = schema.get("description") or "a known key"
        return full, f"field {full} is not a known key; expected {expected}"
    full = field_path(path)
    return full, f"field {full} is {_describe(error.instance)}; expected {_expected(error)}"


def _error_key(error: ValidationError) -> tuple[Any, ...]:
    return (
        len(error.absolute_path),
        [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in error.absolute_path],
    )


def validate_case_dict(data: Any, source: str) -> None:
    """Raise :class:`CaseFileError` naming the first schema errors of ``data``."""
    errors = sorted(_validator().iter_errors(data), key=_error_key)
    if not errors:
        return
    sentences = []
    first_field = None
    for error in errors[:MAX_REPORTED_ERRORS]:
        # anyOf/oneOf without a description of its own: the best sub-error says more.
        if error.context and not (isinstance(error.schema, dict) and error.schema.get("description")):
            error = jsonschema.exceptions.best_match(error.context) or error
        name, sentence = _sentence(error)
        first_field = first_field or name
        sentences.append(sentence)
    more = len(errors) - len(sentences)
    tail = f" ({more} more problem{'s' if more != 1 else ''} not shown)" if more > 0 else ""
    message = f"{source} is not a valid case file: " + "; ".join(sentences) + "." + tail
    raise CaseFileError(message, field=first_field)


# -- migration ----------------------------------------------------------------------


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only adds optional sections; a version 1 file gets them empty."""
    out = dict(data)
    out["version"] = 2
    out.setdefault("case_id", "")
    out.setdefault("patient", {})
    out.setdefault("reader", [])
    out.setdefault("stir", [])
    out.setdefault("regional", [])
    out.setdefault("extras", {})
    return out


#: ``MIGRATIONS[n]`` turns a version-n dict into a version-(n+1) dict.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a validated dict of any known version up to :data:`CURRENT_VERSION`."""
    version = int(data["version"])
    while version < CURRENT_VERSION:
        data = MIGRATIONS[version](data)
        version = int(data["version"])
    return data


# -- dict <-> Case ------------------------------------------------------------------


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
            {"id": tp.id, "kind": tp.kind, "date": tp.date, "label": tp.label} for tp in case.timepoints
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
            }
            for s in case.series
        ],
        "vertebrae": [
            {
                "timepoint": v.timepoint,
                "level": v.level,
                "status": v.status,
                "landmarks": {k: _landmark_to_dict(lm) for k, lm in v.landmarks.items()},
            }
            for v in case.vertebrae()
        ],
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
            f"{source} is not a valid case file: it holds {_describe(data)}; expected an object"
        )
    if data.get("format") != FORMAT_NAME and "format" in data:
        raise CaseFileError(
            f"{source} is not an Endplate case file: field format is {_describe(data['format'])}; "
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
            case.add_timepoint(Timepoint(t["id"], t["kind"], t.get("date"), t.get("label", "")))
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
            )
        except ValueError as exc:
            raise fail(["series", i], str(exc)) from None
        case.assign_series(ref)

    for i, v in enumerate(data["vertebrae"]):
        check_tp(["vertebrae", i, "timepoint"], v["timepoint"])
        if case.vertebra(v["timepoint"], v["level"]) is not None:
            raise fail(
                ["vertebrae", i, "level"],
                f'{v["level"]} is listed twice for timepoint "{v["timepoint"]}"; '
                "expected one entry per level",
            )
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
        case.add_vertebra(v["timepoint"], v["level"], v["status"], landmarks)

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


# -- load -------------------------------------------------------------------------


def backup_path(path: Path) -> Path:
    """Where the previous version of a case file is kept: ``NAME.bak``."""
    return path.with_name(path.name + ".bak")


def load_case(path: Path | str) -> Case:
    """Read, validate and migrate a case file.  Raises :class:`CaseFileError`."""
    path = Path(path).expanduser()
    source = f"case file {path}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CaseFileError(f"cannot open {source}: no such file", path) from None
    except IsADirectoryError:
        raise CaseFileError(
            f"cannot open {source}: it is a folder; expected a .json case file", path
        ) from None
    except OSError as exc:
        raise CaseFileError(f"cannot read {source}: {exc.strerror or exc}", path) from None
    hint = ""
    if backup_path(path).is_file():
        hint = f" The previous version is in {backup_path(path).name}."
    if not raw.strip():
        raise CaseFileError(f"{source} is empty; expected a JSON case file.{hint}", path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseFileError(
            f"{source} is not UTF-8 text (byte {exc.start}); expected a JSON case file.{hint}", path
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseFileError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(the file may be truncated or damaged).{hint}",
            path,
        ) from None
    try:
        case = case_from_dict(data, source)
    except CaseFileError as exc:
        exc.path = path
        raise
    path = path.absolute()
    case.mark_saved(path)
    return case


# -- save -------------------------------------------------------------------------


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _check_not_source_folder(case: Case, folder: Path) -> None:
    """Refuse to write next to (or inside) the DICOM files of the case's series."""
    real_folder = _real(folder)
    for ref in case.series:
        source = _real(_absolute_series_path(case, ref.series_uid, folder))
        if source.is_dir():
            inside = _is_within(real_folder, source)
        else:  # a single file (multi-frame); a missing path holds nothing to protect
            inside = source.is_file() and source.parent == real_folder
        if inside:
            raise CaseFileError(
                f"refusing to save the case into {folder}: that folder holds the DICOM files of series "
                f"{ref.series_uid}; Endplate never writes into a DICOM source folder, choose another folder",
                field="series",
            )


def _absolute_series_path(case: Case, series_uid: str, target_folder: Path) -> Path:
    """Absolute series path; a relative path of a case never saved is relative to the
    file being written (that is what a relative path in a case file means)."""
    path = case.series_path(series_uid)
    return path if path.is_absolute() else target_folder / path


def _stored_path(target: Path, folder: Path) -> str:
    """A series path as written: relative to the case folder when the series is under the
    case folder or its parent (so a study folder moved as a whole still opens), else absolute."""
    target = Path(os.path.normpath(target))
    folder = Path(os.path.normpath(folder))
    for base, prefix in ((folder, ""), (folder.parent, "..")):
        if _is_within(target, base) and base != Path(base.anchor):
            rel = target.relative_to(base)
            parts = [prefix, *rel.parts] if prefix else list(rel.parts)
            return "/".join(parts) if parts else "."
    return str(target)


def _fsync_folder(folder: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: directories cannot be opened for fsync; os.replace is atomic there
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (network shares) refuse; the data itself was fsynced
    finally:
        os.close(fd)


def _write_temp(folder: Path, name: str, payload: bytes) -> Path:
    """Write ``payload`` to a new hidden temporary file in ``folder`` and fsync it."""
    tmp = folder / f".{name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _stale_temps(folder: Path, name: str) -> list[Path]:
    return [p for p in folder.glob(f".{name}.*.tmp") if p.is_file()]


def _measurement_snapshot(case: Case) -> dict[str, Any] | None:
    try:
        return measurements_dict(case)
    except (ValueError, ArithmeticError) as exc:
        _log.warning("measurement snapshot not written: %s", exc)
        return {"error": f"measurements could not be computed: {exc}"}


def save_case(case: Case, path: Path | str) -> Path:
    """Write ``case`` to ``path`` atomically, keeping the previous file as ``NAME.bak``.

    Series paths are rewritten relative to the new location where possible, and a
    ``measurements`` snapshot is recomputed.  On success the case is marked saved and
    remembers its file; on failure the previous file and its backup are untouched and
    :class:`CaseFileError` says why.  Returns the absolute path written.
    """
    path = Path(path).expanduser().absolute()
    folder = path.parent
    if not folder.is_dir():
        raise CaseFileError(f"cannot save the case to {path}: the folder {folder} does not exist", path)
    if path.is_dir():
        raise CaseFileError(f"cannot save the case to {path}: it is a folder; expected a file name", path)
    _check_not_source_folder(case, folder)

    stored = {
        ref.series_uid: _stored_path(_absolute_series_path(case, ref.series_uid, folder), folder)
        for ref in case.series
    }
    data = case_to_dict(case, stored, _measurement_snapshot(case))
    validate_case_dict(data, f"the case being saved to {path}")  # our own output must be valid
    payload = (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")

    stale = _stale_temps(folder, path.name) + _stale_temps(folder, backup_path(path).name)
    tmp: Path | None = None
    bak_tmp: Path | None = None
    try:
        tmp = _write_temp(folder, path.name, payload)
        if path.exists():
            # The backup is prepared as a second name of the current file (or a copy), and
            # only takes the .bak name after the new file is in place: a failed save leaves
            # both the file and its old .bak exactly as they were.
            bak_tmp = folder / f".{backup_path(path).name}.{uuid.uuid4().hex[:12]}.tmp"
            try:
                os.link(path, bak_tmp)
            except OSError:
                shutil.copy2(path, bak_tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        for leftover in (tmp, bak_tmp):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    leftover.unlink()
        if isinstance(exc, OSError):
            raise CaseFileError(
                f"could not save the case to {path}: {exc.strerror or exc}; the previous file is unchanged",
                path,
            ) from None
        raise
    if bak_tmp is not None:  # the new file is in place; a failed backup must not fail the save
        try:
            os.replace(bak_tmp, backup_path(path))
        except OSError as exc:
            _log.warning("could not keep the previous version of %s as .bak: %s", path, exc)
            with contextlib.suppress(OSError):
                bak_tmp.unlink()
    with contextlib.suppress(OSError):
        _fsync_folder(folder)
    for old in stale:  # temporaries of an earlier save that was interrupted
        with contextlib.suppress(OSError):
            old.unlink()

    case._rebase(folder, stored)
    case.mark_saved(path)
    return path


__all__ = [
    "CURRENT_VERSION",
    "FORMAT_NAME",
    "CaseFileError",
    "backup_path",
    "case_from_dict",
    "case_schema",
    "case_to_dict",
    "load_case",
    "migrate",
    "save_case",
    "validate_case_dict",
]
