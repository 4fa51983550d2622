"""Clinical outcomes of a timepoint: what a registry records besides the images.

The clinical series Endplate serves report pain (VAS, French "EVA", 0-10), disability
(Oswestry index, 0-100), the analgesic step (WHO 1-3, 0 for none), symptom duration, the
procedure's operating time, complications with the leakage location, length of stay and
discharge destination, new fractures at follow-up, loss to follow-up and death.  One
:class:`ClinicalRecord` per timepoint holds them (the procedure's fields on the timepoint of
the procedure, usually post-op); the device and cement volume stay per level in
:class:`measure.case_values.ReaderEntry`.  Values are checked when built: a record that
exists is in range.  Cross-field rules (dates in order, a follow-up after the procedure)
are in :func:`clinical_problems`, because they need the case's timepoints.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from measure.landmarks import LEVELS

COMPLICATION_KINDS: tuple[str, ...] = (
    "cement_leakage",
    "haematoma",
    "infection",
    "neurological_deficit",
    "other",
)
LEAKAGE_LOCATIONS: tuple[str, ...] = ("epidural", "foraminal", "prevertebral", "disc", "venous")
DISCHARGE_DESTINATIONS: tuple[str, ...] = (
    "home",
    "rehabilitation",
    "nursing_home",
    "other_hospital",
    "other",
)


def _date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a date written YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class Complication:
    """One complication: its kind, for a cement leakage where it went, whether it gave
    symptoms, the level it concerns, and free text (required for kind "other")."""

    kind: str
    location: str | None = None
    symptomatic: bool | None = None
    level: str | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in COMPLICATION_KINDS:
            raise ValueError(
                f"complication kind must be one of {', '.join(COMPLICATION_KINDS)}, got {self.kind!r}"
            )
        if self.kind == "cement_leakage":
            if self.location not in LEAKAGE_LOCATIONS:
                raise ValueError(
                    f"a cement leakage needs its location, one of {', '.join(LEAKAGE_LOCATIONS)}, "
                    f"got {self.location!r}"
                )
        elif self.location is not None:
            raise ValueError(f"only a cement leakage has a location (a {self.kind} has none)")
        if self.level is not None and self.level not in LEVELS:
            raise ValueError(f"complication level must be a vertebral level such as L1, got {self.level!r}")
        if self.kind == "other" and not self.text.strip():
            raise ValueError("a complication of kind 'other' needs a text saying what it was")

    @property
    def code(self) -> str:
        """``cement_leakage:epidural:symptomatic`` (registry cell, ';'-joined per timepoint)."""
        parts = [self.kind]
        if self.location:
            parts.append(self.location)
        if self.symptomatic is not None:
            parts.append("symptomatic" if self.symptomatic else "asymptomatic")
        return ":".join(parts)


@dataclass(frozen=True)
class NewFracture:
    """A new vertebral fracture seen at follow-up: level, adjacent to a treated level or not."""

    level: str
    adjacent: bool
    date: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"new fracture level must be a vertebral level such as T12, got {self.level!r}")
        if self.date is not None:
            _date(self.date, "new fracture date")


def _number(
    value: float | int | None, name: str, low: float, high: float | None, integer: bool = False
) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        bounds = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ValueError(f"{name} must be {bounds}, got {number:g}")
    if integer:
        if number != int(number):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


@dataclass(frozen=True)
class ClinicalRecord:
    """The clinical outcomes recorded at one timepoint (None: not recorded)."""

    vas: float | None = None  # pain, visual analogue scale 0-10
    odi: float | None = None  # Oswestry disability index 0-100 (%)
    analgesic_step: int | None = None  # WHO analgesic ladder 1-3, 0 = none
    symptom_duration_days: int | None = None  # pain onset to this timepoint (pre-op)
    operating_time_min: float | None = None  # the procedure at this timepoint
    length_of_stay_days: float | None = None
    discharge_destination: str | None = None  # one of DISCHARGE_DESTINATIONS
    complications: tuple[Complication, ...] = ()
    new_fractures: tuple[NewFracture, ...] = ()
    lost_to_follow_up: bool | None = None
    death: bool | None = None
    death_date: str | None = None

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, float, float | None, bool], ...] = (
            ("vas", 0, 10, False),
            ("odi", 0, 100, False),
            ("analgesic_step", 0, 3, True),
            ("symptom_duration_days", 0, None, True),
            ("operating_time_min", 0, 24 * 60, False),
            ("length_of_stay_days", 0, 365, False),
        )
        for name, low, high, integer in checks:
            object.__setattr__(self, name, _number(getattr(self, name), name, low, high, integer))
        if (
            self.discharge_destination is not None
            and self.discharge_destination not in DISCHARGE_DESTINATIONS
        ):
            raise ValueError(
                f"discharge_destination must be one of {', '.join(DISCHARGE_DESTINATIONS)}, "
                f"got {self.discharge_destination!r}"
            )
        for name in ("lost_to_follow_up", "death"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
        if self.death_date is not None:
            _date(self.death_date, "death_date")
            if self.death is False:
                raise ValueError("death_date is set but death is false")
        object.__setattr__(self, "complications", tuple(self.complications))
        object.__setattr__(self, "new_fractures", tuple(self.new_fractures))

    @property
    def empty(self) -> bool:
        return self == ClinicalRecord()

    def with_field(self, name: str, value: Any) -> ClinicalRecord:
        """A copy with one scalar field set from text or a value (``""``/None clears it);
        the sentence of the refusal names the field."""
        scalar = {f.name for f in fields(self)} - {"complications", "new_fractures"}
        if name not in scalar:
            raise ValueError(f"unknown clinical field {name!r}; expected one of {', '.join(sorted(scalar))}")
        return replace(self, **{name: parse_field(name, value)})


#: Scalar fields and how their text is read (CLI ``case set``, CSV import, the app form).
_BOOLEAN_FIELDS = {"lost_to_follow_up", "death"}
_TEXT_FIELDS = {"discharge_destination", "death_date"}
_INTEGER_FIELDS = {"analgesic_step", "symptom_duration_days"}


def parse_field(name: str, value: Any) -> Any:
    """The value of a scalar clinical field from its text form (``""`` and None: unset)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return value
    text = value.strip()
    if name in _BOOLEAN_FIELDS:
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"{name} must be true or false, got {value!r}")
    if name in _TEXT_FIELDS:
        return text
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    return int(number) if name in _INTEGER_FIELDS and number == int(number) else number


def clinical_problems(
    timepoints: Sequence[tuple[str, str, str | None]], records: Mapping[str, ClinicalRecord]
) -> list[str]:
    """Cross-field rules, one sentence each: timepoint dates in clinical order, a follow-up
    after the procedure, new fractures and death not before the procedure.

    ``timepoints`` are (id, kind, date) in clinical order; kinds "pre-op", "post-op",
    "follow-up".
    """
    problems: list[str] = []
    dated = [(tp_id, kind, _date(d, f"the date of timepoint {tp_id}")) for tp_id, kind, d in timepoints if d]
    for (a_id, _, a), (b_id, _, b) in itertools.pairwise(dated):
        if b < a:
            problems.append(f"timepoint {b_id} ({b}) is dated before timepoint {a_id} ({a}).")
    procedure = next((d for _, kind, d in dated if kind == "post-op"), None)
    if procedure is not None:
        for tp_id, kind, d in dated:
            if kind == "follow-up" and d <= procedure:
                problems.append(f"follow-up {tp_id} ({d}) is not after the procedure ({procedure}).")
        for tp_id, record in records.items():
            for fracture in record.new_fractures:
                if fracture.date is not None and _date(fracture.date, "new fracture date") < procedure:
                    problems.append(
                        f"timepoint {tp_id}: the new {fracture.level} fracture ({fracture.date}) is dated "
                        f"before the procedure ({procedure})."
                    )
            if record.death_date is not None and _date(record.death_date, "death_date") < procedure:
                problems.append(f"timepoint {tp_id}: death_date {record.death_date} is before the procedure.")
    return problems


def record_to_dict(record: ClinicalRecord) -> dict[str, Any]:
    """The case file's form of a record (only what is set)."""
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name == "complications":
            if value:
                out[f.name] = [{k: v for k, v in vars(c).items() if v not in (None, "")} for c in value]
        elif f.name == "new_fractures":
            if value:
                out[f.name] = [{k: v for k, v in vars(n).items() if v is not None} for n in value]
        elif value is not None:
            out[f.name] = value
    return out


def record_from_dict(data: Mapping[str, Any]) -> ClinicalRecord:
    """A record from the case file's form (ValueError with a sentence when out of range)."""
    values = {k: v for k, v in data.items() if k != "timepoint"}
    known = {f.name for f in fields(ClinicalRecord)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown clinical field(s) {', '.join(sorted(unknown))}")
    values["complications"] = tuple(Complication(**c) for c in values.get("complications", ()))
    values["new_fractures"] = tuple(NewFracture(**n) for n in values.get("new_fractures", ()))
    return ClinicalRecord(**values)


@dataclass(frozen=True)
class ClinicalColumns:
    """The registry cells of one timepoint's record (CSV/JSON/Parquet).

    The one declaration of these columns: :class:`~measure.export.records.ExportRecord`
    carries an instance and puts its cells last in every row.
    """

    vas: float | None = None
    odi: float | None = None
    analgesic_step: int | None = None
    symptom_duration_days: int | None = None
    operating_time_min: float | None = None
    length_of_stay_days: float | None = None
    discharge_destination: str | None = None
    complication_codes: str | None = None
    new_fracture_levels: str | None = None
    new_fracture_adjacent: bool | None = None
    lost_to_follow_up: bool | None = None
    death: bool | None = None

    @classmethod
    def of(cls, record: ClinicalRecord | None) -> ClinicalColumns:
        if record is None or record.empty:
            return cls()
        return cls(
            vas=record.vas,
            odi=record.odi,
            analgesic_step=record.analgesic_step,
            symptom_duration_days=record.symptom_duration_days,
            operating_time_min=record.operating_time_min,
            length_of_stay_days=record.length_of_stay_days,
            discharge_destination=record.discharge_destination,
            complication_codes=";".join(c.code for c in record.complications) or None,
            new_fracture_levels=";".join(n.level for n in record.new_fractures) or None,
            new_fracture_adjacent=any(n.adjacent for n in record.new_fractures)
            if record.new_fractures
            else None,
            lost_to_follow_up=record.lost_to_follow_up,
            death=record.death,
        )


def parse_complications(text: str) -> tuple[Complication, ...]:
    """``"cement_leakage:epidural:asymptomatic:L1; haematoma"`` -> complications.

    Each ';'-separated item is ``KIND[:LOCATION][:symptomatic|asymptomatic][:LEVEL][:TEXT]``
    (the order of the optional parts is free; a part that is none of the others is the text).
    """
    items: list[Complication] = []
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        kind, *rest = [p.strip() for p in item.split(":")]
        location = symptomatic = level = None
        words: list[str] = []
        for part in rest:
            if part in LEAKAGE_LOCATIONS:
                location = part
            elif part in ("symptomatic", "asymptomatic"):
                symptomatic = part == "symptomatic"
            elif part in LEVELS:
                level = part
            elif part:
                words.append(part)
        items.append(Complication(kind, location, symptomatic, level, ":".join(words)))
    return tuple(items)


def parse_new_fractures(text: str) -> tuple[NewFracture, ...]:
    """``"L2:adjacent:2026-09-01; T8:remote"`` -> new fractures (adjacent or remote)."""
    items: list[NewFracture] = []
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        level, *rest = [p.strip() for p in item.split(":")]
        if not rest or rest[0] not in ("adjacent", "remote"):
            raise ValueError(f"a new fracture is written LEVEL:adjacent|remote[:YYYY-MM-DD], got {item!r}")
        items.append(NewFracture(level, rest[0] == "adjacent", rest[1] if len(rest) > 1 else None))
    return tuple(items)


def set_clinical_field(record: ClinicalRecord | None, name: str, text: str) -> ClinicalRecord:
    """``record`` (or an empty one) with one field set from its text form (the CLI and the
    CSV import): scalars, or the lists ``complications`` / ``new_fractures`` replaced whole."""
    base = record or ClinicalRecord()
    if name == "complications":
        return replace(base, complications=parse_complications(text))
    if name == "new_fractures":
        return replace(base, new_fractures=parse_new_fractures(text))
    return base.with_field(name, text)


#: Every field ``case set`` and the CSV import accept.
CLINICAL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ClinicalRecord))
