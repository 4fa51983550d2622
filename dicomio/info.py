"""``endplate info PATH [--json]``: what a folder holds, as Endplate sees it.

Lets a user (or a script) check before opening the app which series were found, how
they are oriented, which MR sequence each is, and why any file was not used.  The JSON
schema is documented in docs/cli.md ("endplate info").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from dicomio.model import ScanResult, SeriesStack
from dicomio.printable import printable
from dicomio.scan import scan_paths


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits) + 0.0  # no "-0.0"


def series_summary(stack: SeriesStack) -> dict[str, Any]:
    """One series (stack) as a JSON-ready dict; see docs/cli.md for every key."""
    first = stack.geometry.first
    return {
        "key": stack.key,
        "series_uid": stack.series_uid,
        "stack_index": stack.stack_index,
        "study_uid": stack.study_uid,
        "frame_of_reference_uid": stack.frame_of_reference_uid,
        "modality": stack.modality,
        "description": stack.description,
        "series_number": stack.series_number,
        "plane": stack.plane,
        "sequence": stack.sequence,
        "sequence_reason": stack.sequence_reason or None,
        "n_images": stack.n_images,
        "rows": first.rows,
        "columns": first.columns,
        "pixel_spacing": [_round(first.pixel_spacing_mm[0]), _round(first.pixel_spacing_mm[1])],
        "slice_spacing": _round(stack.geometry.slice_spacing_mm),
        "orientation": [_round(v) for v in first.orientation],
        "anterior": stack.anterior,
        "superior": stack.superior,
        "gantry_tilt_deg": _round(stack.geometry.gantry_tilt_deg(), 3),
        "transfer_syntax_uid": stack.pixel_format.transfer_syntax_uid,
        "photometric": stack.pixel_format.photometric,
        "rescale_slope": stack.pixel_format.rescale_slope,
        "rescale_intercept": stack.pixel_format.rescale_intercept,
        "windows": [{"name": w.name, "center": w.center, "width": w.width} for w in stack.windows],
        "files": len({f.path for f in stack.frames}),
        "generated_series_uid": stack.generated_series_uid,
        "generated_study_uid": stack.generated_study_uid,
        "generated_sop_uids": stack.generated_sop_uids,
        "warnings": list(stack.warnings),
    }


def scan_summary(result: ScanResult) -> dict[str, Any]:
    """The whole scan as the one JSON object ``endplate info --json`` prints."""
    return {
        "series": [series_summary(s) for s in result.stacks],
        "skipped": [s.as_dict() for s in result.skipped],
        "studies": [
            {
                "study_uid": st.study_uid,
                "date": st.date,
                "description": st.description,
                "patient_id": st.patient_id,
                "series": [s.key for s in st.stacks],
            }
            for st in result.studies
        ],
    }


def _text_table(result: ScanResult, out: TextIO) -> None:
    if not result.stacks:
        print("No usable image series found.", file=out)
    for study in result.studies:
        print(
            f"Study {study.date or '(no date)'} {printable(study.description or '(no description)')}  "
            f"patient {printable(study.patient_id or '?')}  [{printable(study.study_uid)}"
            f"{' generated' if any(s.generated_study_uid for s in study.stacks) else ''}]",
            file=out,
        )
        header = f"  {'#':>4}  {'mod':3}  {'description':28}  {'plane':8}  {'seq':5}  {'images':>6}  "
        header += f"{'size':>9}  {'pixel mm':>13}  {'slice mm':>8}  anterior/superior"
        print(header, file=out)
        for s in study.stacks:
            first = s.geometry.first
            spacing = s.geometry.slice_spacing_mm
            number = "" if s.series_number is None else str(s.series_number)
            if s.stack_index:
                number += f".{s.stack_index}"
            print(
                f"  {number:>4}  {printable(s.modality):3}  {printable(s.description)[:28]:28}  {s.plane:8}  "
                f"{(s.sequence or '-'):5}  {s.n_images:>6}  {f'{first.rows}x{first.columns}':>9}  "
                f"{first.pixel_spacing_mm[0]:>6.3f}x{first.pixel_spacing_mm[1]:<6.3f}  "
                f"{'-' if spacing is None else f'{spacing:.2f}':>8}  "
                f"{s.anterior or '-'}/{s.superior or '-'}",
                file=out,
            )
            if s.generated_series_uid:
                print(f"        series UID (generated): {s.series_uid}", file=out)
            if s.sequence_reason:
                print(f"        sequence: {printable(s.sequence_reason)}", file=out)
            for w in s.warnings:
                print(f"        warning: {printable(w)}", file=out)
    if result.skipped:
        print(f"\nSkipped {len(result.skipped)} file(s):", file=out)
        for k in result.skipped:
            print(f"  {printable(k.path)}: {printable(k.reason)}", file=out)


def run_info(paths: Sequence[Path], as_json: bool) -> int:
    """Scan ``paths`` and print the series found; non-zero only when nothing was readable."""
    result = scan_paths(list(paths))
    if as_json:
        json.dump(scan_summary(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _text_table(result, sys.stdout)
    if not result.stacks:
        if not as_json:
            print(
                "endplate info: no readable DICOM image was found under the given path(s).", file=sys.stderr
            )
        return 1
    return 0
