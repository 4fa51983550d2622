"""Loaded volumes kept in memory within a budget, each loaded once and shared.

Viewers, thumbnails and analyses of one series all read the same array: loading a
600-slice CT takes seconds and 300 MiB, so it is done once, on first use.  A follow-up
case opens several such series (and their sagittal reformats), so the cache keeps them
within a memory budget: the least recently used volumes are dropped first (they load
again when asked for), and a volume that alone exceeds the budget is refused before
anything is read, in a sentence, instead of running the machine out of memory.

Sizes are in MB of 2**20 bytes.  The default budget is half the physical memory, or
``ENDPLATE_VOLUME_BUDGET_MB`` when that is set and smaller.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from numpy.typing import NDArray

from dicomio.model import SeriesStack
from dicomio.pixels import CancelCallback, ProgressCallback, load_volume, output_dtype

#: Environment variable that lowers the default budget (megabytes of 2**20 bytes).
BUDGET_ENV = "ENDPLATE_VOLUME_BUDGET_MB"
#: Physical memory assumed when the system does not report it (e.g. no ``os.sysconf``).
FALLBACK_PHYSICAL_MEMORY_BYTES = 8 << 30
MB = 1 << 20


class MemoryBudgetError(ValueError):
    """One volume alone is larger than the cache's memory budget; nothing was loaded."""


def physical_memory_bytes() -> int:
    """Installed RAM from ``os.sysconf``, else :data:`FALLBACK_PHYSICAL_MEMORY_BYTES`."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return FALLBACK_PHYSICAL_MEMORY_BYTES
    if pages <= 0 or page_size <= 0:
        return FALLBACK_PHYSICAL_MEMORY_BYTES
    return int(pages) * int(page_size)


def default_budget_bytes() -> int:
    """Half the physical memory, or :data:`BUDGET_ENV` megabytes when set and smaller.

    Half, because the app needs memory besides the volumes (display buffers, the analysis
    temporaries, Qt) and the reader's other programs keep running.
    """
    half = physical_memory_bytes() // 2
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return half
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise ValueError(
            f"{BUDGET_ENV} is {raw!r}; expected a number of megabytes greater than 0 (e.g. 4096)."
        )
    return min(int(megabytes * MB), half)


def volume_nbytes(stack: SeriesStack) -> int:
    """Bytes of the array :func:`~dicomio.pixels.load_volume` allocates for ``stack``.

    From the geometry's shape and the output dtype that is tried first: a series whose
    values turn out not to fit in int16 is loaded as float32, twice as large.
    """
    dtype, _ = output_dtype(stack)
    return math.prod(stack.geometry.shape) * dtype.itemsize


def _mb(nbytes: int) -> str:
    return f"{nbytes / MB:.1f} MB"


class VolumeCache:
    """Each stack's pixels loaded once, on first use, and kept within ``budget_bytes``.

    Keyed by :attr:`SeriesStack.key` (series UID plus stack index) for loaded stacks and by
    the caller's key for derived volumes (:meth:`get_or_compute`, e.g. a reformat).  The
    arrays are read-only: viewers and analyses share them.  Thread-safe: two threads
    asking for the same key wait for one load.  The budget counts the volumes held, not
    loads in flight in other threads.
    """

    def __init__(
        self,
        loader: Callable[..., NDArray] = load_volume,
        *,
        budget_bytes: int | None = None,
    ) -> None:
        if budget_bytes is not None and budget_bytes <= 0:
            raise ValueError(f"The volume cache's budget must be more than 0 bytes; got {budget_bytes}.")
        self._loader = loader
        self._budget = default_budget_bytes() if budget_bytes is None else int(budget_bytes)
        self._volumes: OrderedDict[str, NDArray] = OrderedDict()  # least recently used first
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def budget_bytes(self) -> int:
        """The most bytes the cached volumes may hold together."""
        return self._budget

    def get(
        self,
        stack: SeriesStack,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> NDArray:
        """The stack's volume, loading it now if it is not held.

        Raises :class:`MemoryBudgetError` before reading anything when the volume alone is
        larger than the budget (:func:`volume_nbytes`).
        """
        volume = self._lookup(stack.key)
        if volume is not None:
            return volume
        nbytes = volume_nbytes(stack)
        n_slices, rows, columns = stack.geometry.shape
        dtype, _ = output_dtype(stack)
        name = f"{stack.description!r} ({stack.key})" if stack.description else stack.key
        what = f"Series {name} needs {_mb(nbytes)} as a {n_slices} x {rows} x {columns} {dtype} volume"
        return self._get(
            stack.key, nbytes, lambda: self._loader(stack, progress=progress, cancel=cancel), what, "loaded"
        )

    def get_or_compute(
        self,
        key: str,
        nbytes: int,
        compute: Callable[[], NDArray],
        *,
        what: str | None = None,
    ) -> NDArray:
        """A derived volume (e.g. a sagittal reformat) held under ``key``, computed if absent.

        ``nbytes`` is the size expected before computing: larger than the budget raises
        :class:`MemoryBudgetError` without calling ``compute``; otherwise least recently
        used volumes are dropped to make room.  ``what`` names the volume in that sentence
        (default: its key).
        """
        label = f"{what or f'The volume {key!r}'} needs {_mb(nbytes)}"
        return self._get(key, nbytes, compute, label, "computed")

    def _get(self, key: str, nbytes: int, produce: Callable[[], NDArray], what: str, verb: str) -> NDArray:
        volume = self._lookup(key)
        if volume is not None:
            return volume
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            volume = self._lookup(key)
            if volume is not None:  # loaded by another thread while this one waited
                return volume
            if nbytes > self._budget:
                raise MemoryBudgetError(
                    f"{what}, more than the memory budget of {_mb(self._budget)} for loaded volumes, "
                    f"so it was not {verb}."
                )
            with self._guard:
                self._evict(nbytes, keep=None)
            volume = produce()
            volume.setflags(write=False)  # shared between viewers and analyses
            with self._guard:
                self._volumes[key] = volume
                self._evict(0, keep=key)
            return volume

    def _lookup(self, key: str) -> NDArray | None:
        """The held volume, marked as the most recently used; None when absent."""
        with self._guard:
            volume = self._volumes.get(key)
            if volume is not None:
                self._volumes.move_to_end(key)
            return volume

    def _evict(self, room_bytes: int, keep: str | None) -> None:
        """Drop least recently used volumes (never ``keep``) until ``room_bytes`` more fit.

        Called with ``_guard`` held.
        """
        held = sum(v.nbytes for v in self._volumes.values())
        for key in list(self._volumes):
            if held + room_bytes <= self._budget:
                return
            if key != keep:
                held -= self._volumes.pop(key).nbytes

    def peek(self, stack_or_key: SeriesStack | str) -> NDArray | None:
        """The held volume without loading it (nor counting as a use); None when absent."""
        key = stack_or_key if isinstance(stack_or_key, str) else stack_or_key.key
        with self._guard:
            return self._volumes.get(key)

    def is_loaded(self, stack_or_key: SeriesStack | str) -> bool:
        key = stack_or_key if isinstance(stack_or_key, str) else stack_or_key.key
        with self._guard:
            return key in self._volumes

    def release(self, stack_or_key: SeriesStack | str) -> None:
        """Forget a volume (memory is freed once no viewer holds the array)."""
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
