"""Text that is safe to print on a terminal: control characters shown, never obeyed.

Why: DICOM strings (SeriesDescription, PatientName...) and file names come from outside.
An ESC sequence in a description would clear the reader's screen or retitle the window when
``endplate info`` prints it, and a newline in a file name would forge an output line that
a script parsing the output trusts.  :func:`printable` escapes every control character of
one field (newlines included); :class:`PrintableStream` is the last guard on the CLI's
stdout and stderr, escaping control characters other than the line breaks and tabs the
program itself writes.  JSON output needs neither (``json.dumps`` escapes them already).
"""

from __future__ import annotations

import re
from typing import TextIO

#: C0 controls, DEL and C1 controls (U+0080..U+009F), plus the Unicode line and paragraph
#: separators and bidirectional overrides, which terminals and editors also obey.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_STREAM_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` on one line with every control character written as an escape
    (``\\x1b``, ``\\n``): what a field from a file or a DICOM header may be printed as."""
    return _CONTROL.sub(_escape, str(text))


class PrintableStream:
    """A text stream that escapes control characters other than ``\\n`` and ``\\t`` before
    writing to ``stream`` (the CLI wraps stdout and stderr in it)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(_STREAM_CONTROL.sub(_escape, text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)
