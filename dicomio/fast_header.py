"""A byte-level header reader for the common case, with pydicom for everything else.

Parsing a header with pydicom (``read_partial`` plus ``Dataset`` look-ups) took about
1.6 ms per file, most of a 600-file CT scan (issue 15).  Nearly every scanner file is
the same simple shape: a DICM preamble, a file meta group, then an implicit or explicit
VR little endian dataset that ends in a native PixelData element.  For such files the
elements are located here in one pass over the bytes, and only the values the scan asks
for are decoded, by pydicom's own value converters (:data:`pydicom.values.converters`),
so every value, its type and any warning are what ``dcmread`` gives.

Anything else is *declined* (:class:`Decline`) and the caller reads the file with
pydicom as before, so messages for odd and hostile files do not change: no DICM marker,
another transfer syntax (big endian, deflate, compressed), a character set other than
ASCII, Latin-1 or UTF-8, tags out of order, group 0000 or 0002 elements in the dataset,
no PixelData element in the first :data:`MAX_FAST_HEADER_BYTES`, an element running past
the end of the file, a value whose VR is unknown, ambiguous, UN or SQ when it is asked
for, a value pydicom's converter refuses.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import MutableSequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import empty_value_for_VR
from pydicom.valuerep import CUSTOMIZABLE_CHARSET_VR, VR
from pydicom.values import converters

from dicomio.dicom_bytes import _LONG_LENGTH_VRS, _UNDEFINED_LENGTH, _PixelElement, max_header_bytes

#: Transfer syntaxes read here: UID -> is implicit VR (both little endian, native pixels).
NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}
#: Character sets under which ASCII text decodes as plain ASCII and no warning is given.
_PLAIN_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192"}
#: Bytes read first (a CT header is 1-3 KB); more is read when the pixel data is further.
FIRST_READ_BYTES = 8192
#: Where the fast reader gives up looking for the pixel data (pydicom reads on).
MAX_FAST_HEADER_BYTES = 1 << 20
_MAX_DEPTH = 16
_PIXEL_DATA = 0x7FE00010
_FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)
_SPECIFIC_CHARACTER_SET = 0x00080005
_VR_NAMES = {str(vr).encode("ascii"): str(vr) for vr in converters if len(vr) == 2}
_EXPLICIT_VRS = set(_VR_NAMES)
_LONG_VR_NAMES = {vr.decode("ascii") for vr in _LONG_LENGTH_VRS}
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")
_TAG = struct.Struct("<HH")
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD

#: An element: (VR as written, or None in implicit VR; value offset in the buffer, or None
#: for an undefined-length value that was skipped; value length).
_Element = tuple[str | None, int | None, int]


class Decline(Exception):  # noqa: N818 - a signal: read this file with pydicom instead
    """The file is not of the simple shape read here; pydicom reads it."""


class _NeedMore(Exception):  # noqa: N818 - a signal inside the walker
    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


@dataclass(frozen=True)
class FastHeader:
    """A header located in ``buffer``: the dataset (read up to its pixel data) and the
    PixelData element (offsets are file offsets: the buffer starts at byte 0)."""

    dataset: FastDataset
    pixel: _PixelElement


def _element_head(buf: bytes, pos: int, implicit: bool) -> tuple[int, str | None, int, int]:
    """(tag, VR or None, value length, value offset) of the element at ``pos``."""
    if pos + 8 > len(buf):
        raise _NeedMore(pos + 12)
    group, elem = _TAG.unpack_from(buf, pos)
    tag = (group << 16) | elem
    if implicit or group == 0xFFFE:
        return tag, None, _U32.unpack_from(buf, pos + 4)[0], pos + 8
    vr = buf[pos + 4 : pos + 6]
    if vr not in _EXPLICIT_VRS:
        raise Decline(f"unknown VR {vr!r}")
    if vr in _LONG_LENGTH_VRS:
        if pos + 12 > len(buf):
            raise _NeedMore(pos + 12)
        return tag, vr.decode("ascii"), _U32.unpack_from(buf, pos + 8)[0], pos + 12
    return tag, vr.decode("ascii"), _U16.unpack_from(buf, pos + 6)[0], pos + 8


def _skip_items(buf: bytes, pos: int, implicit: bool, depth: int) -> int:
    """The offset after an undefined-length value starting at ``pos`` (its items up to the
    sequence delimiter), each item skipped by its length or walked to its delimiter."""
    if depth > _MAX_DEPTH:
        raise Decline("sequences nested too deep")
    while True:
        tag, _, length, value_at = _element_head(buf, pos, True)
        if tag == _SEQUENCE_END:
            return value_at
        if tag != _ITEM:
            raise Decline("unexpected tag in a sequence")
        if length != _UNDEFINED_LENGTH:
            pos = value_at + length
            continue
        pos = value_at
        while True:  # an undefined-length item: its elements up to the item delimiter
            tag, vr, length, value_at = _element_head(buf, pos, implicit)
            if tag == _ITEM_END:
                pos = value_at
                break
            if length == _UNDEFINED_LENGTH:
                if vr == "UN":
                    raise Decline("undefined-length UN value")
                pos = _skip_items(buf, value_at, implicit, depth + 1)
            else:
                pos = value_at + length


def _walk(buf: bytes) -> tuple[dict[int, _Element], dict[int, _Element], bool, _PixelElement]:
    """The file meta elements, the dataset elements (up to the pixel data), whether the
    dataset is implicit VR, and the PixelData element.  Raises :class:`Decline` or
    ``_NeedMore(bytes wanted)``."""
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise Decline("no DICM marker")
    meta: dict[int, _Element] = {}
    pos = 132
    while True:
        if pos + 8 > len(buf):
            raise _NeedMore(pos + 8)
        if buf[pos : pos + 2] != b"\x02\x00":
            break
        tag, vr, length, value_at = _element_head(buf, pos, False)
        if length == _UNDEFINED_LENGTH or tag in meta:
            raise Decline("odd file meta element")
        if value_at + length > len(buf):
            raise _NeedMore(value_at + length)
        meta[tag] = (vr, value_at, length)
        pos = value_at + length
    group_length = meta.get(0x00020000)
    if group_length is not None:
        _, at, n = group_length
        if n != 4 or at is None or at + 4 + _U32.unpack_from(buf, at)[0] != pos:
            raise Decline("file meta group length does not match")
    syntax_element = meta.get(0x00020010)
    if syntax_element is None:
        raise Decline("no transfer syntax")
    _, at, n = syntax_element
    if at is None:
        raise Decline("no transfer syntax")
    if at + n > len(buf):
        raise _NeedMore(at + n)
    syntax = buf[at : at + n].decode("ascii", "replace").rstrip("\x00 ")
    implicit = NATIVE_LITTLE_ENDIAN.get(syntax)
    if implicit is None:
        raise Decline(f"transfer syntax {syntax}")
    if implicit and pos + 8 <= len(buf) and buf[pos + 4 : pos + 6] in _EXPLICIT_VRS:
        raise Decline("implicit VR declared, explicit VR written")  # pydicom switches, and warns
    cap = max_header_bytes()
    elements: dict[int, _Element] = {}
    previous = -1
    end = len(buf)
    tag_at, u16_at, u32_at = _TAG.unpack_from, _U16.unpack_from, _U32.unpack_from
    while True:  # the element head parsed inline (this loop runs ~50 times per file)
        if pos + 12 > end:
            raise _NeedMore(pos + 12)
        group, number = tag_at(buf, pos)
        tag = (group << 16) | number
        if tag <= previous or group in (0x0000, 0x0002, 0xFFFE) or tag in _FLOAT_PIXEL_DATA:
            raise Decline("unexpected element order or group")
        if implicit:
            vr, length, value_at = None, u32_at(buf, pos + 4)[0], pos + 8
        else:
            vr = _VR_NAMES.get(buf[pos + 4 : pos + 6])
            if vr is None:
                raise Decline("unknown VR")
            if vr in _LONG_VR_NAMES:
                length, value_at = u32_at(buf, pos + 8)[0], pos + 12
            else:
                length, value_at = u16_at(buf, pos + 6)[0], pos + 8
        if tag == _PIXEL_DATA:
            if length == _UNDEFINED_LENGTH:
                raise Decline("encapsulated pixel data in a native transfer syntax")
            return meta, elements, implicit, _PixelElement("PixelData", value_at, length)
        previous = tag
        if length == _UNDEFINED_LENGTH:
            if vr is not None and vr != "SQ":
                raise Decline("undefined length outside a sequence")
            if value_at > cap:
                raise Decline("header larger than the cap")
            pos = _skip_items(buf, value_at, implicit, 0)
            elements[tag] = (vr, None, length)
            continue
        if value_at + length > cap:
            raise Decline("header larger than the cap")
        elements[tag] = (vr, value_at, length)
        pos = value_at + length


def read_fast_header(fp: BinaryIO, size: int) -> FastHeader:
    """The header of an open file (at offset 0) of the simple shape; :class:`Decline` else.

    Reads :data:`FIRST_READ_BYTES`, more only when the pixel data is further; the file
    position is left anywhere (the caller seeks before reading again).
    """
    want = min(size, FIRST_READ_BYTES)
    buf = fp.read(want)
    while True:
        try:
            meta, elements, implicit, pixel = _walk(buf)
            break
        except _NeedMore as more:
            if len(buf) >= size or len(buf) >= MAX_FAST_HEADER_BYTES or len(buf) < want:
                raise Decline("the header does not end within the bytes read") from None
            want = min(size, MAX_FAST_HEADER_BYTES, max(more.end, 2 * len(buf)))
            buf += fp.read(want - len(buf))
    if pixel.length is None or pixel.value_offset + pixel.length > size:
        raise Decline("the pixel data runs past the end of the file")
    dataset = FastDataset(buf, elements, implicit, FastDataset(buf, meta, False, None))
    dataset.encodings()  # declines an unusual character set now
    return FastHeader(dataset, pixel)


# -- values -----------------------------------------------------------------------------

_TAGS: dict[str, int | None] = {}


def _tag(keyword: str) -> int | None:
    try:
        return _TAGS[keyword]
    except KeyError:
        tag = _TAGS[keyword] = tag_for_keyword(keyword)
        return tag


_VRS: dict[int, str | None] = {}


def _dictionary_vr(tag: int) -> str | None:
    try:
        return _VRS[tag]
    except KeyError:
        try:
            vr: str | None = str(dictionary_VR(tag))
        except KeyError:
            vr = None
        _VRS[tag] = vr
        return vr


class FastDataset:
    """The part of :class:`pydicom.dataset.Dataset` the scan uses, over located elements.

    ``get(keyword)``, ``keyword in ds``, ``ds.Keyword``, ``len(ds)``, ``file_meta`` and
    ``original_encoding``; values are decoded on first use with pydicom's converters, as a
    ``Dataset`` would decode them.  A value that cannot be decoded that way raises
    :class:`Decline` (the caller then reads the file with pydicom).
    """

    def __init__(
        self,
        buffer: bytes,
        elements: dict[int, _Element],
        implicit: bool,
        file_meta: FastDataset | None,
    ) -> None:
        self._buffer = buffer
        self._elements = elements
        self._implicit = implicit
        self._values: dict[str, Any] = {}  # decoded values by keyword
        self._encodings: list[str] | None = None
        self._encodings_key: tuple[str, ...] = ()
        self.file_meta = file_meta
        self.original_encoding = (implicit, True)

    def __len__(self) -> int:
        return len(self._elements)

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and _tag(keyword) in self._elements

    def get(self, keyword: str, default: Any = None) -> Any:
        try:
            return self._values[keyword]  # the scan asks for some values several times
        except KeyError:
            pass
        tag = _tag(keyword)
        if tag is None or tag not in self._elements:
            return default
        value = self._values[keyword] = self._decode(tag)
        return value

    def __getattr__(self, name: str) -> Any:
        tag = _tag(name) if name[:1].isupper() else None
        if tag is None or tag not in self._elements:
            raise AttributeError(name)
        return self.get(name)

    def encodings(self) -> list[str]:
        """The Python codecs of SpecificCharacterSet; :class:`Decline` for an unusual one."""
        if self._encodings is None:
            element = self._elements.get(_SPECIFIC_CHARACTER_SET)
            raw = b"" if element is None or element[1] is None else self._raw(element)
            names = raw.decode("ascii", "replace").strip(" \x00")
            if names not in _PLAIN_CHARSETS:
                raise Decline(f"character set {names!r}")
            self._encodings = convert_encodings(names or None)
            self._encodings_key = tuple(self._encodings)
        return self._encodings

    def _raw(self, element: _Element) -> bytes:
        _, at, length = element
        assert at is not None
        return self._buffer[at : at + length]

    def _decode(self, tag: int) -> Any:
        element = self._elements[tag]
        vr = element[0] if element[0] is not None else _dictionary_vr(tag)
        if vr is None or " " in vr or vr in ("UN", "SQ") or element[1] is None:
            raise Decline(f"value of ({tag >> 16:04X},{tag & 0xFFFF:04X}) with VR {vr}")
        encodings = self.encodings()
        if element[2] == 0:
            return empty_value_for_VR(vr)
        raw = self._raw(element)
        key = (vr, raw, self._encodings_key)
        try:
            return _SHARED_VALUES[key]
        except KeyError:
            pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = _convert(vr, raw, encodings)
        for w in caught:  # said again for the caller, as pydicom would have said it
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if not caught:
            if len(_SHARED_VALUES) >= _MAX_SHARED_VALUES:
                _SHARED_VALUES.clear()
            _SHARED_VALUES[key] = value
        return value


#: Decoded values by (VR, bytes, encodings), shared by all files: most of a series' values
#: (UIDs, orientation, spacing, rescale, sizes) are the same bytes in every file.  Values
#: whose decoding warned are not kept (the warning is said for each file, as by pydicom).
#: The values are read, never changed, by the scan (:mod:`dicomio.headers`).
_SHARED_VALUES: dict[tuple[str, bytes, tuple[str, ...]], Any] = {}
_MAX_SHARED_VALUES = 4096


def _convert(vr: str, raw: bytes, encodings: MutableSequence[str]) -> Any:
    """``pydicom.values.convert_value`` without its retry under other VRs: a value its own
    VR's converter refuses is declined (pydicom then reads the file, retries included)."""
    try:
        entry: Any = converters[VR(vr)]
        if vr == "PN":
            return entry(raw, encodings)
        if vr in CUSTOMIZABLE_CHARSET_VR:
            return entry(raw, encodings, vr)
        if isinstance(entry, tuple):
            converter, number_format = entry
            return converter(raw, True, number_format)
        return entry(raw, True, None)
    except Exception as exc:  # any converter failure: let pydicom read the file
        raise Decline(f"value not decodable as {vr}: {exc}") from exc
