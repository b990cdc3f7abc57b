"""An avatar's spec from a prepared subject: the head box around its canonical face, the keypoint
layout, the camera; and the per-frame conditions that place the torso."""

from __future__ import annotations

import numpy as np

from avatarlab.data import face_landmarks as fl
from avatarlab.data.subject import Subject
from avatarlab.spec.avatar import AvatarSpec

# head box margins, as fractions of the canonical landmarks' extent:
# (x each side, y above, y below, z in front, z behind)
DEFAULT_BOX_MARGINS = (0.22, 0.45, 0.12, 0.25, 0.25)


def head_box(canonical: np.ndarray, margins: tuple[float, ...] = DEFAULT_BOX_MARGINS) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box [3] min, [3] max around the canonical face (x right, y down, z away from camera)."""
    low, high = canonical.min(0), canonical.max(0)
    extent = high - low
    mx, my_top, my_bottom, mz_front, mz_back = margins
    box_min = low - extent * np.array([mx, my_top, mz_front])
    box_max = high + extent * np.array([mx, my_bottom, mz_back])
    return box_min.astype(np.float32), box_max.astype(np.float32)


def spec_from_subject(subject: Subject, margins: tuple[float, ...] = DEFAULT_BOX_MARGINS) -> AvatarSpec:
    canonical = subject.array("canonical", mmap=False)
    box_min, box_max = head_box(canonical, tuple(margins))
    indices = list(subject.keypoint_indices)
    mouth = (
        [indices.index(i) for i in (fl.UPPER_LIP_INNER, fl.LOWER_LIP_INNER, fl.MOUTH_LEFT, fl.MOUTH_RIGHT)]
        if all(i in indices for i in (fl.UPPER_LIP_INNER, fl.LOWER_LIP_INNER, fl.MOUTH_LEFT, fl.MOUTH_RIGHT))
        else []
    )
    camera = {k: float(subject.camera[k]) for k in ("fx", "fy", "cx", "cy")}
    return AvatarSpec(
        size=subject.size,
        fps=subject.fps,
        camera=camera,
        box_min=box_min.tolist(),
        box_max=box_max.tolist(),
        num_keypoints=len(indices),
        keypoint_indices=indices,
        n_mels=int(subject.mel.shape[1]),
        subject=subject.name,
        mouth_indices=mouth,
    )


def frame_conditions(pose: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """float32 [T, 11]: what places the torso in a frame: rotation (first two columns), translation, crop centre."""
    rotation = pose[:, :3, :2].reshape(len(pose), 6)
    return np.concatenate([rotation, pose[:, :3, 3], crop[:, :2]], axis=1).astype(np.float32)
