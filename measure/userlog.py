"""Where Endplate keeps per-user files (log, demo case, recovery), and the log itself.

The log holds full tracebacks so that the user only ever sees one readable sentence.
``ENDPLATE_HOME`` overrides the folder (tests point it at a temporary directory).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

_configured = False


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
    global _configured
    if _configured:
        return
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("endplate")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    _configured = True
