"""Synthetic data with exact ground truth, for tests, the demo set and benchmarks.

These are generators, not DICOM I/O of real data: they *write* series whose answer is
known, so that what the scan, the loader and the measurements read back can be checked.

``synth``            DICOM series of any exact geometry, awkward on purpose (shuffled names,
                     reversed instance numbers, multi-frame, MONOCHROME1, compressed, tilt)
``phantom``          the analytic spine phantom (T11-L3, L1 fractured): placement and truth
``phantom_anatomy``  its tissues, intensities, dimensions and closed-form shapes
``phantom_render``   its tissue at any LPS point, voxel labels and rendered images
``demo``             ``endplate demo-data OUT``: the demo case rendered from the phantom
"""
