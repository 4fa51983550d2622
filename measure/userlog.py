"""Where Endplate keeps per-user files (log, demo case, recovery), and the log itself.

The log holds full tracebacks so that the user only ever sees one readable sentence.
``ENDPLATE_HOME`` overrides the folder (tests point it at a temporary directory).  A
folder that cannot be created or written (a path under a regular file, a read-only disk,
no permission) is replaced by a private temporary folder, said once in one line on
stderr and in :func:`home_warning` (the GUI shows it in its status bar): never a crash.
Warnings of the DICOM library (charset, RLE padding ...) go to the log, not the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TextIO

_handler: logging.Handler | None = None
_handler_path: Path | None = None
#: (the folder asked for, the folder used, the warning) of the last fallback.
_fallback: tuple[str, Path, str] | None = None
_original_showwarning = warnings.showwarning

#: Warnings raised from these packages' files are written to the log only.
_LOGGED_WARNING_SOURCES = (f"{os.sep}pydicom{os.sep}", f"{os.sep}dicomio{os.sep}")


def _wanted_dir() -> Path:
    env = os.environ.get("ENDPLATE_HOME")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "endplate"


def _usable(folder: Path) -> str | None:
    """None when ``folder`` exists (created if needed) and can be written, else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not folder.is_dir():
        return "it is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "it is not writable"
    return None


def _private_temp_dir() -> Path:
    """A folder only this user can use under the system's temporary folder."""
    getuid = getattr(os, "getuid", None)
    stable = Path(tempfile.gettempdir()) / f"endplate-{getuid() if getuid else 'user'}"
    try:
        stable.mkdir(mode=0o700, exist_ok=True)
        st = stable.lstat()
        mine = getuid is None or st.st_uid == getuid()
        if stable.is_dir() and not stable.is_symlink() and mine and _usable(stable) is None:
            return stable
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="endplate-"))


def user_data_dir() -> Path:
    """Per-user data folder: ``$ENDPLATE_HOME`` or ``$XDG_DATA_HOME/endplate``; a private
    temporary folder when that one cannot be used (see :func:`home_warning`)."""
    global _fallback
    base = _wanted_dir()
    if _fallback is not None and _fallback[0] == str(base):
        return _fallback[1]
    problem = _usable(base)
    if problem is None:
        return base
    used = _private_temp_dir()
    message = (
        f"endplate: warning: the data folder {base} cannot be used ({problem}); settings, the log "
        f"and autosave go to {used} for this session."
    )
    _fallback = (str(base), used, message)
    print(message, file=sys.stderr)  # the log is written once it is configured (_configure)
    return used


def home_warning() -> str | None:
    """The sentence said when the data folder had to be replaced by a temporary one."""
    if _fallback is None or _fallback[0] != str(_wanted_dir()):
        return None
    return _fallback[2]


def log_path() -> Path:
    path = user_data_dir() / "endplate.log"
    _configure(path)
    return path


class _QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written is not worth a traceback on the user's terminal."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Library warnings about a file's encoding go to the log; any other warning as usual."""
    if any(part in filename for part in _LOGGED_WARNING_SOURCES):
        logging.getLogger("endplate.dicom").info("%s: %s", category.__name__, message)
        return
    _original_showwarning(message, category, filename, lineno, file, line)


def _configure(path: Path) -> None:
    """Point the "endplate" logger's file handler at ``path`` (once per distinct path)."""
    global _handler, _handler_path
    if _handler_path == path:
        return
    logger = logging.getLogger("endplate")
    library: list[logging.Logger] = [logging.getLogger("pydicom")]
    if _handler is not None:
        for each in (logger, *library):
            each.removeHandler(_handler)
        _handler.close()
    handler: logging.Handler = _QuietFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for each in (logger, *library):
        each.addHandler(handler)
    logger.setLevel(logging.INFO)
    _handler, _handler_path = handler, path
    route_library_warnings()
    if (said := home_warning()) is not None:
        logger.warning(said)


def route_library_warnings() -> None:
    """Send the DICOM library's ``warnings.warn`` to the log (idempotent)."""
    warnings.showwarning = _showwarning
