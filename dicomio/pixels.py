"""Pixel loading: a stack's frames decoded into one preallocated (slices, rows, columns) array.

The scan (:mod:`dicomio.scan`) reads headers only; pixels are read here, once, when a
series is first shown or analysed (and kept by :class:`dicomio.volume_cache.VolumeCache`);
the errors raised are in :mod:`dicomio.pixel_errors`.  What the caller gets:

* ``volume[k]`` is ``stack.frames[k]`` (slice ``k`` of ``stack.geometry``), whatever the
  file or frame order on disk.
* Values are in output units: ``stored * RescaleSlope + RescaleIntercept``, per frame
  when frames differ (``FrameRef.rescale_slope``), so CT is in Hounsfield units.
* **Bright = high for every series.**  MONOCHROME1 images (low value shown white) are
  inverted on load: the stored value ``s`` becomes ``lo + hi - s`` before rescaling, where
  ``lo..hi`` is the range that BitsStored allows (the bitwise inverse within BitsStored,
  as :func:`dicomio.synthetic.synth.invert_monochrome1` writes it).  Edema analysis relies on this:
  a hyperintense STIR body has higher numbers than normal marrow.
* dtype ``int16`` when every slope and intercept is an integer and the whole stored range
  maps into int16 (CT in HU, most MR), else ``float32``.

Memory stays near the size of the output: the array is allocated once, native frames are
read from disk straight into their slot (``readinto`` at ``FrameRef.pixel_offset``), and
no dataset is kept.  Files are read in parallel threads (file reads and numpy release
the GIL).  Compressed frames (JPEG, JPEG-LS, JPEG 2000, RLE) go through pydicom 3's
decoders, one frame at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.pixels import iter_pixels
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from dicomio.dicom_bytes import _read_pixel_element, _Skip, read_bounded_header
from dicomio.model import FrameRef, PixelFormat, SeriesStack
from dicomio.pixel_errors import (
    _NATIVE_SYNTAXES,
    DecodeBudgetError,
    DecoderMissingError,
    LoadCancelledError,
    PixelDecodeError,
    _package_for,
    _syntax_label,
    _where,
    budget_problem,
    check_decoder,
    pixel_format_problem,
)

ProgressCallback = Callable[[int, int], None]
CancelCallback = Callable[[], bool]
_Task = tuple[Path, list[tuple[int, FrameRef]]]

#: Frames per decoding thread at least (see :func:`_load`): bounds the frames in flight.
_FRAMES_PER_DECODER = 20

#: Pixels per block when rescaling into float32 (bounds the float64 temporaries).
_FLOAT_BLOCK_PIXELS = 1 << 15

_INT16 = np.iinfo(np.int16)


class _NotInt16Error(Exception):
    """A frame's values do not fit in int16: the load restarts as float32."""


# -- output format -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to turn one stored frame into its output slot."""

    fmt: PixelFormat
    syntax: UID
    rows: int
    columns: int
    file_dtype: np.dtype  # stored dtype as in the file (byte order included)
    stored_dtype: np.dtype  # the same in native byte order
    frame_nbytes: int
    out_dtype: np.dtype
    check_range: bool  # int16 output whose values must be checked frame by frame
    stored_lo: int
    stored_hi: int
    invert: bool

    @property
    def native(self) -> bool:
        return self.syntax in _NATIVE_SYNTAXES


def stored_range(fmt: PixelFormat) -> tuple[int, int]:
    """(lowest, highest) stored value that BitsStored and PixelRepresentation allow."""
    bits = fmt.bits_stored
    if fmt.pixel_representation == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def frame_rescales(stack: SeriesStack) -> list[tuple[float, float]]:
    """(slope, intercept) of every frame: its own when set, else the stack's."""
    fmt = stack.pixel_format
    return [
        (
            fmt.rescale_slope if f.rescale_slope is None else float(f.rescale_slope),
            fmt.rescale_intercept if f.rescale_intercept is None else float(f.rescale_intercept),
        )
        for f in stack.frames
    ]


def output_dtype(stack: SeriesStack) -> tuple[np.dtype, bool]:
    """(dtype to try, whether the values must be checked while loading).

    int16 is tried when every frame's slope and intercept are integers.  When the whole
    stored range that BitsStored allows maps into int16 no check is needed; otherwise
    (e.g. CT with BitsStored 16 and intercept -1024, whose real values always fit) each
    frame's actual values are checked and the load restarts as float32 if one does not fit.
    """
    lo, hi = stored_range(stack.pixel_format)
    guaranteed = True
    for slope, intercept in frame_rescales(stack):
        if not (float(slope).is_integer() and float(intercept).is_integer()):
            return np.dtype(np.float32), False
        ends = (slope * lo + intercept, slope * hi + intercept)
        if min(ends) < _INT16.min or max(ends) > _INT16.max:
            guaranteed = False
    return np.dtype(np.int16), not guaranteed


def _plan(stack: SeriesStack, force_float: bool = False) -> _Plan:
    fmt = stack.pixel_format
    where = f"series {stack.series_uid} ({stack.description or 'no description'})"
    problem = pixel_format_problem(fmt)
    if problem is not None:
        raise ValueError(f"{where} has {problem}.")
    if len(stack.frames) != len(stack.geometry.slices):
        raise ValueError(
            f"{where} has {len(stack.frames)} frames but its geometry has "
            f"{len(stack.geometry.slices)} slices; expected one frame per slice."
        )
    syntax = UID(fmt.transfer_syntax_uid)
    if syntax not in _NATIVE_SYNTAXES:  # native frames need no decoder (and no file list)
        check_decoder(fmt.transfer_syntax_uid, _where(stack))
    big_endian = fmt.big_endian or syntax == ExplicitVRBigEndian
    kind = "i" if fmt.pixel_representation == 1 else "u"
    stored = np.dtype(f"{kind}{fmt.bits_allocated // 8}")
    lo, hi = stored_range(fmt)
    _, rows, columns = stack.geometry.shape
    out_dtype, check_range = output_dtype(stack)
    if force_float:
        out_dtype, check_range = np.dtype(np.float32), False
    nbytes = len(stack.frames) * rows * columns * out_dtype.itemsize
    too_big = budget_problem(nbytes, f"{where}, {len(stack.frames)} x {rows} x {columns} pixels,")
    if too_big is not None:
        raise DecodeBudgetError(f"{too_big}.")
    return _Plan(
        fmt=fmt,
        syntax=syntax,
        rows=rows,
        columns=columns,
        file_dtype=stored.newbyteorder(">" if big_endian else "<"),
        stored_dtype=stored,
        frame_nbytes=rows * columns * stored.itemsize,
        out_dtype=out_dtype,
        check_range=check_range,
        stored_lo=lo,
        stored_hi=hi,
        invert=fmt.photometric == "MONOCHROME1",
    )


def _wrap16(value: float) -> int:
    """``value`` modulo 2**16 as an int16 number: int16 arithmetic wraps the same way."""
    return ((int(value) + 0x8000) & 0xFFFF) - 0x8000


def _finish_frame(plan: _Plan, raw: NDArray, slot: NDArray, slope: float, intercept: float) -> None:
    """Write ``raw`` (stored values, native order) into ``slot`` in output units.

    ``raw`` may be a view of ``slot`` (native frames read in place).  For int16 output
    the arithmetic is done in int16: it wraps modulo 2**16, and since the final value is
    known to fit in int16 (see :func:`output_dtype`) the result is exact.
    """
    if plan.out_dtype == np.int16:
        if plan.check_range and raw.size:
            _check_int16(plan, raw, slope, intercept)
        if not np.may_share_memory(raw, slot):
            np.copyto(slot, raw, casting="unsafe")
        if plan.invert:
            np.subtract(_wrap16(plan.stored_lo + plan.stored_hi), slot, out=slot)
        if slope != 1:
            np.multiply(slot, _wrap16(slope), out=slot)
        if intercept != 0:
            np.add(slot, _wrap16(intercept), out=slot)
        return
    flat_raw = raw.reshape(-1)
    flat_out = slot.reshape(-1)
    for start in range(0, flat_raw.size, _FLOAT_BLOCK_PIXELS):
        block = flat_raw[start : start + _FLOAT_BLOCK_PIXELS].astype(np.float64)
        if plan.invert:
            block = (plan.stored_lo + plan.stored_hi) - block
        block *= slope
        block += intercept
        flat_out[start : start + _FLOAT_BLOCK_PIXELS] = block


def _check_int16(plan: _Plan, raw: NDArray, slope: float, intercept: float) -> None:
    """Raise :class:`_NotInt16Error` when a value of ``raw`` leaves int16 once rescaled.

    Only the ends of the data that could leave int16 (given the stored range) are
    measured: a CT with intercept -1024 needs the minimum only (one pass, not two).
    """
    lo, hi = plan.stored_lo, plan.stored_hi

    def fits(value: float) -> bool:
        return _INT16.min <= slope * value + intercept <= _INT16.max

    # an end of the stored range that fits needs no measuring: the data lies inside it
    measure_low, measure_high = not fits(lo), not fits(hi)
    if plan.invert:  # s' = lo + hi - s: the low end of s' is the high end of raw
        low = lo + hi - int(raw.max()) if measure_low else lo
        high = lo + hi - int(raw.min()) if measure_high else hi
    else:
        low = int(raw.min()) if measure_low else lo
        high = int(raw.max()) if measure_high else hi
    if not (fits(low) and fits(high)):
        raise _NotInt16Error


def _correct_unused_bits(plan: _Plan, raw: NDArray) -> None:
    """Drop whatever sits in the bits above BitsStored (sign-extending signed data): one
    mask for unsigned data, a shift up and back for signed."""
    shift = plan.fmt.bits_allocated - plan.fmt.bits_stored
    if not shift:
        return
    if raw.dtype.kind == "u":
        np.bitwise_and(raw, (1 << plan.fmt.bits_stored) - 1, out=raw)
        return
    np.left_shift(raw, shift, out=raw)
    np.right_shift(raw, shift, out=raw)


# -- reading native frames -----------------------------------------------------------------


def _locate_native_pixels(fh: BinaryIO, path: Path, syntax: UID) -> int:
    """File offset of the first Pixel Data byte, when the scan did not record it.

    The element header is parsed the way the scan parses it (:mod:`dicomio.dicom_bytes`).
    """
    fh.seek(0)
    try:
        read_bounded_header(fh)
        element = _read_pixel_element(
            fh, implicit=syntax == ImplicitVRLittleEndian, little=syntax != ExplicitVRBigEndian
        )
    except _Skip:  # the file ends inside the element header, or its header grew past the cap
        element = None
    if element is None or element.keyword != "PixelData":
        raise PixelDecodeError(f"{path}: no Pixel Data element was found after the header.")
    return element.value_offset


def _read_native(
    plan: _Plan,
    path: Path,
    items: Sequence[tuple[int, FrameRef]],
    out: NDArray,
    rescales: Sequence[tuple[float, float]],
    stop: threading.Event,
) -> int:
    same_size = plan.stored_dtype.itemsize == plan.out_dtype.itemsize
    buffer = None if same_size else np.empty((plan.rows, plan.columns), dtype=plan.file_dtype)
    value_offset: int | None = None
    with open(path, "rb", buffering=0) as fh:
        for slot_index, ref in items:
            if stop.is_set():
                return 0
            offset = ref.pixel_offset
            if offset is None:
                if value_offset is None:
                    value_offset = _locate_native_pixels(fh, path, plan.syntax)
                offset = value_offset + (ref.frame_index or 0) * plan.frame_nbytes
            slot = out[slot_index]
            target = slot.view(plan.file_dtype) if same_size else buffer
            assert target is not None
            fh.seek(offset)
            got = fh.readinto(target.data.cast("B"))
            if got != plan.frame_nbytes:
                raise PixelDecodeError(
                    f"{path}: {_frame_label(ref)} is cut short: {got} of {plan.frame_nbytes} pixel bytes "
                    f"could be read at offset {offset}; the file is truncated."
                )
            if plan.file_dtype != plan.stored_dtype:  # big endian file
                target.byteswap(inplace=True)
            raw = target.view(plan.stored_dtype)
            _correct_unused_bits(plan, raw)
            _finish_frame(plan, raw, slot, *rescales[slot_index])
    return len(items)


# -- decoding compressed (or deflated) frames --------------------------------------------------


def _frame_label(ref: FrameRef) -> str:
    return "the image" if ref.frame_index is None else f"frame {ref.frame_index + 1}"


def _decode(
    plan: _Plan,
    path: Path,
    items: Sequence[tuple[int, FrameRef]],
    out: NDArray,
    rescales: Sequence[tuple[float, float]],
    stop: threading.Event,
) -> int:
    """Decode the listed frames of one file, one frame at a time, into their slots."""
    indices = [ref.frame_index or 0 for _, ref in items]
    done = 0
    with open(path, "rb") as fh:
        frames = iter_pixels(fh, indices=indices, raw=True)
        try:
            for slot_index, ref in items:
                if stop.is_set():
                    return done
                arr = _next_frame(plan, path, ref, frames)
                if arr.dtype != plan.stored_dtype:
                    arr = arr.astype(plan.stored_dtype, copy=False)
                _finish_frame(plan, arr, out[slot_index], *rescales[slot_index])
                done += 1
        finally:
            # Close the generator before the file: when finished it seeks the file.
            getattr(frames, "close", lambda: None)()
    return done


def _next_frame(plan: _Plan, path: Path, ref: FrameRef, frames: Iterator[NDArray]) -> NDArray:
    """The next decoded frame, with decoder failures turned into sentences."""
    what = f"{path}: {_frame_label(ref)}"
    try:
        arr = next(frames)
    except StopIteration:
        raise PixelDecodeError(f"{what} is missing from the compressed pixel data.") from None
    except Exception as exc:  # a decoder plugin may raise anything on corrupt data
        if "missing dependencies" in str(exc):
            raise DecoderMissingError(
                f"No decoder is installed for transfer syntax {_syntax_label(plan.syntax)}; "
                f"install {_package_for(plan.syntax)} to read {path}."
            ) from exc
        raise PixelDecodeError(f"{what} could not be decoded as {_syntax_label(plan.syntax)}: {exc}") from exc
    if arr.shape != (plan.rows, plan.columns):
        raise PixelDecodeError(
            f"{what} decoded to shape {arr.shape}; expected {plan.rows} x {plan.columns} "
            "(Rows x Columns) single-sample pixels."
        )
    return arr


def _decode_deflated(
    plan: _Plan,
    path: Path,
    items: Sequence[tuple[int, FrameRef]],
    out: NDArray,
    rescales: Sequence[tuple[float, float]],
    stop: threading.Event,
) -> int:
    """Deflated files have no usable file offsets: inflate the dataset, then take frames."""
    try:
        ds = pydicom.dcmread(path)
        frames = ds.pixel_array
    except Exception as exc:
        raise PixelDecodeError(f"{path}: the deflated pixel data could not be read: {exc}") from exc
    frames = frames.reshape(-1, plan.rows, plan.columns)
    for slot_index, ref in items:
        if stop.is_set():
            return 0
        _finish_frame(plan, frames[ref.frame_index or 0], out[slot_index], *rescales[slot_index])
    return len(items)


# -- public API ---------------------------------------------------------------------------------


def default_workers(native: bool = False) -> int:
    """Threads for reading pixels: for native frames one per core, for decoding twice the
    cores; at most 8.

    Reading native frames releases the GIL, and so do numpy's rescale and the page faults
    of the new volume: more threads than cores only queue.  Measured on 2 cores (600 x
    512^2 CT, warm, issue 15), quiet: 1 thread 0.10-0.12 s, 2 threads 0.085-0.09 s, 4
    threads 0.09-0.11 s; busy (load 5): 1 thread 0.34-1.18 s, 2 threads 0.30-0.54 s, 4
    threads 0.22-0.60 s.  Decoders wait on the disk as much as on the CPU (not re-measured).
    """
    cores = os.cpu_count() or 1
    return max(1, min(8, cores if native else 2 * cores))


#: Batches per worker thread (see :func:`_batches`): enough to balance the threads, few
#: enough that waiting on them costs the calling thread little.
_BATCHES_PER_WORKER = 4


def _tasks(stack: SeriesStack, n_workers: int) -> list[_Task]:
    """Frames grouped by file (one open per file); big multi-frame files split in chunks."""
    by_path: dict[Path, list[tuple[int, FrameRef]]] = {}
    for k, ref in enumerate(stack.frames):
        by_path.setdefault(ref.path, []).append((k, ref))
    tasks: list[_Task] = []
    for path, items in by_path.items():
        items.sort(key=lambda item: item[1].frame_index or 0)  # read/decode in file order
        n_chunks = min(n_workers, max(1, len(items) // 4)) if len(by_path) < n_workers else 1
        size = -(-len(items) // n_chunks)
        tasks.extend((path, items[i : i + size]) for i in range(0, len(items), size))
    return tasks


def _batches(tasks: list[_Task], n_workers: int) -> list[list[_Task]]:
    """Consecutive tasks in a few batches per thread, each batch one job of the pool.

    One job per file made the calling thread's ``wait`` walk every pending future each time
    one finished (600 files: ~250 walks over hundreds of futures, holding the GIL the
    readers need); a handful of batches keeps that cost flat (issue 15).
    """
    n_batches = max(1, min(len(tasks), n_workers * _BATCHES_PER_WORKER))
    size = -(-len(tasks) // n_batches)
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def load_volume(
    stack: SeriesStack,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> NDArray:
    """Decode every frame of ``stack`` into a new ``(slices, rows, columns)`` array.

    ``volume[k]`` is ``stack.frames[k]``; values are rescaled (CT in HU) and MONOCHROME1 is
    inverted so that bright = high (see the module docstring).  ``progress(done, total)``
    (frames) is called from the calling thread; ``cancel()`` is polled between frames and
    raises :class:`LoadCancelledError` once it returns True.

    Raises :class:`DecodeBudgetError` (before allocating anything) when the volume would
    exceed the decode budget (:func:`dicomio.pixel_errors.decode_budget_bytes`),
    :class:`DecoderMissingError` when no decoder is installed for the transfer syntax,
    :class:`PixelDecodeError` naming the file and frame that cannot be read, and
    ``ValueError`` for pixel formats Endplate does not read (colour, 1-bit).
    """
    plan = _plan(stack)
    try:
        return _load(stack, plan, workers, progress, cancel)
    except _NotInt16Error:
        # Rare: integral rescale but values beyond int16 (e.g. unsigned 16-bit MR).
        return _load(stack, _plan(stack, force_float=True), workers, progress, cancel)


def _load(
    stack: SeriesStack,
    plan: _Plan,
    workers: int | None,
    progress: ProgressCallback | None,
    cancel: CancelCallback | None,
) -> NDArray:
    # numpy's allocator: huge pages for a large volume (measured against 4 KB pages on a
    # quiet 2-core machine: 600 x 512^2 load 0.26 s vs 0.38 s, issue 15)
    out = np.empty(stack.geometry.shape, dtype=plan.out_dtype)
    rescales = frame_rescales(stack)
    n_workers = max(1, workers if workers is not None else default_workers(plan.native))
    if not plan.native:
        # While pydicom decodes a frame a worker holds about 3.5 frames (compressed bytes,
        # decoded bytes, arrays; measured): one worker per _FRAMES_PER_DECODER frames keeps
        # the peak near 1.2x the volume (docs/performance.md).
        n_workers = min(n_workers, max(1, len(stack.frames) // _FRAMES_PER_DECODER))
    if plan.native:
        reader = _read_native
    elif plan.syntax == DeflatedExplicitVRLittleEndian:
        reader = _decode_deflated
    else:
        reader = _decode
    tasks = _tasks(stack, n_workers)
    total = len(stack.frames)
    stop = threading.Event()
    lock = threading.Lock()
    counted = [0]  # frames finished by the workers so far (under ``lock``)

    def work(batch: list[_Task]) -> int:
        done_here = 0
        for path, items in batch:
            if stop.is_set() or (cancel is not None and cancel()):
                stop.set()
                return done_here
            try:
                n = reader(plan, path, items, out, rescales, stop)
            except OSError as exc:
                raise PixelDecodeError(
                    f"{path}: the file could not be read ({exc.strerror or exc}); it was moved, deleted "
                    "or is unreadable since the folder was scanned."
                ) from exc
            done_here += n
            with lock:
                counted[0] += n
        return done_here

    if progress is not None:
        progress(0, total)
    done = 0
    reported = 0
    n_threads = min(n_workers, len(tasks))
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="pixels") as pool:
        pending: set[Future[int]] = {pool.submit(work, batch) for batch in _batches(tasks, n_threads)}
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.05, return_when="FIRST_COMPLETED")
                for future in finished:
                    done += future.result()  # re-raises a worker's error here
                with lock:
                    so_far = counted[0]
                if progress is not None and so_far > reported:
                    reported = so_far
                    progress(so_far, total)
                if cancel is not None and cancel():
                    stop.set()
        except BaseException:
            stop.set()
            for future in pending:
                future.cancel()
            raise
    if stop.is_set():
        raise LoadCancelledError(
            f"Loading series {stack.series_uid} was cancelled after {done} of {total} images."
        )
    return out
