"""Byte-level DICOM parsing that pydicom does not do for the scan.

The header scan stops pydicom just before the pixel data element
(``stop_before_pixels=True``), so the element header itself, the encapsulated fragments
after it and a cut-off last element are read here by hand: that is how a truncated file
is told apart from a good one without reading its pixels, and how the byte offset of
native frames is found for the loader.  Nothing here knows about series or geometry.
"""

from __future__ import annotations

import itertools
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydicom.dataset import Dataset, FileDataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag

from dicomio.model import PixelFormat

_PIXEL_DATA_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED_LENGTH = 0xFFFFFFFF
_MAX_FRAGMENTS = 10_000_000

#: Bytes of header (everything before the pixel data) read at most per file, in MB;
#: ``ENDPLATE_MAX_HEADER_MB`` changes it.  The largest real header seen (an Enhanced MR of
#: a few thousand frames) is a few MB; a hostile file must not keep the scan reading.
DEFAULT_MAX_HEADER_MB = 32


class _Skip(Exception):  # noqa: N818 - an internal signal, not an error
    """Raised inside the header reader: the file is skipped with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _PixelElement:
    """Where the pixel data value sits in the file and how long it is."""

    keyword: str
    value_offset: int
    length: int | None  # None: encapsulated (undefined length)


def _sniff(fp: BinaryIO) -> tuple[bool, bool]:
    """(has the DICM marker, looks like DICOM) from the first 132 bytes: DICM at byte 128,
    or (no preamble) a first tag in group 0002 or 0008, little endian."""
    head = fp.read(132)
    fp.seek(0)
    has_dicm = len(head) >= 132 and head[128:132] == b"DICM"
    bare = len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00"
    return has_dicm, has_dicm or bare


def _read_pixel_element(fp: BinaryIO, implicit: bool, little: bool) -> _PixelElement | None:
    """Parse the element header at the current position (where pydicom stopped)."""
    start = fp.tell()
    head = fp.read(12)
    if len(head) < 8:
        return None
    endian = "<" if little else ">"
    group, element = struct.unpack(endian + "HH", head[:4])
    keyword = _PIXEL_DATA_TAGS.get((group << 16) | element)
    if keyword is None:
        return None
    if implicit:
        (length,) = struct.unpack(endian + "L", head[4:8])
        header = 8
    elif head[4:6] in _LONG_LENGTH_VRS:
        if len(head) < 12:
            raise _Skip("truncated: the file ends inside the pixel data element header")
        (length,) = struct.unpack(endian + "L", head[8:12])
        header = 12
    else:
        (length,) = struct.unpack(endian + "H", head[6:8])
        header = 8
    return _PixelElement(keyword, start + header, None if length == _UNDEFINED_LENGTH else length)


def _check_fragments(fp: BinaryIO, offset: int, size: int, little: bool) -> int:
    """Walk the items of encapsulated pixel data; return the fragment count.

    Raises ``_Skip('truncated: ...')`` when the file ends before the sequence delimiter.
    """
    endian = "<" if little else ">"
    fp.seek(offset)
    fragments = -1  # the first item is the Basic Offset Table
    for _ in range(_MAX_FRAGMENTS):
        head = fp.read(8)
        if len(head) < 8:
            raise _Skip(
                "truncated: the compressed pixel data stops before its end marker "
                f"(file size {size} bytes); the file was cut short"
            )
        group, element, length = struct.unpack(endian + "HHL", head)
        if (group, element) == (0xFFFE, 0xE0DD):
            return fragments
        if (group, element) != (0xFFFE, 0xE000):
            raise _Skip(
                f"unreadable: unexpected tag ({group:04X},{element:04X}) inside the compressed pixel "
                "data; expected item (FFFE,E000) or sequence delimiter (FFFE,E0DD)"
            )
        end = fp.tell() + length
        if end > size:
            raise _Skip(
                f"truncated: a compressed pixel data fragment needs {end - size} more bytes than the "
                f"file holds ({size} bytes); the file was cut short"
            )
        fp.seek(end)
        fragments += 1
    raise _Skip("unreadable: the compressed pixel data has too many fragments")


def _ends_inside_an_element(ds: Dataset, size: int) -> bool:
    """True when the file ends before the last element it starts is complete.

    pydicom stops silently at the end of a cut file, leaving the last element short (or
    dropping a partial tag).  Only meaningful right after reading (before any value is
    converted) and when no pixel data element follows.
    """
    tags = list(ds.keys())
    if not tags:
        return False
    raw = ds.get_item(tags[-1])
    length = getattr(raw, "length", None)
    value = getattr(raw, "value", None)
    tell = getattr(raw, "value_tell", None)
    if length is None or length == _UNDEFINED_LENGTH or tell is None or not isinstance(value, bytes):
        return False
    return len(value) < length or tell + length < size


def max_header_bytes() -> int:
    """The header cap in bytes (``ENDPLATE_MAX_HEADER_MB``, else :data:`DEFAULT_MAX_HEADER_MB`)."""
    try:
        mb = float(os.environ.get("ENDPLATE_MAX_HEADER_MB", DEFAULT_MAX_HEADER_MB))
    except ValueError:
        mb = DEFAULT_MAX_HEADER_MB
    return int(max(mb, 0.001) * 1024 * 1024)


@dataclass
class HeaderEnd:
    """Why the bounded header read stopped before the end of the file, if it did."""

    at_zeros: int | None = None  # byte offset of an element tagged (0000,0000) (zero padding)


class _SizeBoundedFile:
    """A file whose ``read(n)`` never asks for more than the bytes left in it.

    CPython allocates the whole requested size before reading, so a 1 KB file whose header
    claims a 256 MB element made the scan allocate 256 MB (found by the byte-mutation fuzz,
    tests/test_fuzz_hostile.py).  Everything else is the wrapped file's."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        here = fp.tell()
        self._size = fp.seek(0, os.SEEK_END)
        fp.seek(here)

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return self._fp.read()
        return self._fp.read(max(0, min(n, self._size - self._fp.tell())))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


def read_bounded_header(fp: BinaryIO) -> tuple[FileDataset, HeaderEnd]:
    """``dcmread(fp, stop_before_pixels=True, force=True)`` that reads a bounded number of bytes.

    It stops before the pixel data, and at the first element of group 0000 (which a file's
    dataset never holds: it is what zero padding or a sparse file reads as), and raises
    ``_Skip`` when an element would take the header past :func:`max_header_bytes`.  Without
    these bounds a valid header followed by 64 MB of zeros took 45 s to parse.
    """
    cap = max_header_bytes()
    end = HeaderEnd()

    def stop_when(tag: BaseTag, _vr: str | None, length: int) -> bool:
        if int(tag) in _PIXEL_DATA_TAGS:
            return True
        value_at = fp.tell()
        if tag >> 16 == 0:
            end.at_zeros = value_at
            return True
        extent = 0 if length == _UNDEFINED_LENGTH else length
        if value_at + extent > cap:
            raise _Skip(
                f"unreadable: the header is larger than {cap // (1024 * 1024)} MB (an element of "
                f"{length} bytes at byte {value_at}); a DICOM header this large is not an image header "
                "(ENDPLATE_MAX_HEADER_MB raises the limit)"
            )
        return False

    return read_partial(_SizeBoundedFile(fp), stop_when, force=True), end  # type: ignore[arg-type]


# -- is compressed data what the header says? (without decoding it) ----------------------

_JPEG_SYNTAXES = {f"1.2.840.10008.1.2.4.{n}" for n in (50, 51, 57, 70, 80, 81)}
_J2K_SYNTAXES = {f"1.2.840.10008.1.2.4.{n}" for n in (90, 91, 201, 202, 203)}
_RLE_SYNTAX = "1.2.840.10008.1.2.5"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
#: Bytes read from the start of a fragment to find its codec header.
_CODEC_HEAD_BYTES = 1 << 16
#: Frames whose first fragment is checked at most (the rest are checked by decoding).
_MAX_FRAMES_CHECKED = 4096


def _fragments(fp: BinaryIO, offset: int, little: bool, limit: int) -> list[tuple[int, int]]:
    """(value offset, length) of up to ``limit`` fragments after the Basic Offset Table
    (the items were walked and checked by :func:`_check_fragments`)."""
    endian = "<" if little else ">"
    fp.seek(offset)
    found: list[tuple[int, int]] = []
    first = True
    while len(found) < limit:
        head = fp.read(8)
        if len(head) < 8:
            break
        group, element, length = struct.unpack(endian + "HHL", head)
        if (group, element) != (0xFFFE, 0xE000):
            break
        if not first:
            found.append((fp.tell(), length))
        first = False
        fp.seek(fp.tell() + length)
    return found


def _rle_problem(head: bytes, length: int, segments: int) -> str | None:
    if len(head) < 64:
        return f"is {len(head)} bytes, shorter than the 64-byte RLE header"
    values = struct.unpack("<16L", head[:64])
    n = values[0]
    if n != segments:
        return f"declares {n} RLE segment(s), {segments} expected for its bits per pixel"
    offsets = values[1 : 1 + n]
    if offsets[0] != 64 or any(b <= a for a, b in itertools.pairwise(offsets)):
        return f"has RLE segment offsets {list(offsets)} that do not follow the header in order"
    if offsets[-1] >= length:
        return f"has an RLE segment starting at byte {offsets[-1]}, beyond its {length} bytes"
    return None


def _jpeg_problem(head: bytes, rows: int, columns: int, samples: int, bits: int) -> str | None:
    if head[:2] != b"\xff\xd8":
        return "does not start with a JPEG start-of-image marker (FFD8)"
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return f"has a malformed JPEG marker at byte {i}"
        marker = head[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        if marker in _JPEG_SOF:
            if i + 10 > len(head):
                break
            precision = head[i + 4]
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            components = head[i + 9]
            if (height not in (0, rows)) or width != columns or components != samples:
                return (
                    f"declares {width} x {height} pixels with {components} component(s); the header "
                    f"says {columns} x {rows} with {samples}"
                )
            if precision > bits:
                return f"declares {precision}-bit samples, more than BitsAllocated {bits}"
            return None
        (segment,) = struct.unpack(">H", head[i + 2 : i + 4])
        i += 2 + segment
    return "has no JPEG frame header (SOF marker) where one was expected"


def _j2k_problem(head: bytes, rows: int, columns: int, samples: int) -> str | None:
    at = head.find(b"\xff\x4f\xff\x51")
    if at < 0 or at + 44 > len(head):
        return "has no JPEG 2000 codestream header (SOC and SIZ markers)"
    xsiz, ysiz, xo, yo = struct.unpack(">LLLL", head[at + 8 : at + 24])
    (components,) = struct.unpack(">H", head[at + 40 : at + 42])
    if (xsiz - xo, ysiz - yo, components) != (columns, rows, samples):
        return (
            f"declares {xsiz - xo} x {ysiz - yo} pixels with {components} component(s); the header "
            f"says {columns} x {rows} with {samples}"
        )
    return None


def compressed_frame_problem(
    fp: BinaryIO,
    offset: int,
    little: bool,
    syntax: str,
    fmt: PixelFormat,
    rows: int,
    columns: int,
    n_frames: int,
) -> str | None:
    """Why the compressed frames cannot be what the header says, from their codec headers
    (RLE segment table, JPEG/JPEG-LS frame header, JPEG 2000 SIZ), or None.

    Cheap (a few bytes per frame, nothing decoded) so that the scan refuses what the loader
    would then fail on: a fragment that is not of its transfer syntax, or that declares
    another size (which a decoder would allocate).  When there is one fragment per frame
    every frame is checked, else the first.
    """
    if syntax not in _JPEG_SYNTAXES and syntax not in _J2K_SYNTAXES and syntax != _RLE_SYNTAX:
        return None
    fragments = _fragments(fp, offset, little, min(n_frames, _MAX_FRAMES_CHECKED) + 1)
    per_frame = len(fragments) == n_frames or (n_frames > _MAX_FRAMES_CHECKED)
    for k, (at, length) in enumerate(fragments if per_frame else fragments[:1]):
        fp.seek(at)
        head = fp.read(min(length, _CODEC_HEAD_BYTES))
        if syntax == _RLE_SYNTAX:
            segments = fmt.samples_per_pixel * max(1, fmt.bits_allocated // 8)
            problem = _rle_problem(head, length, segments)
        elif syntax in _JPEG_SYNTAXES:
            problem = _jpeg_problem(head, rows, columns, fmt.samples_per_pixel, fmt.bits_allocated)
        else:
            problem = _j2k_problem(head, rows, columns, fmt.samples_per_pixel)
        if problem is not None:
            return f"the compressed data of frame {k + 1} {problem}; it cannot be decoded as the header says"
    return None
