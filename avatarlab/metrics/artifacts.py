"""Render artifacts on skin: high-frequency energy of the face's skin, rendered over real.

The variance of the Laplacian of the luma inside a skin mask (cheeks, forehead, chin, nose bridge:
the face oval without eyes, brows, mouth and nostrils, built from the real frame's FaceMesh
landmarks). The ratio rendered / real is 1 for real-looking skin; speckle and dotted textures push it
up, blur and over-smooth skin pull it down.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatarlab.data import face_landmarks as fl
from avatarlab.metrics.lipsync import LUMA

NOSTRILS = [1, 2, 4, 19, 45, 48, 64, 94, 97, 98, 115, 220, 275, 278, 294, 326, 327, 344, 440]  # tip, alae, nostrils
NOT_SKIN = [fl.LEFT_EYE, fl.RIGHT_EYE, fl.LEFT_BROW, fl.RIGHT_BROW, fl.LIPS, NOSTRILS]


def skin_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool [H, W]: the face oval of `landmarks` [478, 2+] (pixels) minus the hulls of eyes, brows, lips and
    nostrils, with a margin of about 4% of the face width kept off every edge (also off the Laplacian's
    3 x 3 stencil). All False when the landmarks are missing."""
    height, width = shape
    points = landmarks[:, :2]
    if np.isnan(points).any():
        return np.zeros(shape, bool)
    margin = max(1, int(round(0.04 * float(np.ptp(points[fl.FACE_OVAL_LOOP, 0])))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    face = np.zeros((height, width), np.uint8)
    cv2.fillPoly(face, [np.round(points[fl.FACE_OVAL_LOOP]).astype(np.int32)], 1)
    holes = np.zeros((height, width), np.uint8)
    for region in NOT_SKIN:
        cv2.fillConvexPoly(holes, cv2.convexHull(np.round(points[region]).astype(np.int32)), 1)
    skin = cv2.erode(face, kernel) & (1 - cv2.dilate(holes, kernel))
    return cv2.erode(skin, np.ones((3, 3), np.uint8)).astype(bool)


def laplacian_energy(image: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the 3 x 3 Laplacian of the luma (0..255) of an RGB image [H, W, 3] over `mask` [H, W];
    NaN for an empty mask."""
    if not mask.any():
        return float("nan")
    laplacian = cv2.Laplacian(image.astype(np.float32) @ LUMA, cv2.CV_32F, ksize=1)
    return float(laplacian[mask].var())


def artifact_ratios(rendered: np.ndarray, real: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """[T] skin high-frequency energy of each rendered frame over the real frame's, both in the skin mask of
    the real frame's `landmarks` [T, 478, 2+]; NaN where the mask is empty or the real skin is flat."""
    out = np.full(len(real), np.nan)
    for t, (pred, truth, points) in enumerate(zip(rendered, real, landmarks)):
        mask = skin_mask(points, truth.shape[:2])
        reference = laplacian_energy(truth, mask)
        if np.isfinite(reference) and reference > 1e-6:
            out[t] = laplacian_energy(pred, mask) / reference
    return out


def artifact_ratio(rendered: np.ndarray, real: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean of `artifact_ratios` over the frames where it is defined (NaN when none is)."""
    ratios = artifact_ratios(rendered, real, landmarks)
    return float(np.nanmean(ratios)) if np.isfinite(ratios).any() else float("nan")
