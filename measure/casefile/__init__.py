"""The case file: JSON, validated against a schema, versioned, written atomically.

Format (docs/case-format.md): ``{"format": "endplate-case", "version": N,
"coordinate_system": "LPS", "units": "mm", "timepoints": [...], "series": [...],
"vertebrae": [...], ...}``.  Version 1 is the minimal form other tools write; Endplate
writes version :data:`CURRENT_VERSION` and migrates older files on load.

Why so careful: a case holds an hour of a radiologist's work.  A crash or power cut leaves
either the old file or the new one, never half of one, and the previous version is kept
as ``NAME.bak``.  A bad file is refused with one sentence naming the file, the field and
what was expected.

* :mod:`measure.casefile.errors`: :class:`CaseFileError`;
* :mod:`measure.casefile.schema`: the JSON Schema and its errors as sentences;
* :mod:`measure.casefile.migration`: older versions up to the current one;
* :mod:`measure.casefile.codec`: ``Case`` <-> dict;
* :mod:`measure.casefile.files`: load, and save (atomic, backup, never into a DICOM folder).
"""

from __future__ import annotations

from measure.casefile.codec import case_from_dict, case_to_dict
from measure.casefile.errors import CaseConflictError, CaseFileError
from measure.casefile.files import backup_path, load_case, save_case
from measure.casefile.migration import CURRENT_VERSION, FORMAT_NAME, MIGRATIONS, migrate
from measure.casefile.schema import MAX_REPORTED_ERRORS, case_schema, field_path, validate_case_dict

__all__ = [
    "CURRENT_VERSION",
    "FORMAT_NAME",
    "MAX_REPORTED_ERRORS",
    "MIGRATIONS",
    "CaseConflictError",
    "CaseFileError",
    "backup_path",
    "case_from_dict",
    "case_schema",
    "case_to_dict",
    "field_path",
    "load_case",
    "migrate",
    "save_case",
    "validate_case_dict",
]
