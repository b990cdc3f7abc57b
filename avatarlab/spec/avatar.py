"""AvatarSpec: what an avatar knows of its subject, as plain JSON for checkpoints and bundle manifests.

Arrays derived from the subject (keypoint statistics, the background plate, a pose track) live in the
model's buffers, not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from avatarlab.spec.stream import MEL_PER_FRAME


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
    # positions of (upper inner lip, lower inner lip, left corner, right corner) in the keypoints
    mouth_indices: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AvatarSpec:
        return cls(**data)
