"""Preview frames: landmarks and head-pose axes drawn over the crops."""

from __future__ import annotations

import cv2
import numpy as np

from avatarlab.data.head_pose import pinhole


def project(points: np.ndarray, pose: np.ndarray, camera: dict[str, float]) -> np.ndarray:
    """[N, 2] pixels of canonical points [N, 3] under a canonical -> camera pose [4, 4]."""
    return np.stack(pinhole(points @ pose[:3, :3].T + pose[:3, 3], camera), axis=1)


def draw_preview(
    frame: np.ndarray, landmarks: np.ndarray, pose: np.ndarray, camera: dict[str, float], detected: bool = True
) -> np.ndarray:
    """RGB uint8 frame with landmarks (green; orange when interpolated) and x/y/z axes (red/green/blue)."""
    image = np.ascontiguousarray(frame.copy())
    colour = (60, 220, 60) if detected else (255, 150, 0)
    radius = max(1, frame.shape[0] // 256)
    for x, y in np.round(landmarks[:, :2]).astype(int):
        cv2.circle(image, (int(x), int(y)), radius, colour, -1, lineType=cv2.LINE_AA)
    axes = np.array([[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    origin, *tips = project(axes, pose, camera)
    for tip, c in zip(tips, [(255, 40, 40), (40, 255, 40), (60, 60, 255)]):
        cv2.line(
            image,
            tuple(np.round(origin).astype(int)),
            tuple(np.round(tip).astype(int)),
            c,
            max(1, frame.shape[0] // 128),
            cv2.LINE_AA,
        )
    return image
