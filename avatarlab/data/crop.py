"""A square crop that follows the face smoothly."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d


def face_boxes(landmarks: np.ndarray) -> np.ndarray:
    """[T, 3] centre x, centre y and size (larger side of the landmark box) per frame."""
    low, high = landmarks[..., :2].min(1), landmarks[..., :2].max(1)
    centre = (low + high) / 2
    return np.concatenate([centre, (high - low).max(1, keepdims=True)], axis=1)


def crop_track(boxes: np.ndarray, scale: float, smooth_frames: float, width: int, height: int) -> np.ndarray:
    """[T, 3] crop centre x, y and side: a fixed side (median face size x scale, at most the frame's
    shorter side), centre smoothed in time and kept inside the frame."""
    side = float(min(np.median(boxes[:, 2]) * scale, width, height))
    centre = gaussian_filter1d(boxes[:, :2].astype(np.float64), sigma=max(smooth_frames, 1e-3), axis=0, mode="nearest")
    # the face sits a little above the crop centre: room for the neck and shoulders
    centre[:, 1] += 0.08 * side
    centre[:, 0] = centre[:, 0].clip(side / 2, width - side / 2)
    centre[:, 1] = centre[:, 1].clip(side / 2, height - side / 2)
    return np.concatenate([centre, np.full((len(boxes), 1), side)], axis=1).astype(np.float32)


def crop_frame(frame: np.ndarray, centre_x: float, centre_y: float, side: float, size: int) -> np.ndarray:
    """Crop a square (edges replicated beyond the frame) and resize to size x size with area filtering."""
    scale = size / side
    matrix = np.array([[scale, 0, size / 2 - scale * centre_x], [0, scale, size / 2 - scale * centre_y]], np.float32)
    factor = max(1, int(1 / scale))
    if factor > 1:
        # area filtering by an integer pre-shrink (small pixel i covers source pixels i*f .. i*f+f-1)
        frame = cv2.resize(frame, (frame.shape[1] // factor, frame.shape[0] // factor), interpolation=cv2.INTER_AREA)
        matrix[:, 2] += scale * (factor - 1) / 2
        matrix[:, :2] *= factor
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
