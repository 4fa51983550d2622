"""Hole #6 of issue 14: concurrent saves of one case, the two-session overwrite, stale temps.

Real processes (multiprocessing, spawn) write the same case file at once; before the fix
one writer's clean-up deleted another's temporary file ("No such file or directory" in
0.7 % of saves) and a second session silently overwrote a landmark the first had moved.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from measure.casefile import CaseConflictError, backup_path, load_case, save_case
from measure.landmarks import Landmark
from tests.measure.test_case import make_case

WORKERS = 4
SAVES = 25


def _save_many(path_text: str, worker: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One writer: its own in-memory case saved SAVES times over the same file (the reader
    chose "overwrite"); reports every exception by type and sentence."""
    path = Path(path_text)
    failures = []
    case = make_case()
    for n in range(SAVES):
        case.set_extra("writer", {"worker": worker, "save": n})
        try:
            save_case(case, path, overwrite_changes=True)
        except Exception as exc:  # the test counts every kind of failure
            failures.append(f"{type(exc).__name__}: {exc}")
    queue.put((worker, failures))


def _load_modify_save(path_text: str, worker: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One session: load, append a token to extras.log, save with the conflict check."""
    path = Path(path_text)
    saved, conflicts, failures = [], 0, []
    for n in range(SAVES):
        token = f"w{worker}-{n}"
        try:
            case = load_case(path)
            case.set_extra("log", [*case.extras.get("log", []), token])
            save_case(case, path)
            saved.append(token)
        except CaseConflictError:
            conflicts += 1
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
    queue.put((saved, conflicts, failures))


def _run(target: object, path: Path) -> list[object]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(str(path), w, queue)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_concurrent_writers_never_fail_and_leave_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    save_case(make_case(), path)
    results = _run(_save_many, path)
    failures = [f for _w, fails in results for f in fails]  # type: ignore[misc]
    assert failures == [], failures[:3]
    final = load_case(path)  # valid, whole, and one writer's last version
    assert final.extras["writer"]["save"] == SAVES - 1
    assert final.landmarks("pre", "L1") == make_case().landmarks("pre", "L1")
    assert load_case(backup_path(path)).landmarks("pre", "L1") == make_case().landmarks("pre", "L1")
    assert _temps(tmp_path) == []


def test_concurrent_sessions_lose_no_update(tmp_path: Path) -> None:
    """Load-modify-save in four processes: each save either lands on top of the version it
    read or is refused as a conflict; so the final log holds every accepted save, once."""
    path = tmp_path / "case.json"
    save_case(make_case(), path)
    results = _run(_load_modify_save, path)
    saved = [t for s, _c, _f in results for t in s]  # type: ignore[misc]
    failures = [f for _s, _c, fails in results for f in fails]  # type: ignore[misc]
    conflicts = sum(c for _s, c, _f in results)  # type: ignore[misc]
    assert failures == [], failures[:3]
    assert len(saved) + conflicts == WORKERS * SAVES
    log = load_case(path).extras.get("log", [])
    assert sorted(log) == sorted(saved)  # nothing accepted was overwritten by another session
    assert len(log) == len(set(log))
    assert _temps(tmp_path) == []


def test_a_second_session_cannot_silently_overwrite_a_moved_landmark(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    first, second = load_case(path), load_case(path)
    moved = first.landmark("pre", "L1", "sup_ant")
    assert moved is not None
    first.set_landmark("pre", "L1", "sup_ant", moved.moved_to((0.0, -15.0, 77.5)))
    save_case(first, path)
    other = second.landmark("pre", "T12", "sup_ant")
    assert other is not None
    second.set_landmark("pre", "T12", "sup_ant", other.moved_to((0.0, -15.0, 121.0)))
    before = path.read_bytes()
    with pytest.raises(CaseConflictError, match=r"was changed by another program or session.*not saved"):
        save_case(second, path)
    assert path.read_bytes() == before and second.dirty
    kept = load_case(path).landmark("pre", "L1", "sup_ant")
    assert kept is not None and kept.position_mm == (0.0, -15.0, 77.5)
    # The offered ways out: save under another name, or overwrite on purpose.
    save_case(second, tmp_path / "mine.json")
    assert load_case(tmp_path / "mine.json").landmark("pre", "T12", "sup_ant").position_mm[2] == 121.0
    second2 = load_case(path)
    second2.set_landmark("pre", "T12", "sup_ant", other.moved_to((0.0, -15.0, 121.0)))
    first.set_status("pre", "L2", "unknown")
    save_case(second2, path)
    with pytest.raises(CaseConflictError):
        save_case(first, path)
    save_case(first, path, overwrite_changes=True)
    assert load_case(path).vertebra("pre", "L2").status == "unknown"


def test_touching_the_file_is_not_a_conflict(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    case = load_case(path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    case.set_status("pre", "L2", "unknown")
    save_case(case, path)  # same bytes, another mtime: saved
    assert load_case(path).vertebra("pre", "L2").status == "unknown"


def test_stale_temps_of_dead_writers_are_removed_at_open_and_live_ones_kept(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)  # that process has exited
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".case.json.{dead_pid}-0123456789ab.tmp"
        stale_bak = tmp_path / f".case.json.bak.{dead_pid}-0123456789ab.tmp"
        old_format = tmp_path / ".case.json.abcdef012345.tmp"  # written before pids were in names
        fresh_old_format = tmp_path / ".case.json.fedcba543210.tmp"
        concurrent = tmp_path / f".case.json.{live.pid}-00000000000a.tmp"
        unrelated = tmp_path / ".case.json.notes.tmp"
        for p in (stale, stale_bak, old_format, fresh_old_format, concurrent, unrelated):
            p.write_bytes(b"x" * 1000)
        two_hours_ago = time.time() - 7200
        os.utime(old_format, (two_hours_ago, two_hours_ago))
        load_case(path)
        assert _temps(tmp_path) == sorted(p.name for p in (fresh_old_format, concurrent, unrelated)), (
            "only the temps of writers that are gone go"
        )
    finally:
        live.kill()
        live.wait()


def test_conflict_file_holds_valid_json_after_refusal(tmp_path: Path) -> None:
    path = save_case(make_case(), tmp_path / "case.json")
    case = load_case(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["case_id"] = "EDITED-BY-HAND"
    path.write_text(json.dumps(data), encoding="utf-8")
    case.set_landmark("pre", "L1", "sup_ant", Landmark((0.0, -15.0, 76.5), "1.2.826.0.1.1"))
    with pytest.raises(CaseConflictError):
        save_case(case, path)
    assert load_case(path).case_id == "EDITED-BY-HAND"
