"""What can stop pixels from loading: missing decoders, unreadable frames, a cancel.

The errors :func:`dicomio.pixels.load_volume` raises, and the decoder check it runs
first.  The check is also used by the scan (:func:`decoder_problem`), so that a series
that can be listed but not shown says so at once, naming the package to install,
instead of failing only when it is opened.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomio.model import SeriesStack

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
