"""The statistics of a clinical series' results table: description, paired changes, rates.

Plain functions of lists of numbers (numpy, scipy.stats), so that the cohort report and its
tests share nothing but the definitions:

* :func:`describe`: n, mean, SD (n - 1), median, quartiles (linear interpolation, numpy's
  default) and range;
* :func:`paired`: the mean change over the pairs present at both timepoints, its SD and
  95 % confidence interval (Student t, n - 1 degrees of freedom), the paired t-test and the
  Wilcoxon signed-rank test (scipy, two-sided);
* :func:`wilson`: a proportion with its 95 % Wilson score interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Description:
    n: int
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    min: float | None = None
    max: float | None = None


def describe(values: Sequence[float | None]) -> Description:
    """Summary of the values present (None and NaN are missing, not zero)."""
    x = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return Description(0)
    q1, median, q3 = (float(q) for q in np.percentile(x, [25, 50, 75]))
    return Description(
        n=int(x.size),
        mean=float(x.mean()),
        sd=float(x.std(ddof=1)) if x.size > 1 else None,
        median=median,
        q1=q1,
        q3=q3,
        min=float(x.min()),
        max=float(x.max()),
    )


@dataclass(frozen=True)
class PairedChange:
    """``after - before`` over the pairs present at both (``n`` pairs)."""

    n: int
    mean: float | None = None
    sd: float | None = None
    ci95: tuple[float, float] | None = None
    p_paired_t: float | None = None
    p_wilcoxon: float | None = None


def paired(before: Sequence[float | None], after: Sequence[float | None]) -> PairedChange:
    """The change from ``before`` to ``after`` (same length, one entry per subject); only
    subjects with both values count.  Tests need n >= 2 and some non-zero difference."""
    from scipy import stats

    if len(before) != len(after):
        raise ValueError("paired values need one 'before' and one 'after' per subject")
    pairs = [
        (b, a)
        for b, a in zip(before, after, strict=True)
        if b is not None and a is not None and math.isfinite(b) and math.isfinite(a)
    ]
    if not pairs:
        return PairedChange(0)
    b = np.array([p[0] for p in pairs], dtype=float)
    a = np.array([p[1] for p in pairs], dtype=float)
    d = a - b
    n = int(d.size)
    mean = float(d.mean())
    if n < 2:
        return PairedChange(n, mean)
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    p_t = p_w = None
    if np.any(d != 0):
        p_t = float(stats.ttest_rel(a, b).pvalue) if sd > 0 else 0.0
        p_w = float(stats.wilcoxon(a, b).pvalue)
    return PairedChange(n, mean, sd, (mean - half, mean + half), p_t, p_w)


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its 95 % Wilson score interval."""

    k: int
    n: int
    proportion: float | None
    ci95: tuple[float, float] | None


def wilson(k: int, n: int, z: float = 1.959963984540054) -> Rate:
    """Proportion k/n and its Wilson score interval (defined for k = 0 and k = n too)."""
    if n <= 0:
        return Rate(k, n, None, None)
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Rate(k, n, p, (max(0.0, centre - half), min(1.0, centre + half)))
