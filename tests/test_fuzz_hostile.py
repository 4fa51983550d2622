"""Issue 14 fuzz: case-file JSON mutations and DICOM header mutations (hypothesis, derandomized).

Invariants: loading a case file raises nothing but :class:`CaseFileError` (a one-line
sentence), a loaded case measures without NaN/inf and survives a save/load round trip with
every landmark; a scanned folder with one mutated DICOM header raises nothing, lists that
file as loaded or skipped, and still finds the valid series beside it whole.  Counts are
printed (``-s``) and quoted in docs/reliability.md.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomio.scan import scan_paths
from measure.casefile import CaseFileError, load_case, save_case
from measure.results_json import case_results_json
from tests.measure.test_case import make_case
from tests.measure.test_casefile import rich_case

COUNTS: Counter[str] = Counter()
FUZZ = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "1.2.3", "1..2", "pre", "L1", "\x1b[2J", "fractured", "2026-13-45", "sup_ant"]),
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value if how == "replace" else data
    parent = data
    for p in path[:-1]:
        parent = parent[p]
    key = path[-1]
    if how == "delete":
        del parent[key]
    elif how == "replace":
        parent[key] = value
    elif how == "nest":
        nested: Any = parent[key]
        for _ in range(60):
            nested = [nested]
        parent[key] = nested
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif how == "scale" and isinstance(parent[key], float | int) and not isinstance(parent[key], bool):
        parent[key] = parent[key] * 1e6
    return data


@pytest.fixture(scope="module")
def base_cases(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("fuzz_base")
    out = []
    for i, case in enumerate((make_case(), rich_case())):
        path = save_case(case, folder / f"c{i}.json")
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def _landmarks(case: Any) -> dict[tuple[str, str, str, str], tuple[float, float, float]]:
    return {
        (v.timepoint, v.level, uid, k): lm.position_mm
        for v in case.vertebrae()
        for uid in v.series
        for k, lm in v.landmarks_on(uid).items()
    }


@FUZZ
@given(
    which=st.integers(0, 1),
    pick=st.integers(0, 10_000),
    how=st.sampled_from(["delete", "replace", "nest", "duplicate", "scale"]),
    value=json_value,
)
def test_case_file_mutations_give_a_case_or_one_sentence(
    base_cases: list[dict[str, Any]], tmp_path: Path, which: int, pick: int, how: str, value: Any
) -> None:
    data = copy.deepcopy(base_cases[which])
    paths = _paths(data)
    path = paths[pick % len(paths)]
    mutated = _mutate(data, path, how, value)
    file = tmp_path / f"fuzz-{COUNTS['case examples']}.json"
    file.write_text(json.dumps(mutated), encoding="utf-8")
    COUNTS["case examples"] += 1
    written = file.read_bytes()
    try:
        case = load_case(file)
    except CaseFileError as exc:
        assert "\n" not in str(exc) and str(exc).strip(), exc
        assert file.read_bytes() == written  # a refused file is left as it was
        COUNTS["case refused with a sentence"] += 1
        return
    COUNTS["case loaded"] += 1
    results = case.measure()
    json.dumps(case_results_json(case, results), allow_nan=False)  # no NaN / inf
    for tp in results.timepoints.values():
        for v in tp.vertebrae.values():
            assert v.ha_mm.value is None or math.isfinite(v.ha_mm.value)
    before = _landmarks(case)
    saved = save_case(case, tmp_path / f"round-{COUNTS['case loaded']}.json")
    first = saved.read_bytes()
    again = load_case(saved)
    assert _landmarks(again) == before  # no landmark lost on a round trip
    save_case(again, saved)  # a second save keeps the first as the backup, intact
    backup = saved.with_name(saved.name + ".bak")
    assert backup.read_bytes() == first and _landmarks(load_case(backup)) == before


#: Header keywords worth breaking and values to break them with.
KEYWORDS = [
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "PixelSpacing",
    "RescaleSlope",
    "RescaleIntercept",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "NumberOfFrames",
    "PhotometricInterpretation",
    "SeriesDescription",
    "PatientName",
    "Modality",
    "SliceThickness",
    "WindowCenter",
    "WindowWidth",
    "InstanceNumber",
    "FrameOfReferenceUID",
]
header_value = st.one_of(
    st.just(None),  # delete
    st.integers(min_value=-70000, max_value=70000),
    st.sampled_from([0, 1, 8, 12, 16, 46000, 2**31 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=7),
    st.text(max_size=30),
    st.sampled_from(["", "MONOCHROME2", "RGB", "1..2", "abc", "\x1b]0;owned\x07", "1.2.3"]),
)


@pytest.fixture(scope="module")
def dicom_base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dicomio.synthetic.demo import build_demo_set

    root = tmp_path_factory.mktemp("fuzz_dicom")
    manifest = build_demo_set(root / "demo", small=True)
    valid = manifest.by_key("pre_ct")
    victim_series = manifest.by_key("post_ct")
    victim = sorted(Path(victim_series.folder).iterdir())[0]
    baseline = scan_paths([valid.folder])
    assert len(baseline.stacks) == 1
    return {
        "valid": Path(valid.folder),
        "valid_uid": valid.series_uid,
        "frames": len(baseline.stacks[0].frames),
        "victim": pydicom.dcmread(victim),
    }


@settings(FUZZ, max_examples=40)
@given(keyword=st.sampled_from(KEYWORDS), value=header_value, second=st.sampled_from([None, *KEYWORDS]))
def test_dicom_header_mutations_never_break_the_scan(
    dicom_base: dict[str, Any], tmp_path: Path, keyword: str, value: Any, second: str | None
) -> None:
    ds = copy.deepcopy(dicom_base["victim"])
    COUNTS["dicom examples"] += 1
    mode = pydicom.config.settings.writing_validation_mode
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE  # write the bad value
    try:
        for kw in (keyword, second):
            if kw is None:
                continue
            if value is None:
                if kw in ds:
                    delattr(ds, kw)
            else:
                setattr(ds, kw, value)
        target = tmp_path / f"mutated-{COUNTS['dicom examples']}.dcm"
        ds.save_as(target)
    except Exception:  # pydicom cannot encode this value at all: not a file to scan
        COUNTS["dicom not writable by pydicom"] += 1
        return
    finally:
        pydicom.config.settings.writing_validation_mode = mode
    result = scan_paths([dicom_base["valid"], target])
    used = {str(f.path) for s in result.stacks for f in s.frames}
    skipped = {str(s.path) for s in result.skipped}
    assert str(target) in used | skipped  # loaded or listed with a reason
    COUNTS["dicom skipped with a reason" if str(target) in skipped else "dicom loaded"] += 1
    valid = [s for s in result.stacks if s.series_uid == dicom_base["valid_uid"]]
    assert valid and max(len(s.frames) for s in valid) >= dicom_base["frames"]


@pytest.fixture(scope="module")
def dicom_bytes_base(dicom_base: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The victim file's bytes and the valid series' voxels, loaded once (the pixel truth)."""
    from dicomio.pixels import load_volume

    folder = tmp_path_factory.mktemp("fuzz_bytes_victim")
    victim = folder / "victim.dcm"
    dicom_base["victim"].save_as(victim)
    (valid_stack,) = scan_paths([dicom_base["valid"]]).stacks
    return {"bytes": victim.read_bytes(), "voxels": load_volume(valid_stack)}


@settings(FUZZ, max_examples=60)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2047), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=6,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=4096)),
)
def test_dicom_byte_mutations_are_loaded_or_listed_and_the_valid_series_stays_exact(
    dicom_base: dict[str, Any],
    dicom_bytes_base: dict[str, Any],
    tmp_path: Path,
    edits: list[tuple[int, bytes]],
    cut: int | None,
) -> None:
    """Bytes overwritten in the header region (tags, VRs, lengths, values) and truncation: every
    file is written (no encoder in the way), then the scan must list it as a series or as
    skipped with a reason in bounded time and memory, a series it lists must load or refuse
    with one of the loader's sentences, and the valid series beside it must load voxel-exact."""
    import time
    import tracemalloc

    import numpy as np

    from dicomio.pixel_errors import DecodeBudgetError, DecoderMissingError, PixelDecodeError
    from dicomio.pixels import load_volume

    data = bytearray(dicom_bytes_base["bytes"])
    for offset, patch in edits:
        start = 132 + offset  # after the preamble and "DICM": the meta and data set elements
        data[start : start + len(patch)] = patch
    if cut is not None:
        data = data[: 132 + cut]
    target = tmp_path / "mutated.dcm"
    target.write_bytes(bytes(data))
    COUNTS["dicom byte examples"] += 1
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = scan_paths([dicom_base["valid"], target])
        scanned_s = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scanned_s < 10.0, f"the scan took {scanned_s:.1f} s"  # a hang guard, not a benchmark
    assert peak < 256 * 2**20, f"the scan held {peak / 2**20:.0f} MiB"
    used = {str(f.path) for st_ in result.stacks for f in st_.frames}
    skipped = {str(sk.path) for sk in result.skipped}
    assert str(target) in used | skipped
    for stack in result.stacks:
        if stack.series_uid == dicom_base["valid_uid"] and str(target) not in {
            str(f.path) for f in stack.frames
        }:
            voxels = load_volume(stack)
            assert np.array_equal(voxels, dicom_bytes_base["voxels"])  # the valid series, exact
            COUNTS["dicom byte: valid series pixel-exact"] += 1
        elif str(target) in {str(f.path) for f in stack.frames}:
            cannot = [w for w in stack.warnings if w.startswith("Pixels cannot be shown")]
            if cannot:  # listed, and said at once not to be viewable: the loader agrees
                with pytest.raises((PixelDecodeError, DecoderMissingError, DecodeBudgetError, ValueError)):
                    load_volume(stack)
                COUNTS["dicom byte: listed as not viewable (loader refuses too)"] += 1
            else:  # listed as viewable: it must load (what info promises, the loader keeps)
                load_volume(stack)
                COUNTS["dicom byte: loaded"] += 1
    if str(target) in skipped:
        COUNTS["dicom byte: skipped with a reason"] += 1


def test_print_fuzz_counts() -> None:
    """Runs last in this module: the counts docs/reliability.md quotes."""
    print("\nfuzz counts:", dict(sorted(COUNTS.items())))
