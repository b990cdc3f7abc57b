"""A face shape that is its own mirror image across x = 0, with known landmark pairs."""

from __future__ import annotations

import numpy as np

from avatarlab.data import face_landmarks as fl
from avatarlab.data.symmetry import KNOWN_PAIRS

MIDLINE = [0, 1, 13, 14, 17, 152]  # lips' centres, nose tip, chin: their own mirror images


def symmetric_face(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """[478, 3] points on the front of an ellipsoid, each pair mirrored across x = 0, and the pairs [478]."""
    pairs = np.arange(fl.NUM_LANDMARKS)
    paired = {*MIDLINE, *(i for pair in KNOWN_PAIRS for i in pair)}
    rest = [i for i in range(fl.NUM_LANDMARKS) if i not in paired]
    for a, b in [*KNOWN_PAIRS, *zip(rest[0::2], rest[1::2])]:
        pairs[a], pairs[b] = b, a
    theta = rng.uniform(0.05, 1.2, fl.NUM_LANDMARKS)  # one side; the partners take the other
    phi = rng.uniform(-1.0, 1.0, fl.NUM_LANDMARKS)
    points = np.stack([1.1 * np.sin(theta) * np.cos(phi), 1.5 * np.sin(phi), -0.8 * np.cos(theta) * np.cos(phi)], -1)
    points[MIDLINE, 0] = 0.0
    for a, b in enumerate(pairs):
        if a < b:
            points[b] = points[a] * [-1.0, 1.0, 1.0]
    return points, pairs
