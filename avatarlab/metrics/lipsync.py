"""Lip-sync measures that need no downloaded network.

The correlation between the audio's loudness envelope and a mouth-opening signal, maximised over
small lags (+-`max_lag` frames; speech can lead or trail the lips a little). Computed on the real
video it gives the ceiling the rendered video is compared with. Two opening signals:

- the inner-lip gap of mediapipe landmarks tracked on the frames (`avatarlab.metrics.landmarks`);
- `mouth_darkness`: how dark the mouth box is (an open mouth shows its dark interior), with the box
  placed by given landmarks, so rendered frames can be read through the real frames' boxes and
  FaceMesh's reading of rendered lips does not enter.

On a short clip of a real speaker these correlations are weak and noisy (loudness says little about a
smiling mouth that shows its teeth between words). `lip_sync_robust` instead compares the mouth's
movement with the real video's under the same audio: the mouth box's luma on a coarse grid, high-passed
in time (syllable-rate movement; smiles, light and drift removed), pooled correlation. The real video
reads 1; frames whose mouth follows other audio (shifted by 200 ms, another sentence) read near 0; a
1 px blur or a JPEG round trip moves it by a few hundredths (coarse cells average them out).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import uniform_filter1d

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


def lagged_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 2, frames: np.ndarray | None = None) -> float:
    """Max Pearson correlation of a[t] with b[t + lag] over |lag| <= max_lag (NaN entries dropped), over the
    frames t in `frames` (all by default; repeats allowed, as in a bootstrap resample)."""
    frames = np.arange(len(a)) if frames is None else np.asarray(frames)
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        t = frames[(frames + lag >= 0) & (frames + lag < len(b)) & (frames < len(a))]
        x, y = a[t], b[t + lag]
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


def mouth_boxes(landmarks: np.ndarray, width_scale: float = 1.5, aspect: float = 0.75) -> np.ndarray:
    """[T, 4] centre x, centre y, width, height (pixels) of a mouth box per frame.

    Centred between the mouth corners of `landmarks` [T, 478, 2+], one size for the whole clip
    (`width_scale` x the median corner distance, height `aspect` x width) so that an opening mouth
    fills more of it; frames without landmarks take the centre interpolated from their neighbours.
    All NaN when no frame has landmarks.
    """
    corners = landmarks[:, [fl.MOUTH_LEFT, fl.MOUTH_RIGHT], :2].astype(np.float64)  # [T, 2, 2]
    found = ~np.isnan(corners).any(axis=(1, 2))
    boxes = np.full((len(landmarks), 4), np.nan)
    if not found.any():
        return boxes
    centre = corners.mean(axis=1)  # [T, 2]
    frames = np.arange(len(landmarks))
    for axis in range(2):
        boxes[:, axis] = np.interp(frames, frames[found], centre[found, axis])
    width = width_scale * float(np.median(np.linalg.norm(corners[found, 0] - corners[found, 1], axis=-1)))
    boxes[:, 2], boxes[:, 3] = width, aspect * width
    return boxes


def mouth_motion(frames: np.ndarray, boxes: np.ndarray, grid: tuple[int, int] = (8, 6), window: int = 9) -> np.ndarray:
    """[T, grid_w * grid_h] the mouth box's luma (0..1) on a coarse grid minus its moving average over
    `window` frames: the mouth's movement at syllable rate. `frames` [T, H, W, 3] RGB uint8, `boxes`
    [T, 4] from `mouth_boxes`."""
    width, height = max(2, int(round(boxes[0, 2]))), max(2, int(round(boxes[0, 3])))
    cells = np.stack(
        [
            cv2.resize(
                cv2.getRectSubPix(image.astype(np.float32) @ LUMA / 255.0, (width, height), (float(x), float(y))),
                grid,
                interpolation=cv2.INTER_AREA,
            ).reshape(-1)
            for image, (x, y, _, _) in zip(frames, boxes)
        ]
    )  # [T, cells]
    return cells - uniform_filter1d(cells, size=window, axis=0, mode="nearest")


def motion_agreement(a: np.ndarray, b: np.ndarray, max_lag: int = 1, frames: np.ndarray | None = None) -> float:
    """Max over |lag| <= max_lag of the pooled correlation sum(a[t] b[t+lag]) / sqrt(sum a^2 sum b^2) of two
    `mouth_motion` arrays [T, C], over the frames t in `frames` (all by default). NaN when either is still."""
    frames = np.arange(len(a)) if frames is None else np.asarray(frames)
    best = float("nan")
    for lag in range(-max_lag, max_lag + 1):
        t = frames[(frames + lag >= 0) & (frames + lag < len(b)) & (frames < len(a))]
        x, y = a[t], b[t + lag]
        norm = float(np.sqrt(np.square(x).sum() * np.square(y).sum()))
        if len(t) >= 3 and norm > 1e-12:
            value = float((x * y).sum() / norm)
            best = value if np.isnan(best) else max(best, value)
    return best


def lip_sync_robust(frames: np.ndarray, real_frames: np.ndarray, landmarks: np.ndarray) -> float:
    """Agreement of the mouth's movement in `frames` [T, H, W, 3] with the real video's `real_frames` under
    the same audio, both read in the mouth boxes of the real frames' `landmarks` [T, 478, 2+]; 1 for the
    real video itself."""
    boxes = mouth_boxes(landmarks)
    if np.isnan(boxes).any() or len(frames) < 3:
        return float("nan")
    return motion_agreement(mouth_motion(frames, boxes), mouth_motion(real_frames, boxes))
