"""``endplate cohort``: a constructed cohort whose every statistic is computed here by hand
(means, SD, quartiles, t-intervals, exact Wilcoxon by enumeration, Wilson intervals), with
missing values (no follow-up, no VAS), bad files in the folder, and clinical fields entered
through ``endplate case set`` and ``endplate case import``."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student_t

import main

UID_OF = {"pre": 1, "post": 2, "fu": 3}  # series UIDs are digits and dots
PRE_HA = [12.0, 14.0, 15.0, 16.0, 18.0]
POST_HA = [20.0, 22.0, 24.0, 21.0, 23.0]
FU_HA = [19.0, 21.5, 22.0]  # cases 0-2 have a follow-up
HP = 25.0
VAS = {"pre-op": [8, 7, 9, 6, 8], "post-op": [3, 1, 6, None, 4], "follow-up": [2, 2, 3]}
ODI = {"pre-op": [60, 50, 70, 55, 65], "follow-up": [30, 25, 42]}


def vka_deg(ha: float, hp: float = HP) -> float:
    """Landmarks 30 mm apart antero-posteriorly, each pair centred on one z: both endplates
    tilt by atan((hp - ha) / 2 / 30), towards each other anteriorly (kyphosis positive)."""
    return math.degrees(2 * math.atan((hp - ha) / 2 / 30.0))


def _vertebra(tp: str, level: str, status: str, z0: float, ha: float, hm: float, hp: float) -> dict:  # type: ignore[type-arg]
    points = {}
    for key, y, h in (("ant", -25.0, ha), ("mid", -10.0, hm), ("post", 5.0, hp)):
        points[f"sup_{key}"] = {"position": [0.0, y, z0 + h / 2], "series_uid": f"1.2.{UID_OF[tp]}"}
        points[f"inf_{key}"] = {"position": [0.0, y, z0 - h / 2], "series_uid": f"1.2.{UID_OF[tp]}"}
    return {"timepoint": tp, "level": level, "status": status, "landmarks": points}


def _case(i: int) -> dict:  # type: ignore[type-arg]
    tps = [("pre", "pre-op", "2025-01-10"), ("post", "post-op", "2025-01-12")]
    has_fu = i < len(FU_HA)
    if has_fu:
        tps.append(("fu", "follow-up", "2025-07-12"))
    vertebrae = []
    for tp, _, _ in tps:
        ha = {"pre": PRE_HA[i], "post": POST_HA[i], "fu": FU_HA[i] if has_fu else 0.0}[tp]
        status = "fractured" if tp == "pre" else "treated"
        vertebrae += [
            _vertebra(tp, "T12", "reference", 60, 25, 25, 25),
            _vertebra(tp, "L1", status, 30, ha, 20.0 if tp == "pre" else 23.0, HP),
            _vertebra(tp, "L2", "reference", 0, 25, 25, 25),
        ]
    return {
        "format": "endplate-case",
        "version": 2,
        "coordinate_system": "LPS",
        "units": "mm",
        "case_id": f"C{i}",
        "patient": {
            "name": "",
            "id": f"P{i}",
            "birth_date": f"19{40 + i}-01-12",
            "sex": "F" if i % 2 else "M",
        },
        "timepoints": [{"id": a, "kind": b, "date": c} for a, b, c in tps],
        "series": [{"series_uid": f"1.2.{UID_OF[a]}", "timepoint": a, "path": a} for a, _, _ in tps],
        "vertebrae": vertebrae,
        "reader": [
            {"timepoint": "post", "level": "L1", "procedure": "kyphoplasty" if i < 4 else "spinejack"}
        ],
    }


@pytest.fixture
def cohort_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cases"
    (folder / "sub").mkdir(parents=True)
    paths = []
    for i in range(5):
        path = (folder if i % 2 else folder / "sub") / f"case{i}.json"
        path.write_text(json.dumps(_case(i)), encoding="utf-8")
        paths.append(path)
    (folder / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    (folder / "broken.json").write_text('{"format": "endplate-case"', encoding="utf-8")
    (folder / "readme.txt").write_text("not a case")
    # Clinical fields: VAS/ODI by a CSV import, the rest by `case set`.
    lines = ["case_id,timepoint,vas,odi"]
    for kind, tp in (("pre-op", "pre"), ("post-op", "post"), ("follow-up", "fu")):
        for i, v in enumerate(VAS[kind]):
            odi = ODI.get(kind, [])
            odi_v = odi[i] if i < len(odi) else ""
            if v is not None or odi_v != "":
                lines.append(f"C{i},{tp},{'' if v is None else v},{odi_v}")
    csv_path = tmp_path / "outcomes.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main.main(["case", "import", str(csv_path), *map(str, paths)]) == 0
    sets = [
        (1, "post-op.complications", "cement_leakage:disc:asymptomatic:L1"),
        (3, "post-op.complications", "haematoma"),
        (0, "follow-up.new_fractures", "L2:adjacent:2025-05-01"),
        (4, "post-op.lost_to_follow_up", "yes"),
        (0, "post-op.operating_time_min", "45"),
        (1, "post-op.operating_time_min", "60"),
    ]
    for i, target, value in sets:
        assert main.main(["case", "set", str(paths[i]), target, value]) == 0
    return folder


def _describe(values: list[float]) -> dict[str, float]:
    x = sorted(values)
    n = len(x)

    def quantile(q: float) -> float:  # linear interpolation between order statistics
        pos = q * (n - 1)
        lo = math.floor(pos)
        return x[lo] + (x[min(lo + 1, n - 1)] - x[lo]) * (pos - lo)

    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    quartiles = {"median": quantile(0.5), "q1": quantile(0.25), "q3": quantile(0.75)}
    return {"n": n, "mean": mean, "sd": sd, **quartiles, "min": x[0], "max": x[-1]}


def _paired(diffs: list[float]) -> dict[str, object]:
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    tq = float(student_t.ppf(0.975, n - 1))
    t_stat = mean / (sd / math.sqrt(n))
    p_t = 2 * float(student_t.sf(abs(t_stat), n - 1))
    # Exact Wilcoxon signed-rank: W = smaller of the rank sums, over all 2^n sign patterns.
    ranks = np.argsort(np.argsort(np.abs(diffs))) + 1.0
    w_pos = sum(r for r, d in zip(ranks, diffs, strict=True) if d > 0)
    w_obs = min(w_pos, ranks.sum() - w_pos)
    count = sum(
        1
        for signs in itertools.product((0, 1), repeat=n)
        if min(s := sum(r for r, b in zip(ranks, signs, strict=True) if b), ranks.sum() - s) <= w_obs
    )
    half = tq * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci95": [mean - half, mean + half], "p_paired_t": p_t,
            "p_wilcoxon": count / 2**n}  # fmt: skip


def _wilson(k: int, n: int) -> list[float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [centre - half, centre + half]


def _approx(actual: dict, expected: dict) -> None:  # type: ignore[type-arg]
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, actual[key], value)


def test_cohort_json_against_hand_statistics(cohort_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main.main(["cohort", str(cohort_folder), "--out", str(out)]) == 1  # some files not read
    table = json.loads(out.read_text(encoding="utf-8"))
    assert table["n_cases"] == 5 and table["n_levels"] == 5  # one treated level (L1) per case
    skipped = {Path(s["path"]).name: s["reason"] for s in table["skipped"]}
    assert set(skipped) == {"notes.json", "broken.json"}  # readme.txt is not a .json case
    assert "is not valid JSON" in skipped["broken.json"]

    vka = {"pre-op": [vka_deg(h) for h in PRE_HA], "post-op": [vka_deg(h) for h in POST_HA],
           "follow-up": [vka_deg(h) for h in FU_HA]}  # fmt: skip
    for kind, values in vka.items():
        _approx(table["variables"]["vka_deg"][kind], _describe(values))
    _approx(table["variables"]["ha_mm"]["pre-op"], _describe(PRE_HA))
    for kind in ("pre-op", "post-op", "follow-up"):
        present = [float(v) for v in VAS[kind] if v is not None]
        _approx(table["variables"]["vas"][kind], _describe(present))
    # Paired changes: only subjects present at both timepoints.
    correction = [a - b for a, b in zip(vka["pre-op"], vka["post-op"], strict=True)]
    _approx(table["comparisons"]["correction_deg"], _paired(correction))
    loss = [vka["follow-up"][i] - vka["post-op"][i] for i in range(3)]
    _approx(table["comparisons"]["loss_of_correction_deg"], _paired(loss))
    vas_post = [
        float(VAS["post-op"][i] - VAS["pre-op"][i]) for i in range(5) if VAS["post-op"][i] is not None
    ]
    assert len(vas_post) == 4
    _approx(table["comparisons"]["vas_change_post_op"], _paired(vas_post))
    odi_fu = [float(ODI["follow-up"][i] - ODI["pre-op"][i]) for i in range(3)]
    _approx(table["comparisons"]["odi_change_follow_up"], _paired(odi_fu))
    # Restoration of Ha against the adjacent reference (25 mm): (post - pre) / (25 - pre).
    restoration = [(post - pre) / (25.0 - pre) * 100 for pre, post in zip(PRE_HA, POST_HA, strict=True)]
    _approx(table["variables"]["restoration_ha_pct"]["post-op"], _describe(restoration))
    # Rates with Wilson intervals.
    rates = table["rates"]
    assert (rates["complication_per_patient"]["k"], rates["complication_per_patient"]["n"]) == (2, 5)
    assert rates["complication_per_patient"]["ci95"] == pytest.approx(_wilson(2, 5), abs=1e-12)
    assert (rates["cement_leakage_per_level"]["k"], rates["cement_leakage_per_level"]["n"]) == (1, 5)
    assert (rates["adjacent_fracture_at_follow_up"]["k"], rates["adjacent_fracture_at_follow_up"]["n"]) == (
        1,
        3,
    )
    assert rates["adjacent_fracture_at_follow_up"]["ci95"] == pytest.approx(_wilson(1, 3), abs=1e-12)
    assert (rates["lost_to_follow_up"]["k"], rates["lost_to_follow_up"]["n"]) == (1, 5)
    assert table["leakage_by_location"] == {"disc": 1}
    assert table["levels_by_region"] == {"hinge": 5}
    assert table["demographics"]["sex"] == {"F": 2, "M": 3}
    ages = [(np_date("2025-01-12") - np_date(f"19{40 + i}-01-12")) / 365.25 for i in range(5)]
    _approx(table["demographics"]["age_years"], _describe(ages))
    _approx(table["operating_time_min"], {"n": 2, "mean": 52.5})


def np_date(text: str) -> float:
    from datetime import date

    return float(date.fromisoformat(text).toordinal())


def test_cohort_filters_and_other_formats(cohort_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "spinejack.json"
    main.main(["cohort", str(cohort_folder), "--out", str(out), "--device", "spinejack"])
    table = json.loads(out.read_text(encoding="utf-8"))
    assert table["n_cases"] == 1 and table["n_levels"] == 1
    assert table["variables"]["ha_mm"]["pre-op"]["mean"] == pytest.approx(PRE_HA[4])
    out = tmp_path / "l2.json"  # no case has L2 treated: nothing to describe, said as n = 0
    main.main(["cohort", str(cohort_folder), "--out", str(out), "--level", "L2"])
    assert json.loads(out.read_text(encoding="utf-8"))["n_levels"] == 0
    out = tmp_path / "later.json"  # every procedure is on 2025-01-12
    main.main(["cohort", str(cohort_folder), "--out", str(out), "--from", "2025-01-13"])
    assert json.loads(out.read_text(encoding="utf-8"))["n_cases"] == 0
    out = tmp_path / "window.json"
    main.main(["cohort", str(cohort_folder), "--out", str(out), "--from", "2025-01-12", "--to", "2025-01-12"])
    assert json.loads(out.read_text(encoding="utf-8"))["n_cases"] == 5
    for suffix in ("csv", "html", "pdf"):
        path = tmp_path / f"report.{suffix}"
        assert main.main(["cohort", str(cohort_folder), "--out", str(path)]) == 1
        data = path.read_bytes()
        assert data
    assert (tmp_path / "report.pdf").read_bytes()[:4] == b"%PDF"
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "5 patients, 5 levels" in html and html.count("<img") == 3 and "broken.json" in html
    rows = (tmp_path / "report.csv").read_text(encoding="utf-8").splitlines()
    assert "comparison,correction_deg,,mean," in "\n".join(rows)


def test_case_set_refuses_out_of_range_and_dates_out_of_order(
    cohort_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cohort_folder / "sub" / "case0.json"
    before = path.read_bytes()
    assert main.main(["case", "set", str(path), "pre-op.vas", "11"]) == 2
    assert "vas must be 0 to 10, got 11" in capsys.readouterr().err
    assert main.main(["case", "set", str(path), "follow-up.new_fractures", "L3:adjacent:2024-12-01"]) == 2
    assert "is dated before the procedure (2025-01-12)" in capsys.readouterr().err
    assert main.main(["case", "set", str(path), "nope.vas", "3"]) == 2
    assert "has no timepoint 'nope'" in capsys.readouterr().err
    assert path.read_bytes() == before  # nothing written on a refusal


def test_clinical_fields_round_trip_and_migration(cohort_folder: Path, tmp_path: Path) -> None:
    from measure.casefile import load_case, save_case

    path = cohort_folder / "case1.json"
    case = load_case(path)
    record = case.clinical("post")
    assert record is not None and record.vas == 1.0 and record.operating_time_min == 60.0
    (leak,) = record.complications
    assert (leak.kind, leak.location, leak.symptomatic, leak.level) == ("cement_leakage", "disc", False, "L1")
    copy = tmp_path / "copy.json"
    save_case(case, copy)
    data = json.loads(copy.read_text(encoding="utf-8"))
    assert data["version"] == 4
    leak = {"kind": "cement_leakage", "location": "disc", "symptomatic": False, "level": "L1"}
    entry = {"timepoint": "post", "vas": 1.0, "operating_time_min": 60.0, "complications": [leak]}
    assert entry in data["clinical"]
    assert load_case(copy).same_content(case)
    # A version-2 file (written before clinical fields existed) migrates with none recorded.
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_case(2)), encoding="utf-8")
    assert load_case(old).clinical_records() == {}
    # The CSV export carries them.
    out = tmp_path / "c.csv"
    assert main.main(["export", str(copy), "--format", "csv", "--out", str(out)]) == 0
    import csv

    rows = {(r["timepoint_id"], r["level"]): r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows[("post", "L1")]["vas"] == "1.0"
    out_json = tmp_path / "c.json"
    assert main.main(["export", str(copy), "--format", "json", "--out", str(out_json)]) == 0
    exported = json.dumps(json.loads(out_json.read_text(encoding="utf-8")))
    assert '"complication_codes": "cement_leakage:disc:asymptomatic"' in exported
    assert rows[("post", "L1")]["complication_codes"] == "cement_leakage:disc:asymptomatic"


def test_parquet_export_equals_the_csv(cohort_folder: Path, tmp_path: Path) -> None:
    """Same rows and values as the CSV (another writer), typed: numbers as float64, empty
    cells as nulls, the clinical columns filled."""
    import csv

    import pyarrow.parquet as pq

    cases = sorted(cohort_folder.rglob("case*.json"))
    assert (
        main.main(["export", *map(str, cases), "--format", "parquet", "--out", str(tmp_path / "r.parquet")])
        == 0
    )
    assert main.main(["export", *map(str, cases), "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    table = pq.read_table(tmp_path / "r.parquet")
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert table.num_rows == len(rows) == 5 * 3 * 3 - 2 * 3  # 3 levels, 3 timepoints, 2 without follow-up
    assert table.column_names == list(rows[0])
    assert (
        str(table.schema.field("ha_mm").type) == "double" and str(table.schema.field("vas").type) == "double"
    )
    assert table.schema.field("ha_mm").metadata[b"unit"] == b"mm"
    data = table.to_pylist()
    for got, want in zip(data, rows, strict=True):
        for name in ("case_id", "timepoint_id", "level", "ha_mm", "vka_deg", "vas", "complication_codes"):
            cell = want[name]
            if cell == "":
                assert got[name] is None, name
            elif isinstance(got[name], float):
                assert got[name] == float(cell), name
            else:
                assert str(got[name]) == cell, name
    l1_post = [r for r in data if r["case_id"] == "C1" and r["timepoint_id"] == "post" and r["level"] == "L1"]
    assert l1_post[0]["vas"] == 1.0 and l1_post[0]["complication_codes"] == "cement_leakage:disc:asymptomatic"


def test_fhir_carries_the_clinical_outcomes_with_their_code_systems(
    cohort_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "c.fhir.json"
    assert (
        main.main(["export", str(cohort_folder / "case1.json"), "--format", "fhir", "--out", str(out)]) == 0
    )
    bundle = json.loads(out.read_text(encoding="utf-8"))
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]

    def coded(system: str, code: str) -> list[dict]:  # type: ignore[type-arg]
        return [
            o
            for o in observations
            if any(c["system"] == system and c["code"] == code for c in o["code"]["coding"])
        ]

    vas = {o["effectiveDateTime"]: o["valueQuantity"]["value"] for o in coded("http://loinc.org", "38214-3")}
    assert vas == {"2025-01-10": 7.0, "2025-01-12": 1.0, "2025-07-12": 2.0}  # case 1 (CSV import)
    assert all(
        o["category"][0]["coding"][0]["code"] == "survey" for o in coded("http://loinc.org", "38214-3")
    )
    odi = {o["effectiveDateTime"]: o["valueQuantity"]["value"] for o in coded("http://loinc.org", "97909-6")}
    assert odi == {"2025-01-10": 50.0, "2025-07-12": 25.0}
    assert {o["valueQuantity"]["code"] for o in coded("http://loinc.org", "97909-6")} == {"%"}
    (leak,) = coded("urn:endplate:codes:1", "complication_codes")
    assert leak["valueString"] == "cement_leakage:disc:asymptomatic"
    (minutes,) = coded("urn:endplate:codes:1", "operating-time")
    assert minutes["valueQuantity"] == {
        "value": 60.0,
        "unit": "minute",
        "system": "http://unitsofmeasure.org",
        "code": "min",
    }


def test_parallel_reading_gives_the_same_table(
    cohort_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from measure.cohort import CohortFilters
    from session import cohort_run

    serial = cohort_run.build_cohort([cohort_folder], CohortFilters(), workers=1).table()
    monkeypatch.setattr(cohort_run, "PARALLEL_FROM_FILES", 1)
    monkeypatch.setattr(cohort_run, "_CHUNK", 2)
    seen: list[tuple[int, int]] = []
    parallel = cohort_run.build_cohort(
        [cohort_folder], CohortFilters(), progress=lambda d, t: seen.append((d, t)), workers=2
    ).table()
    assert parallel == serial
    assert seen[-1] == (7, 7) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_pdf_report_lists_the_clinical_outcomes(cohort_folder: Path, tmp_path: Path) -> None:
    import subprocess

    out = tmp_path / "c.pdf"
    assert main.main(["export", str(cohort_folder / "case1.json"), "--format", "pdf", "--out", str(out)]) == 0
    text = " ".join(
        subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "Clinical pre-op: VAS 7, ODI 50" in text
    assert (
        "Clinical post-op: VAS 1, operating time (min) 60, complications cement_leakage:disc:asymptomatic"
        in text
    )


def test_csv_import_refuses_a_bad_row_and_leaves_that_case_unchanged(
    cohort_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cohort_folder / "case1.json"
    before = path.read_bytes()
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("case_id,timepoint,vas,odi\nC1,pre,5,\nC1,post,,140\nC9,pre,3,\n", encoding="utf-8")
    assert main.main(["case", "import", str(csv_path), str(path)]) == 1
    out = capsys.readouterr().out
    assert "case 'C1' not changed: line 3: timepoint post: odi must be 0 to 100, got 140" in out
    assert "case 'C9' (line 4) is not in the case files given" in out
    assert path.read_bytes() == before
