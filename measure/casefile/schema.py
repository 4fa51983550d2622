"""The case file's JSON Schema, and its errors as sentences a reader understands.

``validate_case_dict`` names the first :data:`MAX_REPORTED_ERRORS` problems (shallowest
first) with the field path and what was expected; the schema itself is package data
(``measure/casefile/case_schema.json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from measure.casefile.errors import CaseFileError

if TYPE_CHECKING:  # jsonschema (50 ms) is imported only when a file is refused (start-up)
    import jsonschema
    from jsonschema.exceptions import ValidationError

#: Errors quoted in one message (the first ones, shallowest first).
MAX_REPORTED_ERRORS = 3


@cache
def case_schema() -> dict[str, Any]:
    """The JSON Schema of the case file (package data ``measure/case_schema.json``)."""
    text = resources.files("measure.casefile").joinpath("case_schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(case_schema())


@cache
def _fast_check() -> Callable[[Any], Any]:
    """The schema compiled to Python code (fastjsonschema, about 20x faster than jsonschema):
    the check of every valid file.  Only a file it refuses goes through jsonschema, whose
    errors make the sentences.  The schema uses only keywords whose meaning is the same in
    draft 7 (what fastjsonschema implements) and 2020-12 (tested against jsonschema)."""
    from measure.casefile.fast_check import load_check  # generated once, not at every start

    return load_check()


def is_valid_case_dict(data: Any) -> bool:
    """True when ``data`` matches the case file schema (the fast path)."""
    import fastjsonschema

    try:
        _fast_check()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def field_path(parts: Any) -> str:
    """``["vertebrae", 0, "landmarks"]`` -> ``"vertebrae[0].landmarks"``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def describe(value: Any) -> str:
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
    return full, f"field {full} is {describe(error.instance)}; expected {_expected(error)}"


def _error_key(error: ValidationError) -> tuple[Any, ...]:
    return (
        len(error.absolute_path),
        [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in error.absolute_path],
    )


def validate_case_dict(data: Any, source: str) -> None:
    """Raise :class:`CaseFileError` naming the first schema errors of ``data``."""
    if is_valid_case_dict(data):
        return
    from jsonschema.exceptions import best_match

    errors = sorted(_validator().iter_errors(data), key=_error_key)
    if not errors:
        return
    sentences = []
    first_field = None
    for error in errors[:MAX_REPORTED_ERRORS]:
        # anyOf/oneOf without a description of its own: the best sub-error says more.
        if error.context and not (isinstance(error.schema, dict) and error.schema.get("description")):
            error = best_match(error.context) or error
        name, sentence = _sentence(error)
        first_field = first_field or name
        sentences.append(sentence)
    more = len(errors) - len(sentences)
    tail = f" ({more} more problem{'s' if more != 1 else ''} not shown)" if more > 0 else ""
    message = f"{source} is not a valid case file: " + "; ".join(sentences) + "." + tail
    raise CaseFileError(message, field=first_field)
