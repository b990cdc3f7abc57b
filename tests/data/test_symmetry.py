"""The face's mirror plane and landmark pairs, found on canonical shapes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from avatarlab.data.symmetry import face_mirror
from avatarlab.errors import UserInputError
from tests.helpers.symmetric_face import symmetric_face


def test_a_symmetric_face_gives_its_plane_and_pairs() -> None:
    shape, pairs = symmetric_face(np.random.default_rng(0))
    mirror = face_mirror(shape)
    np.testing.assert_array_equal(mirror.pairs, pairs)
    assert abs(abs(mirror.normal[0]) - 1.0) < 1e-6 and abs(mirror.offset) < 1e-6
    np.testing.assert_allclose(mirror.reflect(shape), shape[pairs], atol=1e-6)


def test_the_plane_moves_with_the_face_and_noise_leaves_the_pairs() -> None:
    rng = np.random.default_rng(1)
    shape, pairs = symmetric_face(rng)
    rotation = Rotation.from_euler("xyz", [10, -25, 5], degrees=True).as_matrix()
    moved = shape @ rotation.T + [0.3, -0.2, 5.0] + rng.normal(0, 0.005, shape.shape)  # tracked shapes are noisy
    mirror = face_mirror(moved)
    assert np.mean(mirror.pairs == pairs) > 0.95  # a few points close together on the random shape may swap
    assert abs(abs(mirror.normal @ rotation[:, 0]) - 1.0) < 1e-3  # the plane's normal is the face's x axis
    matrix = mirror.matrix().astype(np.float64)
    np.testing.assert_allclose(matrix @ matrix, np.eye(4), atol=1e-5)  # a reflection is its own inverse
    homogeneous = np.concatenate([moved, np.ones((len(moved), 1))], 1)
    np.testing.assert_allclose((homogeneous @ matrix.T)[:, :3], mirror.reflect(moved), atol=1e-4)


def test_keypoints_pair_within_their_subset() -> None:
    shape, pairs = symmetric_face(np.random.default_rng(2))
    mirror = face_mirror(shape)
    subset = [33, 263, 61, 291, 1]
    np.testing.assert_array_equal(mirror.keypoint_pairs(subset, shape), [1, 0, 3, 2, 4])
    lonely = [33, 61, 291]  # 33's twin is missing: the nearest subset point to it stands in
    assert mirror.keypoint_pairs(lonely, shape)[1:].tolist() == [2, 1]


def test_a_shape_that_is_no_face_is_refused() -> None:
    with pytest.raises(UserInputError, match="not mirror-symmetric"):
        face_mirror(np.random.default_rng(3).normal(size=(478, 3)))
    with pytest.raises(ValueError, match="478, 3"):
        face_mirror(np.zeros((10, 3)))
