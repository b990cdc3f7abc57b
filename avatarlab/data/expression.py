"""Pose-free expression keypoints, mouth opening and blink from landmarks."""

from __future__ import annotations

import numpy as np

from avatarlab.data import face_landmarks as fl


def expression_keypoints(canonical_landmarks: np.ndarray) -> np.ndarray:
    """[T, K, 3] the expression subset (lips, jaw, eyes, brows) of pose-free canonical landmarks."""
    return canonical_landmarks[:, fl.EXPRESSION].astype(np.float32)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """[T] inner-lip gap divided by mouth width (scale- and pose-robust)."""
    gap = np.linalg.norm(landmarks[:, fl.UPPER_LIP_INNER, :2] - landmarks[:, fl.LOWER_LIP_INNER, :2], axis=-1)
    width = np.linalg.norm(landmarks[:, fl.MOUTH_LEFT, :2] - landmarks[:, fl.MOUTH_RIGHT, :2], axis=-1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def eye_aspect(landmarks: np.ndarray) -> np.ndarray:
    """[T] mean eyelid gap / eye width over both eyes."""
    ratios = []
    for lids, (a, b) in ((fl.LEFT_EYELIDS, fl.LEFT_EYE_CORNERS), (fl.RIGHT_EYELIDS, fl.RIGHT_EYE_CORNERS)):
        gap = np.mean([np.linalg.norm(landmarks[:, u, :2] - landmarks[:, d, :2], axis=-1) for u, d in lids], axis=0)
        width = np.linalg.norm(landmarks[:, a, :2] - landmarks[:, b, :2], axis=-1)
        ratios.append(gap / np.maximum(width, 1e-6))
    return np.mean(ratios, axis=0)


def blink(landmarks: np.ndarray) -> np.ndarray:
    """[T] eye closure in [0, 1]: 0 at the subject's open-eye level (90th percentile), 1 fully shut."""
    aspect = eye_aspect(landmarks)
    open_level = np.percentile(aspect, 90)
    return np.clip(1.0 - aspect / max(open_level, 1e-6), 0.0, 1.0).astype(np.float32)
