"""Where Endplate keeps per-user files (log, demo case, recovery), and the log itself.

The log holds full tracebacks so that the user only ever sees one readable sentence.
``ENDPLATE_HOME`` overrides the folder (tests point it at a temporary directory).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

_handler: logging.Handler | None = None
_handler_path: Path | None = None


def user_data_dir() -> Path:
    """Per-user data folder: ``$ENDPLATE_HOME`` or ``$XDG_DATA_HOME/endplate``."""
    env = os.environ.get("ENDPLATE_HOME")
    if env:
        base = Path(env)
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".local" / "share") / "endplate"
    base.mkdir(parents=True, exist_ok=True)
    return base


def log_path() -> Path:
    path = user_data_dir() / "endplate.log"
    _configure(path)
    return path


def _configure(path: Path) -> None:
    """Point the "endplate" logger's file handler at ``path`` (once per distinct path)."""
    global _handler, _handler_path
    if _handler_path == path:
        return
    logger = logging.getLogger("endplate")
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler.close()
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    _handler, _handler_path = handler, path
