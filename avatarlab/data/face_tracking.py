"""Face landmarks with mediapipe FaceMesh (legacy solution, models bundled in the wheel)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from avatarlab.data.face_landmarks import NUM_LANDMARKS

log = logging.getLogger(__name__)


@dataclass
class Tracks:
    """Landmarks of the main face per frame, in pixels (z in the x scale)."""

    landmarks: np.ndarray  # float32 [T, 478, 3]
    detected: np.ndarray  # bool [T]
    face_counts: np.ndarray  # int [T]


def track_faces(
    frames: Iterable[np.ndarray],
    total: int | None = None,
    max_faces: int = 2,
    desc: str = "landmarks",
    static: bool = False,
) -> Tracks:
    """Run FaceMesh over RGB frames; keep the largest face; count faces per frame."""
    import mediapipe as mp

    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=static,
        max_num_faces=max_faces,
        refine_landmarks=True,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    landmarks, detected, counts = [], [], []
    try:
        for frame in tqdm(frames, total=total, desc=desc, unit="frame", leave=False, disable=None):
            height, width = frame.shape[:2]
            result = mesh.process(np.ascontiguousarray(frame))
            faces = result.multi_face_landmarks or []
            counts.append(len(faces))
            if not faces:
                landmarks.append(np.full((NUM_LANDMARKS, 3), np.nan, np.float32))
                detected.append(False)
                continue
            points = [
                np.array([(p.x * width, p.y * height, p.z * width) for p in face.landmark], np.float32)
                for face in faces
            ]
            largest = max(points, key=lambda p: np.ptp(p[:, 0]) * np.ptp(p[:, 1]))
            landmarks.append(largest)
            detected.append(True)
    finally:
        mesh.close()
    return Tracks(
        np.stack(landmarks) if landmarks else np.zeros((0, NUM_LANDMARKS, 3), np.float32),
        np.array(detected, bool),
        np.array(counts, int),
    )


def gaps(detected: np.ndarray) -> list[tuple[int, int]]:
    """Runs of undetected frames as (start, stop) half-open ranges."""
    runs, start = [], None
    for i, ok in enumerate(detected):
        if not ok and start is None:
            start = i
        elif ok and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(detected)))
    return runs


def fill_gaps(landmarks: np.ndarray, detected: np.ndarray, max_gap: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Linearly interpolate gaps of at most `max_gap` frames (holding the edge value at the ends).

    Longer gaps are filled the same way, so every frame has landmarks, and are returned for reporting.
    """
    if not detected.any():
        raise ValueError("no frame has a face")
    filled = landmarks.copy()
    valid = np.flatnonzero(detected)
    missing = np.flatnonzero(~detected)
    if len(missing):
        flat = filled.reshape(len(filled), -1)  # [T, 478*3]
        for column in range(flat.shape[1]):
            flat[missing, column] = np.interp(missing, valid, flat[valid, column])
    long_gaps = [(a, b) for a, b in gaps(detected) if b - a > max_gap]
    return filled, long_gaps
