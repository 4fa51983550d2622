"""The case file: round trip, the minimal form, clear refusals, atomic saves, migration."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dicomio import atomic
from measure import casefile
from measure.case import Case, Patient, ReaderEntry, RegionalSpec, SeriesRef, StirDecision, Timepoint
from measure.casefile import CURRENT_VERSION, CaseFileError, backup_path, load_case, save_case
from measure.landmarks import LANDMARK_KEYS, Landmark
from tests.conftest import PROJECT_ROOT
from tests.measure.test_case import make_case

MINIMAL = {
    "format": "endplate-case",
    "version": 1,
    "coordinate_system": "LPS",
    "units": "mm",
    "timepoints": [{"id": "pre", "kind": "pre-op", "date": "2026-03-01"}],
    "series": [{"series_uid": "1.2.3", "timepoint": "pre", "path": "pre_ct"}],
    "vertebrae": [
        {
            "timepoint": "pre",
            "level": "L1",
            "status": "fractured",
            "landmarks": {
                "sup_ant": {"position": [0.0, -25.1, 12.3], "series_uid": "1.2.3", "sop_uid": "1.2.3.4"},
                "sup_mid": {"position": [0.0, -10.0, 13.0], "series_uid": "1.2.3", "sop_uid": "1.2.3.4"},
                "sup_post": {"position": [0.0, 5.0, 14.0], "series_uid": "1.2.3"},
                "inf_ant": {"position": [0.0, -25.0, -10.0], "series_uid": "1.2.3", "sop_uid": "1.2.3.4"},
                "inf_mid": {"position": [0.0, -10.0, -11.0], "series_uid": "1.2.3", "sop_uid": "1.2.3.4"},
                "inf_post": {"position": [0.0, 5.0, -12.0], "series_uid": "1.2.3", "sop_uid": "1.2.3.4"},
            },
        }
    ],
}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def rich_case() -> Case:
    """Every part of the model filled, including partial landmarks and unknown fields."""
    case = make_case()
    case.add_timepoint(Timepoint("fu", "follow-up", None, "3 months"))
    case.assign_series(
        SeriesRef("1.2.826.0.1.3", "fu", "/data/fu/stir", "SAG STIR", "MR", "STIR", reformat=True)
    )
    case.add_vertebra("fu", "L1", "treated")
    case.set_landmark("fu", "L1", "sup_ant", Landmark((1.5, -14.25, 81.125), "1.2.826.0.1.3", None, 7))
    case.set_reader_entry("post", "L1", ReaderEntry("kyphoplasty", 4.25, ("B", "D"), "none", "balloon 15 mm"))
    case.set_reader_entry(None, None, ReaderEntry(notes="Patient on bisphosphonates."))
    case.set_stir_decision("pre", "L1", StirDecision("overridden-recent", "cleft"))
    case.set_stir_decision("pre", "T12", StirDecision(None, ""))
    case.set_regional(
        [
            RegionalSpec("T12", "superior", "L2", "inferior", "segmental"),
            RegionalSpec("T12", "inferior", "L1", "superior"),
        ]
    )
    case.set_extra("registry", {"site": 7, "tags": ["a", "é"]})
    case.unknown_fields = {"future_section": {"kept": True}}
    return case


def test_round_trip_gives_an_identical_model(tmp_path: Path) -> None:
    case = rich_case()
    path = save_case(case, tmp_path / "case.json")
    assert not case.dirty and case.file_path == path
    loaded = load_case(path)
    assert loaded.same_content(case)
    assert not loaded.dirty
    assert loaded.landmarks("fu", "L1")["sup_ant"] == Landmark(
        (1.5, -14.25, 81.125), "1.2.826.0.1.3", None, 7
    )
    assert loaded.patient == Patient("DOE^JANE", "P0001", "1950-04-02", "F")
    # Saving the loaded case again writes the same bytes (stable, deterministic output).
    first = path.read_bytes()
    save_case(loaded, path)
    assert path.read_bytes() == first
    assert backup_path(path).read_bytes() == first


def test_saved_file_contains_the_minimal_form_and_a_measurement_snapshot(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "endplate-case" and data["version"] == CURRENT_VERSION
    assert data["coordinate_system"] == "LPS" and data["units"] == "mm"
    assert data["timepoints"][0] == {
        "id": "pre",
        "kind": "pre-op",
        "date": "2026-03-01",
        "label": "before kyphoplasty",
        "measurement_series": None,
    }
    assert {k: data["series"][0][k] for k in ("series_uid", "timepoint", "path")} == {
        "series_uid": "1.2.826.0.1.1",
        "timepoint": "pre",
        "path": "pre_ct",
    }
    l1 = next(v for v in data["vertebrae"] if v["timepoint"] == "pre" and v["level"] == "L1")
    assert set(l1["landmarks"]) == set(LANDMARK_KEYS)
    assert l1["landmarks"]["sup_ant"]["position"] == [0.0, -15.0, 76.0]
    assert l1["landmarks"]["sup_ant"]["series_uid"] == "1.2.826.0.1.1"
    # The snapshot is recomputed from the landmarks: Ha of the pre-op L1 is 16 mm.
    ha = data["measurements"]["timepoints"]["pre"]["vertebrae"]["L1"]["ha_mm"]
    assert ha == pytest.approx(16.0, abs=1e-9)


def test_measurement_snapshot_is_not_read_back_as_truth(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["measurements"]["timepoints"]["pre"]["vertebrae"]["L1"]["ha_mm"] = 99.0
    write_json(path, data)
    loaded = load_case(path)
    fresh = loaded.measure().timepoints["pre"].vertebrae["L1"].ha_mm.value
    assert fresh == pytest.approx(16.0, abs=1e-9)


def test_the_minimal_form_written_by_other_tools_loads(tmp_path: Path) -> None:
    path = write_json(tmp_path / "other.json", MINIMAL)
    case = load_case(path)
    assert [(t.id, t.kind, t.date) for t in case.timepoints] == [("pre", "pre-op", "2026-03-01")]
    ref = case.series_ref("1.2.3")
    assert ref is not None and ref.path == "pre_ct" and ref.orientation is None
    assert case.series_path("1.2.3") == tmp_path / "pre_ct"
    l1 = case.vertebra("pre", "L1")
    assert l1 is not None and l1.status == "fractured" and l1.series == ("1.2.3",)
    assert l1.complete_on("1.2.3")
    assert case.landmarks("pre", "L1")["sup_ant"] == Landmark((0.0, -25.1, 12.3), "1.2.3", "1.2.3.4")
    assert case.landmarks("pre", "L1")["sup_post"].sop_uid is None
    assert case.reader_entries() == {} and case.regional == () and case.extras == {}


def _hand_vertebra(tp: str, uid: str, level: str, status: str, z: dict[str, float]) -> str:
    """One vertebra of the hand-written case: anterior at y = -15, middle at 0, posterior at
    +15 mm, all on the sagittal plane x = 0; ``z`` gives each landmark's height (mm)."""
    y = {"ant": -15.0, "mid": 0.0, "post": 15.0}
    marks = ", ".join(
        f'"{k}": {{"position": [0.0, {y[k.split("_")[1]]}, {z[k]}], "series_uid": "{uid}"}}' for k in z
    )
    return f'{{"timepoint": "{tp}", "level": "{level}", "status": "{status}", "landmarks": {{{marks}}}}}'


def test_a_hand_written_minimal_case_is_measured_as_computed_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case file written by hand in the minimal form of docs/case-format.md (no series
    geometry, no images on disk), measured by ``endplate measure --json``.

    T12 is a 24 mm box, L2 a 26 mm box (references, VKA 0).  L1 before: inferior endplate
    flat at z = 0; superior endplate at z = 16 (anterior), 20 (middle), 25 (posterior), on
    a 30 mm deep body.  After: anterior 22, middle 21.  By hand:

    * pre:  Ha 16, Hm 20, Hp 25; VKA = atan(9 / 30) = 16.6992 deg (kyphosis, positive);
      Ha/Hp 0.64; adjacent reference mean(24, 26) = 25 mm: losses 36 %, 20 %, 0 %;
    * post: Ha 22, Hm 21; VKA = atan(3 / 30) = 5.7106 deg; losses 12 %, 16 %, 0 %;
    * correction = 16.6992 - 5.7106 = 10.9887 deg; Ha gain 6 mm; restoration of Ha
      (22 - 16) / (25 - 16) = 66.67 %.
    """
    import main

    pre_uid, post_uid = "1.2.826.0.1.3680043.8.498.10", "1.2.826.0.1.3680043.8.498.11"

    def box(bottom: float, top: float) -> dict[str, float]:
        return {
            f"{e}_{p}": (top if e == "sup" else bottom)
            for e in ("sup", "inf")
            for p in ("ant", "mid", "post")
        }

    l1_pre = {
        "sup_ant": 16.0,
        "sup_mid": 20.0,
        "sup_post": 25.0,
        "inf_ant": 0.0,
        "inf_mid": 0.0,
        "inf_post": 0.0,
    }
    l1_post = dict(l1_pre, sup_ant=22.0, sup_mid=21.0)
    vertebrae = []
    for tp, uid, l1, status in (
        ("pre", pre_uid, l1_pre, "fractured"),
        ("post", post_uid, l1_post, "treated"),
    ):
        vertebrae += [
            _hand_vertebra(tp, uid, "T12", "reference", box(36.0, 60.0)),
            _hand_vertebra(tp, uid, "L1", status, l1),
            _hand_vertebra(tp, uid, "L2", "reference", box(-34.0, -8.0)),
        ]
    text = (
        '{"format": "endplate-case", "version": 1, "coordinate_system": "LPS", "units": "mm",\n'
        ' "timepoints": [{"id": "pre", "kind": "pre-op", "date": "2026-03-01"},\n'
        '                {"id": "post", "kind": "post-op", "date": "2026-03-09"}],\n'
        f' "series": [{{"series_uid": "{pre_uid}", "timepoint": "pre", "path": "pre_ct"}},\n'
        f'            {{"series_uid": "{post_uid}", "timepoint": "post", "path": "post_ct"}}],\n'
        ' "vertebrae": [\n  ' + ",\n  ".join(vertebrae) + "]}\n"
    )
    path = tmp_path / "by-hand.json"
    path.write_text(text, encoding="utf-8")
    json.loads(text)  # it is plain JSON, written without Endplate

    assert main.main(["measure", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    pre = out["timepoints"]["pre"]["vertebrae"]
    post = out["timepoints"]["post"]["vertebrae"]
    vka_pre, vka_post = math.degrees(math.atan(9 / 30)), math.degrees(math.atan(3 / 30))
    expected = {
        "pre": (pre["L1"], 16.0, 20.0, 25.0, vka_pre, {"ha": 36.0, "hm": 20.0, "hp": 0.0}),
        "post": (post["L1"], 22.0, 21.0, 25.0, vka_post, {"ha": 12.0, "hm": 16.0, "hp": 0.0}),
    }
    for tp, (l1, ha, hm, hp, vka, loss) in expected.items():
        assert (l1["ha_mm"], l1["hm_mm"], l1["hp_mm"]) == pytest.approx((ha, hm, hp), abs=1e-9), tp
        assert l1["vka_deg"] == pytest.approx(vka, abs=1e-9), tp
        assert l1["wedge_ratio"] == pytest.approx(ha / hp, abs=1e-12), tp
        assert l1["height_loss_detail"]["adjacent"] == pytest.approx(loss, abs=1e-9), tp
        assert l1["references"]["adjacent"] == ["T12", "L2"], tp
    for lv, h in (("T12", 24.0), ("L2", 26.0)):
        assert (pre[lv]["ha_mm"], pre[lv]["vka_deg"]) == pytest.approx((h, 0.0), abs=1e-9)
    (l1_change,) = [c for c in out["comparisons"] if c["level"] == "L1"]
    assert (l1_change["from"], l1_change["to"], l1_change["kind"]) == ("pre", "post", "correction")
    assert l1_change["correction_deg"] == pytest.approx(vka_pre - vka_post, abs=1e-9)
    assert l1_change["correction_deg"] == pytest.approx(10.98865, abs=1e-5)  # positive: less kyphosis
    assert l1_change["height_gain_mm"]["ha"] == pytest.approx(6.0, abs=1e-9)
    assert l1_change["restoration_pct"]["ha"] == pytest.approx(200.0 / 3.0, abs=1e-9)


def test_version_1_is_migrated_and_saved_as_the_current_version(tmp_path: Path) -> None:
    assert casefile.migrate(copy.deepcopy(MINIMAL))["version"] == CURRENT_VERSION
    v1 = copy.deepcopy(MINIMAL)
    v1["case_id"] = "from-v1"  # optional fields are allowed in version 1
    path = write_json(tmp_path / "case.json", v1)
    case = load_case(path)
    assert case.case_id == "from-v1"
    save_case(case, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == CURRENT_VERSION
    assert json.loads(backup_path(path).read_text(encoding="utf-8")) == v1  # the v1 original is kept
    assert load_case(path).same_content(case)


@pytest.mark.parametrize(
    ("mutate", "field", "expected"),
    [
        (lambda d: d["vertebrae"][0].pop("status"), "vertebrae[0].status", "is missing (it is required)"),
        (lambda d: d.pop("timepoints"), "timepoints", "is missing"),
        (
            lambda d: d["vertebrae"][0]["landmarks"]["sup_ant"].__setitem__("position", [0.0, "x", 1.0]),
            "vertebrae[0].landmarks.sup_ant.position[1]",
            'is the text "x"; expected a number',
        ),
        (
            lambda d: d["vertebrae"][0]["landmarks"]["sup_ant"].__setitem__("position", [0.0, 1.0]),
            "vertebrae[0].landmarks.sup_ant.position",
            "expected 3 numbers [x, y, z] in LPS millimetres",
        ),
        (
            lambda d: d["timepoints"][0].__setitem__("kind", "intra-op"),
            "timepoints[0].kind",
            'expected one of "pre-op"',
        ),
        (lambda d: d["timepoints"][0].__setitem__("date", "1/3/2026"), "timepoints[0].date", "YYYY-MM-DD"),
        (lambda d: d["vertebrae"][0].__setitem__("level", "L7"), "vertebrae[0].level", "a vertebral level"),
        (
            lambda d: d["series"].__setitem__(0, "pre_ct"),
            "series[0]",
            'is the text "pre_ct"; expected an object',
        ),
        (
            lambda d: d["vertebrae"][0]["landmarks"].__setitem__("tip", {}),
            "vertebrae[0].landmarks.tip",
            "known key",
        ),
        (lambda d: d.__setitem__("version", "1"), "version", "expected the format version, an integer"),
        (lambda d: d.__setitem__("units", "cm"), "units", 'is the text "cm"; expected "mm"'),
        (
            lambda d: d["vertebrae"][0].__setitem__("timepoint", "post"),
            "vertebrae[0].timepoint",
            "not the id of",
        ),
        (
            lambda d: d["vertebrae"].append(copy.deepcopy(d["vertebrae"][0])),
            "vertebrae[1].level",
            "listed twice",
        ),
    ],
)
def test_invalid_files_are_refused_naming_the_field(tmp_path: Path, mutate, field, expected) -> None:
    good = save_case(make_case(), tmp_path / "good.json")
    good_bytes = good.read_bytes()
    data = copy.deepcopy(MINIMAL)
    mutate(data)
    path = write_json(tmp_path / "bad.json", data)
    bad_bytes = path.read_bytes()
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    assert path.read_bytes() == bad_bytes and good.read_bytes() == good_bytes  # nothing rewritten
    message = str(info.value)
    assert str(path) in message
    assert f"field {field}" in message
    assert expected in message
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_a_file_of_another_format_is_named_as_such(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", {"format": "slicer-markups"})
    with pytest.raises(
        CaseFileError, match='is not an Endplate case file: field format is the text "slicer-markups"'
    ):
        load_case(path)


def test_a_newer_version_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    data["version"] = 7
    data["something_new"] = {"x": 1}
    path = write_json(tmp_path / "new.json", data)
    raw = path.read_bytes()
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    assert path.read_bytes() == raw
    assert info.value.field == "version"
    assert f"written by a newer Endplate: version 7, this one reads up to {CURRENT_VERSION}" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"format": "endplate-case",\n "version": 1,\n "units" "mm"}', "line 3, column 10"),
        (json.dumps(MINIMAL, indent=2).encode()[:300], "line "),
        (b"", "is empty"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_corrupted_files_say_where_and_leave_the_previous_good_file_alone(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    good = save_case(make_case(), tmp_path / "case.json")
    save_case(load_case(good), good)  # now case.json and case.json.bak exist
    good_bytes, bak_bytes = good.read_bytes(), backup_path(good).read_bytes()
    bad = tmp_path / "broken.json"
    bad.write_bytes(content)
    with pytest.raises(CaseFileError) as info:
        load_case(bad)
    assert expected in str(info.value) and str(bad) in str(info.value)
    assert good.read_bytes() == good_bytes and backup_path(good).read_bytes() == bak_bytes


def test_a_damaged_case_file_points_to_its_backup(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    save_case(load_case(path), path)
    reference = load_case(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CaseFileError, match=r"not valid JSON: .* at line \d+, column \d+ .*case\.json\.bak"):
        load_case(path)
    assert load_case(backup_path(path)).same_content(reference)


def test_missing_file_and_folder_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match="no such file"):
        load_case(tmp_path / "absent.json")
    with pytest.raises(CaseFileError, match="it is a folder"):
        load_case(tmp_path)


def test_save_keeps_the_previous_version_as_bak(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    case = make_case()
    save_case(case, path)
    assert not backup_path(path).exists()
    first = path.read_bytes()
    case.set_status("pre", "T12", "unknown")
    save_case(case, path)
    assert backup_path(path).read_bytes() == first
    assert load_case(path).vertebra("pre", "T12").status == "unknown"
    assert load_case(backup_path(path)).vertebra("pre", "T12").status == "reference"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "case.json.bak"]


def _prepare_two_versions(tmp_path: Path) -> tuple[Path, bytes, bytes, Case]:
    path = tmp_path / "case.json"
    case = make_case()
    save_case(case, path)
    case.set_status("pre", "T12", "unknown")
    save_case(case, path)
    case.set_status("pre", "L2", "unknown")  # the change the failing save would write
    return path, path.read_bytes(), backup_path(path).read_bytes(), case


def test_a_failing_replace_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, good, bak, case = _prepare_two_versions(tmp_path)

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(
        CaseFileError, match=r"could not save the case to .*Input/output error; the previous file is"
    ):
        save_case(case, path)
    assert path.read_bytes() == good and backup_path(path).read_bytes() == bak
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "case.json.bak"]  # no temp left
    assert case.dirty  # still unsaved


def test_a_write_that_fails_midway_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, good, bak, case = _prepare_two_versions(tmp_path)

    real_fsync = os.fsync

    def disk_full(fd: int) -> None:  # the data was written but cannot reach the disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(CaseFileError, match="No space left on device"):
        save_case(case, path)
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert path.read_bytes() == good and backup_path(path).read_bytes() == bak
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "case.json.bak"]


def test_a_process_killed_after_writing_the_temp_file_loses_nothing(tmp_path: Path) -> None:
    """A hard kill (no cleanup at all) right before the rename: old file and .bak intact."""
    path, good, bak, _case = _prepare_two_versions(tmp_path)
    script = textwrap.dedent(
        f"""
        import os
        from dicomio import atomic
        from measure.casefile import load_case, save_case
        case = load_case({str(path)!r})
        case.set_status("pre", "L2", "unknown")
        atomic.os.replace = lambda src, dst: os._exit(9)  # power cut before the rename
        save_case(case, {str(path)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr
    assert path.read_bytes() == good and backup_path(path).read_bytes() == bak
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the simulated power cut should have left the temporary file behind"
    assert all(p.name.startswith(".case.json") for p in leftovers)
    assert load_case(path).vertebra("pre", "T12").status == "unknown"
    # The next good save cleans up what the interrupted one left.
    save_case(load_case(path), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "case.json.bak"]


def test_series_paths_are_stored_relative_to_the_case_file(tmp_path: Path) -> None:
    study = tmp_path / "study"
    (study / "cases").mkdir(parents=True)
    (study / "pre_ct").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    case = make_case()
    case.assign_series(SeriesRef("1.2.826.0.1.1", "pre", str(study / "pre_ct")))
    case.assign_series(SeriesRef("1.2.826.0.1.2", "post", str(outside / "post")))
    case.add_timepoint(Timepoint("fu", "follow-up", "2026-06-01"))
    case.assign_series(SeriesRef("1.2.826.0.1.3", "fu", str(study / "cases" / "fu" / "stir")))

    path = save_case(case, study / "cases" / "case.json")
    stored = {s["series_uid"]: s["path"] for s in json.loads(path.read_text(encoding="utf-8"))["series"]}
    assert stored == {
        "1.2.826.0.1.1": "../pre_ct",  # beside the case folder: relative
        "1.2.826.0.1.2": str(outside / "post"),  # elsewhere: absolute
        "1.2.826.0.1.3": "fu/stir",  # inside the case folder: relative
    }
    # The study folder moved as a whole still opens with the same series.
    moved = tmp_path / "moved_study"
    study.rename(moved)
    loaded = load_case(moved / "cases" / "case.json")
    assert loaded.series_path("1.2.826.0.1.1").resolve() == (moved / "pre_ct").resolve()
    assert loaded.series_path("1.2.826.0.1.3") == moved / "cases" / "fu" / "stir"

    # Save As into another folder rewrites the relative paths so they still point there.
    other = tmp_path / "other"
    other.mkdir()
    save_case(loaded, other / "copy.json")
    again = load_case(other / "copy.json")
    assert again.series_path("1.2.826.0.1.1").resolve() == (moved / "pre_ct").resolve()
    assert again.series_path("1.2.826.0.1.3").resolve() == (moved / "cases" / "fu" / "stir").resolve()


def test_save_refuses_to_write_into_a_dicom_source_folder(tmp_path: Path) -> None:
    series_dir = tmp_path / "pre_ct"
    series_dir.mkdir()
    (series_dir / "IM0001.dcm").write_bytes(b"\0" * 132)
    case = make_case()
    case.assign_series(SeriesRef("1.2.826.0.1.1", "pre", str(series_dir)))
    for target in (series_dir / "case.json", series_dir / "sub" / "case.json"):
        target.parent.mkdir(exist_ok=True)
        with pytest.raises(CaseFileError, match="never writes into a DICOM source folder"):
            save_case(case, target)
        assert not target.exists()
    # A single-file (multi-frame) series: its folder is a source folder too.
    case.assign_series(SeriesRef("1.2.826.0.1.1", "pre", str(series_dir / "IM0001.dcm")))
    with pytest.raises(CaseFileError, match=r"series 1\.2\.826\.0\.1\.1"):
        save_case(case, series_dir / "case.json")
    # Beside the series folder is fine.
    assert save_case(case, tmp_path / "case.json").is_file()


def test_save_to_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match=r"folder .* does not exist"):
        save_case(make_case(), tmp_path / "nope" / "case.json")


def test_the_schema_is_package_data_and_a_valid_2020_12_schema() -> None:
    import jsonschema

    schema = casefile.case_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert (PROJECT_ROOT / "measure" / "casefile" / "case_schema.json").is_file()
    assert set(schema["required"]) == {
        "format",
        "version",
        "coordinate_system",
        "units",
        "timepoints",
        "series",
        "vertebrae",
    }


#: A JSON Schema of exactly the minimal form of issue 3 (docs/case-format.md): the keys it
#: shows, with their types, and nothing else required.  Two documented allowances: a
#: timepoint date may be null while unknown, and a vertebra being marked may have fewer
#: than six landmarks.
MINIMAL_FORM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "version", "coordinate_system", "units", "timepoints", "series", "vertebrae"],
    "properties": {
        "format": {"const": "endplate-case"},
        "version": {"type": "integer", "minimum": 1},
        "coordinate_system": {"const": "LPS"},
        "units": {"const": "mm"},
        "timepoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "kind", "date"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "kind": {"enum": ["pre-op", "post-op", "follow-up"]},
                    "date": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
                },
            },
        },
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["series_uid", "timepoint", "path"],
                "properties": {
                    n: {"type": "string", "minLength": 1} for n in ("series_uid", "timepoint", "path")
                },
            },
        },
        "vertebrae": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["timepoint", "level", "status", "landmarks"],
                "properties": {
                    "timepoint": {"type": "string"},
                    "level": {"type": "string", "pattern": "^(C[1-7]|T([1-9]|1[0-2])|L[1-5]|S1)$"},
                    "status": {"enum": ["fractured", "treated", "reference", "unknown"]},
                    "landmarks": {
                        "type": "object",
                        "propertyNames": {"enum": list(LANDMARK_KEYS)},
                        "additionalProperties": {
                            "type": "object",
                            "required": ["position", "series_uid"],
                            "properties": {
                                "position": {
                                    "type": "array",
                                    "items": {"type": "number"},
                                    "minItems": 3,
                                    "maxItems": 3,
                                },
                                "series_uid": {"type": "string", "minLength": 1},
                                "sop_uid": {"type": "string", "minLength": 1},  # optional, never null
                            },
                        },
                    },
                },
            },
        },
    },
}


def _minimal_validator():  # type: ignore[no-untyped-def]
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(MINIMAL_FORM_SCHEMA)
    return jsonschema.Draft202012Validator(
        MINIMAL_FORM_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_the_minimal_form_schema_accepts_the_issue_example_and_rejects_a_null_sop_uid() -> None:
    validator = _minimal_validator()
    assert list(validator.iter_errors(MINIMAL)) == []
    bad = copy.deepcopy(MINIMAL)
    bad["vertebrae"][0]["landmarks"]["sup_ant"]["sop_uid"] = None
    assert [e.validator for e in validator.iter_errors(bad)] == ["type"]  # the schema can fail


@pytest.mark.parametrize("build", [make_case, rich_case], ids=["pre-post case", "rich case"])
def test_every_saved_case_contains_the_minimal_form(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    case = build()
    path = save_case(case, tmp_path / "case.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _minimal_validator().iter_errors(data)]
    assert errors == []
    # ... and that form alone is enough: stripped of every other key, the file loads with
    # the same timepoints, series and landmarks.
    keep = {
        "timepoints": ("id", "kind", "date"),
        "series": ("series_uid", "timepoint", "path"),
        "vertebrae": ("timepoint", "level", "status", "landmarks"),
    }
    minimal = {k: data[k] for k in ("format", "coordinate_system", "units")} | {"version": 1}
    for section, names in keep.items():
        minimal[section] = [{n: item[n] for n in names} for item in data[section]]
    for v in minimal["vertebrae"]:
        v["landmarks"] = {
            k: {n: lm[n] for n in ("position", "series_uid", "sop_uid") if n in lm}
            for k, lm in v["landmarks"].items()
        }
    stripped = load_case(write_json(tmp_path / "minimal.json", minimal))
    assert [(t.id, t.kind, t.date) for t in stripped.timepoints] == [
        (t.id, t.kind, t.date) for t in case.timepoints
    ]
    assert [(s.series_uid, s.timepoint) for s in stripped.series] == [
        (s.series_uid, s.timepoint) for s in case.series
    ]
    for v in case.vertebrae():
        again = stripped.vertebra(v.timepoint, v.level)
        assert again is not None and again.status == v.status and again.series == v.series
        for uid in v.series:
            assert {
                k: (lm.position_mm, lm.series_uid, lm.sop_uid) for k, lm in again.landmarks_on(uid).items()
            } == {k: (lm.position_mm, lm.series_uid, lm.sop_uid) for k, lm in v.landmarks_on(uid).items()}


def test_a_version_2_file_migrates_to_one_landmark_set_per_vertebra(tmp_path: Path) -> None:
    """Version 2 kept one set per vertebra, its points possibly on parallel images of two
    series: it becomes the set of the series most points lie on, with the same numbers."""
    case = make_case()
    v2 = casefile.case_to_dict(case)
    v2["version"] = 2
    for entry in v2["vertebrae"]:
        entry.pop("series_uid", None)
    for t in v2["timepoints"]:
        t.pop("measurement_series")
    for s in v2["series"]:
        for key in ("identity", "window", "generated_uid"):
            s.pop(key)
    l1 = next(e for e in v2["vertebrae"] if (e["timepoint"], e["level"]) == ("pre", "L1"))
    l1["landmarks"]["inf_post"]["series_uid"] = "1.2.826.0.1.9"  # one point on another series
    v2["series"].append({"series_uid": "1.2.826.0.1.9", "timepoint": "pre", "path": "pre_ct_2"})
    loaded = load_case(write_json(tmp_path / "v2.json", v2))
    v = loaded.vertebra("pre", "L1")
    assert v is not None and v.series == ("1.2.826.0.1.1",)
    assert loaded.landmarks("pre", "L1")["inf_post"].series_uid == "1.2.826.0.1.9"
    expected = case.measure().timepoints["pre"].vertebrae["L1"].ha_mm.value
    assert loaded.measure().timepoints["pre"].vertebrae["L1"].ha_mm.value == expected


def test_two_landmark_sets_round_trip_and_a_status_conflict_is_refused(tmp_path: Path) -> None:
    case = make_case()
    mr = "1.2.826.0.1.7"
    case.assign_series(SeriesRef(mr, "pre", "mr", "SAG T1", "MR", "T1"))
    for key, lm in case.landmarks("pre", "L1").items():
        case.set_landmark("pre", "L1", key, Landmark(lm.position_mm, mr, None))
    tp = case.timepoint("pre")
    case.update_timepoint(Timepoint(tp.id, tp.kind, tp.date, tp.label, mr))
    path = save_case(case, tmp_path / "case.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = [(e["timepoint"], e["level"], e.get("series_uid")) for e in data["vertebrae"]]
    assert ("pre", "L1", "1.2.826.0.1.1") in entries and ("pre", "L1", mr) in entries
    assert data["measurements"]["timepoints"]["pre"]["series_uid"] == mr
    loaded = load_case(path)
    assert loaded.same_content(case) and loaded.measurement_series("pre") == mr
    assert loaded.landmark_series("pre") == case.landmark_series("pre")
    second = next(e for e in data["vertebrae"] if e.get("series_uid") == mr and e["level"] == "L1")
    second["status"] = "reference"
    with pytest.raises(
        CaseFileError, match='L1 at timepoint "pre" is "fractured" in one entry and "reference"'
    ):
        load_case(write_json(tmp_path / "conflict.json", data))
