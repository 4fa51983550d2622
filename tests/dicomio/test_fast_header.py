"""The byte-level header reader against pydicom's ``dcmread`` (the independent reference).

Every value the fast reader gives equals pydicom's (value and type), on the real CT, the
synthetic generators and hand-made variants; the pixel data offset equals the one pydicom
records; files of any other shape are declined, and the folder scan of every file (good
or hostile) is the same whichever reader read it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomio.fast_header import Decline, FastHeader, read_fast_header
from dicomio.scan import build_result, scan_file, scan_paths
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
if not REAL.is_dir():
    REAL = Path("/work/shared/realdata")
REAL_CT = REAL / "lidc-idri-0314-ct"
REAL_MR = REAL / "spine-ls.dcm"


def _fast(path: Path) -> FastHeader:
    with path.open("rb") as fp:
        return read_fast_header(fp, path.stat().st_size)


def _declined(path: Path) -> bool:
    try:
        _fast(path)
    except Decline:
        return True
    return False


def _assert_same_values(path: Path) -> int:
    """Every non-sequence, non-private element of the header and the file meta: equal value
    and type to ``dcmread``'s; the PixelData offset and length are pydicom's.  Returns how
    many values were compared."""
    header = _fast(path)
    reference = pydicom.dcmread(path, stop_before_pixels=True)
    compared = 0
    for mine, theirs in ((header.dataset, reference), (header.dataset.file_meta, reference.file_meta)):
        assert mine is not None
        for element in theirs:
            if element.VR == "SQ" or element.tag.is_private or not element.keyword:
                continue
            got: Any = mine.get(element.keyword)
            want = theirs.get(element.keyword)
            assert type(got) is type(want), (path.name, element.keyword, got, want)
            assert got == want, (path.name, element.keyword, got, want)
            assert str(got) == str(want)
            assert element.keyword in mine
            compared += 1
        assert len(mine) == len(theirs)
    full = pydicom.dcmread(path)
    pixel: Any = full.get_item("PixelData")  # a RawDataElement: the value's file offset
    assert header.pixel.value_offset == pixel.value_tell
    assert header.pixel.length == len(full.PixelData)
    assert header.dataset.original_encoding == reference.original_encoding
    return compared


def _same_scan(path: Path) -> None:
    """The scan of ``path`` by the fast reader is the scan pydicom gives."""
    assert scan_file(path) == scan_file(path, fast=False)


@pytest.mark.skipif(not REAL_CT.is_dir(), reason="real CT not available")
def test_real_ct_values_equal_pydicom() -> None:
    paths = sorted(REAL_CT.glob("*.dcm"))
    assert len(paths) == 275
    compared = [_assert_same_values(p) for p in paths[::25]]
    assert min(compared) >= 60  # the real CT's header: ~80 elements, implicit VR, ISO_IR 100
    for p in paths[::25]:
        _same_scan(p)


@pytest.mark.skipif(not REAL_CT.is_dir(), reason="real CT not available")
def test_real_ct_scan_equals_pydicom_scan() -> None:
    fast = scan_paths([REAL_CT])
    (stack,) = fast.stacks
    assert stack.n_images == 275
    reference = build_result([scan_file(p, fast=False) for p in sorted(REAL_CT.glob("*.dcm"))])
    assert fast == reference


@pytest.mark.skipif(not REAL_MR.is_file(), reason="real MR not available")
def test_real_mr_compressed_multiframe_is_declined_and_read_by_pydicom() -> None:
    assert _declined(REAL_MR)  # JPEG-LS: not a native little endian syntax
    _same_scan(REAL_MR)


def _write(tmp_path: Path, modality: str, **kwargs: Any) -> list[Path]:
    g = (
        axial_geometry(3, 6, 5, (0.5, 0.8), 2.0)
        if modality == "CT"
        else sagittal_geometry(3, 6, 5, (0.5, 0.8), 3.3, (4.0, -50.0, 20.0), oblique_deg=4.0)
    )
    vol = np.random.default_rng(3).integers(0, 3000, size=g.shape).astype(float)
    spec = SeriesSpec(modality=modality, rescale_intercept=-1024 if modality == "CT" else 0.0)
    return write_series(tmp_path, vol, g, spec, **kwargs)


@pytest.mark.parametrize(
    ("modality", "kwargs"),
    [
        ("CT", {}),
        ("MR", {}),
        ("MR", {"monochrome1": True}),
        ("CT", {"gantry_tilt_deg": 12.0}),
    ],
)
def test_synthetic_series_values_equal_pydicom(tmp_path: Path, modality: str, kwargs: dict[str, Any]) -> None:
    paths = _write(tmp_path, modality, **kwargs)
    for p in paths:
        assert _assert_same_values(p) >= 30
        _same_scan(p)


@pytest.mark.parametrize("kwargs", [{"multiframe": True}, {"compression": "rle"}, {"compression": "jpeg-ls"}])
def test_synthetic_multiframe_and_compressed_equal_pydicom(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    try:
        paths = _write(tmp_path, "MR", **kwargs)
    except (ValueError, RuntimeError) as exc:  # an encoder this machine lacks
        pytest.skip(str(exc))
    for p in paths:
        if kwargs.get("compression"):
            assert _declined(p)
        _same_scan(p)


def _rewrite(source: Path, target: Path, change: Any, syntax: str | None = None) -> Path:
    ds = pydicom.dcmread(source)
    change(ds)
    if syntax is not None:
        ds.file_meta.TransferSyntaxUID = UID(syntax)
    if syntax == ExplicitVRBigEndian:
        ds.PixelData = np.frombuffer(ds.PixelData, "<i2").astype(">i2").tobytes()
    if syntax == ExplicitVRBigEndian:
        pydicom.dcmwrite(target, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    else:
        ds.save_as(target, enforce_file_format=True)
    return target


def _latin1_names(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Zoë"
    ds.SeriesDescription = "Wirbelsäule axial"


def _empty_and_multi(ds: Dataset) -> None:
    ds.SeriesDescription = ""
    ds.WindowCenter = ["40", "400"]
    ds.WindowWidth = ["400", "2000"]
    ds.KVP = None
    ds.ImageType = ["DERIVED", "SECONDARY"]


def _sequence_and_private(ds: Dataset) -> None:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    nested = Dataset()
    nested.CodeValue = "T-D0146"
    item.PurposeOfReferenceCodeSequence = DicomSequence([nested])
    ds.ReferencedImageSequence = DicomSequence([item, Dataset()])
    ds.add_new(0x00091010, "LO", "PRIVATE CREATOR")
    ds.add_new(0x00091011, "LO", "private value")


def _odd_charset(ds: Dataset) -> None:
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]


def _unknown_charset(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 999"


def _bad_values(ds: Dataset) -> None:
    ds.SliceThickness = "1.00000000000000000001"  # 22 characters: pydicom warns (DS is 16)
    ds.SeriesNumber = 4242  # replaced by "x7x7" in the bytes: not an integer string


def _sequence_undefined_length(ds: Dataset) -> None:
    _sequence_and_private(ds)
    ds["ReferencedImageSequence"].is_undefined_length = True
    ds.ReferencedImageSequence[0]["PurposeOfReferenceCodeSequence"].is_undefined_length = True


def _undefined_items(ds: Dataset) -> None:
    _sequence_undefined_length(ds)
    for item in ds.ReferencedImageSequence:
        item.is_undefined_length_sequence_item = True
    ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].is_undefined_length_sequence_item = True


@pytest.mark.parametrize(
    ("change", "syntax", "declined"),
    [
        (_undefined_items, None, False),
        (_undefined_items, ImplicitVRLittleEndian, False),
        (_latin1_names, None, False),
        (_empty_and_multi, None, False),
        (_sequence_and_private, None, False),
        (_sequence_undefined_length, None, False),
        (_sequence_and_private, ImplicitVRLittleEndian, False),
        (_latin1_names, ImplicitVRLittleEndian, False),
        (_odd_charset, None, True),
        (_unknown_charset, None, True),
        (lambda ds: None, ExplicitVRBigEndian, True),
    ],
)
def test_variants_equal_pydicom_or_are_declined(
    tmp_path: Path, change: Any, syntax: str | None, declined: bool
) -> None:
    (source, *_) = _write(tmp_path / "src", "CT")
    target = _rewrite(source, tmp_path / "variant.dcm", change, syntax)
    assert _declined(target) == declined
    if not declined:
        _assert_same_values(target)
    _same_scan(target)


def test_value_pydicom_refuses_declines_at_use(tmp_path: Path) -> None:
    """A value its VR's converter refuses is not decoded here: the scan goes to pydicom
    and says what it says (the same FileScan, the same warnings)."""
    (source, *_) = _write(tmp_path / "src", "CT")
    target = _rewrite(source, tmp_path / "bad.dcm", _bad_values)
    assert target.read_bytes().count(b"4242") == 1
    target.write_bytes(target.read_bytes().replace(b"4242", b"x7x7"))
    header = _fast(target)  # the shape is common: located ...
    with pytest.raises(Decline):
        header.dataset.get("SeriesNumber")  # ... but this value is pydicom's to judge
    _same_scan(target)


@pytest.mark.parametrize(
    ("written_implicit", "declared"), [(True, ExplicitVRLittleEndian), (False, ImplicitVRLittleEndian)]
)
def test_mislabelled_encoding_is_declined(tmp_path: Path, written_implicit: bool, declared: str) -> None:
    """A dataset written in the other VR encoding than its transfer syntax says: pydicom
    detects it (and warns); the fast reader does not guess."""
    (source, *_) = _write(tmp_path / "src", "CT")
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = UID(declared)
    target = tmp_path / "mislabelled.dcm"
    pydicom.dcmwrite(target, ds, implicit_vr=written_implicit, little_endian=True, force_encoding=True)
    assert _declined(target)
    _same_scan(target)


def test_header_over_the_cap_is_declined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (source, *_) = _write(tmp_path / "src", "CT")
    monkeypatch.setenv("ENDPLATE_MAX_HEADER_MB", str(600 / 2**20))  # 600 bytes
    assert _declined(source)
    _same_scan(source)
    assert scan_file(source).skipped is not None


def test_absent_keywords_are_absent(tmp_path: Path) -> None:
    (source, *_) = _write(tmp_path / "src", "CT")
    ds = _fast(source).dataset
    assert "NotAKeyword" not in ds and "PerFrameFunctionalGroupsSequence" not in ds
    assert ds.get("NotAKeyword", 7) == 7 and ds.get("NumberOfFrames") is None
    with pytest.raises(AttributeError):
        _ = ds.NumberOfFrames
    with pytest.raises(AttributeError):
        _ = ds.not_an_attribute


def _cut(source: Path, target: Path, n_bytes: int) -> Path:
    target.write_bytes(source.read_bytes()[:n_bytes])
    return target


def test_truncated_and_damaged_files_scan_as_with_pydicom(tmp_path: Path) -> None:
    (source, *_) = _write(tmp_path / "src", "CT")
    data = source.read_bytes()
    pixel_at = _fast(source).pixel.value_offset
    cuts = [
        0,
        100,
        131,
        132,
        140,
        200,
        400,
        pixel_at - 12,
        pixel_at - 4,
        pixel_at - 1,
        pixel_at + 7,
        len(data) - 1,
    ]
    for k, n in enumerate(cuts):
        cut = _cut(source, tmp_path / f"cut{k}.dcm", n)
        assert _declined(cut)
        _same_scan(cut)
        assert scan_file(cut).skipped is not None
    no_preamble = tmp_path / "bare.dcm"
    no_preamble.write_bytes(data[132:])
    assert _declined(no_preamble)
    _same_scan(no_preamble)
    zeros = tmp_path / "zeros.dcm"
    zeros.write_bytes(data[: pixel_at - 8] + bytes(4096))
    assert _declined(zeros)
    _same_scan(zeros)
    for i in range(132, pixel_at, 7):  # one byte flipped anywhere in the header
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        p = tmp_path / "flip.dcm"
        p.write_bytes(bytes(flipped))
        _same_scan(p)


def test_header_beyond_the_first_read_is_read_on(tmp_path: Path) -> None:
    """A header longer than the first read (a long private element): read on, same values."""
    (source, *_) = _write(tmp_path / "src", "CT")
    target = _rewrite(source, tmp_path / "long.dcm", lambda ds: ds.add_new(0x00291010, "OB", bytes(20_000)))
    _assert_same_values(target)
    _same_scan(target)


def test_folder_with_good_and_hostile_files_scans_as_with_pydicom(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    paths = _write(folder, "CT")
    _cut(paths[1], folder / "cut.dcm", 300)
    shutil.copy(paths[0], folder / "copy.dcm")
    (folder / "text.dcm").write_text("not dicom")
    result = scan_paths([folder])
    assert result == build_result([scan_file(p, fast=False) for p in sorted(folder.iterdir())])
    assert len(result.stacks) == 1
    assert len(result.skipped) == 2
