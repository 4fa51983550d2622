"""Hole #8 of issue 14: deeply nested JSON, huge cases, and measure's cost in the case size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from main import main
from measure.case import Case
from measure.case_values import SeriesRef, Timepoint
from measure.casefile import CaseFileError, load_case, save_case
from measure.casefile.limits import MAX_NESTING, too_deep_in_text
from measure.landmarks import Landmark
from tests.conftest import PROJECT_ROOT
from tests.measure.test_case import make_case


def _saved(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = save_case(make_case(), tmp_path / "case.json")
    return path, json.loads(path.read_text(encoding="utf-8"))


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize("depth", [40, 200_000])  # 200,000: more than json.loads can parse
def test_deeply_nested_extras_are_refused_with_the_field_path(tmp_path: Path, depth: int) -> None:
    path, data = _saved(tmp_path)
    data["extras"] = {"tool": "leaf-marker"}
    text = json.dumps(data).replace(
        '"leaf-marker"', "[" * depth + "]" * depth if depth > 1000 else json.dumps(_nested(depth // 2))
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    message = str(info.value)
    assert f"nested more than {MAX_NESTING} levels deep" in message
    assert info.value.field is not None and info.value.field.startswith("extras.tool")
    assert "\n" not in message


def test_measure_and_export_exit_2_on_a_deep_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = _saved(tmp_path)
    data["extras"] = {"x": _nested(100)}
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["measure", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field extras.x" in err and "Traceback" not in err
    assert main(["export", str(path), "--format", "json", "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "nested more than" in err and "Traceback" not in err


def test_the_text_scanner_names_keys_and_indices() -> None:
    text = '{"a": 1, "b": {"c": [0, 1, ' + "[" * 40 + "]" * 40 + "]}}"
    assert too_deep_in_text(text) == "b.c[2]" + "[0]" * (MAX_NESTING - 3)


def test_too_many_timepoints_are_refused_with_the_field(tmp_path: Path) -> None:
    path, data = _saved(tmp_path)
    data["timepoints"] += [{"id": f"fu{i}", "kind": "follow-up", "date": None} for i in range(2000)]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(
        CaseFileError, match=r"field timepoints is a list of 2002 items; expected a list of 1 to 100"
    ):
        load_case(path)


def _case_with_follow_ups(n: int) -> Case:
    case = make_case()
    base = case.landmarks("post", "L1")
    for i in range(n):
        tp = f"fu{i}"
        uid = f"1.2.826.0.2.{i}"
        case.add_timepoint(Timepoint(tp, "follow-up", None))
        case.assign_series(SeriesRef(uid, tp, f"fu{i}", "SAG", "CT"))
        for level in ("T12", "L1", "L2"):
            pts = case.landmarks("post", level) if level != "L1" else base
            case.add_vertebra(
                tp,
                level,
                "treated" if level == "L1" else "reference",
                {k: Landmark(lm.position_mm, uid) for k, lm in pts.items()},
            )
    return case


def _calls(fn: Any) -> int:
    """Python lines executed by ``fn()`` (loop bodies and comprehensions included): a
    deterministic measure of work, no timing.  The tracer in place (coverage) is restored."""
    count = 0

    def trace(_frame: FrameType, event: str, _arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


def _per_timepoint_inputs(case: Case) -> None:
    """What Case.measure asks of the case for every timepoint (set choice, engine input)."""
    for tp in case.ordered_timepoints():
        case.vertebra_inputs(tp.id, case.measurement_series(tp.id))
        case.landmark_series(tp.id)


def work_ratios() -> tuple[float, float]:
    """(inputs, measure) lines executed for 80 follow-ups over 20 follow-ups."""
    small, large = _case_with_follow_ups(20), _case_with_follow_ups(80)
    inputs = _calls(lambda: _per_timepoint_inputs(large)) / _calls(lambda: _per_timepoint_inputs(small))
    return inputs, _calls(large.measure) / _calls(small.measure)


def test_measure_work_grows_linearly_with_the_timepoints() -> None:
    # Counted in a child process: a line tracer here would stop coverage's for the rest of
    # the run.  4x the follow-ups (3.6x the vertebrae): linear gives about 4, quadratic
    # (every timepoint scanning every vertebra, as before the fix) about 14.
    code = "from tests.measure.test_case_limits import work_ratios; print(*work_ratios())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=300,
    ).stdout
    inputs_ratio, measure_ratio = (float(v) for v in out.split())
    assert inputs_ratio < 5.0, inputs_ratio
    assert measure_ratio < 5.0, measure_ratio
    large = _case_with_follow_ups(80)
    results = large.measure()
    assert len(results.timepoints) == 82
    assert results.vertebra("fu79", "L1").ha_mm.value == pytest.approx(22.0)
