"""Head pose by rigid alignment of stable landmarks to a canonical shape estimated from the video.

Model: a frame's landmarks are a scaled rotation of the canonical shape, ``x = s R X + t`` (weak
perspective, pixels). The canonical shape is the generalised-Procrustes mean of the video's own faces,
in units where the stable points have unit RMS radius. The pose is then expressed as a pinhole camera
looking at the head: ``X_cam = R X + T`` with ``T = ((tx - cx) / s, (ty - cy) / s, f / s)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from avatarlab.data.face_landmarks import STABLE

FIELD_OF_VIEW_DEGREES = 21.0  # a typical talking-head lens; only the camera's depth depends on it


@dataclass
class Similarity:
    scale: float
    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """Least-squares s, R, t with target ~ s R source + t (Umeyama). source, target: [N, 3]."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    covariance = b.T @ a / len(a)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rotation = u @ sign @ vt
    variance = (a**2).sum() / len(a)
    scale = float(np.trace(np.diag(singular) @ sign) / variance)
    return Similarity(scale, rotation, mu_t - scale * rotation @ mu_s)


def canonical_shape(landmarks: np.ndarray, weights: np.ndarray | None = None, iterations: int = 5) -> np.ndarray:
    """Generalised Procrustes mean [478, 3] of landmarks [T, 478, 3], aligned on the stable points.

    Centred on the stable points, unit RMS radius, axes of the first frame's orientation made upright by
    aligning to the mean (x right, y down, z away from the camera).
    """
    weights = np.ones(len(landmarks)) if weights is None else weights
    frames = landmarks[weights > 0]
    mean = _normalise(frames[len(frames) // 2])
    for _ in range(iterations):
        aligned = []
        for shape in frames:
            sim = fit_similarity(shape[STABLE], mean[STABLE])
            aligned.append(sim.scale * shape @ sim.rotation.T + sim.translation)
        mean = _normalise(np.mean(aligned, axis=0))
    return _upright(mean).astype(np.float32)


def _normalise(shape: np.ndarray) -> np.ndarray:
    centred = shape - shape[STABLE].mean(0)
    radius = np.sqrt((centred[STABLE] ** 2).sum(1).mean())
    return centred / radius


def _upright(shape: np.ndarray) -> np.ndarray:
    """Rotate so the eyes line is along +x and the forehead-to-chin direction along +y."""
    x_axis = shape[263] - shape[33]  # right eye outer corner -> left eye outer corner (image left to right)
    y_axis = shape[152] - shape[10]  # forehead -> chin
    x_axis /= np.linalg.norm(x_axis)
    y_axis -= x_axis * (y_axis @ x_axis)
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    basis = np.stack([x_axis, y_axis, z_axis])  # rows: new axes in old coordinates
    return shape @ basis.T


def fit_poses(landmarks: np.ndarray, canonical: np.ndarray) -> list[Similarity]:
    """Per-frame similarity canonical -> image for landmarks [T, 478, 3]."""
    return [fit_similarity(canonical[STABLE], frame[STABLE]) for frame in landmarks]


def smooth_poses(similarities: list[Similarity], sigma_frames: float) -> list[Similarity]:
    """Temporal Gaussian smoothing of rotations (as rotation vectors about their mean), scales and translations.

    Landmark depth is noisy frame to frame; real heads move smoothly at 25 fps.
    """
    if sigma_frames <= 0 or len(similarities) < 3:
        return similarities
    from scipy.ndimage import gaussian_filter1d
    from scipy.spatial.transform import Rotation

    rotations = Rotation.from_matrix(np.stack([s.rotation for s in similarities]))
    mean = rotations.mean()
    vectors = gaussian_filter1d((mean.inv() * rotations).as_rotvec(), sigma_frames, axis=0, mode="nearest")
    smoothed = (mean * Rotation.from_rotvec(vectors)).as_matrix()
    scales = gaussian_filter1d(np.array([s.scale for s in similarities]), sigma_frames, mode="nearest")
    translations = gaussian_filter1d(
        np.stack([s.translation for s in similarities]), sigma_frames, axis=0, mode="nearest"
    )
    return [Similarity(float(sc), r, t) for sc, r, t in zip(scales, smoothed, translations)]


def intrinsics(size: int, fov_degrees: float = FIELD_OF_VIEW_DEGREES) -> dict[str, float]:
    focal = 0.5 * size / np.tan(np.radians(fov_degrees) / 2)
    return {"fx": float(focal), "fy": float(focal), "cx": size / 2.0, "cy": size / 2.0, "width": size, "height": size}


def pinhole(cam: Any, camera: dict[str, float]) -> tuple[Any, Any]:
    """Pixel x, y [...] of camera-space points cam [..., 3] (OpenCV axes; numpy arrays or torch tensors)."""
    return (
        camera["fx"] * cam[..., 0] / cam[..., 2] + camera["cx"],
        camera["fy"] * cam[..., 1] / cam[..., 2] + camera["cy"],
    )


def pose_matrices(similarities: list[Similarity], camera: dict[str, float]) -> np.ndarray:
    """float32 [T, 4, 4] canonical -> camera transforms for a pinhole camera (OpenCV axes)."""
    poses = np.zeros((len(similarities), 4, 4), np.float32)
    for i, sim in enumerate(similarities):
        depth = camera["fx"] / sim.scale
        translation = np.array(
            [(sim.translation[0] - camera["cx"]) / sim.scale, (sim.translation[1] - camera["cy"]) / sim.scale, depth]
        )
        poses[i, :3, :3] = sim.rotation
        poses[i, :3, 3] = translation
        poses[i, 3, 3] = 1.0
    return poses


def to_canonical(landmarks: np.ndarray, similarities: list[Similarity]) -> np.ndarray:
    """Landmarks [T, N, 3] in pixels -> canonical units, pose removed."""
    return np.stack(
        [(frame - sim.translation) @ sim.rotation / sim.scale for frame, sim in zip(landmarks, similarities)]
    ).astype(np.float32)


def rotation_angle_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle between rotation matrices [..., 3, 3]."""
    relative = np.einsum("...ji,...jk->...ik", a, b)
    cos = (np.trace(relative, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation from degrees: yaw about y, pitch about x, roll about z (image axes), R = Rz Ry Rx."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def relative_pose_errors(estimated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame angle (degrees) between estimated and true rotations [T, 3, 3], after removing the
    constant offset between the estimated canonical frame and the true one."""
    offsets = np.einsum("tji,tjk->tik", truth, estimated)  # R_true^T R_est per frame
    u, _, vt = np.linalg.svd(offsets.mean(0))
    offset = u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
    return rotation_angle_degrees(np.einsum("tij,jk->tik", truth, offset), estimated)
