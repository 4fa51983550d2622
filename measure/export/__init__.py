"""Registry exports: CSV, JSON, DICOM SR, FHIR and PDF from case files.

``export_cases`` is the one entry point (the CLI verb ``endplate export`` and the app's
Export dialog call it).  Every format is built from the same flat records
(:mod:`measure.export.records`), pseudonymised before any format sees them when a key
is given; files are written atomically and never overwritten without ``force``.
"""

from __future__ import annotations

from measure.export.cli import EXPORT_FORMATS, ExportSummary, export_cases

__all__ = ["EXPORT_FORMATS", "ExportSummary", "export_cases"]
