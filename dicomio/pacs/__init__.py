"""DICOM networking: PACS nodes, C-ECHO/C-FIND/C-GET/C-MOVE/C-STORE and QIDO/WADO/STOW-RS.

- :mod:`nodes`: what a node is (DIMSE or DICOMweb), ``dicom://`` and ``http(s)://`` forms,
  secrets kept out of every description (no network library imported).
- :mod:`errors`: :class:`PacsError`, one sentence for the user.
- :mod:`matches`: the typed answers of a query (studies with their series).
- :mod:`cache`: the local cache of retrieved series (one folder per series UID, atomic files).
- :mod:`dimse`: pynetdicom (echo, find, get, move to our own Storage SCP, store).
- :mod:`web`: dicomweb-client (QIDO-RS, WADO-RS, STOW-RS).
- :mod:`client`: one front for both kinds of node.
"""
