"""How much a case file may hold, checked before anything recursive touches it.

A case holds a handful of timepoints and a few dozen vertebrae; a file with 2,000
follow-ups or ``extras`` nested 100,000 levels deep is not a case but a way to make
``measure`` time out or Python's recursion overflow (issue 14, hole 8).  The list caps are
in the schema (``maxItems``); the nesting cap is here, with the field path where it is
exceeded, both for a parsed document and for text Python's JSON reader cannot even parse.
"""

from __future__ import annotations

from typing import Any

from measure.casefile.schema import field_path

#: Deepest nesting of objects and lists a case file may hold (the format itself needs 5).
MAX_NESTING = 32


def too_deep(data: Any, limit: int = MAX_NESTING) -> str | None:
    """The field path of the first value nested deeper than ``limit`` (None: none is).

    Iterative, so it cannot overflow the stack it protects.  Every case file is checked, so
    the walk counts the depth of the objects and lists only, level by level (a third of the
    time of loading a case went into building the path of every value); the path is made
    only for a file that is too deep."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        if depth >= limit:
            return _first_too_deep(data, limit)
        below: list[Any] = []
        for value in level:
            children = value.values() if isinstance(value, dict) else value
            below.extend(c for c in children if isinstance(c, dict | list))
        level = below
        depth += 1
    return None


def _first_too_deep(data: Any, limit: int) -> str | None:
    """:func:`too_deep`'s answer, the path of the first value (depth first) too deep."""
    stack: list[tuple[Any, list[Any]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list) and len(path) >= limit:
            return field_path(path)
        if isinstance(value, dict):
            stack.extend((v, [*path, str(k)]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value))
    return None


def too_deep_in_text(text: str, limit: int = MAX_NESTING) -> str | None:
    """Like :func:`too_deep` on JSON text (for a document too deep to parse at all): scans
    brackets outside strings, tracking object keys and list indices."""
    path: list[Any] = []
    kinds: list[str] = []
    i, n = 0, len(text)
    last_string: str | None = None
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            last_string = text[i + 1 : j]
            i = j + 1
            continue
        if ch in "{[":
            if len(kinds) >= limit:
                return field_path(path)
            kinds.append(ch)
            path.append(0 if ch == "[" else "?")
        elif ch in "}]":
            if kinds:
                kinds.pop()
                path.pop()
        elif ch == ":" and kinds and kinds[-1] == "{":
            path[-1] = last_string if last_string is not None else "?"
        elif ch == "," and kinds and kinds[-1] == "[":
            path[-1] += 1
        i += 1
    return None
