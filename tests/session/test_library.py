"""The open series: stacks by UID, display stacks, one volume cache (session.library)."""

from __future__ import annotations

import numpy as np
import pytest

from dicomio.pixels import load_volume
from dicomio.reformat import sagittal_reformat
from dicomio.scan import scan_paths
from dicomio.synthetic.demo import DemoManifest
from session.library import SeriesLibrary


def test_stacks_displays_and_one_cache(demo_set: DemoManifest) -> None:
    library = SeriesLibrary()
    found = library.add_scan(scan_paths([demo_set.out]))
    assert {s.series_uid for s in found} == {s.series_uid for s in demo_set.series}
    pre_ct = demo_set.by_key("pre_ct")
    stack = library.stack(pre_ct.series_uid)
    assert stack is not None and library.stack(stack.key) is stack
    assert library.stack("1.2.3.4") is None

    display = library.display(pre_ct.series_uid)
    assert library.display(pre_ct.series_uid) is display  # made once
    assert not display.is_reformat and library.loaded_display(pre_ct.series_uid) is None
    volume = display.volume()
    assert library.loaded_display(pre_ct.series_uid) is display
    np.testing.assert_array_equal(volume, load_volume(stack))  # same voxels as a plain load
    assert library.cache.nbytes == volume.nbytes
    assert library.volume(stack) is volume  # the analyses read the viewer's copy

    axial = demo_set.by_key("axial_ct")
    reformat = library.display(axial.series_uid)
    assert reformat.is_reformat
    axial_stack = library.stack(axial.series_uid)
    assert axial_stack is not None
    _, expected = sagittal_reformat(axial_stack.geometry, load_volume(axial_stack), order=1)
    np.testing.assert_allclose(reformat.volume(), expected)

    library.clear()
    assert not library.stacks and library.cache.nbytes == 0
    with pytest.raises(ValueError, match="is not among the scanned series"):
        library.display(pre_ct.series_uid)


def test_skipped_files_are_kept_once(demo_set: DemoManifest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.txt").write_text("not DICOM")
    library = SeriesLibrary()
    library.add_scan(scan_paths([tmp_path]))
    library.add_scan(scan_paths([tmp_path]))
    assert [s.path.name for s in library.skipped] == ["notes.txt"]
    assert library.skipped[0].reason.startswith("not DICOM")
