"""The fast case-file check (fastjsonschema, draft 7) and jsonschema (2020-12) agree on valid
files and on thousands of mutated ones: the fast path never lets through what the full
validator refuses, nor refuses what it accepts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from measure.casefile import case_to_dict
from measure.casefile.schema import _validator, is_valid_case_dict
from tests.measure.test_casefile import MINIMAL, rich_case

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
DOCUMENTS = [MINIMAL, json.loads(json.dumps(case_to_dict(rich_case())))]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _agree(doc: Any) -> None:
    full = not any(True for _ in _validator().iter_errors(doc))
    assert is_valid_case_dict(doc) == full, json.dumps(doc)[:300]


def test_valid_documents_pass_both() -> None:
    for doc in DOCUMENTS:
        assert is_valid_case_dict(doc)
        _agree(doc)


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_documents_get_the_same_verdict(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(DOCUMENTS)))
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON_VALUES)
    _agree(doc)


def test_generated_check_is_the_one_the_schema_gives_today() -> None:
    """measure/casefile/case_check.py is fastjsonschema's code for today's schema (less the
    quoted fragments): regenerate it (fast_check --write) when the schema changes."""
    import ast

    import fastjsonschema

    from measure.casefile import case_check, fast_check

    assert fast_check.schema_sha256() == case_check.SCHEMA_SHA256
    text = fast_check.GENERATED.read_text(encoding="utf-8")
    assert "definition=" not in text and "validate" in text
    assert fast_check.load_check() is case_check.validate
    if fastjsonschema.VERSION != case_check.VERSION:
        # Another fastjsonschema release generates other (equally valid) code: the verdicts
        # are compared with jsonschema's by the tests above; the code identity only here.
        return
    body = ast.parse(text).body
    assert isinstance(body[1], ast.Assign) and ast.unparse(body[1].targets[0]) == "SCHEMA_SHA256"
    assert ast.dump(ast.Module(body=body[2:], type_ignores=[])) == ast.dump(fast_check.generated_body())


def test_a_stale_generated_check_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema edited without regenerating: the check is compiled at run time, same verdicts."""
    import fastjsonschema

    from measure.casefile import case_check, fast_check

    monkeypatch.setattr(case_check, "SCHEMA_SHA256", "0" * 64)
    check = fast_check.load_check()
    assert check is not case_check.validate
    check(DOCUMENTS[1])
    with pytest.raises(fastjsonschema.JsonSchemaException):
        check({**DOCUMENTS[1], "timepoints": "not a list"})


def test_fast_check_writes_the_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from measure.casefile import fast_check

    out = tmp_path / "case_check.py"
    monkeypatch.setattr(fast_check, "GENERATED", out)
    assert fast_check.main(["--write"]) == 0
    assert out.read_text(encoding="utf-8") == fast_check.generated_source()
    assert fast_check.main([]) == 2
