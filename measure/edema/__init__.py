"""STIR marrow edema per vertebral body: is the fracture recent?

Vertebral augmentation is indicated for a recent fracture, and MRI decides that: marrow
edema is bright on STIR and dark on T1 (clinical reference, "Fracture recency on MRI").

* :mod:`measure.edema.constants`: statuses, the outline order, the sentences the UI shows;
* :mod:`measure.edema.roi`: the body outline through patient space onto each STIR slice;
* :mod:`measure.edema.analysis`: the numbers (SIR, bright fraction, extent grade, flag,
  T1 ratio) of every body of one STIR volume;
* :mod:`measure.edema.case_edema`: a case's timepoint: which STIR and T1, the reader's
  decision, given stacks and a volume loader (never a file);
* :mod:`measure.edema.text`: the lines ``endplate measure`` prints.

Results are :class:`measure.results.StirResult`; thresholds in :mod:`measure.edema_config`.
"""

from __future__ import annotations

from measure.edema.analysis import BodyInput, analyse_edema, bright_mask_for_slice
from measure.edema.case_edema import (
    CaseView,
    VolumeLoader,
    analyse_case_timepoint,
    case_stir_results,
    no_stir_results,
)
from measure.edema.constants import (
    NO_CUTOFF_NOTE,
    NO_STIR_MESSAGE,
    OUTLINE_ORDER,
    REFERENCE_STATUS,
    STATUS_FRAME,
    STATUS_NO_REFERENCE,
    STATUS_NO_STIR,
    STATUS_NOT_MEASURED,
    STATUS_OK,
    STATUS_OUTSIDE,
    STATUS_PLANE,
    STATUS_TOO_SMALL,
    STATUS_UNREADABLE,
    STATUSES,
    default_choice_note,
)
from measure.edema.text import stir_text
from measure.results import EdemaReport, SliceMask, StirResult

__all__ = [
    "NO_CUTOFF_NOTE",
    "NO_STIR_MESSAGE",
    "OUTLINE_ORDER",
    "REFERENCE_STATUS",
    "STATUSES",
    "STATUS_FRAME",
    "STATUS_NOT_MEASURED",
    "STATUS_NO_REFERENCE",
    "STATUS_NO_STIR",
    "STATUS_OK",
    "STATUS_OUTSIDE",
    "STATUS_PLANE",
    "STATUS_TOO_SMALL",
    "STATUS_UNREADABLE",
    "BodyInput",
    "CaseView",
    "EdemaReport",
    "SliceMask",
    "StirResult",
    "VolumeLoader",
    "analyse_case_timepoint",
    "analyse_edema",
    "bright_mask_for_slice",
    "case_stir_results",
    "default_choice_note",
    "no_stir_results",
    "stir_text",
]
