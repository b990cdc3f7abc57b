"""Face, mouth and person masks, and the background plate."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import cv2
import numpy as np
from tqdm import tqdm

from avatarlab.data import face_landmarks as fl
from avatarlab.data.subject import MASK_FACE, MASK_MOUTH, MASK_PERSON


def polygon_mask(points: np.ndarray, size: int, dilate: int = 0) -> np.ndarray:
    """uint8 [size, size] filled polygon (0/1), optionally dilated by `dilate` pixels."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points[:, :2]).astype(np.int32)], 1, lineType=cv2.LINE_8)
    if dilate > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, kernel)
    return mask


class PersonSegmenter:
    """mediapipe selfie segmentation (bundled model): probability that a pixel belongs to a person."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self._segmenter.process(np.ascontiguousarray(frame)).segmentation_mask

    def close(self) -> None:
        self._segmenter.close()


def build_masks(frames: Iterable[np.ndarray], landmarks: np.ndarray, size: int) -> np.ndarray:
    """uint8 [T, S, S] bit field: face (oval hull), mouth (outer lips, dilated), person (segmentation,
    with the face)."""
    masks = np.zeros((len(landmarks), size, size), np.uint8)
    segmenter = PersonSegmenter()
    mouth_dilate = max(1, size // 64)
    try:
        for t, frame in enumerate(
            tqdm(frames, total=len(landmarks), desc="masks", unit="frame", leave=False, disable=None)
        ):
            face = polygon_mask(landmarks[t, fl.FACE_OVAL_LOOP], size)
            mouth = polygon_mask(landmarks[t, fl.LIPS_OUTER_LOOP], size, dilate=mouth_dilate)
            person = (segmenter(frame) > 0.5).astype(np.uint8) | face
            masks[t] = face * MASK_FACE | mouth * MASK_MOUTH | person * MASK_PERSON
    finally:
        segmenter.close()
    return masks


def background_plate(frames: np.ndarray, masks: np.ndarray, max_samples: int = 200, margin: int = 2) -> np.ndarray:
    """uint8 [S, S, 3]: per-pixel median over frames where the (dilated) person mask is off; holes inpainted."""
    count = len(frames)
    chosen = np.linspace(0, count - 1, min(count, max_samples)).round().astype(int)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    stack = np.asarray(frames[chosen], np.float32)  # [N, S, S, 3]
    person = np.stack([cv2.dilate(((masks[i] & MASK_PERSON) > 0).astype(np.uint8), kernel) for i in chosen]).astype(
        bool
    )
    stack[person] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN where the person always covers
        plate = np.nanmedian(stack, axis=0)  # [S, S, 3]
    holes = np.isnan(plate[..., 0])
    plate = np.nan_to_num(plate, nan=0.0).clip(0, 255).astype(np.uint8)
    if holes.any():
        plate = cv2.inpaint(plate, holes.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return plate
