"""A prepared subject: the on-disk training set that `avatarlab.data.prepare` writes.

Layout of ``datasets/NAME/`` (T frames at 25 fps, S x S pixels)::

    manifest.json      complete flag, versions, parameters, sha256 of inputs and outputs, split
    frames.npy         uint8   [T, S, S, 3]  RGB crops that follow the face
    audio.wav          16 kHz mono PCM16
    mel.npy            float32 [T * 4, n_mels]  log-mel at 100 Hz; video frame t <-> mel rows 4t..4t+3
    landmarks.npy      float32 [T, 478, 3]  mediapipe FaceMesh in crop pixels (z in the same scale)
    detected.npy       bool    [T]  landmarks found by the tracker (False: interpolated across a gap)
    pose.npy           float32 [T, 4, 4]  head-canonical -> camera (OpenCV axes: x right, y down, z forward)
    canonical.npy      float32 [478, 3]  the subject's canonical face shape, in canonical units
    keypoints.npy      float32 [T, K, 3]  pose-free expression keypoints, canonical units
    mouth_open.npy     float32 [T]  inner-lip gap / mouth width
    blink.npy          float32 [T]  eye closure in [0, 1]
    masks.npy          uint8   [T, S, S]  bit 0 face, bit 1 mouth, bit 2 person
    background.png     the background plate (person removed)
    crop.npy           float32 [T, 3]  crop centre x, y and side in source pixels
    preview.mp4        frames with landmarks and pose axes, audio muxed

camera.json (inside manifest["camera"]) holds the pinhole intrinsics fx, fy, cx, cy for S x S.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from avatarlab.errors import UserInputError

SUBJECT_FORMAT_VERSION = 1
MASK_FACE, MASK_MOUTH, MASK_PERSON = 1, 2, 4


@dataclass
class Subject:
    """Read access to a prepared subject; arrays are memory-mapped where large."""

    root: Path

    @classmethod
    def open(cls, root: str | Path) -> Subject:
        path = Path(root)
        manifest = path / "manifest.json"
        if not manifest.is_file():
            raise UserInputError(
                f"{path} is not a prepared subject (no manifest.json)",
                "run `python -m avatarlab.data.prepare input=VIDEO name=NAME` first",
            )
        data = json.loads(manifest.read_text())
        if not data.get("complete"):
            raise UserInputError(
                f"{path} was not prepared to the end",
                "rerun `python -m avatarlab.data.prepare` with the same arguments; it resumes",
            )
        if data.get("format_version") != SUBJECT_FORMAT_VERSION:
            raise UserInputError(
                f"{path} has subject format {data.get('format_version')}, expected {SUBJECT_FORMAT_VERSION}",
                "prepare the subject again",
            )
        return cls(path)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.root / "manifest.json").read_text())

    def array(self, name: str, mmap: bool = True) -> np.ndarray:
        return np.load(self.root / f"{name}.npy", mmap_mode="r" if mmap else None)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def size(self) -> int:
        return int(self.manifest["params"]["size"])

    @property
    def fps(self) -> float:
        return float(self.manifest["params"]["fps"])

    @property
    def num_frames(self) -> int:
        return int(self.manifest["num_frames"])

    @property
    def camera(self) -> dict[str, float]:
        return self.manifest["camera"]

    @property
    def keypoint_indices(self) -> list[int]:
        return self.manifest["keypoint_indices"]

    @property
    def train_frames(self) -> np.ndarray:
        start, stop = self.manifest["split"]["train"]
        return np.arange(start, stop)

    @property
    def val_frames(self) -> np.ndarray:
        start, stop = self.manifest["split"]["val"]
        return np.arange(start, stop)

    @cached_property
    def frames(self) -> np.ndarray:
        return self.array("frames")

    @cached_property
    def mel(self) -> np.ndarray:
        return self.array("mel", mmap=False)

    @cached_property
    def landmarks(self) -> np.ndarray:
        return self.array("landmarks", mmap=False)

    @cached_property
    def pose(self) -> np.ndarray:
        return self.array("pose", mmap=False)

    @cached_property
    def keypoints(self) -> np.ndarray:
        return self.array("keypoints", mmap=False)

    @cached_property
    def masks(self) -> np.ndarray:
        return self.array("masks")

    @cached_property
    def background(self) -> np.ndarray:
        import cv2

        image = cv2.imread(str(self.root / "background.png"), cv2.IMREAD_COLOR)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def audio(self) -> tuple[np.ndarray, int]:
        samples, rate = sf.read(self.root / "audio.wav", dtype="float32")
        return samples, rate
