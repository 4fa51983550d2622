"""Registry exports: CSV, JSON, DICOM SR, FHIR and PDF, built from typed results.

Every format reads the same flat records (:mod:`measure.export.records`), pseudonymised
before any format sees them when a key is given.  The exporters are pure: they receive the
records, the source-image headers (:mod:`measure.export.sources`) and the key images
(:mod:`measure.export.key_images`) and return bytes or text.  Loading case files, finding
their images and writing the files atomically is the session's work
(``session.export_run.export_cases``, which ``endplate export`` and the app call).
"""
