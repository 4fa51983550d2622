"""DICOM in and out: folder scan, series assembly, geometry, pixels, reformat, SR writing.

Never imports Qt (enforced by ``tests/test_layering.py``).  Modules, from files to what
a viewer shows:

``scan``           the folder walk (the one place that looks for DICOM files), one file's
                   scan, files grouped into series; ``find_series_files`` for moved series
``headers``        a header -> frames with geometry, pixel format, series info; ``read_header``,
                   ``read_image_header`` (with generated UIDs filled in)
``grouping``       files without Study/Series/SOPInstanceUID: series key, generated stable UIDs
``dicom_bytes``    the hand-parsed pixel element: truncation checks, native frame offsets
``assemble``       one series' images -> ordered, checked stacks with spacing warnings
``model``          the plain types a scan produces (``SeriesStack``, ``FrameRef`` ...)
``geometry``       exact pixel <-> patient LPS mm geometry
``sequence``       which MR sequence a series is (STIR, T1, T2, T2 fat-sat)
``pixels``         a stack's frames decoded into one volume (``load_volume``)
``pixel_errors``   decoder check and the errors pixel loading raises
``volume_cache``   loaded volumes shared within a memory budget (``VolumeCache``)
``reformat``       sagittal reformat of an axial or coronal volume, with its geometry
``display_stack``  what a viewer shows: a series as acquired or its sagittal reformat
``windowing``      window presets and a window as grey values
``sr``             DICOM SR (TID 1500) out and back in
``info``           ``endplate info``
``synthetic``      test/demo generators with exact ground truth (not I/O of real data)
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys as _sys
from collections.abc import Sequence
from types import ModuleType


class _WithoutRequests(importlib.abc.Loader):
    """Runs pydicom's own loader with ``requests`` hidden (``import requests`` fails)."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        hide = "requests" not in _sys.modules
        if hide:
            _sys.modules["requests"] = None  # type: ignore[assignment]
        try:
            self._loader.exec_module(module)
        finally:
            if hide and _sys.modules.get("requests", 0) is None:
                del _sys.modules["requests"]


class _PydicomWithoutRequests(importlib.abc.MetaPathFinder):
    """Import pydicom, when it is first imported, without ``requests`` (0.1-0.4 s at
    start-up, issue 15): ``pydicom.data.download`` imports it only to download test files
    and falls back to ``urllib`` without it; Endplate downloads nothing.  ``requests`` itself
    still imports normally afterwards.  pydicom stays lazy: nothing is imported here."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "pydicom":
            return None
        _sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and "requests" not in _sys.modules:
            spec.loader = _WithoutRequests(spec.loader)
        return spec


if "pydicom" not in _sys.modules and not any(isinstance(f, _PydicomWithoutRequests) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _PydicomWithoutRequests())
