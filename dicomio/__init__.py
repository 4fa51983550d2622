"""DICOM in and out: folder scan, series assembly, geometry, reformat, SR writing.

Never imports Qt (enforced by ``tests/test_layering.py``).
"""
