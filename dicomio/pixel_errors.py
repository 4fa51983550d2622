"""What can stop pixels from loading: missing decoders, unreadable frames, a cancel.

The errors :func:`dicomio.pixels.load_volume` raises, and the decoder check it runs
first.  The check is also used by the scan (:func:`decoder_problem`), so that a series
that can be listed but not shown says so at once, naming the package to install,
instead of failing only when it is opened.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomio.model import PixelFormat, SeriesStack

#: Transfer syntaxes whose frames can be read straight from the file at an offset.
_NATIVE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian)

#: What to install to decode each family of compressed transfer syntaxes (by UID prefix).
_DECODER_PACKAGES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"), "pylibjpeg and pylibjpeg-libjpeg (or Pillow)"),
    (("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"), "pylibjpeg and pylibjpeg-libjpeg"),
    (("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"), "pyjpegls (or pylibjpeg and pylibjpeg-libjpeg)"),
    (
        ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201"),
        "pylibjpeg and pylibjpeg-openjpeg",
    ),
    (("1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"), "pylibjpeg and pylibjpeg-openjpeg"),
    (("1.2.840.10008.1.2.5",), "pylibjpeg and pylibjpeg-rle"),
)


class DecoderMissingError(ValueError):
    """No installed package can decode this transfer syntax."""


class PixelDecodeError(ValueError):
    """One frame could not be read or decoded; the message names the file and frame."""


class LoadCancelledError(RuntimeError):
    """``cancel()`` returned True while a volume was loading."""


def _package_for(uid: str) -> str:
    for uids, packages in _DECODER_PACKAGES:
        if uid in uids:
            return packages
    return "a pydicom pixel data plugin that supports it (none is known to Endplate)"


def _syntax_label(uid: str) -> str:
    name = UID(uid).name
    return f"'{name}' ({uid})" if name and name != uid else f"'{uid}'"


def check_decoder(transfer_syntax_uid: str, where: str | None = None) -> None:
    """Raise :class:`DecoderMissingError` unless pixels of this transfer syntax can be decoded.

    ``where`` (e.g. "series 'SAG T1' (IM0001.dcm ...)") names the images in the message.
    """
    uid = UID(transfer_syntax_uid)
    if uid in _NATIVE_SYNTAXES or uid == DeflatedExplicitVRLittleEndian:
        return
    images = f"The images of {where}" if where else "The images"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise DecoderMissingError(
            f"{images} use transfer syntax {_syntax_label(uid)}, which pydicom cannot decode; "
            f"expected an uncompressed, JPEG, JPEG-LS, JPEG 2000 or RLE transfer syntax."
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        detail = f" (pydicom reports: {missing})" if missing else ""
        raise DecoderMissingError(
            f"No decoder is installed for transfer syntax {_syntax_label(uid)}{detail}, used by "
            f"{images[0].lower()}{images[1:]}; install {_package_for(uid)} to read these images."
        )


def decoder_problem(stack: SeriesStack) -> str | None:
    """The sentence :func:`check_decoder` would raise for this stack, or None when it decodes.

    Lets the scan tell the user at once (a stack warning, ``endplate info``) that a series
    can be listed but not shown, instead of failing only when it is opened.
    """
    try:
        check_decoder(stack.pixel_format.transfer_syntax_uid, _where(stack))
    except DecoderMissingError as exc:
        return str(exc)
    return None


def _where(stack: SeriesStack) -> str:
    files = sorted({Path(f.path) for f in stack.frames})
    example = f"{files[0]}" + (f" and {len(files) - 1} other file(s)" if len(files) > 1 else "")
    return f"series {stack.description or stack.series_uid!r} ({example})"


# -- what the loader accepts: one check for the scan (``endplate info``) and the loader --------

#: Largest decoded volume (MB of 2**20 bytes) Endplate allocates, unless
#: ``ENDPLATE_MAX_DECODE_MB`` says otherwise: 4000 CT slices of 512 x 512 in int16.  The
#: machine's available memory lowers it further (:func:`decode_budget_bytes`).
DEFAULT_MAX_DECODE_MB = 2048
DECODE_BUDGET_ENV = "ENDPLATE_MAX_DECODE_MB"
_MB = 1 << 20


class DecodeBudgetError(ValueError):
    """The decoded pixels would exceed the decode budget; nothing was allocated."""


def available_memory_bytes() -> int | None:
    """Memory the system can give now (Linux ``MemAvailable``), or None when not reported."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fp:
            for line in fp:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


#: How long a reading of the available memory is reused: the scan checks every file
#: against the budget, and reading /proc/meminfo was 8% of a 600-file scan.
_AVAILABLE_REUSE_S = 0.25
_available_read: tuple[float, int | None] = (-math.inf, None)


def _available_recently() -> int | None:
    """:func:`available_memory_bytes`, read again when the last reading is older than
    :data:`_AVAILABLE_REUSE_S`."""
    global _available_read
    now = time.monotonic()
    if now - _available_read[0] > _AVAILABLE_REUSE_S:
        _available_read = (now, available_memory_bytes())
    return _available_read[1]


def decode_budget_bytes() -> int:
    """The most bytes one decoded volume may take: ``ENDPLATE_MAX_DECODE_MB`` (default
    :data:`DEFAULT_MAX_DECODE_MB`), and at most 3/4 of the memory available now."""
    raw = os.environ.get(DECODE_BUDGET_ENV, "").strip()
    try:
        cap_mb = float(raw) if raw else float(DEFAULT_MAX_DECODE_MB)
    except ValueError:
        cap_mb = float(DEFAULT_MAX_DECODE_MB)
    if not (math.isfinite(cap_mb) and cap_mb > 0):
        cap_mb = float(DEFAULT_MAX_DECODE_MB)
    budget = int(cap_mb * _MB)
    available = _available_recently()
    if available is not None and available > 0:
        budget = min(budget, available * 3 // 4)
    return budget


def decoded_nbytes(fmt: PixelFormat, rows: int, columns: int, frames: int) -> int:
    """Bytes of the loaded array: int16 for integral rescales of up to 16 bits, else float32."""
    integral = float(fmt.rescale_slope).is_integer() and float(fmt.rescale_intercept).is_integer()
    itemsize = 2 if integral and fmt.bits_allocated <= 16 else 4
    return max(0, rows) * max(0, columns) * max(0, frames) * itemsize


def budget_problem(nbytes: int, what: str) -> str | None:
    """The sentence refusing ``what`` when its ``nbytes`` decoded exceed the budget, or None."""
    budget = decode_budget_bytes()
    if nbytes <= budget:
        return None
    return (
        f"{what} would take {nbytes / _MB:,.0f} MB once decoded, more than the {budget / _MB:,.0f} MB "
        f"Endplate allows for one image volume (the machine's available memory and "
        f"{DECODE_BUDGET_ENV}); it was not decoded"
    )


def pixel_format_problem(fmt: PixelFormat) -> str | None:
    """Why pixels of this format cannot be loaded right, or None.

    The one check behind both the scan (a file ``endplate info`` lists loads) and the
    loader (:func:`dicomio.pixels.load_volume`).
    """
    if fmt.samples_per_pixel != 1 or fmt.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return (
            f"PhotometricInterpretation {fmt.photometric or 'missing'!r} with {fmt.samples_per_pixel} "
            "sample(s) per pixel; Endplate reads grayscale MONOCHROME1/MONOCHROME2 images only"
        )
    if fmt.bits_allocated not in (8, 16, 32):
        return f"BitsAllocated {fmt.bits_allocated}; expected 8, 16 or 32 bits per pixel"
    if not 1 <= fmt.bits_stored <= fmt.bits_allocated:
        return (
            f"BitsStored {fmt.bits_stored} with BitsAllocated {fmt.bits_allocated}; "
            "expected 1 <= BitsStored <= BitsAllocated"
        )
    slope, intercept = fmt.rescale_slope, fmt.rescale_intercept
    if not math.isfinite(slope) or slope == 0:
        return (
            f"RescaleSlope {slope}; a slope of 0 or not a number would make every value the same "
            "(or undefined), so the image is not shown rather than shown wrong"
        )
    if not math.isfinite(intercept):
        return f"RescaleIntercept {intercept}; expected a finite number"
    return None
