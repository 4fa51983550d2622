"""What Endplate writes for the demo case stays exactly what it was (tests/pinned.py).

The outputs were pinned before the structure change of issue 9; a refactoring must leave
every number, key and coded value as it was.  A deliberate change of an output regenerates
the files (``python -m tests.pinned --write``) and says why in docs/data-dictionary.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pinned import OUTPUT_NAMES, PINNED_DIR, demo_outputs


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("pinned_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ENDPLATE_HOME", str(home))
    try:
        return demo_outputs(tmp_path_factory.mktemp("pinned"))
    finally:
        mp.undo()


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_demo_output_is_unchanged(outputs: dict[str, str], name: str) -> None:
    expected = (PINNED_DIR / name).read_text(encoding="utf-8")
    got = outputs[name]
    if got != expected:  # show the first differing line, not two 4000-line blobs
        for i, (a, b) in enumerate(zip(expected.splitlines(), got.splitlines(), strict=False)):
            assert a == b, f"{name}, line {i + 1} changed"
        assert len(expected.splitlines()) == len(got.splitlines()), f"{name}: number of lines changed"
    assert got == expected


def test_pinned_files_hold_real_content() -> None:
    """The pins are not empty shells: numbers, coded values and UIDs named by role."""
    measure = (PINNED_DIR / "measure.json").read_text(encoding="utf-8")
    assert '"vka_deg"' in measure and '"comparisons"' in measure
    csv = (PINNED_DIR / "export.csv").read_text(encoding="utf-8")
    assert csv.splitlines()[0].startswith("case_id,")
    assert len(csv.splitlines()) > 5
    sr = (PINNED_DIR / "sr_pre-op.txt").read_text(encoding="utf-8")
    assert "<sop pre_t1 #" in sr and "Vertebral kyphotic angle" in sr
    fhir = (PINNED_DIR / "export.fhir.json").read_text(encoding="utf-8")
    assert "<uuid 1>" in fhir and "<study pre>" in fhir
    assert Path(PINNED_DIR / "export.json").stat().st_size > 1000
