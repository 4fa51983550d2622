"""The demo case: the synthetic demo set plus a case file with its landmarks placed.

``endplate --demo`` opens it.  It is generated on first use into
``user_data_dir()/demo/`` with :func:`dicomio.synthetic.demo.build_demo_set`; the landmarks come
from the set's ``ground_truth.json`` (exact phantom positions, with the SOP Instance UID
of the image each lies on), so the numbers shown are the phantom's true values.

The pre-op landmarks sit on the sagittal **T1 MR**: MRI is the pre-op exam that decides
whether the fracture is recent, and the T1 shares its frame of reference with the STIR,
so the STIR edema analysis can map the body outlines onto it (a CT is another frame of
reference and would be refused).  The pre-op CT stays assigned to pre-op for viewing.
The measured series is assigned first in each timepoint, so the app (and the compare
view) open on the series that carries the landmarks.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from measure.case import Case, Patient, SeriesRef, Timepoint
from measure.landmarks import Landmark
from measure.userlog import user_data_dir

log = logging.getLogger("endplate.app")

DEMO_CASE_NAME = "demo-case.json"
#: Which demo series go to which timepoint, in assignment order: the measured series first
#: (the window opens on the first series of the first timepoint).
DEMO_TIMEPOINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pre": ("pre-op", "pre-op", ("pre_t1", "pre_stir", "pre_ct")),
    "post": ("post-op", "post-op", ("post_ct",)),
}
#: Series whose landmarks are put in the case (one measured series per timepoint): the T1
#: before surgery (same frame of reference as the STIR), the CT after it.
MEASURED_SERIES = ("pre_t1", "post_ct")
#: Written into the case's extras; a demo case of an older recipe (pre-op landmarks on the
#: CT, so no STIR analysis) is rebuilt from the same images.
DEMO_RECIPE_KEY = "endplate_demo_recipe"
DEMO_RECIPE_VERSION = 2
#: ``ground_truth.json`` contrast -> ``SeriesRef.sequence`` (MR series only).
_SEQUENCE_OF_CONTRAST = {"T1": "T1", "STIR": "STIR", "T2": "T2"}


def _iso(dicom_date: str) -> str:
    return f"{dicom_date[:4]}-{dicom_date[4:6]}-{dicom_date[6:8]}"


def demo_case_from_truth(images: Path, truth: dict[str, Any]) -> Case:
    """Build the demo case from ``ground_truth.json`` (series under ``images``)."""
    patient = truth.get("patient", {})
    case = Case(case_id="ENDPLATE-DEMO", patient=Patient(name=patient.get("name"), id=patient.get("id")))
    fractured = truth.get("fractured_level")
    by_key = {info["key"]: (uid, info) for uid, info in truth["series"].items()}
    with case.batch():
        case.set_extra(DEMO_RECIPE_KEY, DEMO_RECIPE_VERSION)
        for phantom_tp, (tp_id, kind, keys) in DEMO_TIMEPOINTS.items():
            present = [k for k in keys if k in by_key]
            if not present:
                continue
            date = _iso(min(by_key[k][1]["study_date"] for k in present))
            case.add_timepoint(Timepoint(tp_id, kind, date, label=kind))
            for key in present:
                uid, info = by_key[key]
                case.assign_series(
                    SeriesRef(
                        series_uid=uid,
                        timepoint=tp_id,
                        path=str((images / info["folder"]).absolute()),
                        description=info.get("series_description", ""),
                        modality=info.get("modality", ""),
                        sequence=_SEQUENCE_OF_CONTRAST.get(info.get("contrast", ""))
                        if info.get("modality") == "MR"
                        else None,
                        orientation=tuple(info["image_orientation_patient"]),  # type: ignore[arg-type]
                        pixel_spacing_mm=tuple(info["pixel_spacing_mm"]),  # type: ignore[arg-type]
                    )
                )
            measured = next((k for k in present if k in MEASURED_SERIES), None)
            if measured is None:
                continue
            uid, info = by_key[measured]
            for level, points in info["landmarks"].items():
                if level == fractured:
                    status = "fractured" if phantom_tp == "pre" else "treated"
                else:
                    status = "reference"
                landmarks = {
                    key: Landmark(
                        tuple(p["position_mm"]),
                        uid,
                        p.get("sop_instance_uid") or p.get("nearest_sop_instance_uid"),
                    )
                    for key, p in points.items()
                }
                case.add_vertebra(tp_id, level, status, landmarks)
    return case


def ensure_demo_case(folder: Path | None = None, *, small: bool = False) -> Path:
    """The demo case file, generating the images and the case on first use."""
    from dicomio.synthetic.demo import GROUND_TRUTH_NAME, build_demo_set
    from measure.casefile import CaseFileError, load_case, save_case

    folder = Path(folder) if folder is not None else user_data_dir() / "demo"
    case_path = folder / DEMO_CASE_NAME
    images = folder / "images"
    if case_path.is_file():
        try:
            existing = load_case(case_path)
        except CaseFileError:
            log.warning("demo case %s is damaged; rebuilding it", case_path)
        else:
            if existing.extras.get(DEMO_RECIPE_KEY) == DEMO_RECIPE_VERSION:
                return case_path
            log.info("demo case %s was made by an older recipe; rebuilding it", case_path)
    if images.exists() and not (images / GROUND_TRUTH_NAME).is_file():
        shutil.rmtree(images)  # an interrupted earlier build
    if not images.exists():
        build_demo_set(images, small=small)
    truth = json.loads((images / GROUND_TRUTH_NAME).read_text(encoding="utf-8"))
    case = demo_case_from_truth(images, truth)
    folder.mkdir(parents=True, exist_ok=True)
    save_case(case, case_path)
    return case_path
