"""The workstation's state and the work that needs both DICOM and the domain, without Qt.

``app -> session -> measure -> dicomio``: the Qt app observes a :class:`Session`; the
command-line verbs (``endplate measure``, ``endplate export``) run the same code.

* :mod:`session.library`: open series keyed by UID, their display stacks, one volume
  cache with a memory budget;
* :mod:`session.case_images`: a case's own series, each path scanned once; the source
  images for the SR, the key images for the PDF, the STIR analysis;
* :mod:`session.assignment`: which timepoint a series joins, and its series reference;
* :mod:`session.model`: the :class:`Session` (case, library, current series/level,
  results), evented;
* :mod:`session.measure_run`, :mod:`session.export_run`: the ``measure`` and ``export`` verbs.
"""
