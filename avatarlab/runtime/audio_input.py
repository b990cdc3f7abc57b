"""The check every live audio stage applies to an incoming chunk: 16 kHz float32 mono, finite."""

from __future__ import annotations

import numpy as np


def mono_chunk(samples: np.ndarray, stage: str) -> np.ndarray:
    """`samples` if it is a 1-D float32 array of finite values, else a ValueError naming `stage` and the fix."""
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"{stage}: audio must be a numpy array, not {type(samples).__name__}")
    if samples.ndim != 1:
        raise ValueError(
            f"{stage}: audio must be mono, a 1-D array, not shape {samples.shape} (mix channels down first, "
            "e.g. samples.mean(axis=1))"
        )
    if samples.dtype != np.float32:
        raise ValueError(f"{stage}: audio must be float32 in [-1, 1], not {samples.dtype} (int16 PCM: samples / 32768)")
    if not np.isfinite(samples).all():
        raise ValueError(f"{stage}: audio contains NaN or infinite samples")
    return samples
