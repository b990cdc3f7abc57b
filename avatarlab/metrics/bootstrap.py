"""Percentile bootstrap intervals over frames, resampled in contiguous blocks (neighbouring frames are alike).

A statistic is a function of an index array into the frames; resampling draws ceil(n / block) blocks of
`block` consecutive frames with uniform starts and keeps the first n indices.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
BLOCK = 10
SEED = 0


def block_indices(n: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """[n] frame indices made of contiguous blocks of `block` frames (moving-block bootstrap)."""
    block = max(1, min(block, n))
    starts = rng.integers(0, n - block + 1, size=-(-n // block))
    return (starts[:, None] + np.arange(block)[None]).reshape(-1)[:n]


def usable_block(n: int, block: int = BLOCK) -> int:
    """The block length for n frames: `block`, shortened so that at least five blocks fit."""
    return max(1, min(block, n // 5))


def bootstrap_ci(
    stat: Callable[[np.ndarray], float],
    n: int,
    block: int = BLOCK,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """(low, high) percentile interval of stat(indices) over block resamples of n frames; NaNs when the
    statistic is undefined on (almost) every resample."""
    if n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    size = usable_block(n, block)
    values = np.array([stat(block_indices(n, size, rng)) for _ in range(resamples)], np.float64)
    values = values[np.isfinite(values)]
    if len(values) < resamples // 2:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def mean_ci(values: np.ndarray, **kwargs: int) -> tuple[float, float]:
    """Interval of the mean of per-frame values [T] (NaN entries ignored)."""
    values = np.asarray(values, np.float64)

    def stat(idx: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample of NaN frames only
            return float(np.nanmean(values[idx]))

    return bootstrap_ci(stat, len(values), **kwargs)


def ratio_ci(
    numerator: Callable[[np.ndarray], float], denominator: Callable[[np.ndarray], float], n: int, **kwargs: int
) -> tuple[float, float]:
    """Interval of numerator / denominator, both statistics on the same resampled frames (NaN unless the
    denominator is positive)."""

    def stat(idx: np.ndarray) -> float:
        d = denominator(idx)
        return numerator(idx) / d if np.isfinite(d) and d > 0 else float("nan")

    return bootstrap_ci(stat, n, **kwargs)
