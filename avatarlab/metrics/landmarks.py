"""Landmark metrics on frames: mouth landmarks by mediapipe FaceMesh, and LMD between two videos."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from avatarlab.data import face_landmarks as fl

MOUTH = fl.LIPS  # the 40 lip landmarks


def track_frames(frames: Iterable[np.ndarray], upscale_to: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks [T, 478, 3] (pixels of the input size, NaN where none found) and found [T].

    Small frames are upscaled before FaceMesh (it finds faces more reliably at 256 px) and the
    landmarks scaled back.
    """
    # mediapipe loads here, not at import: its native framework slows torch in the same process, so it
    # must not load before an evaluation has rendered (and timed) its frames
    from avatarlab.data.face_tracking import track_faces

    frames = list(frames)
    if not frames:
        return np.zeros((0, fl.NUM_LANDMARKS, 3), np.float32), np.zeros(0, bool)
    size = frames[0].shape[0]
    factor = max(1.0, upscale_to / size)
    big = (
        [cv2.resize(f, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC) for f in frames]
        if factor > 1
        else frames
    )
    tracks = track_faces(big, total=len(big), max_faces=1, desc="metric landmarks")
    return tracks.landmarks / factor, tracks.detected


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """[T] inner-lip gap / mouth width (NaN where landmarks are missing)."""
    gap = np.linalg.norm(landmarks[:, fl.UPPER_LIP_INNER, :2] - landmarks[:, fl.LOWER_LIP_INNER, :2], axis=-1)
    width = np.linalg.norm(landmarks[:, fl.MOUTH_LEFT, :2] - landmarks[:, fl.MOUTH_RIGHT, :2], axis=-1)
    return gap / np.maximum(width, 1e-6)


def landmark_distances(pred: np.ndarray, real: np.ndarray, indices: list[int] = MOUTH) -> np.ndarray:
    """[T] mean Euclidean distance (pixels, x and y) between corresponding mouth landmarks per frame; NaN
    where either set is missing."""
    a, b = pred[:, indices, :2], real[:, indices, :2]
    return np.linalg.norm(a - b, axis=-1).mean(axis=1)


def landmark_distance(pred: np.ndarray, real: np.ndarray, indices: list[int] = MOUTH) -> float:
    """LMD: mean Euclidean distance (pixels, x and y) between corresponding mouth landmarks, over frames
    where both were found. NaN when no frame has both."""
    per_frame = landmark_distances(pred, real, indices)
    ok = np.isfinite(per_frame)
    return float(per_frame[ok].mean()) if ok.any() else float("nan")
