"""Byte-level DICOM parsing that pydicom does not do for the scan.

The header scan stops pydicom just before the pixel data element
(``stop_before_pixels=True``), so the element header itself, the encapsulated fragments
after it and a cut-off last element are read here by hand: that is how a truncated file
is told apart from a good one without reading its pixels, and how the byte offset of
native frames is found for the loader.  Nothing here knows about series or geometry.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from pydicom.dataset import Dataset, FileDataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag

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

    return read_partial(fp, stop_when, force=True), end
