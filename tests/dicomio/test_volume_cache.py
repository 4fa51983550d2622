"""The volume cache: least recently used eviction within a budget, refusals in a sentence,
derived volumes, and a display's sagittal reformat through the cache."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dicomio.display_stack import DisplayStack
from dicomio.model import SeriesStack
from dicomio.pixels import load_volume
from dicomio.scan import scan_paths
from dicomio.synthetic.synth import SeriesSpec, axial_geometry, sagittal_geometry, write_series
from dicomio.volume_cache import MemoryBudgetError, VolumeCache

MB = 2**20


def _block(nbytes: int, fill: int = 0) -> np.ndarray:
    return np.full(nbytes, fill, dtype=np.uint8)


def test_least_recently_used_volumes_are_dropped_first() -> None:
    cache = VolumeCache(budget_bytes=3000)
    for key in ("A", "B", "C"):
        cache.get_or_compute(key, 1000, lambda: _block(1000))
    assert cache.nbytes == 3000
    cache.get_or_compute("A", 1000, lambda: _block(1000))  # a use: A is now the most recent
    cache.get_or_compute("D", 1000, lambda: _block(1000))  # full: B, the least recent, goes
    assert [k for k in "ABCD" if cache.is_loaded(k)] == ["A", "C", "D"]
    cache.get_or_compute("E", 1500, lambda: _block(1500))  # room for 1500: C then A go
    assert [k for k in "ABCDE" if cache.is_loaded(k)] == ["D", "E"]
    assert cache.nbytes == 2500


def test_the_volume_returned_is_never_the_one_dropped() -> None:
    """A volume larger than announced (e.g. reloaded as float32) stays; the others make room."""
    cache = VolumeCache(budget_bytes=3000)
    cache.get_or_compute("A", 1000, lambda: _block(1000))
    cache.get_or_compute("B", 1000, lambda: _block(1000))
    big = cache.get_or_compute("F", 100, lambda: _block(2900, fill=7))
    assert big.nbytes == 2900 and int(big[0]) == 7
    assert [k for k in "ABF" if cache.is_loaded(k)] == ["F"]
    assert cache.nbytes == 2900


def test_get_or_compute_computes_once_and_shares_a_read_only_array() -> None:
    cache = VolumeCache(budget_bytes=10_000)
    calls: list[str] = []

    def compute() -> np.ndarray:
        calls.append("computed")
        return np.arange(12, dtype=np.int16).reshape(2, 2, 3)

    first = cache.get_or_compute("ref#sagittal", 24, compute)
    second = cache.get_or_compute("ref#sagittal", 24, compute)
    assert first is second and calls == ["computed"]
    assert first[1, 1, 2] == 11 and not first.flags.writeable
    cache.release("ref#sagittal")
    assert not cache.is_loaded("ref#sagittal") and cache.nbytes == 0


def test_two_threads_asking_for_one_volume_wait_for_one_computation() -> None:
    cache = VolumeCache(budget_bytes=10_000)
    start = threading.Barrier(2)
    calls: list[str] = []
    got: list[np.ndarray] = []

    def compute() -> np.ndarray:
        calls.append("computed")
        time.sleep(0.2)  # long enough for the other thread to arrive while this one computes
        return _block(100)

    def ask() -> None:
        start.wait()
        got.append(cache.get_or_compute("shared", 100, compute))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["computed"] and got[0] is got[1]


def test_a_derived_volume_over_the_budget_is_refused_before_computing() -> None:
    cache = VolumeCache(budget_bytes=MB)
    calls: list[str] = []

    def compute() -> np.ndarray:
        calls.append("computed")
        return _block(2 * MB)

    with pytest.raises(MemoryBudgetError) as caught:
        cache.get_or_compute("x#sagittal", 2 * MB, compute)
    assert str(caught.value) == (
        "The volume 'x#sagittal' needs 2.0 MB, more than the memory budget of 1.0 MB for loaded "
        "volumes, so it was not computed."
    )
    assert calls == [] and isinstance(caught.value, ValueError)


def _series(folder: Path, spec: SeriesSpec) -> SeriesStack:
    """8 sagittal images of 256 x 512: 2 MiB as int16, 4 MiB as float32."""
    geometry = sagittal_geometry(8, 256, 512, pixel_spacing_mm=(0.5, 0.5))
    values = np.random.default_rng(3).integers(0, 1000, size=geometry.shape).astype(float)
    write_series(folder, values, geometry, spec)
    (stack,) = scan_paths([folder]).stacks
    return stack


def test_a_series_over_the_budget_is_refused_in_a_sentence_before_loading(tmp_path: Path) -> None:
    ct = _series(tmp_path / "ct", SeriesSpec(modality="CT", description="SAG CT", rescale_intercept=-1024))
    mr = _series(tmp_path / "mr", SeriesSpec(modality="MR", description="SAG T2", rescale_slope=0.5))
    loads: list[str] = []

    def loader(stack: SeriesStack, **kwargs: object) -> np.ndarray:
        loads.append(stack.key)
        return load_volume(stack, **kwargs)  # type: ignore[arg-type]

    cache = VolumeCache(loader, budget_bytes=3 * MB)
    assert cache.get(ct).dtype == np.int16 and cache.nbytes == 8 * 256 * 512 * 2  # 2 MiB fits
    with pytest.raises(MemoryBudgetError) as caught:
        cache.get(mr)  # slope 0.5: float32, 4 MiB
    assert str(caught.value) == (
        f"Series 'SAG T2' ({mr.series_uid}) needs 4.0 MB as a 8 x 256 x 512 float32 volume, more than "
        "the memory budget of 3.0 MB for loaded volumes, so it was not loaded."
    )
    assert loads == [ct.key]  # refused before reading a byte; what was held stays
    assert cache.is_loaded(ct) and not cache.is_loaded(mr)


def test_the_default_budget_is_half_the_ram_or_the_smaller_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    half_ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    monkeypatch.delenv("ENDPLATE_VOLUME_BUDGET_MB", raising=False)
    assert VolumeCache().budget_bytes == half_ram
    monkeypatch.setenv("ENDPLATE_VOLUME_BUDGET_MB", "64")
    assert VolumeCache().budget_bytes == 64 * MB
    monkeypatch.setenv("ENDPLATE_VOLUME_BUDGET_MB", "1e12")  # a million terabytes: capped
    assert VolumeCache().budget_bytes == half_ram
    assert VolumeCache(budget_bytes=5000).budget_bytes == 5000  # given: used as is
    monkeypatch.setenv("ENDPLATE_VOLUME_BUDGET_MB", "lots")
    with pytest.raises(ValueError, match=r"ENDPLATE_VOLUME_BUDGET_MB is 'lots'; expected a number"):
        VolumeCache()


# -- a display's reformat through the cache ------------------------------------------------


@pytest.fixture
def axial_ct(tmp_path: Path) -> SeriesStack:
    """9 axial slices of 256 x 128 (0.5 mm pixels, 2 mm apart): 0.56 MiB as int16."""
    geometry = axial_geometry(9, 256, 128, (0.5, 0.5), 2.0)
    values = np.random.default_rng(4).integers(-1000, 1500, size=geometry.shape).astype(float)
    write_series(tmp_path / "ax", values, geometry, SeriesSpec(description="AX CT", rescale_intercept=-1024))
    (stack,) = scan_paths([tmp_path / "ax"]).stacks
    return stack


def test_a_reformat_through_the_cache_has_the_same_voxels_and_is_held_alone(axial_ct: SeriesStack) -> None:
    plain = DisplayStack.for_viewing(axial_ct).volume()
    cache = VolumeCache(budget_bytes=16 * MB)
    display = DisplayStack.for_viewing(axial_ct, cache=cache)
    # Sagittal reformat: 128 slices (left-right), 16 mm / 0.5 mm + 1 = 33 rows, 256 columns.
    assert display.is_reformat and display.geometry.shape == (128, 33, 256)
    cached = display.volume()
    np.testing.assert_array_equal(cached, plain)
    assert cached.dtype == plain.dtype == np.int16
    # The source was loaded for the resampling only: one copy in memory, the reformat.
    assert display.cache_key == axial_ct.key + "#sagittal" and display.is_loaded
    assert not cache.is_loaded(axial_ct)
    assert cache.nbytes == 128 * 33 * 256 * 2
    assert display.volume() is cached
    display.release()
    assert not display.is_loaded and cache.nbytes == 0


def test_a_reformat_uses_the_source_volume_the_cache_holds(axial_ct: SeriesStack, tmp_path: Path) -> None:
    plain = DisplayStack.for_viewing(axial_ct).volume()
    cache = VolumeCache(budget_bytes=16 * MB)
    source = cache.get(axial_ct)
    shutil.move(str(tmp_path / "ax"), str(tmp_path / "gone"))  # reading the files now would fail
    reformat = DisplayStack.for_viewing(axial_ct, cache=cache).volume()
    np.testing.assert_array_equal(reformat, plain)
    assert cache.nbytes == source.nbytes + reformat.nbytes == 9 * 256 * 128 * 2 + 128 * 33 * 256 * 2


def test_a_reformat_over_the_budget_is_refused_naming_the_series(axial_ct: SeriesStack) -> None:
    cache = VolumeCache(budget_bytes=int(1.5 * MB))  # the 0.56 MiB source fits, the 2.06 MiB reformat not
    with pytest.raises(MemoryBudgetError) as caught:
        DisplayStack.for_viewing(axial_ct, cache=cache).volume()
    assert str(caught.value) == (
        f"The sagittal reformat of series 'AX CT' ({axial_ct.series_uid}) needs 2.1 MB, more than the "
        "memory budget of 1.5 MB for loaded volumes, so it was not computed."
    )
    assert cache.nbytes == 0
    own = DisplayStack(axial_ct, cache=cache)  # the acquired axial images fit
    assert own.volume().shape == (9, 256, 128) and cache.is_loaded(axial_ct)


def test_a_source_dropped_to_make_room_for_its_reformat_is_not_read_again(
    axial_ct: SeriesStack, tmp_path: Path
) -> None:
    plain = DisplayStack.for_viewing(axial_ct).volume()
    cache = VolumeCache(budget_bytes=int(2.5 * MB))  # 0.56 MiB source + 2.06 MiB reformat do not fit
    cache.get(axial_ct)
    shutil.move(str(tmp_path / "ax"), str(tmp_path / "gone"))  # reading the files now would fail
    reformat = DisplayStack.for_viewing(axial_ct, cache=cache).volume()
    np.testing.assert_array_equal(reformat, plain)
    assert not cache.is_loaded(axial_ct) and cache.nbytes == reformat.nbytes == 128 * 33 * 256 * 2
