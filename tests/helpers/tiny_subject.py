"""Tiny subjects for tests: one drawn with numpy in the exact prepared-subject format (fast, no
tracker), for unit and few-step training tests. The real pipeline's tiny subject comes from
avatarlab.data.synthetic + avatarlab.data.prepare (see the end-to-end tests)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from avatarlab.data import face_landmarks as fl
from avatarlab.data.subject import MASK_FACE, MASK_MOUTH, MASK_PERSON, SUBJECT_FORMAT_VERSION


def _canonical_face(rng: np.random.Generator) -> np.ndarray:
    """[478, 3] points on the front of an ellipsoid (x right, y down, z away), mouth at the named indices."""
    theta = rng.uniform(-1.2, 1.2, fl.NUM_LANDMARKS)
    phi = rng.uniform(-1.0, 1.0, fl.NUM_LANDMARKS)
    points = np.stack(
        [1.1 * np.sin(theta) * np.cos(phi), 1.5 * np.sin(phi) + 0.4, -0.8 * np.cos(theta) * np.cos(phi)], -1
    )
    points[fl.UPPER_LIP_INNER] = [0.0, 1.05, -0.75]
    points[fl.LOWER_LIP_INNER] = [0.0, 1.15, -0.75]
    points[fl.MOUTH_LEFT] = [0.35, 1.1, -0.7]
    points[fl.MOUTH_RIGHT] = [-0.35, 1.1, -0.7]
    return points.astype(np.float32)


def make_tiny_subject(root: str | Path, size: int = 32, frames: int = 33, seed: int = 0, name: str = "tiny") -> Path:
    """Write a prepared subject of `frames` frames at `size` px: a moving, talking ellipse face."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fps, rate = 25.0, 16000
    canonical = _canonical_face(rng)
    focal = 0.5 * size / np.tan(np.radians(21.0) / 2)
    camera = {"fx": float(focal), "fy": float(focal), "cx": size / 2.0, "cy": size / 2.0, "width": size, "height": size}
    t = np.arange(frames) / fps
    mouth = (0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)).astype(np.float32)  # [T] in [0, 1]
    poses = np.zeros((frames, 4, 4), np.float32)
    landmarks = np.zeros((frames, fl.NUM_LANDMARKS, 3), np.float32)
    canon_frames = np.repeat(canonical[None], frames, 0)
    canon_frames[:, fl.LOWER_LIP_INNER, 1] += 0.25 * mouth
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([40 + 100 * xx / size, 80 + 60 * yy / size, np.full_like(xx, 150.0)], -1).astype(np.uint8)
    images = np.zeros((frames, size, size, 3), np.uint8)
    masks = np.zeros((frames, size, size), np.uint8)
    for i in range(frames):
        angle = np.radians(5 * np.sin(2 * np.pi * 0.5 * t[i]))
        rot = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]], np.float32)
        poses[i, :3, :3] = rot
        poses[i, :3, 3] = [0.0, -0.3, 17.0]
        poses[i, 3, 3] = 1
        cam = canon_frames[i] @ rot.T + poses[i, :3, 3]
        landmarks[i] = np.stack(
            [
                focal * cam[:, 0] / cam[:, 2] + size / 2,
                focal * cam[:, 1] / cam[:, 2] + size / 2,
                cam[:, 2] * focal / 17.0,
            ],
            -1,
        )
        image = background.copy()
        centre = (int(size / 2 + size * 0.05 * np.sin(angle * 10)), int(size * 0.55))
        axes = (int(size * 0.22), int(size * 0.3))
        cv2.ellipse(image, centre, axes, 0, 0, 360, (230, 180, 150), -1)
        face = np.zeros((size, size), np.uint8)
        cv2.ellipse(face, centre, axes, 0, 0, 360, 1, -1)
        mouth_mask = np.zeros((size, size), np.uint8)
        cv2.ellipse(
            mouth_mask,
            (centre[0], centre[1] + size // 8),
            (size // 10, max(1, int(size / 40 + size / 16 * mouth[i]))),
            0,
            0,
            360,
            1,
            -1,
        )
        image[mouth_mask > 0] = (90, 20, 30)
        images[i] = image
        masks[i] = face * MASK_FACE | mouth_mask * MASK_MOUTH | face * MASK_PERSON
    samples = (
        0.3
        * np.repeat(mouth, rate // int(fps))
        * np.sin(2 * np.pi * 220 * np.arange(frames * (rate // int(fps))) / rate)
    ).astype(np.float32)
    sf.write(root / "audio.wav", samples, rate, subtype="PCM_16")
    from avatarlab.data.audio_features import log_mel

    mel = log_mel(samples, rate, n_mels=80, num_frames=frames, fps=fps)
    keypoints = canon_frames[:, fl.EXPRESSION]
    arrays = {
        "frames": images,
        "mel": mel,
        "landmarks": landmarks,
        "detected": np.ones(frames, bool),
        "pose": poses,
        "canonical": canonical,
        "keypoints": keypoints.astype(np.float32),
        "mouth_open": mouth,
        "blink": np.zeros(frames, np.float32),
        "masks": masks,
        "crop": np.tile(np.array([[256.0, 256.0, 300.0]], np.float32), (frames, 1)),
    }
    for key, value in arrays.items():
        np.save(root / f"{key}.npy", value)
    cv2.imwrite(str(root / "background.png"), cv2.cvtColor(background, cv2.COLOR_RGB2BGR))
    val = max(1, round(frames / 11))
    manifest = {
        "complete": True,
        "format_version": SUBJECT_FORMAT_VERSION,
        "name": name,
        "num_frames": frames,
        "camera": camera,
        "params": {"size": size, "fps": fps, "n_mels": 80},
        "keypoint_indices": list(fl.EXPRESSION),
        "split": {"train": [0, frames - val], "val": [frames - val, frames]},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root
