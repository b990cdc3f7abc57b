"""What an avatar needs to know about its subject: image size, camera, head box, keypoint layout.

An `AvatarSpec` is plain JSON (it goes into checkpoints and bundle manifests); arrays derived from the
subject (keypoint statistics, the background plate, a pose track) live in the model's buffers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from avatarlab.data.subject import MEL_PER_FRAME, Subject

# head box margins, as fractions of the canonical landmarks' extent:
# (x each side, y above, y below, z in front, z behind)
DEFAULT_BOX_MARGINS = (0.22, 0.45, 0.12, 0.25, 0.25)


@dataclass
class AvatarSpec:
    size: int
    fps: float
    camera: dict[str, float]  # fx, fy, cx, cy for size x size
    box_min: list[float]  # head box in canonical units
    box_max: list[float]
    num_keypoints: int
    keypoint_indices: list[int]
    n_mels: int
    mel_per_frame: int = MEL_PER_FRAME
    subject: str = ""
    mouth_indices: list[int] = field(
        default_factory=list
    )  # positions of (upper inner lip, lower inner lip, left corner, right corner) in the keypoints

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AvatarSpec:
        return cls(**data)


def head_box(canonical: np.ndarray, margins: tuple[float, ...] = DEFAULT_BOX_MARGINS) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box [3] min, [3] max around the canonical face (x right, y down, z away from camera)."""
    low, high = canonical.min(0), canonical.max(0)
    extent = high - low
    mx, my_top, my_bottom, mz_front, mz_back = margins
    box_min = low - extent * np.array([mx, my_top, mz_front])
    box_max = high + extent * np.array([mx, my_bottom, mz_back])
    return box_min.astype(np.float32), box_max.astype(np.float32)


def spec_from_subject(subject: Subject, margins: tuple[float, ...] = DEFAULT_BOX_MARGINS) -> AvatarSpec:
    from avatarlab.data import face_landmarks as fl

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
