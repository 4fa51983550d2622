"""``endplate demo-data OUT``: a synthetic T11-L3 case with exact ground truth.

The demo set lets a new user (and the tests) try the whole workflow without patient
data: a pre-op sagittal CT with an L1 wedge fracture, a pre-op MR study (sagittal T1 and
STIR sharing one frame of reference, STIR with another pixel spacing), a post-op
sagittal CT with L1 partly restored and cemented, and an axial CT of the same anatomy.
Every image is rendered from :mod:`dicomio.synthetic.phantom`, so ``OUT/ground_truth.json`` can
say exactly where each landmark is, on which image (SOPInstanceUID) it lies, and what
the heights, angles and edema fractions must be.  Its keys are documented in
docs/cli.md ("endplate demo-data").
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from dicomio.geometry import StackGeometry
from dicomio.synthetic.phantom import SpinePhantom, default_phantom
from dicomio.synthetic.phantom_anatomy import TIMEPOINTS, Contrast, Timepoint
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series

GROUND_TRUTH_NAME = "ground_truth.json"
GROUND_TRUTH_FORMAT = "endplate-demo-ground-truth"
GROUND_TRUTH_VERSION = 1
#: A landmark "lies on" an image when its distance to the image plane is below this.
ON_PLANE_TOLERANCE_MM = 1e-3

PATIENT = {"patient_name": "DEMO^SPINE", "patient_id": "ENDPLATE-DEMO", "patient_birth_date": "19470612"}
STUDY_DATES = {"pre_ct": "20260302", "pre_mr": "20260303", "post_ct": "20260310"}

_T1_HEADER: dict[str, object] = {
    "ScanningSequence": "SE",
    "SequenceVariant": ["SK", "SP", "OSP"],
    "ScanOptions": "PFP",
    "MRAcquisitionType": "2D",
    "SequenceName": "*tse2d1_3",
    "EchoTime": 11.0,
    "RepetitionTime": 550.0,
    "EchoTrainLength": 3,
    "FlipAngle": 150.0,
    "MagneticFieldStrength": 1.5,
    "ImagingFrequency": 63.68,
    "ProtocolName": "t1_tse_sag",
}
_STIR_HEADER: dict[str, object] = {
    "ScanningSequence": ["SE", "IR"],
    "SequenceVariant": ["SK", "SP", "MP"],
    "ScanOptions": "IR",
    "MRAcquisitionType": "2D",
    "SequenceName": "*tir2d1_13",
    "InversionTime": 150.0,
    "EchoTime": 45.0,
    "RepetitionTime": 4000.0,
    "EchoTrainLength": 13,
    "FlipAngle": 150.0,
    "MagneticFieldStrength": 1.5,
    "ImagingFrequency": 63.68,
    "ProtocolName": "tirm_sag",
}


@dataclass(frozen=True)
class _Plan:
    """What to write for one series (before it is written)."""

    key: str
    timepoint: Timepoint
    contrast: Contrast
    study: str  # key into STUDY_DATES
    description: str
    series_number: int
    geometry: StackGeometry
    noise_sd: float
    slice_thickness_mm: float
    mr: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoSeries:
    """One written series of the demo set."""

    key: str  # also the sub-folder name: pre_ct, pre_t1, pre_stir, post_ct, axial_ct
    folder: Path
    timepoint: Timepoint
    contrast: Contrast
    modality: str
    description: str
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    study_date: str
    geometry: StackGeometry
    files: tuple[Path, ...]  # in slice order
    sop_instance_uids: tuple[str, ...]  # in slice order


@dataclass(frozen=True)
class DemoManifest:
    """Everything :func:`build_demo_set` wrote."""

    out: Path
    series: tuple[DemoSeries, ...]
    ground_truth_path: Path

    def by_key(self, key: str) -> DemoSeries:
        for s in self.series:
            if s.key == key:
                return s
        raise KeyError(f"the demo set has no series {key!r}; it has {[s.key for s in self.series]}")


def _sagittal(
    phantom: SpinePhantom,
    n_slices: int,
    matrix: int,
    pixel_mm: float,
    slice_mm: float,
) -> StackGeometry:
    """A sagittal stack whose middle slice is the phantom's mid-sagittal plane.

    Anterior on the left, superior up (the standard IOP); the column of bodies sits a
    little posterior of the middle so the canal, spinous processes and the back's skin
    are in view.
    """
    if n_slices % 2 != 1:
        raise ValueError(f"a demo sagittal stack needs an odd number of slices, got {n_slices}")
    (_, y_post), (z_lo, z_hi) = phantom.extent_yz_mm()
    fov_mm = matrix * pixel_mm
    y0 = round(y_post + 72.0 - fov_mm, 3)
    z0 = round((z_lo + z_hi) / 2 + fov_mm / 2, 3)
    x0 = phantom.midline_x_mm + (n_slices - 1) // 2 * slice_mm  # slice k at x0 - k * slice_mm
    return sagittal_geometry(n_slices, matrix, matrix, (pixel_mm, pixel_mm), slice_mm, (x0, y0, z0))


def _axial(phantom: SpinePhantom, matrix: int, pixel_mm: float, slice_mm: float) -> StackGeometry:
    """An axial stack covering every level, centred on the vertebral bodies."""
    (y_ant, y_post), (z_lo, z_hi) = phantom.extent_yz_mm()
    z_first = z_lo - 10.0
    n = int(np.ceil((z_hi + 10.0 - z_first) / slice_mm)) + 1
    fov_mm = matrix * pixel_mm
    x0 = round(phantom.midline_x_mm - fov_mm / 2 + pixel_mm / 2, 3)
    y0 = round((y_ant + y_post) / 2 + 20.0 - fov_mm / 2, 3)
    return axial_geometry(n, matrix, matrix, (pixel_mm, pixel_mm), slice_mm, (x0, y0, round(z_first, 3)))


def _plans(phantom: SpinePhantom, small: bool) -> list[_Plan]:
    if small:
        ct = _sagittal(phantom, 7, 128, 1.5, 3.0)
        t1 = _sagittal(phantom, 5, 128, 1.5, 4.0)
        stir = _sagittal(phantom, 5, 112, 1.75, 4.0)
        ax = _axial(phantom, 96, 1.6, 4.0)
    else:
        ct = _sagittal(phantom, 25, 256, 0.78, 2.0)
        t1 = _sagittal(phantom, 15, 256, 0.75, 3.3)
        stir = _sagittal(phantom, 15, 208, 0.9375, 3.3)
        ax = _axial(phantom, 256, 0.8, 1.25)
    return [
        _Plan("pre_ct", "pre", "CT", "pre_ct", "SAG BONE 2.0", 3, ct, 12.0, ct.slice_spacing_mm or 1.0),
        _Plan("axial_ct", "pre", "CT", "pre_ct", "AX BONE 1.25", 2, ax, 12.0, ax.slice_spacing_mm or 1.0),
        _Plan("pre_t1", "pre", "T1", "pre_mr", "SAG T1 TSE", 5, t1, 12.0, 3.0, _T1_HEADER),
        _Plan("pre_stir", "pre", "STIR", "pre_mr", "SAG STIR", 6, stir, 15.0, 3.0, _STIR_HEADER),
        _Plan(
            "post_ct", "post", "CT", "post_ct", "SAG BONE 2.0 POST", 3, ct, 12.0, ct.slice_spacing_mm or 1.0
        ),
    ]


def _write_one(
    out: Path,
    plan: _Plan,
    phantom: SpinePhantom,
    uids: dict[str, str],
    seed: int,
) -> DemoSeries:
    volume = phantom.render(plan.geometry, plan.contrast, plan.timepoint, noise_sd=plan.noise_sd, seed=seed)
    modality = "CT" if plan.contrast == "CT" else "MR"
    study_key = plan.study
    for_key = "pre_ct" if plan.key == "axial_ct" else study_key  # the axial CT is the same acquisition
    spec = SeriesSpec(
        modality=modality,
        description=plan.description,
        series_uid=str(generate_uid()),
        study_uid=uids[f"study:{study_key}"],
        frame_of_reference_uid=uids[f"for:{for_key}"],
        series_number=plan.series_number,
        study_date=STUDY_DATES[study_key],
        study_description="CT SPINE THORACOLUMBAR" if modality == "CT" else "MR SPINE THORACOLUMBAR",
        rescale_slope=1.0,
        rescale_intercept=-1024.0 if modality == "CT" else 0.0,
        window_center=400.0 if modality == "CT" else 450.0,
        window_width=1800.0 if modality == "CT" else 900.0,
        mr=dict(plan.mr),
        extra={"SliceThickness": plan.slice_thickness_mm, "InstitutionName": "Endplate demo"},
        **PATIENT,
    )
    folder = out / plan.key
    files = write_series(folder, volume, plan.geometry, spec, seed=seed)
    sop_uids = tuple(
        str(pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
        for p in files
    )
    assert spec.series_uid is not None and spec.study_uid is not None
    assert spec.frame_of_reference_uid is not None
    return DemoSeries(
        key=plan.key,
        folder=folder,
        timepoint=plan.timepoint,
        contrast=plan.contrast,
        modality=modality,
        description=plan.description,
        study_uid=spec.study_uid,
        series_uid=spec.series_uid,
        frame_of_reference_uid=spec.frame_of_reference_uid,
        study_date=spec.study_date,
        geometry=plan.geometry,
        files=tuple(files),
        sop_instance_uids=sop_uids,
    )


def _landmarks_on(series: DemoSeries, phantom: SpinePhantom) -> dict[str, dict[str, dict[str, object]]]:
    """Each landmark of the series' timepoint with the image it lies on (or the nearest)."""
    g = series.geometry
    offsets = g.slice_offsets_mm
    out: dict[str, dict[str, dict[str, object]]] = {}
    for level, landmarks in phantom.truth(series.timepoint).items():
        out[level] = {}
        for key, point in landmarks.items():
            k = g.nearest_slice(point)
            distance = float(np.dot(point, g.normal) - offsets[k])
            column, row, _ = g.slices[k].lps_to_pixel(point)
            on_plane = abs(distance) <= ON_PLANE_TOLERANCE_MM
            out[level][key] = {
                "position_mm": [float(c) for c in point],
                "sop_instance_uid": series.sop_instance_uids[k] if on_plane else None,
                "nearest_sop_instance_uid": series.sop_instance_uids[k],
                "slice_index": k,
                "distance_to_slice_mm": distance,
                "pixel": [float(column), float(row)],
            }
    return out


def _ground_truth(phantom: SpinePhantom, series: list[DemoSeries]) -> dict[str, object]:
    timepoints = {}
    for tp in TIMEPOINTS:
        timepoints[tp] = {"levels": {lv: t.as_dict() for lv, t in phantom.level_truth(tp).items()}}
    per_series = {}
    for s in series:
        g = s.geometry
        per_series[s.series_uid] = {
            "key": s.key,
            "folder": s.folder.name,
            "timepoint": s.timepoint,
            "modality": s.modality,
            "contrast": s.contrast,
            "series_description": s.description,
            "study_instance_uid": s.study_uid,
            "frame_of_reference_uid": s.frame_of_reference_uid,
            "study_date": s.study_date,
            "plane": g.first.plane,
            "n_images": len(s.files),
            "rows": g.first.rows,
            "columns": g.first.columns,
            "pixel_spacing_mm": list(g.first.pixel_spacing_mm),
            "slice_spacing_mm": g.slice_spacing_mm,
            "image_orientation_patient": list(g.first.orientation),
            "sop_instance_uids": list(s.sop_instance_uids),
            "landmarks": _landmarks_on(s, phantom),
        }
    return {
        "format": GROUND_TRUTH_FORMAT,
        "version": GROUND_TRUTH_VERSION,
        "coordinate_system": "LPS",
        "units": {"position": "mm", "height": "mm", "angle": "deg", "volume": "mm3", "fraction": "1"},
        "patient": {"name": PATIENT["patient_name"], "id": PATIENT["patient_id"]},
        "levels": list(phantom.levels),
        "fractured_level": phantom.fractured_level,
        "midline_x_mm": phantom.midline_x_mm,
        "timepoints": timepoints,
        "series": per_series,
    }


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is a file; demo-data needs an empty or absent folder")
    if out.is_dir() and any(out.iterdir()):
        raise FileExistsError(
            f"{out} is not empty; demo-data writes only into an empty or absent folder, "
            "choose another folder or empty this one"
        )


def build_demo_set(out: Path, *, small: bool = False, phantom: SpinePhantom | None = None) -> DemoManifest:
    """Write the five demo series under ``out`` and ``out/ground_truth.json``.

    ``small`` writes fewer, coarser images (for tests).  Raises ``FileExistsError`` when
    ``out`` exists and is not an empty folder.
    """
    out = Path(out)
    _check_out(out)
    phantom = phantom or default_phantom()
    out.mkdir(parents=True, exist_ok=True)
    uids = {f"study:{k}": str(generate_uid()) for k in STUDY_DATES} | {
        f"for:{k}": generate_uid() for k in STUDY_DATES
    }
    written = [_write_one(out, plan, phantom, uids, seed) for seed, plan in enumerate(_plans(phantom, small))]
    truth_path = out / GROUND_TRUTH_NAME
    text = json.dumps(_ground_truth(phantom, written), indent=1)
    tmp = truth_path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(truth_path)
    return DemoManifest(out=out, series=tuple(written), ground_truth_path=truth_path)


def run_demo_data(out: Path) -> int:
    """CLI verb: write the demo set; exit 2 when ``out`` is not empty, 1 on a write error."""
    start = time.perf_counter()
    try:
        manifest = build_demo_set(out)
    except FileExistsError as exc:
        print(f"endplate demo-data: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"endplate demo-data: could not write the demo set into {out}: {exc}", file=sys.stderr)
        return 1
    for s in manifest.series:
        print(f"{s.key:9s} {s.modality} {s.description!r}: {len(s.files)} images in {s.folder}")
    print(f"ground truth: {manifest.ground_truth_path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
