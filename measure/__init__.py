"""The domain: case model, landmarks, measurements, edema analysis, case file, exports.

Plain Python and numpy; never imports Qt (enforced by ``tests/test_layering.py``).
"""
