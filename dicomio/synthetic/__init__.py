"""Synthetic data with exact ground truth, for tests, the demo set and benchmarks.

Not DICOM I/O of real data: these generators *write* series whose answer is known.

``synth``          DICOM series of any exact geometry, awkward on purpose (shuffled names,
                   reversed instance numbers, multi-frame, MONOCHROME1, compressed, tilt)
``phantom``        the analytic spine phantom (T11-L3, L1 fractured): anatomy and truth
``demo``           ``endplate demo-data OUT``: the demo case rendered from the phantom
"""
