"""Loaded volumes kept in memory, each stack's pixels loaded once and shared.

Viewers, thumbnails and analyses of one series all read the same array: loading a
600-slice CT takes seconds and 300 MiB, so it is done once, on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from numpy.typing import NDArray

from dicomio.model import SeriesStack
from dicomio.pixels import CancelCallback, ProgressCallback, load_volume


class VolumeCache:
    """Each stack's pixels loaded once, on first use, and kept until released.

    Thread-safe: two threads asking for the same stack wait for one load.  Keyed by
    :attr:`SeriesStack.key` (series UID plus stack index).
    """

    def __init__(self, loader: Callable[..., NDArray] = load_volume) -> None:
        self._loader = loader
        self._volumes: dict[str, NDArray] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(
        self,
        stack: SeriesStack,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> NDArray:
        """The stack's volume, loading it now if this is the first request."""
        key = stack.key
        with self._guard:
            volume = self._volumes.get(key)
            if volume is not None:
                return volume
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                volume = self._volumes.get(key)
            if volume is None:
                volume = self._loader(stack, progress=progress, cancel=cancel)
                volume.setflags(write=False)  # shared between viewers and analyses
                with self._guard:
                    self._volumes[key] = volume
            return volume

    def is_loaded(self, stack_or_key: SeriesStack | str) -> bool:
        key = stack_or_key if isinstance(stack_or_key, str) else stack_or_key.key
        with self._guard:
            return key in self._volumes

    def release(self, stack_or_key: SeriesStack | str) -> None:
        """Forget a stack's volume (memory is freed once no viewer holds the array)."""
        key = stack_or_key if isinstance(stack_or_key, str) else stack_or_key.key
        with self._guard:
            self._volumes.pop(key, None)
            self._locks.pop(key, None)

    def clear(self) -> None:
        with self._guard:
            self._volumes.clear()
            self._locks.clear()

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached volumes."""
        with self._guard:
            return sum(v.nbytes for v in self._volumes.values())
