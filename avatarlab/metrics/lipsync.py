"""Lip-sync measures that need no downloaded network.

The correlation between the audio's loudness envelope and a mouth-opening signal, maximised over
small lags (+-`max_lag` frames; speech can lead or trail the lips a little). Computed on the real
video it gives the ceiling the rendered video is compared with. Two opening signals:

- the inner-lip gap of mediapipe landmarks tracked on the frames (`avatarlab.metrics.landmarks`);
- `mouth_darkness`: how dark the mouth box is (an open mouth shows its dark interior), with the box
  placed by given landmarks, so rendered frames can be read through the real frames' boxes and
  FaceMesh's reading of rendered lips does not enter.
"""

from __future__ import annotations

import numpy as np

from avatarlab.data import face_landmarks as fl

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


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


def mouth_darkness(frames: np.ndarray, landmarks: np.ndarray, width_fraction: float = 0.7) -> np.ndarray:
    """[T] darkness (1 - mean luma / 255) of the mouth box of each RGB frame [T, H, W, 3].

    The box spans the outer lip loop of `landmarks` [T, 478, 2+] (pixels) vertically and the central
    `width_fraction` of the mouth corners' span horizontally; NaN where landmarks are missing.
    """
    out = np.full(len(frames), np.nan)
    height, width = frames.shape[1:3]
    for t, (image, points) in enumerate(zip(frames, landmarks)):
        if np.isnan(points[fl.LIPS_OUTER_LOOP + [fl.MOUTH_LEFT, fl.MOUTH_RIGHT], :2]).any():
            continue
        left, right = points[fl.MOUTH_LEFT, 0], points[fl.MOUTH_RIGHT, 0]
        centre, half = (left + right) / 2, abs(right - left) * width_fraction / 2
        outer = points[fl.LIPS_OUTER_LOOP, 1]
        x0, x1 = max(0, int(np.floor(centre - half))), min(width, int(np.ceil(centre + half)) + 1)
        y0, y1 = max(0, int(np.floor(outer.min()))), min(height, int(np.ceil(outer.max())) + 1)
        if x1 > x0 and y1 > y0:
            out[t] = 1.0 - float((image[y0:y1, x0:x1].astype(np.float32) @ LUMA).mean()) / 255.0
    return out
