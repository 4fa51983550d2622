"""docs/data-dictionary.md lists every key of a real ``endplate measure --json`` output, and
nothing that is not there; the issue's listed keys are present with exactly those names.

Two real outputs are combined: the analytic pre/post/follow-up case (every comparison kind)
and the demo-set case whose pre-op landmarks sit on the MR T1 (the "stir" objects, with a
T1 ratio).  The export columns of the markdown table equal the machine-readable JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import main
from measure.case import SeriesRef, Timepoint
from measure.casefile import save_case
from measure.export.records import data_dictionary
from tests.conftest import PROJECT_ROOT
from tests.measure.test_case import SAGITTAL_IOP, body_landmarks, make_case
from tests.measure.test_export_case_builder import MrCase
from tests.measure.test_export_case_builder import mr_case as mr_case

DICTIONARY = PROJECT_ROOT / "docs" / "data-dictionary.md"
#: Section heading (start) -> section name used below.
SECTIONS = {
    "Top level": "top",
    "Timepoint (": "timepoint",
    "Vertebra (": "vertebra",
    "STIR edema (": "stir",
    "Regional angle (": "regional",
    "Comparison (": "comparison",
}


def documented_keys() -> dict[str, list[str]]:
    """Key patterns per section from the tables' first column (``<x>`` = any one key).

    ``a.b`` / ``.c`` expands to ``a.b`` and ``a.c``; ``x``, ``y`` lists several keys.
    """
    text = DICTIONARY.read_text(encoding="utf-8")
    text = text[
        text.index("## `endplate measure CASE --json`") : text.index("## `endplate measure CASE` (text)")
    ]
    out: dict[str, list[str]] = {}
    section = None
    for line in text.splitlines():
        if line.startswith("### "):
            title = line[4:]
            section = next((name for start, name in SECTIONS.items() if title.startswith(start)), None)
            assert section is not None, f"unexpected section {title!r} in {DICTIONARY.name}"
            out[section] = []
            continue
        if section is None or not line.startswith("| `"):
            continue
        base = ""
        for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if token.startswith("."):
                token = base + token
            base = token.rsplit(".", 1)[0] if "." in token else ""
            out[section].append(token)
    return out


def paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key path of nested objects (lists and scalars are leaves)."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from paths(item, path)


def _regex(pattern: str) -> str:
    return "\\.".join(
        "[^.]+" if re.fullmatch(r"<[^>]+>", part) else re.escape(part) for part in pattern.split(".")
    )


def matches(pattern: str, path: str) -> bool:
    """Whether ``pattern`` (with ``<x>`` wildcards) names ``path`` or one of its prefixes."""
    return re.fullmatch(_regex(pattern) + r"(\..+)?", path) is not None


def documented(path: str, patterns: list[str]) -> bool:
    """A path is documented when a pattern names it (or a prefix of it), or when it is
    exactly the container of documented keys (``height_loss_pct`` of ``height_loss_pct.adjacent``)."""
    for p in patterns:
        if matches(p, path):
            return True
        parts = p.split(".")
        if any(re.fullmatch(_regex(".".join(parts[:n])), path) for n in range(1, len(parts))):
            return True
    return False


def followup_case_file(folder: Path) -> Path:
    """The analytic pre/post case plus a follow-up where L1 lost 2 mm of Ha again."""
    case = make_case()
    case.add_timepoint(Timepoint("fu", "follow-up", "2026-06-01"))
    case.assign_series(
        SeriesRef("1.2.826.0.1.3", "fu", "fu_ct", orientation=SAGITTAL_IOP, pixel_spacing_mm=(0.7, 0.5))
    )
    for level, z, heights in (
        ("T12", 95.0, (25, 25, 25)),
        ("L1", 60.0, (20, 22, 25)),
        ("L2", 25.0, (25, 25, 25)),
    ):
        status = "treated" if level == "L1" else "reference"
        case.add_vertebra("fu", level, status, body_landmarks("1.2.826.0.1.3", z, *map(float, heights)))
    return save_case(case, folder / "followup.json")


def measure_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main.main(["measure", str(path), "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


@pytest.fixture
def outputs(tmp_path: Path, mr_case: MrCase, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [measure_json(followup_case_file(tmp_path), capsys), measure_json(mr_case.case_path, capsys)]


def actual_keys(outputs: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {name: set() for name in SECTIONS.values()}
    for data in outputs:
        found["top"] |= set(data)
        for tp in data["timepoints"].values():
            found["timepoint"] |= set(tp)
            for vertebra in tp["vertebrae"].values():
                found["vertebra"] |= {p for p in paths(vertebra) if p != "stir" and not p.startswith("stir.")}
                if vertebra.get("stir"):
                    found["stir"] |= set(paths(vertebra["stir"]))
            for regional in tp["regional"]:
                found["regional"] |= set(paths(regional))
        for comparison in data["comparisons"]:
            found["comparison"] |= set(paths(comparison))
    return found


def test_every_output_key_is_documented_and_every_documented_key_is_output(
    outputs: list[dict[str, Any]],
) -> None:
    patterns = documented_keys()
    assert set(patterns) == set(SECTIONS.values())
    found = actual_keys(outputs)
    for section, keys in found.items():
        undocumented = sorted(k for k in keys if not documented(k, patterns[section]))
        assert undocumented == [], f"{section}: keys missing from {DICTIONARY.name}"
        stale = sorted(p for p in patterns[section] if not any(matches(p, k) for k in keys))
        assert stale == [], f"{section}: documented keys that the output does not have"


def test_the_keys_listed_in_the_issue_are_there_with_exactly_those_names(
    outputs: list[dict[str, Any]],
) -> None:
    for data in outputs:
        assert {"timepoints", "comparisons"} <= set(data)
        for tp in data["timepoints"].values():
            assert {"vertebrae", "regional"} <= set(tp) and isinstance(tp["regional"], list)
            for vertebra in tp["vertebrae"].values():
                assert {
                    "vka_deg",
                    "ha_mm",
                    "hm_mm",
                    "hp_mm",
                    "wedge_ratio",
                    "biconcave_ratio",
                    "height_loss_pct",
                    "genant_grade",
                    "type",
                } <= set(vertebra)
                assert set(vertebra["height_loss_pct"]) == {"posterior", "adjacent", "nearest"}
        for c in data["comparisons"]:
            assert {"level", "from", "to", "correction_deg", "height_gain_mm", "restoration_pct"} <= set(c)
            assert set(c["height_gain_mm"]) == {"ha", "hm", "hp"}
    kinds = {c["kind"] for c in outputs[0]["comparisons"]}
    assert kinds == {"correction", "loss_of_correction"}


def test_a_key_the_dictionary_does_not_know_is_caught(outputs: list[dict[str, Any]]) -> None:
    """The check above can fail: an invented key is reported as undocumented."""
    vertebra = next(iter(outputs[0]["timepoints"]["pre"]["vertebrae"].values()))
    vertebra["ha_cm"] = 1.6
    found = actual_keys(outputs)["vertebra"]
    assert [k for k in found if not documented(k, documented_keys()["vertebra"])] == ["ha_cm"]


def test_export_columns_table_equals_the_json_dictionary() -> None:
    text = DICTIONARY.read_text(encoding="utf-8")
    table = text[text.index("## Export columns") :]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            rows.append(cells)
    columns = data_dictionary()["columns"]
    assert [int(r[0]) for r in rows] == list(range(1, len(columns) + 1))
    for row, column in zip(rows, columns, strict=True):
        assert row[1] == f"`{column['name']}`"
        assert (row[2], row[3]) == (column["type"], column["unit"]), column["name"]
