"""Pinned outputs of the demo case: ``measure --json`` and the CSV, JSON, SR and FHIR exports.

The structure of Endplate may change (issue 9: typed results, one serializer, a Qt-free
session, one DICOM reader); what it writes must not.  This module builds the demo case,
runs the public command-line verbs on it, and turns each output into a canonical text
that does not depend on the run: every DICOM UID is replaced by what it names in the demo
set's ``ground_truth.json`` (``<series pre_t1>``, ``<sop pre_t1 #12>``, ...), or by
``<generated>`` when Endplate made it up for this export (the SR's own UIDs); FHIR's random
``urn:uuid`` references become ``<uuid N>`` in order of appearance; the SR's creation
dates and times are dropped.  Nothing here calls the code that builds the outputs: only
the CLI (``main.main``), the demo case builder and pydicom.

``python -m tests.pinned --write`` regenerates ``tests/data/pinned/`` (only when an output
is meant to change: say so in the commit and in docs/data-dictionary.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PINNED_DIR = Path(__file__).resolve().parent / "data" / "pinned"
OUTPUT_NAMES = (
    "measure.json",
    "export.csv",
    "export.json",
    "export.fhir.json",
    "sr_pre-op.txt",
    "sr_post-op.txt",
)

_UID = re.compile(r"\b[12](?:\.\d+){3,}\b")
_UUID = re.compile(r"urn:uuid:[0-9a-f-]{36}")
#: SR attributes that hold the moment of the export, not its content.
_SR_VOLATILE = {
    "InstanceCreationDate",
    "InstanceCreationTime",
    "ContentDate",
    "ContentTime",
    "SeriesDate",
    "SeriesTime",
    "ContributionDateTime",
}
#: File meta attributes that name the writing library's version, not the content.
_META_VOLATILE = {"MediaStorageSOPInstanceUID", "FileMetaInformationGroupLength", "ImplementationVersionName"}
#: Sequences whose item order says nothing (lists of referenced instances).
_SR_UNORDERED = {
    "ReferencedSOPSequence",
    "ReferencedSeriesSequence",
    "CurrentRequestedProcedureEvidenceSequence",
}


def uid_names(images: Path) -> dict[str, str]:
    """UID -> what it names, from the demo set's ground truth and its files (pydicom only)."""
    import pydicom

    truth = json.loads((images / "ground_truth.json").read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    for series_uid, info in truth["series"].items():
        key = info["key"]
        names[series_uid] = f"<series {key}>"
        names.setdefault(info["study_instance_uid"], f"<study {info['timepoint']}>")
        names.setdefault(info["frame_of_reference_uid"], f"<frame of reference {key}>")
        for i, sop in enumerate(info["sop_instance_uids"]):
            names[sop] = f"<sop {key} #{i}>"
    for path in sorted(images.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in ("SOPClassUID",):
            uid = str(ds.get(keyword, ""))
            names.setdefault(uid, f"<{keyword} {uid}>")
    return names


def _replace_uids(text: str, names: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        uid = match.group(0)
        if uid in names:
            return names[uid]
        if uid.startswith("1.2.840.10008."):  # a standard UID (SOP class, transfer syntax, coding)
            return uid
        return "<generated>"

    return _UID.sub(one, text)


def _replace_uuids(text: str) -> str:
    seen: dict[str, str] = {}

    def one(match: re.Match[str]) -> str:
        return seen.setdefault(match.group(0), f"<uuid {len(seen) + 1}>")

    return _UUID.sub(one, text)


def _dataset_lines(ds: Any, indent: str = "") -> list[str]:
    lines: list[str] = []
    for element in ds:
        keyword = element.keyword or str(element.tag)
        if keyword in _SR_VOLATILE:
            continue
        if element.VR == "SQ":
            items = [_dataset_lines(item, indent + "    ") for item in element.value]
            if keyword in _SR_UNORDERED:
                items.sort()
            lines.append(f"{indent}{keyword} SQ ({len(items)} items)")
            for i, item in enumerate(items):
                lines.append(f"{indent}  item {i}")
                lines.extend(item)
            continue
        if keyword == "SoftwareVersions":  # highdicom's version, in its contributing equipment item
            lines.append(f"{indent}{keyword} {element.VR} <version>")
            continue
        if element.tag.group == 0x7FE0 or element.VR in ("OB", "OW", "UN"):
            value = f"<{len(element.value or b'')} bytes>"
        else:
            value = repr(element.value) if not isinstance(element.value, str) else element.value
        lines.append(f"{indent}{keyword} {element.VR} {value}")
    return lines


def sr_text(path: Path, names: dict[str, str]) -> str:
    """A canonical, run-independent dump of an SR file (pydicom, not Endplate)."""
    import pydicom

    ds = pydicom.dcmread(path)
    meta = [f"{e.keyword} {e.value}" for e in ds.file_meta if e.keyword not in _META_VOLATILE]
    body = _dataset_lines(ds)
    return _replace_uids("\n".join(["# file meta", *meta, "# dataset", *body]) + "\n", names)


@contextlib.contextmanager
def _captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        yield out


def _cli(argv: list[str]) -> str:
    from main import main

    with _captured() as out:
        status = main(argv)
    if status != 0:
        raise AssertionError(f"endplate {' '.join(argv)} exited {status}: {out.getvalue()}")
    return out.getvalue()


def demo_outputs(work: Path) -> dict[str, str]:
    """Build the demo case under ``work`` and return every pinned output as canonical text."""
    from app.demo_case import ensure_demo_case

    case_path = ensure_demo_case(work / "demo")
    images = case_path.parent / "images"
    names = uid_names(images)
    outputs: dict[str, str] = {}
    outputs["measure.json"] = _replace_uids(_cli(["measure", str(case_path), "--json"]), names)
    for fmt, name in (("csv", "export.csv"), ("json", "export.json"), ("fhir", "export.fhir.json")):
        target = work / name
        _cli(["export", str(case_path), "--format", fmt, "--out", str(target), "--force"])
        text = target.read_text(encoding="utf-8")
        outputs[name] = _replace_uuids(_replace_uids(text, names))
    sr_dir = work / "sr"
    _cli(["export", str(case_path), "--format", "sr", "--out", str(sr_dir), "--force"])
    for tp in ("pre-op", "post-op"):
        outputs[f"sr_{tp}.txt"] = sr_text(sr_dir / f"ENDPLATE-DEMO_{tp}.dcm", names)
    return outputs


def write_pinned(work: Path) -> None:
    PINNED_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in demo_outputs(work).items():
        (PINNED_DIR / name).write_text(text, encoding="utf-8", newline="")


if __name__ == "__main__":
    import tempfile

    if "--write" not in sys.argv:
        sys.exit("usage: python -m tests.pinned --write  (regenerates tests/data/pinned)")
    with tempfile.TemporaryDirectory() as tmp:
        write_pinned(Path(tmp))
    print(f"wrote {', '.join(OUTPUT_NAMES)} to {PINNED_DIR}")
