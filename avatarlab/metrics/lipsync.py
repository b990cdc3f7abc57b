"""A lip-sync measure that needs no downloaded network.

The correlation between the audio's loudness envelope and the mouth opening tracked (mediapipe) on
the frames, maximised over small lags (+-`max_lag` frames; speech can lead or trail the lips a
little). Computed on the real video it gives the ceiling the rendered video is compared with.
"""

from __future__ import annotations

import numpy as np


def audio_envelope(samples: np.ndarray, rate: int, num_frames: int, fps: float = 25.0) -> np.ndarray:
    """[num_frames] RMS loudness (dB) of the audio under each video frame."""
    hop = rate / fps
    env = np.empty(num_frames, np.float64)
    for t in range(num_frames):
        chunk = samples[int(round(t * hop)) : int(round((t + 1) * hop))]
        rms = np.sqrt(np.mean(np.square(chunk, dtype=np.float64))) if len(chunk) else 0.0
        env[t] = 20 * np.log10(rms + 1e-4)
    return env


def lagged_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 2) -> float:
    """Max Pearson correlation of a[t] with b[t + lag] over |lag| <= max_lag (NaN entries dropped)."""
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, -lag) : len(a) - max(0, lag)]
        y = b[max(0, lag) : max(0, lag) + len(x)]
        x = x[: len(y)]
        ok = ~(np.isnan(x) | np.isnan(y))
        if ok.sum() < 3 or np.std(x[ok]) < 1e-9 or np.std(y[ok]) < 1e-9:
            continue
        best = max(best, float(np.corrcoef(x[ok], y[ok])[0, 1]))
    return best if best > -1.0 else float("nan")


def lip_sync_score(envelope: np.ndarray, mouth_open: np.ndarray, max_lag: int = 2) -> float:
    """Correlation of loudness and mouth opening (higher is better, at most 1)."""
    return lagged_correlation(envelope, mouth_open, max_lag)
