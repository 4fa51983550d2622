"""read_header: one file's header, read the way the folder scan reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from dicomio.headers import read_header
from dicomio.scan import scan_file
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series

SERIES_UID = "1.2.826.0.1.3680043.10.999.41"


def test_the_header_of_a_written_image_without_its_pixels(tmp_path: Path) -> None:
    geometry = sagittal_geometry(2, 6, 4, pixel_spacing_mm=(0.7, 0.5))
    spec = SeriesSpec(modality="MR", description="SAG T1", series_uid=SERIES_UID, patient_id="P-41")
    paths = write_series(tmp_path, np.zeros(geometry.shape), geometry, spec)

    ds = read_header(paths[0])
    assert str(ds.SeriesInstanceUID) == SERIES_UID
    assert (ds.Modality, ds.SeriesDescription, ds.PatientID) == ("MR", "SAG T1", "P-41")
    assert (int(ds.Rows), int(ds.Columns)) == (6, 4)
    assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.5]
    assert "PixelData" not in ds  # header only


def test_a_file_without_preamble_is_read_as_the_scan_reads_it() -> None:
    """pydicom's ExplVR_LitEndNoMeta.dcm starts straight with (0008,0005): no 'DICM' marker."""
    path = Path(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))
    ds = read_header(path)
    assert (str(ds.SOPInstanceUID), ds.Modality) == ("1.2.333.4444.5.6.7.8", "RTPLAN")
    # The scan reads the same header (and then skips the file: an RT plan is no image).
    skipped = scan_file(path).skipped
    assert skipped is not None and skipped.reason.startswith("unsupported SOP class")


def test_a_text_file_is_refused_in_a_sentence_naming_it(tmp_path: Path) -> None:
    notes = tmp_path / "notes.dcm"
    notes.write_text("not DICOM at all, just a note that ends in .dcm", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        read_header(notes)
    assert str(caught.value) == (
        f"Cannot read the DICOM header of {notes}: not DICOM: the file does not start with a "
        "DICOM header (no 'DICM' marker)."
    )


def test_a_missing_file_is_refused_in_a_sentence_naming_it(tmp_path: Path) -> None:
    absent = tmp_path / "moved" / "IM0001.dcm"
    with pytest.raises(ValueError) as caught:
        read_header(absent)
    assert str(caught.value) == (
        f"Cannot read the DICOM header of {absent}: unreadable: No such file or directory."
    )
