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
