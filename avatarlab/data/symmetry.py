"""The face's mirror symmetry in canonical space: the plane that maps the face onto itself, and each landmark's
mirror image (the left mouth corner's is the right one; a point on the midline is its own).

Found on the video's canonical shape [478, 3]: a plane first guessed from landmarks known to be mirror pairs (eye
corners, eyelids, mouth corners), then refined by turns: pair every landmark with the nearest landmark to its
reflection (a one-to-one assignment), and fit the plane to those pairs (the differences give its normal, the
midpoints its place).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from avatarlab.data import face_landmarks as fl
from avatarlab.errors import UserInputError

# mirror pairs that seed the plane: eye corners (outer, inner), eyelid centres (upper, lower), mouth corners, cheeks
KNOWN_PAIRS = [(33, 263), (133, 362), (159, 386), (145, 374), (fl.MOUTH_LEFT, fl.MOUTH_RIGHT), (234, 454)]
MAX_RESIDUAL = 0.025  # median distance of a reflected landmark from its mirror image, in face widths (real: under 0.02)


@dataclass(frozen=True, kw_only=True)
class FaceMirror:
    """Reflection x -> x - 2 (n.x - offset) n across the face's plane, and each landmark's mirror image."""

    normal: np.ndarray  # [3] unit
    offset: float
    pairs: np.ndarray  # [478] int: the landmark each landmark's reflection lands on

    def reflect(self, points: np.ndarray) -> np.ndarray:
        """Points [..., 3] reflected across the plane."""
        distance = points @ self.normal - self.offset  # [...]
        return points - 2.0 * distance[..., None] * self.normal

    def matrix(self) -> np.ndarray:
        """float32 [4, 4] homogeneous reflection (its own inverse): a canonical -> camera pose P views the mirrored
        face as P @ matrix()."""
        n = self.normal.astype(np.float64)
        out = np.eye(4)
        out[:3, :3] -= 2.0 * np.outer(n, n)
        out[:3, 3] = 2.0 * self.offset * n
        return out.astype(np.float32)

    def keypoint_pairs(self, indices: list[int], shape: np.ndarray) -> np.ndarray:
        """[K] for the landmark subset `indices` of face `shape` [478, 3]: the position in the subset of each one's
        mirror image, or where that is not in the subset (the expression set has a jaw point without its twin),
        of the subset's landmark nearest to it."""
        chosen = np.asarray(indices)
        mirrors = self.pairs[chosen]  # [K] landmark indices
        nearest = cdist(np.asarray(shape, np.float64)[mirrors], np.asarray(shape, np.float64)[chosen]).argmin(1)
        return nearest  # exact where the mirror image is in the subset (distance 0)


def face_mirror(shape: np.ndarray, iterations: int = 4) -> FaceMirror:
    """The mirror symmetry of a face shape [478, 3] (FaceMesh landmarks in canonical space)."""
    points = np.asarray(shape, np.float64)
    if points.shape != (fl.NUM_LANDMARKS, 3) or not np.isfinite(points).all():
        raise ValueError(f"a canonical face shape is [{fl.NUM_LANDMARKS}, 3] finite points, not {points.shape}")
    left, right = (np.array(side) for side in zip(*KNOWN_PAIRS))
    normal = _unit((points[right] - points[left]).mean(0))
    offset = float(((points[right] + points[left]) / 2 @ normal).mean())
    pairs = np.arange(len(points))
    for _ in range(iterations):
        mirror = FaceMirror(normal=normal, offset=offset, pairs=pairs)
        pairs = linear_sum_assignment(cdist(mirror.reflect(points), points))[1]
        differences = points - points[pairs]  # [478, 3], along the normal for true pairs
        differences *= np.sign(differences @ normal)[:, None]
        normal = _unit(np.linalg.svd(differences, full_matrices=False)[2][0] * np.sign(normal @ differences.sum(0)))
        offset = float(((points + points[pairs]) / 2 @ normal).mean())
    mirror = FaceMirror(normal=normal, offset=offset, pairs=pairs)
    width = float(np.ptp(points @ normal))
    residual = float(np.median(np.linalg.norm(mirror.reflect(points) - points[pairs], axis=1))) / width
    if residual > MAX_RESIDUAL or any(pairs[a] != b for a, b in KNOWN_PAIRS):
        raise UserInputError(
            f"the face shape is not mirror-symmetric: reflected landmarks land {residual:.1%} of the face's width "
            f"from their mirror images (at most {MAX_RESIDUAL:.0%}), or eyes and mouth corners do not pair up",
            "train without mirrored views: model.mirror_fraction=0",
        )
    return mirror


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
